"""Generators built from the official reference fixtures (../shared/fixtures/sg2_*.npz)."""

import json
from pathlib import Path

import numpy as np
import torch

from draggan_fast.stylegan import Generator, loading

PARITY_FIXTURES = ["sg2_64_ada", "sg2_64_sg3kw_clamp", "sg2_128_ada"]


def load_fixture(fixtures_dir: Path, name: str):
    """(npz data, meta dict) of one fixture."""
    data = np.load(fixtures_dir / f"{name}.npz")
    return data, json.loads(str(data["meta_json"]))


def generator_from_fixture(fixtures_dir: Path, name: str) -> Generator:
    """The fixture's official init_kwargs and state through `loading.build_generator` (the path
    every checkpoint format takes), in eval mode without gradients."""
    data, meta = load_fixture(fixtures_dir, name)
    state = {k[len("state/") :]: torch.from_numpy(data[k]) for k in data if k.startswith("state/")}
    G = loading.build_generator(meta["init_kwargs"], state, source=f"fixture {name}")
    return G.eval().requires_grad_(False)
