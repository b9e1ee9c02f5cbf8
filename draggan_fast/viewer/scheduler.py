"""The viewer's step scheduler: the drag steps of every session on one device, batched.

Each session's worker thread (worker.py) runs its drag as before, but takes each step through
`StepScheduler.step(session, render)`, which waits for the step's StepResult. The scheduler's
own thread collects the sessions that want a step, groups the compatible ones (the same
generator, backend, feature block and noise mode: draggan_fast.step.batch.batch_key), and steps
each group as one batch (draggan_fast.session.batch.step_together), bounded by `max_batch` and by
a per-device memory budget (each more session costs `estimated_step_bytes`).

Fair (round robin): each dragging session has a round, the steps it took here (a session that
starts a drag joins at the round being served). The next batch is led by the waiting request of
the lowest round (the oldest among equals) and takes the compatible requests of that round or the
next, oldest first, so no session gets more than two steps ahead of one that waits; a session
that is idle or stopped has no request and costs nothing. To let a batch form, after a step the
scheduler waits up to `gather_s` for the sessions it just stepped to ask again (they are sending
their frames and applying queued commands), unless the batch is already full or they finished.

A failed batch (e.g. out of memory) is retried one session at a time, so one session's failure
reaches only that session's client.
"""

from __future__ import annotations

import itertools
import threading
import time

import torch

from draggan_fast.session.batch import step_together
from draggan_fast.step.batch import batch_key, estimated_step_bytes

DEFAULT_MAX_BATCH = 8
GATHER_S = 0.01  # at most this long to wait for the last batch's sessions to ask again
IDLE_EXIT_S = 5.0  # the thread ends after this long without a request (and restarts on one)

_SHARED: dict = {}  # (device, max_batch, memory budget) -> StepScheduler
_SHARED_LOCK = threading.Lock()


def shared_scheduler(device, max_batch=DEFAULT_MAX_BATCH, memory_budget_bytes=None):
    """The process's scheduler for `device` with these bounds (made on first use)."""
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:  # "cuda" and "cuda:0" are one device
        device = torch.device("cuda", torch.cuda.current_device())
    key = (str(device), max_batch, memory_budget_bytes)
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = StepScheduler(max_batch, memory_budget_bytes)
        return _SHARED[key]


class _Request:
    def __init__(self, session, render, key, round_, order):
        self.session, self.render, self.key = session, render, key
        self.rank = (round_, order)  # served lowest first
        self.served = threading.Event()
        self.result = None
        self.error = None


