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


def test_the_threshold_declines_first_and_the_answer_first_one_is_kept():
    """The shipped threshold is the lowest that declines DECLINED_TARGET of the removed questions; the answer-first
    one the highest that answers ANSWERED_TARGET of the answerable ones (docs/ask.md, "Threshold rule")."""
    rng = np.random.default_rng(2)
    removed, answerable = rng.beta(2, 5, 1000), rng.beta(5, 2, 1000)
    conf = np.concatenate([removed, answerable])
    conds = ["removed"] * 1000 + ["answerable"] * 1000
    t = T.threshold_by_rule(conf, conds)
    assert np.mean(removed < t) >= T.DECLINED_TARGET > np.mean(removed < t - 0.001)
    a = T.answer_first_threshold(conf, conds)
    # the highest: it answers at most one question more than the target needs (its float rounding of 1 - 0.93)
    assert T.ANSWERED_TARGET <= np.mean(answerable >= a) <= T.ANSWERED_TARGET + 0.001 + 1e-9
