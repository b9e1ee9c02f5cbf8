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


def official_kwargs_to_ours(init_kwargs: dict) -> dict:
    """Official constructor kwargs (nested `synthesis_kwargs` or flat) -> Generator kwargs."""
    return loading.official_kwargs_to_ours(init_kwargs, source="fixture")


def generator_from_fixture(fixtures_dir: Path, name: str) -> Generator:
    data, meta = load_fixture(fixtures_dir, name)
    G = Generator(**official_kwargs_to_ours(meta["init_kwargs"])).eval()
    state = {k[len("state/") :]: torch.from_numpy(data[k]) for k in data if k.startswith("state/")}
    G.load_state_dict(state, strict=True)
    return G.requires_grad_(False)
