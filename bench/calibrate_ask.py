"""Fit the confidence model of `edsearch ask` (api/answer.py: FEATURES, COEF, INTERCEPT, THRESHOLD).

Data: the project's own question set, bench/ask_questions.jsonl, over the BBC news corpus read in place from
../shared/corpora/bbc-news/bbc.jsonl (never copied). 120 questions are answered by one named article; 80 are not
answered by the archive (after 2006, off-topic, and near misses about entities the archive does cover). Each
question is asked as the product asks it (top-k hybrid passages, sentences scored, the best 1-3 chosen), in three
conditions:

  * "held": an answerable question over the whole archive. Label 1 when the answer cites the article that
    answers it (what abstention is about: does the archive hold the answer, and is it cited), else 0. The script
    also reports the stricter rate of answers whose sentences from that article hold every `answer_terms` string.
  * "removed": the same question with its article taken out of the candidates (the next passages move up, as
    with a filter excluding it), so the archive cannot answer it. Label 0.
  * "none": an unanswerable question. Label 0.

A logistic regression (Newton/IRLS, small L2) is fitted on the features of api.answer.features. The script reports
5-fold cross-validated log loss, calibration (expected calibration error over 10 bins) and, per threshold, the
share of answerable questions answered right and the share of the others wrongly answered, for the constants it
fits and for those now in api/answer.py; then it refits on all rows and prints the constants to paste.

    .venv/bin/python bench/calibrate_ask.py [--index /tmp/bbc-index] [--corpus ../shared/corpora/bbc-news/bbc.jsonl]

The index is built on first use (about 2.5 minutes on 2 cores); the scored candidates are cached next to it.
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from api import answer as A  # noqa: E402

QUESTIONS = ROOT / "bench" / "ask_questions.jsonl"
FOLDS = 5
RECALL_TARGET = 0.9     # the THRESHOLD rule of api/answer.py


def load_questions(path: Path) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def open_index(index: Path, corpus: Path):
    from api import Retriever
    from indexer import build_index

    if not (index / "CURRENT").exists():
        print(f"building {index} from {corpus} ...", file=sys.stderr)
        print(build_index([corpus], index, progress=True).describe(), file=sys.stderr)
    return Retriever(index)


def collect(retriever, questions: list[dict], k: int, cache: Path) -> list[dict]:
    """Per question and condition, the scored candidate sentences (source, cos, lex, text, vector)."""
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    ans = A.Answerer(retriever)
    rows = []
    for i, q in enumerate(questions):
        hits = retriever.search(q["question"], k=k + 3).hits
        conds = [("held", hits[:k])]
        if q["article"]:
            removed = [h.model_copy(update={"rank": n})
                       for n, h in enumerate((h for h in hits if h.article.id != q["article"]), 1)][:k]
            conds.append(("removed", removed))
        else:
            conds = [("none", hits[:k])]
        for cond, hs in conds:
            cands = ans.candidates(q["question"], hs)
            rows.append({"id": q["id"], "cond": cond, "article": q["article"], "terms": q["answer_terms"],
                         "articles": [h.article.id for h in hs],
                         "cands": [(c.source, c.cos, c.lex, c.text, c.vec.astype(np.float16)) for c in cands]})
        if i % 50 == 0:
            print(f"  {i}/{len(questions)} questions", file=sys.stderr)
    cache.write_bytes(pickle.dumps(rows))
    return rows


def rebuild(row: dict, lex_weight: float):
    cands = []
    for n, (src, cos, lex, text, vec) in enumerate(row["cands"]):
        c = A.Candidate(src, row["articles"][src - 1], n, n + 1, 0, text, cos, lex, vec.astype(np.float32))
        cands.append(c)
    old = A.LEX_WEIGHT
    A.LEX_WEIGHT = lex_weight
    try:
        ranked = sorted(cands, key=lambda c: -c.score)
        chosen = A.Answerer.select(ranked)
    finally:
        A.LEX_WEIGHT = old
    return ranked, chosen


def cites_article(row: dict, chosen) -> bool:
    """The answer cites the article that answers the question (the label)."""
    return row["cond"] == "held" and any(c.article_id == row["article"] for c in chosen)


def is_right(row: dict, chosen) -> bool:
    """Stricter: one chosen sentence, from the question's article, holds every answer term."""
    return row["cond"] == "held" and any(
        c.article_id == row["article"] and all(t.lower() in c.text.lower() for t in row["terms"]) for c in chosen)


def dataset(rows: list[dict], lex_weight: float, questions: dict[str, str], answerer):
    """Features and labels; `questions` maps a question id to its text, `answerer` is over the same index."""
    X, y = [], []
    for row in rows:
        ranked, chosen = rebuild(row, lex_weight)
        f = A.features(ranked, answerer.missing(questions[row["id"]], ranked))
        X.append([f[n] for n in A.FEATURES])
        y.append(int(cites_article(row, chosen)))
    return np.array(X, dtype=np.float64), np.array(y)


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
    return 1 / (1 + np.exp(-np.clip(X @ np.asarray(coef) + intercept, -50, 50)))


