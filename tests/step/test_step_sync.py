"""The fast backend never waits for the device inside a step: results are read when first looked
at, run() reads the done flags only every few steps, and steps queued after done are no-ops."""

import numpy as np
import pytest
import torch
from torch.overrides import TorchFunctionMode

import draggan_fast.session.runs as runs_module
from draggan_fast import DragSession, StepResult
from draggan_fast.step import result as step_result
from draggan_fast.step.backend import DragState, FeatureReferences, create_backend
from draggan_fast.step.fast import COMPILE_ENV_VAR
from draggan_fast.stylegan.frozen_synthesis import FrozenFeatureSynthesis
from tests.conftest import requires_cuda
from tests.fixture_generators import generator_from_fixture
from tests.session.conftest import tiny_generator

# Calls that read a tensor's value on the host (a synchronisation when it lives on a GPU).
HOST_READS = {
    "item", "tolist", "numpy", "cpu", "__bool__", "__int__", "__float__", "__index__",
    "_local_scalar_dense",
}  # fmt: skip


class HostReadLog(TorchFunctionMode):
    """Records the host reads of tensors made under it, as (name, Python stack) pairs."""

    def __init__(self):
        super().__init__()
        self.reads = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", None) in HOST_READS:
            import traceback

            stack = [frame.filename for frame in traceback.extract_stack()]
            self.reads.append((func.__name__, stack))
        return func(*args, **(kwargs or {}))


@pytest.fixture
def copies(monkeypatch):
    """Counts the device-to-host copies of step results and of run()'s done flags."""
    calls = []
    original = step_result.copy_to_host

    def counting(tensor):
        calls.append(tuple(tensor.shape))
        return original(tensor)

    monkeypatch.setattr(step_result, "copy_to_host", counting)
    monkeypatch.setattr(runs_module, "copy_to_host", counting)
    return calls


def _drag(G, backend="fast", **settings):
    """Two handles that reach stop_distance 6 at step 6 (lr 0.05, tiny_G)."""
    settings = {"lr": 0.05, "stop_distance": 6, **settings}
    session = DragSession(G, backend=backend, **settings)
    session.add_point((10, 12), (20, 12))
    session.add_point((20, 22), (24, 26))
    return session


def _backend_state(session, halted):
    """A DragState for a fast backend, built from the session's public state_dict()."""
    state = session.state_dict()
    w = state["w"].requires_grad_(True)
    optimizer = torch.optim.Adam([w], lr=session.hyperparameters["lr"])
    optimizer.load_state_dict(state["optimizer"])
    return DragState(
        generator=session.generator, w0=state["w0"], w=w, optimizer=optimizer,
        handles=state["handles"].flip(1), targets=state["targets"].flip(1),  # (row, col)
        movable_mask=None, references=FeatureReferences(**state["references"]),
        config=session.config, halted=torch.tensor(halted),
    )  # fmt: skip


def _optimizer_state(drag_state):
    state = drag_state.optimizer.state[drag_state.w]
    return {name: value.clone() for name, value in state.items() if torch.is_tensor(value)}


