"""The two ways `DragSession.run` steps: one step at a time, reading each result (a callback
sees every step, or the backend reads the device anyway), or queued without reading the device
after each step (backends that stay on the device: fast).
"""

from __future__ import annotations

import torch

from draggan_fast.step.result import copy_to_host

# run() without a callback on an accelerator reads the done flags once per this many steps. A
# read waits for every queued step, so reading after each step would make the host wait for
# the GPU once per step; steps queued after the done step are no-ops on the device (w, handles
# and optimizer state kept), so a run costs at most DONE_CHECK_INTERVAL - 1 extra steps of
# device time and ends exactly where reading every step would. 8 keeps that waste small
# against runs of tens to hundreds of steps (a choice, not yet measured on a GPU).
DONE_CHECK_INTERVAL = 8


def done_check_interval(device: torch.device) -> int:
    """Steps between reads of the done flags in run(): every step on the CPU (reading a CPU
    tensor waits for nothing, and wasted CPU steps are expensive), else DONE_CHECK_INTERVAL."""
    return 1 if device.type == "cpu" else DONE_CHECK_INTERVAL


def run_stepwise(step, max_steps, until_done, callback, render_every):
    """Up to max_steps calls of step(render=...); -> the last StepResult (None for 0 steps)."""
    result = None
    for index in range(max_steps):
        render = render_every > 0 and (index + 1) % render_every == 0
        result = step(render=render)
        if callback is not None and callback(result) is False:
            break
        if until_done and result.done:
            break
    return result


def run_queued(launch_step, device, max_steps, until_done, render_every):
    """run() without reading the device after each step; launch_step(render, halted) runs one
    step -> (deferred StepResult, its done flag on the device). -> (the StepResult the run
    ended on, how many no-op steps were queued after it).

    While until_done, `halted` (on the device) turns True at the first done step and makes
    every later step a no-op; each read copies the done flags of the steps since the previous
    read, and the first True among them is the step the run really ended on."""
    interval = done_check_interval(device)
    halted = torch.zeros((), dtype=torch.bool, device=device) if until_done else None
    unread = []  # (result, done flag on the device) of the steps since the last read
    result = None
    for index in range(max_steps):
        render = render_every > 0 and (index + 1) % render_every == 0
        result, done = launch_step(render, halted)
        if halted is None:
            continue
        halted = halted | done
        unread.append((result, done))
        if len(unread) == interval or index + 1 == max_steps:
            flags = copy_to_host(torch.stack([done for _, done in unread]))  # [steps] bool
            if flags.any():
                extra_steps = len(unread) - 1 - int(flags.argmax())  # no-ops after done
                return unread[-1 - extra_steps][0], extra_steps
            unread = []
    return result, 0
