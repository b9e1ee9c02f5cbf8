"""Changing the seed, psi, latent space or model (or loading a session) replaces the image,
its edited latent, its points and its mask: Undo brings them back, most recent first."""

import numpy as np

from draggan_fast.viewer.image_history import ImageHistory
from tests.viewer.conftest import DRAG_LR, HANDLE, IMAGE_SIZE, TARGET


def edited_image(client):
    """Points, a mask and a 2-step drag on the current image: (its frame, its state)."""
    movable = np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=bool)
    movable[:, :40] = True
    client.set_mask(movable)
    client.add_point(HANDLE, TARGET)
    client.set_params(lr=DRAG_LR)
    client.start(max_steps=2)
    client.wait_for("stopped")
    return client.render().image, client.get_state()


def test_undo_brings_back_the_image_a_new_seed_psi_or_latent_space_replaced(client):
    image, state = edited_image(client)
    client.new_image(seed=5)
    client.new_image(truncation_psi=0.4)
    client.add_point((8, 8), (9, 9))
    client.new_image(latent_space="w")
    assert client.get_state()["points"] == []

    assert client.undo()["undone"] == "image"  # back to seed 5, psi 0.4, W+, its point
    restored = client.get_state()
    assert (restored["seed"], restored["truncation_psi"], restored["latent_space"]) == (
        5, 0.4, "w+",
    )  # fmt: skip
    assert restored["points"] == [{"handle": [8.0, 8.0], "target": [9.0, 9.0]}]
    assert client.undo()["undone"] == "image"  # seed 5 at psi 0.7 (placing points is no drag)
    assert client.get_state()["truncation_psi"] == 0.7
    client.discard_pending()
    assert client.undo()["undone"] == "image"  # seed 0, as edited
    mask = client.wait_for("mask")  # the page shows the mask again
    assert np.frombuffer(mask.data, np.uint8).reshape(IMAGE_SIZE, IMAGE_SIZE)[:, :40].all()
    back = client.get_state()
    assert back == state
    assert np.array_equal(client.render().image, image)
    assert client.undo()["undone"] is None  # nothing left (drags come back as one edit)
    client.reset_image()  # its start latent came back too
    assert client.get_state()["step"] == 0


def test_undo_brings_back_the_image_a_loaded_session_replaced(client):
    saved = client.save_session().data
    image, state = edited_image(client)
    client.load_session(saved)
    assert client.get_state()["points"] == []
    assert client.undo()["undone"] == "image"
    assert client.get_state() == state
    assert np.array_equal(client.render().image, image)


class FakeSession:
    pass


def test_the_history_keeps_the_newest_images_within_its_budget(monkeypatch):
    from draggan_fast.viewer import image_history

    monkeypatch.setattr(image_history.session_files, "dump", lambda s: ("f", bytes(s.size), "m"))
    monkeypatch.setattr(image_history.session_files, "load", lambda data, G: len(data))
    history = ImageHistory(max_images=3, max_bytes=100)
    for seed, size in enumerate((10, 20, 30, 40, 50)):
        session = FakeSession()
        session.size = size
        history.push(history.snapshot({"seed": seed, "model": "m"}, session))
    assert len(history) == 2 and history.nbytes == 90  # 30 + 40 + 50 > 100: 30 went
    assert history.pop(lambda name: None) == ({"seed": 4, "model": "m"}, 50)
    session = FakeSession()
    session.size = 101  # over the whole budget alone: not kept
    history.push(history.snapshot({"seed": 9, "model": "m"}, session))
    assert len(history) == 0 and history.pop(lambda name: None) is None
