"""Shared fixtures: the real model loaded once, the seeds' index built once per session, a real server."""
from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
CPTPP_QUESTION = "what did the board recommend on CPTPP?"
CPTPP_SENTENCE = "Japan and Australia have the opportunity to use their influence over the CPTPP accession process"


@pytest.fixture(scope="session")
def settings():
    from indexer.config import Settings

    return Settings.from_env(reload_interval=0.2)


@pytest.fixture(scope="session")
def embedder(settings):
    from indexer.embedding import embedder_for

    return embedder_for(settings)


@pytest.fixture(scope="session")
def seeds_index(tmp_path_factory, embedder, settings) -> Path:
    """The seeds' index, built once with the real model. Tests must not modify it."""
    from indexer import build_index

    path = tmp_path_factory.mktemp("seeds-index")
    summary = build_index([SEEDS], path, settings=settings, progress=False)
    assert summary.indexed == 1 and summary.published
    return path


@pytest.fixture(scope="session")
def retriever(seeds_index, settings):
    from api import Retriever

    return Retriever(seeds_index, settings)


@pytest.fixture
def index_copy(seeds_index, tmp_path) -> Path:
    """A private copy of the seeds' index that a test may rebuild or break."""
    dest = tmp_path / "index"
    shutil.copytree(seeds_index, dest)
    return dest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """A real uvicorn server on loopback, in a thread of the test process (the model is shared)."""

    def __init__(self, app):
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def live_server(seeds_index, settings):
    """The seeds' index served by a real uvicorn on 127.0.0.1 (no token)."""
    from api.server import create_app

    with LiveServer(create_app(seeds_index, settings)) as server:
        yield server
