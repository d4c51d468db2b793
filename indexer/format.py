"""The index folder's format: file names, the database schema, commits and their manifests, errors.

    index/edsearch.db          SQLite in WAL mode: articles, passages (chunks), the keyword index (FTS5),
                               near-duplicate tables, the vector segments' register, tombstones and commits
    index/segments/seg-000007.faiss (+ .faiss.ids.npy, ...)
                               one immutable FAISS file per vector segment (indexer/vectors.py types)
    index/segments/seg-000007.keywords/
                               its passages' keyword segment, a Tantivy index (indexer/keyword_segments.py)
    index/manifest.json        the latest commit's manifest, for people to read (the database is what counts)
    index/.lock                held by the one build that may write at a time

A commit is one SQLite transaction: the rows a build changed, the segment it wrote (its file written and
fsynced first), tombstones for the passages it removed, and a row in `commits` holding the manifest. A reader
takes a snapshot (a WAL read transaction) and sees that commit or an earlier one, never a part of one
(docs/index-format.md argues the design).
"""
from __future__ import annotations

import fcntl
import json
import os
import sqlite3
from pathlib import Path

import numpy as np

from .keyword import SCHEMA as KEYWORD_SCHEMA
from .neardup import SCHEMA as NEAR_DUPLICATE_SCHEMA

FORMAT = "edsearch-index"
FORMAT_VERSION = 2
DATABASE, SEGMENTS, MANIFEST, LOCK = "edsearch.db", "segments", "manifest.json", ".lock"
FORMAT_1_POINTER = "CURRENT"        # format 1: CURRENT named a version folder holding a whole copy
RETIRED_GRACE_SECONDS = 120.0       # a segment file merged away stays this long for readers still opening it


def segment_file(name: str) -> str:
    """The segment file (seg-NNNNNN.faiss, as the segments table names it) a file of segments/ belongs to: the
    file itself, one of its sidecars (.ids.npy, .tombstones.npy, .json, .chunks.npy) or its keyword segment
    (.keywords, a folder; .keywords.tmp while it is written)."""
    return name.split(".")[0] + ".faiss"

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
CREATE INDEX IF NOT EXISTS articles_section ON articles(section COLLATE NOCASE);   -- a section filter at 1M: 380 -> 210 ms
CREATE INDEX IF NOT EXISTS articles_source ON articles(source);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,                   -- also the vector id; never reused (commits.next_chunk_id)
    article_id TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    char_start INTEGER NOT NULL, char_end INTEGER NOT NULL,
    para_start INTEGER NOT NULL, para_end INTEGER NOT NULL,
    n_tokens INTEGER NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_article ON chunks(article_id, ordinal);