def cross_validated(X, y, groups, seed: int) -> np.ndarray:
    """Out-of-fold probabilities; the rows of one question stay in one fold."""
    rng = np.random.default_rng(seed)
    ids = sorted(set(groups))
    fold_of = {g: i % FOLDS for i, g in enumerate(rng.permutation(ids))}
    folds = np.array([fold_of[g] for g in groups])
    p = np.zeros(len(y))
    for f in range(FOLDS):
        coef, b = fit_logistic(X[folds != f], y[folds != f])
        p[folds == f] = predict(X[folds == f], coef, b)
    return p


def report(p: np.ndarray, y: np.ndarray, conds: np.ndarray, title: str) -> None:
    eps = 1e-12
    logloss = -np.mean(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps))
    bins = np.clip((p * 10).astype(int), 0, 9)
    ece = sum(abs(p[bins == b].mean() - y[bins == b].mean()) * (bins == b).mean()
              for b in range(10) if (bins == b).any())
    print(f"{title}: n={len(y)} positives={y.mean():.3f} log loss={logloss:.4f} "
          f"Brier={np.mean((p - y) ** 2):.4f} ECE={ece:.4f}")
    held = conds == "held"
    print("  threshold  answered  precision  answerable: answered+cited  removed: answered  unanswerable: answered")
    for t in (0.03, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6):
        a = p >= t
        prec = y[a].mean() if a.any() else float("nan")
        print(f"  {t:9.2f}  {a.mean():8.3f}  {prec:9.3f}  {(a & (y == 1))[held].mean():25.3f}  "
              f"{a[conds == 'removed'].mean():16.3f}  {a[conds == 'none'].mean():21.3f}")


def recall_first_threshold(p: np.ndarray, y: np.ndarray, conds: np.ndarray, target: float) -> float:
    """The highest threshold (in steps of 0.01) at which at least `target` of the answerable questions are still
    answered and cited: decline as much as possible without losing more than 1 - target of the right answers."""
    held = conds == "held"
    ok = [t for t in np.arange(0.01, 1.0, 0.01) if ((p >= t) & (y == 1))[held].mean() >= target]
    return round(float(max(ok)), 2) if ok else 0.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--questions", default=str(QUESTIONS))
    ap.add_argument("--corpus", default=str(ROOT.parent / "shared" / "corpora" / "bbc-news" / "bbc.jsonl"))
    ap.add_argument("--index", default="/tmp/bbc-index")
    ap.add_argument("--k", type=int, default=A.DEFAULT_K)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    questions = load_questions(Path(args.questions))
    index = Path(args.index)
    retriever = open_index(index, Path(args.corpus))
    rows = collect(retriever, questions, args.k, index.parent / f"{index.name}.ask-questions-k{args.k}.pkl")
    conds = np.array([r["cond"] for r in rows])
    groups = [r["id"] for r in rows]
    n_ans = sum(1 for q in questions if q["article"])
    print(f"questions: {n_ans} answerable, {len(questions) - n_ans} not; index {index}; k={args.k}; "
          f"features {A.FEATURES}")

    for lw in (0.0, 0.15, 0.3, 0.5):
        pairs = [(r, rebuild(r, lw)[1]) for r in rows if r["cond"] == "held"]
        print(f"LEX_WEIGHT={lw}: answerable questions whose answer cites their article "
              f"{np.mean([cites_article(r, c) for r, c in pairs]):.3f}, "
              f"and holds the answer terms {np.mean([is_right(r, c) for r, c in pairs]):.3f}")
    print(f"using LEX_WEIGHT={A.LEX_WEIGHT} (api/answer.py)\n")

    X, y = dataset(rows, A.LEX_WEIGHT, {q["id"]: q["question"] for q in questions}, A.Answerer(retriever))
    p = cross_validated(X, y, groups, args.seed)
    report(p, y, conds, f"{FOLDS}-fold cross-validated")
    t = recall_first_threshold(p, y, conds, RECALL_TARGET)
    a = p >= t
    print(f"  recall-first threshold (answerable answered+cited >= {RECALL_TARGET}): {t:.2f}: answerable "
          f"{(a & (y == 1))[conds == 'held'].mean():.3f}, removed answered {a[conds == 'removed'].mean():.3f}, "
          f"unanswerable answered {a[conds == 'none'].mean():.3f}")
    report(predict(X, A.COEF, A.INTERCEPT), y, conds, "constants now in api/answer.py")
    coef, b = fit_logistic(X, y)
    print("\nfit on all rows; paste into api/answer.py:")
    print(f"FEATURES = {A.FEATURES!r}")
    print(f"COEF = ({', '.join(f'{c:.4f}' for c in coef)})")
    print(f"INTERCEPT = {b:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
