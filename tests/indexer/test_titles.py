"""Passages embedded with their article's title ("title. passage"); the stored passage and its offsets unchanged."""
from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from indexer import IndexReader, build_index
from indexer.embedding import TITLE_SEPARATOR, embed_passages, embedding_input, titled_passages

ARTICLES = [
    ("port-1", "Harbour dredging delayed again", "The port authority postponed the work after divers found a "
     "wreck.\n\nShipping firms warned that larger vessels would divert to other ports."),
    ("bank-1", "Central bank holds rates", "The committee kept rates unchanged, citing stubborn services "
     "inflation.\n\nTwo members voted for a cut, pointing to weak retail sales."),
    ("club-1", "Football club sold to investors", "The club was sold after months of talks.\n\nSupporters "
     "demanded guarantees that the stadium would stay in the city."),
]


def write_corpus(path: Path) -> Path:
    path.write_text("".join(json.dumps({"id": i, "title": t, "text": x}) + "\n" for i, t, x in ARTICLES))
    return path


def stored(index: Path) -> tuple[list[tuple], dict[tuple[str, int], np.ndarray], dict]:
    """(chunk rows, vector of each (article, ordinal), manifest) of the published index."""
    reader = IndexReader(index)
    rows = [tuple(r) for r in reader.db.execute(
        "SELECT c.article_id, c.ordinal, c.char_start, c.char_end, c.text, a.text, a.title FROM chunks c "
        "JOIN articles a ON a.id = c.article_id ORDER BY c.article_id, c.ordinal")]
    ids, vecs = reader.vectors.export()
    where = {int(i): n for n, i in enumerate(ids)}
    by_chunk = {(art, o): vecs[where[int(cid)]] for cid, art, o in reader.db.execute(
        "SELECT id, article_id, ordinal FROM chunks")}
    return rows, by_chunk, reader.manifest


def test_titles_change_the_vectors_not_the_stored_passages(tmp_path, settings, embedder):
    corpus = write_corpus(tmp_path / "news.jsonl")
    plain = build_index([corpus], tmp_path / "plain", settings=dataclasses.replace(settings, embed_titles=False),
                        progress=False)
    titled = build_index([corpus], tmp_path / "titled", settings=dataclasses.replace(settings, embed_titles=True),
                         progress=False)
    assert plain.published and titled.published and plain.chunks == titled.chunks == len(ARTICLES)
    rows_p, vecs_p, man_p = stored(tmp_path / "plain")
    rows_t, vecs_t, man_t = stored(tmp_path / "titled")
    assert rows_t == rows_p                                   # same passages, same offsets
    for art, ordinal, start, end, text, body, title in rows_t:
        assert body[start:end] == text and not text.startswith(title)
        key = (art, ordinal)
        # the title moved the vector, and it is exactly the vector of "title. passage"
        assert float(vecs_p[key] @ vecs_t[key]) < 0.99
        expected = embedder.encode([f"{title}{TITLE_SEPARATOR}{text}"])[0]
        assert float(expected @ vecs_t[key]) > 0.999
        assert float(embedder.encode([text])[0] @ vecs_p[key]) > 0.999
    assert man_t["embedding_input"] == {"title": True, "separator": TITLE_SEPARATOR}
    assert man_p["embedding_input"]["title"] is False


def test_a_title_never_pushes_the_passage_past_the_model_limit(embedder):
    limit = embedder.max_tokens
    words = "harbour"
    passage = " ".join([words] * 400)
    while embedder.count_tokens([passage])[0] > limit - 3:            # a passage that nearly fills the model
        passage = passage.rsplit(" ", 1)[0]
    title = "Port authority postpones the dredging of the inner harbour for another year"
    short = "Rates held"
    out = titled_passages(embedder, [title, short, "", "Rates held", "Rates held at\u2026"],
                          [passage, "Rates rose.", "Body.", "Rates held at 5%.", "Rates held at 5% again."])
    assert out[0].endswith(passage) and out[0] != passage and title.startswith(out[0][:-len(passage)].rstrip(". "))
    assert embedder.count_tokens([out[0]])[0] <= limit
    assert out[1] == f"Rates held{TITLE_SEPARATOR}Rates rose."
    assert out[2] == "Body."                                       # no title: the passage alone
    assert out[3] == "Rates held at 5%."                           # opens with its title already
    assert out[4] == "Rates held at 5% again."                     # ... cut from its opening, as an untitled one
    vecs = embed_passages(embedder, ["Rates rose."], ["Rates held"])
    assert float(vecs[0] @ embedder.encode([out[1]])[0]) > 0.999
    with pytest.raises(ValueError, match="2 titles for 1 passages"):
        embed_passages(embedder, ["x"], ["a", "b"])


def test_an_index_built_without_titles_opens_searches_and_is_reembedded(tmp_path, settings):
    from api import Retriever

    corpus = write_corpus(tmp_path / "news.jsonl")
    idx = tmp_path / "idx"
    plain = dataclasses.replace(settings, embed_titles=False)
    build_index([corpus], idx, settings=plain, progress=False)
    # an index written before titles were recorded has no embedding_input in its manifest
    db = sqlite3.connect(idx / "edsearch.db")
    manifest = json.loads(db.execute("SELECT manifest FROM commits ORDER BY gen DESC").fetchone()[0])
    del manifest["embedding_input"]
    db.execute("UPDATE commits SET manifest = ? WHERE gen = ?", (json.dumps(manifest), manifest["index_version"]))
    db.commit()
    db.close()
    assert embedding_input(IndexReader(idx).manifest) == {"title": False, "separator": ""}
    hits = Retriever(idx, dataclasses.replace(settings, embed_titles=True)).search("who bought the football club",
                                                                                     k=1).hits
    assert hits[0].article.id == "club-1"

    # Built with titles now, from another source with one new article: the three stored ones are embedded again
    # from the stored copy, so no vector of the index is left from the old input.
    titled = dataclasses.replace(settings, embed_titles=True)
    more = tmp_path / "more.jsonl"
    more.write_text(json.dumps({"id": "rain-1", "title": "Storm closes roads", "text": "A storm cut power."}) + "\n")
    again = build_index([more], idx, settings=titled, progress=False)
    assert (again.indexed, again.unchanged, again.reembedded, again.chunks) == (1, 0, 3, 4) and again.published
    build_index([corpus, more], tmp_path / "fresh", settings=titled, progress=False)
    rows_a, vecs_a, man_a = stored(idx)
    rows_f, vecs_f, _ = stored(tmp_path / "fresh")
    assert rows_a == rows_f and man_a["embedding_input"]["title"] is True
    assert all(float(vecs_a[k] @ vecs_f[k]) > 0.999 for k in vecs_f)
    reader = IndexReader(idx)
    assert {r[0]: r[1] for r in reader.db.execute("SELECT id, content_hash FROM articles")} == \
        {r[0]: r[1] for r in IndexReader(tmp_path / "fresh").db.execute("SELECT id, content_hash FROM articles")}
    assert build_index([corpus, more], idx, settings=titled, progress=False).published is None   # up to date now
