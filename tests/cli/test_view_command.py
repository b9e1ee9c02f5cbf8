"""`draggan-fast view` end to end: a model file, a real process, a client; and its errors."""

import re
import subprocess
import sys

import pytest

from draggan_fast.cli import CommandError, build_parser
from draggan_fast.cli import view as view_command
from draggan_fast.client import ViewerClient
from draggan_fast.stylegan.loading import save_generator
from tests.viewer.conftest import IMAGE_SIZE, tiny_generator


def view(*args, **popen):
    command = [sys.executable, "-m", "draggan_fast", "view", "--no-browser", *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **popen)  # fmt: skip


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "tiny.safetensors"
    save_generator(tiny_generator(), path)
    return path


def test_view_serves_a_model_file(model):
    process = view("--model", str(model), "--port", "0", "--device", "cpu")
    try:
        lines = [process.stdout.readline(), process.stdout.readline()]
        assert lines[0].startswith("model tiny.safetensors, backend: fast on cpu"), lines
        banner = lines[1]
        assert "draggan-fast viewer on http://127.0.0.1:" in banner, process.stderr.read()
        url = banner.split(" on ")[1].split()[0].rstrip("/")
        with ViewerClient(url, timeout=120) as client:
            hello = client.next_message()
            assert hello.type == "hello" and hello["models"] == ["tiny.safetensors"]
            frame = client.render()
            assert frame.image.shape == (IMAGE_SIZE, IMAGE_SIZE, 3)
    finally:
        process.terminate()
        process.wait(timeout=30)


def run_view(*args):
    """The view command in this process, up to where it would start serving."""
    parsed = build_parser().parse_args(["view", "--no-browser", *args])
    return parsed._run(parsed)


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (["--model", "gone.safetensors"], FileNotFoundError, "gone.safetensors does not exist"),
        (["--model", "x", "--max-sessions", "0"], CommandError, "--max-sessions must be in [1,"),
        (["--model", "x", "--port", "70000"], CommandError, "--port must be in [0, 65535]"),
        (["--model", "x", "--device", "tpu"], CommandError, "--device 'tpu'"),
    ],
)  # fmt: skip
def test_view_rejects_bad_input_with_a_clear_error(args, error, message):
    with pytest.raises(error, match=re.escape(message)):
        run_view(*args)


def test_view_checks_the_backend_before_serving(model):
    with pytest.raises(ValueError, match="unknown backend 'warp'"):
        run_view("--model", str(model), "--backend", "warp")


def test_view_without_a_model_uses_the_bundled_one_or_says_what_to_do(monkeypatch, model):
    from draggan_fast import assets_registry

    def missing():
        raise FileNotFoundError("bundled asset default_model.safetensors is missing")

    monkeypatch.setattr(assets_registry, "default_model_path", missing)
    with pytest.raises(CommandError, match=r"no --model given .* pass --model PATH"):
        run_view()
    monkeypatch.setattr(assets_registry, "default_model_path", lambda: model)
    assert view_command._model_paths(build_parser().parse_args(["view"])) == [model]


def test_page_url_brackets_ipv6_and_reaches_a_wildcard_host_through_loopback():
    from draggan_fast.viewer.server import page_url

    assert page_url("127.0.0.1", 7860) == "http://127.0.0.1:7860"
    assert page_url("::1", 80) == "http://[::1]:80"
    assert page_url("0.0.0.0", 8000) == page_url("::", 8000) == "http://127.0.0.1:8000"
