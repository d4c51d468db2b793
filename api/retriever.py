"""Retriever: open an index once; dense, keyword and hybrid search with filters, diversity and citations."""
from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from indexer.config import Settings
from indexer.embedding import query_embedder_for
from indexer.format import IndexStoreError, ModelMismatch
from indexer.reader import Filters, IndexReader, StoredArticle, published_version

from . import citations, keyword, timeparse
from .answer_model import is_question
from .answer import Answerer, answer_spans as best_answer_spans
from .fusion import RRF_K, rrf
from .validation import (INTERVALS, MAX_K, MODES, SORTS, ArticleNotFound, QueryError, check_date,  # noqa: F401
                         check_k, validate_query)
from .models import (AppliedFilter, ArticleFull, ArticleRef, Hit, Paragraph, Ranks, SearchResult, Timeline,
                     TimelineBucket)

log = logging.getLogger("edsearch")
TIMELINE_LIMIT = 100       # the most relevant articles a timeline counts (docs/time.md)
# Hybrid search runs its keyword leg here while the query is embedded (torch and SQLite both release the GIL).
_KEYWORD_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="edsearch-keyword")


@dataclass
class _Candidate:
    chunk_id: int
    score: float
    ranks: dict[str, int]


def _ref(art: StoredArticle) -> ArticleRef:
    return ArticleRef(**{f: getattr(art, f) for f in ArticleRef.model_fields})


def _duplicates(article_id: str, identical: list[str], group: list[str]) -> dict[str, list[str]]:
    """The fields naming an article's byte-identical copies and its other near-duplicates (group minus those)."""
    same = [d for d in identical if d != article_id]
    return {"duplicates": same, "near_duplicates": [d for d in group if d != article_id and d not in same]}


def rerank_by_answer(hits: list[Hit], weight: float) -> list[Hit]:
    """A question's hits reordered by weighted reciprocal rank fusion of their retrieval order (weight 1) and the
    order of their answer spans' scores (`weight`; 0 keeps the retrieval order); each hit's `ranks.answer` says
    where the answer model put it. Only the k hits are reordered: the answer model reads no other passage."""
    def score(h: Hit) -> float:
        return h.answer_span.score if h.answer_span else -1.0

    by_answer = sorted(range(len(hits)), key=lambda i: -score(hits[i]))      # stable: ties keep retrieval order
    fused = rrf({"retrieval": range(len(hits)), "answer": by_answer}, weights={"answer": weight})
    return [hits[i].model_copy(update={"rank": n, "ranks": hits[i].ranks.model_copy(update={"answer": r["answer"]})})
            for n, (i, _, r) in enumerate(fused, 1)]


