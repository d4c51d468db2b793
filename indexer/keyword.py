"""The keyword engine: BM25 over SQLite FTS5 (table chunks_fts in the index database), its query syntax and plans.

One FTS5 table holds every live passage (rowid = chunk id, columns text and title), so BM25 statistics are
global: a passage scores the same whichever vector segment holds it. FTS5 keeps its own inverted index in
segments that it merges incrementally as rows are written (Lucene's design inside SQLite), so a build that adds
100 passages writes about what those passages take, not the index.

Bounded work at scale: FTS5 scores each matching row with bm25() and has no early termination, and bm25() also
counts, per query word, every passage holding it (its idf), so an any-term (OR) query of common words at 1M
passages scores hundreds of thousands of rows. Up to `all_terms_above` passages (100k) search is exact any-term
BM25. Above it, candidates come from word subsets in order of their summed idf (all the words first, then
without the most common one, ...; each an AND query), and each subset's query reads only a window of the newest
passages (rowids grow with indexing time) sized to hold about SCORE_AT_MOST of its matches, as estimated from how
many the newest PROBE passages hold; FTS5 seeks every doclist to the window's first rowid, so the rest is never
read.
Subsets stop once `enough` candidates are found. A candidate's score is the BM25 of the subset's words, which is
its any-term BM25 whenever it holds no other query word (always for the first subset). docs/scale.md has the
measured cost and the overlap with exact BM25's top 10.

That plan is for filtered and phrase queries and for indexes without keyword segments: above `all_terms_above`
an unfiltered query of words goes to the keyword segments (indexer/keyword_segments.py, Tantivy beside each vector
segment), whose top-k search stops early.
"""
from __future__ import annotations

import itertools
import math
import re
import sqlite3
from typing import TYPE_CHECKING, Iterable, Iterator, Protocol

if TYPE_CHECKING:
    from .keyword_segments import KeywordSegments

SCHEMA = """
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    text, title, tokenize = 'porter unicode61 remove_diacritics 2'
);
"""
BM25 = "bm25(chunks_fts, 1.0, 0.3)"     # the title counts 0.3 of the passage text
MAX_WORDS = 8            # the rarest words of a long query gather its candidates
MAX_QUERIES = 12         # subsets tried at most
SCORE_AT_MOST = 2000     # matches a subset's query is meant to score: those in a window of the newest passages
PROBE = 20_000           # newest passages counted to size a subset's window

STOPWORDS = frozenset("""a an and are as at be been but by can could did do does for from had has have he her his how
i if in into is it its me my no not of on or our she should so than that the their them then there these they this
to was we were what when where which who whom why will with would you your about after also any more most over such
up""".split())

WORD = re.compile(r"\w+", re.UNICODE)
PHRASE = re.compile(r'"([^"]+)"')


def terms(text: str) -> list[str]:
    """Content words of the text, lowercased, in order, without duplicates."""
    words = [w.lower() for w in WORD.findall(text)]
    return list(dict.fromkeys(w for w in words if w not in STOPWORDS and (len(w) > 1 or w.isdigit())))


def _quote(words: Iterable[str]) -> str:
    return '"' + " ".join(words) + '"'


def parse(text: str) -> tuple[list[str], list[str]]:
    """(required phrases as FTS5 strings, optional words as FTS5 strings). Every word is quoted, so no user
    input can be FTS5 syntax."""
    phrases = [[w.lower() for w in WORD.findall(p)] for p in PHRASE.findall(text)]
    phrases = [p for p in phrases if p]
    rest = terms(PHRASE.sub(" ", text))
    if not rest and not phrases:
        rest = list(dict.fromkeys(w.lower() for w in WORD.findall(text)))  # a query of stopwords only
    return [_quote(p) for p in phrases], [_quote([w]) for w in rest]


def _expression(phrases: list[str], groups: list[tuple[str, ...]]) -> str | None:
    """Phrases AND-ed, then any one of the groups (each group's words AND-ed)."""
    parts = list(phrases)
    if groups:
        ors = " OR ".join(" AND ".join(g) if len(g) == 1 else "(" + " AND ".join(g) + ")" for g in groups)
        parts.append(f"({ors})" if phrases or len(groups) > 1 else ors)
    return " AND ".join(parts) if parts else None


def fts_query(text: str, require_all: bool = False) -> str | None:
    """An FTS5 MATCH expression: quoted phrases are required, other words are OR-ed (ranked by BM25), or AND-ed
    with `require_all`; None when nothing is left."""
    phrases, words = parse(text)
    if require_all:
        return _expression(phrases + words, [])
    return _expression(phrases, [(w,) for w in words])


class Filter(Protocol):
    def where(self, alias: str = "a") -> tuple[str, list]: ...


