"""Near-duplicate collapse: made-up near copies of the seeds' editorial, built into a real index and searched."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from indexer import IndexReader, build_index
from indexer import neardup
from indexer.sources import iter_articles
from indexer.format import OldFormat

from .format1 import make_format_1

from ..conftest import SEEDS

QUERY = "Japan alliance bargain territory for military bases"


def _editorial_paragraphs() -> list[str]:
    art = next(iter_articles([SEEDS]))
    return art.text.split("\n\n")[:8]


def _corrected(paras: list[str]) -> list[str]:
    """A lightly corrected version: a fixed date, a changed word in two paragraphs and an added correction note."""
    out = [p.replace("September 2026", "October 2026").replace("simple", "plain") for p in paras]
    out[5] = out[5].replace("increasingly", "more and more")
    return out + ["Correction: an earlier version of this editorial gave the wrong month for the anniversary."]


def _write(folder: Path, records: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "archive.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _records(paras: list[str]) -> dict[str, dict]:
    other = ("The harbour board met on Tuesday to approve the dredging budget. Engineers said the channel would "
             "be deepened by two metres. Fishermen asked for a pause during the spawning season. ") * 3
    half = paras[:3] + [other]          # shares three paragraphs with the original and nothing else
    return {
        "original": {"id": "original", "title": "Canberra and Tokyo can do better", "text": "\n\n".join(paras)},
        "identical": {"id": "identical", "title": "Canberra and Tokyo can do better (syndicated)",
                      "text": "\n\n".join(paras)},
        "corrected": {"id": "corrected", "title": "Canberra and Tokyo can do better (corrected)",
                      "text": "\n\n".join(_corrected(paras))},
        "partial": {"id": "partial", "title": "Harbour board and the alliance", "text": "\n\n".join(half)},
    }


def test_made_up_copies_sit_on_the_right_side_of_the_threshold(settings):
    paras = _editorial_paragraphs()
    recs = _records(paras)
    t = settings.near_duplicate_threshold
    sig = {k: s for k, s in zip(recs, neardup.signatures(r["text"] for r in recs.values()))}
    exact_corrected = neardup.exact_jaccard(recs["original"]["text"], recs["corrected"]["text"])
    exact_partial = neardup.exact_jaccard(recs["original"]["text"], recs["partial"]["text"])
    assert exact_corrected >= t + 0.2 and neardup.jaccard(sig["original"], sig["corrected"]) >= t
    assert 0.1 < exact_partial <= t - 0.15 and neardup.jaccard(sig["original"], sig["partial"]) < t
    # Case, punctuation and spacing do not make a copy different.
    assert neardup.shingles("The Board, said: NO.") == neardup.shingles("the board said no")


def test_near_copies_collapse_into_one_hit_that_names_them(tmp_path, settings, embedder):
    from api import Retriever

    recs = _records(_editorial_paragraphs())
    src = _write(tmp_path / "src", list(recs.values()))
    idx = tmp_path / "idx"
    build_index([src], idx, settings=settings, progress=False)
    reader = IndexReader(idx)
    groups = dict(reader.db.execute("SELECT article_id, group_id FROM article_groups"))
    assert groups == {"corrected": "corrected", "identical": "corrected", "original": "corrected"}
    assert reader.manifest["near_duplicates"]["threshold"] == settings.near_duplicate_threshold

    r = Retriever(idx, settings)
    hits = r.search(QUERY, k=10).hits
    by_article = {h.article.id: h for h in hits}
    group = {"original", "identical", "corrected"}
    shown = group & set(by_article)
    assert len(shown) == 1, f"one result for the group, got {shown}"
    hit = by_article[shown.pop()]
    assert set(hit.duplicates) | set(hit.near_duplicates) | {hit.article.id} == group
    if hit.article.id in ("original", "identical"):          # byte-identical copies stay named as before
        assert hit.duplicates == sorted({"original", "identical"} - {hit.article.id})
        assert hit.near_duplicates == ["corrected"]
    assert "partial" in by_article and by_article["partial"].near_duplicates == []   # below the threshold
    full = r.article("corrected")
    assert full.duplicates == [] and full.near_duplicates == ["identical", "original"]


def test_groups_follow_incremental_builds_and_old_indexes_open(tmp_path, settings, embedder):
    from api import Retriever

    recs = _records(_editorial_paragraphs())
    idx = tmp_path / "idx"
    src = _write(tmp_path / "src", [recs["original"], recs["partial"]])
    build_index([src], idx, settings=settings, progress=False)
    assert IndexReader(idx).near_duplicates(["original"]) == {}

    # An index built before near-duplicates (and before segments: format 1): it is refused with a message saying
    # how to upgrade, and the next build upgrades it and adds signatures and groups for every article.
    _write(tmp_path / "src", [recs["original"], recs["partial"], recs["identical"]])
    build_index([src], idx, settings=settings, progress=False)
    make_format_1(idx, near_duplicates=False)
    with pytest.raises(OldFormat, match="edsearch optimize"):
        Retriever(idx, settings)

    # A build with nothing changed publishes the groups the old index lacks, embedding nothing.
    upgrade = build_index([src], idx, settings=settings, progress=False)
    assert upgrade.published and upgrade.chunks == 0 and upgrade.unchanged == 3
    assert IndexReader(idx).near_duplicates(["original"]) == {"original": ["identical"]}
    assert build_index([src], idx, settings=settings, progress=False).published is None     # then a no-op again

    _write(tmp_path / "src", [recs["original"], recs["partial"], recs["identical"], recs["corrected"]])
    summary = build_index([src], idx, settings=settings, progress=False)
    assert summary.indexed == 1
    reader = IndexReader(idx)
    assert reader.near_duplicates(["corrected"]) == {"corrected": ["identical", "original"]}
    assert reader.db.execute("SELECT count(*) FROM article_minhash").fetchone()[0] == 4

    # Removing articles (prune) removes their links; the group shrinks to what is left.
    _write(tmp_path / "src", [recs["partial"], recs["corrected"], recs["identical"]])
    build_index([src], idx, settings=settings, progress=False, prune=True)
    reader = IndexReader(idx)
    assert reader.near_duplicates(["corrected"]) == {"corrected": ["identical"]}
    assert reader.db.execute("SELECT count(*) FROM article_minhash").fetchone()[0] == 3
    assert reader.db.execute("SELECT count(*) FROM minhash_bands WHERE article_id = 'original'").fetchone()[0] == 0
    _write(tmp_path / "src", [recs["partial"], recs["corrected"]])
    build_index([src], idx, settings=settings, progress=False, prune=True)
    reader = IndexReader(idx)
    assert reader.near_duplicates(["corrected"]) == {}
    assert reader.db.execute("SELECT count(*) FROM article_groups").fetchone()[0] == 0


def test_threshold_must_be_a_similarity():
    from indexer.config import Settings

    with pytest.raises(ValueError, match="EDSEARCH_NEAR_DUPLICATE_THRESHOLD"):
        Settings(near_duplicate_threshold=0)
    with pytest.raises(ValueError, match="EDSEARCH_NEAR_DUPLICATE_THRESHOLD"):
        Settings(near_duplicate_threshold=1.5)


def test_another_threshold_relinks_at_the_next_build(tmp_path, settings, embedder):
    import dataclasses

    recs = _records(_editorial_paragraphs())
    idx = tmp_path / "idx"
    src = _write(tmp_path / "src", [recs["original"], recs["identical"], recs["corrected"]])
    build_index([src], idx, settings=settings, progress=False)
    assert IndexReader(idx).near_duplicates(["corrected"]) == {"corrected": ["identical", "original"]}
    strict = dataclasses.replace(settings, near_duplicate_threshold=0.99)
    summary = build_index([src], idx, settings=strict, progress=False)
    assert summary.published and summary.chunks == 0
    reader = IndexReader(idx)
    assert reader.manifest["near_duplicates"]["threshold"] == 0.99
    # The corrected copy is no longer close enough; the byte-identical pair stays grouped whatever the threshold.
    assert reader.near_duplicates(["corrected", "original"]) == {"original": ["identical"]}
