"""The fast step replayed as a CUDA graph (draggan_fast/step/cuda_graph.py): the same drag as the
eager fast step, re-recorded whenever what it reads in place changes, eager where it cannot be
replayed, and never waiting for the host. The CUDA tests skip without a GPU."""

import dataclasses
import warnings

import numpy as np
import pytest
import torch

from draggan_fast import DragSession
from draggan_fast.step import cuda_graph as graph_module
from draggan_fast.step.cuda_graph import GRAPH_ENV_VAR, GraphKey
from tests.conftest import requires_cuda
from tests.fixture_generators import generator_from_fixture
from tests.session.conftest import tiny_generator, trace_session


def _drag(G, device="cpu", **settings):
    session = DragSession(G, backend="fast", lr=0.05, device=device, **settings)
    session.add_point((10, 12), (25, 18))
    session.add_point((20, 5), (16, 14))
    return session


def _state(session):
    session.step()  # takes the references, makes Adam's state
    return session._state()


# ------------------------------------------------------------------- without a GPU


def test_cuda_graph_on_the_cpu_runs_eagerly_and_says_why(tiny_G):
    graphed, eager = _drag(tiny_G, cuda_graph=True), _drag(tiny_G)
    for index in range(4):
        a, b = graphed.step(render=index == 3), eager.step(render=index == 3)
        np.testing.assert_array_equal(a.handles, b.handles)
        assert a.losses == b.losses
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(graphed.w, eager.w)
    assert "CUDA graph (cuda_graph=True; last step: eager (CUDA graphs need a CUDA device, " in (
        graphed.backend
    )
    assert "CUDA graph" not in eager.backend


def test_cuda_graph_is_a_saved_setting_with_an_environment_override(tiny_G, tmp_path, monkeypatch):
    session = _drag(tiny_G, cuda_graph=True)
    session.save(tmp_path / "s.json")
    loaded = DragSession.load(tmp_path / "s.json", tiny_G)
    assert loaded.hyperparameters["cuda_graph"] and "CUDA graph" in loaded.backend
    assert not DragSession.load(tmp_path / "s.json", tiny_G, backend="reference").hyperparameters[
        "cuda_graph"
    ]
    monkeypatch.setenv(GRAPH_ENV_VAR, "0")
    assert "CUDA graph" not in _drag(tiny_G, cuda_graph=True).backend
    monkeypatch.setenv(GRAPH_ENV_VAR, "1")
    assert f"CUDA graph ({GRAPH_ENV_VAR}=1;" in _drag(tiny_G).backend
    monkeypatch.setenv(GRAPH_ENV_VAR, "yes")
    with pytest.raises(ValueError, match=f"{GRAPH_ENV_VAR} must be 0 or 1 when set, got 'yes'"):
        _drag(tiny_G)


def test_cuda_graph_errors(tiny_G):
    with pytest.raises(ValueError, match="'reference' backend has no CUDA-graph step"):
        DragSession(tiny_G, cuda_graph=True)
    with pytest.raises(ValueError, match="cuda_graph must be True or False"):
        DragSession(tiny_G, backend="fast", cuda_graph=1)
    session = _drag(tiny_G, cuda_graph=True)
    with pytest.raises(ValueError, match="cannot change cuda_graph"):
        session.configure(cuda_graph=False)


def test_the_graph_key_sees_what_a_recorded_step_reads_in_place():
    G = tiny_generator()
    session = _drag(G)
    key = GraphKey(_state(session))
    assert key.matches(GraphKey(session._state()))
    session.step()  # new handles: inputs of the graph, not part of the key
    session.set_target(0, (24, 20))  # moved target, same count: an input too
    assert key.matches(GraphKey(session._state()))
    with torch.no_grad():
        G.synthesis.b4.conv1.weight.add_(1)  # edited in place: the graph reads the new values
    assert key.matches(GraphKey(session._state()))

    halted = torch.zeros((), dtype=torch.bool)
    assert not key.matches(GraphKey(session._state(halted)))  # a run that can halt
    state = session._state()
    assert not key.matches(GraphKey(dataclasses.replace(state, w=state.w.detach().clone())))
    session.configure(lr=0.01)  # baked into the recorded Adam step
    assert not key.matches(GraphKey(session._state()))
    session.configure(lr=0.05)
    assert key.matches(GraphKey(session._state()))
    session.configure(lambda_mask=10)  # a step setting
    assert not key.matches(GraphKey(session._state()))
    session.configure(lambda_mask=20)
    session.set_mask(np.ones([32, 32], bool))
    assert not key.matches(GraphKey(session._state()))
    session.clear_mask()
    G.synthesis.b4.conv1.weight.data = G.synthesis.b4.conv1.weight.data.clone()  # new storage
    assert not key.matches(GraphKey(session._state()))
    session.add_point((5, 5), (6, 6))  # new references, three handles
    assert not key.matches(GraphKey(_state(session)))


# ------------------------------------------------------------------------ on CUDA


def _same_step(a, b):
    np.testing.assert_array_equal(a.handles, b.handles)
    assert a.done == b.done
    for name in ("motion", "mask", "total"):
        assert a.losses[name] == pytest.approx(b.losses[name], rel=1e-5, abs=1e-6)
    if b.image is None:
        assert a.image is None
    else:
        assert np.abs(a.image.astype(np.int16) - b.image).max() <= 1


