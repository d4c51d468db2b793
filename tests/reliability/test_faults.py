"""Faults: kill -9 of the indexer at random points, rebuild-and-swap under query load, corrupt or truncated
files in a newly published version, a full disk during a build."""
from __future__ import annotations

import dataclasses
import errno
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from indexer import IndexReader, build_index
from indexer.store import CURRENT, MANIFEST, CorruptIndex, IndexStoreError

from ..conftest import CPTPP_QUESTION, ROOT, LiveServer
from ..indexer.test_build import write_corpus

pytestmark = pytest.mark.slow


def _answers(index: Path, settings, query: str = "harbour dredging council") -> int:
    from api import Retriever

    reader = IndexReader(index)                      # opens and passes its consistency checks
    result = Retriever(index, settings).search(query, k=3)
    assert result.hits and result.index_version == reader.version
    return reader.version


def _touch_articles(src: Path, trial: int, n: int = 3) -> None:
    """Change a few articles so the next build has something to embed and publish."""
    for j in range(n):
        (src / f"edit-{j}.md").write_text(f"---\ntitle: Update {j}\n---\nHarbour dredging update {trial}.{j}: the "
                                          f"council heard {trial * 7 + j} objections.\n\nRevision {uuid.uuid4()}.\n")


def test_kill_9_at_20_random_points_always_leaves_a_published_index_that_answers(tmp_path, settings):
    src, idx = write_corpus(tmp_path / "src", 12), tmp_path / "idx"
    build_index([src], idx, settings=settings, progress=False)
    zygote = subprocess.Popen([sys.executable, "-m", "tests.reliability.killable_builder", str(src), str(idx)],
                              cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
    rng = random.Random(20)
    outcomes = {"killed": 0, "finished": 0}
    try:
        assert zygote.stdout.readline().strip() == "ready"

        def one_build(trial: int, kill_after: float | None) -> tuple[bool, float]:
            _touch_articles(src, trial)
            zygote.stdin.write("build\n")
            zygote.stdin.flush()
            pid = int(zygote.stdout.readline().split()[1])
            t0 = time.perf_counter()
            if kill_after is not None:
                time.sleep(kill_after)
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            status = int(zygote.stdout.readline().split()[1])
            return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, time.perf_counter() - t0

        killed, full = one_build(0, None)                               # a full build, to time one
        assert not killed
        version = _answers(idx, settings)
        trial = 0
        while outcomes["killed"] < 20:
            trial += 1
            assert trial <= 40, outcomes
            before = (idx / CURRENT).read_text()
            killed, took = one_build(trial, rng.uniform(0.0, full))       # anywhere from start to publish
            outcomes["killed" if killed else "finished"] += 1
            if not killed:
                full = took                                              # builds get faster once warm
            elif (idx / CURRENT).read_text() != before:
                outcomes["killed after publishing"] = outcomes.get("killed after publishing", 0) + 1
            new_version = _answers(idx, settings)                        # the old version or the new, never neither
            assert new_version >= version
            version = new_version
    finally:
        zygote.stdin.close()
        zygote.wait(timeout=30)
    done = build_index([src], idx, settings=settings, progress=False)      # the next build cleans up
    assert not list(idx.glob(".staging-*"))
    assert _answers(idx, settings) >= version and done.usable == 15


def test_rebuild_and_swap_under_query_load_fails_no_request(index_copy, tmp_path, settings):
    from api.server import create_app

    src = write_corpus(tmp_path / "src", 8)
    failures: list[str] = []
    versions: set[int] = set()
    count = [0]
    stop = threading.Event()

    def hammer(url: str, i: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as c:
            while not stop.is_set():
                try:
                    if i % 3 == 2:
                        r = c.post("/ask", json={"q": CPTPP_QUESTION, "generate": False})
                    else:
                        r = c.get("/search", params={"q": "board CPTPP harbour dredging", "k": 5})
                    if r.status_code != 200:
                        failures.append(f"{r.status_code} {r.text[:200]}")
                    elif "index_version" in r.json():
                        versions.add(r.json()["index_version"])
                    count[0] += 1
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))

    with LiveServer(create_app(index_copy, dataclasses.replace(settings, reload_interval=0.1))) as server:
        threads = [threading.Thread(target=hammer, args=(server.url, i)) for i in range(6)]
        for t in threads:
            t.start()
        try:
            for round_ in range(4):
                _touch_articles(src, round_)
                summary = build_index([src], index_copy, settings=settings, progress=False)
                assert summary.published
                time.sleep(0.4)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=60)
        health = httpx.get(server.url + "/health").json()
    assert not failures, failures[:5]
    assert count[0] > 20
    assert health["index_version"] == IndexReader(index_copy).version and health["reload_error"] is None
    assert len(versions) >= 3, versions                  # requests were served by many versions


def test_a_search_survives_its_version_folder_being_removed(index_copy, tmp_path, settings):
    """The race the swap-under-load test found: a build removes the version a request is still reading, and
    the request's worker thread has no SQLite connection to it yet."""
    from concurrent.futures import ThreadPoolExecutor

    from api import Retriever

    retriever = Retriever(index_copy, settings)
    old = retriever.reader.version_dir
    build_index([write_corpus(tmp_path / "src", 2)], index_copy, settings=settings, progress=False)
    shutil.rmtree(old)                              # what the collector does to versions two builds old
    with ThreadPoolExecutor(1) as pool:             # a thread that has never opened the old version
        result = pool.submit(retriever.search, CPTPP_QUESTION, 3).result()
    assert result.hits and result.index_version == IndexReader(index_copy).version


