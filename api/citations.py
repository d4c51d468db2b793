"""Citation labels, paragraph references and text-fragment links."""
from __future__ import annotations

from urllib.parse import quote

from .models import ArticleRef, Citation


def paragraph_ref(paragraphs: list[int]) -> str:
    if not paragraphs:
        return ""
    lo, hi = min(paragraphs), max(paragraphs)
    return f"para {lo}" if lo == hi else f"paras {lo}\u2013{hi}"


def label(article: ArticleRef, paragraphs: list[int]) -> str:
    """e.g. EAF Editorial Board, "Canberra and Tokyo can do better", para 14"""
    who = article.author or article.publication or "Unknown author"
    when = f" ({article.published})" if article.published else ""
    return f'{who}, "{article.title}"{when}, {paragraph_ref(paragraphs)}'


def _fragment_part(words: list[str]) -> str:
    # Text directives need '-', ',' and '&' percent-encoded as well as the usual characters.
    return quote(" ".join(words), safe="").replace("-", "%2D")


def text_fragment(passage: str, words: int = 6) -> str:
    """A #:~:text= directive matching the passage (start and end words for long passages)."""
    tokens = passage.split()      # whitespace runs, as \S+ finds words, without a regex over the whole passage
    if len(tokens) <= 2 * words:
        return "#:~:text=" + _fragment_part(tokens)
    return f"#:~:text={_fragment_part(tokens[:words])},{_fragment_part(tokens[-words:])}"


def app_link(article_id: str, paragraph: int | None) -> str:
    link = f"/articles/{quote(article_id, safe='')}"
    return f"{link}?p={paragraph}#p{paragraph}" if paragraph else link


def cite(article: ArticleRef, paragraphs: list[int], char_start: int, char_end: int, passage: str) -> Citation:
    link = None
    if article.url:
        link = article.url.split("#", 1)[0] + text_fragment(passage)
    return Citation(label=label(article, paragraphs), paragraphs=paragraphs, char_start=char_start,
                    char_end=char_end, link=link, app_link=app_link(article.id, min(paragraphs) if paragraphs else None))
