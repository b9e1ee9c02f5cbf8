"""The page in headless Chromium: each drag setting says where its value came from (the model,
the official defaults, or set by the user), and Export MP4 downloads the drag as a video, or
says which package the server needs for it."""

import sys
from pathlib import Path

import pytest

from draggan_fast import load_generator
from draggan_fast.assets_registry import default_model_path
from draggan_fast.viewer.models import ModelRegistry
from draggan_fast.viewer.server import BackgroundServer
from tests.viewer.conftest import DRAG_LR, needs_chromium, open_page, tiny_generator
from tests.viewer.test_browser import drag_one_point, wait_until

pytestmark = needs_chromium

IDLE = "document.getElementById('status').textContent.startsWith('idle')"


def badge(page, field) -> tuple[str, str]:
    """(label, tooltip) of a setting's source badge."""
    return page.text_content(f"#{field}-source"), page.get_attribute(f"#{field}-source", "title")


def test_each_setting_shows_whether_the_model_the_defaults_or_the_user_set_it():
    bundled = load_generator(default_model_path())  # its file recommends drag settings
    assert bundled.drag_settings["lr"] is not None
    models = {"bundled": bundled, "plain": tiny_generator()}  # plain: recommends none
    with BackgroundServer(ModelRegistry(generators=models)) as server:
        errors = []
        with open_page(server.url, errors) as page:
            wait_until(page, IDLE)
            page.locator("details summary", has_text="Advanced").click()
            lr = bundled.drag_settings["lr"]
            assert float(page.input_value("#lr")) == lr
            recommended = f"lr {lr:g}: the model's recommended value (from its file)"
            assert badge(page, "lr") == ("model", recommended)
            assert badge(page, "lambda-mask")[0] == "model"

            page.select_option("#model", "plain")
            wait_until(page, "document.getElementById('lr-source').textContent === 'official'")
            official = "r1 3: the official DragGAN default (tuned for 512 px models)"
            assert badge(page, "r1") == ("official", official)
            field_box = page.locator("#lr").bounding_box()
            page.fill("#lr", "0.01")
            page.locator("#lr").press("Tab")
            wait_until(page, "document.getElementById('lr-source').textContent === 'set'")
            assert badge(page, "lr")[1].startswith("lr 0.01: set on this page")
            assert badge(page, "lambda-mask")[0] == "official"  # the others keep their source
            assert page.locator("#lr").bounding_box() == field_box  # the field did not move
        assert errors == []


def test_export_mp4_downloads_the_drag_or_names_the_missing_encoder(page, monkeypatch):
    pytest.importorskip("imageio_ffmpeg")
    wait_until(page, IDLE)
    drag_one_point(page, DRAG_LR, max_steps=2)
    assert page.locator("#point-list li").count() == 1

    with page.expect_download() as video:
        page.click("#export-mp4")
    assert video.value.suggested_filename == "drag.mp4"
    assert Path(video.value.path()).read_bytes()[4:8] == b"ftyp"  # an MP4's first box

    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # the server cannot import it
    page.click("#export-mp4")
    needs = "MP4 export needs imageio-ffmpeg: pip install 'draggan-fast[video]'"
    wait_until(page, f"document.getElementById('message').textContent.startsWith({needs!r})")
    assert page.is_enabled("#export-mp4")
