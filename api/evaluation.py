"""Retrieval evaluation on a BEIR folder: nDCG@10, Recall@10/100 and MRR@10 per search mode (pytrec_eval).

    report = evaluate_beir("path/to/scifact", split="test")
    print(format_table(report))

The corpus is indexed into a scratch index (a cache folder keyed by the corpus path and size, or the folder
given), incrementally: a second run over the same corpus reuses it. Every query of the split is searched in
each mode with no per-article limit, `k` passages deep; articles are ranked by their best passage."""
from __future__ import annotations

import csv
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from indexer.config import Settings

from .fusion import RRF_K
from .retriever import MAX_K, MODES, QueryError, Retriever

METRICS = ("ndcg@10", "recall@10", "recall@100", "mrr@10")
_TREC = {"ndcg_cut_10": "ndcg@10", "recall_10": "recall@10", "recall_100": "recall@100"}
CACHE_ROOT = Path("~/.cache/edsearch/eval").expanduser()


class BeirError(ValueError):
    """The BEIR folder is missing a file or has a malformed one; the message says which."""


@dataclass
class BeirData:
    corpus: Path
    queries: dict[str, str]              # query id -> text (only the queries judged in the split)
    qrels: dict[str, dict[str, int]]     # query id -> {doc id: relevance}
    split: str


@dataclass
class ModeResult:
    mode: str
    metrics: dict[str, float]
    per_query: dict[str, dict[str, float]] = field(repr=False, default_factory=dict)
    seconds: float = 0.0

    @property
    def queries_per_second(self) -> float:
        return len(self.per_query) / self.seconds if self.seconds else 0.0


@dataclass
class EvalReport:
    beir_dir: str
    split: str
    index_dir: str
    queries: int
    documents_indexed: int
    k: int
    build_seconds: float
    results: list[ModeResult]

    def to_dict(self, per_query: bool = False) -> dict:
        out = {key: getattr(self, key) for key in ("beir_dir", "split", "index_dir", "queries",
                                                   "documents_indexed", "k", "build_seconds")}
        out["modes"] = {}
        for r in self.results:
            entry = {"metrics": r.metrics, "seconds": round(r.seconds, 2),
                     "queries_per_second": round(r.queries_per_second, 1)}
            if per_query:
                entry["per_query"] = r.per_query
            out["modes"][r.mode] = entry
        return out


# --- loading ------------------------------------------------------------------------------------------------

def _read_jsonl(path: Path) -> Iterable[dict]:
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise BeirError(f"{path}:{lineno}: malformed JSON ({exc.msg})") from exc


def load_beir(beir_dir: str | Path, split: str = "test") -> BeirData:
    """corpus.jsonl, queries.jsonl and qrels/<split>.tsv of a BEIR folder; only judged queries are kept."""
    root = Path(beir_dir)
    corpus, queries_path, qrels_path = root / "corpus.jsonl", root / "queries.jsonl", root / "qrels" / f"{split}.tsv"
    for p in (corpus, queries_path, qrels_path):
        if not p.is_file():
            have = sorted(q.stem for q in (root / "qrels").glob("*.tsv")) if (root / "qrels").is_dir() else []
            hint = f" (splits here: {', '.join(have)})" if have and p == qrels_path else ""
            raise BeirError(f"{p} not found{hint}; a BEIR folder has corpus.jsonl, queries.jsonl, qrels/<split>.tsv")
    qrels: dict[str, dict[str, int]] = {}
    with qrels_path.open(encoding="utf-8", newline="") as fh:
        for lineno, row in enumerate(csv.reader(fh, delimiter="\t"), 1):
            if not row or (lineno == 1 and row[0].strip().lower() in ("query-id", "query_id", "qid")):
                continue
            if len(row) < 3:
                raise BeirError(f"{qrels_path}:{lineno}: expected query-id, corpus-id, score")
            try:
                qrels.setdefault(row[0].strip(), {})[row[1].strip()] = int(float(row[2]))
            except ValueError as exc:
                raise BeirError(f"{qrels_path}:{lineno}: score {row[2]!r} is not a number") from exc
    texts = {str(q["_id"]): str(q.get("text") or "") for q in _read_jsonl(queries_path) if "_id" in q}
    queries = {qid: texts[qid] for qid in qrels if qid in texts}
    if not queries:
        raise BeirError(f"no query of {qrels_path} is in {queries_path}")
    return BeirData(corpus=corpus, queries=queries, qrels={q: qrels[q] for q in queries}, split=split)


def default_index_dir(corpus: str | Path, model: str) -> Path:
    """A cache folder keyed by the corpus' absolute path and size (and the model)."""
    path = Path(corpus).resolve()
    key = hashlib.sha256(f"{path}\0{path.stat().st_size}\0{model}".encode()).hexdigest()[:16]
    return CACHE_ROOT / f"{path.parent.name}-{key}"


