"""Read files and folders of articles: txt/md (optional YAML front matter), html, json, jsonl (BEIR too), and
XML: WordPress exports (indexer/wordpress.py) and RSS/Atom feeds (indexer/feeds.py), told apart by content."""
from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from .articles import Article, clean_text

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
JSON_SUFFIXES = {".json", ".jsonl", ".ndjson"}
XML_SUFFIXES = {".xml", ".wxr", ".rss", ".atom"}   # which kind is read from the content (indexer/xmlfiles.py)
SUPPORTED = TEXT_SUFFIXES | HTML_SUFFIXES | JSON_SUFFIXES | XML_SUFFIXES


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


def iter_files(paths: Iterable[str | Path]) -> Iterator[tuple[Path, Path] | LoadWarning]:
    """Yield (file, root) for every supported file under the given files and folders, in a stable order."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for f in sorted(p for p in path.rglob("*") if p.is_file()):
                rel = f.relative_to(path)
                if any(part.startswith(".") for part in rel.parts):
                    continue
                if f.suffix.lower() in SUPPORTED:
                    yield f, path
                else:
                    yield LoadWarning(str(f), f"unsupported file type {f.suffix or '(none)'!r}; "
                                      f"use one of {', '.join(sorted(SUPPORTED))}")
        elif path.is_file():
            if path.suffix.lower() in SUPPORTED:
                yield path, path.parent
            else:
                yield LoadWarning(str(path), f"unsupported file type {path.suffix or '(none)'!r}; "
                                  f"use one of {', '.join(sorted(SUPPORTED))}")
        else:
            yield LoadWarning(str(path), "no such file or folder; check the path")


def read_text_file(path: Path) -> str:
    """Read a file as UTF-8 text, refusing binary, non-UTF-8 and empty files with a clear reason."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SkipRecord(f"cannot read file ({exc.strerror or exc}); check its permissions") from exc
    if b"\x00" in data[:8192]:
        raise SkipRecord("binary file (contains NUL bytes); only text, HTML and JSON articles are indexed")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SkipRecord(f"not valid UTF-8 (bad byte at offset {exc.start}); re-save it as UTF-8") from exc
    if not text.strip():
        raise SkipRecord("empty file")
    return text


def load_file(path: Path, root: Path) -> Iterator[Article | LoadWarning]:
    """Articles in one file, with a LoadWarning for each record (or the whole file) that was skipped.

    Raises UnsafeXML (a ValueError) for an XML file with entity declarations (an entity bomb, an external
    entity): the build stops before anything is published."""
    source = str(path.resolve())
    default_id = path.relative_to(root).with_suffix("").as_posix()
    suffix = path.suffix.lower()
    try:
        if suffix in XML_SUFFIXES:
            yield from _load_xml(path, source)
            return
        text = read_text_file(path)
        if suffix in JSON_SUFFIXES:
            yield from _load_json(text, source, path.stem, jsonl=suffix != ".json")
            return
        notes: list[str] = []
        if suffix in HTML_SUFFIXES:
            yield _load_html(text, default_id, source)
        else:
            yield _load_text(text, default_id, source, notes)
        for note in notes:
            yield LoadWarning(str(path), note, _meta_line(text), kept=True)
    except SkipRecord as exc:
        yield LoadWarning(str(path), str(exc))


def _meta_line(text: str) -> int | None:
    """Line of the front matter's date field, for a warning about it."""
    m = re.search(r"^(published|date)\s*:", text, re.MULTILINE)
    return text.count("\n", 0, m.start()) + 1 if m else None


def _load_xml(path: Path, source: str) -> Iterator[Article | LoadWarning]:
    from .xmlfiles import sniff_xml

    kind = sniff_xml(path)
    if kind == "wordpress":
        from .wordpress import load_wordpress

        yield from load_wordpress(path, source)
    else:
        from .feeds import load_feed

        yield from load_feed(path, source)


