"""Open a published index: one commit, seen through a snapshot, with typed rows and filters."""
from __future__ import annotations

import functools
import json
import queue
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from .format import (SEGMENTS, CorruptIndex, IndexNotFound, build_running, check_db_file, connect, database_path,
                     latest_commit, tombstones)
from .keyword import KeywordIndex
from .keyword_segments import KeywordSegments
from .vectors import SegmentedVectors, VectorIndex


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

    def __post_init__(self):
        if isinstance(self.article_ids, str):        # one id, not its characters
            self.article_ids = [self.article_ids]

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


@dataclass(frozen=True)
class StoredChunk:
    """Where a passage sits in its article: its text is article.text[char_start:char_end]."""

    id: int
    article_id: str
    ordinal: int
    char_start: int
    char_end: int
    para_start: int         # 1-based, inclusive
    para_end: int
    # Of its article, what ranking needs (duplicates, recency) without loading the article's row.
    text_hash: str = ""
    group_id: str | None = None
    published: str | None = None


@dataclass
class StoredArticle:
    """An article as the index stores it. `text` and `paragraphs` are filled when asked for (with_text)."""

    id: str
    title: str
    author: str | None
    published: str | None
    url: str | None
    section: str | None
    publication: str | None
    tags: list[str]
    source: str
    content_hash: str
    text_hash: str
    indexed_at: str
    group_id: str | None = None         # its near-duplicate group, None when in none
    text: str | None = None
    paragraphs: list[tuple[int, int]] | None = None


_ARTICLE_COLUMNS = ("id", "title", "author", "published", "url", "section", "publication", "tags", "source",
                    "content_hash", "text_hash", "indexed_at")


def _article(row: tuple, with_text: bool) -> StoredArticle:
    """A row of `_ARTICLE_COLUMNS`, group_id (then text, paragraphs with_text), as plain tuples: building
    sqlite3.Row mappings cost a search at 1M passages about a millisecond."""
    art = StoredArticle(*row[:7], json.loads(row[7] or "[]"), *row[8:13])
    if with_text:
        art.text, art.paragraphs = row[13], [tuple(p) for p in json.loads(row[14])]
    return art


