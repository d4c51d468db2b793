"""serve --watch: the server keeps its own index current from the sources, in a background thread."""
from __future__ import annotations

import signal
import subprocess
import sys
import time

import httpx
import pytest

from indexer.watch import Watcher

from ..conftest import ROOT, LiveServer, free_port


def _wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {seconds:.0f}s")
        time.sleep(0.1)


def _top_id(url: str, q: str) -> str | None:
    r = httpx.get(f"{url}/search", params={"q": q, "k": 1}, timeout=30)
    return r.json()["hits"][0]["article"]["id"] if r.status_code == 200 and r.json()["hits"] else None


@pytest.mark.slow
def test_server_with_a_watcher_builds_its_index_and_serves_new_articles(tmp_path, settings):
    from api.server import create_app

    src, idx = tmp_path / "src", tmp_path / "idx"
    src.mkdir()
    (src / "ferries.md").write_text("Ferry timetable\n\nThe harbour ferry timetable changes in spring, the council "
                                    "said, with fewer sailings on Sundays.\n")
    watcher = Watcher([src], idx, every="1s", prune=True, settings=settings)
    with LiveServer(create_app(idx, settings, watch=watcher)) as server:
        # no index yet: the watcher's first build publishes one and the server loads it by itself
        _wait_for(lambda: httpx.get(f"{server.url}/health").status_code == 200, 120, "first index served")
        assert _top_id(server.url, "ferry timetable sailings") == "ferries"
        (src / "copper.md").write_text("Andean trade pact\n\nPeru and Chile signed an Andean trade pact on copper "
                                       "exports, the ministers said in Lima.\n")
        _wait_for(lambda: _top_id(server.url, "copper exports trade pact") == "copper", 60, "new article served")
        (src / "copper.md").unlink()
        _wait_for(lambda: httpx.get(f"{server.url}/health").json()["counts"]["articles"] == 1, 60, "pruned")
    assert not watcher._thread.is_alive() and watcher.stopping


@pytest.mark.slow
def test_serve_watch_command_line(tmp_path):
    src, idx = tmp_path / "src", tmp_path / "idx"
    src.mkdir()
    (src / "ferries.md").write_text("Ferry timetable\n\nThe harbour ferry timetable changes in spring.\n")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--watch", str(src), "--every", "1s",
                             "--index", str(idx), "--port", str(port)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"

    def healthy():
        try:
            return httpx.get(f"{url}/health", timeout=5).status_code == 200
        except httpx.TransportError:
            return False
    try:
        _wait_for(healthy, 180, "serve --watch built and served an index")
        assert _top_id(url, "ferry timetable") == "ferries"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "published version 1" in err and "Traceback" not in err
