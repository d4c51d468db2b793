"""The search page's server side: GET /, /static/*, and /articles/{id} as HTML (over a real server)."""
from __future__ import annotations

import dataclasses

import httpx
import pytest
from starlette.requests import Request

from api.models import ArticleFull, Paragraph
from api.web import authorized, parse_paragraphs, render_article, wants_html
from tests.conftest import LiveServer

ARTICLE = "eaf-editorial-canberra-tokyo"
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
TOKEN = "s3cret-token"


def _request(headers: dict[str, str]) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "query_string": b"",
                    "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]})


# -- units (no server) --

@pytest.mark.parametrize("accept, html", [
    (BROWSER_ACCEPT, True),
    ("text/html", True),
    ("*/*", False),
    ("", False),
    ("application/json", False),
    ("application/json, text/html", False),          # a tie keeps the API's default
    ("application/json;q=0.5, text/html", True),
    ("text/html;q=0, */*", False),
    ("text/*, application/json;q=0.9", True),
])
def test_wants_html_only_when_html_ranks_above_json(accept, html):
    assert wants_html(_request({"accept": accept} if accept else {})) is html


@pytest.mark.parametrize("p, paras", [
    ("14", {14}), ("14-15", {14, 15}), ("14\u201316", {14, 15, 16}), (None, set()), ("", set()),
    ("abc", set()), ("15-14", {15}), ("1-999999", {1}), ("<script>", set()),
])
def test_parse_paragraphs(p, paras):
    assert parse_paragraphs(p) == paras


def test_authorized():
    assert authorized(_request({}), "")
    assert not authorized(_request({}), TOKEN)
    assert not authorized(_request({"authorization": "Bearer nope"}), TOKEN)
    assert not authorized(_request({"authorization": f"Basic {TOKEN}"}), TOKEN)
    assert authorized(_request({"authorization": f"Bearer {TOKEN}"}), TOKEN)


def test_render_article_escapes_every_text():
    evil = '<script>alert("x")</script>&'
    art = ArticleFull(id='a"<b>', title=evil, author=evil, section=evil, publication=evil, published="2026-01-02",
                      url='https://example.org/"><script>x</script>', text="t",
                      paragraphs=[Paragraph(number=1, char_start=0, char_end=1, text=evil),
                                  Paragraph(number=2, char_start=2, char_end=3, text="plain")],
                      source="s.md", duplicates=[evil])
    page = render_article(art, {2})
    assert "<script>alert" not in page and "<b>" not in page and '"><script>' not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;" in page
    assert 'id="p1" class="para"' in page and 'id="p2" class="para cited"' in page
    assert 'href="/articles/a%22%3Cb%3E?p=1#p1"' in page


# -- a real server over the seeds' index --

@pytest.fixture(scope="module")
def token_server(seeds_index, settings):
    from api.server import create_app

    with LiveServer(create_app(seeds_index, dataclasses.replace(settings, api_token=TOKEN))) as server:
        yield server


@pytest.mark.slow
def test_search_page_and_static_files(live_server):
    r = httpx.get(live_server.url + "/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    for needle in ('id="search-form"', 'id="q"', 'value="search"', 'value="ask"', 'id="author"', 'id="section"',
                   'id="from"', 'id="to"', "/static/app.js", "/static/style.css", 'name="viewport"'):
        assert needle in r.text
    for path, kind in (("app.js", "javascript"), ("article.js", "javascript"), ("style.css", "text/css")):
        s = httpx.get(f"{live_server.url}/static/{path}")
        assert s.status_code == 200 and kind in s.headers["content-type"], path
    missing = httpx.get(live_server.url + "/static/nope.js")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "http_error"


@pytest.mark.slow
def test_article_html_highlights_the_cited_paragraph(live_server):
    r = httpx.get(f"{live_server.url}/articles/{ARTICLE}", params={"p": "14"}, headers={"Accept": BROWSER_ACCEPT})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "Accept" in r.headers["vary"]
    page = r.text
    assert "<h1>Canberra and Tokyo can do better</h1>" in page and "EAF Editorial Board" in page
    assert 'id="p14" class="para cited"' in page and 'aria-current="true"' in page
    assert 'id="p13" class="para"' in page and 'id="p15" class="para"' in page
    assert page.count('class="para cited"') == 1
    p14 = page[page.index('id="p14"'):page.index('id="p15"')]
    assert "Japan and Australia have the opportunity to use their influence over the CPTPP" in p14

    both = httpx.get(f"{live_server.url}/articles/{ARTICLE}?p=14-15", headers={"Accept": "text/html"}).text
    assert both.count('class="para cited"') == 2 and "paras 14\u201315" in both
    plain = httpx.get(f"{live_server.url}/articles/{ARTICLE}", headers={"Accept": "text/html"}).text
    assert 'class="para cited"' not in plain and "cited-note" not in plain


@pytest.mark.slow
def test_article_json_stays_the_default(live_server):
    for accept in (None, "*/*", "application/json", "application/json, text/html"):
        headers = {"Accept": accept} if accept else {}
        r = httpx.get(f"{live_server.url}/articles/{ARTICLE}", params={"p": "14"}, headers=headers)
        assert r.status_code == 200 and r.headers["content-type"] == "application/json", accept
        assert r.json()["paragraphs"][13]["number"] == 14


@pytest.mark.slow
def test_article_html_not_found_is_a_page(live_server):
    r = httpx.get(f"{live_server.url}/articles/no-such-article", headers={"Accept": BROWSER_ACCEPT})
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "Article not found" in r.text and "no-such-article" in r.text
    j = httpx.get(f"{live_server.url}/articles/no-such-article")
    assert j.status_code == 404 and j.json()["error"]["code"] == "not_found"


@pytest.mark.slow
def test_page_routes_need_no_token_but_the_data_does(token_server):
    url = token_server.url
    assert httpx.get(url + "/").status_code == 200
    assert httpx.get(url + "/static/app.js").status_code == 200
    assert httpx.get(url + "/health").status_code == 200
    assert httpx.get(url + "/search", params={"q": "CPTPP"}).status_code == 401
    assert httpx.get(f"{url}/articles/{ARTICLE}").status_code == 401

    # A browser navigation carries no token: it gets a shell that fetches the JSON, never the article text.
    shell = httpx.get(f"{url}/articles/{ARTICLE}?p=14", headers={"Accept": BROWSER_ACCEPT})
    assert shell.status_code == 200 and shell.headers["content-type"].startswith("text/html")
    assert 'data-shell="1"' in shell.text and "/static/article.js" in shell.text
    assert "CPTPP" not in shell.text and "Canberra and Tokyo" not in shell.text
    assert shell.headers["cache-control"] == "no-store"

    # With the token (an API client asking for HTML) the page is rendered on the server.
    auth = {"Authorization": f"Bearer {TOKEN}"}
    full = httpx.get(f"{url}/articles/{ARTICLE}?p=14", headers={"Accept": "text/html", **auth})
    assert full.status_code == 200 and 'id="p14" class="para cited"' in full.text
    wrong = httpx.get(f"{url}/articles/{ARTICLE}?p=14", headers={"Accept": "text/html",
                                                                  "Authorization": "Bearer wrong"})
    assert "CPTPP" not in wrong.text
    assert httpx.get(f"{url}/articles/{ARTICLE}", headers=auth).json()["id"] == ARTICLE
