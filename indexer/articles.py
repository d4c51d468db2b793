"""Article: the unit that is indexed, plus the cleaning that turns raw text into stored text."""
from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import asdict, dataclass, field

# Page furniture that scraped articles carry: whole short paragraphs only, never text inside the body.
_FURNITURE = re.compile(
    r"^(listen to (this|the) (article|story)( \(\d+ min(ute)?s?\))?"
    r"|share (this|the) (article|story|page)( on \w+)?"
    r"|(share|tweet|email|print|save)( (on|via) \w+)?"
    r"|(sign up|subscribe) (to|for) (our|the) [\w ]*newsletter[\w ]*"
    r"|advertisement|skip (to|past) (main )?(content|advertisement)"
    r"|(read more|related( articles| stories)?|more on this story|most read)( ?:)?"
    r"|click here to [\w ]+|image (source|caption)[:\s].{0,80}|(getty images|reuters|ap photo)"
    r"|(copyright|©) .{0,80}|reading time:? \d+ min(ute)?s?|\d+ min(ute)? read)\.?$",
    re.IGNORECASE,
)
_INLINE_SPACE = re.compile(r"[ \t\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_PARA_BREAK = re.compile(r"\n\s*\n")


def clean_text(raw: str) -> str:
    """Normalise whitespace, keep paragraph breaks (blank lines), drop furniture paragraphs."""
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc")
    text = unicodedata.normalize("NFC", text)    # after dropping controls, which can sit inside a sequence
    paragraphs = []
    for block in _PARA_BREAK.split(text):
        lines = [_INLINE_SPACE.sub(" ", line).strip() for line in block.split("\n")]
        para = " ".join(line for line in lines if line)
        if para and not (len(para) <= 120 and _FURNITURE.match(para)):
            paragraphs.append(para)
    return "\n\n".join(paragraphs)


def paragraph_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the paragraphs of cleaned text (paragraphs are separated by blank lines)."""
    spans, start = [], 0
    for m in re.finditer(r"\n\n", text):
        spans.append((start, m.start()))
        start = m.end()
    if start < len(text):
        spans.append((start, len(text)))
    return spans


def _digest(payload: str) -> str:
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


@dataclass
class Article:
    """An article as stored: `text` is cleaned; chunk spans index into it."""

    id: str
    title: str
    text: str
    author: str | None = None
    published: str | None = None   # ISO 8601 date (YYYY-MM-DD) or None
    url: str | None = None
    section: str | None = None
    tags: list[str] = field(default_factory=list)
    publication: str | None = None
    source: str = ""                # file path (and line) it was read from

    @property
    def text_hash(self) -> str:
        """Hash of the body alone: equal for byte-identical duplicates filed under other ids."""
        return _digest(self.text)

    @property
    def content_hash(self) -> str:
        """Hash of everything stored: a change means the article must be re-indexed."""
        meta = {k: v for k, v in asdict(self).items() if k not in ("source",)}
        return _digest(json.dumps(meta, sort_keys=True, ensure_ascii=False))

    @property
    def paragraphs(self) -> list[tuple[int, int]]:
        return paragraph_spans(self.text)
