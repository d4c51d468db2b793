"""How far the answer model's heads move with the seed of their MLP (docs/ask.md, "How steady the heads are").

`make train-answer` fits each MLP head with one seed (13) unless MLP_SEEDS says more; this refits the heads over
the same features (training/train_answer.py's data and caches, read in place from ../shared; cold caches cost the
~15 min of a first train-answer run) with seeds 13-17 one by one, and with the logit average of MLP_SEEDS seeds, and
prints the held-out figures of each: the sentence head's top-1, the evidence head's AUC and log loss, the threshold
the rule picks (decline first, since session 16) and what it leaves answered and declined.

    PYTHONPATH=. .venv/bin/python bench/answer_head_seeds.py [--cross-encoder api/answer_model/cross_encoder]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SEEDS = (13, 14, 15, 16, 17)


def main() -> None:
    from api import answer_model as M
    from training import train_answer as T

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cross-encoder", type=Path, default=M.ARTIFACT_DIR / "cross_encoder")
    args = ap.parse_args()
    ordered, held_arts = T.ordered_articles(T.load_squad())
    tr_fold, tr, ho_fold, ho = T.prepare_folds(ordered[:T.TRAIN_ARTICLES], held_arts, args.cross_encoder)
    s_tr = [g for g in tr if not g.cond.startswith("topic")]
    s_ho = [g for g in ho if not g.cond.startswith("topic")]
    xs, ys = np.vstack([g.feats for g in s_tr]), np.concatenate([g.labels for g in s_tr])
    conds = np.array([g.cond for g in ho])

    def fit(kind: str, x, y, seed: int | None):      # None: the shipped average of MLP_SEEDS seeds
        return T.fit_head(kind, x, y, T.SEED, T.MLP_SEEDS) if seed is None else T.fit_head(kind, x, y, seed, 1)

    def name(seed: int | None) -> str:
        return f"mean of {T.MLP_SEEDS}" if seed is None else str(seed)

    print("| sentence head | its seed | top-1 | evidence head | its seed | AUC | log loss | threshold | answerable "
          "answered | perturbed declined | topic removed declined |\n|---|---|---|---|---|---|---|---|---|---|---|")
    for kind in ("mlp", "mlp2"):
        for s_seed in (*SEEDS, None):
            s_head = fit(kind, xs, ys, s_seed)
            top1 = T.selection_accuracy(s_ho, [s_head.prob(g.feats) for g in s_ho])
            ex, ey = T.evidence_rows(tr, [s_head.prob(g.feats) for g in tr], tr_fold)
            hx, hy = T.evidence_rows(ho, [s_head.prob(g.feats) for g in ho], ho_fold)
            # every evidence seed over the first and the averaged sentence heads; the averaged one over the rest
            for e_seed in (*SEEDS, None) if s_seed in (SEEDS[0], None) else (None,):
                p = fit("mlp", ex, ey, e_seed).prob(hx)
                t = T.threshold_by_rule(p, list(conds))
                print(f"| {kind} | {name(s_seed)} | {top1:.4f} | mlp | {name(e_seed)} | {T.auc(hy, p):.4f} | "
                      f"{T.log_loss(hy, p):.4f} | {t:.3f} | {np.mean(p[conds == 'answerable'] >= t):.3f} | "
                      f"{np.mean(p[conds == 'perturbed'] < t):.3f} | "
                      f"{np.mean(p[conds == 'topic-removed'] < t):.3f} |", flush=True)


if __name__ == "__main__":
    main()
