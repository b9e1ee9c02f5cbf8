"""Ratios between configurations and the printed report, on results with known numbers."""

import json

from draggan_fast.bench import report, runner
from draggan_fast.bench.trace import PHASES


def _result(backend, median_ms, peak_bytes, baseline_bytes=1000, status="ok"):
    if status != "ok":
        return {"status": status, "label": backend, "backend": backend, "error": "boom"}
    phases = dict.fromkeys(PHASES, 1.0)
    return {
        "status": "ok", "label": backend, "backend": backend, "compile": False,
        "stats": {"median_ms": median_ms, "p10_ms": median_ms - 1, "p90_ms": median_ms + 1,
                  "steps_per_s": 1000.0 / median_ms},
        "warmup_overhead_s": 0.5, "done_steps": 0,
        "memory": {"kind": "cpu_peak_rss", "peak_bytes": peak_bytes,
                   "baseline_bytes": baseline_bytes},
        "breakdown": {"clock": "host wall", "profiled_steps": 2, "phases_ms": phases,
                      "covered_ms": 8.0, "outside_regions_ms": median_ms - 8.0,
                      "step_ms": median_ms},
        "top_operators": [{"name": "aten::conv2d", "self_ms_per_step": 3.0,
                           "self_percent": 60.0, "calls_per_step": 12}],
        "trace": "/traces/trace.json",
    }  # fmt: skip


def _document(results):
    return {
        "schema": runner.SCHEMA,
        "environment": {"cpu_model": "Test CPU", "cpu_cores": 2, "gpu": None,
                        "versions": {"torch": "2.x"}},
        "configuration": {
            "device": "cpu", "steps": 10, "warmup": 2, "compile": False,
            "source": {"kind": "preset", "arch": "tiny", "description": "64 px",
                       "weights": "random"},
            "workload": {"handles": 2, "mask": True, "render_every": 1, "seed": 0},
        },
        "results": results,
        "comparisons": runner.comparisons(results),
    }  # fmt: skip


def test_comparisons_are_against_reference():
    results = [_result("fast", 100.0, 3000), _result("reference", 400.0, 9000)]
    (row,) = runner.comparisons(results)
    assert (row["baseline"], row["candidate"]) == ("reference", "fast")
    assert row["speedup_median"] == 4.0
    assert row["working_memory_ratio"] == (3000 - 1000) / (9000 - 1000)


def test_no_comparison_without_a_successful_reference():
    assert runner.comparisons([_result("fast", 100.0, 3000)]) == []
    failed = [_result("fast", 100.0, 3000), _result("reference", 0, 0, status="error")]
    assert runner.comparisons(failed) == []


def test_report_prints_timings_breakdown_ratio_and_failures():
    results = [_result("fast", 100.0, 3 * 2**20), _result("reference", 400.0, 9 * 2**20)]
    text = report.format_report(_document(results), show_operators=True)
    assert "fast vs reference: speed-up x4.00" in text
    assert "memory above the loaded model x0.33" in text
    assert "100.0" in text and "400.0" in text  # medians
    for label in PHASES.values():
        assert label in text
    assert "aten::conv2d" in text and "/traces/trace.json" in text
    assert "3.00 MiB" in text  # peak RSS of fast

    failed = [_result("fast", 0, 0, status="error"), _result("reference", 400.0, 9 * 2**20)]
    text = report.format_report(_document(failed))
    assert "fast: failed: boom" in text and "speed-up" not in text


def test_json_round_trip(tmp_path):
    document = _document([_result("reference", 400.0, 9000)])
    path = report.write_json(document, tmp_path / "sub" / "bench.json")
    assert json.loads(path.read_text()) == document


def test_format_bytes():
    assert report.format_bytes(512) == "512 B"
    assert report.format_bytes(3 * 2**30) == "3.00 GiB"
    assert report.format_bytes(None) == "n/a"


def test_environment_records_switches_that_change_the_run(monkeypatch):
    from draggan_fast.bench.environment import describe_environment

    monkeypatch.setenv("DRAGGAN_FAST_OPS", "reference")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("HOME_OF_SOMETHING_ELSE", "x")
    environment = describe_environment()
    assert environment["env"]["DRAGGAN_FAST_OPS"] == "reference"
    assert environment["env"]["OMP_NUM_THREADS"] == "1"
    assert "HOME_OF_SOMETHING_ELSE" not in environment["env"]
    assert environment["cpu_cores"] >= 1 and environment["versions"]["torch"]