def test_lazy_results_equal_eager_ones_and_the_reference(fixtures_dir):
    G = generator_from_fixture(fixtures_dir, "sg2_64_ada")
    sessions = {}
    for backend in ("fast", "fast-eager", "reference"):
        sessions[backend] = DragSession(G, seed=2, lr=0.01, backend=backend.split("-")[0])
        sessions[backend].add_point((10.0, 12.0), (20.0, 18.0))
        sessions[backend].add_point((50.4, 40.6), (44.0, 30.0))
    steps = {backend: [] for backend in sessions}
    for index in range(4):
        for backend, session in sessions.items():
            result = session.step(render=index % 2 == 1)
            steps[backend].append(result.materialize() if backend == "fast-eager" else result)
    assert not any(result.materialized for result in steps["fast"])  # read after all steps
    for lazy, eager, reference in zip(steps["fast"], steps["fast-eager"], steps["reference"]):
        assert isinstance(lazy, StepResult) and isinstance(lazy.step, int)
        assert lazy.handles.dtype == np.float32 and lazy.handles.shape == (2, 2)
        assert lazy.distances.dtype == np.float32 and lazy.distances.shape == (2,)
        assert isinstance(lazy.done, bool) and lazy.losses.keys() == {"motion", "mask", "total"}
        assert all(isinstance(value, float) for value in lazy.losses.values())
        for name in ("handles", "targets", "distances"):
            np.testing.assert_array_equal(getattr(lazy, name), getattr(eager, name))
            np.testing.assert_array_equal(getattr(lazy, name), getattr(reference, name))
        assert (lazy.done, lazy.step, lazy.losses) == (eager.done, eager.step, eager.losses)
        assert lazy.done == reference.done and lazy.step == reference.step
        assert lazy.losses["total"] == pytest.approx(reference.losses["total"], rel=1e-4)
        if reference.image is None:
            assert lazy.image is None
        else:
            assert lazy.image.dtype == np.uint8
            np.testing.assert_array_equal(lazy.image, eager.image)
            np.testing.assert_array_equal(lazy.image, reference.image)
    assert "StepResult(step=4" in repr(steps["fast"][-1])


def test_fast_steps_copy_nothing_until_a_field_is_read(tiny_G, copies):
    session = _drag(tiny_G)
    results = [session.step(render=True) for _ in range(3)]
    assert copies == [] and not any(result.materialized for result in results)
    first = results[0]
    _ = first.handles, first.targets, first.distances, first.losses, first.done
    assert copies == [(4 * 2 + 1 + 3,)] and first.materialized  # one copy, all small fields
    assert first.image.shape == (32, 32, 3) and first.image is first.image
    assert len(copies) == 2 and not results[1].materialized


def test_the_reference_backend_stays_eager(tiny_G, copies):
    result = _drag(tiny_G, backend="reference").step(render=True)
    assert result.materialized and len(copies) == 2  # small fields and image, inside step()


def test_a_fast_step_reads_nothing_from_the_device_on_the_cuda_path(tiny_G, monkeypatch):
    # The generator's own blocks, as on CUDA (the CPU-only frozen blocks read handle positions).
    monkeypatch.setattr(FrozenFeatureSynthesis, "applies", lambda *args: (False, "as on CUDA"))
    session = _drag(tiny_G)
    session.set_mask(np.ones([32, 32], bool))
    with HostReadLog() as log:
        session.step(render=True)  # takes the feature references
        session.step(render=True)
        session.run(3, until_done=False)
    # Only Adam's step count, read on the host because a CPU Adam is not `capturable` (the
    # fast backend makes it capturable on CUDA, where the count stays on the device).
    others = [name for name, stack in log.reads if not any("torch/optim/" in f for f in stack)]
    assert others == []
    assert log.reads and not session.state_dict()["optimizer"]["param_groups"][0]["capturable"]


@pytest.mark.parametrize("interval", [1, 3, 4])
def test_run_without_a_callback_ends_like_the_stepwise_run(tiny_G, monkeypatch, interval):
    eager = _drag(tiny_G)
    seen = []
    eager_result = eager.run(15, callback=seen.append, render_every=2)
    assert eager_result.done and eager_result.step == 6 == eager.step_count == len(seen)

    monkeypatch.setattr(runs_module, "done_check_interval", lambda device: interval)
    queued = _drag(tiny_G)
    result = queued.run(15, render_every=2)
    assert (result.step, result.done, queued.step_count) == (6, True, 6)
    np.testing.assert_array_equal(queued.w, eager.w)
    np.testing.assert_array_equal(queued.handles, eager.handles)
    np.testing.assert_array_equal(result.handles, eager_result.handles)
    assert result.losses == eager_result.losses
    np.testing.assert_array_equal(result.image, eager_result.image)
    queued_moments = queued.state_dict()["optimizer"]["state"]
    torch.testing.assert_close(
        queued_moments, eager.state_dict()["optimizer"]["state"], rtol=0, atol=0
    )
    for session in (queued, eager):  # the same history: undo goes back to the start
        assert session.undo() and not session.undo()
    np.testing.assert_array_equal(queued.w, queued.w0)
    assert queued.step_count == 0


