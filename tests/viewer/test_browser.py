"""The page in headless Chromium against a real server: place a handle and a target with the
mouse, press Start, see the image change and the handle move; then undo from the keyboard.

Needs Debian's `chromium` (scripts/ci_system_deps.sh installs it); skips without it. With
DRAGGAN_FAST_SCREENSHOTS=DIR it also saves 1280x800 screenshots of the page there.
"""

import os
import time
from pathlib import Path

from tests.viewer.conftest import HANDLE, IMAGE_SIZE, TARGET, needs_chromium

pytestmark = needs_chromium


def wait_until(page, expression, timeout_s=120):
    """Poll a JS expression until truthy. (Playwright's wait_for_function evaluates strings
    inside the page, which the page's Content-Security-Policy rightly forbids.)"""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        page.wait_for_timeout(100)


def screenshot(page, name):
    folder = os.environ.get("DRAGGAN_FAST_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name))


def click_image(page, x, y):
    """Click image pixel (x, y) of the canvas (CSS-scaled)."""
    box = page.locator("#view").bounding_box()
    scale = box["width"] / IMAGE_SIZE
    page.mouse.click(box["x"] + (x + 0.2) * scale, box["y"] + (y + 0.2) * scale)


def canvas_pixels(page) -> str:
    return page.evaluate("document.getElementById('view').toDataURL()")


def drag_one_point(page, lr, max_steps):
    """Set lr and the step limit, place HANDLE -> TARGET, press Start and wait until the drag
    has ended and the session is idle."""
    page.locator("details summary", has_text="Advanced").click()
    page.fill("#lr", str(lr))
    page.fill("#max-steps", str(max_steps))
    page.locator("#max-steps").press("Tab")  # change events: the server takes the parameters
    click_image(page, *HANDLE)
    click_image(page, *TARGET)
    first = f"({HANDLE[0]}, {HANDLE[1]})"
    wait_until(page, f"document.querySelector('#point-list li')?.textContent.startsWith('{first}')")
    page.click("#start")
    wait_until(page, "document.getElementById('message').textContent.includes(' after ')")
    wait_until(page, "document.getElementById('status').textContent.startsWith('idle')")


def test_click_handle_and_target_start_and_watch_the_handle_move(page):
    wait_until(page, "document.getElementById('status').textContent.startsWith('idle')")
    wait_until(page, "document.getElementById('model').options.length === 1")
    page.locator("details summary", has_text="Advanced").click()
    page.fill("#lr", "0.01")
    page.fill("#max-steps", "8")
    page.locator("#max-steps").press("Tab")  # change events: the server takes the parameters

    click_image(page, *HANDLE)
    click_image(page, *TARGET)
    first_point = page.locator("#point-list li").first
    wait_until(
        page,
        "document.querySelector('#point-list li')?.textContent.startsWith('(20, 30) → (30, 30)')",
    )
    page.wait_for_timeout(100)  # the next animation frame has drawn the point
    before = canvas_pixels(page)
    screenshot(page, "viewer-points.png")

    page.click("#start")
    wait_until(page, "document.getElementById('message').textContent.includes(' after ')")
    wait_until(page, "document.getElementById('status').textContent.startsWith('idle')")
    moved = first_point.text_content()
    assert not moved.startswith("(20, 30)"), moved  # tracking moved the handle
    assert canvas_pixels(page) != before  # the image changed
    assert "ms/step" in page.text_content("#status")
    screenshot(page, "viewer-after-drag.png")

    page.locator("#view").press("Control+z")  # keyboard: undo the drag
    wait_until(page, "document.querySelector('#point-list li')?.textContent.startsWith('(20, 30)')")
    page.locator("#view").press("n")  # select the point, nudge its target with the arrows
    page.locator("#view").press("t")
    page.locator("#view").press("Shift+ArrowDown")
    wait_until(page, "document.querySelector('#point-list li')?.textContent.includes('→ (30, 40)')")


def test_paint_a_mask_and_remove_a_point(page, server):
    wait_until(page, "document.getElementById('status').textContent.startsWith('idle')")
    click_image(page, 10, 10)
    click_image(page, 12, 12)
    wait_until(page, "document.querySelectorAll('#point-list li').length === 1")
    page.locator("#view").press("m")
    box = page.locator("#view").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.7, box["y"] + box["height"] * 0.6, steps=5)
    page.mouse.up()
    screenshot(page, "viewer-mask.png")
    page.locator("#view").press("p")
    page.mouse.click(box["x"] + (10.2 / IMAGE_SIZE) * box["width"],
                     box["y"] + (10.2 / IMAGE_SIZE) * box["height"], button="right")  # fmt: skip
    wait_until(page, "document.querySelectorAll('#point-list li').length === 0")
    assert page.text_content("#message") == ""


def test_files_save_and_load_from_the_page(page, tmp_path):
    wait_until(page, "document.getElementById('status').textContent.startsWith('idle')")
    page.click("#export-gif")  # nothing dragged yet: the server says so, the page shows it
    wait_until(page, "document.getElementById('message').textContent.includes('nothing to export')")
    click_image(page, *HANDLE)
    click_image(page, *TARGET)
    wait_until(page, "document.querySelectorAll('#point-list li').length === 1")

    with page.expect_download() as png:
        page.click("#save-png")
    assert png.value.suggested_filename == "draggan-seed0-step0.png"
    assert Path(png.value.path()).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with page.expect_download() as session:
        page.click("#save-session")
    saved = tmp_path / session.value.suggested_filename
    session.value.save_as(saved)

    page.click("#reset-points")
    wait_until(page, "document.querySelectorAll('#point-list li').length === 0")
    page.set_input_files("#session-file", str(saved))  # what "Load session" opens
    wait_until(
        page,
        "document.querySelector('#point-list li')?.textContent.startsWith('(20, 30) → (30, 30)')",
    )
