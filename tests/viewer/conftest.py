"""A real viewer server on loopback, serving a tiny random generator through the real
DragSession; clients connect with draggan_fast.client."""

import contextlib
import os
import shutil

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


# The page in headless Chromium: Debian's `chromium` (scripts/ci_system_deps.sh installs it).
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip
needs_chromium = pytest.mark.skipif(
    not os.path.exists(CHROMIUM),
    reason="chromium is not installed (apt-get install -y chromium; see scripts/ci_system_deps.sh)",
)


@contextlib.contextmanager
def open_page(url, errors=None):
    """The page at `url` in headless Chromium; page errors and console errors go to `errors`."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        if errors is not None:
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.set_default_timeout(120_000)
        page.goto(url)
        try:
            yield page
        finally:
            browser.close()


@pytest.fixture
def page(server):
    """The page on a fresh server; the test fails if the page logged an error."""
    errors = []
    with open_page(server.url, errors) as browser_page:
        yield browser_page
    assert errors == []
