"""A failed command never ends a viewer session: corrupt session uploads are refused with
"not a valid session file: <what>", an unexpected exception in a command or a drag becomes an
error reply with the command's id, and the session goes on with its image and state."""

import io
import json
import zipfile

import numpy as np
import pytest

from draggan_fast import DragSession
from draggan_fast.client import ViewerError
from draggan_fast.viewer import session_files
from tests.viewer.conftest import DRAG_LR, HANDLE, TARGET


def saved_session(client) -> dict:
    """A session with a point, feature references and optimizer state, saved: {name: bytes}."""
    client.add_point(HANDLE, TARGET)
    client.set_params(lr=DRAG_LR)
    client.start(max_steps=2)
    client.wait_for("stopped")
    archive = zipfile.ZipFile(io.BytesIO(client.save_session().data))
    return {name: archive.read(name) for name in archive.namelist()}


def rezip(files: dict, arrays=None, description=None) -> bytes:
    """The saved files with some arrays of session.npz / the session.json replaced."""
    files = dict(files)
    if arrays:
        with np.load(io.BytesIO(files["session.npz"]), allow_pickle=False) as npz:
            merged = {name: npz[name] for name in npz.files}
        buffer = io.BytesIO()
        np.savez(buffer, **{**merged, **arrays})
        files["session.npz"] = buffer.getvalue()
    if description:
        files["session.json"] = json.dumps(description(json.loads(files["session.json"]))).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def strings_like(name):
    return lambda arrays: {name: np.full(arrays[name].shape, "abc")}


CORRUPT = {
    "w holds strings": strings_like("w"),
    "optimizer step holds strings": strings_like("optimizer/step"),
    "feature references hold strings": strings_like("references/handle_features"),
    "w holds NaN": lambda arrays: {"w": np.full_like(arrays["w"], np.nan)},
}


@pytest.mark.parametrize("corruption", CORRUPT)
def test_a_corrupt_upload_is_refused_and_the_session_goes_on(client, corruption):
    files = saved_session(client)
    with np.load(io.BytesIO(files["session.npz"]), allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    image, state = client.render().image, client.get_state()
    with pytest.raises(ViewerError, match=r"^not a valid session file: ") as refused:
        client.load_session(rezip(files, CORRUPT[corruption](arrays)), name="bad.zip")
    assert refused.value.event["command"] == "load_session" and "id" in refused.value.event
    assert "not a valid session file" not in refused.value.event["message"][26:]  # said once
    assert client.get_state() == state  # nothing changed
    assert np.array_equal(client.render().image, image)


def test_a_session_whose_learning_rate_is_text_never_ends_the_connection(client):
    files = saved_session(client)

    def text_lr(description):
        description["optimizer"]["param_groups"][0]["lr"] = "abc"
        return description

    try:
        client.load_session(rezip(files, description=text_lr))
    except ViewerError as refused:  # the session loader checks the optimizer settings
        assert refused.event["message"].startswith("not a valid session file: ")
    else:  # a loader that lets it through: the drag fails, the session goes on
        client.discard_pending()
        client.start(max_steps=2)
        assert client.wait_for("stopped")["reason"] in ("error", "done", "max_steps")
    client.add_point((5, 5), (6, 6))
    assert len(client.get_state()["points"]) == 2


def test_an_unexpected_exception_in_a_command_is_an_error_reply(client, monkeypatch):
    def broken_dump(session):
        raise TypeError("unsupported operand")

    monkeypatch.setattr(session_files, "dump", broken_dump)
    client.add_point(HANDLE, TARGET)
    with pytest.raises(ViewerError, match="TypeError: unsupported operand") as failed:
        client.save_session()
    assert failed.value.event["command"] == "save_session" and not failed.value.event.get("fatal")
    assert client.get_state()["points"][0]["handle"] == list(HANDLE)


def test_an_unexpected_exception_in_a_drag_stops_it_and_the_session_goes_on(client, monkeypatch):
    def broken_run(self, *args, **kwargs):
        raise TypeError("can't multiply sequence by non-int of type 'str'")

    monkeypatch.setattr(DragSession, "run", broken_run)
    client.add_point(HANDLE, TARGET)
    client.discard_pending()
    client.start(max_steps=3)
    error = client.wait_for("error")
    assert (
        error["message"]
        == "drag failed: TypeError: can't multiply sequence by non-int of type 'str'"
    )
    assert client.wait_for("stopped")["reason"] == "error"
    monkeypatch.undo()
    client.set_params(lr=DRAG_LR)
    client.discard_pending()
    client.start(max_steps=2)
    assert client.wait_for("stopped")["steps"] == 2
