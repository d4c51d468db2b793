"""RSS 2.0, RSS 1.0 and Atom feeds (feedparser): each entry an Article, with the WordPress export's mapping.

The file has passed indexer/xmlfiles.py first (entity declarations refused). feedparser itself neither fetches
nor expands external entities: given one, it falls back to its loose parser and leaves `&name;` as text."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from .articles import Article
from .records import LoadWarning, SkipRecord, html_fragment_text, make_article

SUMMARY_ONLY = ("the entry carries only a summary, not the full text; the summary was indexed (a full-text feed "
                "or the pages themselves give whole articles)")


def _body(details: list) -> str:
    """Clean paragraphs of feedparser content parts (HTML through the page path, plain text as it is)."""
    parts = []
    for part in details:
        value = (part.get("value") or "").strip()
        if not value:
            continue
        if "html" in (part.get("type") or "text/html"):
            try:
                parts.append(html_fragment_text(value, "the entry"))
            except SkipRecord:
                continue
        else:
            parts.append(value)
    return "\n\n".join(parts)


def feed_article(entry, n: int, publication: str | None, path: Path, source: str,
                 notes: list[str]) -> tuple[Article, bool]:
    """One feed entry as an Article, and whether only its summary was there to index."""
    body = _body(entry.get("content") or [])
    summary_only = not body
    if summary_only:
        detail = entry.get("summary_detail") or {}
        body = _body([{"value": entry.get("summary"), "type": detail.get("type", "text/html")}])
    if not body:
        raise SkipRecord("the entry has neither content nor a summary")
    terms = [t.get("term") or t.get("label") for t in entry.get("tags") or []]
    terms = list(dict.fromkeys(t.strip() for t in terms if t and t.strip()))
    names = [a.get("name") for a in entry.get("authors") or [] if a.get("name")]
    meta = {"id": entry.get("id") or entry.get("link"), "title": entry.get("title"),
            "author": names or entry.get("author"), "published": entry.get("published") or entry.get("updated"),
            "url": entry.get("link"), "section": terms[0] if terms else None, "tags": terms,
            "publication": publication}
    return make_article(meta, body, f"{path.stem}:{n}", source, notes=notes), summary_only


def load_feed(path: Path, source: str) -> Iterator[Article | LoadWarning]:
    """The entries of an RSS or Atom file, with a LoadWarning for each entry skipped or indexed from a summary."""
    import feedparser

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SkipRecord(f"cannot read file ({exc.strerror or exc}); check its permissions") from None
    parsed = feedparser.parse(data, resolve_relative_uris=False)
    if not parsed.entries:
        if parsed.get("bozo"):
            raise SkipRecord(f"not a readable feed ({parsed.get('bozo_exception')})")
        raise SkipRecord("the feed has no entries")
    publication = parsed.feed.get("title")
    for n, entry in enumerate(parsed.entries, 1):
        record = f"entry {n}"
        notes: list[str] = []
        try:
            article, summary_only = feed_article(entry, n, publication, path, source, notes)
        except SkipRecord as exc:
            yield LoadWarning(source, str(exc), record=record)
            continue
        yield article
        if summary_only:
            yield LoadWarning(source, SUMMARY_ONLY, record=record, kept=True)
        for note in notes:
            yield LoadWarning(source, note, record=record, kept=True)
