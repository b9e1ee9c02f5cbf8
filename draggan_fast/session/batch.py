"""Several DragSessions stepped together: `step_together` and `SessionBatch`.

Sessions that share a generator, device, backend, feature block and noise mode are stepped as
one batch (draggan_fast/step/batch.py: their w's stacked for the forward and backward pass);
each keeps its own Adam state, points, mask, references, settings, history and stop decision,
and gets the StepResult it would get stepping alone (within float tolerance: the batched
convolutions add in another order). Sessions that cannot share a batch step one after another.

    results = draggan_fast.step_together([a, b, c], render=True)   # one step of each

    batch = draggan_fast.SessionBatch(max_batch=8)
    batch.join(a); batch.join(b)
    while batch.active:
        for session, result in batch.step().items(): ...   # done sessions leave by themselves
"""

from __future__ import annotations

import torch

from draggan_fast.session import inputs
from draggan_fast.step.batch import batch_key, group_indices, step_group, why_alone
from draggan_fast.step.result import StepResult


def _renders(render, count) -> list[bool]:
    if isinstance(render, bool):
        return [render] * count
    renders = [bool(value) for value in render]
    if len(renders) != count:
        raise ValueError(f"render: one flag per session ({count}), got {len(renders)}")
    return renders


def plan(sessions, max_batch=None) -> list[list[int]]:
    """How `step_together` would step `sessions`: lists of indices, each one forward pass."""
    keys = [batch_key(session._backend, session._state()) for session in sessions]
    return group_indices(keys, max_batch)


def describe_plan(sessions, max_batch=None) -> list[str]:
    """One line per group of `plan`: its sessions and what runs them (or why they step alone)."""
    lines = []
    for group in plan(sessions, max_batch):
        session = sessions[group[0]]
        reason = why_alone(session._backend)
        if reason is None and len(group) == 1:
            reason = f"one session: the {session._backend.name!r} backend's own step"
        elif reason is None:
            reason = session._backend.batch_note(session.device)
        lines.append(f"sessions {group}: {reason}")
    return lines


def step_together(sessions, render=False, max_batch=None) -> list[StepResult]:
    """One step of each session (as `DragSession.step(render)` would take it), compatible ones
    in batches of at most `max_batch` (None: no bound). render: a bool, or one per session.
    Returns the StepResults in the sessions' order; like `step()`, consecutive calls count as
    one run for `undo()`. Every session must have points; a session may appear only once."""
    sessions = list(sessions)
    renders = _renders(render, len(sessions))
    if len({id(session) for session in sessions}) != len(sessions):
        raise ValueError("step_together: a session appears more than once")
    for index, session in enumerate(sessions):
        if len(session._handles) == 0:
            raise ValueError(f"session {index} has no points to drag: add_point first")
    states = [session._begin_step() for session in sessions]
    backends = [session._backend for session in sessions]
    keys = [batch_key(backend, state) for backend, state in zip(backends, states)]
    results = [None] * len(sessions)
    with torch.inference_mode(False), torch.enable_grad():  # as DragSession._launch_step
        for group in group_indices(keys, max_batch):
            outputs = step_group(
                [backends[i] for i in group], [states[i] for i in group],
                [renders[i] for i in group],
            )  # fmt: skip
            for index, output in zip(group, outputs):
                results[index], _ = sessions[index]._end_step(output)
    for session, result in zip(sessions, results):
        if not session._backend.stays_on_device:
            result.materialize()
    return results


class SessionBatch:
    """Sessions that step together until each is done: join and leave between steps.

    `step()` steps every active session once (`step_together`); with `until_done` a session
    whose step reports done leaves the active ones (it stays a member: `finished`), and is
    stepped again only after `resume(session)` (e.g. its target moved). max_batch bounds one
    forward pass (None: no bound).
    """

    def __init__(self, sessions=(), max_batch=None, until_done=True):
        if max_batch is not None:
            max_batch = inputs.check_int("max_batch", max_batch, 1, 1 << 16)
        self.max_batch = max_batch
        self.until_done = until_done
        self._members = []  # sessions, in joining order
        self._finished = set()  # ids of members whose last step was done
        for session in sessions:
            self.join(session)

    def join(self, session) -> None:
        if any(member is session for member in self._members):
            raise ValueError("this session is already in the batch")
        self._members.append(session)

    def leave(self, session) -> None:
        """Take `session` out (between steps); unknown sessions raise ValueError."""
        for index, member in enumerate(self._members):
            if member is session:
                del self._members[index]
                self._finished.discard(id(session))
                return
        raise ValueError("this session is not in the batch")

    def resume(self, session) -> None:
        """Step a finished member again from the next `step()` on."""
        self._finished.discard(id(session))

    @property
    def sessions(self) -> list:
        return list(self._members)

    @property
    def active(self) -> list:
        """The members the next `step()` steps."""
        return [member for member in self._members if id(member) not in self._finished]

    @property
    def finished(self) -> list:
        return [member for member in self._members if id(member) in self._finished]

    def describe(self) -> list[str]:
        """One line per forward pass of the next step: its sessions and what runs them."""
        return describe_plan(self.active, self.max_batch)

    def step(self, render=False) -> dict:
        """One step of each active session -> {session: StepResult} (in joining order)."""
        active = self.active
        results = step_together(active, render, self.max_batch)
        if self.until_done:
            for session, result in zip(active, results):
                if result.done:
                    self._finished.add(id(session))
        return dict(zip(active, results))
