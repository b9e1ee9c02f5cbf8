"""`draggan-fast serve` and the `view` limit options: their errors, in one line, before anything
heavy (torch, Ray) is imported."""

import pytest

from draggan_fast.cli import CommandError, build_parser
from tests.cli.test_startup import probe


def run_command(*argv):
    parsed = build_parser().parse_args(list(argv))
    return parsed._run(parsed)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["serve"], "add --ray"),
        (["serve", "--ray"], "--checkpoint-dir is required"),
        (["serve", "--ray", "--checkpoint-dir", "d", "--replicas", "0"], "replicas must be a"),
        (["serve", "--ray", "--checkpoint-dir", "d", "--checkpoint-every", "-1"], "checkpoint_e"),
        (["serve", "--ray", "--checkpoint-dir", "d", "--lease-s", "0"], "lease_s must be"),
        (["serve", "--ray", "--checkpoint-dir", "d", "--port", "70000"], "--port must be in"),
        (["view", "--no-browser", "--model", "x", "--idle-minutes", "0"], "--idle-minutes"),
        (["view", "--no-browser", "--model", "x", "--max-commands-per-s", "-1"], "must be > 0"),
    ],
)
def test_bad_options_are_one_line_errors(argv, message):
    with pytest.raises((CommandError, ValueError), match=message.replace("[", r"\[")):
        run_command(*argv)


def test_serve_answers_its_errors_without_importing_torch_or_ray():
    status, heavy, stderr = probe("serve", "--ray")
    assert status == 2 and heavy == [] and "--checkpoint-dir is required" in stderr


def test_view_passes_its_limits_to_the_server(monkeypatch, tmp_path):
    from draggan_fast.cli import view as view_command
    from draggan_fast.viewer import models
    from tests.viewer.conftest import tiny_generator

    real_registry, seen = models.ModelRegistry, {}

    async def no_serving(app, config, args):
        seen["config"] = config
        return 0

    monkeypatch.setattr(view_command, "_serve", no_serving)
    monkeypatch.setattr(
        models, "ModelRegistry", lambda *a, **k: real_registry(generators={"t": tiny_generator()})
    )
    argv = [
        "view",
        "--no-browser",
        "--model",
        "x",
        "--backend",
        "reference",
        "--max-sessions",
        "3",
        "--idle-minutes",
        "2.5",
        "--save-dir",
        str(tmp_path),
        "--max-commands-per-s",
        "7",
    ]
    assert run_command(*argv) == 0
    config = seen["config"]
    assert (config.max_sessions, config.idle_timeout_s) == (3, 150.0)
    assert (config.save_dir, config.max_commands_per_s) == (str(tmp_path), 7.0)
