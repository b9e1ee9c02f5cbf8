"""The viewer's drag settings: the model's recommended ones unless the page sets a value, and
the state event says which apply (`settings_source`)."""

import pytest

from draggan_fast.viewer.models import ModelRegistry
from draggan_fast.viewer.server import BackgroundServer, ViewerConfig
from tests.viewer.conftest import connect, tiny_generator


@pytest.fixture(scope="module")
def recommending():
    G = tiny_generator()
    G.drag_settings = {"lr": 0.02, "lambda_mask": 2.0}  # as load_generator sets them
    return G


@pytest.fixture(scope="module")
def server(recommending):
    registry = ModelRegistry(generators={"recommends": recommending, "plain": tiny_generator()})
    server = BackgroundServer(registry, ViewerConfig()).start()
    yield server
    server.stop()


def _settings(state):
    return {k: state["params"][k] for k in ("lr", "lambda_mask", "r1", "r2")}


def test_the_page_gets_the_models_settings_and_their_source(server):
    with connect(server) as client:
        client.new_image(model="recommends")
        state = client.get_state()
        assert _settings(state) == {"lr": 0.02, "lambda_mask": 2.0, "r1": 3.0, "r2": 12.0}
        assert state["settings_source"] == {
            "lr": "model", "lambda_mask": "model", "r1": "official", "r2": "official"
        }  # fmt: skip
        client.set_params(lambda_mask=5)
        state = client.get_state()
        assert state["params"]["lambda_mask"] == 5 and state["params"]["lr"] == 0.02
        assert state["settings_source"]["lambda_mask"] == "given"
        client.new_image(model="plain")  # unset ones follow the model, the set one stays
        state = client.get_state()
        assert _settings(state) == {"lr": 0.001, "lambda_mask": 5.0, "r1": 3.0, "r2": 12.0}
        assert state["settings_source"]["lr"] == "official"
        assert state["settings_source"]["lambda_mask"] == "given"
        client.undo()  # back to the recommending model's image, the page's value kept
        state = client.get_state()
        assert (state["params"]["lr"], state["params"]["lambda_mask"]) == (0.02, 5)
        assert state["settings_source"]["lr"] == "model"  # still says where it came from
        assert state["settings_source"]["lambda_mask"] == "given"


def test_settings_given_to_the_server_apply_to_every_session(recommending):
    registry = ModelRegistry(generators={"recommends": recommending})
    options = {"lr": 0.05}
    other = BackgroundServer(registry, ViewerConfig(session_options=options)).start()
    try:
        with connect(other) as client:
            state = client.get_state()
            assert state["params"]["lr"] == 0.05 and state["settings_source"]["lr"] == "given"
            assert state["settings_source"]["lambda_mask"] == "model"
    finally:
        other.stop()
