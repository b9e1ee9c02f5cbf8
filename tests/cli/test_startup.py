"""Help, --version and argument errors answer without loading torch or the compiled extension."""

import json
import subprocess
import sys

import pytest

import draggan_fast
from draggan_fast.cli import command_names

PROBE = """
import json, sys
from draggan_fast.cli import main
status = main(sys.argv[1:])
heavy = sorted(m for m in ("torch", "draggan_fast._C", "numpy") if m in sys.modules)
print(json.dumps({"status": status, "heavy": heavy}))
"""

# every command: --help must stay light for each (a new command is covered without a list)
COMMANDS = command_names()


def probe(*argv):
    """Run the CLI with argv in a fresh interpreter: (exit status, heavy modules loaded, stderr)."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=120
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return report["status"], report["heavy"], done.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["--version"],
        ["no-such-command"],
        *([command, "--help"] for command in COMMANDS),
        ["drag", "--seed", "x", "--points", "1,2->3,4", "--out", "r.png"],
        ["drag", "--points", "1,2->3,4", "--out", "r.txt"],  # checked in run(), before loading
        ["drag", "--points", "1,2->3,4", "--out", "r.png", "--steps", "1000000000000"],
        ["view", "--allow-origin", "notaurl"],
    ],
)
def test_no_heavy_import_before_the_command_needs_it(argv):
    status, heavy, _ = probe(*argv)
    assert status == (0 if argv[-1] in ("--help", "--version") else 2)
    assert heavy == [], f"{' '.join(argv)} imported {heavy}"


def test_version():
    done = subprocess.run(
        [sys.executable, "-m", "draggan_fast", "--version"], capture_output=True, text=True
    )
    assert (
        done.returncode == 0 and done.stdout.strip() == f"draggan-fast {draggan_fast.__version__}"
    )
