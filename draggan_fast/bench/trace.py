"""Reading torch.profiler Chrome traces: the time spent in each phase region of a drag step.

A drag step marks its phases with `torch.profiler.record_function` regions named below. In an
exported Chrome trace each region is a complete event (`"ph": "X"`) of category
`user_annotation` (its host wall time); on CUDA the trace also holds every kernel (category
`kernel`) and the runtime call that launched it, tied by a `correlation` id.
"""

import json
from pathlib import Path

# Region name -> label in the breakdown, in the order a step runs them.
PHASES = {
    "draggan/forward_features": "forward to feature block",
    "draggan/synthesis_rest": "rest of synthesis",
    "draggan/tracking": "tracking",
    "draggan/motion": "motion term",
    "draggan/mask": "mask term",
    "draggan/backward": "backward",
    "draggan/optimizer": "optimizer",
    "draggan/image_transfer": "image transfer",
}

HOST_CATEGORY = "user_annotation"
LAUNCH_CATEGORIES = {"cuda_runtime", "cuda_driver"}  # host-side launch calls, with a correlation id
DEVICE_WORK_CATEGORIES = {"kernel", "gpu_memcpy", "gpu_memset"}


def load_trace(path) -> dict:
    """The parsed trace; a clear error when the file is not a Chrome trace."""
    path = Path(path)
    try:
        trace = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not a JSON Chrome trace ({exc})") from exc
    if not isinstance(trace, dict) or not isinstance(trace.get("traceEvents"), list):
        raise ValueError(f"{path}: a Chrome trace must be an object with a traceEvents list")
    return trace


def region_events(trace: dict, category: str, names=PHASES) -> list[dict]:
    """Complete events of `category` whose name is one of `names`."""
    return [
        event
        for event in trace["traceEvents"]
        if event.get("ph") == "X" and event.get("cat") == category and event.get("name") in names
    ]


def _union_length(intervals) -> float:
    """Total length covered by [start, end) intervals, overlaps counted once."""
    covered, current_start, current_end = 0.0, None, None
    for start, end in sorted(intervals):
        if current_end is None or start > current_end:
            if current_end is not None:
                covered += current_end - current_start
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    if current_end is not None:
        covered += current_end - current_start
    return covered


def phase_totals_us(trace: dict) -> tuple[dict, float]:
    """Host wall time: ({region name: total microseconds}, microseconds covered by any region).

    The covered time counts nested or overlapping regions once, so `step time - covered` is the
    time spent outside every phase region.
    """
    totals = dict.fromkeys(PHASES, 0.0)
    intervals = []
    for event in region_events(trace, HOST_CATEGORY):
        start, duration = float(event["ts"]), float(event.get("dur", 0.0))
        totals[event["name"]] += duration
        intervals.append((start, start + duration))
    return totals, _union_length(intervals)


def _correlation(event: dict):
    return (event.get("args") or {}).get("correlation")


def device_phase_totals_us(trace: dict) -> tuple[dict, float] | None:
    """GPU time: ({region name: kernel microseconds}, kernel microseconds inside any region).

    Each kernel, copy or memset counts toward the innermost region whose host span holds the
    runtime call that launched it (matched by CUPTI correlation id). Launch time, not GPU time,
    decides the region because the GPU runs behind the host, and because the backward's kernels
    are launched from autograd's device thread while the main thread sits in "draggan/backward".
    None when the trace holds no GPU work.
    """
    launches, kernels = {}, []
    for event in trace["traceEvents"]:
        category = event.get("cat")
        if category in LAUNCH_CATEGORIES and _correlation(event) is not None:
            launches[_correlation(event)] = float(event["ts"])
        elif category in DEVICE_WORK_CATEGORIES and event.get("ph") == "X":
            kernels.append(event)
    if not kernels:
        return None
    regions = [
        (float(e["ts"]), float(e["ts"]) + float(e.get("dur", 0.0)), e["name"])
        for e in region_events(trace, HOST_CATEGORY)
    ]
    totals = dict.fromkeys(PHASES, 0.0)
    covered = 0.0
    for kernel in kernels:
        launched = launches.get(_correlation(kernel))
        if launched is None:
            continue
        holding = [r for r in regions if r[0] <= launched <= r[1]]
        if holding:
            _, _, name = min(holding, key=lambda r: r[1] - r[0])  # the innermost region
            duration = float(kernel.get("dur", 0.0))
            totals[name] += duration
            covered += duration
    return totals, covered


def breakdown_from_trace(trace: dict, steps: int, step_ms: float, use_device: bool) -> dict:
    """Mean milliseconds per step in each phase, and what no region covers.

    `step_ms` is the measured mean wall time of the profiled steps. With `use_device` (CUDA) and
    GPU work in the trace, a phase is the GPU time of the kernels it launched, else the host wall
    time spent in it; "outside the regions" is the rest of the step's wall time.
    """
    if steps < 1:
        raise ValueError("a breakdown needs at least one profiled step")
    device_totals = device_phase_totals_us(trace) if use_device else None
    if device_totals is not None:
        clock = "gpu time of the kernels each region launched"
        totals_us, covered_us = device_totals
    else:
        clock = "host wall"
        totals_us, covered_us = phase_totals_us(trace)
    phases_ms = {name: total / 1000.0 / steps for name, total in totals_us.items()}
    covered_ms = covered_us / 1000.0 / steps
    return {
        "clock": clock,
        "profiled_steps": steps,
        "phases_ms": phases_ms,
        "covered_ms": covered_ms,
        "outside_regions_ms": max(0.0, step_ms - covered_ms),
        "step_ms": step_ms,
    }
