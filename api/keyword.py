"""Query words in a passage: the spans the page highlights (the query syntax itself is indexer/keyword.py)."""
from __future__ import annotations

import re
from functools import lru_cache

from indexer.keyword import PHRASE as _PHRASE, STOPWORDS, WORD as _WORD, terms  # noqa: F401 (used by answer_model)


@lru_cache(maxsize=1 << 16)
def _stem(word: str) -> str:
    for suffix in ("ational", "ation", "ings", "ing", "ies", "ied", "es", "ed", "ly", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def highlight_spans(query: str, passage: str) -> list[tuple[int, int]]:
    """[start, end) spans of words in the passage that match a query term (light stemming)."""
    wanted = _wanted(query)
    if not wanted:
        return []
    # A stem is a prefix of its word, so only words starting with a wanted stem are stemmed and checked: stemming
    # every word cost 63 us a passage, this 26 (docs/scale.md).
    return [(m.start(), m.end()) for m in _prefixes(wanted).finditer(passage)
            if _stem(m.group(0).lower()) in wanted]


def _wanted(query: str) -> frozenset[str]:
    wanted = {_stem(t) for t in terms(query)}
    for phrase in _PHRASE.findall(query):
        wanted |= {_stem(w.lower()) for w in _WORD.findall(phrase)}
    return frozenset(wanted)


@lru_cache(maxsize=256)
def _prefixes(stems: frozenset[str]) -> re.Pattern:
    """Whole words (runs of \\w, as WORD finds them) that start with one of the stems, in any case."""
    alternatives = "|".join(re.escape(s) for s in sorted(stems, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})\w*", re.IGNORECASE | re.UNICODE)
