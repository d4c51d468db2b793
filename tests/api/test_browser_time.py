"""The page's time features in real headless Chromium against a real uvicorn over the dated archive: the date
filter read from the query shown and removable, the timeline chart, a click on a bar filtering the search."""
from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from .dated_archive import CPTPP_2026_QUESTION, published
from .test_browser import _shot, browser, open_page  # noqa: F401  (browser is a fixture)

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture
def page(browser, dated_server):  # noqa: F811
    yield from open_page(browser, dated_server)


def _search(page, server, text):
    page.goto(server.url + "/")
    page.locator("#q").fill(text)
    page.locator("#q").press("Enter")
    page.wait_for_selector("#status[data-state=ok]")


def _years(page) -> set[str]:
    metas = page.locator("#results .card .meta").all_inner_texts()
    return {part.strip()[:4] for m in metas for part in m.split("\u00b7") if part.strip()[:2] == "20"}


def test_date_words_filter_the_search_and_can_be_removed(page, dated_server):
    _search(page, dated_server, CPTPP_2026_QUESTION)
    assert _years(page) == {"2026"}
    chip = page.locator("#applied .chip")
    assert "in 2026" in chip.inner_text() and "2026-01-01 to 2026-12-31" in chip.inner_text()
    _shot(page, "time-applied-filter")
    page.locator("#applied .remove-dates").click()
    page.wait_for_function("() => new URLSearchParams(location.search).get('dates') === 'off'")
    page.wait_for_selector("#status[data-state=ok]")
    page.wait_for_function("() => document.querySelector('#applied').hidden")
    assert _years(page) >= {"2024", "2025", "2026"}


def test_timeline_chart_and_a_click_on_a_bar_filters_to_that_period(page, dated_server):
    _search(page, dated_server, "CPTPP accession")
    page.wait_for_selector("#timeline:not([hidden]) .bar")
    bars = page.locator("#timeline-bars .bar")
    periods = bars.evaluate_all("els => els.map(e => [e.dataset.period, e.disabled])")
    assert periods[0] == ["2024-03", False] and periods[-1] == ["2026-09", False] and len(periods) == 31
    assert sum(1 for _, disabled in periods if not disabled) == 4      # the four months with a CPTPP editorial
    assert "4 matching articles by month" in page.locator("#timeline-note").inner_text()
    heights = page.locator("#timeline-bars .bar:not([disabled]) .bar-fill").evaluate_all(
        "els => els.map(e => e.getBoundingClientRect().height)")
    assert len(heights) == 4 and all(h > 10 for h in heights)
    _shot(page, "time-timeline")

    page.locator('#timeline-bars .bar[data-period="2025-06"]').click()
    page.wait_for_function("() => new URLSearchParams(location.search).get('from') === '2025-06-01'")
    page.wait_for_selector("#status[data-state=ok]")
    params = parse_qs(urlparse(page.url).query)
    assert params["from"] == ["2025-06-01"] and params["to"] == ["2025-06-30"]
    assert page.locator("#from").input_value() == "2025-06-01" and page.locator("#to").input_value() == "2025-06-30"
    ids = page.locator("#results .card").evaluate_all("els => els.map(e => e.dataset.articleId)")
    assert ids == ["cptpp-2025-06"]
    page.wait_for_function("() => document.querySelectorAll('#timeline-bars .bar').length === 1")

    page.locator("#q").fill("")                    # no query: the chart goes, its bars would filter nothing
    page.locator("#q").press("Enter")
    page.wait_for_selector("#status[data-state=empty]")
    assert page.locator("#timeline").is_hidden()


def test_a_date_in_the_url_shows_in_the_form_as_the_server_read_it(page, dated_server):
    page.goto(dated_server.url + "/?q=CPTPP+accession&to=20250101")
    page.wait_for_selector("#status[data-state=ok]")
    assert page.locator("#to").input_value() == "2025-01-01"          # applied, and shown: not a hidden filter
    assert page.locator("#filter-count").inner_text() == "(1 on)"
    assert _years(page) == {"2024"}
    page.goto(dated_server.url + "/?q=CPTPP+accession&mode=ask&sort=date")
    assert page.locator("#sort").is_disabled()                        # an answer does not sort its sources


def test_sort_newest_first(page, dated_server):
    page.goto(dated_server.url + "/?q=CPTPP+accession&sort=date")
    page.wait_for_selector("#status[data-state=ok]")
    assert page.locator("#sort").input_value() == "date"
    ids = page.locator("#results .card").evaluate_all("els => els.map(e => e.dataset.articleId)")
    dates = [published()[i] for i in ids]
    assert ids[0] == "cptpp-2026-09" and dates == sorted(dates, reverse=True) and len(ids) > 2


def test_a_corrected_copy_is_one_result_that_links_the_other_version(page, dated_server):
    _search(page, dated_server, "harbour dredging spawning season")
    cards = page.locator("#results .card")
    ids = cards.evaluate_all("els => els.map(e => e.dataset.articleId)")
    harbour = [i for i in ids if i.startswith("harbour-2026-05")]
    assert len(harbour) == 1, ids
    other = "harbour-2026-05-wire" if harbour[0] == "harbour-2026-05" else "harbour-2026-05"
    line = page.locator(f'#results .card[data-article-id="{harbour[0]}"] .versions')
    assert line.inner_text() == f"Other versions: {other}"
    line.locator("a").click()
    page.wait_for_selector("article h1")
    assert other in page.url and "Other versions" in page.locator("article").inner_text()
