"""draggan_fast/cli/outputs.py: outputs checked up front and moved into place all together."""

import pytest

from draggan_fast.cli import CommandError
from draggan_fast.cli.outputs import StagedOutputs, check_output


def test_check_output_names_the_option_and_the_problem(tmp_path):
    assert check_output("--out", tmp_path / "r.png", {".png"}) == tmp_path / "r.png"
    cases = [
        (tmp_path / "missing" / "r.png", "does not exist"),
        (tmp_path, "must end in .png"),
        (tmp_path / "r.txt", "must end in .png"),
    ]
    for path, message in cases:
        with pytest.raises(CommandError, match=message):
            check_output("--out", path, {".png"})
    (tmp_path / "d.png").mkdir()
    with pytest.raises(CommandError, match="is a folder"):
        check_output("--out", tmp_path / "d.png", {".png"})
    with pytest.raises(CommandError, match=r"--x /proc/a.png: cannot write in /proc"):
        check_output("--x", "/proc/a.png")
    with pytest.raises(CommandError, match="must be an image file"):
        check_output("--out", tmp_path / "r.txt", {f".s{i}" for i in range(9)}, "an image file")
    assert list(tmp_path.iterdir()) == [tmp_path / "d.png"]  # the probe file is gone


def test_staged_outputs_appear_together(tmp_path):
    with StagedOutputs() as staged:
        first = staged.path(tmp_path / "a.png")
        second = staged.path(tmp_path / "s.json", siblings=[".npz"])
        assert first.parent == tmp_path and first.suffix == ".png"
        first.write_text("a")
        second.write_text("s")
        second.with_suffix(".npz").write_text("n")
        assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "s.json", "s.npz"]
    assert (tmp_path / "s.npz").read_text() == "n"


def test_staged_outputs_leave_nothing_on_error(tmp_path):
    (tmp_path / "a.png").write_text("old")
    with pytest.raises(RuntimeError), StagedOutputs() as staged:
        staged.path(tmp_path / "a.png").write_text("new")
        staged.path(tmp_path / "b.gif")  # never written
        raise RuntimeError("the writer failed")
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]
    assert (tmp_path / "a.png").read_text() == "old"  # an existing file is kept as it was