CREATE TABLE IF NOT EXISTS segments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,     -- never reused: seg-<id>.faiss names one file for good
    file TEXT NOT NULL,                       -- under segments/
    kind TEXT NOT NULL,                       -- flat | hnsw | ivfpq
    vectors INTEGER NOT NULL,                 -- vectors stored in the file (live ones: minus its tombstones)
    created_gen INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tombstones (
    chunk_id INTEGER PRIMARY KEY,             -- a removed passage whose vector is still in a segment file
    segment_id INTEGER NOT NULL REFERENCES segments(id) ON DELETE CASCADE,
    gen INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS tombstones_segment ON tombstones(segment_id);
CREATE TABLE IF NOT EXISTS retired (
    file TEXT PRIMARY KEY,                    -- a segment file merged away, deleted once the grace time passed
    retired_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS commits (
    gen INTEGER PRIMARY KEY,                  -- the index version readers report
    committed_at TEXT NOT NULL,
    next_chunk_id INTEGER NOT NULL,
    manifest TEXT NOT NULL                    -- JSON, as manifest.json shows it
);
""" + KEYWORD_SCHEMA + NEAR_DUPLICATE_SCHEMA


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


class OldFormat(IndexStoreError):
    pass


def fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def is_format_1(index_dir: Path) -> bool:
    return (Path(index_dir) / FORMAT_1_POINTER).is_file() and not (Path(index_dir) / DATABASE).exists()


def connect(path: Path, write: bool = False) -> sqlite3.Connection:
    """A connection in manual transaction mode (isolation_level None): the writer and the reader's snapshots
    say BEGIN themselves. Readers open the file read-write (WAL needs its shared-memory file) but query_only."""
    if write:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")      # a commit is durable once COMMIT returns
        conn.execute("PRAGMA foreign_keys = ON")
    else:
        conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, isolation_level=None, check_same_thread=False,
                               timeout=30)
        conn.execute("PRAGMA query_only = 1")
    conn.row_factory = sqlite3.Row
    return conn


def build_running(index_dir: Path) -> bool:
    """Whether a build holds the index's lock (its .lock file, flocked by IndexWriter; not the database file, which
    only SQLite opens)."""
    try:
        fd = os.open(Path(index_dir) / LOCK, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)          # closing drops our shared lock, if we took it
    return False


def check_db_file(path: Path, db: sqlite3.Connection) -> None:
    """A truncated SQLite file can still open and count rows: its size must be the page count x page size.

    Checked through SQLite and os.stat only, never by opening the file: closing any descriptor of a file drops
    every POSIX lock this process holds on it, including those of its other SQLite connections, which can let
    another process reset the write-ahead log under them. Only checked while the log is empty (a checkpoint in
    progress may be growing the file)."""
    size = path.stat().st_size
    if size == 0:
        raise CorruptIndex(f"{path} is not an SQLite database (0 bytes); rebuild the index")
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        return
    try:
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        what = "not an SQLite database" if "not a database" in str(exc) else f"{size} bytes: truncated or damaged"
        raise CorruptIndex(f"{path} is {what} ({exc}); rebuild the index") from exc
    if size != pages * page_size:
        raise CorruptIndex(f"{path} is {size} bytes but its header says {pages} pages of {page_size} "
                           f"({pages * page_size} bytes): the file is truncated or damaged; rebuild the index")


def parse_manifest(text: str, where: str) -> dict:
    try:
        manifest = json.loads(text)
    except ValueError as exc:
        raise CorruptIndex(f"{where} is not valid JSON ({exc}); rebuild the index")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT \
            or not isinstance(manifest.get("format_version"), int):
        raise CorruptIndex(f"{where} is not an edsearch manifest; rebuild the index")
    if manifest["format_version"] > FORMAT_VERSION:
        raise CorruptIndex(f"index format {manifest['format_version']} is newer than this edsearch "
                           f"(reads up to {FORMAT_VERSION}); upgrade edsearch")
    return manifest


def tombstones(db: sqlite3.Connection, seg_id: int) -> np.ndarray:
    """The chunk ids removed from a segment since it was written, sorted."""
    return np.array([r[0] for r in db.execute("SELECT chunk_id FROM tombstones WHERE segment_id = ? ORDER BY chunk_id",
                                              (seg_id,))], dtype=np.int64)


def latest_commit(db: sqlite3.Connection, index_dir: Path) -> tuple[int, int, dict] | None:
    """(generation, next chunk id, manifest) of the newest commit, or None when nothing was ever committed."""
    row = db.execute("SELECT gen, next_chunk_id, manifest FROM commits ORDER BY gen DESC LIMIT 1").fetchone()
    if row is None:
        return None
    return row[0], row[1], parse_manifest(row[2], f"the manifest of commit {row[0]} in {index_dir / DATABASE}")


def database_path(index_dir: Path) -> Path:
    """The index's database, or IndexNotFound / OldFormat saying what to do."""
    index_dir = Path(index_dir)
    path = index_dir / DATABASE
    if path.is_file():
        return path
    if is_format_1(index_dir):
        raise OldFormat(f"the index at {index_dir} was written by an older edsearch (format 1, whole copies per "
                        f"version); upgrade it in place with `edsearch optimize --index {index_dir}` (any build "
                        "into it upgrades it too)")
    raise IndexNotFound(f"no index at {index_dir}: build one with `edsearch index SOURCE --index {index_dir}`")
