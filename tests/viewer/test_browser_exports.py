"""The page in headless Chromium: each drag setting says where its value came from (the model,
the official defaults, or set by the user), and Export MP4 downloads the drag as a video, or
says which package the server needs for it."""

import sys
from pathlib import Path

import pytest

from draggan_fast.viewer.models import ModelRegistry
from draggan_fast.viewer.server import BackgroundServer
from tests.viewer.conftest import DRAG_LR, HANDLE, TARGET, needs_chromium, open_page, tiny_generator
from tests.viewer.test_browser import click_image, wait_until

pytestmark = needs_chromium

IDLE = "document.getElementById('status').textContent.startsWith('idle')"


def badge(page, field) -> tuple[str, str]:
    """(label, tooltip) of a setting's source badge."""
    return page.text_content(f"#{field}-source"), page.get_attribute(f"#{field}-source", "title")


def test_each_setting_shows_whether_the_model_the_defaults_or_the_user_set_it():
    G = tiny_generator()
    G.drag_settings = {"lr": 0.005, "lambda_mask": 1.0}  # as load_generator reads them
    with BackgroundServer(ModelRegistry(generators={"recommends": G})) as server:
        errors = []
        with open_page(server.url, errors) as page:
            wait_until(page, IDLE)
            page.locator("details summary", has_text="Advanced").click()
            assert page.input_value("#lr") == "0.005"
            label, tooltip = badge(page, "lr")
            assert label == "model" and tooltip.startswith("lr 0.005: the model's recommended")
            assert badge(page, "lambda-mask")[0] == "model"
            assert badge(page, "r1") == ("official", "r1 3: the official DragGAN default "
                                         "(tuned for 512 px models)")  # fmt: skip
            field_box = page.locator("#lr").bounding_box()

            page.fill("#lr", "0.01")
            page.locator("#lr").press("Tab")
            wait_until(page, "document.getElementById('lr-source').textContent === 'set'")
            assert badge(page, "lr")[1].startswith("lr 0.01: set on this page")
            assert badge(page, "lambda-mask")[0] == "model"  # the others keep their source
            assert page.locator("#lr").bounding_box() == field_box  # the field did not move
        assert errors == []


def test_export_mp4_downloads_the_drag_or_names_the_missing_encoder(page, monkeypatch):
    pytest.importorskip("imageio_ffmpeg")
    wait_until(page, IDLE)
    page.locator("details summary", has_text="Advanced").click()
    page.fill("#lr", str(DRAG_LR))
    page.fill("#max-steps", "2")
    page.locator("#max-steps").press("Tab")
    click_image(page, *HANDLE)
    click_image(page, *TARGET)
    wait_until(page, "document.querySelectorAll('#point-list li').length === 1")
    page.click("#start")
    wait_until(page, "document.getElementById('message').textContent.includes(' after ')")
    wait_until(page, IDLE)

    with page.expect_download() as video:
        page.click("#export-mp4")
    assert video.value.suggested_filename == "drag.mp4"
    assert Path(video.value.path()).read_bytes()[4:8] == b"ftyp"  # an MP4's first box

    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # the server cannot import it
    page.click("#export-mp4")
    needs = "MP4 export needs imageio-ffmpeg: pip install 'draggan-fast[video]'"
    wait_until(page, f"document.getElementById('message').textContent.startsWith({needs!r})")
    assert page.is_enabled("#export-mp4")
