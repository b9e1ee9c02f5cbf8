"""Benchmarking drag steps (`draggan-fast bench`).

presets: generators to measure; workload: the drag they run; measure: one configuration in its
own process; runner: all configurations of a run; trace: phase times from profiler traces;
stats: medians, percentiles, ratios; report: the printed tables and the JSON document.
"""
