"""The keyword engine over a real FTS5 table: query syntax, candidate tiers at scale, exact BM25 scores."""
from __future__ import annotations

import sqlite3

import pytest

from indexer.keyword import SCHEMA, KeywordIndex, fts_query, parse


@pytest.fixture()
def db():
    conn = sqlite3.connect(":memory:")
    conn.executescript(SCHEMA)
    rows = []
    for i in range(3):
        rows.append(f"alpha beta gamma story {i}")          # all three words
    for i in range(5):
        rows.append(f"alpha beta filler story {i}")         # two of them
    for i in range(20):
        rows.append(f"gamma filler words story {i}")        # one
    for i in range(30):
        rows.append(f"nothing relevant here {i}")
    KeywordIndex(conn).add((n, text, "") for n, text in enumerate(rows, 1))
    return conn


def words_of(conn, ids):
    return [set(conn.execute("SELECT text FROM chunks_fts WHERE rowid = ?", (i,)).fetchone()[0].split()) for i in ids]


def test_user_input_is_never_fts_syntax():
    assert fts_query('alpha OR "beta gamma" NEAR(x) -y') == '"beta gamma" AND ("alpha" OR "near")'
    assert parse("the of") == ([], ['"the"', '"of"'])      # a query of stopwords only keeps its words
    assert fts_query("") is None


def test_subsets_take_the_passages_holding_the_rarest_words_first_and_score_them_exactly(db, monkeypatch):
    small = KeywordIndex(db, passages=58, all_terms_above=1000)      # any-term BM25 over every match
    large = KeywordIndex(db, passages=58, all_terms_above=0)         # acts as an index above the threshold
    exact = dict(small.search("alpha beta gamma", 50))
    assert len(exact) == 28
    three = large.search("alpha beta gamma", 10, enough=3)
    assert len(three) == 3 and all({"alpha", "beta", "gamma"} <= w for w in words_of(db, [c for c, _ in three]))
    two = large.search("alpha beta gamma", 10, enough=5)
    assert len(two) == 8 and all(len({"alpha", "beta", "gamma"} & w) >= 2 for w in words_of(db, [c for c, _ in two]))
    for cid, score in three + two:
        assert score == pytest.approx(exact[cid], abs=1e-9)            # the any-term BM25 score, not the tier's
    assert [c for c, _ in two] == [c for c, _ in small.search("alpha beta gamma", 8)]   # same order as any-term
    every = large.search("alpha beta gamma", 50, enough=50)              # every subset: the any-term matches
    assert [c for c, _ in every] == [c for c, _ in small.search("alpha beta gamma", 50)]


def test_above_the_threshold_only_a_window_of_the_newest_passages_is_scored(monkeypatch):
    from indexer import keyword

    conn = sqlite3.connect(":memory:")
    conn.executescript(SCHEMA)
    KeywordIndex(conn).add((n, f"harbour council story {n}", "") for n in range(1, 201))
    monkeypatch.setattr(keyword, "SCORE_AT_MOST", 10)
    got = KeywordIndex(conn, passages=200, all_terms_above=0).search("harbour council", 50)
    assert got and all(c > 180 for c, _ in got)         # a window expected to hold about 10 matches, newest first
    assert len(KeywordIndex(conn, passages=200, all_terms_above=1000).search("harbour council", 50)) == 50


def test_doc_freq_and_idf(db):
    kw = KeywordIndex(db, passages=58)
    assert (kw.doc_freq("alpha"), kw.doc_freq("gamma"), kw.doc_freq("absent")) == (8, 23, 0)
    assert kw.idf("alpha") > kw.idf("gamma") > 0


def test_remove_takes_passages_out_of_search(db):
    kw = KeywordIndex(db, passages=58)
    kw.remove([1, 2, 3])
    assert all(c > 3 for c, _ in kw.search("alpha beta gamma", 50)) and kw.doc_freq("alpha") == 5