def _both(graphed, eager, action):
    return action(graphed), action(eager)


@requires_cuda
def test_replayed_steps_equal_eager_steps_through_edits_of_the_drag():
    G = tiny_generator(img_resolution=64).cuda()
    graphed, eager = _drag(G, "cuda", cuda_graph=True), _drag(G, "cuda", cuda_graph=False)
    movable = np.zeros([64, 64], bool)
    movable[8:56, 4:40] = True
    for session in (graphed, eager):
        session.set_mask(movable)

    def steps(count):
        for index in range(count):
            render = index % 3 == 2
            _same_step(graphed.step(render=render), eager.step(render=render))

    steps(6)
    assert "last step: CUDA graph (replayed)" in graphed.backend
    recorded = graphed._backend._graph._graph
    _both(graphed, eager, lambda s: s.set_target(1, (20, 20)))
    steps(3)  # a moved target is an input of the graph: no new recording
    assert graphed._backend._graph._graph is recorded
    _both(graphed, eager, lambda s: s.add_point((40, 40), (44, 30)))
    steps(4)  # new references and three handles: warm-up, then a new recording
    assert graphed._backend._graph._graph is not recorded
    _both(graphed, eager, lambda s: s.configure(lr=0.02))
    steps(4)
    _both(graphed, eager, DragSession.undo)
    steps(3)
    _both(graphed, eager, DragSession.clear_mask)
    steps(4)
    np.testing.assert_allclose(graphed.w, eager.w, rtol=0, atol=1e-6)
    _same_step(*_both(graphed, eager, lambda s: s.run(40, render_every=5)))  # queued, halts
    assert graphed.step_count == eager.step_count
    np.testing.assert_allclose(graphed.w, eager.w, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(graphed.image(), eager.image())


@requires_cuda
def test_the_official_trace_replayed_as_a_cuda_graph(fixtures_dir, official_run):
    """Every tracked handle of the official run, and the w of the eager fast step (the graph
    replays its kernels; the fast backend's w on CUDA is itself within 1e-3 of the reference's,
    test_fast_backend.py)."""
    trace, _, _ = official_run
    G = generator_from_fixture(fixtures_dir, trace["generator"].removesuffix(".npz")).cuda()
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
        graphed = trace_session(G, trace, "fast", cuda_graph=True)
        eager = trace_session(G, trace, "fast", cuda_graph=False)
        results = [graphed.step() for _ in range(trace["steps"])]
        for _ in range(trace["steps"]):
            eager.step()
    assert "last step: CUDA graph (replayed)" in graphed.backend
    tracked = [[[round(y), round(x)] for x, y in result.handles.tolist()] for result in results]
    assert tracked == [record["points"] for record in trace["trace"]]
    assert [result.done for result in results] == [record["stop"] for record in trace["trace"]]
    np.testing.assert_allclose(graphed.w, eager.w, rtol=0, atol=1e-6)


@requires_cuda
def test_the_compiled_step_replays_as_a_cuda_graph():
    """In float32: with TF32 the compiled and eager convolutions round differently (the loss
    differed by 4e-4 relative on the H200)."""
    G = tiny_generator(img_resolution=64).cuda()
    graphed = _drag(G, "cuda", compile=True, cuda_graph=True)
    eager = _drag(G, "cuda", cuda_graph=False)
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
        for index in range(8):
            a, b = graphed.step(render=index == 7), eager.step(render=index == 7)
            np.testing.assert_array_equal(a.handles, b.handles)
            assert a.losses["total"] == pytest.approx(b.losses["total"], rel=1e-4)
    assert "torch.compile (compile=True), CUDA graph" in graphed.backend
    assert "last step: CUDA graph (replayed)" in graphed.backend
    np.testing.assert_allclose(graphed.w, eager.w, rtol=0, atol=1e-4)


@requires_cuda
def test_replayed_steps_never_wait_for_the_host():
    session = _drag(tiny_generator(img_resolution=64).cuda(), "cuda", cuda_graph=True)
    for _ in range(3):
        session.step()  # references, warm-up
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        results = [session.step() for _ in range(5)]
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert "last step: CUDA graph (replayed)" in session.backend
    assert not any(result.materialized for result in results)
    assert [result.step for result in results] == [4, 5, 6, 7, 8]


@requires_cuda
def test_a_failed_capture_warns_once_and_the_drag_goes_on_eagerly(monkeypatch):
    G = tiny_generator(img_resolution=64).cuda()
    graphed, eager = _drag(G, "cuda", cuda_graph=True), _drag(G, "cuda", cuda_graph=False)
    original = graphed._backend._device_step

    def refuses_capture(state):
        if torch.cuda.is_current_stream_capturing():
            raise RuntimeError("an op that cannot be captured")
        return original(state)

    monkeypatch.setattr(graphed._backend, "_device_step", refuses_capture)
    for _ in range(graph_module.WARMUP_STEPS + 1):
        _same_step(graphed.step(), eager.step())
    with pytest.warns(RuntimeWarning, match="cannot be replayed as a CUDA graph.*cannot be capt"):
        _same_step(graphed.step(), eager.step())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no second warning
        _same_step(graphed.step(), eager.step())
    assert "eager (capture failed: RuntimeError: an op that cannot be captured)" in graphed.backend
    np.testing.assert_allclose(graphed.w, eager.w, rtol=0, atol=1e-6)
