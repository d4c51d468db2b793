"""`edsearch eval`: BEIR loading, metrics with pytrec_eval, the library and the CLI on a tiny made-up corpus."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from api.evaluation import METRICS, BeirError, evaluate_beir, format_table, load_beir, score_run

ROOT = Path(__file__).resolve().parents[2]

# Made-up documents, written for this test.
DOCS = [
    ("d1", "Harbour bridge closed for repairs",
     "The old harbour bridge in Port Alden will close for six weeks while engineers replace rusted steel cables."),
    ("d2", "Bakery wins regional bread prize",
     "A family bakery on Mill Street won the regional sourdough competition for the third year running."),
    ("d3", "Council approves new cycle lanes",
     "Councillors voted to paint protected cycle lanes along the riverside road, despite objections from drivers."),
    ("d4", "Local football club promoted",
     "Port Alden Rovers secured promotion after a two-nil win against their rivals on Saturday afternoon."),
    ("d5", "Library extends opening hours",
     "The central library will open on Sundays from next month, funded by a grant from the arts trust."),
    ("d6", "Storm damages coastal homes",
     "High winds and flooding damaged dozens of homes along the coast overnight; residents were evacuated."),
    ("d7", "School orchestra tours Europe",
     "Forty pupils from the grammar school orchestra will perform violin concertos in Vienna and Prague."),
    ("d8", "Fishermen protest quota cuts",
     "Trawler crews blocked the harbour mouth to protest against cuts to the mackerel fishing quota."),
]
QUERIES = {
    "q1": "sourdough bakery competition prize",
    "q2": "harbour bridge closed cables repairs",
    "q3": "storm flooding coastal homes evacuated",
    "q4": "mackerel quota protest",
}
QRELS = {"q1": {"d2": 1}, "q2": {"d1": 1}, "q3": {"d6": 1}, "q4": {"d8": 1, "d1": 0}}


@pytest.fixture(scope="module")
def beir_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("beir")
    with (root / "corpus.jsonl").open("w") as fh:
        for _id, title, text in DOCS:
            fh.write(json.dumps({"_id": _id, "title": title, "text": text, "metadata": {}}) + "\n")
    with (root / "queries.jsonl").open("w") as fh:
        for _id, text in QUERIES.items():
            fh.write(json.dumps({"_id": _id, "text": text, "metadata": {}}) + "\n")
        fh.write(json.dumps({"_id": "unjudged", "text": "not in the qrels"}) + "\n")
    (root / "qrels").mkdir()
    rows = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{s}" for q, docs in QRELS.items() for d, s in docs.items()]
    (root / "qrels" / "test.tsv").write_text("\n".join(rows) + "\n")
    return root


def test_load_beir_keeps_judged_queries(beir_dir):
    data = load_beir(beir_dir, "test")
    assert set(data.queries) == set(QUERIES)
    assert data.qrels["q4"] == {"d8": 1, "d1": 0}
    with pytest.raises(BeirError, match="splits here: test"):
        load_beir(beir_dir, "train")


def test_score_run_by_hand():
    qrels = {"a": {"x": 1}, "b": {"y": 1}, "c": {"z": 1}}
    run = {"a": {"x": 2.0, "w": 1.0}, "b": {"w": 2.0, "y": 1.0}}     # c has no results at all
    means, per_query = score_run(qrels, run)
    assert per_query["a"]["ndcg@10"] == 1.0 and per_query["a"]["mrr@10"] == 1.0
    assert per_query["b"]["mrr@10"] == 0.5 and per_query["b"]["recall@10"] == 1.0
    assert per_query["c"] == {m: 0.0 for m in METRICS}
    assert means["mrr@10"] == 0.5
    # MRR@10 only counts the first ten: a relevant document at rank 11 scores 0.
    deep = {"a": {f"n{i}": 100.0 - i for i in range(10)} | {"x": 1.0}}
    means, _ = score_run({"a": {"x": 1}}, deep)
    assert means["mrr@10"] == 0.0 and means["recall@100"] == 1.0


def test_library_eval(beir_dir, tmp_path, settings):
    report = evaluate_beir(beir_dir, "test", tmp_path / "idx", k=20, settings=settings, progress=False)
    assert report.queries == 4 and report.documents_indexed == len(DOCS)
    assert [r.mode for r in report.results] == ["hybrid", "dense", "keyword"]
    for r in report.results:
        for name in METRICS:
            assert 0.0 <= r.metrics[name] <= 1.0
        for qid in ("q1", "q2", "q3"):        # the obviously matching queries rank their document first
            assert r.per_query[qid]["ndcg@10"] == 1.0, (r.mode, qid)
    assert "ndcg@10" in format_table(report)


@pytest.mark.slow
def test_cli_eval(beir_dir, tmp_path):
    index = tmp_path / "idx"
    exe = Path(sys.executable).parent / "edsearch"
    cmd = [str(exe), "eval", str(beir_dir), "--split", "test", "--index", str(index), "--k", "20",
           "--modes", "hybrid,keyword", "--quiet"]
    out = subprocess.run(cmd + ["--json"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert set(report["modes"]) == {"hybrid", "keyword"} and report["queries"] == 4
    for mode in report["modes"].values():
        assert all(0.0 <= v <= 1.0 for v in mode["metrics"].values())
    assert "recall@100" in out.stderr                         # the table still goes to the terminal
    table = subprocess.run(cmd, capture_output=True, text=True, timeout=300)   # reuses the index
    assert table.returncode == 0, table.stderr
    assert "hybrid" in table.stdout and "mrr@10" in table.stdout
    bad = subprocess.run([str(exe), "eval", str(beir_dir), "--split", "dev", "--index", str(index)],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "dev.tsv" in bad.stderr
