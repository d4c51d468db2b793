"""Reciprocal rank fusion of ranked lists, each list weighted by how much it helps (docs/retrieval.md)."""
from __future__ import annotations

from typing import Hashable, Mapping, Sequence

RRF_K = 60


def rrf(lists: dict[str, Sequence[Hashable]], k: int = RRF_K,
        weights: Mapping[str, float] | None = None) -> list[tuple[Hashable, float, dict[str, int]]]:
    """Fuse named ranked lists: score = sum weight[list] / (k + rank), a list's weight 1 unless `weights` gives
    one. Returns (item, score, {list name: rank}) best first; ties go to the item with the better single rank."""
    weights = weights or {}
    scores: dict[Hashable, float] = {}
    ranks: dict[Hashable, dict[str, int]] = {}
    for name, items in lists.items():
        w = float(weights.get(name, 1.0))
        for rank, item in enumerate(items, 1):
            scores[item] = scores.get(item, 0.0) + w / (k + rank)
            ranks.setdefault(item, {})[name] = rank
    ordered = sorted(scores, key=lambda i: (-scores[i], min(ranks[i].values())))
    return [(item, scores[item], ranks[item]) for item in ordered]
