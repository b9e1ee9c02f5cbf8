"""The protocol against a real server on loopback: the drag itself and the session commands."""

import io
import json
import sys
import zipfile

import numpy as np
import pytest
from PIL import Image

from draggan_fast.client import ViewerError
from draggan_fast.viewer.protocol import MAX_POINTS
from tests.viewer.conftest import DRAG_LR, HANDLE, IMAGE_SIZE, MODEL_NAME, TARGET, connect


def drag(client, max_steps):
    """Start a drag; return (its frames, the stopped event) once it stops."""
    client.discard_pending()
    client.start(max_steps=max_steps)
    frames = []
    for message in client.messages():
        if message.type == "frame":
            frames.append(message)
        elif message.type == "stopped":
            return frames, message


def test_greeting_describes_the_model_and_sends_the_first_image(server):
    with connect(server) as client:
        state = client.get_state()
        frame = client.render()
    assert state["model"] == MODEL_NAME and state["points"] == [] and not state["running"]
    assert state["image"] == {"width": IMAGE_SIZE, "height": IMAGE_SIZE}
    assert frame.image.shape == (IMAGE_SIZE, IMAGE_SIZE, 3) and frame.image.dtype == np.uint8
    assert frame.image.std() > 0  # a real picture, not a blank buffer


def test_frames_show_the_handle_approaching_its_target_then_undo_restores(client):
    start_image = client.render().image
    assert client.add_point(HANDLE, TARGET) == 0
    client.set_params(lr=DRAG_LR)
    frames, stopped = drag(client, max_steps=8)

    # Frames are latest-wins: a slow reader may miss some, never the order or the last one.
    steps = [frame.step for frame in frames]
    assert stopped["reason"] in ("max_steps", "done") and steps[-1] == stopped["steps"]
    assert steps == sorted(steps) and len(frames) >= 2
    assert all(frame.targets == [list(TARGET)] for frame in frames)
    assert frames[-1].handles[0][0] > HANDLE[0]  # the handle walked right, toward the target
    assert frames[-1].distances[0] <= 6  # it started 10 px away
    assert all(frame.ms_per_step > 0 and frame.steps_per_s > 0 for frame in frames)
    assert np.abs(frames[-1].image.astype(int) - start_image).max() > 0  # the image changed

    client.undo()
    state = client.get_state()
    assert state["points"] == [{"handle": list(HANDLE), "target": list(TARGET)}]
    assert np.array_equal(client.render().image, start_image)


def test_stop_ends_a_running_drag_between_steps(client):
    client.add_point(HANDLE, TARGET)
    client.start(max_steps=10_000)
    client.wait_for("frame")
    stop_id = client.send({"type": "stop"})
    stopped = client.wait_for("stopped")
    assert stopped["reason"] == "stopped" and 1 <= stopped["steps"] < 10_000
    client.wait_for("ok", lambda event: event["id"] == stop_id)
    assert not client.get_state()["running"]


def test_commands_sent_during_a_drag_apply_between_steps(client):
    client.add_point(HANDLE, TARGET)
    client.start(max_steps=10_000)
    client.wait_for("frame")
    client.set_point(0, target=(40, 12))  # answered by the worker between two steps
    frame = client.wait_for("frame", lambda f: f.targets == [[40.0, 12.0]])
    assert frame.distances[0] == pytest.approx(
        np.hypot(40 - frame.handles[0][0], 12 - frame.handles[0][1])
    )
    client.stop()
    assert client.wait_for("stopped")["reason"] == "stopped"


def test_params_change_during_a_drag_and_removing_the_points_ends_it(client):
    client.add_point(HANDLE, TARGET)
    client.start(max_steps=10_000)
    client.wait_for("frame")
    client.set_params(lr=0.002)  # applies between two steps; the drag goes on
    assert client.get_state()["params"]["lr"] == 0.002
    client.discard_pending()
    assert client.wait_for("frame").header.get("losses") is not None  # still stepping
    client.clear_points()  # nothing left to drag
    assert client.wait_for("stopped")["reason"] == "stopped"
    assert not client.get_state()["running"]


