"""The Ray Serve application on a local Ray instance (CPU, the bundled model, 2 replicas): two
clients drag on different replicas, one replica's actor is killed mid-drag, and its session
resumes on the other replica from its last checkpoint, losing at most `checkpoint_every` steps,
while the client reconnects by itself and the other session goes on untouched."""

import socket
import time

import pytest

ray = pytest.importorskip("ray")
serve = pytest.importorskip("ray.serve")

from draggan_fast.serve.app import build_app  # noqa: E402
from draggan_fast.serve.client import ServeClient  # noqa: E402
from draggan_fast.serve.config import ServeConfig  # noqa: E402

pytestmark = pytest.mark.slow

CHECKPOINT_EVERY = 5
DRAG_STEPS = 40
FAR_HANDLE, FAR_TARGET = (8, 8), (56, 56)  # not reached in DRAG_STEPS steps: the drag runs on


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    config = ServeConfig(
        checkpoint_dir=str(tmp_path_factory.mktemp("sessions")), replicas=2,
        checkpoint_every=CHECKPOINT_EVERY, lease_s=2.0, cpus_per_replica=1.0,
    )  # fmt: skip
    port = free_port()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(build_app(config), name="draggan", route_prefix="/")
        yield f"http://127.0.0.1:{port}"
    finally:
        serve.shutdown()
        ray.shutdown()


def open_on_two_replicas(url) -> tuple[ServeClient, ServeClient]:
    """Two sessions on different replicas (a new session goes to the replica holding fewest)."""
    first = ServeClient(url, reconnect_s=60)
    first_replica = first.open(seed=1)["replica"]
    for _ in range(6):
        second = ServeClient(url, reconnect_s=60)
        if second.open(seed=2)["replica"] != first_replica:
            return first, second
        second.close()
    pytest.fail("every new session went to the same replica")


def test_a_killed_replicas_session_resumes_on_the_other_one(app_url):
    victim, bystander = open_on_two_replicas(app_url)
    for client in (victim, bystander):
        client.add_point(FAR_HANDLE, FAR_TARGET)
        client.start(max_steps=DRAG_STEPS)
    deadline = time.monotonic() + 60
    while (state := victim.state())["step"] < 2 * CHECKPOINT_EVERY + 2:
        assert state["running"] and time.monotonic() < deadline, state
        time.sleep(0.05)
    dead_replica = state["replica"]
    ray.kill(ray.get_actor(dead_replica, namespace="serve"), no_restart=True)
    seen_before_kill = state["step"]  # the drag may have gone a step further before it died

    resumed = victim.state()  # retried until another replica restored the session
    assert resumed["replica"] != dead_replica
    assert victim.reconnects > 0  # it did reconnect, without being told to
    restored = resumed["restored_step"]
    assert seen_before_kill - CHECKPOINT_EVERY <= restored <= seen_before_kill + CHECKPOINT_EVERY
    assert restored % CHECKPOINT_EVERY == 0  # taken by a periodic checkpoint
    print(
        f"last step seen before the kill {seen_before_kill}, restored from step {restored} on "
        f"{resumed['replica']} after {victim.reconnects} retried request(s)"
    )
    final = victim.wait_until_stopped(timeout_s=120)
    assert final["stopped_reason"] == "max_steps" and final["step"] == DRAG_STEPS
    assert final["handles"] != [list(FAR_HANDLE)]  # the resumed drag moved the handle

    other = bystander.wait_until_stopped(timeout_s=120)
    assert other["replica"] != dead_replica and other["restored_step"] is None
    assert other["step"] == DRAG_STEPS and bystander.reconnects == 0
