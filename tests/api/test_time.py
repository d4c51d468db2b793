"""Time as a dimension: date words become filters shown back, sort=date, the timeline (library, HTTP, CLI)."""
from __future__ import annotations

import datetime as dt
import subprocess
import sys

import httpx
import pytest

from api.timeparse import find_dates, without_dates

from ..conftest import ROOT
from .dated_archive import CPTPP_2026_QUESTION, published

TODAY = dt.date(2026, 11, 30)


@pytest.mark.parametrize("text, start, end, phrase", [
    ("what did the board say about CPTPP in 2021?", "2021-01-01", "2021-12-31", "in 2021"),
    ("tariffs since March 2023", "2023-03-01", None, "since March 2023"),
    ("CPTPP last year", "2025-01-01", "2025-12-31", "last year"),
    ("last year's budget", "2025-01-01", "2025-12-31", "last year's"),
    ("rates before 2020", None, "2019-12-31", "before 2020"),
    ("what happened in March 2023?", "2023-03-01", "2023-03-31", "in March 2023"),
    ("trade after 2020", "2021-01-01", None, "after 2020"),
    ("between 2019 and 2021", "2019-01-01", "2021-12-31", "between 2019 and 2021"),
    ("CPTPP between 2025 and 2020", "2020-01-01", "2025-12-31", "between 2025 and 2020"),
    ("from Jan 2020 to Sept. 2021", "2020-01-01", "2021-09-30", "from Jan 2020 to Sept. 2021"),
    ("this month", "2026-11-01", "2026-11-30", "this month"),
    ("in February 2024", "2024-02-01", "2024-02-29", "in February 2024"),
])
def test_date_phrases_become_ranges(text, start, end, phrase):
    found = find_dates(text, TODAY)
    assert found is not None
    assert (found.start and found.start.isoformat(), found.end and found.end.isoformat()) == (start, end)
    assert found.phrases == [phrase]


@pytest.mark.parametrize("text", ["the 2021 budget", "climate targets in 2030", "before the election",
                                  "may the board decide", "in 1066"])
def test_no_range_without_a_date_phrase(text):
    assert find_dates(text, TODAY) is None


def test_phrases_narrow_each_other_and_are_cut_from_the_text():
    found = find_dates("CPTPP since 2020 and before 2023?", TODAY)
    assert (found.start, found.end) == (dt.date(2020, 1, 1), dt.date(2022, 12, 31))
    assert without_dates("what did the board say about CPTPP in 2026?", find_dates(
        "what did the board say about CPTPP in 2026?", TODAY).spans) == "what did the board say about CPTPP?"


def _years(hits) -> set[str]:
    return {h.article.published[:4] for h in hits}


def test_cptpp_in_2026_returns_only_2026_and_says_so(dated):
    result = dated.search(CPTPP_2026_QUESTION, k=10)
    assert result.hits and _years(result.hits) == {"2026"}
    assert {h.article.id for h in result.hits} >= {"cptpp-2026-02", "cptpp-2026-09"}
    assert [(f.name, f.value, f.origin, f.phrase) for f in result.applied_filters] == [
        ("from", "2026-01-01", "query", "in 2026"), ("to", "2026-12-31", "query", "in 2026")]
    assert result.retrieval_query == "what did the board say about CPTPP?"

    off = dated.search(CPTPP_2026_QUESTION, k=10, dates_from_query=False)
    assert off.applied_filters == [] and _years(off.hits) >= {"2024", "2025", "2026"}
    assert off.retrieval_query == CPTPP_2026_QUESTION


