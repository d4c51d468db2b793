"""Write an index: one transaction per build, a new vector segment for what it added, tombstones for what it
removed, an atomic commit, and tiered merging of small segments (docs/index-format.md).

    with IndexWriter(index_dir) as w:
        w.remove_articles(ids); w.add_articles(batch, vectors)
        w.publish(manifest)          # commits; leaving the block without it rolls everything back

kill -9 at any point leaves the last commit intact: SQLite ignores an uncommitted transaction, and a segment
file no commit names is removed by the next writer.
"""
from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import math
import os
import shutil
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from . import keyword_segments
from .articles import Article
from .chunking import Chunk
from .format import (DATABASE, FORMAT, FORMAT_1_POINTER, FORMAT_VERSION, LOCK, MANIFEST, RETIRED_GRACE_SECONDS,
                     SCHEMA, SEGMENTS, IndexBusy, IndexStoreError, connect, database_path, fsync as _fsync,
                     is_format_1, latest_commit, parse_manifest, segment_file, tombstones)
from .keyword import KeywordIndex
from .reader import load_segment
from .vectors import VectorIndex, VectorPolicy, segment_kind

log = logging.getLogger("edsearch")
MERGE_FLOOR = 1000          # segments below this many live vectors share the lowest merge tier


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _write_failure(exc: BaseException, folder: Path) -> IndexStoreError | None:
    """A clear error for a build that could not write its files (a full disk, say), or None for other errors."""
    if isinstance(exc, IndexStoreError):
        return None
    text = str(exc)
    full = getattr(exc, "errno", None) in (28, 122) or "disk is full" in text or "No space left" in text
    faiss_write = isinstance(exc, RuntimeError) and "write error" in text     # faiss: RuntimeError, C++ text
    if not (full or faiss_write or isinstance(exc, sqlite3.Error)):
        return None
    why = "no space left on the device" if full else f"{type(exc).__name__}: {text.splitlines()[0][:200]}"
    return IndexStoreError(f"the build could not write to {folder} ({why}); it was discarded and any published "
                           "index is unchanged")


def _chunks_file(segment_file: str) -> str:
    return segment_file.removesuffix(".faiss") + ".chunks.npy"