def test_run_reads_the_done_flags_once_per_interval(tiny_G, monkeypatch, copies):
    monkeypatch.setattr(runs_module, "done_check_interval", lambda device: 4)
    session = _drag(tiny_G, stop_distance=1)  # never done
    session.run(10)
    assert copies == [(4,), (4,), (2,)]  # the done flags of steps 1-4, 5-8, 9-10
    copies.clear()
    result = session.run(5, until_done=False)
    assert copies == [] and result.step == 15 and not result.materialized


def test_run_without_until_done_matches_the_stepwise_run(tiny_G):
    queued, stepwise = _drag(tiny_G), _drag(tiny_G)
    result = queued.run(8, until_done=False, render_every=0)
    expected = stepwise.run(8, until_done=False, callback=lambda result: None, render_every=0)
    assert result.step == expected.step == 8  # done at step 6, it kept stepping
    np.testing.assert_array_equal(queued.w, stepwise.w)
    np.testing.assert_array_equal(result.handles, expected.handles)


def test_a_halted_step_changes_nothing(tiny_G):
    session = _drag(tiny_G)
    session.run(3)
    backend = create_backend("fast")
    halted = _backend_state(session, True)
    w, state = halted.w.detach().clone(), _optimizer_state(halted)
    output = backend.step(halted, render=False)
    assert output.done.item()
    assert torch.equal(halted.w, w) and torch.equal(output.handles, halted.handles)
    for name, value in _optimizer_state(halted).items():
        assert torch.equal(value, state[name]), name
    moving = _backend_state(session, False)  # not halted: it moves
    output = backend.step(moving, render=False)
    assert not output.done.item() and not torch.equal(moving.w, w)
    assert not torch.equal(_optimizer_state(moving)["step"], state["step"])


def test_compile_is_a_saved_setting_with_an_environment_override(tiny_G, tmp_path, monkeypatch):
    monkeypatch.delenv(COMPILE_ENV_VAR, raising=False)
    session = DragSession(tiny_G, backend="fast", compile=True)
    assert "torch.compile (compile=True)" in session.backend
    session.configure(lr=0.01)
    assert session.hyperparameters["compile"] and "torch.compile" in session.backend
    session.save(tmp_path / "session.json")
    loaded = DragSession.load(tmp_path / "session.json", tiny_G)
    assert loaded.hyperparameters["compile"] and "torch.compile" in loaded.backend
    assert "torch.compile" not in DragSession(tiny_G, backend="fast").backend

    monkeypatch.setenv(COMPILE_ENV_VAR, "0")
    assert "torch.compile" not in DragSession(tiny_G, backend="fast", compile=True).backend
    monkeypatch.setenv(COMPILE_ENV_VAR, "1")
    overridden = DragSession(tiny_G, backend="fast")
    assert f"torch.compile ({COMPILE_ENV_VAR}=1)" in overridden.backend
    monkeypatch.setenv(COMPILE_ENV_VAR, "yes")
    with pytest.raises(ValueError, match=f"{COMPILE_ENV_VAR} must be 0 or 1"):
        DragSession(tiny_G, backend="fast")


def test_compile_errors(tiny_G):
    with pytest.raises(ValueError, match="'reference' backend has no compiled step"):
        DragSession(tiny_G, compile=True)
    with pytest.raises(ValueError, match="compile must be True or False"):
        DragSession(tiny_G, backend="fast", compile="yes")


@requires_cuda
def test_a_queued_run_synchronises_only_to_read_done_flags_on_cuda(tiny_G):
    # Not run where the tests were written (no GPU there).
    session = _drag(tiny_generator().cuda())
    session.step(render=True)  # warm-up: Triton compilation, op self-checks, references
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        session.run(10, until_done=False, render_every=3)
        results = [session.step(render=True) for _ in range(3)]
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert results[-1].step == 14 and results[-1].image.shape == (32, 32, 3)
