"""Timing and memory primitives: the one place that times drag work and reads its peak memory.

`draggan-fast bench` (measure.py) and the pytest-benchmark suites in benches/ (through
`benchmark_rounds`) both time with these, so a timed call means the same thing in both: the
wall clock after the device's queued work has finished, with the peak memory of the calls.
"""

from __future__ import annotations

import torch

from draggan_fast.bench import environment, stats


def synchronize(device: torch.device | str):
    """Wait for the device's queued work (CUDA); nothing to wait for on the CPU."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def synchronized(function, device: torch.device | str):
    """`function` wrapped so each call returns only once the device has finished its work."""
    device = torch.device(device)

    def call():
        result = function()
        synchronize(device)
        return result

    return call


def memory_probe(device: torch.device):
    """(kind, baseline bytes now); resets the high-water mark where the platform allows."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return "cuda_max_allocated", torch.cuda.memory_allocated(device)
    return "cpu_peak_rss", environment.current_rss_bytes()


def memory_peak(kind: str, device: torch.device) -> int:
    if kind == "cuda_max_allocated":
        return torch.cuda.max_memory_allocated(device)
    return environment.peak_rss_bytes()


def benchmark_rounds(benchmark, function, device, rounds: int, warmup_rounds: int = 1):
    """Time `function()` with pytest-benchmark's `benchmark` fixture, synchronised as above.

    Records in `benchmark.extra_info`: "stats" (the summary `draggan-fast bench` prints:
    median, p10, p90, ... in ms) and on CUDA "peak_cuda_bytes" and "peak_cuda_bytes_above_start"
    (above what was allocated before the timed calls; on the CPU the peak RSS of a shared
    process says nothing, `draggan-fast bench` measures it in a fresh process per backend).
    Returns the last call's result.
    """
    device = torch.device(device)
    kind, start_bytes = memory_probe(device)
    result = benchmark.pedantic(
        synchronized(function, device), rounds=rounds, warmup_rounds=warmup_rounds
    )
    if device.type == "cuda":
        peak = memory_peak(kind, device)
        benchmark.extra_info["peak_cuda_bytes"] = peak
        benchmark.extra_info["peak_cuda_bytes_above_start"] = peak - start_bytes
    seconds = getattr(getattr(benchmark, "stats", None), "stats", None)
    if seconds is not None and seconds.data:  # None under --benchmark-disable
        benchmark.extra_info["stats"] = stats.summarize([1000.0 * s for s in seconds.data])
    return result
