"""`draggan-fast info`: the build and the dispatch of generator and drag ops."""

import json

import torch

from draggan_fast.cli import main
from draggan_fast.stylegan.ops import describe_dispatch


def test_info_json_reports_build_and_dispatch(capsys):
    assert main(["info", "--json", "--device", "cpu"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["torch"] == torch.__version__
    rows = report["dispatch"]["cpu"]
    assert rows["generator_ops"] == describe_dispatch("cpu")
    assert rows["drag_ops"], "the drag ops' dispatch is listed too"
    build = report["extension"]
    if build["available"]:
        assert build["torch_version"] == torch.__version__
        assert {"bias_act", "bias_act_grad", "upfirdn2d"} <= set(report["compiled_ops"]["cpu"])
    else:
        assert build["reason"] and report["compiled_ops"] == {}


def test_info_text_and_bad_device(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "dispatch on cpu:" in out
    for row in describe_dispatch("cpu"):
        assert f"{row['op']:<32} {row['implementation']:<10} {row['reason']}" in out
    assert main(["info", "--device", "warp-drive"]) == 2
    assert "--device 'warp-drive' is not a torch device" in capsys.readouterr().err
