"""The viewer on StyleGAN3 and StyleGAN-Human: models of each family, converted from the
official fixture pickles, served by name (ModelRegistry) and dragged through the protocol. The
image is the square the drag works on: StyleGAN-Human's rectangle padded with white."""

import numpy as np
import pytest

from draggan_fast.cli import main
from draggan_fast.viewer.models import ModelRegistry
from draggan_fast.viewer.server import BackgroundServer, ViewerConfig
from tests.viewer.conftest import connect

MODELS = {"stylegan3-t-64": 64, "stylegan3-r-128": 128, "stylegan_human-64": 64}


@pytest.fixture(scope="module")
def models_dir(fixtures_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    for name in MODELS:
        dest = folder / f"{name}.safetensors"
        assert main(["convert", str(fixtures_dir / f"{name}.pkl"), str(dest)]) == 0
    return folder


@pytest.fixture(scope="module", params=["fast", "reference"])
def family_server(models_dir, request):
    config = ViewerConfig(session_options={"backend": request.param})
    server = BackgroundServer(ModelRegistry(models_dir=models_dir), config).start()
    yield server, request.param
    server.stop()


@pytest.mark.parametrize("name", list(MODELS))
def test_a_drag_through_the_protocol_on_every_family(family_server, name):
    server, backend_name = family_server
    size = MODELS[name]
    handle, target = (size // 2, size // 2), (size // 2 + size // 8, size // 2)
    with connect(server) as client:
        assert f"{name}.safetensors" in client.get_state()["models"]
        client.new_image(model=f"{name}.safetensors", seed=1)
        state = client.get_state()
        assert state["model"] == f"{name}.safetensors"
        assert state["image"] == {"width": size, "height": size}
        start = client.render().image
        assert start.shape == (size, size, 3)
        if name.startswith("stylegan_human"):  # H x H/2 in the middle, white left and right
            margin = size // 4
            assert (start[:, :margin] == 255).all() and (start[:, size - margin :] == 255).all()
            assert start[:, margin : size - margin].std() > 0
        client.add_point(handle, target)
        client.set_params(lr=0.01)
        client.discard_pending()
        client.start(max_steps=3)
        frames = []
        for message in client.messages():
            if message.type == "frame":
                frames.append(message)
            elif message.type == "stopped":
                break
        assert frames and frames[-1].step == message["steps"] >= 1
        assert frames[-1].image.shape == (size, size, 3)
        assert np.abs(frames[-1].image.astype(int) - start).max() > 0  # the image changed
        backend = client.get_state()["backend"]
    assert backend.startswith(backend_name)
    if name.startswith("stylegan3") and backend_name == "fast":
        assert "no StyleGAN2 blocks (StyleGAN3)" in backend