def _publish_copy(index: Path, damage) -> Path:
    """Publish a copy of the current version as the next version, damaged by `damage(folder)` first."""
    current = IndexReader(index)
    new = index / f"v{current.version + 1:06d}"
    shutil.copytree(current.version_dir, new)
    manifest = json.loads((new / MANIFEST).read_text())
    manifest["index_version"] = current.version + 1
    (new / MANIFEST).write_text(json.dumps(manifest))
    damage(new)
    tmp = index / f".{CURRENT}.test"
    tmp.write_text(new.name + "\n")
    os.replace(tmp, index / CURRENT)
    return new


def _truncate(name: str, keep: float):
    def damage(folder: Path) -> None:
        path = folder / name
        with open(path, "r+b") as fh:
            fh.truncate(int(path.stat().st_size * keep))
    return damage


DAMAGES = [("vectors.faiss", 0.5, "vectors.faiss cannot be read"), ("vectors.faiss", 0.0, "vectors.faiss"),
           ("edsearch.db", 0.5, "edsearch.db is .*truncated"), ("edsearch.db", 0.999, "edsearch.db is .*truncated"),
           ("edsearch.db", 0.0, "edsearch.db is not an SQLite database"),
           ("manifest.json", 0.5, "manifest.json is not valid JSON"), ("manifest.json", 0.0, "manifest.json")]


def test_a_corrupt_new_version_is_detected_and_the_previous_one_stays_in_service(index_copy, settings):
    from api.server import create_app

    with LiveServer(create_app(index_copy, dataclasses.replace(settings, reload_interval=0.1))) as server, \
            httpx.Client(base_url=server.url, timeout=60) as client:
        good = client.get("/health").json()["version_dir"]
        for name, keep, message in DAMAGES:
            bad = _publish_copy(index_copy, _truncate(name, keep))
            with pytest.raises(CorruptIndex, match=message):
                IndexReader(index_copy)                                  # opened fresh: a clear message
            deadline = time.time() + 10
            while (health := client.get("/health").json())["reload_error"] is None and time.time() < deadline:
                time.sleep(0.05)
            assert health["status"] == "ok" and health["version_dir"] == good, health
            assert bad.name in health["reload_error"] and "rebuild the index" in health["reload_error"]
            r = client.get("/search", params={"q": CPTPP_QUESTION, "k": 1})
            assert r.status_code == 200 and "CPTPP" in r.json()["hits"][0]["text"]
            shutil.rmtree(bad)
            (index_copy / CURRENT).write_text(good + "\n")               # back to the good one
            while client.get("/health").json()["reload_error"] is not None and time.time() < deadline:
                time.sleep(0.05)
            assert client.get("/health").json()["reload_error"] is None     # the error clears with the fix
        # a good new version is picked up and clears the error
        fixed = _publish_copy(index_copy, lambda folder: None)
        deadline = time.time() + 10
        while client.get("/health").json()["version_dir"] != fixed.name and time.time() < deadline:
            time.sleep(0.05)
        health = client.get("/health").json()
        assert health["version_dir"] == fixed.name and health["reload_error"] is None


def test_a_server_started_on_a_corrupt_index_says_so(index_copy, settings):
    from fastapi.testclient import TestClient

    from api.server import create_app

    _truncate("edsearch.db", 0.7)(IndexReader(index_copy).version_dir)
    with TestClient(create_app(index_copy, settings)) as client:
        r = client.get("/health")
        assert r.status_code == 503 and "truncated" in r.json()["error"]
        r = client.get("/search", params={"q": "x"})
        assert r.status_code == 503 and r.json()["error"]["code"] == "no_index"


def _assert_clean_failure(idx: Path, before: str, exc: pytest.ExceptionInfo) -> None:
    assert "no space left" in str(exc.value) and "published index is unchanged" in str(exc.value)
    assert (idx / CURRENT).read_text() == before
    assert not list(idx.glob(".staging-*")) and not list(idx.glob(".CURRENT.*"))
    IndexReader(idx)


def test_full_disk_during_a_build_fails_cleanly_injected(tmp_path, settings, monkeypatch, capsys):
    import indexer.store as store

    src, idx = write_corpus(tmp_path / "src", 3), tmp_path / "idx"
    build_index([src], idx, settings=settings, progress=False)
    before = (idx / CURRENT).read_text()
    _touch_articles(src, 1)

    def full(_path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(store, "_fsync", full)
    with pytest.raises(IndexStoreError) as exc:
        build_index([src], idx, settings=settings, progress=False)
    _assert_clean_failure(idx, before, exc)
    from api import cli

    assert cli.main(["index", str(src), "--index", str(idx), "--quiet"]) == 2          # the CLI: a message, no trace
    err = capsys.readouterr().err
    assert "edsearch: error: the build could not write" in err and "no space left" in err and "Traceback" not in err
    monkeypatch.undo()
    assert build_index([src], idx, settings=settings, progress=False).published   # space back: it builds


def test_full_disk_during_a_build_fails_cleanly_on_a_small_tmpfs(tmp_path, settings):
    mnt = tmp_path / "small-disk"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mnt)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root); the injected variant covers it")
    try:
        idx = mnt / "idx"
        build_index([write_corpus(tmp_path / "small", 3)], idx, settings=settings, progress=False)
        before = (idx / CURRENT).read_text()
        with pytest.raises(IndexStoreError) as exc:
            build_index([write_corpus(tmp_path / "big", 40, prefix="big")], idx, settings=settings, progress=False)
        _assert_clean_failure(idx, before, exc)
        _answers(idx, settings)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)      # lazy: the test still holds files open