class StepScheduler:
    """Batches the steps of the sessions of one device (see the module docstring).

    max_batch: most sessions in one forward pass (1: each steps alone, in turn);
    memory_budget_bytes: None, or what the sessions of one batch may take beyond the first;
    gather_s: how long to wait for the last batch's sessions to ask again;
    step_sessions(sessions, renders) -> StepResults: how a batch steps (tests record batches).
    `batch_sizes` counts the batches run by size (for tests and the viewer's info).
    """

    def __init__(
        self, max_batch=DEFAULT_MAX_BATCH, memory_budget_bytes=None, gather_s=GATHER_S,
        step_sessions=step_together,
    ):  # fmt: skip
        if not isinstance(max_batch, int) or max_batch < 1:
            raise ValueError(f"max_batch must be an integer >= 1, got {max_batch!r}")
        if memory_budget_bytes is not None and memory_budget_bytes <= 0:
            raise ValueError(f"the memory budget must be positive, got {memory_budget_bytes}")
        self.max_batch = max_batch
        self.memory_budget_bytes = memory_budget_bytes
        self.gather_s = gather_s
        self._step_sessions = step_sessions
        self.batch_sizes: dict[int, int] = {}
        self._condition = threading.Condition()
        self._pending: list[_Request] = []  # oldest first
        self._expected: dict[int, tuple] = {}  # id(session) -> key: stepped last, may return
        self._rounds: dict[int, int] = {}  # id(session) -> its round, while it drags
        self._round = 0  # the round of the last batch's leader: where a new drag joins
        self._orders = itertools.count()
        self._thread = None

    # Called from the sessions' worker threads.

    def step(self, session, render=False):
        """One step of `session` (a DragSession with points), batched with others that ask
        meanwhile; -> its StepResult. Raises what the step raised."""
        key = self._key(session)
        with self._condition:
            round_ = self._rounds.setdefault(id(session), self._round)
            request = _Request(session, bool(render), key, round_, next(self._orders))
            self._pending.append(request)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._main, name="draggan-step-scheduler", daemon=True
                )
                self._thread.start()
            self._condition.notify_all()
        request.served.wait()
        if request.error is not None:
            raise request.error
        return request.result

    def finished(self, session):
        """`session`'s drag ended: do not wait for its next step."""
        with self._condition:
            self._expected.pop(id(session), None)
            self._rounds.pop(id(session), None)
            self._condition.notify_all()

    @staticmethod
    def _key(session):
        key = batch_key(session._backend, session._state())
        return ("alone", id(session)) if key is None else key

    # The scheduler's thread.

    def limit(self, session) -> int:
        """Most sessions like `session` in one batch: max_batch, and the memory budget."""
        if self.memory_budget_bytes is None:
            return self.max_batch
        cost = estimated_step_bytes(session.generator, session.config.feature_block)
        return max(1, min(self.max_batch, 1 + self.memory_budget_bytes // max(cost, 1)))

    def _next_batch(self):
        """Under the lock: the request of the lowest rank and the compatible ones of its round
        or the next (lowest rank first, up to the limit), after waiting up to gather_s for
        expected sessions."""
        deadline = time.monotonic() + self.gather_s
        while True:
            ranked = sorted(self._pending, key=lambda request: request.rank)
            head = ranked[0]
            limit = self.limit(head.session)
            members = [
                request for request in ranked
                if request.key == head.key and request.rank[0] <= head.rank[0] + 1
            ][:limit]  # fmt: skip
            asked = {id(request.session) for request in members}
            missing = [
                sid for sid, key in self._expected.items() if key == head.key and sid not in asked
            ]
            remaining = deadline - time.monotonic()
            if len(members) >= limit or not missing or remaining <= 0:
                break
            self._condition.wait(remaining)
        for request in members:
            self._pending.remove(request)
            if id(request.session) in self._rounds:
                self._rounds[id(request.session)] += 1
        self._round = head.rank[0]
        return members

    def _main(self):
        try:
            while self._serve_one():
                pass
        except BaseException as exc:  # a bug here must not leave a worker waiting forever
            with self._condition:
                self._thread = None
                for request in self._pending:
                    request.error = RuntimeError(f"the step scheduler failed: {exc!r}")
                    request.served.set()
                self._pending = []
            raise

    def _serve_one(self) -> bool:
        """Wait for requests and step one batch; False once idle for IDLE_EXIT_S (the thread
        ends; the next request starts another)."""
        with self._condition:
            idle_since = time.monotonic()
            while not self._pending:
                waited = time.monotonic() - idle_since
                if waited >= IDLE_EXIT_S:
                    self._thread = None
                    return False
                self._condition.wait(IDLE_EXIT_S - waited)
            batch = self._next_batch()
            self._expected = {id(request.session): request.key for request in batch}
        self._run(batch)
        self.batch_sizes[len(batch)] = self.batch_sizes.get(len(batch), 0) + 1
        return True

    def _run(self, batch):
        """Step the batch and hand each worker its result (or its error)."""
        try:
            results = self._step_sessions(
                [request.session for request in batch], [request.render for request in batch]
            )
            for request, result in zip(batch, results):
                request.result = result
        except Exception as exc:
            if len(batch) == 1:
                batch[0].error = exc
            else:  # retry alone: a failure reaches only the session it belongs to
                for request in batch:
                    try:
                        request.result = self._step_sessions([request.session], [request.render])[0]
                    except Exception as alone:
                        request.error = alone
        for request in batch:
            request.served.set()
