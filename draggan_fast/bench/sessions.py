"""`draggan-fast bench --sessions 1,2,4,8`: N sessions stepped as one batch against the same N
stepped one after another, side by side in one run.

For each backend and each N, two sets of N drags (the same workload, start latents of seeds
seed .. seed + N - 1) on one generator in this process: "in turn" steps each session with
`DragSession.step`, one after another; "batched" steps all of them with
`draggan_fast.step_together`. A round is one step of every session; rounds of the two modes
alternate, so both see the same machine. Reported per mode: aggregate steps/s (N steps per
round) and the per-session step latency (a session's step ends once its round ends: the time a
user waits between two frames), then the batched/in-turn throughput ratio. Each result says
what ran the batch (`describe_plan`: the fast backend batches on the generator's own blocks).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import torch

from draggan_fast.bench import environment, presets, stats
from draggan_fast.bench.report import markdown_table
from draggan_fast.bench.timing import synchronize
from draggan_fast.bench.workload import DragWorkload, make_session

SCHEMA = "draggan-fast-bench-sessions/1"
MAX_SESSIONS = 64


def parse_counts(text: str) -> list[int]:
    """--sessions "1,2,4,8" -> [1, 2, 4, 8]: distinct session counts in [1, MAX_SESSIONS]."""
    counts = []
    for item in text.split(","):
        item = item.strip()
        if not item.isdigit() or not 1 <= int(item) <= MAX_SESSIONS:
            raise ValueError(
                f"--sessions takes comma-separated session counts in [1, {MAX_SESSIONS}], "
                f"got {text!r}"
            )
        if int(item) in counts:
            raise ValueError(f"--sessions names {item} twice")
        counts.append(int(item))
    return counts


@dataclass
class SessionsOptions:
    source: dict  # presets.describe_source(...)
    backends: list[str]
    device: str
    counts: list[int]
    steps: int = 10  # timed rounds per mode
    warmup: int = 2  # rounds per mode, not timed
    workload: DragWorkload = field(default_factory=DragWorkload)


def _sessions(generator, options, backend, count):
    workloads = [
        DragWorkload(options.workload.handles, options.workload.mask,
                     options.workload.render_every, options.workload.seed + index)
        for index in range(count)
    ]  # fmt: skip
    device = torch.device(options.device)
    return [make_session(generator, workload, backend, device, False) for workload in workloads]


def _round_in_turn(sessions, render):
    for session in sessions:
        session.step(render=render).materialize()


def _round_batched(sessions, render):
    from draggan_fast import step_together

    for result in step_together(sessions, render=render):
        result.materialize()


def measure_count(generator, options: SessionsOptions, backend: str, count: int) -> dict:
    """Both modes for `count` sessions of `backend`; the result dict."""
    from draggan_fast.session.batch import describe_plan

    modes = {"in_turn": _round_in_turn, "batched": _round_batched}
    drags = {mode: _sessions(generator, options, backend, count) for mode in modes}
    rounds_ms = {mode: [] for mode in modes}
    device = torch.device(options.device)
    for index in range(options.warmup + options.steps):
        render = options.workload.renders(index)
        for mode, run_round in modes.items():
            synchronize(device)
            start = time.perf_counter()
            run_round(drags[mode], render)
            synchronize(device)
            if index >= options.warmup:
                rounds_ms[mode].append((time.perf_counter() - start) * 1000.0)
    result = {"backend": backend, "sessions": count, "batch": describe_plan(drags["batched"])}
    for mode in modes:
        latency = stats.summarize(rounds_ms[mode])
        result[mode] = {
            "round_ms": rounds_ms[mode],
            "per_session_latency_ms": {k: v for k, v in latency.items() if k.endswith("_ms")},
            "aggregate_steps_per_s": count * latency["steps_per_s"],
        }
    result["batched_vs_in_turn"] = (
        result["batched"]["aggregate_steps_per_s"] / result["in_turn"]["aggregate_steps_per_s"]
    )
    return result


def run_sessions_benchmark(options: SessionsOptions, argv=None, progress=None) -> dict:
    """Every backend and session count; the report document."""
    generator = presets.build_generator(options.source).to(options.device)
    results = []
    for backend in options.backends:
        for count in options.counts:
            if progress is not None:
                progress(f"{backend}: {count} session(s)")
            results.append(measure_count(generator, options, backend, count))
    return {
        **environment.report_header(SCHEMA, argv),
        "configuration": {
            "source": options.source,
            "device": options.device,
            "counts": options.counts,
            "steps": options.steps,
            "warmup": options.warmup,
            "workload": asdict(options.workload),
            "isolation": "one process; batched and in-turn rounds alternate",
            "timer": "wall clock per round (one step of every session), synchronised on CUDA",
        },
        "results": results,
    }


def format_sessions_report(document: dict) -> str:
    """The aggregate table: per backend and N, both modes side by side, and the ratio."""
    header = [
        "backend", "sessions", "in turn steps/s", "batched steps/s", "x batched",
        "in turn latency ms", "batched latency ms",
    ]  # fmt: skip
    rows = []
    for result in document["results"]:
        in_turn, batched = result["in_turn"], result["batched"]
        rows.append([
            result["backend"], str(result["sessions"]),
            f"{in_turn['aggregate_steps_per_s']:.2f}", f"{batched['aggregate_steps_per_s']:.2f}",
            f"{result['batched_vs_in_turn']:.2f}",
            f"{in_turn['per_session_latency_ms']['median_ms']:.1f}",
            f"{batched['per_session_latency_ms']['median_ms']:.1f}",
        ])  # fmt: skip
    config = document["configuration"]
    lines = [
        f"sessions benchmark on {config['device']}: {config['steps']} timed rounds per mode "
        f"({config['warmup']} warm-up); latency: median per-session step latency (one round)",
        *markdown_table(header, rows),
        "batches:",
    ]
    seen = set()
    for result in document["results"]:
        for line in result["batch"]:
            text = line.split(": ", 1)[1]
            if (result["backend"], text) not in seen:
                seen.add((result["backend"], text))
                lines.append(f"  {text}")
    return "\n".join(lines) + "\n"
