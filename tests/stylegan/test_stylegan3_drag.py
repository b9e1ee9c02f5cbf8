"""The reference backend on StyleGAN3 against a recorded run of the official DragGAN renderer
(../shared/fixtures/drag_stylegan3-r-128_*: 15 steps on stylegan3-r-128.pkl, feature index 5 =
the output of layer L5 with its margin, points as [row, col])."""

import json

import numpy as np

from draggan_fast.stylegan.loading import load_generator
from tests.session.conftest import trace_session


def test_reference_backend_reproduces_the_official_stylegan3_drag(fixtures_dir):
    trace = json.loads((fixtures_dir / "drag_stylegan3-r-128_trace.json").read_text())
    final_ws = np.load(fixtures_dir / "drag_stylegan3-r-128_trace_ws.npy")
    last_image = np.load(fixtures_dir / "drag_stylegan3-r-128_trace_img.npy")
    assert trace["coords"] == "[row, col]" and trace["mask_rect"] is None
    G = load_generator(fixtures_dir / "stylegan3-r-128.pkl")
    session = trace_session(G, trace, "reference")
    assert session.config.feature_block == trace["feature_block"] == 5

    results = [session.step(render=True) for _ in range(trace["steps"])]

    tracked = [[[round(y), round(x)] for x, y in result.handles.tolist()] for result in results]
    assert tracked == [record["points"] for record in trace["trace"]]
    assert [result.done for result in results] == [record["stop"] for record in trace["trace"]]
    np.testing.assert_allclose(session.w, final_ws[0], rtol=0, atol=1e-4)
    assert not np.allclose(session.w, session.w0, rtol=0, atol=1e-3)  # it did move
    difference = np.abs(results[-1].image.astype(np.int16) - last_image.astype(np.int16))
    assert results[-1].image.shape == last_image.shape and difference.max() <= 1
