"""The viewer's step scheduler (draggan_fast/viewer/scheduler.py): batches bounded by max_batch
and the memory budget, every dragging session advances (round robin), finished sessions are not
waited for, a failed batch fails only the session it belongs to, and batched steps equal steps
taken alone; two viewer clients drag at once through it."""

import re
import threading
import time

import numpy as np
import pytest
import torch

from draggan_fast import DragSession
from draggan_fast.cli import CommandError, build_parser
from draggan_fast.step.batch import estimated_step_bytes
from draggan_fast.viewer.scheduler import StepScheduler, _Request, shared_scheduler
from tests.session.conftest import tiny_generator
from tests.viewer.conftest import DRAG_LR, HANDLE, TARGET, connect


@pytest.fixture(scope="module")
def G():
    return tiny_generator()


def dragging_session(G, seed, backend="reference", **settings):
    session = DragSession(G, seed=seed, lr=0.01, backend=backend, **settings)
    session.add_point((10, 12), (18, 14))
    return session


class RecordingSteps:
    """A stand-in for step_together that records each batch (indices of sessions)."""

    def __init__(self, sessions, seconds=0.002, fail=None):
        self.index = {id(session): index for index, session in enumerate(sessions)}
        self.batches = []
        self.seconds, self.fail = seconds, fail
        self.lock = threading.Lock()

    def __call__(self, sessions, renders):
        batch = [self.index[id(session)] for session in sessions]
        with self.lock:
            self.batches.append(batch)
        time.sleep(self.seconds)
        if self.fail is not None and self.fail in batch:
            raise RuntimeError(f"session {self.fail} failed")
        return [f"result {index}" for index in batch]


