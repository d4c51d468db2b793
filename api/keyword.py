"""User text -> a safe FTS5 query (quoted phrases kept), and the terms to highlight."""
from __future__ import annotations

import re
from functools import lru_cache

STOPWORDS = frozenset("""a an and are as at be been but by can could did do does for from had has have he her his how
i if in into is it its me my no not of on or our she should so than that the their them then there these they this
to was we were what when where which who whom why will with would you your about after also any more most over such
up""".split())

_WORD = re.compile(r"\w+", re.UNICODE)
_PHRASE = re.compile(r'"([^"]+)"')


def terms(text: str) -> list[str]:
    """Content words of the text, lowercased, in order, without duplicates."""
    words = [w.lower() for w in _WORD.findall(text)]
    return list(dict.fromkeys(w for w in words if w not in STOPWORDS and (len(w) > 1 or w.isdigit())))


def _quote(words: list[str]) -> str:
    return '"' + " ".join(words) + '"'


def fts_query(text: str, require_all: bool = False) -> str | None:
    """An FTS5 MATCH expression: quoted phrases are required, other words are OR-ed (ranked by BM25), or AND-ed
    with `require_all`. Every word is quoted, so no user input can be FTS syntax; None when nothing is left."""
    phrases = [[w.lower() for w in _WORD.findall(p)] for p in _PHRASE.findall(text)]
    phrases = [p for p in phrases if p]
    rest = terms(_PHRASE.sub(" ", text))
    if not rest and not phrases:
        rest = list(dict.fromkeys(w.lower() for w in _WORD.findall(text)))  # a query of stopwords only
    parts = [_quote(p) for p in phrases]
    if rest and require_all:
        parts += [_quote([w]) for w in rest]
    elif rest:
        ors = " OR ".join(_quote([w]) for w in rest)
        parts.append(f"({ors})" if phrases else ors)
    return " AND ".join(parts) if parts else None


@lru_cache(maxsize=1 << 16)
def _stem(word: str) -> str:
    for suffix in ("ational", "ation", "ings", "ing", "ies", "ied", "es", "ed", "ly", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def highlight_spans(query: str, passage: str) -> list[tuple[int, int]]:
    """[start, end) spans of words in the passage that match a query term (light stemming)."""
    wanted = {_stem(t) for t in terms(query)}
    for phrase in _PHRASE.findall(query):
        wanted |= {_stem(w.lower()) for w in _WORD.findall(phrase)}
    if not wanted:
        return []
    return [(m.start(), m.end()) for m in _WORD.finditer(passage) if _stem(m.group(0).lower()) in wanted]
