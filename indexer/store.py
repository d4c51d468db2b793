"""The index folder: manifest + FAISS vectors + SQLite (articles, chunks, FTS5), published atomically.

    index/CURRENT            names the published version folder (replaced atomically)
    index/v000007/manifest.json, vectors.faiss, edsearch.db
    index/.staging-*/        a build in progress (removed by the next build if it died)
    index/.lock              held by the one build that may run at a time
"""
from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import shutil
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from .articles import Article
from .chunking import Chunk
from .neardup import SCHEMA as NEAR_DUPLICATE_SCHEMA
from .vectors import VectorIndex, VectorPolicy

FORMAT = "edsearch-index"
FORMAT_VERSION = 1
MANIFEST, VECTORS, DATABASE, CURRENT = "manifest.json", "vectors.faiss", "edsearch.db", "CURRENT"
KEEP_VERSIONS = 2
SUPERSEDED_GRACE_SECONDS = 120.0   # a replaced version stays at least this long (see IndexWriter._collect_old)

SCHEMA = """
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    author TEXT, published TEXT, url TEXT, section TEXT, publication TEXT,
    tags TEXT NOT NULL DEFAULT '[]',          -- JSON list
    paragraphs TEXT NOT NULL,                 -- JSON list of [char_start, char_end]
    source TEXT NOT NULL,                     -- file it was read from
    content_hash TEXT NOT NULL,               -- changes when anything stored changes
    text_hash TEXT NOT NULL,                  -- equal for byte-identical bodies (duplicates)
    indexed_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS articles_text_hash ON articles(text_hash);
CREATE INDEX IF NOT EXISTS articles_published ON articles(published);
CREATE INDEX IF NOT EXISTS articles_author ON articles(author COLLATE NOCASE);
CREATE INDEX IF NOT EXISTS articles_source ON articles(source);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,                   -- also the FAISS id
    article_id TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    char_start INTEGER NOT NULL, char_end INTEGER NOT NULL,
    para_start INTEGER NOT NULL, para_end INTEGER NOT NULL,
    n_tokens INTEGER NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_article ON chunks(article_id, ordinal);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    text, title, tokenize = 'porter unicode61 remove_diacritics 2'
);
""" + NEAR_DUPLICATE_SCHEMA     # indexes built before near-duplicates lack these tables: they still open


class IndexStoreError(RuntimeError):
    """Base for index problems; the message says what is wrong and what to do."""


class IndexNotFound(IndexStoreError):
    pass


class CorruptIndex(IndexStoreError):
    pass


class IndexBusy(IndexStoreError):
    pass


class ModelMismatch(IndexStoreError):
    pass


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def current_version_dir(index_dir: Path) -> Path:
    """The published version folder, or IndexNotFound."""
    index_dir = Path(index_dir)
    pointer = index_dir / CURRENT
    try:
        name = pointer.read_text().strip()
    except FileNotFoundError:
        raise IndexNotFound(f"no index at {index_dir}: build one with `edsearch index SOURCE --index {index_dir}`")
    except OSError as exc:
        raise CorruptIndex(f"cannot read {pointer}: {exc}")
    version = index_dir / name
    if not name or "/" in name or not version.is_dir():
        raise CorruptIndex(f"{pointer} names {name!r}, which is not a version folder; rebuild the index")
    return version


def read_manifest(version_dir: Path) -> dict:
    path = Path(version_dir) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise CorruptIndex(f"{path} is missing; rebuild the index")
    except (OSError, ValueError) as exc:
        raise CorruptIndex(f"{path} is not valid JSON ({exc}); rebuild the index")
    if manifest.get("format") != FORMAT or not isinstance(manifest.get("format_version"), int):
        raise CorruptIndex(f"{path} is not an edsearch manifest; rebuild the index")
    if manifest["format_version"] > FORMAT_VERSION:
        raise CorruptIndex(f"index format {manifest['format_version']} is newer than this edsearch "
                           f"(reads up to {FORMAT_VERSION}); upgrade edsearch")
    return manifest


def connect(path: Path, readonly: bool) -> sqlite3.Connection:
    if readonly:
        # A published version never changes: immutable skips locking entirely.
        conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True, check_same_thread=False)
    else:
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.execute("PRAGMA synchronous = NORMAL")
    conn.row_factory = sqlite3.Row
    return conn


def _article_row(row: sqlite3.Row) -> dict:
    d = dict(row)
    d["tags"] = json.loads(d.get("tags") or "[]")
    if "paragraphs" in d:
        d["paragraphs"] = json.loads(d["paragraphs"])
    return d


