"""Faults: kill -9 of the indexer at random points (builds and merges), rebuild-and-swap under query load, a
reader on an old commit while newer ones publish, corrupt or truncated files, a full disk during a build."""
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
from indexer.format import CorruptIndex, IndexStoreError
from indexer.reader import published_version

from ..conftest import CPTPP_QUESTION, ROOT, LiveServer
from ..indexer.test_build import named_segment_files, orphan_files, segment_files, write_corpus

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
            before = published_version(idx)
            killed, took = one_build(trial, rng.uniform(0.0, full))       # anywhere from start to publish
            outcomes["killed" if killed else "finished"] += 1
            if not killed:
                full = took                                              # builds get faster once warm
            elif published_version(idx) != before:
                outcomes["killed after publishing"] = outcomes.get("killed after publishing", 0) + 1
            new_version = _answers(idx, settings)                        # the old version or the new, never neither
            assert new_version >= version
            version = new_version
    finally:
        zygote.stdin.close()
        zygote.wait(timeout=30)
    done = build_index([src], idx, settings=settings, progress=False)      # the next build cleans up
    assert not orphan_files(idx)
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


def test_a_reader_on_an_old_commit_answers_the_same_while_newer_ones_publish_and_merge(index_copy, tmp_path,
                                                                                        settings, monkeypatch):
    """A server answers from the commit it opened until it moves on: two builds that change and remove articles,
    a merge that retires the segment files it loaded and their deletion change nothing it returns."""
    from concurrent.futures import ThreadPoolExecutor

    from api import Retriever
    from indexer import optimize, writer

    src = write_corpus(tmp_path / "src", 3)
    build_index([src, ROOT / "seeds"], index_copy, settings=settings, progress=False)
    retriever = Retriever(index_copy, settings)
    queries = [CPTPP_QUESTION, "harbour dredging council vote", "school funding report"]
    before = [retriever.search(q, k=5) for q in queries]
    (src / "story-0000.md").write_text("Harbour dredging\n\nThe council voted to stop the harbour dredging.\n")
    build_index([src, ROOT / "seeds"], index_copy, settings=settings, progress=False)
    (src / "story-0001.md").unlink()
    build_index([src, ROOT / "seeds"], index_copy, settings=settings, progress=False, prune=True)
    monkeypatch.setattr(writer, "RETIRED_GRACE_SECONDS", 0.0)
    assert optimize(index_copy, settings)                      # one segment; the old ones are retired
    assert optimize(index_copy, settings) is False             # and removed by the next writer: nothing to do
    assert segment_files(index_copy) == named_segment_files(index_copy)
    with ThreadPoolExecutor(2) as pool:                        # threads that never used the old snapshot
        after = list(pool.map(lambda q: retriever.search(q, k=5), queries))
    for old, new in zip(before, after):
        assert new.index_version == old.index_version
        assert [(h.article.id, h.text, h.score) for h in new.hits] == [(h.article.id, h.text, h.score) for h in old.hits]
    newest = Retriever(index_copy, settings)
    assert newest.reader.version >= before[0].index_version + 3        # two builds, a merge (and the policy's)
    assert "story-0001" not in {h.article.id for h in newest.search("school funding report", k=10).hits}
    assert len(newest.reader.manifest["vectors"]["segments"]) == 1


