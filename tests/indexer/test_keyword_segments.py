"""Keyword segments (Tantivy beside each vector segment): the plan of large indexes, global statistics, removed
passages, the writer's clean-up and upgrade, damaged folders."""
from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from indexer import build_index
from indexer.format import CorruptIndex
from indexer.keyword_segments import SUFFIX
from indexer.reader import Filters, IndexReader

from ..api.conftest import make_news

QUERIES = ["interest rates", "harbour dredging council", "cup final goal", "funding teachers libraries",
           "mud silt toxic", "inflation mortgage repayments"]


def large(index: Path) -> IndexReader:
    """The index read as one above the size where FTS5 stops answering exactly."""
    return IndexReader(index, keyword_all_terms_above=0)


def located(reader: IndexReader, pairs) -> dict[tuple[str, int], float]:
    """(article id, passage ordinal) -> score: the same passage whichever build gave it its chunk id."""
    chunks = reader.chunks(c for c, _ in pairs)
    return {(chunks[c].article_id, chunks[c].ordinal): s for c, s in pairs}


@pytest.fixture(scope="module")
def two_segments(tmp_path_factory, embedder, settings) -> tuple[Path, Path]:
    """The news corpus as one segment, and as two builds (the second also changes an article of the first)."""
    settings = dataclasses.replace(settings, segments_per_tier=0)
    root = tmp_path_factory.mktemp("kwseg")
    src = make_news(root / "src")
    one = root / "one"
    build_index([src], one, settings=settings, progress=False)
    split, first = root / "split", root / "first"
    first.mkdir()
    for f in sorted(src.glob("*.md"))[::2]:
        shutil.copy(f, first / f.name)
    build_index([first], split, settings=settings, progress=False)
    build_index([src], split, settings=settings, progress=False)
    return one, split


def test_large_indexes_rank_like_fts5_over_the_live_passages(two_segments, settings):
    one, split = two_segments
    reader, exact = large(split), IndexReader(split)
    assert reader.keyword_segments is not None and exact.keyword_segments is None
    assert len(reader.vectors.segments) == 2
    for q in QUERIES:
        got, want = reader.keyword(q, 50), exact.keyword(q, 50)
        # Every passage holding a query word is found (the index is small), none of them removed, ...
        assert {c for c, _ in got} == {c for c, _ in want}, q
        # ... ranked as FTS5's bm25() ranks them wherever it tells them clearly apart (BM25 either way; the
        # title is weighted differently, docs/scale.md).
        fts = dict(want)
        order = [fts[c] for c, _ in got]
        assert all(not later > 1.1 * earlier for i, earlier in enumerate(order) for later in order[i + 1:]), q


def test_a_passage_scores_the_same_in_whichever_segment_holds_it(two_segments):
    one, split = two_segments
    a, b = large(one), large(split)
    for q in QUERIES:
        sa, sb = located(a, a.keyword(q, 50)), located(b, b.keyword(q, 50))
        assert sa.keys() == sb.keys(), q
        # global idf; only BM25's average passage length is the segment's
        assert all(sb[p] == pytest.approx(s, rel=0.05) for p, s in sa.items()), q


def test_filtered_and_phrase_queries_keep_the_fts5_plan(two_segments):
    _, split = two_segments
    reader, fts5_plan = large(split), large(split)
    fts5_plan.keyword_segments = None
    economy = Filters(section="Economy")
    for q, filters in (("interest rates", economy), ('"interest rates" banks', None)):
        got = reader.keyword(q, 20, filters)
        assert got and got == fts5_plan.keyword(q, 20, filters), q
    assert reader.keyword("interest rates", 20) != fts5_plan.keyword("interest rates", 20)


def test_old_index_gets_keyword_segments_and_crashed_folders_are_removed(index_copy, settings):
    (folder,) = (index_copy / "segments").glob(f"*{SUFFIX}")
    shutil.rmtree(folder)                                   # as an index written before keyword segments
    assert large(index_copy).keyword_segments is None       # searched by the FTS5 plan meanwhile
    before = large(index_copy).keyword("CPTPP accession", 5)
    stale = index_copy / "segments" / (folder.name + ".tmp")
    stale.mkdir()
    (stale / "meta.json").write_text("{")                    # a build killed while writing one
    build_index([Path(__file__).resolve().parents[2] / "seeds"], index_copy, settings=settings, progress=False)
    assert folder.is_dir() and not stale.exists()
    after = large(index_copy)
    assert after.keyword_segments is not None and [c for c, _ in after.keyword("CPTPP accession", 5)] == \
        [c for c, _ in before]


def test_a_damaged_keyword_segment_is_a_clear_error(index_copy):
    (folder,) = (index_copy / "segments").glob(f"*{SUFFIX}")
    (folder / "meta.json").write_text("not json")
    with pytest.raises(CorruptIndex, match=f"{folder.name}.*rebuild the index"):
        large(index_copy)
    IndexReader(index_copy)              # a small index does not open them: it searches FTS5 exactly


def test_a_segment_whose_passages_were_all_removed_is_not_searched(tmp_path, settings):
    settings = dataclasses.replace(settings, segments_per_tier=0)
    src = make_news(tmp_path / "src")
    idx = tmp_path / "idx"
    build_index([src], idx, settings=settings, progress=False)
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "ferry.md").write_text("---\ntitle: Ferry fares\n---\nFerry fares rise on the harbour route.\n")
    build_index([src, extra], idx, settings=settings, progress=False)
    (extra / "ferry.md").unlink()
    build_index([src, extra], idx, settings=settings, progress=False, prune=True)
    reader = large(idx)
    assert len(reader.keyword_segments._segments) == 1 < len(reader.manifest["vectors"]["segments"])
    got = {c for c, _ in reader.keyword("ferry harbour", 50)}
    assert got and got == {c for c, _ in IndexReader(idx).keyword("ferry harbour", 50)}


def test_search_through_the_retriever_uses_them(two_segments, settings):
    from api import Retriever

    _, split = two_segments
    retriever = Retriever(split, dataclasses.replace(settings, keyword_all_terms_above=0))
    assert retriever.reader.keyword_segments is not None
    keyword = retriever.search("harbour dredging", k=5, mode="keyword").hits
    assert keyword and all("harbour" in h.text.lower() or "dredging" in h.text.lower() for h in keyword)
    hybrid = retriever.search("harbour dredging", k=5).hits
    assert any(h.ranks.keyword == 1 for h in hybrid)
