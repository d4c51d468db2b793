"""Retriever: the three modes, filters, diversity, duplicates, phrases, recency, citations."""
from __future__ import annotations

import pytest

from api import Filters, QueryError

from ..conftest import CPTPP_QUESTION, CPTPP_SENTENCE


@pytest.mark.parametrize("mode", ["hybrid", "dense"])
def test_cptpp_passage_first_with_correct_citation(retriever, mode):
    result = retriever.search(CPTPP_QUESTION, k=5, mode=mode)
    top = result.hits[0]
    assert CPTPP_SENTENCE in top.text
    art = retriever.article(top.article.id)
    assert art.text[top.citation.char_start:top.citation.char_end] == top.text
    assert 14 in top.citation.paragraphs
    assert top.citation.label.startswith('EAF Editorial Board, "Canberra and Tokyo can do better", para')
    assert top.article.title == "Canberra and Tokyo can do better"
    assert top.ranks.dense is not None


def test_hybrid_carries_both_ranks_and_rrf_scores(retriever):
    # retrieval alone: with answer spans a question's hits are reordered by the answer model (test_fusion.py)
    hits = retriever.search(CPTPP_QUESTION, k=3, per_article=None, answer_spans=False).hits
    assert all(h.ranks.dense or h.ranks.keyword for h in hits)
    top = hits[0]
    w = retriever.settings.rrf_weights
    expected = sum(w[name] / (60 + r) for name, r in (("dense", top.ranks.dense), ("keyword", top.ranks.keyword))
                   if r)
    assert top.score == pytest.approx(expected, rel=1e-4)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_highlights_mark_query_terms(retriever):
    hit = retriever.search(CPTPP_QUESTION, k=1).hits[0]
    marked = {hit.text[s:e].lower() for s, e in hit.highlights}
    assert "cptpp" in marked
    assert all(0 <= s < e <= len(hit.text) for s, e in hit.highlights)


def test_phrase_search_finds_exact_quote_and_nothing_else(retriever):
    quote = '"use their influence over the CPTPP accession process"'
    hits = retriever.search(quote, mode="keyword").hits
    assert len(hits) == 1 and "use their influence over the CPTPP accession process" in hits[0].text
    assert retriever.search('"influence over the accession of Peru"', mode="keyword").hits == []


@pytest.mark.parametrize("text", ['AND OR NOT (', '"unbalanced', 'title:cptpp*', 'NEAR(japan china)',
                                  '-minus ^caret {x}', "'; DROP TABLE chunks; --", '***', '""'])
def test_fts_syntax_in_user_text_never_errors(retriever, text):
    for mode in ("keyword", "hybrid"):
        retriever.search(text, mode=mode)


def test_large_index_takes_keyword_candidates_by_tiers_and_scores_them_exactly(news_index, settings):
    from dataclasses import replace

    from api import Retriever

    large = Retriever(news_index, replace(settings, keyword_all_terms_above=0))   # act as a large index
    large.reader.keyword_segments = None     # ... without keyword segments (or for filtered and phrase queries)
    small = Retriever(news_index, settings)
    reader = large.reader

    def passages(r, q, enough):
        pairs = r.reader.keyword(q, 50, None, enough)
        texts = [reader.db.execute("SELECT lower(text) FROM chunks WHERE id = ?", [i]).fetchone()[0] for i, _ in pairs]
        return pairs, texts

    # Beside the dense leg (hybrid), k passages holding every term are enough keyword candidates ...
    pairs, every = passages(large, "council harbour jobs", enough=2)
    assert len(every) >= 2 and all("council" in t and "harbour" in t and "jobs" in t for t in every)
    exact, texts = passages(small, "council harbour jobs", enough=2)
    assert any("jobs" not in t for t in texts)
    # ... scored with exactly the any-term BM25 a small index gives them
    assert all(abs(score - dict(exact)[cid]) < 1e-9 for cid, score in pairs if cid in dict(exact))
    # Too few passages for a keyword-only list even then: any-term matching, exactly as in a small index.
    for q in ("council harbour jobs", "silt interest rates"):
        got = large.search(q, k=5, mode="keyword").hits
        assert got and got == small.search(q, k=5, mode="keyword").hits