def drive(scheduler, sessions, steps):
    """Each session's worker: `steps` steps through the scheduler, then finished()."""
    outcomes = {index: [] for index in range(len(sessions))}

    def worker(index, session):
        for _ in range(steps[index]):
            try:
                outcomes[index].append(scheduler.step(session, render=False))
            except RuntimeError as exc:
                outcomes[index].append(exc)
        scheduler.finished(session)

    threads = [
        threading.Thread(target=worker, args=(index, session), daemon=True)
        for index, session in enumerate(sessions)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a session starved"
    return outcomes


def test_every_session_advances_in_batches_of_at_most_max_batch(G):
    sessions = [dragging_session(G, seed) for seed in range(4)]
    sessions.append(dragging_session(G, 9, feature_block=1))  # incompatible: steps alone
    recorder = RecordingSteps(sessions)
    scheduler = StepScheduler(max_batch=3, gather_s=0.5, step_sessions=recorder)
    outcomes = drive(scheduler, sessions, steps=[6, 6, 6, 6, 6])

    for index, results in outcomes.items():
        assert results == [f"result {index}"] * 6
    assert all(len(batch) <= 3 for batch in recorder.batches)
    assert all(batch == [4] for batch in recorder.batches if 4 in batch)  # never mixed in
    assert max(len(batch) for batch in recorder.batches) > 1  # batches did form
    assert sum(scheduler.batch_sizes.values()) == len(recorder.batches)


def test_the_lowest_round_leads_and_no_one_runs_two_rounds_ahead():
    """The choice of the next batch, without threads: requests of given rounds and arrival."""
    scheduler = StepScheduler(max_batch=3, gather_s=0)
    s0, s1, s2, s3, alone = (object() for _ in range(5))
    requests = [  # (session, key, round, arrival)
        (s3, "k", 4, 5), (s0, "k", 3, 10), (s1, "k", 2, 11), (s2, "k", 2, 12),
        (alone, "other", 1, 13),
    ]  # fmt: skip
    for session, key, round_, order in requests:
        scheduler._rounds[id(session)] = round_
        scheduler._pending.append(_Request(session, False, key, round_, order))

    def next_batch():
        with scheduler._condition:
            return [request.session for request in scheduler._next_batch()]

    assert next_batch() == [alone]  # the lowest round leads, whatever came first
    assert next_batch() == [s1, s2, s0]  # rounds 2, 2, 3: oldest first within a round
    assert next_batch() == [s3]  # round 4 waited: it would have been two rounds ahead
    assert scheduler._rounds[id(s1)] == 3 and scheduler._rounds[id(alone)] == 2
    assert scheduler._pending == []


def test_max_batch_1_steps_each_alone_in_turn(G):
    sessions = [dragging_session(G, seed) for seed in range(3)]
    recorder = RecordingSteps(sessions)
    scheduler = StepScheduler(max_batch=1, step_sessions=recorder)
    drive(scheduler, sessions, steps=[4, 4, 4])
    assert all(len(batch) == 1 for batch in recorder.batches)
    assert sorted(index for (index,) in recorder.batches) == [0] * 4 + [1] * 4 + [2] * 4


def test_a_finished_session_is_not_waited_for(G):
    first, second = dragging_session(G, 0), dragging_session(G, 1)
    recorder = RecordingSteps([first, second], seconds=0)
    scheduler = StepScheduler(max_batch=4, gather_s=30.0, step_sessions=recorder)
    drive(scheduler, [first, second], steps=[1, 1])  # both finished() after one step
    started = time.monotonic()
    assert scheduler.step(first) == "result 0"
    assert time.monotonic() - started < 10  # not the 30 s gather window
    scheduler.finished(first)


def test_a_failing_batch_fails_only_its_own_session(G):
    sessions = [dragging_session(G, seed) for seed in range(3)]
    recorder = RecordingSteps(sessions, fail=1)
    scheduler = StepScheduler(max_batch=3, gather_s=0.05, step_sessions=recorder)
    outcomes = drive(scheduler, sessions, steps=[3, 3, 3])
    assert outcomes[0] == ["result 0"] * 3 and outcomes[2] == ["result 2"] * 3
    assert all(isinstance(outcome, RuntimeError) for outcome in outcomes[1])


def test_the_memory_budget_bounds_the_batch(G):
    session = dragging_session(G, 0)
    cost = estimated_step_bytes(G, session.config.feature_block)
    assert cost > 0
    assert StepScheduler(max_batch=8, memory_budget_bytes=cost).limit(session) == 2
    assert StepScheduler(max_batch=8, memory_budget_bytes=cost // 2).limit(session) == 1
    assert StepScheduler(max_batch=8, memory_budget_bytes=100 * cost).limit(session) == 8
    assert StepScheduler(max_batch=8).limit(session) == 8
    with pytest.raises(ValueError, match="max_batch"):
        StepScheduler(max_batch=0)


@pytest.mark.parametrize("backend", ["reference", "fast"])
def test_scheduled_steps_equal_steps_alone(G, backend):
    scheduled = [dragging_session(G, seed, backend) for seed in (1, 2, 3)]
    alone = [dragging_session(G, seed, backend) for seed in (1, 2, 3)]
    scheduler = StepScheduler(max_batch=3, gather_s=0.5)
    outcomes = drive(scheduler, scheduled, steps=[3, 3, 3])
    for index, session in enumerate(alone):
        for result in outcomes[index]:
            expected = session.step()
            np.testing.assert_allclose(result.handles, expected.handles, atol=1e-5)
            assert result.losses["total"] == pytest.approx(expected.losses["total"], rel=1e-4)
        np.testing.assert_allclose(scheduled[index].w, session.w, rtol=0, atol=1e-5)
    assert max(scheduler.batch_sizes) > 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-batch", "0"], "--max-batch must be in [1, 256], got 0"),
        (["--batch-memory-mb", "-5"], "--batch-memory-mb must be positive, got -5.0"),
    ],
)  # fmt: skip
def test_view_refuses_bad_batch_bounds(args, message):
    parsed = build_parser().parse_args(["view", "--no-browser", "--model", "x", *args])
    with pytest.raises(CommandError, match=re.escape(message)):
        parsed._run(parsed)


def test_the_scheduler_of_a_device_is_shared():
    assert shared_scheduler("cpu", 4) is shared_scheduler(torch.device("cpu"), 4)
    assert shared_scheduler("cpu", 4) is not shared_scheduler("cpu", 2)


def test_two_clients_drag_at_once_through_one_scheduler(server, monkeypatch):
    scheduler = shared_scheduler("cpu")  # the viewer's default: max_batch 8, on the CPU
    monkeypatch.setattr(scheduler, "gather_s", 2.0)  # a batch forms whatever the machine's load
    batches_before = dict(scheduler.batch_sizes)
    with connect(server) as first, connect(server) as second:
        for client in (first, second):
            client.add_point(HANDLE, TARGET)
            client.set_params(lr=DRAG_LR)
            client.discard_pending()
        first.start(max_steps=5)
        second.start(max_steps=5)
        for client in (first, second):  # neither stalls: both drags end on their own
            stopped = client.wait_for("stopped", timeout=120)
            assert stopped["reason"] in ("max_steps", "done") and stopped["steps"] >= 1
    pairs = scheduler.batch_sizes.get(2, 0) - batches_before.get(2, 0)
    assert pairs >= 1  # their steps were batched
