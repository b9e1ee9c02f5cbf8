"""`draggan-fast bench` end to end on a small model file, and its input errors."""

import json

import pytest
import torch

from draggan_fast import cli
from draggan_fast.bench import runner, trace

RESULT_KEYS = {
    "status", "label", "backend", "backend_detail", "compile", "compile_method", "warmup_ms",
    "timings_ms", "stats",
    "warmup_overhead_s", "done_steps", "memory", "breakdown", "top_operators", "trace",
}  # fmt: skip


def test_bench_end_to_end_on_a_model_file(fixtures_dir, tmp_path, capsys):
    out, traces = tmp_path / "bench.json", tmp_path / "traces"
    argv = [
        "bench", "--model", str(fixtures_dir / "sg2_64_tf.pkl"), "--backend", "fast,reference",
        "--device", "cpu", "--steps", "3", "--warmup", "1", "--handles", "2", "--mask",
        "--render-every", "2", "--profile", str(traces), "--profile-steps", "2",
        "--json", str(out),
    ]  # fmt: skip
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "median ms" in printed and "forward to feature block" in printed
    assert "top operators by self time: reference" in printed
    assert "fast vs reference: speed-up x" in printed  # measured side by side in this run

    document = json.loads(out.read_text())
    assert document["schema"] == runner.SCHEMA
    environment = document["environment"]
    assert environment["versions"]["torch"] == torch.__version__
    assert environment["cpu_cores"] >= 1 and "commit" in environment["git"]
    configuration = document["configuration"]
    assert configuration["source"]["kind"] == "file" and configuration["steps"] == 3
    assert configuration["workload"] == {"handles": 2, "mask": True, "render_every": 2, "seed": 0}

    assert [r["backend"] for r in document["results"]] == ["fast", "reference"]
    for result in document["results"]:
        assert result["status"] == "ok", result.get("error")
        assert set(result) == RESULT_KEYS
        assert result["backend_detail"].startswith(result["backend"])  # which implementation ran
        assert len(result["warmup_ms"]) == 1 and len(result["timings_ms"]) == 3
        timings = result["timings_ms"]
        assert min(timings) <= result["stats"]["median_ms"] <= max(timings)
        assert result["memory"]["peak_bytes"] >= result["memory"]["baseline_bytes"] > 0
        assert result["breakdown"]["phases_ms"]["draggan/mask"] > 0  # --mask reached the step

        parsed = trace.load_trace(result["trace"])
        names = {event["name"] for event in trace.region_events(parsed, trace.HOST_CATEGORY)}
        assert {"draggan/forward_features", "draggan/backward", "draggan/mask"} <= names

    (comparison,) = document["comparisons"]
    medians = {r["backend"]: r["stats"]["median_ms"] for r in document["results"]}
    assert comparison["speedup_median"] == medians["reference"] / medians["fast"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--arch", "tiny", "--backend", "warp"], "unknown backend 'warp'"),
        (["--model", "/nonexistent/g.pkl"], "no such file"),
        (["--arch", "tiny", "--profile", "x", "--profile-steps", "0"], "--profile needs"),
        (["--arch", "tiny", "--backend", "reference,reference"], "twice"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(extra, message, capsys):
    assert cli.main(["bench", *extra]) == 2
    error = capsys.readouterr().err
    assert message in error and len(error.strip().splitlines()) == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error")
def test_cuda_without_a_gpu_is_refused(capsys):
    assert cli.main(["bench", "--arch", "tiny", "--device", "cuda"]) == 2
    assert "CUDA is not available" in capsys.readouterr().err


def test_an_unusable_model_file_is_one_line_and_exit_2(tmp_path, capsys):
    broken = tmp_path / "broken.pkl"
    broken.write_bytes(b"not a checkpoint")
    assert cli.main(["bench", "--model", str(broken), "--backend", "reference"]) == 2
    error = capsys.readouterr().err
    assert "broken.pkl" in error and len(error.strip().splitlines()) == 1