def test_filters(news):
    q = "interest rates"
    by_author = news.search(q, k=10, filters=Filters(author="ben cho")).hits
    assert by_author and {h.article.author for h in by_author} == {"Ben Cho"}
    dated = news.search(q, k=10, filters=Filters(published_from="2024-01-01", published_to="2024-12-31")).hits
    assert dated and all("2024-01-01" <= h.article.published <= "2024-12-31" for h in dated)
    assert "rates-old" not in {h.article.id for h in dated}
    tagged = news.search("dredging", filters=Filters(tag="Harbour")).hits
    assert {h.article.id for h in tagged} == {"council-harbour"}
    assert "harbour" in {t.lower() for t in news.facets()["tags"]}
    only = news.search(q, filters=Filters(article_ids=["school-funding"])).hits
    assert {h.article.id for h in only} == {"school-funding"}
    one = news.search(q, filters=Filters(article_ids="school-funding"))      # one id, not its characters
    assert {h.article.id for h in one.hits} == {"school-funding"} and len(one.applied_filters) == 1
    assert news.search(q, filters=Filters(source="no-such-path")).hits == []
    sport = news.search("interest rates", mode="keyword", filters=Filters(section="Sport")).hits
    assert sport == []


@pytest.mark.parametrize("mode", ["dense", "hybrid"])
def test_filter_returns_k_hits_when_more_match(news, mode):
    # 10 Economy articles match; the unfiltered top-k is dominated by others for this query.
    hits = news.search("harbour dredging council", k=6, mode=mode,
                       filters=Filters(section="Economy"), per_article=1).hits
    assert len(hits) == 6 and {h.article.section for h in hits} == {"Economy"}


def test_per_article_limit_and_overlap_merge(news):
    hits = news.search("harbour dredging", k=10).hits
    harbour = [h for h in hits if h.article.id in ("council-harbour", "council-harbour-copy")]
    assert 1 <= len(harbour) <= 2
    unlimited = news.search("harbour dredging", k=20, per_article=None,
                            filters=Filters(article_ids=["council-harbour"])).hits
    assert len(unlimited) >= 1
    zero = news.search("harbour dredging", k=20, per_article=0, filters=Filters(article_ids=["council-harbour"]))
    assert [h.citation for h in zero.hits] == [h.citation for h in unlimited]    # 0 is no limit, as over HTTP
    spans = sorted((h.citation.char_start, h.citation.char_end) for h in unlimited)
    for (s1, e1), (s2, e2) in zip(spans, spans[1:]):
        assert e1 <= s2, "overlapping passages of one article must be merged"


def test_duplicates_collapse_into_one_hit_naming_the_other(news):
    hits = news.search("harbour dredging toxic silt", k=10).hits
    ids = [h.article.id for h in hits]
    assert ("council-harbour" in ids) != ("council-harbour-copy" in ids)
    hit = next(h for h in hits if h.article.id.startswith("council-harbour"))
    other = ({"council-harbour", "council-harbour-copy"} - {hit.article.id}).pop()
    assert hit.duplicates == [other]
    assert news.article(hit.article.id).duplicates == [other]


def test_recency_half_life_prefers_recent(news):
    q = "central bank interest rates decision"
    plain = [h.article.id for h in news.search(q, k=10, mode="dense", filters=Filters(author="Ben Cho")).hits]
    recent = [h.article.id for h in news.search(q, k=10, mode="dense", filters=Filters(author="Ben Cho"),
                                                recency_half_life_days=180).hits]
    assert set(plain) == set(recent) == {"rates-rise", "rates-old"}
    assert recent[0] == "rates-rise"
    assert recent.index("rates-old") == 1


def test_text_fragment_link_when_article_has_url(news):
    hit = news.search("harbour dredging", filters=Filters(article_ids=["council-harbour"]), k=1).hits[0]
    assert hit.citation.link.startswith("https://news.example/harbour#:~:text=")
    assert hit.citation.app_link.startswith("/articles/council-harbour?p=")
    assert hit.article.published == "2024-01-10" and "(2024-01-10)" in hit.citation.label


@pytest.mark.parametrize("kwargs,match", [
    ({"query": "  "}, "empty"), ({"query": "x" * 5000}, "limit"), ({"query": "a", "k": 0}, "k must be"),
    ({"query": "a", "k": 101}, "k must be"), ({"query": "a", "mode": "fuzzy"}, "unknown mode"),
])
def test_invalid_queries_raise_clear_errors(retriever, kwargs, match):
    with pytest.raises(QueryError, match=match):
        retriever.search(**kwargs)


def test_timeline_names_its_own_parameter(retriever):
    with pytest.raises(QueryError, match="limit must be between 1 and 100, got 0"):
        retriever.timeline("CPTPP", limit=0)


def test_bad_date_filter(retriever):
    with pytest.raises(QueryError, match="from must be a date"):
        retriever.search("x", filters=Filters(published_from="yesterday"))
