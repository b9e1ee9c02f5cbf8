"""The official StyleGAN3 and StyleGAN-Human fixtures (../shared/fixtures/*.pkl + .npz) and
small generators of those families for tests that build their own checkpoints."""

import json

import numpy as np
import torch

from draggan_fast.stylegan import networks_stylegan3
from draggan_fast.stylegan.loading import load_generator
from draggan_fast.stylegan.networks import Generator

SG3_FIXTURES = ["stylegan3-t-64", "stylegan3-r-128"]
HUMAN_FIXTURE = "stylegan_human-64"
TOLERANCE = 1e-4  # the bound on |ours - official| for images and features


def fixture_outputs(fixtures_dir, name):
    """(npz data, meta) of one family fixture: z, ws_psi07, img, feat/<i>, meta_json."""
    data = np.load(fixtures_dir / f"{name}.npz")
    return data, json.loads(str(data["meta_json"]))


def load_fixture_generator(fixtures_dir, name):
    return load_generator(fixtures_dir / f"{name}.pkl")


def randomize(G, seed=0):
    """Every float parameter and buffer perturbed (filters and transforms excepted), in place."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in G.state_dict().items():
            if not name.endswith(("filter", "transform", "freqs", "phases")):
                tensor.add_(torch.randn(tensor.shape, generator=generator) * 0.1)
    return G.eval().requires_grad_(False)


def small_stylegan3(radial=False, seed=0):
    """A 16 px StyleGAN3 (config T, or R with `radial`) with 4 layers and 8 channels."""
    torch.manual_seed(seed)
    options = {"conv_kernel": 1, "use_radial_filters": True} if radial else {}
    G = networks_stylegan3.Generator(
        z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3, channel_base=256,
        channel_max=8, num_layers=4, num_critical=1, margin_size=2, num_fp16_res=0, **options,
    )  # fmt: skip
    return randomize(G, seed)


def small_human(seed=0):
    """A 16 x 8 StyleGAN-Human generator (padded to 16 x 16, DragGAN's convention)."""
    torch.manual_seed(seed)
    G = Generator(
        z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3, channel_base=128,
        channel_max=8, num_fp16_res=0, square=False, padding=True,
        mapping_kwargs={"num_layers": 2},
    )  # fmt: skip
    return randomize(G, seed)
