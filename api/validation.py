"""Request validation shared by search, ask, the HTTP routes, the CLI and MCP: one message per mistake, naming the
field and what to do (QueryError, HTTP 400)."""
from __future__ import annotations

import datetime as dt
import re

MODES = ("hybrid", "dense", "keyword")
SORTS = ("relevance", "date")
INTERVALS = ("month", "year")
MAX_K = 100


class QueryError(ValueError):
    """The request is not valid; the message says which field and what to do."""


class ArticleNotFound(LookupError):
    pass


def check_text(text, name: str, max_chars: int, hint: str) -> str:
    """The stripped text of a query or question, or QueryError naming what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise QueryError(f"{name} is empty: {hint}")
    if len(text) > max_chars:
        raise QueryError(f"{name} is {len(text)} characters; the limit is {max_chars}")
    if "\x00" in text:
        raise QueryError(f"{name} contains a NUL character")
    return text.strip()


def check_k(k, name: str = "k") -> int:
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
        raise QueryError(f"{name} must be between 1 and {MAX_K}, got {k!r}")
    return k


def check_confidence(value, name: str = "min_confidence") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise QueryError(f"{name} must be a number from 0 to 1, got {value!r}")
    return float(value)


def validate_query(query: str, k: int, mode: str, max_chars: int) -> str:
    query = check_text(query, "query", max_chars, "type some words or a question")
    check_k(k)
    if mode not in MODES:
        raise QueryError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
    return query


def check_date(value: str | None, name: str) -> str | None:
    if value in (None, ""):
        return None
    try:
        return dt.date.fromisoformat(str(value)).isoformat()
    except ValueError as exc:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(value)):       # the right shape, not a day of the calendar
            raise QueryError(f"{name} {value} is not a date of the calendar ({exc})") from None
        raise QueryError(f"{name} must be a date as YYYY-MM-DD, got {value!r}") from None
