"""The pieces of the Ray app without Ray: the checkpoint store and its leases, the settings,
and a hosted session that checkpoints while it drags and resumes that drag when restored."""

import time

import pytest

from draggan_fast.serve.checkpoints import CheckpointStore, check_session_id
from draggan_fast.serve.config import ServeConfig
from draggan_fast.serve.hosted_session import HostedSession, SessionBusy
from tests.viewer.conftest import tiny_generator

SESSION = "session-0001"


@pytest.fixture(scope="module")
def generator():
    return tiny_generator()


def hosted(store, generator, replica="a", **config):
    settings = ServeConfig(checkpoint_dir=str(store.root), **config)
    return HostedSession(SESSION, generator, store, replica, settings)


def wait_stopped(session, timeout_s=120):
    deadline = time.monotonic() + timeout_s
    while session.running and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not session.running


@pytest.mark.parametrize("bad", ["short", "../../etc/passwd", "a/b/c/d/e", "x" * 65, 12345678])
def test_session_ids_that_could_be_paths_are_refused(bad):
    with pytest.raises(ValueError, match="session id"):
        check_session_id(bad)


def test_settings_are_checked_and_read_from_strings():
    config = ServeConfig.from_dict({"checkpoint_dir": "/x", "replicas": "3", "lease_s": "1.5"})
    assert (config.replicas, config.lease_s) == (3, 1.5)
    with pytest.raises(ValueError, match="unknown setting"):
        ServeConfig.from_dict({"checkpoint_dir": "/x", "replica": 2})
    with pytest.raises(ValueError, match="checkpoint_every must be a positive integer"):
        ServeConfig(checkpoint_dir="/x", checkpoint_every=0)


def test_a_lease_is_held_until_its_heartbeat_lapses(tmp_path):
    store = CheckpointStore(tmp_path, lease_s=0.3)
    assert store.holder(SESSION) is None
    store.hold(SESSION, "replica-a")
    assert store.holder(SESSION) == "replica-a"
    time.sleep(0.4)
    assert store.holder(SESSION) is None  # replica-a went silent: free to take


def test_a_drag_checkpoints_every_k_steps_and_resumes_when_restored(tmp_path, generator):
    store = CheckpointStore(tmp_path, lease_s=1.0)
    first = hosted(store, generator, checkpoint_every=4)
    first.open({"seed": 3})
    first.command({"type": "add_point", "handle": [8, 8], "target": [56, 56]})
    checkpoints = []
    save = store.save

    def recording_save(session_id, session, meta):
        checkpoints.append((session.step_count, meta["running"], meta["steps_left"]))
        return save(session_id, session, meta)

    store.save = recording_save
    first.command({"type": "start", "max_steps": 10})
    with pytest.raises(SessionBusy, match="a drag is running"):
        first.command({"type": "clear_points"})
    wait_stopped(first)
    assert checkpoints == [(4, True, 6), (8, True, 2), (10, False, 0)]

    # A checkpoint taken mid-drag, as a replica that then died left it.
    store.save = save
    path, meta = store.latest(SESSION)
    assert meta["running"] is False and path.is_file()
    from draggan_fast import DragSession

    mid_drag = DragSession.load(path, generator)
    mid_drag.run(3, until_done=False)  # step 13, 5 steps left: as if taken mid-drag
    store.save(SESSION, mid_drag, {"image": meta["image"], "running": True, "steps_left": 5})
    second = hosted(store, generator, replica="b", checkpoint_every=4)
    assert second.restore()
    assert second.restored_step == 13
    wait_stopped(second)
    state = second.state()
    assert state["step"] == 18 and state["stopped_reason"] == "max_steps"
    assert state["replica"] == "b" and state["seed"] == 3


def test_bad_commands_are_refused_before_anything_changes(tmp_path, generator):
    session = hosted(CheckpointStore(tmp_path, lease_s=1.0), generator)
    with pytest.raises(SessionBusy, match="not open"):
        session.command({"type": "add_point", "handle": [1, 1], "target": [2, 2]})
    session.open({})
    with pytest.raises(ValueError, match="missing field 'target'"):
        session.command({"type": "add_point", "handle": [1, 1]})
    with pytest.raises(ValueError, match="not served by the Ray app"):
        session.command({"type": "export_gif"})
    with pytest.raises(ValueError, match="no points to drag"):
        session.command({"type": "start"})
    assert session.state()["handles"] == []