def _check_db_size(path: Path) -> None:
    """A truncated SQLite file can still open and count rows: its size must be the header's page count x size."""
    with open(path, "rb") as fh:
        header = fh.read(100)
        size = os.fstat(fh.fileno()).st_size
    if len(header) < 100 or not header.startswith(b"SQLite format 3\x00"):
        raise CorruptIndex(f"{path} is not an SQLite database (truncated or overwritten); rebuild the index")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    if pages and header[24:28] == header[92:96] and size != pages * page_size:
        raise CorruptIndex(f"{path} is {size} bytes but its header says {pages} pages of {page_size} "
                           f"({pages * page_size} bytes): the file is truncated or damaged; rebuild the index")


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


@dataclass
class Filters:
    """Restrictions on which articles may match; every field is optional."""

    author: str | None = None
    section: str | None = None
    tag: str | None = None
    source: str | None = None           # substring of the source path
    published_from: str | None = None   # ISO date, inclusive
    published_to: str | None = None     # ISO date, inclusive
    article_ids: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return any([self.author, self.section, self.tag, self.source, self.published_from,
                    self.published_to, self.article_ids])

    def where(self, alias: str = "a") -> tuple[str, list]:
        """SQL condition over the articles table (bound parameters only)."""
        clauses, params = [], []
        if self.author:
            clauses.append(f"{alias}.author = ? COLLATE NOCASE")
            params.append(self.author)
        if self.section:
            clauses.append(f"{alias}.section = ? COLLATE NOCASE")
            params.append(self.section)
        if self.tag:
            clauses.append(f"EXISTS (SELECT 1 FROM json_each({alias}.tags) WHERE lower(value) = lower(?))")
            params.append(self.tag)
        if self.source:
            clauses.append(f"instr({alias}.source, ?) > 0")
            params.append(self.source)
        if self.published_from:
            clauses.append(f"{alias}.published >= ?")
            params.append(self.published_from)
        if self.published_to:
            clauses.append(f"{alias}.published <= ?")
            params.append(self.published_to)
        if self.article_ids:
            clauses.append(f"{alias}.id IN ({','.join('?' * len(self.article_ids))})")
            params.extend(self.article_ids)
        return (" AND ".join(clauses) or "1"), params


