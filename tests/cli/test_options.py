"""Options alike across commands: defaults, names in errors, help for every option (issue 13)."""

import re

import pytest

from draggan_fast import default_model_path
from draggan_fast.cli import build_parser, main
from draggan_fast.cli.args import MAX_STEPS, model_path, option_error
from draggan_fast.cli.view import web_origin


def command_parser(name):
    parser = build_parser(name)
    return next(
        action.choices[name] for action in parser._actions if getattr(action, "choices", None)
    )


def all_command_parsers():
    parser = build_parser()
    return next(a.choices for a in parser._actions if getattr(a, "choices", None)).items()


def test_max_steps_is_the_sessions():
    from draggan_fast.session import drag_session as session

    assert session.MAX_STEPS == MAX_STEPS


@pytest.mark.parametrize("command", ["drag", "generate"])
def test_model_defaults_to_the_bundled_one(command):
    required = {"drag": ["--points", "1,2->3,4", "--out", "r.png"], "generate": ["--seeds", "0",
                "--outdir", "out"]}[command]  # fmt: skip
    args = command_parser(command).parse_args(required)
    assert args.model is None and model_path(args.model) == default_model_path()
    assert default_model_path().is_file()


def test_negative_point_coordinates_parse(capsys):
    # The --out error comes after parsing: --points was read as a value, not as an option.
    assert main(["drag", "--points", "-1,10->20,20", "--out", "r.txt"]) == 2
    assert "--out r.txt: must be an image file" in capsys.readouterr().err


def test_session_errors_name_the_option():
    error = option_error(ValueError("n_optimized_layers must be in [1, 8], got 9"))
    assert str(error) == "--optimized-layers must be in [1, 8], got 9"
    assert str(option_error(ValueError("truncation_psi must be finite"))).startswith("--psi ")
    assert str(option_error(ValueError("something else"))) == "something else"


@pytest.mark.parametrize(
    "origin", ["notaurl", "http://x/path", "ftp://x", "http://x:99999", "http://u@x", "http://"]
)
def test_view_rejects_what_is_not_an_origin(origin, capsys):
    assert main(["view", "--allow-origin", origin]) == 2
    error = capsys.readouterr().err.strip()
    assert "argument --allow-origin" in error and "not an origin" in error and "\n" not in error


def test_origins_are_written_as_browsers_send_them():
    assert web_origin("HTTP://Example.com:80") == "http://example.com"
    assert web_origin("https://[::1]:8443") == "https://[::1]:8443"


@pytest.mark.parametrize("command", ["bench", "eval-drag"])
def test_backend_and_backends_are_one_option(command):
    parser = command_parser(command)
    (one,) = {action.dest for action in parser._actions if "--backend" in action.option_strings}
    (two,) = {action.dest for action in parser._actions if "--backends" in action.option_strings}
    assert one == two


def test_bench_device_takes_any_torch_device_name():
    assert command_parser("bench").parse_args(["--device", "cuda:1"]).device == "cuda:1"
    assert command_parser("bench").parse_args(["--device", "mps"]).device == "mps"


def test_every_option_has_help_and_defaults_are_written_one_way():
    for name, parser in all_command_parsers():
        for action in parser._actions:
            if action.option_strings:
                assert action.help, f"{name} {action.option_strings[0]} has no help"
        text = parser.format_help()
        assert not re.search(r"\(default [^:]", text), f"{name}: '(default X)' instead of ':'"
        assert not re.search(r"\(\d[\d.e-]*\)", text), f"{name}: a bare '(3)' default"
        assert "(default: None)" not in text and "(default: False)" not in text
    drag = command_parser("drag").format_help()
    assert "(default: 200)" in drag and "(default: w+)" in drag


@pytest.mark.parametrize("command", ["drag", "demo", "eval-drag"])
def test_steps_beyond_the_session_limit_fail_while_parsing(command, capsys):
    argv = [command, "--steps", "1000000000000"]
    if command == "drag":
        argv += ["--points", "1,2->3,4", "--out", "r.png"]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "argument --steps: must be in [1, 1000000000]" in captured.err
    assert captured.out == "" and "step/s" not in captured.err  # no progress bar started