class IndexReader:
    """The latest commit of an index folder, opened for reading; safe to share between threads.

    Every read goes through one of `connections` SQLite connections that all hold a read transaction on the
    same snapshot, so the rows, the keyword index and the vector segments (loaded at open) are those of one
    commit for as long as this reader lives, whatever builds publish meanwhile. `ef_search` (HNSW segments):
    the search depth to use instead of the one saved with the index (0 keeps it)."""

    def __init__(self, index_dir: str | Path, ef_search: int = 0, connections: int = 4,
                 keyword_all_terms_above: int = 100_000):
        self.index_dir = Path(index_dir)
        self.db_path = database_path(self.index_dir)
        if build_running(self.index_dir) and published_version(self.index_dir) is None:
            # the first build has created the database (empty, or without its tables yet) and not committed
            raise IndexNotFound(f"no index at {self.index_dir} yet: the first build is writing it")
        try:
            probe = connect(self.db_path)
            try:
                check_db_file(self.db_path, probe)      # before any table is read: a clear message
            finally:
                probe.close()
            self._conns = self._snapshot(max(1, connections))
            commit = latest_commit(self._conns[0], self.index_dir)
            if commit is None:
                raise IndexNotFound(f"no index at {self.index_dir} yet (no build has published): build one with "
                                    f"`edsearch index SOURCE --index {self.index_dir}`")
            self.version, _, self.manifest = commit
            self.vectors = self._load_segments(ef_search)
            self._check_counts()
            # Only an index big enough to leave FTS5's exact plan searches them (indexer/keyword.py).
            self.keyword_segments = KeywordSegments.open(self._conns[0], self.index_dir) \
                if self.passages > keyword_all_terms_above else None
        except sqlite3.DatabaseError as exc:
            kind = "an SQLite database" if "not a database" in str(exc) else "a readable SQLite database"
            raise CorruptIndex(f"{self.db_path} is not {kind} ({exc}); rebuild the index") from exc
        self._pool: queue.LifoQueue = queue.LifoQueue()
        for conn in self._conns:
            self._pool.put(conn)
        self._doc_freqs: dict = {}
        self.keyword_all_terms_above = keyword_all_terms_above

    def _snapshot(self, n: int) -> list[sqlite3.Connection]:
        """n connections inside read transactions on the same commit (retried if a commit lands meanwhile)."""
        for _ in range(50):
            conns = [connect(self.db_path) for _ in range(n)]
            gens = []
            for conn in conns:
                conn.execute("BEGIN")
                gens.append(conn.execute("SELECT max(gen) FROM commits").fetchone()[0])
            if len(set(gens)) == 1:
                return conns
            for conn in conns:
                conn.close()
            time.sleep(0.01)
        raise CorruptIndex(f"{self.db_path} kept changing while it was opened; try again")

    def _load_segments(self, ef_search: int) -> SegmentedVectors:
        db = self._conns[0]
        segments = [(seg_id, load_segment(db, self.index_dir, seg_id, file))
                    for seg_id, file in db.execute("SELECT id, file FROM segments ORDER BY id").fetchall()]
        out = SegmentedVectors(self.manifest["model"]["dim"], segments)
        if ef_search:              # a query-time knob: applies without a rebuild
            out.ef_search = ef_search
        return out

    def _check_counts(self) -> None:
        counts = self.manifest.get("counts", {})
        db = self._conns[0]
        n_chunks = db.execute("SELECT count(*) FROM chunks").fetchone()[0]
        n_articles = db.execute("SELECT count(*) FROM articles").fetchone()[0]
        if (n_chunks, n_articles, len(self.vectors)) != (counts.get("chunks"), counts.get("articles"),
                                                         counts.get("vectors")):
            raise CorruptIndex(
                f"{self.index_dir} (commit {self.version}) is inconsistent: its manifest says {counts}, the files "
                f"hold {n_articles} articles, {n_chunks} chunks, {len(self.vectors)} vectors; rebuild the index")

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """A connection on this reader's snapshot, for the duration of the block."""
        conn = self._pool.get()
        try:
            yield conn
        finally:
            self._pool.put(conn)

    @property
    def db(self) -> sqlite3.Connection:
        """A connection on the snapshot for a quick look (tests, tools); searches use `connection()`."""
        return self._conns[0]

    def close(self) -> None:
        for conn in self._conns:
            conn.close()

    @property
    def passages(self) -> int:
        return int(self.manifest["counts"]["chunks"])

    @functools.cached_property
    def dated(self) -> bool:
        """Whether any article has a published date (one look at the date index, once per snapshot)."""
        with self.connection() as db:
            return db.execute("SELECT 1 FROM articles WHERE published IS NOT NULL LIMIT 1").fetchone() is not None

    def undated(self, filters: Filters | None = None) -> int:
        """How many articles that `filters` (its dates aside) lets through have no published date: those a date
        filter leaves out."""
        where, params = replace(filters or Filters(), published_from=None, published_to=None).where("a")
        with self.connection() as db:
            return db.execute(f"SELECT count(*) FROM articles a WHERE a.published IS NULL AND {where}",
                              params).fetchone()[0]

    @contextmanager
    def keyword_index(self) -> Iterator[KeywordIndex]:
        with self.connection() as db:
            yield KeywordIndex(db, self.passages, self.keyword_all_terms_above, self._doc_freqs,
                               self.keyword_segments)

    # -- rows --
    def articles(self, ids: Iterable[str], with_text: bool = False) -> dict[str, StoredArticle]:
        """Articles by id (the text and paragraphs too with_text)."""
        ids = list(dict.fromkeys(ids))
        if not ids:
            return {}
        columns = ", ".join(f"a.{c}" for c in _ARTICLE_COLUMNS) + ", g.group_id" + (
            ", a.text, a.paragraphs" if with_text else "")
        with self.connection() as db:
            cur = db.cursor()
            cur.row_factory = None
            rows = cur.execute(f"SELECT {columns} FROM articles a LEFT JOIN article_groups g ON g.article_id = a.id "
                               f"WHERE a.id IN ({','.join('?' * len(ids))})", ids)
            return {r[0]: _article(r, with_text) for r in rows}

    def article(self, article_id: str) -> StoredArticle | None:
        return self.articles([article_id], with_text=True).get(article_id)

    def chunks(self, ids: Iterable[int]) -> dict[int, StoredChunk]:
        """Where each passage sits (article, span, paragraphs), with its article's text hash, near-duplicate
        group and date: one query where two (chunks, then whole article rows) cost a search at 1M passages
        about 1.4 ms more."""
        ids = [int(i) for i in ids]
        if not ids:
            return {}
        with self.connection() as db:
            cur = db.cursor()
            cur.row_factory = None
            rows = cur.execute("SELECT c.id, c.article_id, c.ordinal, c.char_start, c.char_end, c.para_start, "
                               "c.para_end, a.text_hash, g.group_id, a.published FROM chunks c "
                               "JOIN articles a ON a.id = c.article_id "
                               "LEFT JOIN article_groups g ON g.article_id = c.article_id "
                               f"WHERE c.id IN ({','.join('?' * len(ids))})", ids)
            return {r[0]: StoredChunk(*r) for r in rows}

    def near_duplicates(self, article_ids: Iterable[str]) -> dict[str, list[str]]:
        """article id -> the other members of its near-duplicate group (byte-identical ones included), by id;
        only for articles in a group."""
        ids = list(set(article_ids))
        if not ids:
            return {}
        out: dict[str, list[str]] = {}
        with self.connection() as db:
            for r in db.execute(
                    "SELECT g.article_id AS id, o.article_id AS other FROM article_groups g JOIN article_groups o "
                    f"ON o.group_id = g.group_id AND o.article_id != g.article_id WHERE g.article_id IN "
                    f"({','.join('?' * len(ids))}) ORDER BY o.article_id", ids):
                out.setdefault(r["id"], []).append(r["other"])
        return out

    def duplicates(self, text_hashes: Iterable[str]) -> dict[str, list[str]]:
        """text_hash -> all article ids with that exact body, for the hashes shared by 2+ articles."""
        hashes = list(set(text_hashes))
        if not hashes:
            return {}
        out: dict[str, list[str]] = {}
        with self.connection() as db:
            for r in db.execute(f"SELECT text_hash, id FROM articles WHERE text_hash IN "
                                f"({','.join('?' * len(hashes))}) ORDER BY id", hashes):
                out.setdefault(r["text_hash"], []).append(r["id"])
        return {h: ids for h, ids in out.items() if len(ids) > 1}

    def allowed_chunk_ids(self, filters: Filters) -> np.ndarray:
        where, params = filters.where("a")
        with self.connection() as db:
            rows = db.execute(f"SELECT c.id FROM chunks c JOIN articles a ON a.id = c.article_id WHERE {where}",
                              params)
            return np.fromiter((r[0] for r in rows), dtype=np.int64)

    # -- keyword search --
    def keyword(self, query: str, k: int, filters: Filters | None = None, enough: int | None = None
                ) -> list[tuple[int, float]]:
        """(chunk id, BM25 score) for a user's query, best first (indexer/keyword.py)."""
        with self.keyword_index() as kw:
            return kw.search(query, k, filters or None, enough)

    def idf(self, word: str) -> float:
        with self.keyword_index() as kw:
            return kw.idf(word)

    def facets(self) -> dict:
        """Values a search page offers as filters."""
        with self.connection() as db:
            authors = [r[0] for r in db.execute(
                "SELECT author FROM articles WHERE author IS NOT NULL GROUP BY author ORDER BY count(*) DESC "
                "LIMIT 200")]
            sections = [r[0] for r in db.execute(
                "SELECT section FROM articles WHERE section IS NOT NULL GROUP BY section ORDER BY count(*) DESC "
                "LIMIT 200")]
            tags = [r[0] for r in db.execute(     # tag filters match in any case: one entry per tag, any case
                "SELECT min(t.value) FROM articles a, json_each(a.tags) t GROUP BY lower(t.value) "
                "ORDER BY count(*) DESC LIMIT 200")]
            lo, hi = db.execute("SELECT min(published), max(published) FROM articles").fetchone()
        return {"authors": authors, "sections": sections, "tags": tags, "published_min": lo, "published_max": hi}


def load_segment(db: sqlite3.Connection, index_dir: Path, seg_id: int, file: str) -> VectorIndex:
    """A segment's vector file with the tombstones `db` records for it removed (CorruptIndex if unreadable)."""
    path = Path(index_dir) / SEGMENTS / file
    try:
        vectors = VectorIndex.load(path)
    except Exception as exc:  # faiss raises RuntimeError with C++ text
        raise CorruptIndex(f"{path} cannot be read ({str(exc).splitlines()[0][:200]}); rebuild the index") from exc
    dead = tombstones(db, seg_id)
    if len(dead):
        vectors.remove(dead)
    return vectors


def published_version(index_dir: str | Path) -> int | None:
    """The newest commit's generation (what a server compares to decide to reload), None when unreadable."""
    try:
        conn = connect(database_path(Path(index_dir)))
    except Exception:
        return None
    try:
        return conn.execute("SELECT max(gen) FROM commits").fetchone()[0]
    except sqlite3.Error:
        return None
    finally:
        conn.close()
