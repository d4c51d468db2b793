"""One record of an archive: its metadata read as archives write it (dates, tags, authors), its body cleaned into
an Article, and the warnings a record can raise. Shared by every reader: indexer/sources.py (files, JSON, HTML),
indexer/wordpress.py and indexer/feeds.py."""
from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass

from .articles import Article, clean_text


@dataclass(frozen=True)
class LoadWarning:
    """Something in the input that was skipped or changed; names the file (and line or record) and what to do.

    `line` or `record` (e.g. "post 42") say which record of the file it is about; with neither, the whole file
    was skipped (so a --prune keeps what the file held before). `kept` is true when the article was indexed all the
    same (a date that was dropped, a feed entry with only a summary)."""

    source: str
    message: str
    line: int | None = None
    record: str | None = None
    kept: bool = False

    @property
    def whole_file(self) -> bool:
        return self.line is None and self.record is None and not self.kept

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        if self.record:
            where += f" ({self.record})"
        return f"{where}: {self.message}"


class SkipRecord(ValueError):
    """Raised by the parsers for one bad record; becomes a LoadWarning."""


# --- metadata -------------------------------------------------------------------------------------------

class UnreadableDate(ValueError):
    """A published date no parser can read as a day; the article is kept without it."""


_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}(?=$|[T ])")
# Two defaults that differ in every field: a date string that leaves day, month or year out parses differently.
_DEFAULTS = (dt.datetime(2000, 1, 1), dt.datetime(2001, 2, 2))


def parse_date(value) -> str | None:
    """A published date as archives write it (2025/08/08, 8 August 2025, RFC 822, ISO with time and zone) as
    YYYY-MM-DD: the day as written, in the writer's own time zone. Raises UnreadableDate."""
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = " ".join(str(value).split())
    if _ISO_DAY.match(text):
        try:
            return dt.date.fromisoformat(text[:10]).isoformat()
        except ValueError:
            pass    # e.g. 2025-02-30, or WordPress's 0000-00-00 for "never": dateutil gives the reason
    from dateutil import parser

    try:
        # ignoretz: the day as written (an editorial dated 23:30 +10:00 appeared that day where it was written)
        first, second = (parser.parse(text, default=d, ignoretz=True) for d in _DEFAULTS)
    except (ValueError, OverflowError) as exc:
        raise UnreadableDate(f"published date {text[:80]!r} is not a date ({exc}); "
                             "indexed without a date (write it as YYYY-MM-DD to keep it)") from None
    if first != second and first.date() != second.date():
        raise UnreadableDate(f"published date {text[:80]!r} names no full day (year, month and day); "
                             "indexed without a date (write it as YYYY-MM-DD to keep it)")
    return first.date().isoformat()


def _date(value, notes: list[str] | None) -> str | None:
    try:
        return parse_date(value)
    except UnreadableDate as exc:
        if notes is not None:
            notes.append(str(exc))
        return None


def _tags(value) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list):
        value = [value]
    return [t for t in (_opt(v) for v in value) if t]


def _opt(value) -> str | None:
    """A metadata value as one line of text; a list is its items joined by ", " (authors, categories); a mapping
    or anything else that is not plain data is not text, and is left out."""
    if isinstance(value, list):
        value = ", ".join(t for t in map(_opt, value) if t)
    if value is None or not isinstance(value, (str, int, float)):
        return None
    text = " ".join(str(value).split())
    return text or None


TEXT_FIELDS = ("id", "_id", "title", "author", "authors", "url", "section", "category", "publication", "sitename")


def _opening(text: str, limit: int = 120) -> str:
    """An untitled article's title: its first line, cut at a word within `limit` characters."""
    line = text.split("\n", 1)[0]
    return line if len(line) <= limit else line[:limit].rsplit(" ", 1)[0].rstrip(" ,;:") + "\u2026"


def make_article(meta: dict, body: str, default_id: str, source: str, title: str | None = None,
                 notes: list[str] | None = None) -> Article:
    """Build a cleaned Article from metadata and body text; raise SkipRecord when nothing usable is left.

    What was dropped but did not cost the article (an unreadable date) is appended to `notes`."""
    text = clean_text(body)
    if not text:
        raise SkipRecord("no article text after cleaning")
    for key in ("id", "_id"):          # a database export's id: {"$oid": "5f1a..."} is the id 5f1a...
        if isinstance(meta.get(key), dict) and len(meta[key]) == 1:
            meta = {**meta, key: next(iter(meta[key].values()))}
    art_id = _opt(meta.get("id") or meta.get("_id")) or default_id
    if len(art_id) > 512 or any(ord(c) < 32 for c in art_id):
        raise SkipRecord("article id must be at most 512 printable characters")
    if notes is not None:
        notes += [f"{key} is not text ({type(value).__name__}); left out" for key, value in meta.items()
                  if key in TEXT_FIELDS and value is not None and _opt(value) is None and value not in ("", [])]
    title = _opt(meta.get("title")) or title or _opening(text)
    authors = meta.get("author") or meta.get("authors")
    return Article(
        id=art_id,
        title=title,
        text=text,
        author=_opt(authors),
        published=_date(meta.get("published") or meta.get("date"), notes),
        url=_opt(meta.get("url")),
        section=_opt(meta.get("section") or meta.get("category")),
        tags=_tags(meta.get("tags")),
        publication=_opt(meta.get("publication") or meta.get("sitename")),
        source=source,
    )


def extract_html(html: str, what: str = "the HTML page") -> tuple[dict, str]:
    """trafilatura's metadata and main text of an HTML page (or a fragment wrapped in one), the text as
    paragraphs separated by blank lines. Raises SkipRecord when it finds no text."""
    import trafilatura

    extracted = trafilatura.extract(html, output_format="json", with_metadata=True,
                                    include_comments=False, include_tables=False, favor_precision=True)
    if not extracted:
        raise SkipRecord(f"no article text found in {what}")
    doc = json.loads(extracted)
    meta = {"title": doc.get("title"), "author": doc.get("author"), "date": doc.get("date"),
            "url": doc.get("url") or doc.get("source"), "section": doc.get("categories") or None,
            "tags": doc.get("tags"), "publication": doc.get("sitename")}
    # trafilatura separates paragraphs with single newlines.
    lines = doc.get("text", "").split("\n")
    if lines and meta["title"] and lines[0].strip() == meta["title"].strip():
        lines = lines[1:]  # the headline repeated as the body's first line
    return meta, "\n\n".join(lines)


def html_fragment_text(fragment: str, what: str) -> str:
    """The clean paragraphs of an HTML fragment (a post's or a feed entry's body), by the page path above."""
    return extract_html(f"<html><body><article>{fragment}</article></body></html>", what)[1]
