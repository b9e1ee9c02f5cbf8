"""A real viewer server on loopback, serving a tiny random generator through the real
DragSession; clients connect with draggan_fast.client."""

import pytest
import torch

from draggan_fast.client import ViewerClient
from draggan_fast.stylegan import Generator
from draggan_fast.viewer.models import ModelRegistry
from draggan_fast.viewer.server import BackgroundServer, ViewerConfig

MODEL_NAME = "tiny"
IMAGE_SIZE = 64
# A handle and a target the tiny generator's drag brings together within a few steps at DRAG_LR.
HANDLE, TARGET = (20, 30), (30, 30)
DRAG_LR = 0.01


def tiny_generator():
    torch.manual_seed(0)
    G = Generator(
        z_dim=16, c_dim=0, w_dim=16, img_resolution=IMAGE_SIZE, channel_base=1024, channel_max=32
    )
    return G.eval().requires_grad_(False)


@pytest.fixture(scope="session")
def registry():
    return ModelRegistry(generators={MODEL_NAME: tiny_generator()})


@pytest.fixture
def make_server(registry):
    """make_server(**ViewerConfig fields) -> a started BackgroundServer (stopped after the test)."""
    servers = []

    def make(**config):
        server = BackgroundServer(registry, ViewerConfig(**config)).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def server(make_server):
    return make_server()


def connect(server, **kwargs) -> ViewerClient:
    """A connected client that has read the greeting (hello, state, first frame)."""
    client = ViewerClient(server.url, timeout=120, **kwargs).connect()
    assert client.next_message().type == "hello"
    assert client.next_message().type == "state"
    assert client.next_message().type == "frame"
    return client


@pytest.fixture
def client(server):
    with connect(server) as viewer_client:
        yield viewer_client
