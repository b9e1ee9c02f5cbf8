"""`draggan-fast info`: the build and the dispatch of generator and drag ops."""

import json

import torch

from draggan_fast import dispatch
from draggan_fast.cli import main


def test_info_json_reports_build_and_dispatch(capsys):
    assert main(["info", "--json", "--device", "cpu"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["torch"] == torch.__version__
    rows = report["dispatch"]["cpu"]
    assert rows["generator_ops"] == dispatch.describe("cpu", family="generator")
    assert [row["op"] for row in rows["generator_ops"]] == [
        "bias_act",
        "upfirdn2d",
        "filtered_lrelu",
        "modulated_conv2d",
    ]
    # Every other registered op (the drag family, once draggan_fast.kernels registers on
    # draggan_fast.dispatch) comes from the same describe.
    assert rows["drag_ops"] == [
        row for row in dispatch.describe("cpu") if row["family"] != "generator"
    ]
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
    for row in dispatch.describe("cpu"):
        assert f"{row['op']:<32} {row['implementation']:<10} {row['reason']}" in out
    assert main(["info", "--device", "warp-drive"]) == 2
    assert "--device 'warp-drive' is not a torch device" in capsys.readouterr().err


def test_info_says_which_fast_paths_apply_to_which_family(capsys):
    from draggan_fast.step.fast import FAST_PATHS_BY_FAMILY

    assert main(["info", "--json", "--device", "cpu"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["fast_paths_by_family"] == FAST_PATHS_BY_FAMILY
    assert main(["info", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    section = out[out.index("fast paths per family") :]
    for family in ("stylegan2:", "stylegan_human:", "stylegan3:"):
        assert f"  {family}\n" in section
    stylegan3 = section[section.index("stylegan3:") :]
    assert "frozen-weight feature blocks: no (no StyleGAN2 blocks)" in stylegan3
