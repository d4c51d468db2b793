"""Retrieval on the development data: passages embedded with their titles, and weighted fusion (docs/retrieval.md).

Two development sets, never a test split:
  * SciFact train (BEIR layout, ../shared/eval/scifact-dev, qrels/train.tsv): 809 claims, nDCG@10 and Recall@100
    through api.evaluation (articles ranked by their best passage, 100 passages deep, no per-article limit);
  * the 120 answerable BBC questions of bench/ask_questions.jsonl over ../shared/corpora/bbc-news/bbc.jsonl (read
    in place), each answered by one named article: nDCG@10 the same way, and answer hits: the share of questions
    whose top `--hits-k` passages (as `ask` retrieves them: hybrid, at most 2 per article) include that article.

Each corpus is indexed twice, passages embedded alone (the former way) and as "title. passage"
(EDSEARCH_EMBED_TITLES), into cache folders under ~/.cache/edsearch/retrieval/ (built once, then reused). Over
each index, hybrid search is run for a sweep of keyword weights (the dense weight stays 1: only the ratio ranks),
and dense search once. The keyword weight is chosen by the rule printed below the sweep, then the summary table
gives baseline, titles alone, weighted fusion alone and both.

--rerank: (b) a question's hits reordered with the answer model (api/retriever.py `rerank_by_answer`: weighted RRF
of the retrieval order and the order of the hits' answer span scores). Over the passage-alone index with the
Settings' fusion, each question's top 10 hits (as /search returns them, at most 2 per article) are scored once,
then reordered for each answer weight (0 = retrieval order): nDCG@10 of the articles in that order and answer hits
(the answering article in the first --hits-k). SciFact's claims are not questions (api.answer_model.is_question),
so the rerank never applies to them: the script counts them. With --rerank-squad N, the same over N held-out SQuAD
questions (bench/answer_eval.py's index and seeded sample), for the report only: the weight is chosen on the
development questions.

    PYTHONPATH=. .venv/bin/python bench/retrieval_eval.py [--weights 0,0.25,0.5,0.75,1] [--hits-k 5]
    PYTHONPATH=. .venv/bin/python bench/retrieval_eval.py --rerank [--rerank-squad 200]
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from api import Retriever  # noqa: E402
from api.answer_model import is_question  # noqa: E402
from api.evaluation import article_run, article_scores, load_beir, score_run  # noqa: E402
from indexer import build_index  # noqa: E402
from indexer.config import Settings  # noqa: E402

SHARED = ROOT.parent / "shared"
CACHE = Path("~/.cache/edsearch/retrieval").expanduser()
SWEEP = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
RERANK_SWEEP = (0.0, 0.25, 0.5, 1.0, 2.0)
RERANK_DEPTH = 10


@dataclasses.dataclass
class Dataset:
    name: str
    corpus: Path
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    answer_of: dict[str, str] | None = None    # question id -> the article that answers it (BBC questions)


def datasets(scifact: Path, split: str, bbc: Path, questions: Path) -> list[Dataset]:
    beir = load_beir(scifact, split)
    rows = [json.loads(line) for line in questions.read_text().splitlines() if line.strip()]
    answerable = [r for r in rows if r.get("article")]
    return [Dataset(f"scifact-{split}", beir.corpus, beir.queries, beir.qrels),
            Dataset("bbc-questions", bbc, {r["id"]: r["question"] for r in answerable},
                    {r["id"]: {r["article"]: 1} for r in answerable}, {r["id"]: r["article"] for r in answerable})]


def open_variant(ds: Dataset, titles: bool) -> Retriever:
    """The cached index of `ds` built with or without titles (built here on first use), opened for search."""
    settings = Settings.from_env(embed_titles=titles)
    folder = CACHE / f"{ds.name.split('-')[0]}-{'titles' if titles else 'base'}"
    t0 = time.perf_counter()
    summary = build_index([ds.corpus], folder, settings=settings, progress=False)
    if summary.published:
        print(f"  built {folder}: {summary.describe().splitlines()[0]}", file=sys.stderr)
    else:
        print(f"  {folder}: up to date ({time.perf_counter() - t0:.1f}s)", file=sys.stderr)
    retriever = Retriever(folder, settings)
    # Every weight of the sweep asks the same queries: embed each once (the fusion is what varies).
    retriever.embed_query = functools.lru_cache(maxsize=None)(retriever.embed_query)
    return retriever


def measure(retriever: Retriever, ds: Dataset, mode: str, keyword_weight: float, hits_k: int) -> dict[str, float]:
    """The metrics of one mode and weight over one index version, cached beside the indexes (a version never
    changes, so a second run of the script only prints)."""
    cache = CACHE / "results.json"
    done = json.loads(cache.read_text()) if cache.exists() else {}
    key = f"{retriever.index_dir}|{retriever.reader.version}|{retriever.reader.manifest['built_at']}|{ds.name}|{len(ds.queries)}|" \
          f"{mode}|{keyword_weight if mode == 'hybrid' else ''}|{hits_k}"
    if key not in done:
        done[key] = _measure(retriever, ds, mode, keyword_weight, hits_k)
        latest = json.loads(cache.read_text()) if cache.exists() else {}    # another run may have added some
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({**latest, **done}, indent=1))
        os.replace(tmp, cache)                                              # readers never see half a file
    return done[key]


def _measure(retriever: Retriever, ds: Dataset, mode: str, keyword_weight: float, hits_k: int) -> dict[str, float]:
    retriever.settings = dataclasses.replace(retriever.settings, rrf_dense_weight=1.0,
                                             rrf_keyword_weight=keyword_weight)
    run = article_run(retriever, ds.queries, mode, progress=False)
    means, _ = score_run(ds.qrels, run)
    out = {"ndcg@10": means["ndcg@10"], "recall@100": means["recall@100"]}
    if ds.answer_of is not None:
        found = sum(any(h.article.id == ds.answer_of[qid] for h in retriever.search(q, hits_k, mode).hits)
                    for qid, q in ds.queries.items())
        out["answer_hits"] = round(found / len(ds.queries), 4)
    return out


def choose(sweep: dict[float, dict[str, dict[str, float]]], names: list[str]) -> float:
    """The rule: the keyword weight with the best mean nDCG@10 over the development sets, among those that lose
    neither nDCG@10 nor answer hits on any set against equal weights (1.0); ties go to the weight nearest 1."""
    base = sweep[1.0]

    def keeps(w: float) -> bool:
        return all(sweep[w][n][m] >= base[n][m] for n in names for m in ("ndcg@10", "answer_hits") if m in base[n])

    ok = [w for w in sweep if keeps(w)]
    return max(ok, key=lambda w: (round(sum(sweep[w][n]["ndcg@10"] for n in names) / len(names), 4), -abs(w - 1)))


def rerank_table(retriever: Retriever, queries: dict[str, str], qrels: dict[str, dict[str, int]],
                 answer_of: dict[str, str], hits_k: int) -> dict[float, dict[str, float]]:
    """Per answer weight: nDCG@10 and answer hits of the question queries' top RRF hits reordered by
    rerank_by_answer (the hits and their answer spans computed once, with the rerank off)."""
    from api.retriever import rerank_by_answer

    retriever.settings = dataclasses.replace(retriever.settings, answer_rerank_weight=0.0)
    scored = {qid: retriever.search(q, RERANK_DEPTH).hits for qid, q in queries.items() if is_question(q)}
    out = {}
    for w in RERANK_SWEEP:
        ordered = {qid: rerank_by_answer(hits, w) for qid, hits in scored.items()}    # weight 0: retrieval order
        run = {qid: article_scores(hits, RERANK_DEPTH) for qid, hits in ordered.items()}
        means, _ = score_run({qid: qrels[qid] for qid in ordered}, run)
        found = sum(any(h.article.id == answer_of[qid] for h in hits[:hits_k]) for qid, hits in ordered.items())
        out[w] = {"questions": len(ordered), "ndcg@10": means["ndcg@10"], "answer_hits": found / max(1, len(ordered))}
    return out


def squad_questions(n: int) -> tuple[Retriever, dict[str, str], dict[str, dict[str, int]], dict[str, str]]:
    """bench/answer_eval.py's held-out SQuAD index and its seeded sample of n questions (report only)."""
    import random

    sys.path.insert(0, str(ROOT / "bench"))
    from answer_eval import SEED, heldout_index

    retriever, qs, _ = heldout_index()
    sample = random.Random(SEED).sample(qs, min(n, len(qs)))
    queries = {f"q{i}": q for i, (q, *_) in enumerate(sample)}
    answer_of = {f"q{i}": aid for i, (_, _, aid, *_) in enumerate(sample)}
    return retriever, queries, {qid: {a: 1} for qid, a in answer_of.items()}, answer_of