def test_kill_9_during_a_merge_leaves_the_last_commit_and_the_next_build_cleans_up(index_copy, tmp_path, settings):
    for i in range(6):                       # six small segments to merge
        (tmp_path / f"s{i}").mkdir()
        (tmp_path / f"s{i}" / f"n{i}.md").write_text(f"Note {i}\n\nA note number {i} about ferries and tides.\n")
        build_index([tmp_path / f"s{i}"], index_copy, settings=dataclasses.replace(settings, segments_per_tier=0),
                    progress=False)
    before, files = published_version(index_copy), segment_files(index_copy)
    code = ("import sys, os, signal\nfrom indexer import writer\n"
            "real = writer.IndexWriter._write_segment\n"
            "def die(self, *a, **k):\n    real(self, *a, **k)\n    os.kill(os.getpid(), signal.SIGKILL)\n"
            "writer.IndexWriter._write_segment = die\nwriter.optimize(sys.argv[1])\n")
    proc = subprocess.run([sys.executable, "-c", code, str(index_copy)], cwd=ROOT, capture_output=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert published_version(index_copy) == before               # the merged segment's file is written, not committed
    assert segment_files(index_copy) > files
    _answers(index_copy, settings)
    from indexer import optimize

    assert optimize(index_copy, settings)
    assert segment_files(index_copy) - files and len(IndexReader(index_copy).manifest["vectors"]["segments"]) == 1
    _answers(index_copy, settings)


def _publish_damaged(index: Path, good_file: str, damage) -> int:
    """Commit a copy of the latest state as the next version, its first segment's file replaced by a copy of
    `good_file` that `damage(path)` damages, or with a damaged manifest (what `damage` returns, if text)."""
    import sqlite3

    db = sqlite3.connect(index / "edsearch.db", isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    gen, next_id = db.execute("SELECT gen, next_chunk_id FROM commits ORDER BY gen DESC").fetchone()
    for (text,) in db.execute("SELECT manifest FROM commits ORDER BY gen DESC"):
        if text.endswith("}"):                    # the newest commit may be one this test damaged
            manifest = json.loads(text)
            break
    manifest["index_version"] = gen + 1
    text = json.dumps(manifest)
    seg_id, name = db.execute("SELECT id, file FROM segments ORDER BY id").fetchone()
    copy = f"seg-{900000 + gen:06d}.faiss"
    shutil.copy(index / "segments" / good_file, index / "segments" / copy)
    result = damage(index / "segments" / copy)
    if isinstance(result, str):
        text = result
    db.execute("UPDATE segments SET file = ? WHERE id = ?", (copy, seg_id))
    db.execute("INSERT INTO commits (gen, committed_at, next_chunk_id, manifest) VALUES (?, '', ?, ?)",
               (gen + 1, next_id, text))
    db.execute("COMMIT")
    db.close()
    return gen + 1


def _truncate(keep: float):
    def damage(path: Path) -> None:
        with open(path, "r+b") as fh:
            fh.truncate(int(path.stat().st_size * keep))
    return damage


def _bad_manifest(keep: float):
    def damage(path: Path) -> str:
        text = (path.parent.parent / "manifest.json").read_text()
        return text[:int(len(text) * keep)]
    return damage


DAMAGES = [(_truncate(0.5), "seg-9.*faiss cannot be read"), (_truncate(0.0), "seg-9.*faiss"),
           (_bad_manifest(0.5), "is not valid JSON"), (_bad_manifest(0.0), "is not valid JSON")]


def test_a_corrupt_new_commit_is_detected_and_the_previous_one_stays_in_service(index_copy, settings):
    from api.server import create_app

    with LiveServer(create_app(index_copy, dataclasses.replace(settings, reload_interval=0.1))) as server, \
            httpx.Client(base_url=server.url, timeout=60) as client:
        good = client.get("/health").json()["index_version"]
        good_file = IndexReader(index_copy).manifest["vectors"]["segments"][0]["file"]
        for damage, message in DAMAGES:
            bad = _publish_damaged(index_copy, good_file, damage)
            with pytest.raises(CorruptIndex, match=message):
                IndexReader(index_copy)                                  # opened fresh: a clear message
            deadline = time.time() + 10
            while (health := client.get("/health").json())["reload_error"] is None and time.time() < deadline:
                time.sleep(0.05)
            assert health["status"] == "ok" and health["index_version"] == good, health
            assert "rebuild the index" in health["reload_error"]
            r = client.get("/search", params={"q": CPTPP_QUESTION, "k": 1})
            assert r.status_code == 200 and "CPTPP" in r.json()["hits"][0]["text"]
            _publish_damaged(index_copy, good_file, lambda path: None)  # a good commit after the bad one
            while client.get("/health").json()["index_version"] != bad + 1 and time.time() < deadline:
                time.sleep(0.05)
            health = client.get("/health").json()
            assert health["index_version"] == bad + 1 and health["reload_error"] is None   # the error clears
            good = bad + 1


@pytest.mark.parametrize("keep,message", [(0.5, "edsearch.db is .*truncated"), (0.999, "edsearch.db is .*truncated"),
                                          (0.0, "edsearch.db is not an SQLite database")])
def test_a_server_started_on_a_corrupt_index_says_so(index_copy, settings, keep, message):
    from fastapi.testclient import TestClient

    from api.server import create_app

    _truncate(keep)(index_copy / "edsearch.db")
    with pytest.raises(CorruptIndex, match=message):
        IndexReader(index_copy)
    with TestClient(create_app(index_copy, settings)) as client:
        r = client.get("/health")
        assert r.status_code == 503 and "edsearch.db" in r.json()["error"]
        r = client.get("/search", params={"q": "x"})
        assert r.status_code == 503 and r.json()["error"]["code"] == "no_index"


def test_an_empty_or_tableless_database_is_a_first_build_in_progress_only_while_a_build_holds_the_lock(tmp_path):
    """The first build creates edsearch.db before SQLite writes its first page and its tables: a reader that looks
    then is told no index is published yet, not that the index is corrupt; with no build running it is corrupt."""
    import fcntl
    import sqlite3

    from indexer.format import IndexNotFound

    idx = tmp_path / "idx"
    idx.mkdir()
    (idx / "edsearch.db").write_bytes(b"")

    def tableless():
        (idx / "edsearch.db").unlink()
        sqlite3.connect(idx / "edsearch.db").execute("PRAGMA journal_mode = WAL").fetchone()

    for make, corrupt in ((lambda: None, "not an SQLite database"), (tableless, "no such table")):
        make()
        with open(idx / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            with pytest.raises(IndexNotFound, match="the first build is writing it"):
                IndexReader(idx)
            fcntl.flock(lock, fcntl.LOCK_UN)
        with pytest.raises(CorruptIndex, match=corrupt):
            IndexReader(idx)


def _assert_clean_failure(idx: Path, before: int, files: set[str], exc: pytest.ExceptionInfo) -> None:
    assert "no space left" in str(exc.value) and "published index is unchanged" in str(exc.value)
    assert published_version(idx) == before and segment_files(idx) == files
    IndexReader(idx)
def test_full_disk_during_a_build_fails_cleanly_injected(tmp_path, settings, monkeypatch, capsys):
    import indexer.writer as writer

    src, idx = write_corpus(tmp_path / "src", 3), tmp_path / "idx"
    build_index([src], idx, settings=settings, progress=False)
    before, files = published_version(idx), segment_files(idx)
    _touch_articles(src, 1)

    def full(_path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(writer, "_fsync", full)
    with pytest.raises(IndexStoreError) as exc:
        build_index([src], idx, settings=settings, progress=False)
    _assert_clean_failure(idx, before, files, exc)
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
        before, files = published_version(idx), segment_files(idx)
        with pytest.raises(IndexStoreError) as exc:
            build_index([write_corpus(tmp_path / "big", 40, prefix="big")], idx, settings=settings, progress=False)
        _assert_clean_failure(idx, before, files, exc)
        _answers(idx, settings)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)      # lazy: the test still holds files open
