"""The page's "Open photo...": upload a small PNG, see the inversion's progress, then drag a
point on the photo (headless Chromium against a real server; skips without chromium)."""

import numpy as np
from PIL import Image

from tests.viewer.conftest import needs_chromium
from tests.viewer.test_browser import canvas_pixels, drag_one_point, wait_until

pytestmark = needs_chromium

MESSAGE = "document.getElementById('message').textContent"


def test_upload_a_photo_see_progress_then_drag_it(page, tmp_path):
    wait_until(page, "document.getElementById('status').textContent.startsWith('idle')")
    ramp = np.linspace(0, 255, 48, dtype=np.uint8)
    photo = np.stack(np.broadcast_arrays(ramp[None, :], ramp[:, None], 128 + 0 * ramp[:, None]), -1)
    path = tmp_path / "face.png"
    Image.fromarray(photo.astype(np.uint8)).save(path)
    before = canvas_pixels(page)

    # Every text the message line shows, recorded as it changes: on a quiet machine the whole
    # inversion can end between two polls of the page.
    page.evaluate(
        """() => {
            const line = document.getElementById('message');
            window.messagesSeen = [];
            new MutationObserver(() => window.messagesSeen.push(line.textContent))
                .observe(line, {childList: true, characterData: true, subtree: true});
        }"""
    )
    page.fill("#photo-steps", "6")  # projection and tuning steps, each (a busy CPU is slow)
    page.set_input_files("#photo-file", str(path))
    wait_until(page, f"{MESSAGE}.includes('face.png opened')", timeout_s=180)
    progress = [m for m in page.evaluate("window.messagesSeen") if "step " in m and "/6" in m]
    assert progress, "no progress message was shown"
    assert progress[0].startswith("face.png: ") and "(Stop cancels)" in progress[0]
    assert " dB" in page.text_content("#message")
    page.wait_for_timeout(100)  # the next animation frame has drawn the photo
    opened = canvas_pixels(page)
    assert opened != before

    drag_one_point(page, 0.01, max_steps=4)
    assert canvas_pixels(page) != opened  # the photo was dragged
