"""Keyword segments: a Tantivy index beside each vector segment, so that top-k keyword search of a large index
stops early (Tantivy's block-max WAND skips passages that cannot reach the k-th score) instead of scoring every
passage that holds a query word, as FTS5's bm25() does (docs/scale.md has the measurements).

    index/segments/seg-000007.keywords/    Tantivy's own files: segment 7's passages (chunk id, passage text,
                                           article title), written with the segment and never changed

FTS5 (indexer/keyword.py) stays the keyword index of record: it answers indexes of up to `all_terms_above`
passages exactly, filtered and phrase queries at any size, and document frequencies. Above that size a query of
words is answered here: each segment's top k, merged by score.

Statistics are global: each query word's score in a segment is boosted by (its idf over all segments, with FTS5's
formula) / (its idf in that segment, Tantivy's), so a passage's score does not depend on which segment holds it,
except for BM25's length normalisation, which uses its segment's average passage length (passages are chunked to
similar lengths). The title is a field of its own, weighted TITLE_WEIGHT. A segment's passages removed since it
was written (its tombstones) count in the statistics until a merge rewrites it, as Lucene's deleted documents do,
and are skipped in the results.

A folder under its final name is complete: it is written under NAME.tmp, fsynced and renamed into place.
"""
from __future__ import annotations

import math
import os
import shutil
from pathlib import Path
from typing import Iterable

import numpy as np

from .format import SEGMENTS, CorruptIndex, fsync, tombstones

SUFFIX = ".keywords"
# The title's BM25 counts 0.3 of the text's, FTS5's weight (indexer/keyword.py: there it weighs the title's term
# frequency before BM25 saturates it). Of 0.05-0.5 it ranked best on the development sets (SciFact train, the BBC
# questions; docs/scale.md), though 0.1 comes closer to FTS5's own top 10s on the synthetic 1M passages.
TITLE_WEIGHT = 0.3
_TOKENIZER = "edsearch"
_WRITER_HEAP = 128_000_000  # bytes Tantivy buffers before it writes a part of the segment


def _tantivy():
    import tantivy          # on first use: a CLI command that does not search need not load it

    return tantivy


def _analyzer():
    """Words as FTS5's unicode61 tokenizer finds them, lowercased, accents removed, stemmed (Snowball English
    here, Porter in FTS5: most words stem alike)."""
    t = _tantivy()
    return (t.TextAnalyzerBuilder(t.Tokenizer.simple()).filter(t.Filter.lowercase())
            .filter(t.Filter.ascii_fold()).filter(t.Filter.stemmer("english")).build())


def _schema():
    builder = _tantivy().SchemaBuilder()
    builder.add_text_field("text", tokenizer_name=_TOKENIZER, index_option="freq")
    builder.add_text_field("title", tokenizer_name=_TOKENIZER, index_option="freq")
    builder.add_unsigned_field("cid", fast=True)
    return builder.build()


def folder_name(segment_file: str) -> str:
    """seg-000007.faiss -> seg-000007.keywords"""
    return segment_file.removesuffix(".faiss") + SUFFIX


def write(path: Path, passages: Iterable[tuple[int, str, str]]) -> None:
    """Write (chunk id, passage text, article title) rows as the keyword segment at `path`."""
    t = _tantivy()
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    index = t.Index(_schema(), path=str(tmp))
    index.register_tokenizer(_TOKENIZER, _analyzer())
    writer = index.writer(_WRITER_HEAP, 1)      # one thread: documents in the order given, the same every time
    for cid, text, title in passages:
        doc = t.Document()
        doc.add_text("text", text)
        doc.add_text("title", title or "")
        doc.add_unsigned("cid", int(cid))
        writer.add_document(doc)
    writer.commit()
    writer.wait_merging_threads()
    for f in tmp.iterdir():
        fsync(f)
    fsync(tmp)
    os.replace(tmp, path)
    fsync(path.parent)


def _fts5_idf(df: int, total: int) -> float:
    """FTS5's bm25() idf (fts5_aux.c): log((N - n + 0.5) / (n + 0.5)), at least 1e-6."""
    idf = math.log((total - df + 0.5) / (df + 0.5))
    return idf if idf > 0 else 1e-6


def _tantivy_idf(df: int, total: int) -> float:
    """Tantivy's BM25 idf: ln(1 + (N - n + 0.5) / (n + 0.5))."""
    return math.log(1.0 + (total - df + 0.5) / (df + 0.5))