class IndexReader:
    """A published index version, opened for reading; safe to share between threads. `ef_search` (HNSW only):
    the search depth to use instead of the one saved with the index (0 keeps it)."""

    def __init__(self, index_dir: str | Path, ef_search: int = 0):
        self.index_dir = Path(index_dir)
        self.version_dir = current_version_dir(self.index_dir)
        self.manifest = read_manifest(self.version_dir)
        db_path = self.version_dir / DATABASE
        if not db_path.is_file():
            raise CorruptIndex(f"{db_path} is missing; rebuild the index")
        _check_db_size(db_path)
        self._db_path = db_path
        self._local = threading.local()
        self._doc_freqs: dict[tuple[str, int], int] = {}   # doc_freq memo (this version never changes)
        self._has_groups: bool | None = None
        try:
            self.vectors = VectorIndex.load(self.version_dir / VECTORS)
        except Exception as exc:  # faiss raises RuntimeError with C++ text
            raise CorruptIndex(f"{self.version_dir / VECTORS} cannot be read ({str(exc).splitlines()[0][:200]}); "
                               "rebuild the index") from exc
        if ef_search and hasattr(self.vectors, "ef_search"):     # a query-time knob: applies without a rebuild
            self.vectors.ef_search = ef_search
        counts = self.manifest.get("counts", {})
        try:
            n_chunks = self.db.execute("SELECT count(*) FROM chunks").fetchone()[0]
            n_articles = self.db.execute("SELECT count(*) FROM articles").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise CorruptIndex(f"{db_path} is not a readable SQLite database ({exc}); rebuild the index") from exc
        if (n_chunks, n_articles, len(self.vectors)) != (counts.get("chunks"), counts.get("articles"), counts.get("vectors")):
            raise CorruptIndex(
                f"{self.version_dir} is inconsistent: manifest says {counts}, files hold {n_articles} articles, "
                f"{n_chunks} chunks, {len(self.vectors)} vectors; rebuild the index")

    @property
    def db(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self._db_path, readonly=True)
        return conn

    @property
    def version(self) -> int:
        return int(self.manifest["index_version"])

    def article(self, article_id: str) -> dict | None:
        row = self.db.execute("SELECT * FROM articles WHERE id = ?", (article_id,)).fetchone()
        return _article_row(row) if row else None

    @property
    def has_groups(self) -> bool:
        """Whether this version stores near-duplicate groups (indexes built before them do not)."""
        if self._has_groups is None:
            self._has_groups = self.db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'article_groups'").fetchone() is not None
        return self._has_groups

    def articles(self, ids: Iterable[str], with_text: bool = False) -> dict[str, dict]:
        """Article rows by id: every column with_text, else only what ranking needs (id, published, text_hash,
        and group_id: the near-duplicate group, None for an article in none or in an index without groups)."""
        ids = list(dict.fromkeys(ids))
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        if with_text:
            rows = self.db.execute(f"SELECT * FROM articles WHERE id IN ({marks})", ids)
            return {r["id"]: _article_row(r) for r in rows}
        group = ("g.group_id FROM articles a LEFT JOIN article_groups g ON g.article_id = a.id" if self.has_groups
                 else "NULL AS group_id FROM articles a")
        rows = self.db.execute(f"SELECT a.id, a.published, a.text_hash, {group} WHERE a.id IN ({marks})", ids)
        return {r["id"]: dict(r) for r in rows}

    def near_duplicates(self, article_ids: Iterable[str]) -> dict[str, list[str]]:
        """article id -> the other members of its near-duplicate group (byte-identical ones included), by id;
        only for articles in a group, and {} for an index built before groups were stored."""
        ids = list(set(article_ids))
        if not ids or not self.has_groups:
            return {}
        rows = self.db.execute(
            "SELECT g.article_id AS id, o.article_id AS other FROM article_groups g JOIN article_groups o "
            f"ON o.group_id = g.group_id AND o.article_id != g.article_id WHERE g.article_id IN "
            f"({','.join('?' * len(ids))}) ORDER BY o.article_id", ids)
        out: dict[str, list[str]] = {}
        for r in rows:
            out.setdefault(r["id"], []).append(r["other"])
        return out

    def chunks(self, ids: Iterable[int]) -> dict[int, dict]:
        """Where each chunk sits (article, span, paragraphs); its text is a slice of the article's."""
        ids = [int(i) for i in ids]
        if not ids:
            return {}
        rows = self.db.execute("SELECT id, article_id, ordinal, char_start, char_end, para_start, para_end "
                               f"FROM chunks WHERE id IN ({','.join('?' * len(ids))})", ids)
        return {r["id"]: dict(r) for r in rows}

    def duplicates(self, text_hashes: Iterable[str]) -> dict[str, list[str]]:
        """text_hash -> all article ids with that exact body, for the hashes shared by 2+ articles."""
        hashes = list(set(text_hashes))
        if not hashes:
            return {}
        rows = self.db.execute(
            f"SELECT text_hash, id FROM articles WHERE text_hash IN ({','.join('?' * len(hashes))}) ORDER BY id",
            hashes)
        out: dict[str, list[str]] = {}
        for r in rows:
            out.setdefault(r["text_hash"], []).append(r["id"])
        return {h: ids for h, ids in out.items() if len(ids) > 1}

    def allowed_chunk_ids(self, filters: Filters) -> np.ndarray:
        where, params = filters.where("a")
        rows = self.db.execute(
            f"SELECT c.id FROM chunks c JOIN articles a ON a.id = c.article_id WHERE {where}", params)
        return np.fromiter((r[0] for r in rows), dtype=np.int64)

    def keyword(self, fts_query: str, limit: int, filters: Filters | None = None) -> list[tuple[int, float]]:
        """(chunk id, bm25 score, higher is better) for an FTS5 MATCH expression, best first."""
        where, params = (filters or Filters()).where("a")
        join = "" if not filters else "JOIN chunks c ON c.id = f.rowid JOIN articles a ON a.id = c.article_id"
        sql = (f"SELECT f.rowid, -bm25(chunks_fts, 1.0, 0.3) AS score FROM chunks_fts f {join} "
               f"WHERE chunks_fts MATCH ? AND {where} ORDER BY bm25(chunks_fts, 1.0, 0.3) LIMIT ?")
        return [(r[0], r[1]) for r in self.db.execute(sql, [fts_query, *params, limit])]

    def doc_freq(self, fts_query: str, cap: int = 5000) -> int:
        """Passages matching an FTS5 MATCH expression, counted up to `cap` (enough to tell rare from common)."""
        key = (fts_query, cap)
        if key not in self._doc_freqs:
            if len(self._doc_freqs) > 100_000:      # a version's reader lives long: keep the memo bounded
                self._doc_freqs.clear()
            sql = "SELECT count(*) FROM (SELECT 1 FROM chunks_fts WHERE chunks_fts MATCH ? LIMIT ?)"
            self._doc_freqs[key] = int(self.db.execute(sql, [fts_query, cap]).fetchone()[0])
        return self._doc_freqs[key]

    def facets(self) -> dict:
        """Values a search page offers as filters."""
        db = self.db
        authors = [r[0] for r in db.execute(
            "SELECT author FROM articles WHERE author IS NOT NULL GROUP BY author ORDER BY count(*) DESC LIMIT 200")]
        sections = [r[0] for r in db.execute(
            "SELECT section FROM articles WHERE section IS NOT NULL GROUP BY section ORDER BY count(*) DESC LIMIT 200")]
        lo, hi = db.execute("SELECT min(published), max(published) FROM articles").fetchone()
        return {"authors": authors, "sections": sections, "published_min": lo, "published_max": hi}


