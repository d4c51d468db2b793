"""The build pipeline: incremental, prune, conflicts, model checks, atomic publish, interrupted builds."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from indexer import IndexReader, ModelMismatch, build_index
from indexer.format import CorruptIndex, IndexNotFound, build_running, segment_file
from indexer.reader import published_version

from ..conftest import ROOT, SEEDS

EDSEARCH = [sys.executable, "-m", "api.cli"]


def write_corpus(folder: Path, n: int, prefix: str = "story") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    topics = ["harbour dredging", "school funding", "hospital waiting lists", "rail timetable", "water prices"]
    for i in range(n):
        topic = topics[i % len(topics)]
        paras = "\n\n".join(f"Paragraph {p} of report {i} on {topic}. The council met on day {p} and voted "
                            f"{p + i} to {i % 7} on the {topic} plan, after residents complained at length."
                            for p in range(12))
        (folder / f"{prefix}-{i:04d}.md").write_text(f"---\ntitle: Report {i} on {topic}\nauthor: Desk {i % 3}\n"
                                                     f"published: 2024-0{1 + i % 9}-1{i % 10}\n---\n{paras}\n")
    return folder


def test_incremental_rebuild_is_a_noop_then_reembeds_only_changes(tmp_path, settings):
    src = write_corpus(tmp_path / "src", 4)
    idx = tmp_path / "idx"
    first = build_index([src], idx, settings=settings, progress=False)
    assert (first.indexed, first.updated, first.unchanged) == (4, 0, 0)
    version = published_version(idx)

    again = build_index([src], idx, settings=settings, progress=False)
    assert (again.indexed, again.updated, again.unchanged, again.chunks) == (0, 0, 4, 0)
    assert again.published is None and published_version(idx) == version

    p = src / "story-0001.md"
    p.write_text(p.read_text().replace("residents complained", "ratepayers protested"))
    (src / "new.md").write_text("New story\n\nA fresh article about ferries.\n")
    third = build_index([src], idx, settings=settings, progress=False)
    assert (third.indexed, third.updated, third.unchanged) == (1, 1, 3)
    reader = IndexReader(idx)
    assert reader.manifest["counts"]["articles"] == 5
    assert "ratepayers protested" in reader.article("story-0001").text
    n_chunks = reader.db.execute("SELECT count(*) FROM chunks WHERE article_id='story-0001'").fetchone()[0]
    assert third.chunks == n_chunks + 1   # only the changed and the new article were embedded


def test_an_index_kept_in_the_archive_is_not_read_back_as_articles(tmp_path, settings):
    src = write_corpus(tmp_path / "src", 2)
    inside, alongside = src / "idx", src          # below the archive, and the archive's own folder
    for idx in (inside, alongside):
        build_index([src], idx, settings=settings, progress=False)
        again = build_index([src], idx, settings=settings, progress=False)
        assert (again.indexed, again.unchanged, again.skipped, again.warnings) == (0, 2, 0, [])
    assert IndexReader(inside).manifest["counts"]["articles"] == 2
    # only the index's own files are skipped: an article kept in its folder is read
    (inside / "kept.md").write_text("Kept story\n\nAn article filed in the index's folder, about ferries.\n")
    third = build_index([src], alongside, settings=settings, progress=False)
    assert (third.indexed, third.unchanged, third.warnings) == (1, 2, [])
    assert IndexReader(alongside).article("idx/kept").title == "Kept story"


def test_prune_removes_articles_whose_source_is_gone(tmp_path, settings):
    src = write_corpus(tmp_path / "src", 3)
    idx = tmp_path / "idx"
    build_index([src], idx, settings=settings, progress=False)
    (src / "story-0002.md").unlink()
    kept = build_index([src], idx, settings=settings, progress=False)
    assert kept.removed == 0 and IndexReader(idx).article("story-0002") is not None
    pruned = build_index([src], idx, settings=settings, progress=False, prune=True)
    assert pruned.removed == 1
    reader = IndexReader(idx)
    assert reader.article("story-0002") is None
    assert reader.manifest["counts"] == {"articles": 2, "chunks": len(reader.vectors), "vectors": len(reader.vectors)}


def test_same_id_from_two_sources_is_reported_not_merged(tmp_path, settings):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text(json.dumps({"id": "wire-1", "title": "A", "text": "Version from feed A."}) + "\n")
    b.write_text(json.dumps({"id": "wire-1", "title": "B", "text": "Version from feed B."}) + "\n")
    summary = build_index([a, b], tmp_path / "idx", settings=settings, progress=False)
    assert summary.indexed == 1 and summary.skipped == 1
    assert any("wire-1" in w and "already read from" in w for w in summary.warnings)
    assert IndexReader(tmp_path / "idx").article("wire-1").text == "Version from feed A."
    # and across runs: indexing b alone does not silently overwrite a's article
    later = build_index([b], tmp_path / "idx", settings=settings, progress=False)
    assert later.skipped == 1 and "already indexed from" in later.warnings[0]


def test_bad_files_are_survived_and_counted(tmp_path, settings):
    src = write_corpus(tmp_path / "src", 2)
    (src / "broken.jsonl").write_text('{"id": "j1", "title": "J", "text": "Fine line."}\n{oops\n')
    (src / "bin.txt").write_bytes(b"\x00\x00\x00")
    summary = build_index([src], tmp_path / "idx", settings=settings, progress=False)
    assert summary.indexed == 3 and summary.skipped == 2
    assert any("broken.jsonl:2" in w for w in summary.warnings)


def test_dates_as_archives_write_them_are_indexed_and_an_unreadable_one_warns(tmp_path, settings):
    dates = ["2025/08/08", "8 August 2025", "Fri, 08 Aug 2025 09:30:00 +0000", "2025-08-08T09:30:00+02:00",
             "sometime soon"]
    src = tmp_path / "dated.jsonl"
    src.write_text("".join(json.dumps({"id": f"d{i}", "title": f"Story {i}", "published": d,
                                       "text": f"Story {i} about the harbour dredging plan."}) + "\n"
                           for i, d in enumerate(dates)))
    summary = build_index([src], tmp_path / "idx", settings=settings, progress=False)
    assert (summary.indexed, summary.skipped) == (5, 0)
    assert summary.warnings == [f"{src.resolve()}:5: published date 'sometime soon' is not a date (Unknown string "
                                "format: sometime soon); indexed without a date (write it as YYYY-MM-DD to keep it)"]
    reader = IndexReader(tmp_path / "idx")
    assert [reader.article(f"d{i}").published for i in range(5)] == ["2025-08-08"] * 4 + [None]


def test_model_mismatch_is_refused(index_copy, settings):
    with pytest.raises(ModelMismatch, match="built with model 'all-MiniLM-L6-v2'"):
        build_index([SEEDS], index_copy, model="sentence-transformers/all-mpnet-base-v2", settings=settings,
                    progress=False)
    from api import Retriever
    with pytest.raises(ModelMismatch, match="cannot be queried"):
        Retriever(index_copy, settings, model="sentence-transformers/all-mpnet-base-v2")


def test_exception_mid_build_keeps_published_index(index_copy, tmp_path, settings):
    src = write_corpus(tmp_path / "src", 6)
    before, files = published_version(index_copy), segment_files(index_copy)

    def boom(_):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_index([src], index_copy, settings=settings, progress=False, batch_articles=2, on_batch=boom)
    assert published_version(index_copy) == before and segment_files(index_copy) == files
    assert IndexReader(index_copy).manifest["counts"]["articles"] == 1


def test_corrupt_index_is_detected_with_a_clear_message(index_copy):
    segment = IndexReader(index_copy).manifest["vectors"]["segments"][0]["file"]
    (index_copy / "segments" / segment).write_bytes(b"garbage")
    with pytest.raises(CorruptIndex, match=f"{segment} cannot be read"):
        IndexReader(index_copy)
    with pytest.raises(IndexNotFound, match="build one with"):
        IndexReader(index_copy / "nothing-here")


def test_optimize_refuses_a_folder_without_an_index_and_writes_nothing(tmp_path, settings):
    from indexer import optimize

    (tmp_path / "notes.txt").write_text("Not an index.\n")
    for folder in (tmp_path, tmp_path / "missing"):
        with pytest.raises(IndexNotFound, match="build one with"):
            optimize(folder, settings)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def _run_cli(*args, **kw):
    return subprocess.run([*EDSEARCH, *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=300, **kw)


@pytest.mark.slow
def test_kill_9_during_build_leaves_last_published_index_usable(index_copy, tmp_path):
    src = write_corpus(tmp_path / "src", 160)
    before, files = published_version(index_copy), segment_files(index_copy)
    rng = random.Random(7)
    proc = subprocess.Popen([*EDSEARCH, "index", str(src), "--index", str(index_copy), "--quiet"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not build_running(index_copy) and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(rng.uniform(0.5, 3.0))
    assert proc.poll() is None, "the build finished before it could be killed; give it more work"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert published_version(index_copy) == before
    out = _run_cli("search", "what did the board recommend on CPTPP?", "--index", index_copy, "--json", "--k", "1")
    assert out.returncode == 0, out.stderr
    assert "CPTPP" in json.loads(out.stdout)["hits"][0]["text"]
    # the next build cleans the leftovers and completes
    done = _run_cli("index", src, "--index", index_copy, "--quiet")
    assert done.returncode == 0, done.stderr
    assert not orphan_files(index_copy) and segment_files(index_copy) != files
    assert IndexReader(index_copy).manifest["counts"]["articles"] == 161


def test_cli_index_exit_codes_and_summary(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.txt").write_bytes(b"\x00binary")
    out = _run_cli("index", bad, "--index", tmp_path / "idx", "--quiet")
    assert out.returncode == 1
    assert "x.txt: binary file" in out.stderr and "nothing usable was indexed" in out.stderr
    assert published_version(tmp_path / "idx") is None
    ok = _run_cli("index", SEEDS, bad, "--index", tmp_path / "idx", "--quiet")
    assert ok.returncode == 0, ok.stderr
    assert "1 indexed" in ok.stdout and "1 skipped" in ok.stdout and "published version 1" in ok.stdout


def test_merged_segments_are_kept_through_a_grace_period(index_copy, tmp_path, settings, monkeypatch):
    """A server may still be opening a commit that names a merged-away segment: its files are removed only
    after the grace period, by a later build."""
    import dataclasses

    from indexer import writer

    settings = dataclasses.replace(settings, segments_per_tier=3)
    old = IndexReader(index_copy)
    for i in range(2):
        (tmp_path / f"src{i}").mkdir()
        (tmp_path / f"src{i}" / f"n{i}.md").write_text(f"Note {i}\n\nA short note number {i} about ferries.\n")
        build_index([tmp_path / f"src{i}"], index_copy, settings=settings, progress=False)
    merged = IndexReader(index_copy)
    assert len(merged.manifest["vectors"]["segments"]) == 1 and merged.version == old.version + 3   # 2 + a merge
    assert named_segment_files(index_copy) < segment_files(index_copy)        # the 3 old ones are still there
    assert old.vectors.search(merged.vectors.segments[0][1].export()[1][0], 3)[1].size     # and still searchable
    monkeypatch.setattr(writer, "RETIRED_GRACE_SECONDS", 0.0)
    (tmp_path / "last").mkdir()
    (tmp_path / "last" / "z.md").write_text("Last note\n\nThe final note about ferries.\n")
    build_index([tmp_path / "last"], index_copy, settings=settings, progress=False)
    assert segment_files(index_copy) == named_segment_files(index_copy)


def segment_files(index: Path) -> set[str]:
    return {p.name for p in (index / "segments").iterdir()}


def named_segment_files(index: Path) -> set[str]:
    """The files the latest commit's segments consist of."""
    names = {s["file"] for s in IndexReader(index).manifest["vectors"]["segments"]}
    return {p.name for p in (index / "segments").iterdir() if segment_file(p.name) in names}


def orphan_files(index: Path) -> set[str]:
    """Segment files neither a commit's segment nor retired by a merge (waiting out the grace time)."""
    import sqlite3

    db = sqlite3.connect(index / "edsearch.db")
    known = {r[0] for r in db.execute("SELECT file FROM segments UNION SELECT file FROM retired")}
    db.close()
    return {p.name for p in (index / "segments").iterdir() if segment_file(p.name) not in known}


