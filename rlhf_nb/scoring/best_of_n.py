"""Best-of-n against a reward model: the unbiased estimator over a sample pool, and the analytic KL bound.

Best-of-n draws n responses from the policy and keeps the one the reward model scores
highest. Its expected outcome at every n <= N is estimated without bias from ONE pool of N
samples per prompt (Gao et al. 2022, appendix): sort the pool by score; the i-th best is the
maximum of a uniformly random size-n subset with probability C(N-i, n-1) / C(N, n). So the
expected gold of the response picked by best-of-n is the weighted sum of the pool's gold
values with these weights, and the same weights give the expected proxy score. Ties in score
are broken uniformly at random, which is the same as averaging the values within each group
of tied responses (identical completions, frequent on this task, tie by construction).

The KL of best-of-n to the policy is at most ``ln n - (n-1)/n``. It is an UPPER BOUND (exact
only for a continuous reward with no ties); Gao et al. plot gold against d = sqrt of it, and
so do we, labelled as a bound.

What it does not do: sample or score (see :mod:`rlhf_nb.pipeline.rm_runs`).
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Sequence

import numpy as np
import pandas as pd

from ..analysis.forms import bon_kl_bound


def kl_bound(n: int) -> float:
    """Upper bound on KL(best-of-n || policy): ln n - (n-1)/n (0 at n = 1), for one n >= 1."""
    if n < 1:
        raise ValueError(f"n={n}: best-of-n needs n >= 1")
    return float(bon_kl_bound(n))


@lru_cache(maxsize=4096)
def _rank_weights(pool_size: int, n: int) -> tuple[float, ...]:
    total = math.comb(pool_size, n)
    # Python's int / int is correctly rounded even when both are huge, so no overflow or cancellation.
    return tuple(math.comb(pool_size - i, n - 1) / total for i in range(1, pool_size + 1))


def rank_weights(pool_size: int, n: int) -> np.ndarray:
    """P(the i-th best of a pool of ``pool_size`` is the best of a random size-n subset), i = 1..pool_size."""
    if not 1 <= n <= pool_size:
        raise ValueError(f"n={n} with a pool of {pool_size}: the unbiased estimator needs 1 <= n <= pool size; "
                         "sample a larger pool or lower n")
    return np.array(_rank_weights(pool_size, n))


def _tie_averaged(scores: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values sorted by descending score, each replaced by the mean over its group of tied scores."""
    order = np.argsort(-scores, kind="stable")
    s, v = scores[order], values[order]
    _, group, counts = np.unique(s, return_inverse=True, return_counts=True)
    means = np.bincount(group, weights=v) / counts
    return s, means[group]


def expected_best_of_n(scores: Sequence[float], values: Sequence[float], n: int) -> float:
    """Expected ``value`` of the highest-scoring response among n drawn without replacement from the pool.

    ``scores`` rank the pool (the proxy reward); ``values`` are what is measured on the pick
    (gold correctness, or the score itself for the expected proxy). Unbiased for best-of-n
    of i.i.d. policy samples when the pool is.

    >>> expected_best_of_n([0.1, 0.9, 0.5], [0, 1, 0], 2)  # the 0.9 one is in 2 of the 3 pairs
    0.6666666666666666
    """
    s, v = np.asarray(scores, dtype=float), np.asarray(values, dtype=float)
    if s.shape != v.shape or s.ndim != 1:
        raise ValueError(f"scores and values must be 1-d and of one length, got {s.shape} and {v.shape}")
    if not np.isfinite(s).all():
        raise ValueError("scores hold NaN or inf: a reward model produced a non-finite score")
    _, v_sorted = _tie_averaged(s, v)
    return float(rank_weights(len(s), n) @ v_sorted)


def best_of_n_curve(scores: Sequence[Sequence[float]], gold: Sequence[Sequence[float]],
                    ns: Sequence[int]) -> pd.DataFrame:
    """Best-of-n over many prompts: one row per n with the mean over prompts.

    Columns: ``n``; ``kl_bound`` (ln n - (n-1)/n, an upper bound on the true KL) and ``d``
    (its square root); ``gold`` (expected gold of the pick: the selection accuracy for a 0/1
    verifier); ``proxy`` (expected score of the pick); ``oracle`` (best-of-n picking by gold
    itself: the share of prompts with a right answer among n, the ceiling any reward model can
    reach); and the gains ``gold_gain`` / ``proxy_gain`` over n = 1.
    """
    if len(scores) != len(gold) or not len(scores):
        raise ValueError(f"{len(scores)} score lists and {len(gold)} gold lists: give one of each per prompt")
    ns = sorted(set(int(n) for n in ns))
    rows = []
    for n in ns:
        g = [expected_best_of_n(s, v, n) for s, v in zip(scores, gold)]
        p = [expected_best_of_n(s, s, n) for s in scores]
        o = [expected_best_of_n(v, v, n) for v in gold]
        bound = kl_bound(n)
        rows.append({"n": n, "kl_bound": bound, "d": math.sqrt(bound), "gold": float(np.mean(g)),
                     "proxy": float(np.mean(p)), "oracle": float(np.mean(o))})
    out = pd.DataFrame(rows)
    gold_start, proxy_start = expected_start(scores, gold)
    out["gold_gain"] = out["gold"] - gold_start
    out["proxy_gain"] = out["proxy"] - proxy_start
    return out


def expected_start(scores: Sequence[Sequence[float]], gold: Sequence[Sequence[float]]) -> tuple[float, float]:
    """Gold and proxy at n = 1: the pool means (what the policy gets without selection)."""
    return (float(np.mean([np.mean(v) for v in gold])), float(np.mean([np.mean(s) for s in scores])))