class KeywordSegments:
    """The keyword segments of one commit, open for search; safe to share between threads."""

    def __init__(self, index_dir: Path, segments: list[tuple[int, str]], dead: dict[int, np.ndarray]):
        """`dead`: each segment's tombstones, sorted (format.tombstones)."""
        t = _tantivy()
        self._segments = []
        for seg_id, file in segments:
            path = Path(index_dir) / SEGMENTS / folder_name(file)
            try:
                index = t.Index.open(str(path))
                index.register_tokenizer(_TOKENIZER, _analyzer())
                searcher = index.searcher()
            except Exception as exc:   # tantivy raises ValueError or OSError with Rust text
                raise CorruptIndex(f"{path} cannot be read ({str(exc).splitlines()[0][:200]}); rebuild the "
                                   "index") from exc
            removed = dead.get(seg_id, np.zeros(0, np.int64))
            if searcher.num_docs > len(removed):        # a segment whose passages were all removed has nothing
                self._segments.append((path, index.schema, searcher, removed))
        self._analyzer = _analyzer()
        self.total = sum(s.num_docs for _, _, s, _ in self._segments)
        self._doc_freqs: dict[tuple[str, str], list[int]] = {}

    @classmethod
    def open(cls, db, index_dir: Path) -> "KeywordSegments | None":
        """The commit's keyword segments (db: a connection on its snapshot), or None when a segment has none
        (an index written before they existed: its next build writes them)."""
        segments = [(r[0], r[1]) for r in db.execute("SELECT id, file FROM segments ORDER BY id")]
        if not all((Path(index_dir) / SEGMENTS / folder_name(f)).is_dir() for _, f in segments):
            return None
        return cls(index_dir, segments, {seg_id: tombstones(db, seg_id) for seg_id, _ in segments})

    def _stems(self, words: list[str]) -> list[str]:
        return list(dict.fromkeys(s for w in words for s in self._analyzer.analyze(w)))

    def _freqs(self, field: str, stem: str) -> list[int]:
        """Each segment's number of passages holding the stem in the field (memoised: segments never change)."""
        key = (field, stem)
        if key not in self._doc_freqs:
            if len(self._doc_freqs) > 100_000:
                self._doc_freqs.clear()
            self._doc_freqs[key] = [s.doc_freq(field, stem) for _, _, s, _ in self._segments]
        return self._doc_freqs[key]

    def search(self, words: list[str], k: int) -> list[tuple[int, float]]:
        """(chunk id, BM25 score), best first, at most k: passages holding any of the words."""
        t = _tantivy()
        stems = self._stems(words)
        if not stems or k <= 0:
            return []
        # A passage holds a word if its text or its title does: FTS5 counts such passages for the idf; the
        # text's count is the closest Tantivy keeps (a title's words are mostly in its passages too).
        idf = {s: _fts5_idf(sum(self._freqs("text", s)), self.total) for s in stems}
        found: list[tuple[float, int]] = []
        for j, (path, schema, searcher, dead) in enumerate(self._segments):
            clauses = []
            for stem in stems:
                for field, weight in (("text", 1.0), ("title", TITLE_WEIGHT)):
                    n = self._freqs(field, stem)[j]
                    if n:
                        boost = weight * idf[stem] / _tantivy_idf(n, searcher.num_docs)
                        clauses.append((t.Occur.Should, t.Query.boost_query(
                            t.Query.term_query(schema, field, stem), boost)))
            if not clauses:
                continue
            try:
                found += self._top(searcher, t.Query.boolean_query(clauses), k, dead)
            except ValueError as exc:      # a file damaged past its footer, read only now
                raise CorruptIndex(f"{path} cannot be searched ({str(exc).splitlines()[0][:200]}); rebuild the "
                                   "index") from exc
        found.sort(key=lambda p: (-p[0], p[1]))
        return [(cid, score) for score, cid in found[:k]]

    @staticmethod
    def _top(searcher, query, k: int, dead: np.ndarray) -> list[tuple[float, int]]:
        """The segment's best k live passages: asked for more while removed ones crowd them out."""
        limit = k
        while True:
            hits = searcher.search(query, limit, count=False).hits
            cids = np.array(searcher.fast_field_values("cid", [a for _, a in hits]), np.int64)
            live = ~np.isin(cids, dead) if len(dead) else np.ones(len(cids), bool)
            if live.sum() >= k or len(hits) < limit or limit >= k + len(dead):
                return [(float(hits[i][0]), int(cids[i])) for i in np.flatnonzero(live)[:k]]
            limit = min(2 * limit, k + len(dead))
