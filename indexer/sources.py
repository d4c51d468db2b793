"""Read files and folders of articles: txt/md (optional YAML front matter), html, json, jsonl (BEIR too)."""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from .articles import Article, clean_text

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
JSON_SUFFIXES = {".json", ".jsonl", ".ndjson"}
SUPPORTED = TEXT_SUFFIXES | HTML_SUFFIXES | JSON_SUFFIXES


@dataclass(frozen=True)
class LoadWarning:
    """Something in the input that was skipped; names the file (and line) and what to do."""

    source: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
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
    """Articles in one file, with a LoadWarning for each record (or the whole file) that was skipped."""
    source = str(path.resolve())
    default_id = path.relative_to(root).with_suffix("").as_posix()
    suffix = path.suffix.lower()
    try:
        text = read_text_file(path)
        if suffix in JSON_SUFFIXES:
            yield from _load_json(text, source, path.stem, jsonl=suffix != ".json")
            return
        article = _load_html(text, default_id, source) if suffix in HTML_SUFFIXES else \
            _load_text(text, default_id, source)
        yield article
    except SkipRecord as exc:
        yield LoadWarning(str(path), str(exc))


def iter_articles(paths: Iterable[str | Path]) -> Iterator[Article | LoadWarning]:
    """Every article under the given files and folders, interleaved with warnings for what was skipped."""
    for item in iter_files(paths):
        if isinstance(item, LoadWarning):
            yield item
        else:
            yield from load_file(*item)


# --- metadata -------------------------------------------------------------------------------------------

def _date(value) -> str | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value).strip()
    try:
        return dt.date.fromisoformat(text[:10]).isoformat()
    except ValueError:
        raise SkipRecord(f"published date {text!r} is not an ISO date (YYYY-MM-DD); fix or remove it")


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


def make_article(meta: dict, body: str, default_id: str, source: str, title: str | None = None) -> Article:
    """Build a cleaned Article from metadata and body text; raise SkipRecord when nothing usable is left."""
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
        published=_date(meta.get("published") or meta.get("date")),
        url=_opt(meta.get("url")),
        section=_opt(meta.get("section") or meta.get("category")),
        tags=_tags(meta.get("tags")),
        publication=_opt(meta.get("publication") or meta.get("sitename")),
        source=source,
    )


# --- formats ---------------------------------------------------------------------------------------------

def _load_text(text: str, default_id: str, source: str) -> Article:
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
    return make_article(meta, body, default_id, source, title)


def _load_html(html: str, default_id: str, source: str) -> Article:
    import trafilatura

    extracted = trafilatura.extract(html, output_format="json", with_metadata=True,
                                    include_comments=False, include_tables=False, favor_precision=True)
    if not extracted:
        raise SkipRecord("no article text found in the HTML page")
    doc = json.loads(extracted)
    meta = {"title": doc.get("title"), "author": doc.get("author"), "date": doc.get("date"),
            "url": doc.get("url") or doc.get("source"), "section": doc.get("categories") or None,
            "tags": doc.get("tags"), "publication": doc.get("sitename")}
    try:
        _date(meta["date"])
    except SkipRecord:
        meta["date"] = None
    # trafilatura separates paragraphs with single newlines.
    lines = doc.get("text", "").split("\n")
    if lines and meta["title"] and lines[0].strip() == meta["title"].strip():
        lines = lines[1:]  # the headline repeated as the body's first line
    body = "\n\n".join(lines)
    return make_article(meta, body, default_id, source)


def _json_record(obj, default_id: str, source: str) -> Article:
    if not isinstance(obj, dict):
        raise SkipRecord(f"expected a JSON object per article, got {type(obj).__name__}")
    meta = dict(obj.get("metadata") or {}) if isinstance(obj.get("metadata"), dict) else {}
    meta.update({k: v for k, v in obj.items() if k not in ("metadata", "text", "body")})
    body = obj.get("text") or obj.get("body")
    if not isinstance(body, str) or not body.strip():
        raise SkipRecord("record has no 'text' or 'body'")
    return make_article(meta, body, default_id, source)


def _load_json(text: str, source: str, stem: str, jsonl: bool) -> Iterator[Article | LoadWarning]:
    if not jsonl:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SkipRecord(f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}")
        records = data if isinstance(data, list) else [data]
        for i, obj in enumerate(records, 1):
            try:
                yield _json_record(obj, f"{stem}:{i}", source)
            except SkipRecord as exc:
                yield LoadWarning(source, f"record {i}: {exc}")
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
        try:
            yield _json_record(obj, f"{stem}:{lineno}", source)
        except SkipRecord as exc:
            yield LoadWarning(source, str(exc), lineno)
