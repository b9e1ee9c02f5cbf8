"""The session and the reference step on CUDA (skipped without a GPU)."""

import numpy as np
import pytest
import torch

from draggan_fast import DragSession
from draggan_fast.cli import main
from draggan_fast.stylegan.loading import save_generator
from tests.conftest import requires_cuda
from tests.fixture_generators import generator_from_fixture
from tests.session.conftest import tiny_generator

pytestmark = requires_cuda


@pytest.fixture
def full_fp32():
    """Plain float32 convolutions and matmuls (no TF32), as the official fixtures were made."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def _drag(G, device, steps, **kwargs):
    session = DragSession(G, lr=0.05, device=device, **kwargs)
    session.add_point((10, 12), (25, 18))
    session.add_point((20, 5), (16, 14))
    results = [session.step(render=True) for _ in range(steps)]
    return session, results


def test_official_trace_on_cuda(fixtures_dir, official_run, full_fp32):
    trace, final_ws, last_image = official_run
    G = generator_from_fixture(fixtures_dir, "sg2_128_ada")
    session = DragSession(G, lr=trace["lr"], device="cuda")
    for (row, col), (target_row, target_col) in zip(trace["points0"], trace["targets"]):
        session.add_point((col, row), (target_col, target_row))
    results = [session.step(render=True) for _ in range(trace["steps"])]
    tracked = [[[round(y), round(x)] for x, y in result.handles.tolist()] for result in results]
    assert tracked == [record["points"] for record in trace["trace"]]
    np.testing.assert_allclose(session.w, final_ws[0], rtol=0, atol=1e-4)
    difference = results[-1].image.astype(np.int16) - last_image.astype(np.int16)
    assert np.abs(difference).max() <= 1


def test_cuda_session_matches_the_cpu_session(full_fp32):
    # No fp16 blocks (the CPU runs them in float32): the same arithmetic on both devices.
    cpu_session, cpu_results = _drag(tiny_generator(num_fp16_res=0), "cpu", 3)
    cuda_session, cuda_results = _drag(tiny_generator(num_fp16_res=0), "cuda", 3)
    assert cuda_session.state_dict()["w"].device.type == "cuda"
    assert [r.handles.tolist() for r in cuda_results] == [r.handles.tolist() for r in cpu_results]
    np.testing.assert_allclose(cuda_session.w, cpu_session.w, rtol=0, atol=1e-4)
    difference = cuda_results[-1].image.astype(np.int16) - cpu_results[-1].image
    assert np.abs(difference).max() <= 1


def test_fp16_blocks_on_cuda_save_and_resume_exactly(fixtures_dir, tmp_path):
    G = generator_from_fixture(fixtures_dir, "sg2_64_sg3kw_clamp")  # 32 and 64 px blocks fp16
    session, results = _drag(G, "cuda", 2)
    assert session.state_dict()["references"]["feature_map"].dtype == torch.float16
    assert all(np.isfinite(result.losses["total"]) for result in results)
    assert not np.array_equal(session.w, session.w0)
    session.save(tmp_path / "s.json")
    loaded = DragSession.load(tmp_path / "s.json", G)
    assert loaded.device.type == "cuda"
    expected, got = session.step(), loaded.step()
    np.testing.assert_array_equal(got.handles, expected.handles)
    # Not bitwise: CUDA's backward of grid_sample and indexing accumulates with atomics.
    np.testing.assert_allclose(loaded.w, session.w, rtol=0, atol=1e-3)


def test_drag_cli_on_cuda(tmp_path, capsys):
    model = tmp_path / "g.safetensors"
    save_generator(tiny_generator(), model)
    status = main(["drag", "--model", str(model), "--points", "10,12->25,18", "--steps", "3",
                   "--out", str(tmp_path / "r.png"), "--device", "cuda"])  # fmt: skip
    assert status == 0 and (tmp_path / "r.png").is_file()
    assert "on cuda" in capsys.readouterr().out
