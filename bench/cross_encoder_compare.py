"""Answer cross-encoder artifacts side by side on the same held-out SQuAD questions (docs/cross-encoder.md).

Each artifact's own config.json holds held-out figures its training run computed in PyTorch; runs whose training
picked their negatives differently measured different pairs. This scores one set of pairs, as
training/train_cross_encoder.py builds them for its held-out questions (train_answer's held-out articles, read in
place from ../shared), with every artifact through OpenVINO as ask runs it, and their mean logit (what an ensemble
would give, at the sum of their query cost):

  * AUC of answer sentences against every negative;
  * top-1: the answer sentence scores above its paragraph's other sentences and the other-paragraph near misses;
  * above near misses: it scores above the near misses of other paragraphs (the own-paragraph-left-out case);
  * perturbed below: the question with a fact swapped scores the answer sentence below the original question.

    PYTHONPATH=. .venv/bin/python bench/cross_encoder_compare.py FOLDER [FOLDER ...] [--questions 500]
"""
from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folders", nargs="+", type=Path, help="cross-encoder artifact folders (model.xml, config.json)")
    ap.add_argument("--questions", type=int, default=500)
    args = ap.parse_args()

    from sklearn.metrics import roc_auc_score

    from api import cross_encoder as CE
    from training import train_cross_encoder as T

    _, held_arts = T.cross_encoder_articles(T.load_squad())
    refs = T.question_refs(held_arts)
    random.Random(T.SEED + 1).shuffle(refs)          # the training script's held-out sample
    items = T.build_items(held_arts, refs[: args.questions])
    # Each model scores every pair once: per item, its candidates' logits and the perturbed question's logit.
    runs = {}
    for folder in args.folders:
        model = CE.load(folder)
        runs[str(folder)] = [(model.score(it.question, [it.positive, *it.para_negatives, *it.hard_negatives]),
                              model.score(it.perturbed, [it.positive])[0] if it.perturbed else None)
                             for it in items]
    if len(runs) > 1:
        runs["mean of the above"] = [(np.mean([r[i][0] for r in runs.values()], axis=0),
                                      None if items[i].perturbed is None else
                                      float(np.mean([r[i][1] for r in runs.values()])))
                                     for i in range(len(items))]

    print(f"{len(items)} held-out questions")
    print("| cross-encoder | AUC | top-1 answer sentence | above near misses | perturbed below |")
    print("|---|---|---|---|---|")
    for name, run in runs.items():
        labels, flat, top1, above, pert = [], [], 0, 0, []
        for it, (s, perturbed) in zip(items, run):
            labels += [1] + [0] * (len(s) - 1)
            flat += list(s)
            top1 += int(np.argmax(s) == 0)
            near = s[1 + len(it.para_negatives):]
            above += int(not len(near) or s[0] > near.max())
            if perturbed is not None:
                pert.append(perturbed < s[0])
        print(f"| {name} | {roc_auc_score(labels, flat):.4f} | {top1 / len(items):.4f} | "
              f"{above / len(items):.4f} | {np.mean(pert):.4f} |")

if __name__ == "__main__":
    main()