class KeywordIndex:
    """BM25 keyword search over one database connection (a reader's snapshot or the writer's transaction).

    `passages` is how many the index holds (it picks the plan); `doc_freqs` a memo the caller may share between
    connections of one snapshot; `segments` the snapshot's keyword segments, if it has them."""

    def __init__(self, db: sqlite3.Connection, passages: int = 0, all_terms_above: int = 100_000,
                 doc_freqs: dict | None = None, segments: "KeywordSegments | None" = None):
        self.db = db
        self.passages = passages
        self.all_terms_above = all_terms_above
        self._doc_freqs = doc_freqs if doc_freqs is not None else {}
        self.segments = segments

    # -- writing --
    def add(self, rows: Iterable[tuple[int, str, str]]) -> None:
        """(chunk id, passage text, article title) rows."""
        self.db.executemany("INSERT INTO chunks_fts (rowid, text, title) VALUES (?,?,?)", rows)

    def remove(self, chunk_ids: Iterable[int]) -> None:
        self.db.executemany("DELETE FROM chunks_fts WHERE rowid = ?", [(int(c),) for c in chunk_ids])

    def optimize(self) -> None:
        """Merge FTS5's own segments into one (what `edsearch optimize` does besides the vectors)."""
        self.db.execute("INSERT INTO chunks_fts (chunks_fts) VALUES ('optimize')")

    # -- statistics --
    def doc_freq(self, text: str, cap: int = 5000) -> int:
        """Passages matching the words of `text` (all of them), counted up to `cap` (enough to tell rare from
        common)."""
        expr = fts_query(text, require_all=True)
        if not expr:
            return 0
        key = (expr, cap)
        if key not in self._doc_freqs:
            if len(self._doc_freqs) > 100_000:      # a snapshot's memo lives long: keep it bounded
                self._doc_freqs.clear()
            sql = "SELECT count(*) FROM (SELECT 1 FROM chunks_fts WHERE chunks_fts MATCH ? LIMIT ?)"
            self._doc_freqs[key] = int(self.db.execute(sql, [expr, cap]).fetchone()[0])
        return self._doc_freqs[key]

    def idf(self, word: str) -> float:
        """BM25's inverse document frequency of a word (passages as documents)."""
        df = self.doc_freq(word)
        return float(math.log((self.passages - df + 0.5) / (df + 0.5) + 1.0))

    # -- searching --
    def _run(self, expr: str, limit: int, filters: Filter | None, rowids: list[int] | None = None,
             min_rowid: int | None = None) -> list[tuple[int, float]]:
        where, params = filters.where("a") if filters else ("1", [])
        join = "JOIN chunks c ON c.id = f.rowid JOIN articles a ON a.id = c.article_id" if filters else ""
        if rowids is not None:
            where += f" AND f.rowid IN ({','.join('?' * len(rowids))})"
            params = [*params, *rowids]
        if min_rowid is not None:
            where += " AND f.rowid >= ?"
            params = [*params, min_rowid]
        sql = (f"SELECT f.rowid, -{BM25} AS score FROM chunks_fts f {join} "
               f"WHERE chunks_fts MATCH ? AND {where} ORDER BY {BM25}, f.rowid LIMIT ?")
        return [(r[0], r[1]) for r in self.db.execute(sql, [expr, *params, limit])]

    def search(self, text: str, k: int, filters: Filter | None = None, enough: int | None = None
               ) -> list[tuple[int, float]]:
        """(chunk id, BM25 score, higher is better), best first, at most k. Quoted phrases must match; the other
        words any-term. `enough`: how many candidates the caller needs to rank well (k by default); above
        `all_terms_above` passages an unfiltered query of words is the keyword segments' top k, other queries'
        candidates are gathered by word subsets, newest first, and stop once there are that many (the module
        doc)."""
        phrases, words = parse(text)
        exact = _expression(phrases, [(w,) for w in words])
        if exact is None or k <= 0:
            return []
        if self.passages <= self.all_terms_above:
            return self._run(exact, k, filters)
        if self.segments is not None and not phrases and not filters:
            return self.segments.search([w.strip('"') for w in words], k)
        enough = k if enough is None else enough
        top = self.db.execute("SELECT max(rowid) FROM chunks_fts").fetchone()[0] or 0
        found: dict[int, float] = {}
        for subset in self._subsets(words) if words else [()]:
            expr = _expression(phrases + list(subset), [])
            # A window of the newest passages expected to hold about SCORE_AT_MOST matches, from how many the
            # newest PROBE passages hold: FTS5 seeks every doclist to a window's first rowid, so only the window
            # is read.
            span = min(PROBE, top)
            probe = self.db.execute("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ? AND rowid > ?",
                                    [expr, top - span]).fetchone()[0]
            window = int(SCORE_AT_MOST * span / probe) if probe else top
            for cid, score in self._run(expr, k, filters, min_rowid=top - window if window < top else None):
                found.setdefault(cid, score)
            if len(found) >= enough:
                break
        return sorted(found.items(), key=lambda p: (-p[1], p[0]))[:k]

    def _subsets(self, words: list[str]) -> Iterator[tuple[str, ...]]:
        """Subsets of the words, most informative first: by the sum of their idf (about the BM25 a passage
        holding just those words gets), so passages holding the rare words come before those holding only
        common ones. The MAX_WORDS rarest words take part, in at most MAX_QUERIES subsets."""
        idf = {w: self.idf(w) for w in words}
        rare = sorted(words, key=lambda w: -idf[w])[:MAX_WORDS]
        subsets = [c for n in range(len(rare), 0, -1) for c in itertools.combinations(rare, n)]
        subsets.sort(key=lambda c: -sum(idf[w] for w in c))
        yield from subsets[:MAX_QUERIES]
