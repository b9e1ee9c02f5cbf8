"""Presenting a benchmark report: the tables printed after a run, and the JSON file.

The report document (`runner.run_benchmark`) holds:
`schema`, `command`, `environment` (machine, versions, git commit), `configuration` (generator
source, device, step counts, workload, how it was isolated and timed), `results` (one per
configuration: status, every warm-up and timed step in ms, stats, warm-up overhead, memory,
per-phase breakdown, top operators, trace path) and `comparisons` (ratios against reference).
"""

import json
from pathlib import Path

from draggan_fast.bench.runner import working_memory_bytes
from draggan_fast.bench.trace import PHASES


def format_bytes(count: int | None) -> str:
    if count is None:
        return "n/a"
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(count) >= scale:
            return f"{count / scale:.2f} {unit}"
    return f"{count} B"


def markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells):
        first = cells[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:])]
        return "  ".join([first, *rest]).rstrip()

    return [line(header), line(["-" * w for w in widths]), *[line(row) for row in rows]]


def _describe_run(report: dict) -> str:
    config, env = report["configuration"], report["environment"]
    source = config["source"]
    if source["kind"] == "preset":
        model = f"--arch {source['arch']} ({source['description']}; {source['weights']})"
    else:
        model = f"{source['kind']} model {source['path']}"
    workload = config["workload"]
    render = workload["render_every"]
    machine = env["gpu"]["name"] if config["device"] == "cuda" and env["gpu"] else None
    machine = machine or f"{env['cpu_model']}, {env['cpu_cores']} cores"
    lines = [
        f"model:    {model}",
        f"device:   {config['device']} ({machine}); torch {env['versions']['torch']}",
        f"workload: {workload['handles']} handle(s), mask {'on' if workload['mask'] else 'off'}"
        f", render {'every ' + str(render) + ' step(s)' if render else 'never'}; "
        f"{config['warmup']} warm-up + {config['steps']} timed steps per configuration, "
        "each configuration in a fresh process",
    ]
    for result in report["results"]:
        if result.get("backend_detail"):
            lines.append(f"backend:  {result['label']}: {result['backend_detail']}")
        if result.get("compile_method"):
            lines.append(f"compile:  {result['label']}: {result['compile_method']}")
    if config["compile"]:
        lines.append(
            "          warm-up s = compile time (the warm-up steps' excess over the median)"
        )
    return "\n".join(lines)


MEMORY_NOTES = {
    "peak RSS": "peak RSS: the process's resident high-water mark (torch, generator and drag; "
    "a fresh process per configuration); above loaded model: that peak minus the RSS once the "
    "generator was loaded",
    "peak CUDA alloc": "peak CUDA alloc: torch.cuda.max_memory_allocated over the warm-up and "
    "timed steps, weights included; above loaded model: that peak minus the weights",
}


def _summary_rows(results: list[dict], memory_label: str) -> tuple[list[str], list[list[str]]]:
    header = [
        "configuration", "median ms", "p10 ms", "p90 ms", "steps/s", memory_label,
        "above loaded model", "warm-up s",
    ]  # fmt: skip
    rows = []
    for result in results:
        if result["status"] != "ok":
            rows.append([result["label"], "failed", "", "", "", "", "", ""])
            continue
        summary, memory = result["stats"], result["memory"]
        rows.append(
            [
                result["label"],
                f"{summary['median_ms']:.1f}",
                f"{summary['p10_ms']:.1f}",
                f"{summary['p90_ms']:.1f}",
                f"{summary['steps_per_s']:.2f}",
                format_bytes(memory["peak_bytes"]),
                format_bytes(working_memory_bytes(memory)),
                f"{result['warmup_overhead_s']:.2f}",
            ]
        )
    return header, rows


def _breakdown_lines(results: list[dict]) -> list[str]:
    profiled = [r for r in results if r["status"] == "ok" and r["breakdown"]]
    if not profiled:
        return []
    header = ["phase (ms per step)", *[r["label"] for r in profiled]]
    rows = [
        [label, *[f"{r['breakdown']['phases_ms'][name]:.2f}" for r in profiled]]
        for name, label in PHASES.items()
    ]
    rows.append(
        ["outside the regions", *[f"{r['breakdown']['outside_regions_ms']:.2f}" for r in profiled]]
    )
    rows.append(["= profiled step", *[f"{r['breakdown']['step_ms']:.2f}" for r in profiled]])
    clocks = sorted({f"{r['label']}: {r['breakdown']['clock']}" for r in profiled})
    steps = profiled[0]["breakdown"]["profiled_steps"]
    note = f"breakdown: mean of {steps} profiled step(s) after the timed ones ({'; '.join(clocks)})"
    lines = ["", note, *markdown_table(header, rows)]
    if any(r["compile"] for r in profiled):
        lines.append(
            "(regions inside a torch.compile graph are compiled away: their time is counted "
            "'outside the regions')"
        )
    return lines


def _top_operator_lines(results: list[dict]) -> list[str]:
    lines = []
    for result in results:
        if result["status"] != "ok" or not result["top_operators"]:
            continue
        header = [f"top operators by self time: {result['label']}", "ms/step", "%", "calls/step"]
        rows = [
            [op["name"][:60], f"{op['self_ms_per_step']:.2f}", f"{op['self_percent']:.1f}",
             f"{op['calls_per_step']:.0f}"]
            for op in result["top_operators"]
        ]  # fmt: skip
        lines += ["", *markdown_table(header, rows)]
        if result["trace"]:
            lines.append(f"trace: {result['trace']} (chrome://tracing or ui.perfetto.dev)")
    return lines


def format_report(report: dict, show_operators: bool = False) -> str:
    """The human-readable summary: run description, timings, breakdown, ratios, failures."""
    results = report["results"]
    cuda = report["configuration"]["device"] == "cuda"
    memory_label = "peak CUDA alloc" if cuda else "peak RSS"
    header, rows = _summary_rows(results, memory_label)
    lines = [_describe_run(report), "", *markdown_table(header, rows), MEMORY_NOTES[memory_label]]
    lines += _breakdown_lines(results)
    if show_operators:
        lines += _top_operator_lines(results)
    lines.append("")
    for comparison in report["comparisons"]:
        memory = comparison["working_memory_ratio"]
        memory_text = "" if memory is None else f"; memory above the loaded model x{memory:.2f}"
        lines.append(
            f"{comparison['candidate']} vs {comparison['baseline']}: speed-up "
            f"x{comparison['speedup_median']:.2f} ({comparison['baseline']} median ms / "
            f"{comparison['candidate']} median ms, same run)" + memory_text
        )
    for result in results:
        if result["status"] != "ok":
            lines.append(f"{result['label']}: failed: {result['error']}")
        elif result["done_steps"]:
            lines.append(
                f"note: {result['label']}: {result['done_steps']} step(s) found every handle at "
                "its target and skipped the update; those timings are not full steps"
            )
    return "\n".join(lines).rstrip() + "\n"


def write_json(report: dict, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path
