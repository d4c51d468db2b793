"""The search page: static files under api/web/, and the HTML view of a stored article.

`GET /` serves index.html (plain JS calling the JSON API, no build step); `/static/*` serves the rest of
api/web/. `GET /articles/{id}` answers HTML when the browser asks for it (Accept: text/html ranked above
JSON), with numbered paragraphs (id="p14") and the cited ones (?p=14 or ?p=14-15) highlighted. All text is
escaped with html.escape. The page routes never need the token: when one is configured and the request
carries none (a browser navigation cannot), /articles answers a shell page whose script fetches the JSON
with the token the search page kept in sessionStorage.
"""
from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Callable
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

from .auth import bearer_ok
from .models import ArticleFull
from .retriever import ArticleNotFound, QueryError

WEB_DIR = Path(__file__).resolve().parent / "web"
VARY = {"Vary": "Accept, Authorization"}
MAX_PARA_RANGE = 1000
SEP = " \u00b7 "


def _quality(accept: str, wanted: str) -> float:
    """q of the most specific media range in `accept` that matches `wanted` (0 when none does)."""
    kind = wanted.split("/", 1)[0]
    best, best_specificity = 0.0, -1
    for part in accept.split(","):
        media, *params = [p.strip() for p in part.split(";")]
        media = media.lower()
        if media == wanted:
            specificity = 2
        elif media == f"{kind}/*":
            specificity = 1
        elif media == "*/*":
            specificity = 0
        else:
            continue
        q = 1.0
        for p in params:
            name, _, value = p.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if specificity > best_specificity:
            best, best_specificity = q, specificity
    return best


def wants_html(request: Request) -> bool:
    """True when the client ranks text/html strictly above application/json (browsers do; fetch and httpx,
    sending */*, do not: JSON stays the default)."""
    accept = request.headers.get("accept", "")
    return _quality(accept, "text/html") > _quality(accept, "application/json")


def authorized(request: Request, token: str) -> bool:
    return bearer_ok(request.headers.get("authorization", ""), token)


def parse_paragraphs(p: str | None) -> set[int]:
    """'14' -> {14}; '14-15' (or 14–15) -> {14, 15}; anything else -> no highlight."""
    if not p:
        return set()
    m = re.fullmatch(r"\s*(\d{1,6})\s*(?:[-\u2013,]\s*(\d{1,6})\s*)?", p)
    if not m:
        return set()
    lo = int(m.group(1))
    hi = int(m.group(2) or lo)
    if hi < lo or hi - lo > MAX_PARA_RANGE:
        return {lo}
    return set(range(lo, hi + 1))


def _page(title: str, body: str, body_class: str = "", scripts: tuple[str, ...] = ()) -> str:
    tags = "".join(f'<script src="/static/{s}" defer></script>' for s in scripts)
    return (
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n"
        '<link rel="stylesheet" href="/static/style.css">\n'
        f"{tags}\n</head>\n<body class=\"{html.escape(body_class)}\">\n"
        '<header class="topbar"><a class="brand" href="/">edsearch</a>'
        '<a class="back" id="back" href="/">\u2190 Back to search</a></header>\n'
        f"<main id=\"main\" class=\"wrap\">\n{body}\n</main>\n</body>\n</html>\n"
    )


def render_article(article: ArticleFull, highlight: set[int] | None = None) -> str:
    """The stored article as a page: meta line, numbered paragraphs, the cited ones highlighted."""
    highlight = highlight or set()
    esc = html.escape
    meta = [esc(v) for v in (article.author, article.published, article.section, article.publication) if v]
    parts = [f'<article class="article" data-article-id="{esc(article.id)}">',
             f"<h1>{esc(article.title)}</h1>",
             f'<p class="meta">{SEP.join(meta)}</p>' if meta else ""]
    if article.url:
        parts.append(f'<p class="meta"><a href="{esc(article.url)}" rel="noopener noreferrer">Original article'
                     " \u2197</a></p>")
    cited = sorted(n for n in highlight if 1 <= n <= len(article.paragraphs))
    if cited:
        ref = f"para {cited[0]}" if len(cited) == 1 else f"paras {cited[0]}\u2013{cited[-1]}"
        parts.append(f'<p class="cited-note">Highlighted: the cited passage, <a href="#p{cited[0]}">{ref}</a>.</p>')
    parts.append('<div class="paragraphs">')
    link = f"/articles/{quote(article.id, safe='')}"
    for para in article.paragraphs:
        n = para.number
        is_cited = n in highlight
        cls = "para cited" if is_cited else "para"
        current = ' aria-current="true"' if is_cited else ""
        parts.append(f'<p id="p{n}" class="{cls}" data-para="{n}"{current}>'
                     f'<a class="pnum" href="{link}?p={n}#p{n}" aria-label="Paragraph {n}">{n}</a>'
                     f'<span class="ptext">{esc(para.text)}</span></p>')
    parts.append("</div>")
    if article.duplicates:
        parts.append(f'<p class="meta">Also filed as: {esc(", ".join(article.duplicates))}</p>')
    if article.near_duplicates:
        links = ", ".join(f'<a href="/articles/{quote(d, safe="")}">{esc(d)}</a>' for d in article.near_duplicates)
        parts.append(f'<p class="meta">Other versions: {links}</p>')
    parts.append("</article>")
    return _page(f"{article.title} \u2014 edsearch", "\n".join(p for p in parts if p), "article-page",
                 ("common.js", "article.js"))


def render_error(status: int, title: str, message: str) -> str:
    body = (f'<section class="state state-error" role="alert"><h1>{html.escape(title)}</h1>'
            f"<p>{html.escape(message)}</p><p><a href=\"/\">Search the archive</a></p></section>")
    return _page(f"{title} \u2014 edsearch", body, "article-page error-page")


def article_shell() -> str:
    """The article page without its content: article.js fetches it with the session's token."""
    body = ('<div id="article-root" data-shell="1"><p class="state" role="status">Loading the article\u2026</p>'
            "</div>")
    return _page("Article \u2014 edsearch", body, "article-page", ("common.js", "article.js"))


def article_response(request: Request, article_id: str, p: str | None, get_retriever: Callable,
                     token: str) -> HTMLResponse:
    if token and not authorized(request, token):
        return HTMLResponse(article_shell(), headers={**VARY, "Cache-Control": "no-store"})
    try:
        art = get_retriever().article(article_id)
    except ArticleNotFound as exc:
        return HTMLResponse(render_error(404, "Article not found", str(exc)), 404, headers=VARY)
    except QueryError as exc:
        return HTMLResponse(render_error(400, "Bad request", str(exc)), 400, headers=VARY)
    except Exception as exc:  # ApiError (no index loaded) and the like: same status, as a page
        status = getattr(exc, "status", None)
        if not isinstance(status, int):
            raise
        return HTMLResponse(render_error(status, "The archive is not available", getattr(exc, "message", str(exc))),
                            status, headers=VARY)
    headers = {**VARY, "Cache-Control": "no-store"} if token else VARY
    return HTMLResponse(render_article(art, parse_paragraphs(p)), headers=headers)


def mount(app: FastAPI) -> None:
    """GET / (the search page) and /static/* (its files); neither needs the token."""
    index = WEB_DIR / "index.html"

    @app.get("/", include_in_schema=False)
    def search_page():
        return FileResponse(index, media_type="text/html; charset=utf-8", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")
