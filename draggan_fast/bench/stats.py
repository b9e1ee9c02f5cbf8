"""Summary statistics of per-step timings, and the ratio between two backends."""

import math


def percentile(values, fraction: float) -> float:
    """The `fraction` quantile (0..1) with linear interpolation between order statistics.

    Matches `numpy.percentile(values, 100 * fraction)` (its default "linear" method).
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    ordered = sorted(float(v) for v in values)
    position = fraction * (len(ordered) - 1)
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    weight = position - lower
    return ordered[lower] + (ordered[upper] - ordered[lower]) * weight


def summarize(step_ms) -> dict:
    """median / p10 / p90 / mean / min / max of per-step milliseconds, and steps per second.

    `steps_per_s` is the throughput of the measured steps (count / total time), so steps that
    render an image and steps that do not are both counted at their real cost.
    """
    step_ms = [float(v) for v in step_ms]
    if not step_ms:
        raise ValueError("no timed steps to summarize")
    if any(not math.isfinite(v) or v < 0 for v in step_ms):
        raise ValueError(f"step times must be finite and non-negative, got {step_ms}")
    total_ms = sum(step_ms)
    return {
        "count": len(step_ms),
        "median_ms": percentile(step_ms, 0.5),
        "p10_ms": percentile(step_ms, 0.1),
        "p90_ms": percentile(step_ms, 0.9),
        "mean_ms": total_ms / len(step_ms),
        "min_ms": min(step_ms),
        "max_ms": max(step_ms),
        "steps_per_s": len(step_ms) * 1000.0 / total_ms if total_ms > 0 else math.inf,
    }


def speedup(baseline_median_ms: float, candidate_median_ms: float) -> float:
    """How many times faster the candidate is: baseline median / candidate median."""
    if candidate_median_ms <= 0 or baseline_median_ms <= 0:
        raise ValueError("medians must be positive to form a ratio")
    return baseline_median_ms / candidate_median_ms


def warmup_overhead_s(warmup_ms, median_ms: float) -> float:
    """Time the warm-up steps took beyond steady state: compile time when compiling.

    sum(warm-up step - median step), in seconds; never negative.
    """
    return max(0.0, sum(float(v) - median_ms for v in warmup_ms) / 1000.0)