def test_an_undated_archive_searches_date_words_as_words(tmp_path, settings, embedder):
    """With no dated article a date filter would match nothing: the question is searched as typed, year and all."""
    from api import Retriever
    from indexer import build_index

    src = tmp_path / "src"
    src.mkdir()
    (src / "harbour.md").write_text("---\ntitle: Harbour dredging\n---\nIn 2013 the harbour board voted to fund "
                                    "dredging of the old channel.\n")
    (src / "rates.md").write_text("---\ntitle: Rates\n---\nThe central bank held interest rates steady.\n")
    build_index([src], tmp_path / "index", settings=settings, progress=False)
    undated = Retriever(tmp_path / "index", settings)
    question = "what did the harbour board decide in 2013?"
    result = undated.search(question, k=5)
    assert result.applied_filters == [] and result.retrieval_query == question
    assert result.hits[0].article.id == "harbour"
    assert undated.ask(question, generate=False).sources[0].article.id == "harbour"


def test_a_date_filter_says_how_many_undated_articles_it_leaves_out(retriever, dated):
    from api.validation import QueryError
    from indexer.reader import Filters

    result = retriever.search('"economic coercion"', k=5, filters=Filters(published_from="2024-01-01"))
    assert result.hits == []                       # the seeds' one article has no date
    assert [(f.name, f.undated_left_out) for f in result.applied_filters] == [("from", 1)]
    assert retriever.search('"economic coercion"', k=5).applied_filters == []
    every_dated = dated.search("CPTPP", k=5, filters=Filters(published_from="2024-01-01"))
    assert [(f.name, f.undated_left_out) for f in every_dated.applied_filters] == [("from", None)]
    with pytest.raises(QueryError, match=r"from \(2026-01-01\) is after to \(2020-01-01\).*swap them"):
        retriever.search("CPTPP", filters=Filters(published_from="2026-01-01", published_to="2020-01-01"))
    assert retriever.search("CPTPP", filters=Filters(published_from="2024-01-01", article_ids=["x"])
                            ).applied_filters[0].undated_left_out is None   # none of those the other filters pass
    with pytest.raises(QueryError, match="from 2020-02-30 is not a date of the calendar"):
        retriever.search("CPTPP", filters=Filters(published_from="2020-02-30"))


def test_explicit_dates_win_over_date_words(dated):
    from indexer.reader import Filters

    result = dated.search(CPTPP_2026_QUESTION, k=10, filters=Filters(published_from="2025-01-01",
                                                                   published_to="2025-12-31"))
    assert _years(result.hits) == {"2025"}
    assert [(f.name, f.origin) for f in result.applied_filters] == [("from", "request"), ("to", "request")]


def test_last_year_counts_from_today(dated, monkeypatch):
    monkeypatch.setattr(dated, "today", lambda: dt.date(2027, 1, 15))
    result = dated.search("CPTPP accession last year", k=10)
    assert _years(result.hits) == {"2026"}
    monkeypatch.setattr(dated, "today", lambda: dt.date(2026, 3, 1))
    assert _years(dated.search("CPTPP accession last year", k=10).hits) == {"2025"}


def test_ask_in_2026_answers_from_2026_only(dated):
    ans = dated.ask(CPTPP_2026_QUESTION, generate=False)
    assert ans.sources and _years(ans.sources) == {"2026"}
    assert {(f.name, f.value, f.origin) for f in ans.applied_filters} == {
        ("from", "2026-01-01", "query"), ("to", "2026-12-31", "query")}
    assert ans.question == CPTPP_2026_QUESTION


def test_sort_by_date_lists_the_same_passages_newest_first(dated):
    best = dated.search("CPTPP accession", k=5, dates_from_query=False)
    newest = dated.search("CPTPP accession", k=5, sort="date")
    assert newest.sort == "date"
    assert sorted(h.citation.char_start for h in best.hits) == sorted(h.citation.char_start for h in newest.hits)
    assert {h.article.id for h in best.hits} == {h.article.id for h in newest.hits}
    dates = [h.article.published for h in newest.hits]
    assert dates == sorted(dates, reverse=True) and dates != [h.article.published for h in best.hits]
    assert [h.rank for h in newest.hits] == list(range(1, len(dates) + 1))