class Retriever:
    """Searches one index folder; picks up a newly published version with `reload_if_changed()`."""

    def __init__(self, index_dir: str | Path | None = None, settings: Settings | None = None,
                 model: str | None = None):
        self.settings = settings or Settings.from_env()
        self.index_dir = Path(index_dir or self.settings.index)
        self._requested_model = model
        self._lock = threading.Lock()
        self.reader = self._open()

    # -- opening and reloading --
    def _open(self) -> IndexReader:
        reader = IndexReader(self.index_dir, self.settings.hnsw_ef_search, self.settings.worker_threads + 1,
                             self.settings.keyword_all_terms_above)
        name = reader.manifest["model"]["name"]
        if self._requested_model and self._requested_model != name:
            raise ModelMismatch(f"the index at {self.index_dir} was built with model {name!r}; it cannot be "
                                f"queried with {self._requested_model!r}")
        self.embedder = query_embedder_for(self.settings, name)
        if self.embedder.dim != reader.manifest["model"]["dim"]:
            raise ModelMismatch(f"model {name!r} gives {self.embedder.dim}-d vectors, the index holds "
                                f"{reader.manifest['model']['dim']}-d; rebuild the index")
        return reader

    def reload_if_changed(self) -> bool:
        """Open the newest commit if a build published one; keep serving the old one if it is broken."""
        version = published_version(self.index_dir)
        if version is None or version == self.reader.version:
            return False
        with self._lock:
            if version == self.reader.version:
                return False
            new = self._open()          # raises on a corrupt commit: the caller logs, the old one stays
            self.reader = new           # the old reader closes its snapshot once requests using it finish
            log.info("edsearch: now serving version %s of %s", new.version, self.index_dir)
            return True

    # -- search --
    def today(self) -> dt.date:
        """The date "last year" and recency count from; tests replace it on the instance."""
        return dt.date.today()

    def dated_filters(self, query: str, filters: Filters | None,
                      dates_from_query: bool = True) -> tuple[Filters, str, list[AppliedFilter]]:
        """(filters, text to search, the filters shown back): date words in the query become from/to filters
        unless the request gave dates itself or turned this off, or no article of the index has a date (an
        undated archive would match nothing: the words are searched as typed); those words are left out of the
        text searched (docs/time.md says why)."""
        filters = dataclasses.replace(filters) if filters else Filters()
        filters.published_from = check_date(filters.published_from, "from")
        filters.published_to = check_date(filters.published_to, "to")
        if filters.published_from and filters.published_to and filters.published_from > filters.published_to:
            raise QueryError(f"from ({filters.published_from}) is after to ({filters.published_to}): nothing can "
                             "match; swap them")
        applied = [AppliedFilter(name=name, value=value, origin="request") for name, value in (
            ("author", filters.author), ("section", filters.section), ("tag", filters.tag),
            ("source", filters.source), ("from", filters.published_from), ("to", filters.published_to),
            *(("article_id", a) for a in filters.article_ids)) if value]
        searched = query
        if dates_from_query and not (filters.published_from or filters.published_to) and self.reader.dated:
            found = timeparse.find_dates(query, self.today())
            if found:
                phrase = ", ".join(found.phrases)
                filters.published_from = found.start.isoformat() if found.start else None
                filters.published_to = found.end.isoformat() if found.end else None
                applied += [AppliedFilter(name=name, value=value, origin="query", phrase=phrase) for name, value in
                            (("from", filters.published_from), ("to", filters.published_to)) if value]
                rest = timeparse.without_dates(query, found.spans)
                if keyword.terms(rest):          # "in 2021" alone: search for the words as typed
                    searched = rest
        undated = self.reader.undated(filters) if filters.published_from or filters.published_to else 0
        for f in applied:
            if f.name in ("from", "to") and undated:
                f.undated_left_out = undated
        return filters, searched, applied

    def search(self, query: str, k: int = 10, mode: str = "hybrid", filters: Filters | None = None,
               per_article: int | None = 2, recency_half_life_days: float | None = None,
               rrf_k: int = RRF_K, sort: str = "relevance", dates_from_query: bool = True,
               answer_spans: bool = True) -> SearchResult:
        """Ranked passages with citations. Raises QueryError for invalid input.

        For a question (api.answer_model.is_question) each hit carries the `answer_span` the answer model picks,
        unless `answer_spans` is False.

        `sort="date"` lists the same k passages newest first (undated last) instead of best first;
        `dates_from_query` turns date words in the query ("in 2021", "since March 2023") into from/to filters."""
        t0 = time.perf_counter()
        query = validate_query(query, k, mode, self.settings.max_query_chars)
        if sort not in SORTS:
            raise QueryError(f"unknown sort {sort!r}; use one of {', '.join(SORTS)}")
        filters, searched, applied = self.dated_filters(query, filters, dates_from_query)
        if per_article is not None and per_article < 0:
            raise QueryError("per_article must be 0 or more (0 or None: no limit)")
        per_article = per_article or None
        if recency_half_life_days is not None and not recency_half_life_days > 0:     # NaN too
            raise QueryError("recency_half_life_days must be positive")
        def ranked(reader: IndexReader) -> list[Hit]:
            candidates = self._candidates(reader, searched, k, mode, filters, per_article, rrf_k)
            return self._hits(reader, searched, candidates, k, per_article, recency_half_life_days)

        reader = self.reader            # one snapshot for the whole request, whatever is published meanwhile
        hits = ranked(reader)
        if sort == "date":
            # Newest first among the passages relevance chose; ISO dates sort as text, undated ones go last.
            hits.sort(key=lambda h: h.article.published or "", reverse=True)
            for rank, hit in enumerate(hits, 1):
                hit.rank = rank
        if answer_spans and hits and is_question(query):
            hits = best_answer_spans(self, searched, hits)
            hits = rerank_by_answer(hits, self.settings.answer_rerank_weight if sort == "relevance" else 0.0)
        return SearchResult(query=query, mode=mode, hits=hits, index_version=reader.version,
                            took_ms=round((time.perf_counter() - t0) * 1000, 2), applied_filters=applied,
                            retrieval_query=searched, sort=sort)

    def timeline(self, query: str, filters: Filters | None = None, interval: str | None = None,
                 dates_from_query: bool = True, limit: int = TIMELINE_LIMIT) -> Timeline:
        """How many matching articles were published per month or year.

        Matching: the `limit` most relevant articles by hybrid search (one result per article, near-duplicates
        collapsed into one) that contain at least one of the query's words (the keyword leg found them), so
        an article that is only semantically nearest in an archive without the topic does not count.
        `interval` None picks months for a span of up to three years, else years."""
        t0 = time.perf_counter()
        if interval not in (None, *INTERVALS):
            raise QueryError(f"unknown interval {interval!r}; use month or year (or leave it out)")
        result = self.search(query, k=check_k(limit, "limit"), mode="hybrid", filters=filters, per_article=1,
                             dates_from_query=dates_from_query, answer_spans=False)
        hits = [h for h in result.hits if h.ranks.keyword is not None]
        dates = sorted(dt.date.fromisoformat(h.article.published) for h in hits if h.article.published)
        if interval is None:
            interval = "month" if not dates or (dates[-1] - dates[0]).days <= 3 * 366 else "year"
        buckets: list[TimelineBucket] = []
        if dates:
            counts: dict[tuple[int, int], int] = {}
            for d in dates:
                key = (d.year, d.month if interval == "month" else 1)
                counts[key] = counts.get(key, 0) + 1
            year, month = dates[0].year, dates[0].month if interval == "month" else 1
            while (year, month) <= max(counts):
                if interval == "month":
                    start, end = dt.date(year, month, 1), dt.date(year, month, calendar.monthrange(year, month)[1])
                    period = f"{year:04d}-{month:02d}"
                else:
                    start, end, period = dt.date(year, 1, 1), dt.date(year, 12, 31), f"{year:04d}"
                buckets.append(TimelineBucket(period=period, start=start.isoformat(), end=end.isoformat(),
                                              count=counts.get((year, month), 0)))
                year, month = (year + month // 12, month % 12 + 1) if interval == "month" else (year + 1, 1)
        return Timeline(query=result.query, interval=interval, buckets=buckets, matched=len(dates),
                        undated=len(hits) - len(dates), limit=limit, applied_filters=result.applied_filters,
                        retrieval_query=result.retrieval_query, took_ms=round((time.perf_counter() - t0) * 1000, 2))

    def embed_query(self, query: str) -> np.ndarray:
        return self.embedder.encode([query])[0]

    def _candidates(self, reader: IndexReader, query: str, k: int, mode: str, filters: Filters,
                    per_article: int | None, rrf_k: int) -> list[_Candidate]:
        depth = max(50, 5 * k) if per_article else max(20, 2 * k)
        allowed = reader.allowed_chunk_ids(filters) if filters else None
        if allowed is not None and len(allowed) == 0:
            return []
        lists: dict[str, list[int]] = {}
        raw: dict[str, dict[int, float]] = {}
        # Enough keyword candidates: k beside the dense ones, a full list when keyword matching ranks alone.
        pending = _KEYWORD_POOL.submit(reader.keyword, query, depth, filters, k) if mode == "hybrid" else None
        if mode in ("dense", "hybrid"):
            # The segments are searched on every core: the keyword leg beside them is short at any size now
            # (docs/scale.md).
            scores, ids = reader.vectors.search(self.embed_query(query), depth, allowed)
            lists["dense"] = [int(i) for i in ids]
            raw["dense"] = dict(zip(lists["dense"], map(float, scores)))
        if mode in ("keyword", "hybrid"):
            pairs = pending.result() if pending else reader.keyword(query, depth, filters, depth)
            lists["keyword"] = [cid for cid, _ in pairs]
            raw["keyword"] = dict(pairs)
        if mode == "hybrid":
            return [_Candidate(int(c), s, r) for c, s, r in rrf(lists, rrf_k, self.settings.rrf_weights)]
        ranked = lists[mode]
        return [_Candidate(c, raw[mode][c], {mode: i}) for i, c in enumerate(ranked, 1)]

    def _hits(self, reader: IndexReader, query: str, candidates: list[_Candidate], k: int,
              per_article: int | None, half_life: float | None) -> list[Hit]:
        if not candidates:
            return []
        chunks = reader.chunks(c.chunk_id for c in candidates)
        if half_life:
            today = self.today()
            for c in candidates:
                published = chunks[c.chunk_id].published
                if published:
                    age = max(0, (today - dt.date.fromisoformat(published)).days)
                    c.score *= 0.5 ** (age / half_life)
            candidates = sorted(candidates, key=lambda c: -c.score)

        # Diversity: at most per_article passages per article, overlapping passages merged, duplicates collapsed.
        picked: dict[str, list[dict]] = {}   # article id -> groups {start, end, paras, score, ranks}
        order: list[tuple[str, dict]] = []
        owner_of_group: dict[str, str] = {}  # near-duplicate group (or text_hash) -> the article representing it
        for c in candidates:
            ch = chunks[c.chunk_id]
            owner = owner_of_group.setdefault(ch.group_id or ch.text_hash, ch.article_id)
            if owner != ch.article_id:
                continue                       # a (near-)duplicate of an article already in the list
            groups = picked.setdefault(ch.article_id, [])
            merged = False
            for g in groups:
                if ch.char_start < g["end"] and ch.char_end > g["start"]:
                    g["start"], g["end"] = min(g["start"], ch.char_start), max(g["end"], ch.char_end)
                    g["paras"] |= set(range(ch.para_start, ch.para_end + 1))
                    for name, r in c.ranks.items():
                        g["ranks"][name] = min(g["ranks"].get(name, r), r)
                    merged = True
                    break
            if merged:
                continue
            if per_article and len(groups) >= per_article:
                continue
            if len(order) >= k:
                continue                       # keep scanning only to merge overlaps into chosen groups
            g = {"start": ch.char_start, "end": ch.char_end, "score": c.score, "ranks": dict(c.ranks),
                 "paras": set(range(ch.para_start, ch.para_end + 1))}
            groups.append(g)
            order.append((ch.article_id, g))

        full = reader.articles((a for a, _ in order), with_text=True)
        dups = reader.duplicates(full[a].text_hash for a, _ in order)
        near = reader.near_duplicates(a for a, _ in order)
        hits = []
        for rank, (art_id, g) in enumerate(order, 1):
            art = full[art_id]
            ref = _ref(art)
            passage = art.text[g["start"]:g["end"]]
            paras = sorted(g["paras"])
            hits.append(Hit(
                rank=rank, score=round(float(g["score"]), 6), text=passage, article=ref,
                citation=citations.cite(ref, paras, g["start"], g["end"], passage),
                highlights=keyword.highlight_spans(query, passage),
                ranks=Ranks(**g["ranks"]),
                **_duplicates(art_id, dups.get(art.text_hash, []), near.get(art_id, []))))
        return hits

    # -- articles --
    def article(self, article_id: str) -> ArticleFull:
        if not isinstance(article_id, str) or not article_id or len(article_id) > 512:
            raise QueryError("article id must be 1 to 512 characters")
        art = self.reader.article(article_id)
        if art is None:
            raise ArticleNotFound(f"no article with id {article_id!r} in the index")
        paras = [Paragraph(number=i, char_start=s, char_end=e, text=art.text[s:e])
                 for i, (s, e) in enumerate(art.paragraphs, 1)]
        dups = self.reader.duplicates([art.text_hash]).get(art.text_hash, [])
        near = self.reader.near_duplicates([article_id]).get(article_id, [])
        return ArticleFull(**_ref(art).model_dump(), text=art.text, paragraphs=paras, source=art.source,
                           **_duplicates(article_id, dups, near))

    def ask(self, question: str, k: int = 5, filters: Filters | None = None, generate: bool | None = None,
            dates_from_query: bool = True, min_confidence: float | None = None):
        """A cited answer (api.models.Answer), or found=false with the closest passages, declined below
        `min_confidence` (None: EDSEARCH_ANSWER_THRESHOLD, else the answer model's threshold); see api/answer.py."""
        return Answerer(self).ask(question, k=k, filters=filters, generate=generate,
                                  dates_from_query=dates_from_query, min_confidence=min_confidence)

    def health(self) -> dict:
        r = self.reader
        return {"status": "ok", "index_version": r.version,
                "built_at": r.manifest.get("built_at"), "counts": r.manifest.get("counts"),
                "model": r.manifest.get("model"), "vectors": r.manifest.get("vectors")}

    def facets(self) -> dict:
        return self.reader.facets()


__all__ = ["ArticleNotFound", "IndexStoreError", "QueryError", "Retriever", "MODES"]
