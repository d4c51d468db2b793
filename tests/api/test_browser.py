"""The search page in real headless Chromium (Debian's, via Playwright) against a real uvicorn over the seeds.

Skipped, with the reason, only where no Chromium (or the playwright package) is installed; CI installs both.
Set EDSEARCH_SCREENSHOTS=DIR to also save screenshots of the pages the tests reach.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
from pathlib import Path
from urllib.parse import parse_qs, quote, urlparse

import pytest

from tests.conftest import CPTPP_QUESTION, CPTPP_SENTENCE, LiveServer

pytestmark = [pytest.mark.slow, pytest.mark.browser]

LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 60_000
TOKEN = "browser-s3cret"
ARTICLE = "eaf-editorial-canberra-tokyo"


def _chromium() -> str | None:
    for candidate in (os.environ.get("EDSEARCH_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser"), shutil.which("google-chrome")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@pytest.fixture(scope="module")
def browser():
    exe = _chromium()
    if exe is None:
        pytest.skip("no Chromium installed (apt-get install chromium, or set EDSEARCH_CHROMIUM to its path)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright python package is not installed (pip install -e '.[test]')")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=LAUNCH_ARGS)
        yield b
        b.close()


def _context(browser, server, **kw):
    ctx = browser.new_context(viewport=kw.pop("viewport", {"width": 1280, "height": 900}), **kw)
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    ctx.set_default_timeout(TIMEOUT_MS)
    return ctx


def open_page(browser, server):
    """A page of a fresh browser context on `server`; fails the test if the page raised a JavaScript error."""
    ctx = _context(browser, server)
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    ctx.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def page(browser, live_server):
    yield from open_page(browser, live_server)


def _shot(page, name: str) -> None:
    folder = os.environ.get("EDSEARCH_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def _search(page, server, question=CPTPP_QUESTION):
    page.goto(server.url + "/")
    box = page.locator("#q")
    box.fill(question)
    box.press("Enter")
    page.wait_for_selector("#results .card")
    return page.locator("#results .card")


def test_search_shows_the_cptpp_passage_first(page, live_server):
    cards = _search(page, live_server)
    first = cards.first
    assert CPTPP_SENTENCE in first.locator(".passage").inner_text()
    assert first.locator(".headline").inner_text().endswith("Canberra and Tokyo can do better")
    meta = first.locator(".meta").inner_text()
    assert "EAF Editorial Board" in meta and "para" in meta
    marks = first.locator(".passage mark:not(.answer)").all_inner_texts()
    assert marks and all(m.lower() == "cptpp" for m in marks)
    # a question: each passage marks the sentence the answer model picks, the one /search names in answer_span
    answer = first.locator(".passage mark.answer")
    assert answer.count() == 1 and answer.inner_text().strip() in first.locator(".passage").inner_text()
    assert len(answer.inner_text()) > 20
    assert "passage" in page.locator("#status").inner_text()
    query = parse_qs(urlparse(page.url).query)
    assert query["q"] == [CPTPP_QUESTION] and "mode" not in query
    _shot(page, "search")


def test_keyword_search_marks_no_answer_sentence(page, live_server):
    cards = _search(page, live_server, "CPTPP accession")
    assert cards.count() >= 1 and page.locator(".passage mark.answer").count() == 0


def test_ask_shows_the_cited_answer(page, live_server):
    _search(page, live_server)
    page.locator("label.mode", has_text="Ask").click()
    page.wait_for_selector("#status[data-state=ok], #status[data-state=notfound], #status[data-state=error]")
    assert page.locator("#status").get_attribute("data-state") == "ok", page.locator("#status").inner_text()
    assert parse_qs(urlparse(page.url).query)["mode"] == ["ask"]
    answer = page.locator("#answer .answer-text")
    text = answer.inner_text()
    assert "CPTPP" in text and re.search(r"\[\d+\]", text)
    marker = answer.locator("a.marker").first
    n = int(marker.inner_text().strip("[]"))
    source = page.locator(f"#source-{n}")
    assert source.locator(".headline").inner_text().endswith("Canberra and Tokyo can do better")
    assert source.locator(".cited-sentence").count() >= 1
    assert "Confidence" in page.locator("#answer .confidence").inner_text()
    marker.click()
    assert page.url.endswith(f"#source-{n}")
    _shot(page, "ask")


def test_ask_renders_markers_cited_sentences_and_paragraph_links(page, live_server):
    """The Ask view's rendering, over an answer built from the server's real search hits (fixed shape)."""
    import httpx

    hits = httpx.get(f"{live_server.url}/search", params={"q": CPTPP_QUESTION, "k": 3}, timeout=60).json()["hits"]
    first = hits[0]
    start = first["text"].index(CPTPP_SENTENCE)
    end = first["text"].index(".", start) + 1
    sentence = first["text"][start:end]
    body = {"question": CPTPP_QUESTION, "found": True, "answer": f"{sentence} [1]", "confidence": 0.87,
            "sentences": [{"text": sentence, "source": 1, "char_start": first["citation"]["char_start"] + start,
                           "char_end": first["citation"]["char_start"] + end, "paragraph": 14, "score": 0.9}],
            "sources": hits, "mode": "extractive", "removed_citations": [], "message": None, "took_ms": 1.0}
    page.route("**/ask?*", lambda route: route.fulfill(status=200, content_type="application/json",
                                                       body=json.dumps(body)))
    page.goto(f"{live_server.url}/?mode=ask&q={quote(CPTPP_QUESTION)}")
    page.wait_for_selector("#answer .answer-text")
    assert page.locator("#answer .answer-text").inner_text() == f"{sentence} [1]"
    assert page.locator("#answer a.marker").get_attribute("href") == "#source-1"
    assert page.locator("#answer .confidence").inner_text().startswith("Confidence 87%")
    assert page.locator("#source-1 .cited-sentence").inner_text() == sentence
    assert page.locator("#source-1 a.open-article").get_attribute("href").endswith("?p=14#p14")
    # the label names the cited sentence's paragraph, as the link does, not the whole passage's
    assert page.locator("#source-1 .citation-label").inner_text().endswith('can do better", para 14')
    assert page.locator("#results .card").count() == len(hits)
    assert page.locator("#source-1 .headline .num").inner_text().strip() == "[1]"


def test_open_the_article_at_the_cited_paragraph(page, live_server):
    cards = _search(page, live_server)
    link = cards.first.locator("a.open-article")
    assert re.search(r"\?p=14(-15)?#p14$", link.get_attribute("href"))
    link.click()
    page.wait_for_url(re.compile(r"/articles/"))
    cited = page.locator("#p14")
    assert "cited" in cited.get_attribute("class")
    assert CPTPP_SENTENCE in cited.inner_text()
    assert page.locator("#p1").get_attribute("class") == "para"
    page.wait_for_function("() => { const r = document.getElementById('p14').getBoundingClientRect();"
                           " return r.top >= 0 && r.top < window.innerHeight; }")
    assert page.locator("h1").inner_text() == "Canberra and Tokyo can do better"
    _shot(page, "article")
    page.go_back()
    page.wait_for_selector("#results .card")
    assert page.locator("#q").input_value() == CPTPP_QUESTION


def test_copy_citation(page, live_server):
    cards = _search(page, live_server)
    first = cards.first
    label = first.locator(".citation-label").inner_text()
    button = first.locator("button.copy-citation")
    button.click()
    page.wait_for_function("() => document.querySelector('#results .card button.copy-citation')"
                           ".hasAttribute('data-copied')")
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert copied == button.get_attribute("data-copied")
    assert copied.startswith(label) and 'EAF Editorial Board, "Canberra and Tokyo can do better", para' in copied
    assert f"{live_server.url}/articles/{ARTICLE}?p=14" in copied


def test_filters_come_from_the_index_and_the_url_is_shareable(page, live_server):
    page.goto(live_server.url + "/")
    page.wait_for_function("() => document.querySelectorAll('#author option').length > 1")
    values = "els => els.map(o => o.value)"
    assert "EAF Editorial Board" in page.eval_on_selector_all("#author option", values)
    assert "Editorial" in page.eval_on_selector_all("#section option", values)

    url = f"{live_server.url}/?q={quote(CPTPP_QUESTION)}&author={quote('EAF Editorial Board')}&section=Editorial"
    page.goto(url)
    page.wait_for_selector("#results .card")
    assert page.locator("#q").input_value() == CPTPP_QUESTION
    assert page.locator("#author").input_value() == "EAF Editorial Board"
    assert page.locator("#section").input_value() == "Editorial"
    assert CPTPP_SENTENCE in page.locator("#results .card").first.inner_text()

    page.locator("#section").select_option("")
    page.wait_for_function("() => !new URLSearchParams(location.search).has('section')")
    assert parse_qs(urlparse(page.url).query)["author"] == ["EAF Editorial Board"]

    page.locator("#from").fill("2000-01-01")          # the seed article has no date: a date filter excludes it
    page.wait_for_selector("#status[data-state=noresults]")
    assert page.locator("#applied .undated-note").inner_text() == "The date filter leaves out 1 undated article."
    query = parse_qs(urlparse(page.url).query)
    assert query["from"] == ["2000-01-01"] and query["q"] == [CPTPP_QUESTION]
    page.reload()
    assert page.locator("#from").input_value() == "2000-01-01"


def test_clear_states(page, live_server):
    # Empty query: nothing is sent, the page says what to do.
    page.goto(live_server.url + "/")
    page.locator("#q").press("Enter")
    assert page.locator("#status").get_attribute("data-state") == "empty"
    assert "Type something" in page.locator("#status").inner_text()

    # A paste longer than a query may be is cut by the box, and the page says so.
    page.evaluate("text => navigator.clipboard.writeText(text)", "harbour " * 200)
    page.locator("#q").focus()
    page.keyboard.press("Control+V")
    page.wait_for_selector("#toast:not([hidden])")
    assert "at most 1,000 characters" in page.locator("#toast").inner_text()
    assert len(page.locator("#q").input_value()) == 1000

    # No results (a filter no article matches).
    page.goto(f"{live_server.url}/?q=CPTPP&section=Sport")
    page.wait_for_selector("#status[data-state=noresults]")
    assert "No results" in page.locator("#status").inner_text()
    assert page.locator("#results .card").count() == 0

    # Not found in the archive (the real answerer, on a question the seeds cannot answer).
    page.goto(f"{live_server.url}/?mode=ask&q={quote('who won the 1998 football world cup final?')}")
    page.wait_for_selector("#status[data-state=notfound]")
    assert "Not found in the archive" in page.locator("#status").inner_text()
    assert page.locator("#answer .answer-text").count() == 0

    # A server error shows its message.
    page.route("**/search?*", lambda route: route.fulfill(
        status=500, content_type="application/json",
        body=json.dumps({"error": {"code": "internal_error", "message": "unexpected server error"}})))
    page.goto(f"{live_server.url}/?q=CPTPP")
    page.wait_for_selector("#status[data-state=error]")
    status = page.locator("#status").inner_text()
    assert "Server error (500)" in status and "unexpected server error" in status
    _shot(page, "error")


def test_keyboard_enter_searches_and_tab_reaches_results(page, live_server):
    page.goto(live_server.url + "/")
    page.locator("#q").focus()
    page.keyboard.type("CPTPP accession")
    page.keyboard.press("Enter")
    page.wait_for_selector("#results .card")
    assert page.evaluate("() => document.activeElement.id") == "q"
    for _ in range(15):
        page.keyboard.press("Tab")
        if page.evaluate("() => !!document.activeElement.closest('#results .card')"):
            break
    else:
        pytest.fail("Tab never reached a result card")
    focused = page.evaluate("() => document.activeElement.getAttribute('href')")
    assert focused and focused.startswith("/articles/")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/articles/"))


def test_readable_at_phone_width(browser, live_server):
    ctx = _context(browser, live_server, viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True)
    try:
        pg = ctx.new_page()
        pg.goto(f"{live_server.url}/?q={quote(CPTPP_QUESTION)}")
        pg.wait_for_selector("#results .card")
        assert pg.evaluate("() => document.documentElement.scrollWidth") <= 375
        box = pg.locator("#results .card").first.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 375
        assert pg.evaluate("() => parseFloat(getComputedStyle(document.querySelector('.passage')).fontSize)") >= 16
        _shot(pg, "phone")
        pg.locator("#results .card a.open-article").first.click()
        pg.wait_for_selector("#p14.cited")
        assert pg.evaluate("() => document.documentElement.scrollWidth") <= 375
    finally:
        ctx.close()


def test_token_is_asked_once_and_kept_for_the_session(browser, seeds_index, settings):
    from api.server import create_app

    with LiveServer(create_app(seeds_index, dataclasses.replace(settings, api_token=TOKEN))) as server:
        ctx = _context(browser, server)
        try:
            pg = ctx.new_page()
            pg.goto(f"{server.url}/?q={quote(CPTPP_QUESTION)}")
            pg.wait_for_selector("#token-form:not([hidden])")
            pg.locator("#token").fill("wrong")
            pg.locator("#token").press("Enter")
            pg.wait_for_selector("#token-form:not([hidden])")
            assert "not accepted" in pg.locator("#token-message").inner_text()

            pg.locator("#token").fill(TOKEN)
            pg.locator("#token").press("Enter")
            pg.wait_for_selector("#results .card")
            assert CPTPP_SENTENCE in pg.locator("#results .card").first.inner_text()
            assert pg.evaluate("() => sessionStorage.getItem('edsearch-token')") == TOKEN
            assert pg.evaluate("() => localStorage.length") == 0

            pg.reload()                                   # same tab: not asked again
            pg.wait_for_selector("#results .card")
            assert pg.locator("#token-form").is_hidden()

            pg.locator("#results .card a.open-article").first.click()   # article page fetches with the token
            pg.wait_for_selector("#p14.cited")
            assert CPTPP_SENTENCE in pg.locator("#p14").inner_text()

            other = ctx.new_page()                        # a new tab (a new session) must ask again
            other.goto(f"{server.url}/?q=CPTPP")
            other.wait_for_selector("#token-form:not([hidden])")
        finally:
            ctx.close()