def test_points_are_added_moved_and_removed(client):
    assert client.add_point((5, 6), (7, 8)) == 0
    assert client.add_point((10, 11), (12, 13)) == 1
    client.set_point(0, target=(9, 9))
    client.set_point(1, handle=(20, 21))
    points = client.get_state()["points"]
    assert points == [
        {"handle": [5.0, 6.0], "target": [9.0, 9.0]},
        {"handle": [20.0, 21.0], "target": [12.0, 13.0]},
    ]
    client.remove_point(0)
    assert client.get_state()["points"] == [{"handle": [20.0, 21.0], "target": [12.0, 13.0]}]
    with pytest.raises(ViewerError, match="no point 3"):
        client.remove_point(3)
    with pytest.raises(ViewerError, match="handle"):
        client.add_point((IMAGE_SIZE + 5, 1), (1, 1))  # outside the image: the session says so
    client.clear_points()
    assert client.get_state()["points"] == []
    for index in range(MAX_POINTS):
        client.send({"type": "add_point", "handle": [index, 1], "target": [index, 2]})
    with pytest.raises(ViewerError, match=f"at most {MAX_POINTS} points"):
        client.add_point((1, 1), (2, 2))
    client.clear_points()
    with pytest.raises(ViewerError, match="no points"):
        client.start()


def test_moving_one_handle_keeps_the_other_points_start_for_reset(client):
    client.add_point(HANDLE, TARGET)
    client.add_point((40, 40), (44, 40))
    client.set_params(lr=DRAG_LR)
    drag(client, max_steps=3)
    dragged = client.get_state()["points"][0]["handle"]
    assert dragged != list(HANDLE)  # the drag moved point 0's handle
    client.set_point(1, handle=(50, 50))
    client.reset_image()
    points = client.get_state()["points"]
    assert points[0]["handle"] == list(HANDLE)  # where it was placed, not where the drag left it
    assert points[1] == {"handle": [50.0, 50.0], "target": [44.0, 40.0]}


def test_mask_is_set_checked_and_cleared(client):
    movable = np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=bool)
    movable[10:30, 10:40] = True
    client.set_mask(movable)
    assert client.get_state()["has_mask"]
    with pytest.raises(ViewerError, match="mask is 32x64"):
        client.set_mask(np.ones((IMAGE_SIZE, 32)))
    client.clear_mask()
    assert not client.get_state()["has_mask"]


def test_a_saved_session_loads_back_into_a_new_image(client):
    movable = np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=bool)
    movable[:, :40] = True
    client.set_mask(movable)
    client.add_point(HANDLE, TARGET)
    client.set_params(lr=DRAG_LR)
    drag(client, max_steps=3)
    saved_image = client.render().image
    saved_points = client.get_state()["points"]
    session_file = client.save_session()
    assert session_file.header["command"] == "save_session" and len(session_file.data) > 0

    client.new_image(seed=1)
    assert client.get_state()["points"] == []
    assert not np.array_equal(client.render().image, saved_image)

    client.discard_pending()
    client.load_session(session_file.data, name=session_file.header["name"])
    mask = client.wait_for("mask")  # for the page's overlay
    assert np.array_equal(np.frombuffer(mask.data, np.uint8).reshape(movable.shape), movable)
    state = client.get_state()
    assert state["points"] == saved_points and state["step"] == 3 and state["has_mask"]
    assert np.array_equal(client.render().image, saved_image)
    with pytest.raises(ViewerError, match="session"):
        client.load_session(b"PK\x03\x04 not really a zip")
    session_json = zipfile.ZipFile(io.BytesIO(session_file.data)).read("session.json")
    with pytest.raises(ViewerError, match="not a valid zip"):  # the .npz is missing
        client.load_session(session_json)


