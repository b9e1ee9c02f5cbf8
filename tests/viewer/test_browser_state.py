"""The page keeps the user told, in headless Chromium against a real server: the Keys help
matches the keys, a first-time hint on the canvas, a short backend label, a refused field
value goes back to the server's, old errors and distances do not linger, and a closed session
disables the controls and keeps the error that ended it."""

import struct
from pathlib import Path

from draggan_fast.viewer.models import ModelRegistry
from draggan_fast.viewer.server import BackgroundServer
from tests.viewer.conftest import needs_chromium, open_page
from tests.viewer.test_browser import click_image, wait_until

pytestmark = needs_chromium

IDLE = "document.getElementById('status').textContent.startsWith('idle')"


def text(browser_page, selector) -> str:
    return browser_page.text_content(selector)


def test_help_hint_backend_label_and_png_sizes(page):
    wait_until(page, IDLE)
    keys = page.eval_on_selector_all(
        "#keys dt", "items => items.map(dt => [dt.textContent, dt.nextElementSibling.textContent])"
    )
    keys = dict(keys)
    assert "Tab" not in " ".join(keys) and keys["N"] == "select the next point"
    assert keys["R"].startswith("reset points") and keys["Delete"] == "remove the selected point"

    assert page.is_visible("#hint") and "then where it should go" in text(page, "#hint")
    click_image(page, 20, 30)
    assert "Now click where that point should go" in text(page, "#hint")
    click_image(page, 30, 30)
    wait_until(page, "document.querySelectorAll('#point-list li').length === 1")
    assert not page.is_visible("#hint")

    label = text(page, "#backend")
    assert label == "backend: reference"
    assert "official DragGAN step" in page.get_attribute("#backend", "title")

    view_width = page.evaluate("document.getElementById('view').width")
    with page.expect_download() as shown:
        page.click("#save-png-view")
    png = Path(shown.value.path()).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (view_width, view_width) and view_width > 64
    assert text(page, "#save-png") == "Save PNG 64×64"


def test_refused_values_revert_errors_clear_and_distances_follow_the_points(page):
    wait_until(page, IDLE)
    page.locator("details summary", has_text="Advanced").click()
    page.fill("#lr", "5")
    page.locator("#lr").press("Enter")  # the field keeps focus
    wait_until(page, "document.getElementById('message').textContent.includes('lr must be in')")
    wait_until(page, "document.getElementById('lr').value === '0.001'")  # the server's value
    page.fill("#max-steps", "2")
    page.locator("#max-steps").press("Tab")
    page.fill("#lr", "0.01")
    page.locator("#lr").press("Tab")

    click_image(page, 20, 30)
    click_image(page, 30, 30)
    wait_until(page, "document.querySelectorAll('#point-list li').length === 1")
    wait_until(page, "document.getElementById('message').textContent === ''")  # error gone
    wait_until(page, "document.getElementById('status').textContent.includes('distances 10.0 px')")

    page.click("#start")
    wait_until(page, "document.getElementById('message').textContent.includes(' after ')")
    wait_until(page, IDLE)
    page.click("#reset-points")
    wait_until(page, "document.querySelectorAll('#point-list li').length === 0")
    page.wait_for_timeout(200)
    assert "distances" not in text(page, "#status")  # not the last drag's
    assert "step 2" in text(page, "#status")


def test_a_closed_session_disables_the_controls_and_keeps_its_cause(tmp_path, registry):
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a model")
    with BackgroundServer(ModelRegistry([broken])) as server, open_page(server.url) as page:
        wait_until(page, "document.getElementById('status').textContent === 'disconnected'")
        message = text(page, "#message")
        assert message.startswith("session failed: ") and "broken.safetensors" in message
        assert "disconnected (1011" in message and "reload the page" in message
        assert page.is_disabled("#start") and page.is_disabled("#seed")
        assert page.is_visible("#reload")
    with BackgroundServer(registry) as server, open_page(server.url) as page:
        wait_until(page, IDLE)
        server.stop()  # the server goes away
        wait_until(page, "document.getElementById('status').textContent === 'disconnected'")
        assert page.is_disabled("#undo") and "disconnected (1001" in text(page, "#message")
        click_image(page, 20, 30)  # ignored: nothing would arrive
        assert text(page, "#status") == "disconnected" and not page.is_visible("#hint")


def test_a_new_seed_says_undo_brings_the_edits_back_and_undo_does(page):
    wait_until(page, IDLE)
    click_image(page, 20, 30)
    click_image(page, 30, 30)
    wait_until(page, "document.querySelectorAll('#point-list li').length === 1")
    page.fill("#seed", "5")
    page.locator("#seed").press("Tab")
    wait_until(page, "document.getElementById('message').textContent.includes('Undo (Ctrl+Z)')")
    wait_until(page, "document.querySelectorAll('#point-list li').length === 0")
    page.locator("#view").press("Control+z")
    wait_until(page, "document.querySelectorAll('#point-list li').length === 1")
    wait_until(page, "document.getElementById('seed').value === '0'")
    assert text(page, "#message") == "back to the previous image"
    page.locator("#view").press("Control+z")
    wait_until(page, "document.getElementById('message').textContent === 'nothing to undo'")
