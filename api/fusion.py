"""Reciprocal rank fusion of ranked lists."""
from __future__ import annotations

from typing import Hashable, Sequence

RRF_K = 60


def rrf(lists: dict[str, Sequence[Hashable]], k: int = RRF_K) -> list[tuple[Hashable, float, dict[str, int]]]:
    """Fuse named ranked lists: score = sum 1/(k + rank). Returns (item, score, {list name: rank}) best first."""
    scores: dict[Hashable, float] = {}
    ranks: dict[Hashable, dict[str, int]] = {}
    for name, items in lists.items():
        for rank, item in enumerate(items, 1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
            ranks.setdefault(item, {})[name] = rank
    ordered = sorted(scores, key=lambda i: (-scores[i], min(ranks[i].values())))
    return [(item, scores[item], ranks[item]) for item in ordered]
