"""`draggan-fast info`: the build and the dispatch of generator and drag ops."""

import json

from draggan_fast.cli import main


def test_info_json_reports_build_and_dispatch(capsys):
    assert main(["info", "--json", "--device", "cpu"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["extension"]["available"] in (True, False)
    rows = report["dispatch"]["cpu"]
    assert {row["op"] for row in rows["generator_ops"]} >= {"bias_act", "upfirdn2d"}
    assert rows["drag_ops"], "the drag ops' dispatch is listed too"
    if report["extension"]["available"]:
        assert "bias_act" in report["compiled_ops"]["cpu"]


def test_info_text_and_bad_device(capsys):
    assert main(["info"]) == 0
    assert "dispatch on cpu:" in capsys.readouterr().out
    assert main(["info", "--device", "warp-drive"]) == 2
    assert "--device 'warp-drive' is not a torch device" in capsys.readouterr().err
