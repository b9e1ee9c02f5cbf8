"""`draggan-fast bench --sessions`: the batched vs in-turn table and JSON on a tiny preset (a
smoke run: the numbers are not checked, only that both modes ran the same steps), and its input
errors. Timings themselves are measured by hand on a quiet machine, never in tests."""

import json

import pytest

from draggan_fast import cli
from draggan_fast.bench import sessions


def test_sessions_bench_reports_both_modes_side_by_side(tmp_path, capsys):
    out = tmp_path / "sessions.json"
    argv = [
        "bench", "--sessions", "1,2", "--arch", "tiny", "--backend", "reference",
        "--device", "cpu", "--steps", "2", "--warmup", "1", "--json", str(out),
    ]  # fmt: skip
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "in turn steps/s" in printed and "batched steps/s" in printed
    assert "the generator's blocks on the stacked w's" in printed  # what ran the batch

    document = json.loads(out.read_text())
    assert document["schema"] == sessions.SCHEMA
    assert document["configuration"]["counts"] == [1, 2]
    assert [(r["backend"], r["sessions"]) for r in document["results"]] == [
        ("reference", 1), ("reference", 2),
    ]  # fmt: skip
    for result in document["results"]:
        for mode in ("in_turn", "batched"):
            assert len(result[mode]["round_ms"]) == 2
            rate = result["sessions"] * 2 * 1000.0 / sum(result[mode]["round_ms"])
            assert result[mode]["aggregate_steps_per_s"] == pytest.approx(rate)
        ratio = (
            result["batched"]["aggregate_steps_per_s"] / result["in_turn"]["aggregate_steps_per_s"]
        )
        assert result["batched_vs_in_turn"] == pytest.approx(ratio)
    assert document["results"][1]["batch"] == [
        "sessions [0, 1]: reference: the generator's blocks on the stacked w's, drag math per "
        "session"
    ]


@pytest.mark.parametrize("text", ["", "0", "1,x", "2,2", "65", "-1"])
def test_bad_session_counts_are_refused(text):
    with pytest.raises(ValueError, match="--sessions"):
        sessions.parse_counts(text)


def test_sessions_mode_refuses_options_it_does_not_take(capsys):
    argv = ["bench", "--sessions", "2", "--arch", "tiny", "--compile"]
    assert cli.main(argv) != 0
    assert "--sessions does not take --compile" in capsys.readouterr().err