def iter_articles(paths: Iterable[str | Path]) -> Iterator[Article | LoadWarning]:
    """Every article under the given files and folders, interleaved with warnings for what was skipped."""
    for item in iter_files(paths):
        if isinstance(item, LoadWarning):
            yield item
        else:
            yield from load_file(*item)


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
    return [str(t).strip() for t in value if str(t).strip()]


def _opt(value) -> str | None:
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text or None


def make_article(meta: dict, body: str, default_id: str, source: str, title: str | None = None,
                 notes: list[str] | None = None) -> Article:
    """Build a cleaned Article from metadata and body text; raise SkipRecord when nothing usable is left.

    What was dropped but did not cost the article (an unreadable date) is appended to `notes`."""
    text = clean_text(body)
    if not text:
        raise SkipRecord("no article text after cleaning")
    art_id = _opt(meta.get("id") or meta.get("_id")) or default_id
    if len(art_id) > 512 or any(ord(c) < 32 for c in art_id):
        raise SkipRecord("article id must be at most 512 printable characters")
    title = _opt(meta.get("title")) or title or text.split("\n", 1)[0][:120]
    authors = meta.get("author") or meta.get("authors")
    return Article(
        id=art_id,
        title=title,
        text=text,
        author=_opt(", ".join(map(str, authors)) if isinstance(authors, list) else authors),
        published=_date(meta.get("published") or meta.get("date"), notes),
        url=_opt(meta.get("url")),
        section=_opt(meta.get("section") or meta.get("category")),
        tags=_tags(meta.get("tags")),
        publication=_opt(meta.get("publication") or meta.get("sitename")),
        source=source,
    )


# --- formats ---------------------------------------------------------------------------------------------

def _load_text(text: str, default_id: str, source: str, notes: list[str]) -> Article:
    import frontmatter
    import yaml

    try:
        post = frontmatter.loads(text)
    except (yaml.YAMLError, ValueError) as exc:
        raise SkipRecord(f"malformed YAML front matter ({exc.__class__.__name__}); fix the block between '---' lines")
    meta, body = dict(post.metadata), post.content
    title = None
    if not meta.get("title"):
        first, _, rest = body.strip().partition("\n")
        title, body = first.lstrip("#").strip(), rest
    return make_article(meta, body, default_id, source, title, notes)


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


def _load_html(html: str, default_id: str, source: str) -> Article:
    meta, body = extract_html(html)
    # trafilatura normalises the dates it finds; one it could not read is left out, not warned about
    return make_article(meta, body, default_id, source)


def _json_record(obj, default_id: str, source: str, notes: list[str]) -> Article:
    if not isinstance(obj, dict):
        raise SkipRecord(f"expected a JSON object per article, got {type(obj).__name__}")
    meta = dict(obj.get("metadata") or {}) if isinstance(obj.get("metadata"), dict) else {}
    meta.update({k: v for k, v in obj.items() if k not in ("metadata", "text", "body")})
    body = obj.get("text") or obj.get("body")
    if not isinstance(body, str) or not body.strip():
        raise SkipRecord("record has no 'text' or 'body'")
    return make_article(meta, body, default_id, source, notes=notes)


def _load_json(text: str, source: str, stem: str, jsonl: bool) -> Iterator[Article | LoadWarning]:
    if not jsonl:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SkipRecord(f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}")
        records = data if isinstance(data, list) else [data]
        for i, obj in enumerate(records, 1):
            notes: list[str] = []
            try:
                yield _json_record(obj, f"{stem}:{i}", source, notes)
            except SkipRecord as exc:
                yield LoadWarning(source, str(exc), record=f"record {i}")
            for note in notes:
                yield LoadWarning(source, note, record=f"record {i}", kept=True)
        return
    # split on \n only: str.splitlines() also breaks at U+2028, U+2029 and U+0085, which JSON strings may hold
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield LoadWarning(source, f"malformed JSON line ({exc.msg}); line skipped", lineno)
            continue
        notes = []
        try:
            yield _json_record(obj, f"{stem}:{lineno}", source, notes)
        except SkipRecord as exc:
            yield LoadWarning(source, str(exc), lineno)
        for note in notes:
            yield LoadWarning(source, note, lineno, kept=True)
