"""open_photo: an uploaded photo is inverted with progress events and preview frames, then
dragged like a generated image; Undo brings back the image before it; the saved session carries
the tuned generator; bad uploads are one-line errors; stop cancels, other commands wait."""

import io
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from draggan_fast import DragSession
from draggan_fast.client import ViewerError
from draggan_fast.inversion.progress import to_uint8
from tests.viewer.conftest import DRAG_LR, HANDLE, TARGET, tiny_generator


@pytest.fixture(scope="module")
def photo_png() -> bytes:
    """A PNG of a 80x64 photo (cropped and resized to the tiny model's 64 px by the server)."""
    G = tiny_generator()
    z = torch.randn([1, G.z_dim], generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        image = to_uint8(G(z, None, noise_mode="const"))
    buffer = io.BytesIO()
    Image.fromarray(image).resize((80, 64)).save(buffer, format="PNG")
    return buffer.getvalue()


def received(client) -> list:
    """The messages received and not yet read (a request leaves those before its reply)."""
    messages = []
    while True:
        try:
            messages.append(client.next_message(timeout=0.2))
        except TimeoutError:
            return messages


def test_a_photo_opens_drags_saves_and_undoes(client, photo_png, tmp_path):
    first = client.render().image
    reply = client.open_photo(photo_png, steps=4, tuning_steps=4)
    assert reply["steps"] == 4 and reply["tuning_steps"] == 4
    assert np.isfinite(reply["psnr_projection"]) and np.isfinite(reply["psnr_tuned"])
    seen = received(client)
    stages = {(m["stage"], m["total"]) for m in seen if m.type == "photo_progress"}
    assert ("tuning", 4) in stages
    previews = [m for m in seen if m.type == "frame" and "photo" in m.header]
    assert previews and previews[-1].photo == {"stage": "tuning", "step": 4, "total": 4}
    shown = [m for m in seen if m.type == "frame" and "photo" not in m.header][-1].image
    np.testing.assert_array_equal(client.render().image, shown)
    assert not np.array_equal(shown, first)

    client.add_point(HANDLE, TARGET)
    client.set_params(lr=DRAG_LR)
    client.start(max_steps=3)
    assert client.wait_for("stopped")["steps"] > 0
    dragged = client.render().image
    assert not np.array_equal(dragged, shown)

    archive = zipfile.ZipFile(io.BytesIO(client.save_session().data))
    assert sorted(archive.namelist()) == ["session.json", "session.npz", "session.safetensors"]
    with archive:
        archive.extractall(tmp_path)
    np.testing.assert_array_equal(DragSession.load(tmp_path / "session.json").image(), dragged)

    assert client.undo()["undone"] == "drag"
    np.testing.assert_array_equal(client.render().image, shown)
    assert client.undo()["undone"] == "image"
    np.testing.assert_array_equal(client.render().image, first)


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"", "the uploaded photo is empty"), (b"not an image at all", "not an image file"),
     (None, "truncated or damaged image")],
)  # fmt: skip
def test_a_bad_photo_is_one_line_and_the_session_goes_on(client, photo_png, data, message):
    before = client.render().image
    data = photo_png[: len(photo_png) // 2] if data is None else data
    with pytest.raises(ViewerError) as error:
        client.open_photo(data, name="face.png", steps=2, tuning_steps=2)
    text = str(error.value)
    assert message in text and "\n" not in text and "draggan-photo-" not in text
    np.testing.assert_array_equal(client.render().image, before)


def test_stop_cancels_and_other_commands_are_refused_meanwhile(client, photo_png):
    before = client.render().image
    photo_id = client.send({"type": "open_photo", "name": "p.png", "steps": 2000}, photo_png)
    client.wait_for("photo_progress")
    busy_id = client.send({"type": "add_point", "handle": list(HANDLE), "target": list(TARGET)})
    busy = client.wait_for("error", lambda m: m.get("id") == busy_id)
    assert "busy opening a photo" in busy["message"]
    stop_id = client.send({"type": "stop"})
    cancelled = client.wait_for("error", lambda m: m.get("id") == photo_id)
    assert cancelled["message"] == "open_photo cancelled by stop"
    client.wait_for("ok", lambda m: m.get("id") == stop_id)
    np.testing.assert_array_equal(client.render().image, before)
    assert client.get_state()["points"] == []