def test_timeline_counts_matching_articles_per_period(dated):
    from api.retriever import QueryError

    tl = dated.timeline("CPTPP", interval="year")
    assert [(b.period, b.count) for b in tl.buckets] == [("2024", 1), ("2025", 1), ("2026", 2)]
    assert tl.matched == 4 and tl.undated == 0
    assert (tl.buckets[0].start, tl.buckets[0].end) == ("2024-01-01", "2024-12-31")
    months = dated.timeline("CPTPP")            # 2024-03 .. 2026-09 spans under three years: months
    assert months.interval == "month" and months.buckets[0].period == "2024-03"
    assert months.buckets[-1].period == "2026-09" and len(months.buckets) == 31
    assert sum(b.count for b in months.buckets) == 4
    in_2026 = dated.timeline("CPTPP in 2026")
    assert in_2026.applied_filters[0].origin == "query" and sum(b.count for b in in_2026.buckets) == 2
    assert dated.timeline("dredging").matched == 1           # the CPTPP editorials do not mention it
    with pytest.raises(QueryError, match="interval"):
        dated.timeline("CPTPP", interval="week")


def test_http_search_ask_and_timeline(dated_server):
    url = dated_server.url
    got = httpx.get(url + "/search", params={"q": CPTPP_2026_QUESTION}).json()
    assert {h["article"]["published"][:4] for h in got["hits"]} == {"2026"}
    assert got["applied_filters"][0] == {"name": "from", "value": "2026-01-01", "origin": "query",
                                         "phrase": "in 2026", "undated_left_out": None}
    posted = httpx.post(url + "/search", json={"q": CPTPP_2026_QUESTION, "sort": "date"}).json()
    assert posted["sort"] == "date" and [h["article"]["id"] for h in posted["hits"]][0] == "cptpp-2026-09"
    off = httpx.get(url + "/search", params={"q": CPTPP_2026_QUESTION, "dates_from_query": "false"}).json()
    assert off["applied_filters"] == [] and len({h["article"]["published"][:4] for h in off["hits"]}) == 3
    for ans in (httpx.get(url + "/ask", params={"q": CPTPP_2026_QUESTION}).json(),
                httpx.post(url + "/ask", json={"q": CPTPP_2026_QUESTION}).json()):
        assert {s["article"]["published"][:4] for s in ans["sources"]} == {"2026"}
        assert [f["origin"] for f in ans["applied_filters"]] == ["query", "query"]
    tl = httpx.get(url + "/timeline", params={"q": "CPTPP", "interval": "year"}).json()
    assert [(b["period"], b["count"]) for b in tl["buckets"]] == [("2024", 1), ("2025", 1), ("2026", 2)]
    filtered = httpx.get(url + "/timeline", params={"q": "CPTPP", "from": "2025-01-01"}).json()
    assert sum(b["count"] for b in filtered["buckets"]) == 3
    bad = httpx.get(url + "/timeline", params={"q": "CPTPP", "interval": "week"})
    assert bad.status_code == 422 and "interval" in bad.json()["error"]["message"]
    bad = httpx.get(url + "/search", params={"q": "CPTPP", "sort": "oldest"})
    assert bad.status_code == 422 and "sort" in bad.json()["error"]["message"]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "api.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_cli_timeline_and_sort(dated_index):
    out = _cli("timeline", "CPTPP", "--interval", "year", "--index", str(dated_index))
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    assert lines[0].split()[0] == "2024" and lines[0].endswith(" 1") and "█" in lines[0]
    assert lines[2].split()[0] == "2026" and lines[2].endswith(" 2")
    assert "4 matching articles by year" in out.stdout
    out = _cli("search", CPTPP_2026_QUESTION, "--sort", "date", "--json", "--index", str(dated_index))
    assert out.returncode == 0, out.stderr
    assert '"origin": "query"' in out.stdout and '"sort": "date"' in out.stdout
    out = _cli("search", CPTPP_2026_QUESTION, "--index", str(dated_index))
    assert 'dates: 2026-01-01 to 2026-12-31, read from "in 2026" in the query' in out.stdout
    assert set(published("cptpp-2026")) & set(out.stdout.split())   # an article id of 2026 is printed
