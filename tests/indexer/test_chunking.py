"""Chunking: exact spans, paragraph numbers, size limits in the model's own tokens."""
from __future__ import annotations

from hypothesis import given, settings as hsettings, strategies as st

from indexer.articles import Article, clean_text
from indexer.chunking import chunk_article, count_tokens, sentence_spans
from indexer.sources import iter_articles

from ..conftest import SEEDS


def _article(text: str) -> Article:
    return Article(id="t", title="T", text=clean_text(text))


def test_seed_chunks_have_exact_spans_and_paragraphs(embedder):
    art = next(iter_articles([SEEDS]))
    chunks = chunk_article(art, 200, 40, embedder.max_tokens, embedder.count_tokens)
    assert len(chunks) >= 5
    for c in chunks:
        assert art.text[c.char_start:c.char_end] == c.text
        assert c.n_tokens <= 200
        para_spans = art.paragraphs
        assert para_spans[c.para_start - 1][0] <= c.char_start < para_spans[c.para_start - 1][1] + 1
        assert para_spans[c.para_end - 1][0] < c.char_end <= para_spans[c.para_end - 1][1]
    cptpp = next(c for c in chunks if "influence over the CPTPP accession" in c.text)
    assert cptpp.para_start == 14
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))


def test_sentence_splitter_respects_abbreviations():
    text = "Mr. Smith met Dr. Jones in the U.S. capital. They spoke! Then left? Yes."
    spans = [text[s:e] for s, e in sentence_spans(text, 0, len(text))]
    assert spans == ["Mr. Smith met Dr. Jones in the U.S. capital.", "They spoke!", "Then left?", "Yes."]


def test_overlap_between_consecutive_chunks():
    text = " ".join(f"Sentence number {i} talks about the harbour budget and the council vote." for i in range(80))
    chunks = chunk_article(_article(text), 100, 30)
    assert len(chunks) > 3
    for a, b in zip(chunks, chunks[1:]):
        assert b.char_start < a.char_end          # overlap
        assert b.char_end > a.char_end            # progress


def test_long_unpunctuated_text_is_split_never_truncated(embedder):
    words = " ".join(f"token{i}" for i in range(3000))  # no sentence boundary at all
    art = _article(words)
    chunks = chunk_article(art, 200, 40, embedder.max_tokens, embedder.count_tokens)
    assert max(embedder.count_tokens([c.text for c in chunks])) <= embedder.max_tokens
    covered = " ".join(c.text for c in chunks)
    assert covered.split() == words.split()       # every word kept, in order, nothing cut
    for c in chunks:
        assert art.text[c.char_start:c.char_end] == c.text


def test_dense_wordpiece_text_is_split_to_fit_the_model(embedder):
    # Numbers and symbols cost many more wordpieces than cl100k tokens: the model check must split them.
    text = ". ".join("ﾈ𝔘𝔫𝔦𝔠𝔬𝔡𝔢 " + "-".join(str(i * 7919 % 10007) for i in range(40)) for _ in range(12)) + "."
    art = _article(text)
    chunks = chunk_article(art, 200, 40, embedder.max_tokens, embedder.count_tokens)
    assert max(embedder.count_tokens([c.text for c in chunks])) <= embedder.max_tokens
    assert all(art.text[c.char_start:c.char_end] == c.text for c in chunks)


@hsettings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=3000))
def test_spans_are_exact_for_arbitrary_unicode(raw):
    art = _article(raw)
    if not art.text:
        return
    chunks = chunk_article(art, 60, 15)
    for c in chunks:
        assert art.text[c.char_start:c.char_end] == c.text
        assert c.text.strip() == c.text and c.text
        assert count_tokens(c.text) <= 60
    # every non-space character of the article is in some chunk
    covered = set()
    for c in chunks:
        covered.update(range(c.char_start, c.char_end))
    assert all(i in covered for i, ch in enumerate(art.text) if not ch.isspace())
