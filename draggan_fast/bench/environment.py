"""What a benchmark ran on (machine, versions, commit) and how much memory it used."""

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

import torch

import draggan_fast

REPO_ROOT = Path(draggan_fast.__file__).resolve().parents[1]
# Environment variables that change what runs or how fast (our opt-outs, Triton, threads).
RECORDED_ENV_PREFIXES = ("DRAGGAN_FAST_", "TORCHINDUCTOR_", "TRITON_")
RECORDED_ENV_NAMES = {"OMP_NUM_THREADS", "MKL_NUM_THREADS", "CUDA_VISIBLE_DEVICES"}


def cpu_model() -> str:
    """The CPU's marketing name (Linux /proc/cpuinfo), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cpu_count() -> int:
    """Cores this process may run on (its affinity), not the machine's total."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def git_commit() -> dict:
    """The checkout's commit and whether it has uncommitted changes (None outside git)."""

    def git(*args):
        return subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": dirty}


def report_header(schema: str, argv=None) -> dict:
    """The fields every bench report starts with: its schema, the command and the environment."""
    return {
        "schema": schema,
        "command": list(argv) if argv is not None else None,
        "environment": describe_environment(),
    }


def describe_environment() -> dict:
    """Machine, versions and commit, for the JSON report and RESULTS.md."""
    gpu = None
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        gpu = {
            "name": props.name,
            "memory_bytes": props.total_memory,
            "capability": f"{props.major}.{props.minor}",
            "count": torch.cuda.device_count(),
        }
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_cores": usable_cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": gpu,
        "versions": {
            "draggan_fast": draggan_fast.__version__,
            "torch": torch.__version__,
            "torch_cuda": torch.version.cuda,
            "triton": _package_version("triton"),
            "numpy": _package_version("numpy"),
        },
        "git": git_commit(),
        "env": {
            name: value
            for name, value in sorted(os.environ.items())
            if name.startswith(RECORDED_ENV_PREFIXES) or name in RECORDED_ENV_NAMES
        },
    }


def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def current_rss_bytes() -> int | None:
    """Resident memory of this process now (Linux), else None."""
    kib = _status_kib("VmRSS")
    return None if kib is None else kib * 1024


def peak_rss_bytes() -> int:
    """This process's resident-memory high-water mark since it started."""
    kib = _status_kib("VmHWM")
    if kib is None:
        import resource

        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return kib * 1024
