"""Weighted reciprocal rank fusion: each leg of hybrid search counts as much as its weight says."""
from __future__ import annotations

from dataclasses import replace

import pytest

from api.fusion import rrf
from indexer.config import Settings

from ..conftest import CPTPP_QUESTION

DENSE = ["a", "b", "c", "d"]
KEYWORD = ["d", "c", "e", "a"]


def order(weights=None):
    return [item for item, _, _ in rrf({"dense": DENSE, "keyword": KEYWORD}, weights=weights)]


def test_equal_weights_are_plain_rrf():
    assert order() == order({"dense": 1.0, "keyword": 1.0}) == ["a", "d", "c", "b", "e"]
    fused = rrf({"dense": DENSE, "keyword": KEYWORD})
    scores = {item: score for item, score, _ in fused}
    assert scores["a"] == pytest.approx(1 / 61 + 1 / 64)
    assert dict((i, r) for i, _, r in fused)["e"] == {"keyword": 3}


def test_the_heavier_leg_decides():
    # b is only in dense (rank 2), e only in keyword (rank 3): which comes first is the weights' call
    assert order({"dense": 1.0, "keyword": 0.2}) == ["a", "c", "d", "b", "e"]
    assert order({"dense": 0.2, "keyword": 1.0}) == ["d", "c", "a", "e", "b"]
    assert order({"dense": 1.0, "keyword": 0.0}) == ["a", "b", "c", "d", "e"]     # weight 0: dense order
    scores = {i: s for i, s, _ in rrf({"dense": DENSE, "keyword": KEYWORD}, weights={"dense": 2.0, "keyword": 0.5})}
    assert scores["c"] == pytest.approx(2.0 / 63 + 0.5 / 62)


def test_retriever_fuses_with_the_settings_weights(seeds_index, settings, retriever):
    from api import Retriever

    dense_only = Retriever(seeds_index, replace(settings, rrf_dense_weight=1.0, rrf_keyword_weight=0.0))
    keyword_only = Retriever(seeds_index, replace(settings, rrf_dense_weight=0.0, rrf_keyword_weight=1.0))
    query = "Japan Australia trade influence"
    dense = [(h.citation.char_start, h.citation.char_end) for h in
             retriever.search(query, k=5, mode="dense", per_article=None).hits]
    keyword = [(h.citation.char_start, h.citation.char_end) for h in
               retriever.search(query, k=5, mode="keyword", per_article=None).hits]
    assert dense != keyword               # the legs disagree, so the weights have something to decide
    assert [(h.citation.char_start, h.citation.char_end) for h in
            dense_only.search(query, k=5, per_article=None).hits] == dense
    assert [(h.citation.char_start, h.citation.char_end) for h in
            keyword_only.search(query, k=5, per_article=None).hits][:len(keyword)] == keyword
    top = dense_only.search(CPTPP_QUESTION, k=1, per_article=None).hits[0]
    assert top.score == pytest.approx(1 / (60 + top.ranks.dense), rel=1e-4)


def test_a_questions_hits_are_reordered_by_the_answer_model(seeds_index, settings):
    from api import Retriever

    def search(weight, query=CPTPP_QUESTION, **kw):
        retriever = Retriever(seeds_index, replace(settings, answer_rerank_weight=weight))
        return retriever.search(query, k=8, per_article=None, **kw).hits

    retrieval = [(h.article.id, h.citation.char_start) for h in search(0.0, answer_spans=False)]
    off, on, answer_only = search(0.0), search(0.5), search(1000.0)
    assert [(h.article.id, h.citation.char_start) for h in off] == retrieval        # weight 0: retrieval order
    for hits in (off, on, answer_only):
        assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
        assert sorted(h.ranks.answer for h in hits) == list(range(1, len(hits) + 1))
        assert {(h.article.id, h.citation.char_start) for h in hits} == set(retrieval)   # the same k, reordered
    scores = [h.answer_span.score for h in answer_only]
    assert scores == sorted(scores, reverse=True) and [h.ranks.answer for h in answer_only] == list(
        range(1, len(answer_only) + 1))                       # a heavy answer weight: the answer model's order
    assert [h.ranks.answer for h in off] != [h.ranks.answer for h in answer_only]   # so the weight had work to do
    keyword = search(1000.0, "CPTPP accession process")        # not a question: retrieval order, no answer rank
    assert all(h.ranks.answer is None and h.answer_span is None for h in keyword)
    dated = search(1000.0, sort="date")
    assert [h.ranks.answer for h in dated] and [h.article.published or "" for h in dated] == sorted(
        (h.article.published or "" for h in dated), reverse=True)


@pytest.mark.parametrize("name,value,match", [
    ("EDSEARCH_ANSWER_RERANK_WEIGHT", "-1", "EDSEARCH_ANSWER_RERANK_WEIGHT must be a finite number >= 0"),
    ("EDSEARCH_RRF_KEYWORD_WEIGHT", "-0.5", "EDSEARCH_RRF_KEYWORD_WEIGHT must be a finite number >= 0"),
    ("EDSEARCH_RRF_DENSE_WEIGHT", "nan", "EDSEARCH_RRF_DENSE_WEIGHT must be a finite number >= 0"),
    ("EDSEARCH_RRF_DENSE_WEIGHT", "inf", "EDSEARCH_RRF_DENSE_WEIGHT must be a finite number >= 0"),
    ("EDSEARCH_RRF_KEYWORD_WEIGHT", "half", "EDSEARCH_RRF_KEYWORD_WEIGHT='half' is not a valid float"),
    ("EDSEARCH_EMBED_TITLES", "maybe", "EDSEARCH_EMBED_TITLES='maybe' is not a valid bool"),
])
def test_bad_fusion_settings_name_the_variable(monkeypatch, name, value, match):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=match):
        Settings.from_env()


def test_both_weights_zero_is_refused_and_words_read_as_booleans(monkeypatch):
    monkeypatch.setenv("EDSEARCH_RRF_DENSE_WEIGHT", "0")
    monkeypatch.setenv("EDSEARCH_RRF_KEYWORD_WEIGHT", "0")
    with pytest.raises(ValueError, match="EDSEARCH_RRF_DENSE_WEIGHT and EDSEARCH_RRF_KEYWORD_WEIGHT are both 0"):
        Settings.from_env()
    monkeypatch.delenv("EDSEARCH_RRF_DENSE_WEIGHT")
    monkeypatch.setenv("EDSEARCH_EMBED_TITLES", "false")
    s = Settings.from_env()
    assert s.embed_titles is False and s.rrf_weights == {"dense": 1.0, "keyword": 0.0}
    monkeypatch.setenv("EDSEARCH_EMBED_TITLES", "Yes")
    assert Settings.from_env().embed_titles is True


def test_the_cli_shows_where_the_answer_model_put_each_hit(seeds_index, capsys):
    from api import cli

    assert cli.main(["search", CPTPP_QUESTION, "--index", str(seeds_index), "--k", "3"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("[")]
    assert lines and all(", answer #" in ln for ln in lines)
    assert cli.main(["search", "CPTPP accession", "--index", str(seeds_index), "--k", "3"]) == 0
    assert "answer #" not in capsys.readouterr().out
