"""How train_answer builds and chooses the answer model's heads (the numpy forward pass ships; sklearn trains)."""
from __future__ import annotations

import numpy as np

from training import train_answer as T


def test_an_mlp_head_is_the_logit_average_of_its_seeds():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 5)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] * x[:, 2] > 0).astype(int)
    for kind in ("mlp", "mlp2"):
        members = [T.fit_head(kind, x, y, seed, seeds=1) for seed in (3, 4, 5)]
        merged = T.fit_head(kind, x, y, 3, seeds=3)
        logit = lambda p: np.log(p / (1 - p))   # noqa: E731
        want = np.mean([logit(m.prob(x).astype(np.float64)) for m in members], axis=0)
        assert np.allclose(logit(merged.prob(x).astype(np.float64)), want, atol=1e-3)
        assert merged.weights[0].shape[1] == 3 * members[0].weights[0].shape[1]   # hidden units side by side


def test_a_larger_head_is_chosen_only_where_it_is_clearly_better():
    rng = np.random.default_rng(1)
    base = rng.integers(0, 2, 2000).astype(float)
    hair = base.copy()
    hair[np.flatnonzero(base == 0)[:2]] = 1          # two more right of 2,000: noise
    clear = base.copy()
    clear[np.flatnonzero(base == 0)[:100]] = 1       # a hundred more: clearly better
    assert T.clearly_best({"logistic": base, "mlp": hair})[0] == "logistic"
    chosen, why = T.clearly_best({"logistic": base, "mlp": hair, "mlp2": clear})
    assert chosen == "mlp2" and len(why) == 2 and "not clearly better" in why[0]