def _remove(path: Path) -> None:
    """A file of segments/, or a folder (a keyword segment)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


class IndexWriter:
    """The one writer of an index folder (a lock file keeps others out) and its open write transaction."""

    def __init__(self, index_dir: str | Path, settings=None, vector_policy: VectorPolicy | None = None):
        from .config import Settings

        self.index_dir = Path(index_dir)
        self.settings = settings or Settings.from_env()
        self.vector_policy = vector_policy or VectorPolicy.from_settings(self.settings)
        self.previous_manifest: dict | None = None
        self.generation = 0
        self.published: int | None = None      # the generation publish() committed
        self._written: list[Path] = []          # segment files of this writer not committed yet
        self._pending_ids: list[np.ndarray] = []
        self._pending_vectors: list[np.ndarray] = []
        self._segment_chunks: dict[int, np.ndarray] | None = None
        self.dim: int | None = None
        self.upgraded = False                   # a format 1 folder was upgraded on the way in

    # -- lifecycle --
    def __enter__(self) -> "IndexWriter":
        try:
            self.index_dir.mkdir(parents=True, exist_ok=True)
            (self.index_dir / SEGMENTS).mkdir(exist_ok=True)
            self._lock = open(self.index_dir / LOCK, "w")
        except OSError as exc:
            raise IndexStoreError(f"cannot create the index folder {self.index_dir}: {exc.strerror or exc}") from exc
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise IndexBusy(f"another build is writing {self.index_dir}; wait for it to finish")
        try:
            if is_format_1(self.index_dir):
                self._upgrade_format_1()
            self.db = connect(self.index_dir / DATABASE, write=True)
            self.db.executescript(SCHEMA)
            self._collect_files()
            self._begin()
            self._add_keyword_segments()
        except BaseException as exc:
            self._unlock()
            if clear := _write_failure(exc, self.index_dir):
                raise clear from exc
            raise
        return self

    def _begin(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        commit = latest_commit(self.db, self.index_dir)
        if commit is None:
            self.generation, self.next_chunk_id, self.previous_manifest = 0, 1, None
        else:
            self.generation, self.next_chunk_id, self.previous_manifest = commit
            self.dim = self.previous_manifest["model"]["dim"]

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            self._remove_written()
            if self.published is not None:
                self._checkpoint()
            self.db.close()
        finally:
            self._unlock()
        if exc is not None and self.published is None and (clear := _write_failure(exc, self.index_dir)):
            raise clear from exc

    def _unlock(self) -> None:
        fcntl.flock(self._lock, fcntl.LOCK_UN)
        self._lock.close()

    def _remove_written(self) -> None:
        names = {path.name for path in self._written}
        if names:
            for p in (self.index_dir / SEGMENTS).iterdir():
                if segment_file(p.name) in names:
                    _remove(p)
        self._written = []

    def _checkpoint(self) -> None:
        """Fold the write-ahead log into the database and empty it, without waiting: a server holding an older
        snapshot keeps its part of the log until it moves on (TRUNCATE would wait for it, up to the busy
        timeout), and a later build finishes the job."""
        try:
            self.db.execute("PRAGMA busy_timeout = 0")
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:
            pass

    def _collect_files(self) -> None:
        """Remove segment files no commit names (a build killed before its commit), and merged-away files once
        their grace time has passed (a server may still be opening the commit that named them)."""
        named = {r[0] for r in self.db.execute("SELECT file FROM segments")}
        retired = {r[0]: r[1] for r in self.db.execute("SELECT file, retired_at FROM retired")}
        now = time.time()
        gone = [f for f, at in retired.items() if now - at >= RETIRED_GRACE_SECONDS]
        for path in (self.index_dir / SEGMENTS).iterdir():
            base = segment_file(path.name)
            if path.suffix != ".tmp" and (base in named or (base in retired and base not in gone)):
                continue
            _remove(path)
        if gone:
            self.db.executemany("DELETE FROM retired WHERE file = ?", [(f,) for f in gone])

    # -- reading what is there --
    def existing(self) -> dict[str, tuple[str, str]]:
        """article id -> (content_hash, source) of what the index holds."""
        return {r[0]: (r[1], r[2]) for r in self.db.execute("SELECT id, content_hash, source FROM articles")}

    def stored_articles(self, ids: Iterable[str]) -> Iterator[Article]:
        """The articles with these ids as the index stores them (to embed them again)."""
        fields = ("id", "title", "text", "author", "published", "url", "section", "publication", "source")
        for art_id in ids:
            row = self.db.execute(f"SELECT {', '.join(fields)}, tags FROM articles WHERE id = ?", (art_id,)).fetchone()
            if row is not None:
                yield Article(**{f: row[f] for f in fields}, tags=json.loads(row["tags"] or "[]"))

    def init_vectors(self, dim: int) -> None:
        self.dim = dim

    # -- changes --
    def _segment_of(self, chunk_ids: np.ndarray) -> np.ndarray:
        """The segment holding each chunk id (0 for none)."""
        if self._segment_chunks is None:
            self._segment_chunks = {
                r[0]: np.load(self.index_dir / SEGMENTS / _chunks_file(r[1]))
                for r in self.db.execute("SELECT id, file FROM segments")}
        out = np.zeros(len(chunk_ids), np.int64)
        for seg, ids in self._segment_chunks.items():
            if len(ids):
                at = np.clip(np.searchsorted(ids, chunk_ids), 0, len(ids) - 1)
                out[ids[at] == chunk_ids] = seg
        return out

    def remove_articles(self, ids: Iterable[str]) -> None:
        """Delete articles with their passages; their vectors become tombstones of the segments holding them."""
        ids = list(ids)
        keyword = KeywordIndex(self.db)
        for i in range(0, len(ids), 500):
            part = ids[i:i + 500]
            marks = ",".join("?" * len(part))
            chunk_ids = np.array([r[0] for r in self.db.execute(
                f"SELECT id FROM chunks WHERE article_id IN ({marks})", part)], dtype=np.int64)
            segs = self._segment_of(chunk_ids)
            self.db.executemany("INSERT OR IGNORE INTO tombstones (chunk_id, segment_id, gen) VALUES (?, ?, ?)",
                                [(int(c), int(s), self.generation + 1) for c, s in zip(chunk_ids, segs) if s])
            keyword.remove(chunk_ids)
            self.db.execute(f"DELETE FROM chunks WHERE article_id IN ({marks})", part)
            # LSH bands are keyed for lookup by band, not by article (half the size): this scans them once a batch.
            self.db.execute(f"DELETE FROM minhash_bands WHERE article_id IN ({marks})", part)
            self.db.execute(f"DELETE FROM articles WHERE id IN ({marks})", part)

    def add_articles(self, batch: list[tuple[Article, list[Chunk]]], vectors: np.ndarray) -> None:
        """Insert articles with their chunks; `vectors` holds one row per chunk, in order."""
        now = _now()
        self.db.executemany(
            "INSERT INTO articles (id, title, text, author, published, url, section, publication, tags, "
            "paragraphs, source, content_hash, text_hash, indexed_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [(a.id, a.title, a.text, a.author, a.published, a.url, a.section, a.publication,
              json.dumps(a.tags, ensure_ascii=False), json.dumps(a.paragraphs), a.source, a.content_hash,
              a.text_hash, now) for a, _ in batch])
        rows, fts = [], []
        for a, chunks in batch:
            for c in chunks:
                rows.append((self.next_chunk_id, a.id, c.ordinal, c.char_start, c.char_end, c.para_start,
                             c.para_end, c.n_tokens, c.text))
                fts.append((self.next_chunk_id, c.text, a.title))
                self.next_chunk_id += 1
        self.db.executemany("INSERT INTO chunks (id, article_id, ordinal, char_start, char_end, para_start, "
                            "para_end, n_tokens, text) VALUES (?,?,?,?,?,?,?,?,?)", rows)
        KeywordIndex(self.db).add(fts)
        self.add_vectors(np.array([r[0] for r in rows], dtype=np.int64), vectors)

    def add_vectors(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Vectors for passages inserted in this transaction; publish() writes them as one new segment."""
        if len(ids):
            self._pending_ids.append(np.asarray(ids, dtype=np.int64))
            self._pending_vectors.append(np.asarray(vectors, dtype=np.float32))

    def counts(self) -> dict:
        n_articles = self.db.execute("SELECT count(*) FROM articles").fetchone()[0]
        n_chunks = self.db.execute("SELECT count(*) FROM chunks").fetchone()[0]
        live = sum(stored - dead for *_, stored, dead in self._segments())
        return {"articles": n_articles, "chunks": n_chunks,
                "vectors": live + sum(len(i) for i in self._pending_ids)}

    # -- segments --
    def _write_segment(self, ids: np.ndarray, vectors: np.ndarray) -> int:
        """Write a new immutable segment file for these vectors and register it (inside the transaction)."""
        kind = segment_kind(self.vector_policy, len(ids))
        index = VectorIndex.build(kind, self.dim or vectors.shape[1], ids, vectors, self.vector_policy)
        seg_id = self.db.execute("INSERT INTO segments (file, kind, vectors, created_gen) VALUES ('', ?, ?, ?)",
                                 (kind, len(ids), self.generation + 1)).lastrowid
        name = f"seg-{seg_id:06d}.faiss"
        self.db.execute("UPDATE segments SET file = ? WHERE id = ?", (name, seg_id))
        path = self.index_dir / SEGMENTS / name
        self._written.append(path)
        files = index.save(path)
        chunks_path = self.index_dir / SEGMENTS / _chunks_file(name)
        ids = np.sort(ids)
        np.save(chunks_path, ids)
        for f in (*files, chunks_path):
            _fsync(f)
        self._write_keywords(name, ids)
        return seg_id

    def _write_keywords(self, segment: str, ids: np.ndarray) -> None:
        """The segment's keyword segment (indexer/keyword_segments.py), from the passages' FTS5 rows."""
        def passages() -> Iterator[tuple[int, str, str]]:
            for i in range(0, len(ids), 5000):
                part = [int(c) for c in ids[i:i + 5000]]
                yield from self.db.execute(f"SELECT rowid, text, title FROM chunks_fts WHERE rowid IN "
                                           f"({','.join('?' * len(part))}) ORDER BY rowid", part)

        keyword_segments.write(self.index_dir / SEGMENTS / keyword_segments.folder_name(segment), passages())

    def _add_keyword_segments(self) -> None:
        """Keyword segments for the segments of an index written before they existed, from what its last commit
        holds (the build has changed nothing yet): a reader opening that commit finds them complete."""
        missing = [(seg_id, file) for seg_id, file, *_ in self._segments()
                   if not (self.index_dir / SEGMENTS / keyword_segments.folder_name(file)).is_dir()]
        if missing:
            log.info("edsearch: writing keyword segments for %d existing segments of %s", len(missing),
                     self.index_dir)
        for seg_id, file in missing:
            ids = np.load(self.index_dir / SEGMENTS / _chunks_file(file))
            self._write_keywords(file, ids[~np.isin(ids, tombstones(self.db, seg_id))])

    def _describe_segments(self) -> dict:
        segs = [{"id": seg_id, "file": file, "type": kind, "vectors": stored, "tombstones": dead}
                for seg_id, file, kind, stored, dead in self._segments()]
        return {"metric": "inner_product", "live": sum(s["vectors"] - s["tombstones"] for s in segs),
                "segments": segs}

    def _commit(self, manifest: dict) -> int:
        """Record the commit row and COMMIT: the moment readers can see this state."""
        gen = self.generation + 1
        counts = self.counts()
        own = ("format", "format_version", "index_version", "built_at", "vectors", "counts", "files")
        full = {"format": FORMAT, "format_version": FORMAT_VERSION, "index_version": gen, "built_at": _now(),
                **{k: v for k, v in manifest.items() if k not in own},
                "vectors": self._describe_segments(), "counts": counts,
                "files": {"database": DATABASE, "segments": SEGMENTS + "/"}}
        self.db.execute("INSERT INTO commits (gen, committed_at, next_chunk_id, manifest) VALUES (?, ?, ?, ?)",
                        (gen, full["built_at"], self.next_chunk_id, json.dumps(full, ensure_ascii=False)))
        self.db.execute("COMMIT")
        self._written = []
        self.generation, self.previous_manifest = gen, full
        self._write_manifest_copy(full)
        return gen

    def _write_manifest_copy(self, manifest: dict) -> None:
        """manifest.json: the latest commit for people to read (readers use the database)."""
        tmp = self.index_dir / f".{MANIFEST}.{uuid.uuid4().hex[:8]}"
        tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
        os.replace(tmp, self.index_dir / MANIFEST)

    # -- publishing --
    def publish(self, manifest: dict) -> int:
        """Write the new vectors as a segment, commit, then merge segments as the policy says; returns the
        generation (index version) committed."""
        if self._pending_ids:
            self._write_segment(np.concatenate(self._pending_ids), np.concatenate(self._pending_vectors))
            self._pending_ids, self._pending_vectors = [], []
        self.db.execute("PRAGMA optimize")
        self.published = self._commit(manifest)
        if self.settings.segments_per_tier:
            try:
                self.merge(self._merge_plan())
            except Exception as exc:      # the build is published; merging can wait for the next one
                log.warning("edsearch: merging segments failed (%s); the next build or `edsearch optimize` "
                            "tries again", exc)
        return self.published

    def _segments(self) -> list[tuple[int, str, str, int, int]]:
        """(id, file, kind, stored vectors, tombstones) of every segment."""
        return [tuple(r) for r in self.db.execute(
            "SELECT s.id, s.file, s.kind, s.vectors, (SELECT count(*) FROM tombstones t WHERE t.segment_id = s.id) "
            "FROM segments s ORDER BY s.id")]

    def _merge_plan(self) -> list[list[int]]:
        """Lucene's tiered policy, simplified: segments fall in tiers by live size (powers of segments_per_tier
        above MERGE_FLOOR); a tier holding segments_per_tier segments is merged into one, and a segment whose
        tombstones exceed compact_fraction is rewritten. IVF-PQ segments are never merged (codes are lossy)."""
        per_tier = self.settings.segments_per_tier
        tiers: dict[int, list[int]] = {}
        plan = []
        for seg_id, _, kind, stored, dead in self._segments():
            if kind == "ivfpq":
                continue
            if stored and dead / stored > self.vector_policy.compact_fraction:
                plan.append([seg_id])
                continue
            tier = int(math.log(max(stored - dead, MERGE_FLOOR) / MERGE_FLOOR, per_tier)) if per_tier > 1 else 0
            tiers.setdefault(tier, []).append(seg_id)
        plan += [ids for ids in tiers.values() if len(ids) >= max(per_tier, 2)]
        return plan

    def merge(self, plan: list[list[int]]) -> None:
        """Merge each group of segments into one new segment, one commit per group; readers keep the files
        they opened (a merged-away file is deleted after RETIRED_GRACE_SECONDS). Cascades while the policy
        finds more to merge."""
        while plan:
            for group in plan:
                self._merge_group(group)
            plan = self._merge_plan() if self.settings.segments_per_tier else []

    def _merge_group(self, group: list[int]) -> None:
        rows = {r[0]: r for r in self._segments()}
        ids, vectors = [], []
        for seg_id in group:
            i, v = load_segment(self.db, self.index_dir, seg_id, rows[seg_id][1]).export()
            ids.append(i)
            vectors.append(v)
        self._begin()
        try:
            if sum(len(i) for i in ids):
                self._write_segment(np.concatenate(ids), np.concatenate(vectors))
            marks = ",".join("?" * len(group))
            now = time.time()
            for seg_id in group:
                self.db.execute("INSERT OR REPLACE INTO retired (file, retired_at) VALUES (?, ?)",
                                (rows[seg_id][1], now))
            self.db.execute(f"DELETE FROM tombstones WHERE segment_id IN ({marks})", group)
            self.db.execute(f"DELETE FROM segments WHERE id IN ({marks})", group)
            self._segment_chunks = None
            self._commit(self.previous_manifest)
        except BaseException:
            self.db.execute("ROLLBACK")
            self._remove_written()
            raise

    def optimize(self) -> bool:
        """Merge every vector segment into one (tombstones dropped; segments with nothing live just go) and
        FTS5's own segments too; False when there was nothing to do."""
        segments = self._segments()
        empty = [seg_id for seg_id, _, _, stored, dead in segments if stored == dead]
        live = [s for s in segments if s[0] not in empty]
        plan = ([empty] if empty else []) + ([[s[0] for s in live]] if len(live) > 1 or any(s[4] for s in live)
                                            else [])
        if not plan:
            return False
        self.db.execute("ROLLBACK")
        for group in plan:
            self._merge_group(group)
        self._begin()
        KeywordIndex(self.db).optimize()
        self.db.execute("COMMIT")
        self.published = self.generation
        return True

    # -- format 1 --
    def _upgrade_format_1(self) -> None:
        """Turn a format 1 folder (CURRENT -> vNNNNNN/ with a whole database and vectors.faiss) into this format
        in place: its database copied, its vector file as segment 1. The old folders go once the new database
        is in place, so a crash midway leaves one readable index."""
        version = self.index_dir / (self.index_dir / FORMAT_1_POINTER).read_text().strip()
        old = parse_manifest((version / MANIFEST).read_text(), str(version / MANIFEST))
        staging = self.index_dir / f".upgrade-{uuid.uuid4().hex[:8]}.db"
        src = sqlite3.connect(f"file:{version / DATABASE}?mode=ro", uri=True)
        dst = sqlite3.connect(staging)
        src.backup(dst)
        src.close()
        dst.executescript(SCHEMA)
        vectors = VectorIndex.load(version / "vectors.faiss")
        name = "seg-000001.faiss"
        files = vectors.save(self.index_dir / SEGMENTS / name)
        chunk_ids = np.array([r[0] for r in dst.execute("SELECT id FROM chunks ORDER BY id")], dtype=np.int64)
        np.save(self.index_dir / SEGMENTS / _chunks_file(name), chunk_ids)
        gen = int(old["index_version"])
        dst.execute("INSERT INTO segments (id, file, kind, vectors, created_gen) VALUES (1, ?, ?, ?, ?)",
                    (name, vectors.kind, len(vectors), gen))     # live: an HNSW file keeps its own dead marks
        manifest = {**old, "format_version": FORMAT_VERSION, "upgraded_from_format": 1,
                    "vectors": {"metric": "inner_product", "live": len(vectors), "segments": [
                        {"id": 1, "file": name, "type": vectors.kind, "vectors": len(vectors), "tombstones": 0}]}}
        dst.execute("INSERT INTO commits (gen, committed_at, next_chunk_id, manifest) VALUES (?, ?, ?, ?)",
                    (gen, _now(), int(chunk_ids.max(initial=0)) + 1, json.dumps(manifest, ensure_ascii=False)))
        dst.commit()
        dst.close()
        for f in (*files, self.index_dir / SEGMENTS / _chunks_file(name), staging):
            _fsync(f)
        os.replace(staging, self.index_dir / DATABASE)
        _fsync(self.index_dir)
        (self.index_dir / FORMAT_1_POINTER).unlink()
        for folder in self.index_dir.glob("v[0-9]*"):
            shutil.rmtree(folder, ignore_errors=True)
        self._write_manifest_copy(manifest)
        self.upgraded = True


def optimize(index_dir: str | Path, settings=None) -> bool:
    """`edsearch optimize`: merge the index's segments into one (and upgrade a format 1 folder); False when
    there was nothing to do. A folder without an index is refused (IndexNotFound), and nothing is written there."""
    if not is_format_1(Path(index_dir)):
        database_path(index_dir)
    with IndexWriter(index_dir, settings) as writer:
        return writer.optimize() or writer.upgraded
