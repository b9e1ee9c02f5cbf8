"""The generator forward is capturable whole by torch.compile, and runs in fp16 on CUDA."""

import pytest
import torch

from draggan_fast.stylegan import Generator
from tests.conftest import requires_cuda
from tests.fixture_generators import generator_from_fixture, load_fixture


def _tiny_generator():
    torch.manual_seed(0)
    return Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, channel_base=128,
                     channel_max=8).eval()  # fmt: skip


@pytest.mark.slow
def test_synthesis_compiles_without_graph_breaks():
    G = _tiny_generator()
    ws = G.mapping(torch.randn(2, 8), truncation_psi=0.7)
    compiled = torch.compile(G.synthesis, fullgraph=True, dynamic=False)
    with torch.no_grad():
        torch.testing.assert_close(compiled(ws), G.synthesis(ws), atol=1e-4, rtol=1e-4)


@requires_cuda
def test_fp16_blocks_on_cuda_match_fp32_reference(fixtures_dir):
    data, _ = load_fixture(fixtures_dir, "sg2_64_sg3kw_clamp")  # num_fp16_res = 2
    G = generator_from_fixture(fixtures_dir, "sg2_64_sg3kw_clamp").cuda()
    ws = torch.from_numpy(data["ws_psi07"]).cuda()
    img, features = G.synthesis(ws, return_features=True)
    assert features[-1].dtype == torch.float16 and features[0].dtype == torch.float32
    assert img.dtype == torch.float32
    assert float((img.cpu() - torch.from_numpy(data["img_const"])).abs().max()) < 0.05
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):  # the fixture's float32
        img32 = G.synthesis(ws, force_fp32=True)
    assert float((img32.cpu() - torch.from_numpy(data["img_const"])).abs().max()) < 1e-3
