"""`build_index(engine="ray")`: the Ray Data pipeline writes the same index as the single-process build."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from indexer import IndexReader, build_index

from ..conftest import SEEDS

HAVE_RAY = importlib.util.find_spec("ray") is not None and importlib.util.find_spec("ray.data") is not None
needs_ray = pytest.mark.skipif(not HAVE_RAY, reason="ray[data] is not installed (pip install 'edsearch[ray]')")

TOPICS = [
    ("Harbour dredging delayed again", "The port authority postponed the dredging of the inner harbour after "
     "divers found a wreck. Shipping firms warned that larger container vessels would divert to other ports."),
    ("School funding formula changes", "The education ministry announced a new funding formula for primary "
     "schools. Rural head teachers said the formula ignores the cost of transport and small class sizes."),
    ("Hospital waiting lists grow", "Waiting lists for hip and knee operations rose for the fifth month. "
     "Surgeons blamed a shortage of anaesthetists and beds closed for winter infection control."),
    ("Rail timetable overhaul", "The rail operator published a timetable with fewer peak trains. Commuter "
     "groups said the cuts would push drivers back onto the motorway and raise fares by stealth."),
    ("Water prices to rise", "The regulator approved a nine per cent rise in water bills to pay for new "
     "reservoirs. Consumer groups asked why leakage targets were missed for the third year running."),
    ("Drought hits wheat harvest", "Farmers in the east reported the smallest wheat harvest in a decade after "
     "a dry spring. Bread makers expect flour prices to climb before Christmas."),
    ("Central bank holds rates", "The central bank kept interest rates unchanged, citing stubborn services "
     "inflation. Two members of the committee voted for a cut, pointing to weak retail sales."),
    ("Election turnout record", "Turnout in the regional election reached a record high. Young voters queued "
     "for hours at polling stations in the capital, and counting ran late into the night."),
    ("Museum returns bronzes", "The national museum agreed to return a collection of bronzes to their "
     "country of origin. Curators will travel with the pieces and help set up a new gallery."),
    ("Storm closes coastal roads", "A winter storm closed coastal roads and cut power to thousands of homes. "
     "Engineers worked overnight to clear fallen trees from the main line."),
    ("Football club sold", "The football club was sold to an investment group after months of talks. "
     "Supporters demanded guarantees that the stadium would not be moved out of the city."),
]

QUERIES = ["why were operations delayed at hospitals", "interest rate decision", "wheat harvest drought",
           "who bought the football club", "port shipping wreck", "water bills regulator", "CPTPP accession"]


def write_corpus(folder: Path, rounds: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, (title, lead) in enumerate(TOPICS):
        paras = [lead] + [f"In part {p} of the report, officials said the {title.lower()} story would run on. "
                          f"{lead} Residents met on day {p + i} to discuss it at length." for p in range(rounds + i % 4)]
        (folder / f"story-{i:02d}.md").write_text(
            f"---\ntitle: {title}\nauthor: Desk {i % 3}\npublished: 2024-0{1 + i % 9}-1{i % 10}\n"
            f"tags: [news, t{i}]\n---\n" + "\n\n".join(paras) + "\n")
    return folder


def chunk_rows(index: Path) -> list[tuple]:
    reader = IndexReader(index)
    return [tuple(r) for r in reader.db.execute(
        "SELECT article_id, ordinal, char_start, char_end, text FROM chunks ORDER BY article_id, ordinal")]


def vectors_by_chunk(index: Path) -> dict[tuple[str, int], np.ndarray]:
    reader = IndexReader(index)
    ids, vecs = reader.vectors.export()
    where = {int(i): n for n, i in enumerate(ids)}
    out = {}
    for cid, art, ordinal in reader.db.execute("SELECT id, article_id, ordinal FROM chunks"):
        out[(art, ordinal)] = vecs[where[int(cid)]]
    return out


def top_hits(index: Path, settings, mode: str) -> list[list[tuple[str, int, int]]]:
    from api import Retriever

    retriever = Retriever(index, settings)
    return [[(h.article.id, h.citation.char_start, h.citation.char_end)
             for h in retriever.search(q, k=5, mode=mode).hits] for q in QUERIES]


@pytest.fixture
def local_ray():
    ray = pytest.importorskip("ray", reason="ray[data] is not installed (pip install 'edsearch[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False,
             configure_logging=False)
    try:
        yield ray
    finally:
        ray.shutdown()


@needs_ray
@pytest.mark.slow
def test_ray_engine_matches_the_single_process_build(tmp_path, settings, embedder, local_ray):
    src = write_corpus(tmp_path / "src")
    local = build_index([src, SEEDS], tmp_path / "local", settings=settings, progress=False, batch_articles=4)
    ray_ = build_index([src, SEEDS], tmp_path / "ray", settings=settings, progress=False, batch_articles=4,
                       engine="ray")
    assert local.published and ray_.published
    assert (ray_.indexed, ray_.chunks) == (local.indexed, local.chunks) == (len(TOPICS) + 1, local.chunks)

    rows_l, rows_r = chunk_rows(tmp_path / "local"), chunk_rows(tmp_path / "ray")
    assert rows_r == rows_l and len(rows_l) == local.chunks
    # the writer assigns chunk ids in article order under both engines
    assert [r[0] for r in IndexReader(tmp_path / "ray").db.execute("SELECT article_id FROM chunks ORDER BY id")] == \
        [r[0] for r in IndexReader(tmp_path / "local").db.execute("SELECT article_id FROM chunks ORDER BY id")]

    vl, vr = vectors_by_chunk(tmp_path / "local"), vectors_by_chunk(tmp_path / "ray")
    assert vl.keys() == vr.keys()
    for key in vl:   # equal within bf16 tolerance (the batches differ, so does bf16 rounding)
        a, b = vl[key], vr[key]
        assert float(a @ b) > 0.99 or float(np.abs(a - b).max()) < 0.02, key

    for mode in ("dense", "hybrid"):
        assert top_hits(tmp_path / "ray", settings, mode) == top_hits(tmp_path / "local", settings, mode)

    manifest_l = IndexReader(tmp_path / "local").manifest
    manifest_r = IndexReader(tmp_path / "ray").manifest
    for key in ("model", "tokenizer", "chunking", "embedding_input", "vectors"):
        assert manifest_r[key] == manifest_l[key], key
    assert manifest_l["embedding_input"]["title"] == settings.embed_titles

    again = build_index([src, SEEDS], tmp_path / "ray", settings=settings, progress=False, engine="ray")
    assert (again.indexed, again.updated, again.unchanged, again.chunks) == (0, 0, len(TOPICS) + 1, 0)
    assert again.published is None

    story = src / "story-03.md"
    story.write_text(story.read_text().replace("fewer peak trains", "more weekend trains"))
    changed = build_index([src, SEEDS], tmp_path / "ray", settings=settings, progress=False, engine="ray")
    assert (changed.indexed, changed.updated, changed.unchanged) == (0, 1, len(TOPICS))
    assert changed.published and 0 < changed.chunks < local.chunks
    assert any("more weekend trains" in r[4] for r in chunk_rows(tmp_path / "ray"))


def test_a_missing_ray_names_the_extra(monkeypatch, tmp_path):
    from indexer.ray_engine import RayUnavailable

    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.setitem(sys.modules, "ray.data", None)
    with pytest.raises(RayUnavailable, match=r"pip install 'edsearch\[ray\]'"):
        build_index([SEEDS], tmp_path / "idx", progress=False, engine="ray")
    assert not (tmp_path / "idx").exists() or not any((tmp_path / "idx").iterdir())


def test_an_unknown_engine_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown engine"):
        build_index([SEEDS], tmp_path / "idx", progress=False, engine="spark")


def test_the_cli_takes_engine_and_ray_address(monkeypatch, tmp_path, capsys):
    from api import cli

    seen = {}

    def fake_build(sources, index, **kwargs):
        from indexer import BuildSummary

        seen.update(kwargs, sources=sources, index=index)
        return BuildSummary(indexed=1)

    monkeypatch.setattr("indexer.build_index", fake_build)
    assert cli.main(["index", str(SEEDS), "--index", str(tmp_path / "i"), "--engine", "ray",
                     "--ray-address", "ray://head:10001", "--quiet"]) == 0
    assert seen["engine"] == "ray" and seen["ray_address"] == "ray://head:10001"
    assert cli.main(["index", str(SEEDS), "--index", str(tmp_path / "i"), "--quiet"]) == 0
    assert seen["engine"] == "local" and seen["ray_address"] is None


def test_the_cli_reports_a_missing_ray(monkeypatch, tmp_path, capsys):
    from api import cli

    monkeypatch.setitem(sys.modules, "ray", None)
    assert cli.main(["index", str(SEEDS), "--index", str(tmp_path / "i"), "--engine", "ray", "--quiet"]) == 2
    assert "edsearch[ray]" in capsys.readouterr().err