def test_new_image_reset_and_params(client):
    first = client.render().image
    client.new_image(seed=7, truncation_psi=0.5, latent_space="w")
    state = client.get_state()
    assert (state["seed"], state["truncation_psi"], state["latent_space"]) == (7, 0.5, "w")
    assert not np.array_equal(client.render().image, first)
    client.set_params(r1=2, r2=6, lambda_mask=5, render_every=2, max_steps=50)
    assert client.get_state()["params"] == {
        "lr": 0.001, "lambda_mask": 5.0, "r1": 2.0, "r2": 6.0, "render_every": 2, "max_steps": 50
    }  # fmt: skip
    saved = zipfile.ZipFile(io.BytesIO(client.save_session().data))
    engine = json.loads(saved.read("session.json"))["hyperparameters"]  # the session got them
    assert (engine["r1"], engine["r2"], engine["lambda_mask"]) == (2, 6, 5)
    with pytest.raises(ViewerError, match="unknown model"):
        client.new_image(model="../../etc/passwd")
    client.add_point(HANDLE, TARGET)
    frames, _ = drag(client, max_steps=3)
    assert [frame.step for frame in frames] == [2, 3]  # every 2nd step, then where it ended
    client.reset_image()
    state = client.get_state()
    assert state["step"] == 0 and state["points"][0]["handle"] == list(HANDLE)


def test_the_drag_exports_as_an_animated_gif(client):
    with pytest.raises(ViewerError, match="nothing to export"):
        client.export_gif()
    client.add_point(HANDLE, TARGET)
    client.set_params(lr=DRAG_LR)
    drag(client, max_steps=3)
    gif = Image.open(io.BytesIO(client.export_gif(fps=5)))
    assert gif.format == "GIF" and gif.n_frames == 4  # three steps and where the drag ended
    assert gif.size == (IMAGE_SIZE, IMAGE_SIZE)


def test_the_drag_exports_as_an_mp4(client, tmp_path):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    with pytest.raises(ViewerError, match="nothing to export"):
        client.export_mp4()
    client.add_point(HANDLE, TARGET)
    client.set_params(lr=DRAG_LR)
    drag(client, max_steps=3)
    data = client.export_mp4(fps=5)
    assert data[4:8] == b"ftyp"  # an ISO media file (MP4): its first box says so
    (tmp_path / "drag.mp4").write_bytes(data)
    reader = imageio_ffmpeg.read_frames(str(tmp_path / "drag.mp4"))
    assert next(reader)["size"] == (IMAGE_SIZE, IMAGE_SIZE)
    assert sum(1 for _ in reader) == 4  # three steps and where the drag ended


def test_mp4_export_without_its_encoder_is_an_error_naming_the_install(client, monkeypatch):
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # import imageio_ffmpeg fails
    client.add_point(HANDLE, TARGET)
    drag(client, max_steps=1)
    with pytest.raises(
        ViewerError, match=r"needs imageio-ffmpeg: pip install 'draggan-fast\[video\]'"
    ):
        client.export_mp4()
    assert client.get_state()["step"] == 1  # the session goes on
    assert client.export_gif()[:6] == b"GIF89a"


def test_two_sessions_drag_at_once_and_stay_independent(server):
    with connect(server) as first, connect(server) as second:
        first.add_point(HANDLE, TARGET)
        second.add_point((40, 40), (30, 44))
        second.add_point((8, 8), (12, 12))
        first.start(max_steps=3)
        second.start(max_steps=3)
        first_frame = first.wait_for("frame")
        second_frame = second.wait_for("frame")
        assert first.wait_for("stopped")["steps"] == 3
        assert second.wait_for("stopped")["steps"] == 3
        assert first_frame.targets == [list(TARGET)]
        assert second_frame.targets == [[30.0, 44.0], [12.0, 12.0]]
        assert len(first.get_state()["points"]) == 1