class IndexWriter:
    """Stages a new version next to the published one and publishes it atomically.

    Usage: `with IndexWriter(dir) as w: ...; w.publish(manifest)`; leaving the block without publishing (an
    exception, Ctrl-C) discards the staging folder; kill -9 leaves it for the next build to remove."""

    def __init__(self, index_dir: str | Path, settings=None, vector_policy: VectorPolicy | None = None):
        self.index_dir = Path(index_dir)
        if vector_policy is None:
            from .config import Settings

            vector_policy = VectorPolicy.from_settings(settings or Settings.from_env())
        self.vector_policy = vector_policy     # which vector index type publish() writes (indexer/vectors.py)
        self.previous: Path | None = None
        self.previous_manifest: dict | None = None
        self.published: Path | None = None

    # -- lifecycle --
    def __enter__(self) -> "IndexWriter":
        try:
            self.index_dir.mkdir(parents=True, exist_ok=True)
            self._lock = open(self.index_dir / ".lock", "w")
        except OSError as exc:
            raise IndexStoreError(f"cannot create the index folder {self.index_dir}: {exc.strerror or exc}") from exc
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise IndexBusy(f"another build is writing {self.index_dir}; wait for it to finish")
        for stale in self.index_dir.glob(".staging-*"):
            shutil.rmtree(stale, ignore_errors=True)
        try:
            self.previous = current_version_dir(self.index_dir)
            self.previous_manifest = read_manifest(self.previous)
        except IndexNotFound:
            self.previous = None
        self.staging = self.index_dir / f".staging-{uuid.uuid4().hex[:12]}"
        self.staging.mkdir()
        try:
            self.db = connect(self.staging / DATABASE, readonly=False)
            if self.previous is not None:
                src = sqlite3.connect(f"file:{self.previous / DATABASE}?mode=ro", uri=True)
                src.backup(self.db)
                src.close()
                self.vectors = VectorIndex.load(self.previous / VECTORS)
            self.db.executescript(SCHEMA)
        except BaseException as exc:
            self._discard()
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            if clear := _write_failure(exc, self.index_dir):
                raise clear from exc
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.published is None:
            self._discard()
        fcntl.flock(self._lock, fcntl.LOCK_UN)
        self._lock.close()
        if exc is not None and self.published is None and (clear := _write_failure(exc, self.index_dir)):
            raise clear from exc

    def _discard(self) -> None:
        try:
            self.db.close()
        except Exception:
            pass
        shutil.rmtree(self.staging, ignore_errors=True)

    def init_vectors(self, dim: int) -> None:
        if not hasattr(self, "vectors"):
            self.vectors = VectorIndex(dim)

    # -- reading what is there --
    def existing(self) -> dict[str, tuple[str, str]]:
        """article id -> (content_hash, source) of what the previous version holds."""
        return {r[0]: (r[1], r[2]) for r in self.db.execute("SELECT id, content_hash, source FROM articles")}

    def stored_articles(self, ids: Iterable[str]) -> Iterator[Article]:
        """The articles with these ids as the previous version stores them (to embed them again)."""
        fields = ("id", "title", "text", "author", "published", "url", "section", "publication", "source")
        for art_id in ids:
            row = self.db.execute(f"SELECT {', '.join(fields)}, tags FROM articles WHERE id = ?", (art_id,)).fetchone()
            if row is not None:
                yield Article(**{f: row[f] for f in fields}, tags=json.loads(row["tags"] or "[]"))

    # -- changes --
    def remove_articles(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        for i in range(0, len(ids), 500):
            part = ids[i:i + 500]
            marks = ",".join("?" * len(part))
            chunk_ids = [r[0] for r in self.db.execute(f"SELECT id FROM chunks WHERE article_id IN ({marks})", part)]
            self.vectors.remove(chunk_ids)
            self.db.executemany("DELETE FROM chunks_fts WHERE rowid = ?", [(c,) for c in chunk_ids])
            self.db.execute(f"DELETE FROM chunks WHERE article_id IN ({marks})", part)
            # LSH bands are keyed for lookup by band, not by article (half the size): this scans them once a batch.
            self.db.execute(f"DELETE FROM minhash_bands WHERE article_id IN ({marks})", part)
            self.db.execute(f"DELETE FROM articles WHERE id IN ({marks})", part)

    def add_articles(self, batch: list[tuple[Article, list[Chunk]]], vectors: np.ndarray) -> None:
        """Insert articles with their chunks; `vectors` holds one row per chunk, in order."""
        now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        self.db.executemany(
            "INSERT INTO articles (id, title, text, author, published, url, section, publication, tags, "
            "paragraphs, source, content_hash, text_hash, indexed_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [(a.id, a.title, a.text, a.author, a.published, a.url, a.section, a.publication,
              json.dumps(a.tags, ensure_ascii=False), json.dumps(a.paragraphs), a.source, a.content_hash,
              a.text_hash, now) for a, _ in batch])
        ids = []
        fts = []
        for a, chunks in batch:
            for c in chunks:
                cur = self.db.execute(
                    "INSERT INTO chunks (article_id, ordinal, char_start, char_end, para_start, para_end, n_tokens,"
                    " text) VALUES (?,?,?,?,?,?,?,?)",
                    (a.id, c.ordinal, c.char_start, c.char_end, c.para_start, c.para_end, c.n_tokens, c.text))
                ids.append(cur.lastrowid)
                fts.append((cur.lastrowid, c.text, a.title))
        self.db.executemany("INSERT INTO chunks_fts (rowid, text, title) VALUES (?,?,?)", fts)
        self.vectors.add(np.asarray(ids, dtype=np.int64), vectors)

    def counts(self) -> dict:
        n_articles = self.db.execute("SELECT count(*) FROM articles").fetchone()[0]
        n_chunks = self.db.execute("SELECT count(*) FROM chunks").fetchone()[0]
        return {"articles": n_articles, "chunks": n_chunks, "vectors": len(self.vectors)}

    # -- publishing --
    def publish(self, manifest: dict) -> Path:
        """Write everything into the staging folder, then switch CURRENT to it in one atomic rename."""
        self.db.commit()
        # The vector index type follows the size (flat -> hnsw ...) and HNSW tombstones get compacted here.
        self.vectors = self.vectors.converted(self.vector_policy)
        counts = self.counts()              # "vectors" counts live vectors, as IndexReader checks
        self.db.execute("PRAGMA optimize")
        self.db.close()
        vector_files = self.vectors.save(self.staging / VECTORS)
        version = (self.previous_manifest or {}).get("index_version", 0) + 1
        while (self.index_dir / f"v{version:06d}").exists():
            version += 1
        manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "index_version": version,
                    "built_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                    **manifest, "vectors": self.vectors.describe(), "counts": counts,
                    "files": {"vectors": VECTORS, "database": DATABASE}}
        (self.staging / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
        for name in {DATABASE, MANIFEST, *(p.name for p in vector_files)}:
            _fsync(self.staging / name)
        final = self.index_dir / f"v{version:06d}"
        os.rename(self.staging, final)
        _fsync(self.index_dir)
        tmp = self.index_dir / f".{CURRENT}.{uuid.uuid4().hex[:8]}"
        tmp.write_text(final.name + "\n")
        _fsync(tmp)
        os.replace(tmp, self.index_dir / CURRENT)
        _fsync(self.index_dir)
        self.published = final
        self._collect_old(keep={final.name, self.previous.name if self.previous else ""})
        return final

    def _collect_old(self, keep: set[str]) -> None:
        """Remove versions older than the last KEEP_VERSIONS, once they were superseded SUPERSEDED_GRACE_SECONDS
        ago: a server still answering from one (it polls CURRENT) gets time to move on first."""
        versions = sorted(p for p in self.index_dir.glob("v[0-9]*") if p.is_dir())
        now = time.time()
        for old, newer in zip(versions[:-KEEP_VERSIONS], versions[1:]):
            try:
                superseded_for = now - newer.stat().st_mtime   # the newer folder's files were written at publish
            except OSError:
                continue
            if old.name not in keep and superseded_for >= SUPERSEDED_GRACE_SECONDS:
                shutil.rmtree(old, ignore_errors=True)


def iter_versions(index_dir: Path) -> Iterator[Path]:
    yield from sorted(p for p in Path(index_dir).glob("v[0-9]*") if p.is_dir())
