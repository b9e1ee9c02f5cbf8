"""Measuring one configuration (one backend, compiled or not) of a drag benchmark.

The runner starts `python -m draggan_fast.bench.measure SPEC.json RESULT.json` once per
configuration, so each one starts from a fresh process: its peak RSS, CUDA allocator and compile
caches owe nothing to the configuration before it.

Phases: warm-up steps (their excess over the median is the compile time when compiling), timed
steps (synchronised wall clock per step), then a few steps under torch.profiler whose trace gives
the per-phase breakdown (kept apart so the profiler's overhead never touches the timed steps).
"""

import json
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch

from draggan_fast.bench import presets, stats, trace
from draggan_fast.bench.progress import ProgressLine
from draggan_fast.bench.timing import memory_peak, memory_probe, synchronize
from draggan_fast.bench.workload import DragWorkload, compile_method, make_session
from draggan_fast.stylegan.errors import CheckpointError

TOP_OPERATORS = 10


class StepClock:
    """Runs session steps and times each one; on CUDA the clock is read after a synchronise."""

    def __init__(self, session, workload: DragWorkload, device: torch.device):
        self.session = session
        self.workload = workload
        self.device = device
        self.steps_run = 0
        self.done_steps = 0

    def step(self) -> float:
        """One step; its wall time in milliseconds."""
        render = self.workload.renders(self.steps_run)
        synchronize(self.device)
        start = time.perf_counter()
        result = self.session.step(render=render)
        if render:
            result.image  # noqa: B018 - the image transfer is part of a rendered step
        synchronize(self.device)
        elapsed_ms = (time.perf_counter() - start) * 1000.0
        self.steps_run += 1
        self.done_steps += bool(result.done)
        return elapsed_ms

    def run(self, count: int, phase: str, progress: ProgressLine) -> list[float]:
        timings = []
        for index in range(count):
            timings.append(self.step())
            progress.update(phase, index + 1, count, timings[-1])
        return timings


def top_operators(profiler, device: torch.device, steps: int) -> list[dict]:
    """The operators with the most self time per profiled step.

    On CUDA "self time" is the GPU time of the kernels each operator launched itself; kernels
    are not listed apart, so nothing is counted twice.
    """
    on_device = device.type == "cuda"
    rows = [
        row
        for row in profiler.key_averages()
        if row.device_type == torch.autograd.DeviceType.CPU
        and not row.is_user_annotation
        and not row.key.startswith(("draggan/", "ProfilerStep"))
    ]
    attribute = "self_device_time_total" if on_device else "self_cpu_time_total"
    total_us = sum(getattr(row, attribute) for row in rows) or 1.0
    rows.sort(key=lambda row: getattr(row, attribute), reverse=True)
    return [
        {
            "name": row.key,
            "calls_per_step": row.count / steps,
            "self_ms_per_step": getattr(row, attribute) / 1000.0 / steps,
            "self_percent": 100.0 * getattr(row, attribute) / total_us,
        }
        for row in rows[:TOP_OPERATORS]
    ]


def profile_steps(clock: StepClock, count: int, trace_path: Path, progress: ProgressLine):
    """Run `count` steps under torch.profiler; (breakdown, top operators)."""
    activities = [torch.profiler.ProfilerActivity.CPU]
    if clock.device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as profiler:
        timings = clock.run(count, "profiled", progress)
    profiler.export_chrome_trace(str(trace_path))
    parsed = trace.load_trace(trace_path)
    step_ms = sum(timings) / len(timings)
    breakdown = trace.breakdown_from_trace(parsed, count, step_ms, clock.device.type == "cuda")
    return breakdown, top_operators(profiler, clock.device, count)


def measure(spec: dict, progress: ProgressLine) -> dict:
    """Build the generator and session of `spec`, warm up, time, profile. -> result dict."""
    device = torch.device(spec["device"])
    workload = DragWorkload(**spec["workload"])
    progress.note("building the generator")
    generator = presets.build_generator(spec["source"]).to(device)
    memory_kind, baseline_bytes = memory_probe(device)
    session = make_session(
        generator, workload, spec["backend"], device, spec["compile"], spec.get("cuda_graph")
    )
    clock = StepClock(session, workload, device)

    warmup_ms = clock.run(spec["warmup"], "warm-up", progress)
    timings_ms = clock.run(spec["steps"], "timed", progress)
    peak_bytes = memory_peak(memory_kind, device)
    summary = stats.summarize(timings_ms)

    result = {
        "status": "ok",
        "backend": spec["backend"],
        "backend_detail": session.backend,  # which implementation ran and why
        "compile": spec["compile"],
        "compile_method": compile_method(spec["backend"]) if spec["compile"] else None,
        "warmup_ms": warmup_ms,
        "timings_ms": timings_ms,
        "stats": summary,
        "warmup_overhead_s": stats.warmup_overhead_s(warmup_ms, summary["median_ms"]),
        "done_steps": clock.done_steps,
        "memory": {"kind": memory_kind, "peak_bytes": peak_bytes, "baseline_bytes": baseline_bytes},
        "breakdown": None,
        "top_operators": [],
        "trace": None,
    }
    if spec["profile_steps"] > 0:
        with tempfile.TemporaryDirectory() as scratch:
            kept = spec.get("trace_path")
            trace_path = Path(kept) if kept else Path(scratch) / "trace.json"
            breakdown, operators = profile_steps(clock, spec["profile_steps"], trace_path, progress)
        result.update(breakdown=breakdown, top_operators=operators, trace=kept)
    progress.finish()
    return result


def main(argv=None) -> int:
    """Entry point of the per-configuration process: SPEC.json in, RESULT.json out."""
    from draggan_fast.cli import tune_allocator

    tune_allocator()  # the same allocator settings as the `draggan-fast` entry point
    spec_path, result_path = (argv if argv is not None else sys.argv[1:])[:2]
    spec = json.loads(Path(spec_path).read_text())
    progress = ProgressLine(spec["label"])
    try:
        result = measure(spec, progress)
    except (ValueError, CheckpointError, OSError, NotImplementedError, RuntimeError) as exc:
        progress.finish()
        detail = traceback.format_exc() if isinstance(exc, RuntimeError) else None
        result = {"status": "error", "error": f"{type(exc).__name__}: {exc}", "detail": detail}
    result.update(label=spec["label"], backend=spec["backend"], compile=spec["compile"])
    Path(result_path).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
