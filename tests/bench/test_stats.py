"""Timing statistics: percentiles as numpy computes them, summaries, ratios."""

import math

import numpy as np
import pytest

from draggan_fast.bench import stats


@pytest.mark.parametrize("count", [1, 2, 3, 10, 37])
@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 0.9, 1.0])
def test_percentile_matches_numpy(count, fraction):
    values = list(np.random.default_rng(count).exponential(100.0, size=count))
    assert stats.percentile(values, fraction) == pytest.approx(
        float(np.percentile(values, 100 * fraction))
    )


def test_percentile_ignores_input_order():
    assert stats.percentile([5.0, 1.0, 3.0], 0.5) == 3.0


@pytest.mark.parametrize(("values", "fraction"), [([], 0.5), ([1.0], -0.1), ([1.0], 1.5)])
def test_percentile_rejects_bad_input(values, fraction):
    with pytest.raises(ValueError):
        stats.percentile(values, fraction)


def test_summarize():
    summary = stats.summarize([10.0, 20.0, 30.0, 40.0, 100.0])
    assert summary["count"] == 5
    assert summary["median_ms"] == 30.0
    assert summary["p10_ms"] == pytest.approx(14.0)
    assert summary["p90_ms"] == pytest.approx(76.0)
    assert summary["mean_ms"] == 40.0
    assert (summary["min_ms"], summary["max_ms"]) == (10.0, 100.0)
    assert summary["steps_per_s"] == pytest.approx(5 / 0.2)  # 5 steps in 200 ms


@pytest.mark.parametrize("values", [[], [1.0, math.nan], [1.0, -2.0], [math.inf]])
def test_summarize_rejects_bad_timings(values):
    with pytest.raises(ValueError):
        stats.summarize(values)


def test_speedup_is_baseline_over_candidate():
    assert stats.speedup(300.0, 100.0) == 3.0
    assert stats.speedup(100.0, 400.0) == 0.25
    with pytest.raises(ValueError):
        stats.speedup(100.0, 0.0)


def test_warmup_overhead():
    assert stats.warmup_overhead_s([2100.0, 150.0], 100.0) == pytest.approx(2.05)
    assert stats.warmup_overhead_s([90.0], 100.0) == 0.0  # never negative
    assert stats.warmup_overhead_s([], 100.0) == 0.0
