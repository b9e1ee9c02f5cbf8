"""Reading torch.profiler Chrome traces: the time spent in each phase region of a drag step.

A drag step marks its phases with `torch.profiler.record_function` regions named below. In an
exported Chrome trace each region is a complete event (`"ph": "X"`) of category
`user_annotation` (host wall time) and, on CUDA, also `gpu_user_annotation` (the span of the GPU
kernels launched inside it).
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
DEVICE_CATEGORY = "gpu_user_annotation"


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


def phase_totals_us(trace: dict, category: str = HOST_CATEGORY) -> tuple[dict, float]:
    """({region name: total microseconds}, microseconds covered by any region).

    The covered time counts nested or overlapping regions once, so `step time - covered` is the
    time spent outside every phase region.
    """
    events = region_events(trace, category)
    totals = dict.fromkeys(PHASES, 0.0)
    intervals = []
    for event in events:
        start, duration = float(event["ts"]), float(event.get("dur", 0.0))
        totals[event["name"]] += duration
        intervals.append((start, start + duration))
    return totals, _union_length(intervals)


def breakdown_from_trace(trace: dict, steps: int, step_ms: float, use_device: bool) -> dict:
    """Mean milliseconds per step in each phase, and what no region covers.

    `step_ms` is the measured mean wall time of the profiled steps. `use_device` reads the GPU
    spans of the regions (CUDA) when the trace has them, else the host wall time.
    """
    if steps < 1:
        raise ValueError("a breakdown needs at least one profiled step")
    category = HOST_CATEGORY
    if use_device and region_events(trace, DEVICE_CATEGORY):
        category = DEVICE_CATEGORY
    totals_us, covered_us = phase_totals_us(trace, category)
    phases_ms = {name: total / 1000.0 / steps for name, total in totals_us.items()}
    covered_ms = covered_us / 1000.0 / steps
    return {
        "clock": "gpu kernels inside each region" if category == DEVICE_CATEGORY else "host wall",
        "profiled_steps": steps,
        "phases_ms": phases_ms,
        "covered_ms": covered_ms,
        "outside_regions_ms": max(0.0, step_ms - covered_ms),
        "step_ms": step_ms,
    }
