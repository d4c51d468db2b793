"""Read files and folders of articles: txt/md (optional YAML front matter), html, json, jsonl (BEIR too), and
XML: WordPress exports (indexer/wordpress.py) and RSS/Atom feeds (indexer/feeds.py), told apart by content."""
from __future__ import annotations

import functools
import json
import os
import re
from pathlib import Path
from typing import Iterable, Iterator

from .articles import Article
from .format import DATABASE, MANIFEST, SEGMENTS
from .records import LoadWarning, SkipRecord, extract_html, html_fragment_text, make_article

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
JSON_SUFFIXES = {".json", ".jsonl", ".ndjson"}
XML_SUFFIXES = {".xml", ".wxr", ".rss", ".atom"}   # which kind is read from the content (indexer/xmlfiles.py)
SUPPORTED = TEXT_SUFFIXES | HTML_SUFFIXES | JSON_SUFFIXES | XML_SUFFIXES


def source_list(paths: Iterable[str | Path] | str | Path) -> list[str | Path]:
    """The sources as a list: one path given alone is one source (a str is not walked as its characters)."""
    return [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)


def iter_files(paths: Iterable[str | Path]) -> Iterator[tuple[Path, Path] | LoadWarning]:
    """Yield (file, root) for every supported file under the given files and folders, in a stable order."""
    for raw in source_list(paths):
        path = Path(raw)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file())
            indexes = {f.parent for f in files if f.name == DATABASE}
            for f in files:
                rel = f.relative_to(path)
                if any(part.startswith(".") for part in rel.parts) or _in_index(rel, path, indexes):
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


def require_sources(paths: Iterable[str | Path], every: bool = False) -> None:
    """Refuse (ValueError) sources that are not there: all of them for a build (one missing among several is a
    warning of the run, as a bad file is), any of them for a watch, which would otherwise wait on a typo forever."""
    paths = [str(p) for p in source_list(paths)]
    missing = [p for p in paths if not Path(p).exists()]
    if missing and (every or len(missing) == len(paths)):
        raise ValueError(f"no such file or folder: {', '.join(missing)}; check the path")


def _in_index(rel: Path, root: Path, indexes: set[Path]) -> bool:
    """Whether the file root/rel is one of an edsearch index's own files (its database, manifest or segments) in
    a folder that holds an index: an index kept in the archive would otherwise be read back as articles on the
    next build. Only those files: articles kept in the same folder are still read."""
    folder = root
    for part in rel.parts:
        if folder in indexes and (part.startswith(DATABASE) or part in (MANIFEST, SEGMENTS)):
            return True
        folder = folder / part
    return False


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


# --- formats ---------------------------------------------------------------------------------------------

def _load_text(text: str, default_id: str, source: str, notes: list[str]) -> Article:
    import frontmatter
    import yaml

    handler = _front_matter()
    try:                        # the handler only where the file opens with YAML front matter: a story's "---"
        post = frontmatter.loads(text, handler=handler) if handler.detect(text) else frontmatter.loads(text)
    except (yaml.YAMLError, ValueError) as exc:
        raise SkipRecord(f"malformed YAML front matter ({exc.__class__.__name__}); fix the block between '---' lines")
    meta, body = dict(post.metadata), post.content
    title = None
    if not meta.get("title"):
        title, body = _split_title(body)
    return make_article(meta, body, default_id, source, title, notes)


TITLE_MAX_CHARS = 150


@functools.cache
def _front_matter():
    """python-frontmatter's YAML handler with dates left as written. PyYAML reads 2024-02-30 as a timestamp and
    raises ValueError, which cost the whole article as "malformed YAML"; make_article reads dates itself and
    keeps an article whose date it cannot read, with a warning naming the line."""
    import yaml
    from frontmatter.default_handlers import YAMLHandler

    class DatesAsText(yaml.SafeLoader):
        yaml_implicit_resolvers = {first: [r for r in resolvers if r[0] != "tag:yaml.org,2002:timestamp"]
                                   for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}

    class Handler(YAMLHandler):
        def load(self, fm: str, **kwargs):
            return yaml.load(fm, Loader=DatesAsText)

    return Handler()


def _split_title(body: str) -> tuple[str | None, str]:
    """(title, text) of an untitled text file. Its first line is the title when it reads as one: a Markdown
    heading, or a short line, a paragraph of its own (a blank line after it, so not the first line of a wrapped
    opening), that does not end with a full stop (a headline may end with "?" or "!"). Otherwise the first line is
    the opening of the story and stays in the text (the article's title is then its opening words): taking it
    away would drop a paragraph from the index, or a one-paragraph file altogether."""
    first, _, rest = body.strip().partition("\n")
    if first.startswith("#"):
        return first.lstrip("#").strip(), rest
    if rest.lstrip(" \t\r").startswith("\n") and rest.strip() and len(first) <= TITLE_MAX_CHARS \
            and not first.rstrip("\"'\u201d\u2019 ").endswith("."):
        return first.strip(), rest
    return None, body


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
    if HTML_BODY.search(body):          # a CMS export's body is HTML: its paragraphs, not its tags, are the text
        try:
            body = html_fragment_text(body, "the record's HTML body")
        except SkipRecord:              # nothing the extractor keeps: the body as it is, rather than no article
            pass
    return make_article(meta, body, default_id, source, notes=notes)


HTML_BODY = re.compile(r"<(p|div|br|h[1-6]|li|blockquote|figure|table)\b[^<>]*>|<a\s+href=", re.IGNORECASE)


def _records(data) -> list:
    """A .json file's records: a list of them, one record, or one list under a single key ({"articles": [...]},
    as exports wrap them)."""
    if isinstance(data, list):
        return data
    if isinstance(data, dict) and not ({"text", "body"} & data.keys()):
        lists = [v for v in data.values() if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)]
        if len(lists) == 1:
            return lists[0]
    return [data]


def _load_json(text: str, source: str, stem: str, jsonl: bool) -> Iterator[Article | LoadWarning]:
    if not jsonl:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SkipRecord(f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}")
        records = _records(data)
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
