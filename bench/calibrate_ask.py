"""Fit the confidence model of `edsearch ask` (api/answer.py: FEATURES, COEF, INTERCEPT, THRESHOLD).

Data: SciFact (BEIR layout) train claims, read in place from ../shared/eval/scifact-dev (never copied).
For every claim with relevance judgements the extractive answerer runs twice over the SciFact index:

  * "held": the normal top-k passages. Label 1 when the answer's cited sources include a relevant abstract,
    else 0 (an answer citing the wrong abstracts is not supported).
  * "removed": the same claim with its relevant abstracts taken out of the candidates (the next passages move
    up, as with a filter excluding them), so the archive cannot answer it. Label 0.

A logistic regression (Newton/IRLS, small L2) is fitted on the features of api.answer.features. The script first
fits on half the claims and reports held-out log loss, calibration (expected calibration error) and, per threshold,
the answered rate and precision on the other half; then it refits on all claims and prints the constants to paste
into api/answer.py.

    .venv/bin/python bench/calibrate_ask.py [--index /tmp/ask-scifact-index] [--data ../shared/eval/scifact-dev]

The index is built on first use (a few minutes on 2 cores) with
indexer.build_index([<data>/corpus.jsonl], <index>); the scored candidates are cached next to it.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import pickle
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from api import answer as A  # noqa: E402


def load_scifact(data: Path, split: str = "train"):
    queries = {}
    with open(data / "queries.jsonl") as f:
        for line in f:
            q = json.loads(line)
            queries[str(q["_id"])] = q["text"]
    qrels: dict[str, set[str]] = defaultdict(set)
    with open(data / "qrels" / f"{split}.tsv") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if int(row["score"]) > 0:
                qrels[str(row["query-id"])].add(str(row["corpus-id"]))
    return {qid: (queries[qid], rels) for qid, rels in qrels.items() if qid in queries}


def open_index(index: Path, data: Path):
    from api import Retriever
    from indexer import build_index

    if not (index / "CURRENT").exists():
        print(f"building {index} from {data / 'corpus.jsonl'} ...", file=sys.stderr)
        print(build_index([data / "corpus.jsonl"], index, progress=True).describe(), file=sys.stderr)
    return Retriever(index)


def collect(retriever, claims: dict, k: int, cache: Path) -> list[dict]:
    """Per claim and condition, the scored candidate sentences (cos, lex, source article, vector)."""
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    ans = A.Answerer(retriever)
    rows = []
    for i, (qid, (text, rels)) in enumerate(sorted(claims.items())):
        hits = retriever.search(text, k=k + 2 * len(rels)).hits
        held = hits[:k]
        removed = [h for h in hits if h.article.id not in rels][:k]
        removed = [h.model_copy(update={"rank": n}) for n, h in enumerate(removed, 1)]
        for cond, hs in (("held", held), ("removed", removed)):
            cands = ans.candidates(text, hs)
            rows.append({"qid": qid, "cond": cond, "rels": rels, "articles": [h.article.id for h in hs],
                         "cands": [(c.source, c.cos, c.lex, c.vec.astype(np.float16)) for c in cands]})
        if i % 100 == 0:
            print(f"  {i}/{len(claims)} claims", file=sys.stderr)
    cache.write_bytes(pickle.dumps(rows))
    return rows


def rebuild(row: dict, lex_weight: float) -> list[A.Candidate]:
    cands = [A.Candidate(src, row["articles"][src - 1], 0, 0, 0, "", cos, lex, vec.astype(np.float32))
             for src, cos, lex, vec in row["cands"]]
    for c in cands:        # distinct dummy offsets/text so select() only dedupes by vector
        c.text = f"{id(c)}"
    old = A.LEX_WEIGHT
    A.LEX_WEIGHT = lex_weight
    try:
        ranked = sorted(cands, key=lambda c: -c.score)
        chosen = A.Answerer.select(ranked)
    finally:
        A.LEX_WEIGHT = old
    return ranked, chosen


def dataset(rows: list[dict], lex_weight: float):
    X, y, qids, cited_ok = [], [], [], []
    for row in rows:
        ranked, chosen = rebuild(row, lex_weight)
        f = A.features(ranked)
        ok = any(row["articles"][c.source - 1] in row["rels"] for c in chosen)
        X.append([f[n] for n in A.FEATURES])
        y.append(1 if (row["cond"] == "held" and ok) else 0)
        qids.append(row["qid"])
        cited_ok.append((row["cond"], ok))
    return np.array(X, dtype=np.float64), np.array(y), np.array(qids), cited_ok


def fit_logistic(X: np.ndarray, y: np.ndarray, l2: float = 1e-3, iters: int = 50):
    Xb = np.hstack([X, np.ones((len(X), 1))])
    w = np.zeros(Xb.shape[1])
    for _ in range(iters):
        p = 1 / (1 + np.exp(-np.clip(Xb @ w, -50, 50)))
        g = Xb.T @ (p - y) + l2 * np.r_[w[:-1], 0]
        H = (Xb * (p * (1 - p))[:, None]).T @ Xb + l2 * np.eye(len(w))
        step = np.linalg.solve(H, g)
        w -= step
        if np.abs(step).max() < 1e-9:
            break
    return w[:-1], w[-1]


def predict(X, coef, intercept):
    return 1 / (1 + np.exp(-np.clip(X @ coef + intercept, -50, 50)))


def report(p: np.ndarray, y: np.ndarray, title: str) -> None:
    eps = 1e-12
    logloss = -np.mean(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps))
    bins = np.clip((p * 10).astype(int), 0, 9)
    ece = sum(abs(p[bins == b].mean() - y[bins == b].mean()) * (bins == b).mean() for b in range(10) if
              (bins == b).any())
    print(f"{title}: n={len(y)} positives={y.mean():.3f} log loss={logloss:.4f} ECE={ece:.4f}")
    print("  threshold  answered  precision  recall")
    for t in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
        ans = p >= t
        prec = y[ans].mean() if ans.any() else float("nan")
        rec = (ans & (y == 1)).sum() / max(1, y.sum())
        print(f"  {t:9.2f}  {ans.mean():8.3f}  {prec:9.3f}  {rec:6.3f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "eval" / "scifact-dev"))
    ap.add_argument("--index", default="/tmp/ask-scifact-index")
    ap.add_argument("--k", type=int, default=A.DEFAULT_K)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, help="only the first N claims (by id)")
    args = ap.parse_args(argv)
    data, index = Path(args.data), Path(args.index)
    claims = load_scifact(data)
    if args.limit:
        claims = {q: claims[q] for q in sorted(claims)[: args.limit]}
    retriever = open_index(index, data)
    rows = collect(retriever, claims, args.k, index.parent / f"{index.name}.ask-candidates-k{args.k}-n{len(claims)}.pkl")

    print(f"SciFact train claims: {len(claims)}; index {index}; k={args.k}; features {A.FEATURES}")
    rng = np.random.default_rng(args.seed)
    ids = sorted(claims)
    train_ids = set(rng.permutation(ids)[: len(ids) // 2])
    best = None
    for lw in (0.0, 0.15, 0.3, 0.5):
        X, y, qids, cited = dataset(rows, lw)
        tr = np.array([q in train_ids for q in qids])
        coef, b = fit_logistic(X[tr], y[tr])
        p = predict(X[~tr], coef, b)
        eps = 1e-12
        ll = -np.mean(y[~tr] * np.log(p + eps) + (1 - y[~tr]) * np.log(1 - p + eps))
        held = [ok for cond, ok in cited if cond == "held"]
        print(f"LEX_WEIGHT={lw}: cited sources include a relevant abstract for {np.mean(held):.3f} of claims; "
              f"held-out log loss {ll:.4f}")
        if best is None or np.mean(held) > best[1] + 1e-9:
            best = (lw, np.mean(held))
    lw = A.LEX_WEIGHT
    print(f"\nusing LEX_WEIGHT={lw} (api/answer.py; best cited-source rate above at {best[0]})")
    X, y, qids, _ = dataset(rows, lw)
    tr = np.array([q in train_ids for q in qids])
    coef, b = fit_logistic(X[tr], y[tr])
    report(predict(X[~tr], coef, b), y[~tr], "held-out half (fit on the other half)")
    report(predict(X[~tr], np.array(A.COEF), A.INTERCEPT), y[~tr], "held-out half, constants now in api/answer.py")
    coef, b = fit_logistic(X, y)
    print("\nfit on all claims; paste into api/answer.py:")
    print(f"FEATURES = {A.FEATURES!r}")
    print(f"COEF = ({', '.join(f'{c:.4f}' for c in coef)})")
    print(f"INTERCEPT = {b:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
