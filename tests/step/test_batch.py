"""Sessions stepped together (draggan_fast.step_together, SessionBatch) against the same sessions
stepped alone: same handles, losses, done flags, w and images within float tolerance, for 1-5
sessions of mixed settings, on both backends, with sessions joining, leaving and finishing."""

import numpy as np
import pytest

from draggan_fast import DragSession, SessionBatch, step_together
from draggan_fast.session.batch import describe_plan, plan
from tests.session.conftest import tiny_generator

# Mixed settings: seeds, latent spaces, optimised layers, lr, radii, handle counts, masks.
SESSIONS = [
    dict(seed=1, lr=0.01, points=[((10, 12), (18, 14))]),
    dict(seed=2, lr=0.02, latent_space="w", mask=True, points=[((20, 8), (14, 16))]),
    dict(seed=3, lr=0.005, n_optimized_layers=3, r2=96, points=[((6, 6), (12, 20)),
                                                               ((24, 22), (20, 16))]),
    dict(seed=4, lr=0.01, tracking="l1", mask=True, lambda_mask=5,
         points=[((16, 16), (22, 10)), ((8, 24), (12, 26)), ((26, 6), (20, 10))]),
    dict(seed=5, lr=0.03, r1=48, points=[((12, 20), (20, 20))]),
]  # fmt: skip


@pytest.fixture(scope="module")
def G():
    return tiny_generator()


def make_session(G, backend, spec):
    settings = {k: v for k, v in spec.items() if k not in ("points", "mask")}
    session = DragSession(G, backend=backend, **settings)
    for handle, target in spec["points"]:
        session.add_point(handle, target)
    if spec.get("mask"):
        movable = np.zeros(session.image_size, dtype=bool)
        movable[4:28, 2:26] = True
        session.set_mask(movable)
    return session


def assert_same(result, expected, session, alone):
    np.testing.assert_allclose(result.handles, expected.handles, atol=1e-5)
    assert result.done == expected.done
    assert result.step == expected.step
    for name in ("motion", "mask", "total"):
        assert result.losses[name] == pytest.approx(expected.losses[name], rel=1e-4, abs=1e-6)
    np.testing.assert_allclose(session.w, alone.w, rtol=0, atol=1e-5)
    if expected.image is not None:
        difference = np.abs(result.image.astype(int) - expected.image.astype(int))
        assert difference.max() <= 1
    else:
        assert result.image is None


@pytest.mark.parametrize("backend", ["reference", "fast"])
@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_batched_steps_equal_steps_alone(G, backend, count):
    specs = SESSIONS[:count]
    together = [make_session(G, backend, spec) for spec in specs]
    alone = [make_session(G, backend, spec) for spec in specs]
    for step in range(4):
        renders = [(step + index) % 2 == 0 for index in range(count)]
        results = step_together(together, render=renders)
        for session, single, result, render in zip(together, alone, results, renders):
            assert_same(result, single.step(render=render), session, single)
    moved = [np.abs(session.w - session.w0).max() for session in together]
    assert max(moved) > 0  # the drags did move


@pytest.mark.parametrize("backend", ["reference", "fast"])
def test_sessions_join_leave_and_finish_between_steps(G, backend):
    batch = SessionBatch(max_batch=2)
    pairs = []  # (in the batch, stepped alone)
    finishing = dict(seed=6, lr=0.01, points=[((16, 16), (17, 16))])  # done at once
    for step in range(5):
        if step in (0, 1, 2):  # one joins per step, the third finishes at its first step
            spec = [SESSIONS[0], SESSIONS[1], finishing][step]
            pair = (make_session(G, backend, spec), make_session(G, backend, spec))
            pairs.append(pair)
            batch.join(pair[0])
        if step == 3:  # the first leaves
            batch.leave(pairs[0][0])
        stepped = batch.step(render=True)
        for session, single in pairs:
            if session in stepped:
                assert_same(stepped[session], single.step(render=True), session, single)
        if step >= 2:
            assert pairs[2][0] not in batch.active  # done at its first step: it left
    assert batch.finished == [pairs[2][0]]
    assert pairs[2][0].step_count == 1  # a done session is not stepped again
    assert pairs[0][0].step_count == 3 and pairs[1][0].step_count == 4
    batch.resume(pairs[2][0])
    assert pairs[2][0] in batch.active


def test_plan_groups_compatible_sessions_and_bounds_the_batch(G):
    other_G = tiny_generator(seed=1)
    sessions = [
        make_session(G, "reference", SESSIONS[0]),
        make_session(other_G, "reference", SESSIONS[1]),  # another generator
        make_session(G, "reference", SESSIONS[2]),
        make_session(G, "fast", SESSIONS[3]),  # another backend
        make_session(G, "reference", SESSIONS[4]),
        DragSession(G, feature_block=1, seed=1),  # another feature block
    ]
    assert plan(sessions) == [[0, 2, 4], [1], [3], [5]]
    assert plan(sessions, max_batch=2) == [[0, 2], [4], [1], [3], [5]]
    lines = describe_plan(sessions)
    assert lines[0].startswith("sessions [0, 2, 4]: reference") and "one session" in lines[1]


def test_step_together_keeps_undo_and_refuses_bad_input(G):
    first, second = (make_session(G, "reference", spec) for spec in SESSIONS[:2])
    w_before = first.w.copy()
    for _ in range(3):
        step_together([first, second])
    assert first.undo() and np.array_equal(first.w, w_before)  # the three steps: one run
    with pytest.raises(ValueError, match="more than once"):
        step_together([first, first])
    empty = DragSession(G)
    with pytest.raises(ValueError, match="session 1 has no points"):
        step_together([second, empty])
    with pytest.raises(ValueError, match="one flag per session"):
        step_together([first, second], render=[True])
    with pytest.raises(ValueError, match="max_batch"):
        SessionBatch(max_batch=0)
    assert step_together([]) == []
