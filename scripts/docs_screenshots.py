"""Screenshots of the viewer on the bundled model, for docs/screenshots/.

    python scripts/docs_screenshots.py [OUT_DIR]     (default: docs/screenshots)

Starts the viewer on loopback with the bundled model, drives the page in headless Chromium
(Debian's `chromium`, as the browser tests: scripts/ci_system_deps.sh) and saves three 1280x800
pictures: viewer-points.png (a handle on the lower lip and its target below it, as the demo's
"open the mouth"), viewer-after-drag.png (after Start, when the drag has ended) and
viewer-mask.png (a movable-mask stroke over the mouth). Needs the `dev` extra (Playwright).
"""

import shutil
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from draggan_fast.assets_registry import default_detector_path, default_model_path
from draggan_fast.session import DragSession
from draggan_fast.stylegan.dataset import LANDMARK_NAMES
from draggan_fast.stylegan.landmarks import load_detector
from draggan_fast.stylegan.loading import load_generator
from draggan_fast.viewer.models import ModelRegistry
from draggan_fast.viewer.server import BackgroundServer, ViewerConfig

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"  # as the browser tests find it
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run"]


def wait_until(page, expression, timeout_s=300):
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {expression}")
        page.wait_for_timeout(100)


def page_point(page, x, y, size):
    """Page coordinates of image pixel (x, y) on the CSS-scaled canvas."""
    box = page.locator("#view").bounding_box()
    scale = box["width"] / size
    return box["x"] + (x + 0.5) * scale, box["y"] + (y + 0.5) * scale


def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    G = load_generator(default_model_path())
    size = G.img_resolution
    lip = load_detector(default_detector_path()).detect_image(DragSession(G, seed=0).image())[
        LANDMARK_NAMES.index("lower_lip")
    ]  # the viewer's first image: seed 0 at the default psi
    handle = (round(float(lip[0])), round(float(lip[1])))
    target = (handle[0], handle[1] + round(0.06 * size))
    server = BackgroundServer(ModelRegistry([default_model_path()]), ViewerConfig()).start()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(server.url)
            wait_until(page, "document.getElementById('status').textContent.startsWith('idle')")
            page.locator("details summary", has_text="Advanced").click()
            for point in (handle, target):
                page.mouse.click(*page_point(page, *point, size))
            wait_until(page, "document.querySelectorAll('#point-list li').length === 1")
            page.wait_for_timeout(300)
            page.screenshot(path=str(out_dir / "viewer-points.png"))
            page.locator("#start").click()
            page.wait_for_timeout(500)
            wait_until(page, "document.getElementById('status').textContent.startsWith('idle')")
            page.wait_for_timeout(300)
            page.screenshot(path=str(out_dir / "viewer-after-drag.png"))
            page.keyboard.press("m")
            x0, y0 = page_point(page, handle[0] - 8, handle[1] - 4, size)
            x1, y1 = page_point(page, handle[0] + 8, handle[1] + 6, size)
            page.mouse.move(x0, y0)
            page.mouse.down()
            page.mouse.move(x1, y1, steps=12)
            page.mouse.up()
            page.wait_for_timeout(300)
            page.screenshot(path=str(out_dir / "viewer-mask.png"))
            browser.close()
    finally:
        server.stop()
    print(f"wrote viewer-points.png, viewer-after-drag.png, viewer-mask.png to {out_dir}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/screenshots"))