def rerank_main(sets: list[Dataset], hits_k: int, squad: int) -> int:
    print(f"(b) questions' top {RERANK_DEPTH} hits reordered by the answer model: weighted RRF of the retrieval "
          f"order (1) and the answer spans' order (the weight below; 0 = retrieval order); passage-alone index, "
          f"keyword weight {Settings.from_env().rrf_keyword_weight:g}")
    tables = []
    for d in sets:
        n_q = sum(map(is_question, d.queries.values()))
        if not n_q or d.answer_of is None:
            print(f"{d.name}: {n_q} of {len(d.queries)} queries are questions: the rerank leaves it unchanged")
            continue
        tables.append((d.name, rerank_table(open_variant(d, False), d.queries, d.qrels, d.answer_of, hits_k)))
    dev = [t for _, t in tables]          # the weight is chosen on these; the SQuAD columns are reported only
    if squad:
        tables.append((f"squad held-out ({squad}, report only)", rerank_table(*squad_questions(squad), hits_k)))
    print("| answer weight | " + " | ".join(f"{name} nDCG@10 | {name} answer hits@{hits_k}" for name, _ in tables)
          + " |\n|---|" + "---|---|" * len(tables))
    for w in RERANK_SWEEP:
        print(f"| {w:g} | " + " | ".join(f"{t[w]['ndcg@10']:.4f} | {t[w]['answer_hits']:.4f}" for _, t in tables) + " |")
    print("questions: " + ", ".join(f"{name} {t[0.0]['questions']}" for name, t in tables))
    if dev:     # the rule: lose neither nDCG@10 nor answer hits on a development set; best mean nDCG@10; ties: lighter
        keeps = [w for w in RERANK_SWEEP if all(t[w][m] >= t[0.0][m] for t in dev for m in ("ndcg@10", "answer_hits"))]
        best = max(keeps, key=lambda w: (round(sum(t[w]["ndcg@10"] for t in dev) / len(dev), 4), -w))
        print(f"chosen by the rule: answer weight {best:g} (Settings now: {Settings.from_env().answer_rerank_weight:g})")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scifact", default=str(SHARED / "eval" / "scifact-dev"))
    ap.add_argument("--split", default="train")
    ap.add_argument("--bbc", default=str(SHARED / "corpora" / "bbc-news" / "bbc.jsonl"))
    ap.add_argument("--questions", default=str(ROOT / "bench" / "ask_questions.jsonl"))
    ap.add_argument("--weights", default=",".join(map(str, SWEEP)), help="keyword weights to sweep (dense = 1)")
    ap.add_argument("--hits-k", type=int, default=5, help="passages an answer is drawn from (ask's k)")
    ap.add_argument("--rerank", action="store_true", help="(b): questions' hits reordered by the answer model")
    ap.add_argument("--rerank-squad", type=int, default=0, metavar="N",
                    help="with --rerank: also N held-out SQuAD questions (report only)")
    args = ap.parse_args(argv)
    if args.split == "test":
        ap.error("choose weights on development data only, never on a test split")
    weights = sorted({float(w) for w in args.weights.split(",")} | {1.0})
    sets = datasets(Path(args.scifact), args.split, Path(args.bbc), Path(args.questions))
    if args.rerank:
        return rerank_main(sets, args.hits_k, args.rerank_squad)
    names = [d.name for d in sets]
    default = Settings.from_env()

    results: dict[bool, dict] = {}
    for titles in (False, True):
        print(f"index variant: {'title. passage' if titles else 'passage alone'}", file=sys.stderr)
        retrievers = {d.name: open_variant(d, titles) for d in sets}
        sweep = {w: {d.name: measure(retrievers[d.name], d, "hybrid", w, args.hits_k) for d in sets}
                 for w in weights}
        dense = {d.name: measure(retrievers[d.name], d, "dense", 1.0, args.hits_k) for d in sets}
        results[titles] = {"sweep": sweep, "dense": dense}
        if not titles:     # keyword search does not read the vectors: one variant is enough
            results["keyword"] = {d.name: measure(retrievers[d.name], d, "keyword", 1.0, args.hits_k) for d in sets}

    cols = [(n, m) for n in names for m in ("ndcg@10", "recall@100", "answer_hits")
            if m in results[False]["dense"][n]]
    head = f"{'':<40}" + "".join(f"{(n.split('-')[0] + ' ' + m):>22}" for n, m in cols)

    def line(label: str, row: dict) -> str:
        return f"{label:<40}" + "".join(f"{row[n][m]:>22.4f}" for n, m in cols)

    for titles in (False, True):
        print(f"\nhybrid, keyword weight sweep (dense weight 1), passages embedded "
              f"{'as title. passage' if titles else 'alone'}:")
        print(head)
        for w, row in results[titles]["sweep"].items():
            print(line(f"keyword weight {w:g}", row))
        print(f"chosen by the rule: {choose(results[titles]['sweep'], names):g}")

    chosen = {t: choose(results[t]["sweep"], names) for t in (False, True)}
    print(f"\nsummary (hybrid unless said; weighted = the keyword weight the rule chose over that index variant; "
          f"Settings now: dense weight {default.rrf_dense_weight:g}, keyword weight {default.rrf_keyword_weight:g}, "
          f"embed_titles {default.embed_titles}):")
    print(head)
    print(line("baseline (passage, equal RRF)", results[False]["sweep"][1.0]))
    print(line("(a) titles, equal RRF", results[True]["sweep"][1.0]))
    print(line(f"(c) passage, keyword weight {chosen[False]:g}", results[False]["sweep"][chosen[False]]))
    print(line(f"(a)+(c) titles, keyword weight {chosen[True]:g}", results[True]["sweep"][chosen[True]]))
    print(line("dense only, passage", results[False]["dense"]))
    print(line("dense only, titles", results[True]["dense"]))
    print(line("keyword only", results["keyword"]))
    print(f"\nanswer hits: the answering article among the top {args.hits_k} passages (in the row's mode, 2 per article)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
