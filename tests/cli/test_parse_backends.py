"""The one --backend(s) parser shared by `bench` and `eval-drag` (draggan_fast/cli/args.py)."""

import pytest

from draggan_fast import cli
from draggan_fast.cli import CommandError
from draggan_fast.cli.args import parse_backends
from draggan_fast.step.backend import backend_names


def test_names_are_stripped_and_kept_in_order():
    assert parse_backends("--backend", " reference , fast ") == ["reference", "fast"]
    assert parse_backends("--backends", "fast,,") == ["fast"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("warp", "--backend: unknown backend 'warp'; known: " + ", ".join(backend_names())),
        ("fast, Fast", "unknown backend 'Fast'"),
        ("reference, fast,reference ", "--backend: names backend 'reference' twice"),
        (" , ", "--backend: give at least one backend of " + ", ".join(backend_names())),
    ],
)
def test_bad_lists_are_named(text, message):
    with pytest.raises(CommandError) as error:
        parse_backends("--backend", text)
    assert message in str(error.value)


@pytest.mark.parametrize(
    "argv",
    [
        ["bench", "--arch", "tiny", "--backend", "fast,warp"],
        ["bench", "--arch", "tiny", "--backends", "fast,warp"],
        ["eval-drag", "--backend", "fast,warp"],
        ["eval-drag", "--backends", "fast, fast"],
        ["eval-drag", "--backend", ","],
    ],
)
def test_both_commands_reject_alike_before_any_work(argv, capsys):
    """Both commands take --backend (and --backends, the same option) and name it alike."""
    assert cli.main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "--backend: " in error
    assert ("unknown backend 'warp'" in error) == ("warp" in argv[-1])