# --- running ------------------------------------------------------------------------------------------------

def article_run(retriever: Retriever, queries: dict[str, str], mode: str, k: int = MAX_K,
                rrf_k: int = RRF_K, progress: bool = True) -> dict[str, dict[str, float]]:
    """{query id: {article id: score}}: `k` passages per query, articles ranked by their best passage.
    Scores are rank-derived (k, k-1, ...) so ties cannot reorder articles inside pytrec_eval."""
    from tqdm.auto import tqdm

    run: dict[str, dict[str, float]] = {}
    for qid, text in tqdm(queries.items(), desc=f"eval {mode}", unit="query", disable=not progress, leave=False):
        try:
            result = retriever.search(text, k, mode, None, per_article=None, rrf_k=rrf_k,
                                      answer_spans=False)     # ranking only: a question's spans cost seconds
        except QueryError:
            run[qid] = {}
            continue
        run[qid] = article_scores(result.hits, k)
    return run


def article_scores(hits, k: int) -> dict[str, float]:
    """{article id: score} of ranked hits, each article at its best passage, scored k, k-1, ... by that order."""
    ranked: dict[str, float] = {}
    for hit in hits:
        if hit.article.id not in ranked:
            ranked[hit.article.id] = float(k - len(ranked))
    return ranked


def score_run(qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]]) -> tuple[dict, dict]:
    """(mean metrics, per-query metrics); a judged query with no results scores 0 on everything."""
    import pytrec_eval

    full = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.10", "recall.100"}).evaluate(run)
    top10 = {q: dict(sorted(docs.items(), key=lambda kv: -kv[1])[:10]) for q, docs in run.items()}
    rr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(top10)
    per_query: dict[str, dict[str, float]] = {}
    for qid in qrels:
        row = {name: float(full.get(qid, {}).get(trec, 0.0)) for trec, name in _TREC.items()}
        row["mrr@10"] = float(rr.get(qid, {}).get("recip_rank", 0.0))
        per_query[qid] = row
    n = len(per_query) or 1
    means = {m: round(sum(r[m] for r in per_query.values()) / n, 4) for m in METRICS}
    return means, per_query


def evaluate_beir(beir_dir: str | Path, split: str = "test", index_dir: str | Path | None = None, *,
                  k: int = MAX_K, modes: Iterable[str] = MODES, settings: Settings | None = None,
                  rrf_k: int = RRF_K, progress: bool = True) -> EvalReport:
    """Index the BEIR corpus (or reuse the index) and score every judged query of `split` in each mode."""
    from indexer import build_index

    modes = list(modes)
    for m in modes:
        if m not in MODES:
            raise ValueError(f"unknown mode {m!r}; use one of {', '.join(MODES)}")
    if not 1 <= k <= MAX_K:
        raise ValueError(f"k must be between 1 and {MAX_K}, got {k}")
    settings = settings or Settings.from_env()
    data = load_beir(beir_dir, split)
    index_dir = Path(index_dir) if index_dir else default_index_dir(data.corpus, settings.model)
    summary = build_index([data.corpus], index_dir, settings=settings, progress=progress)
    retriever = Retriever(index_dir, settings)
    results = []
    for mode in modes:
        t0 = time.perf_counter()
        run = article_run(retriever, data.queries, mode, k, rrf_k, progress)
        seconds = time.perf_counter() - t0
        means, per_query = score_run(data.qrels, run)
        results.append(ModeResult(mode, means, per_query, seconds))
    counts = retriever.reader.manifest.get("counts") or {}
    return EvalReport(beir_dir=str(beir_dir), split=split, index_dir=str(index_dir), queries=len(data.queries),
                      documents_indexed=int(counts.get("articles", summary.usable)), k=k,
                      build_seconds=round(summary.seconds, 1), results=results)


def format_table(report: EvalReport) -> str:
    head = f"{'mode':<8}" + "".join(f"{m:>12}" for m in METRICS) + f"{'queries/s':>12}"
    lines = [f"{report.beir_dir} split={report.split}: {report.queries} queries, "
             f"{report.documents_indexed} documents; index {report.index_dir}", head, "-" * len(head)]
    for r in report.results:
        lines.append(f"{r.mode:<8}" + "".join(f"{r.metrics[m]:>12.4f}" for m in METRICS)
                     + f"{r.queries_per_second:>12.1f}")
    return "\n".join(lines)


__all__ = ["BeirData", "BeirError", "EvalReport", "METRICS", "ModeResult", "article_run", "article_scores",
           "default_index_dir", "evaluate_beir", "format_table", "load_beir", "score_run"]
