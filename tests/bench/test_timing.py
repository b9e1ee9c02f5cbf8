"""The timing primitives both benchmark systems use (draggan_fast/bench/timing.py)."""

from types import SimpleNamespace

import pytest

from draggan_fast.bench import timing


class RecordingBenchmark:
    """Stands in for pytest-benchmark's fixture: runs `pedantic` as it does and reports the
    given per-round seconds (None: as under --benchmark-disable, no statistics)."""

    def __init__(self, seconds):
        self.extra_info = {}
        self.seconds = seconds
        self.stats = None

    def pedantic(self, function, rounds, warmup_rounds):
        for _ in range(warmup_rounds + rounds):
            result = function()
        if self.seconds is not None:
            self.stats = SimpleNamespace(stats=SimpleNamespace(data=self.seconds))
        return result


def test_benchmark_rounds_runs_the_rounds_and_records_the_bench_summary():
    calls = []
    benchmark = RecordingBenchmark([0.003, 0.001, 0.002])
    result = timing.benchmark_rounds(benchmark, lambda: calls.append(1) or len(calls), "cpu", 3)
    assert len(calls) == 4 and result == 4  # one warm-up round, three timed, the last returned
    summary = benchmark.extra_info["stats"]
    assert summary["count"] == 3
    assert summary["median_ms"] == pytest.approx(2.0)
    assert summary["min_ms"] == pytest.approx(1.0) and summary["max_ms"] == pytest.approx(3.0)
    assert "peak_cuda_bytes" not in benchmark.extra_info  # on the CPU a shared process's RSS


def test_benchmark_rounds_without_statistics():
    benchmark = RecordingBenchmark(None)
    assert timing.benchmark_rounds(benchmark, lambda: "x", "cpu", 2, warmup_rounds=0) == "x"
    assert "stats" not in benchmark.extra_info


def test_synchronized_returns_the_result():
    assert timing.synchronized(lambda: 7, "cpu")() == 7
