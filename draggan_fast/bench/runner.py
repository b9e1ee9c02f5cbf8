"""Running a benchmark: every configuration in a fresh process, one after the other.

The configurations of one run share the machine, the generator (same file or same seeded random
weights), the workload and the step counts, so the fast/reference ratio compares like with like.
"""

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from draggan_fast.bench import environment, stats
from draggan_fast.bench.workload import DragWorkload

SCHEMA = "draggan-fast-bench/1"
BASELINE_BACKEND = "reference"


@dataclass
class BenchOptions:
    source: dict  # presets.describe_source(...)
    backends: list[str]
    device: str
    steps: int = 10
    warmup: int = 2
    profile_steps: int = 2
    compile: bool = False
    eager_fast: bool = False  # the fast backend without its CUDA graph (cuda_graph=False)
    workload: DragWorkload = field(default_factory=DragWorkload)
    profile_dir: str | None = None  # keep each configuration's Chrome trace here

    def __post_init__(self):
        if self.steps < 1:
            raise ValueError(f"--steps must be at least 1, got {self.steps}")
        if self.warmup < 0:
            raise ValueError(f"--warmup must be 0 or more, got {self.warmup}")
        if self.profile_steps < 0:
            raise ValueError(f"--profile-steps must be 0 or more, got {self.profile_steps}")
        if not self.backends:
            raise ValueError("--backend: name at least one backend")
        if len(set(self.backends)) != len(self.backends):
            raise ValueError(f"--backend names a backend twice: {','.join(self.backends)}")


def configuration_label(backend: str, compiled: bool, eager: bool = False) -> str:
    return backend + ("+compile" if compiled else "") + ("-nograph" if eager else "")


def configuration_spec(options: BenchOptions, backend: str) -> dict:
    """What the per-configuration process needs, as JSON."""
    eager = options.eager_fast and backend == "fast"  # the one backend with a graph step
    label = configuration_label(backend, options.compile, eager)
    trace_path = None
    if options.profile_dir is not None:
        trace_path = str(Path(options.profile_dir) / f"trace-{label}.json")
    return {
        "label": label,
        "backend": backend,
        "compile": options.compile,
        "cuda_graph": False if eager else None,
        "source": options.source,
        "device": options.device,
        "steps": options.steps,
        "warmup": options.warmup,
        "profile_steps": options.profile_steps,
        "workload": asdict(options.workload),
        "trace_path": trace_path,
    }


def _worker_environment(compiled: bool, scratch: Path) -> dict:
    env = dict(os.environ)
    env.setdefault("KINETO_LOG_LEVEL", "5")  # the profiler's own log lines would bury the table
    if compiled and "TORCHINDUCTOR_CACHE_DIR" not in env:
        env["TORCHINDUCTOR_CACHE_DIR"] = str(scratch / "inductor-cache")  # cold compile
    return env


def run_configuration(spec: dict) -> dict:
    """Measure one configuration in a fresh Python process; its result dict."""
    with tempfile.TemporaryDirectory(prefix="draggan-bench-") as scratch:
        scratch = Path(scratch)
        spec_path, result_path = scratch / "spec.json", scratch / "result.json"
        spec_path.write_text(json.dumps(spec))
        command = [sys.executable, "-m", "draggan_fast.bench.measure", spec_path, result_path]
        completed = subprocess.run(
            [str(part) for part in command],
            stdout=2,  # our stdout stays for the table: the worker's output joins our stderr (fd 2)
            env=_worker_environment(spec["compile"], scratch),
            check=False,
        )
        if completed.returncode != 0 or not result_path.is_file():
            return {
                "status": "error",
                "label": spec["label"],
                "backend": spec["backend"],
                "compile": spec["compile"],
                "error": f"measuring process exited with status {completed.returncode}",
            }
        return json.loads(result_path.read_text())


def working_memory_bytes(memory: dict) -> int | None:
    """Peak memory above what the process held once the generator was loaded."""
    if memory.get("baseline_bytes") is None:
        return None
    return max(0, memory["peak_bytes"] - memory["baseline_bytes"])


def _ratio(numerator, denominator):
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def comparisons(results: list[dict]) -> list[dict]:
    """Every other backend against the reference backend, measured in the same run."""
    by_backend = {r["backend"]: r for r in results if r["status"] == "ok"}
    baseline = by_backend.get(BASELINE_BACKEND)
    if baseline is None:
        return []
    rows = []
    for backend, result in by_backend.items():
        if backend == BASELINE_BACKEND:
            continue
        rows.append(
            {
                "baseline": BASELINE_BACKEND,
                "candidate": backend,
                "speedup_median": stats.speedup(
                    baseline["stats"]["median_ms"], result["stats"]["median_ms"]
                ),
                "working_memory_ratio": _ratio(
                    working_memory_bytes(result["memory"]), working_memory_bytes(baseline["memory"])
                ),
            }
        )
    return rows


def run_benchmark(options: BenchOptions, argv=None) -> dict:
    """Measure every configuration; the report document (see `report.py` for its layout)."""
    if options.profile_dir is not None:
        Path(options.profile_dir).mkdir(parents=True, exist_ok=True)
    results = [run_configuration(configuration_spec(options, b)) for b in options.backends]
    return {
        **environment.report_header(SCHEMA, argv),
        "configuration": {
            "source": options.source,
            "device": options.device,
            "steps": options.steps,
            "warmup": options.warmup,
            "profile_steps": options.profile_steps,
            "compile": options.compile,
            "eager_fast": options.eager_fast,
            "workload": asdict(options.workload),
            "isolation": "each configuration in a fresh process",
            "timer": "wall clock per step, synchronised before each read on CUDA",
        },
        "results": results,
        "comparisons": comparisons(results),
    }
