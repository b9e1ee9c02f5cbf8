"""The reference backend against a recorded run of the official DragGAN renderer
(../shared/fixtures/drag_128_ada_*: 20 steps on the sg2_128_ada generator, points as [row, col])."""

import numpy as np

from tests.fixture_generators import generator_from_fixture
from tests.session.conftest import trace_session


def test_reference_backend_reproduces_the_official_drag(fixtures_dir, official_run):
    trace, final_ws, last_image = official_run
    assert trace["coords"] == "[row, col]" and trace["mask_rect"] is None
    G = generator_from_fixture(fixtures_dir, trace["generator"].removesuffix(".npz"))
    session = trace_session(G, trace, "reference")
    assert session.config.feature_block == 5  # also the default for 128 px

    results = [session.step(render=True) for _ in range(trace["steps"])]

    tracked = [[[round(y), round(x)] for x, y in result.handles.tolist()] for result in results]
    assert tracked == [record["points"] for record in trace["trace"]]
    assert [result.done for result in results] == [record["stop"] for record in trace["trace"]]
    assert [result.step for result in results] == list(range(1, trace["steps"] + 1))
    np.testing.assert_array_equal(results[-1].handles, session.handles)
    assert all(float(x).is_integer() and float(y).is_integer() for x, y in session.handles)

    np.testing.assert_allclose(session.w, final_ws[0], rtol=0, atol=1e-4)
    assert not np.allclose(session.w, session.w0, rtol=0, atol=1e-3)  # it did move
    difference = np.abs(results[-1].image.astype(np.int16) - last_image.astype(np.int16))
    assert difference.max() <= 1
    assert results[-1].image.shape == last_image.shape and results[-1].image.dtype == np.uint8
