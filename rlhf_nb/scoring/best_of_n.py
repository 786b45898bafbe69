"""Best-of-n against a reward model: the unbiased estimator over a sample pool, the exact KL, and the KL bound.

Best-of-n draws n responses from the policy and keeps the one the reward model scores
highest. Its expected outcome at every n <= N is estimated without bias from ONE pool of N
samples per prompt (Gao et al. 2022, appendix): sort the pool by score; the i-th best is the
maximum of a uniformly random size-n subset with probability C(N-i, n-1) / C(N, n). So the
expected gold of the response picked by best-of-n is the weighted sum of the pool's gold
values with these weights, and the same weights give the expected proxy score. Ties in score
are broken uniformly at random, which is the same as averaging the values within each group
of tied responses (identical completions, frequent on this task, tie by construction).

The KL of best-of-n to the policy (docs/findings.md, "Best-of-n KL") is the EXACT KL of
best-of-n over the pool (:func:`rlhf_nb.analysis.bon_kl.exact_bon_kl_curve`): the pool's
distinct responses with their empirical probabilities, best-of-n drawing n of them WITH
replacement. It is computed per prompt and averaged over prompts (``kl_exact``; ``d_exact`` is
its square root). ``ln n - (n-1)/n`` is reported beside it as the upper bound it is
(``kl_bound``, ``d``).

Two draws, one reconciliation. The unbiased estimator draws subsets WITHOUT replacement
(n <= N); the exact KL is that of draws WITH replacement from the pool's empirical
distribution. The two selection rules agree for n << N and part for n near N (at n = N the
first always keeps the pool's top response, the second with probability 1 - (1 - 1/N)^N).
So the curve also holds ``gold_wr``: the expected gold of best-of-n WITH replacement from the
same empirical distribution (ties averaged, as for the KL). ``gold_wr`` against ``kl_exact``
describe ONE selection rule exactly, at every n <= N; a fit of gold against d = sqrt(KL)
(G1, G3) reads that pair. ``gold`` (unbiased for the policy's best-of-n) is what every
contrast at a fixed n reads.

Split halves: ``gold_even`` and ``gold_odd`` are the unbiased gold over the prompts of even and
of odd index in the pool's order (0-based): two disjoint halves of the evaluation prompts, so a
peak n chosen on one half can be measured on the other (findings.md, "Selection on the same
data is avoided").

What it does not do: sample or score (see :mod:`rlhf_nb.pipeline.rm_runs`).
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Sequence

import numpy as np
import pandas as pd

from ..analysis.bon_kl import exact_bon_kl_curve
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


def expected_best_of_n_with_replacement(scores: Sequence[float], values: Sequence[float], n: int) -> float:
    """Expected ``value`` of the highest-scoring of n draws WITH replacement from the pool's empirical distribution.

    The selection rule whose KL to the pool is :func:`rlhf_nb.analysis.bon_kl.exact_bon_kl`: over
    the tie blocks of ``scores`` in ascending order with cumulative shares F, the block is picked
    with probability F_hi^n - F_lo^n, and a tie is broken uniformly (the block's mean value). n may
    exceed the pool size. Equals :func:`expected_best_of_n` at n = 1 and for n << N; see the module
    docstring for why both exist.

    >>> round(expected_best_of_n_with_replacement([0.1, 0.9, 0.5], [0, 1, 0], 2), 6)  # 1 - (2/3)^2
    0.555556
    """
    s, v = np.asarray(scores, dtype=float), np.asarray(values, dtype=float)
    if s.shape != v.shape or s.ndim != 1 or s.size == 0:
        raise ValueError(f"scores and values must be 1-d, non-empty and of one length, got {s.shape} and {v.shape}")
    if not np.isfinite(s).all():
        raise ValueError("scores hold NaN or inf: a reward model produced a non-finite score")
    if n < 1 or int(n) != n:
        raise ValueError(f"n={n}: best-of-n needs an integer n >= 1")
    _, block = np.unique(s, return_inverse=True)  # ascending tie blocks
    counts = np.bincount(block.ravel())
    means = np.bincount(block.ravel(), weights=v) / counts
    hi = np.cumsum(counts) / s.size
    lo = hi - counts / s.size
    q = hi**int(n) - lo**int(n)
    return float(q @ means)


def best_of_n_curve(scores: Sequence[Sequence[float]], gold: Sequence[Sequence[float]],
                    ns: Sequence[int], responses: Sequence[Sequence[object]] | None = None) -> pd.DataFrame:
    """Best-of-n over many prompts: one row per n with the mean over prompts.

    Columns: ``n``; ``kl_exact`` (the exact KL of best-of-n over each prompt's pool, with
    replacement, averaged over prompts; docs/findings.md) and ``d_exact`` (its square root);
    ``kl_bound`` (ln n - (n-1)/n, an upper bound on the true KL, reported beside it) and ``d``
    (its square root); ``gold`` (expected gold of the pick, unbiased, subsets without
    replacement: the selection accuracy for a 0/1 verifier); ``gold_wr`` (the expected gold of
    the selection rule whose KL ``kl_exact`` is: draws with replacement from the pool);
    ``gold_even`` / ``gold_odd`` (``gold`` over the prompts of even / odd index, two disjoint
    halves; NaN for a half with no prompt) and ``gold_wr_even`` / ``gold_wr_odd`` (the same for
    ``gold_wr``); ``proxy`` (expected score of the pick); ``oracle``
    (best-of-n picking by gold itself: the share of prompts with a right answer among n, the
    ceiling any reward model can reach); and the gains ``gold_gain`` / ``gold_wr_gain`` /
    ``proxy_gain`` over n = 1 (the pool means).

    ``responses``: optional, per prompt one hashable identity per sample (e.g. the completion
    text): identical responses are one response for the exact KL (they tie in score anyway when
    the reward model is deterministic; grouping guards against rounding between their scores).
    """
    if len(scores) != len(gold) or not len(scores):
        raise ValueError(f"{len(scores)} score lists and {len(gold)} gold lists: give one of each per prompt")
    if responses is not None and len(responses) != len(scores):
        raise ValueError(f"{len(responses)} response lists for {len(scores)} prompts: give one per prompt")
    ns = sorted({int(n) for n in ns})
    kl = np.mean([exact_bon_kl_curve(s, ns, None if responses is None else responses[i])
                  for i, s in enumerate(scores)], axis=0)
    even = np.arange(len(scores)) % 2 == 0
    rows = []
    for n, kl_n in zip(ns, kl):
        g = np.array([expected_best_of_n(s, v, n) for s, v in zip(scores, gold)])
        g_wr = np.array([expected_best_of_n_with_replacement(s, v, n) for s, v in zip(scores, gold)])
        p = [expected_best_of_n(s, s, n) for s in scores]
        o = [expected_best_of_n(v, v, n) for v in gold]
        bound = kl_bound(n)
        rows.append({"n": n, "kl_exact": float(kl_n), "d_exact": math.sqrt(float(kl_n)), "kl_bound": bound,
                     "d": math.sqrt(bound), "gold": float(np.mean(g)), "gold_wr": float(np.mean(g_wr)),
                     "gold_even": float(g[even].mean()) if even.any() else float("nan"),
                     "gold_odd": float(g[~even].mean()) if (~even).any() else float("nan"),
                     "gold_wr_even": float(g_wr[even].mean()) if even.any() else float("nan"),
                     "gold_wr_odd": float(g_wr[~even].mean()) if (~even).any() else float("nan"),
                     "proxy": float(np.mean(p)), "oracle": float(np.mean(o))})
    out = pd.DataFrame(rows)
    gold_start, proxy_start = expected_start(scores, gold)
    out["gold_gain"] = out["gold"] - gold_start
    out["gold_wr_gain"] = out["gold_wr"] - gold_start
    out["proxy_gain"] = out["proxy"] - proxy_start
    return out


def expected_start(scores: Sequence[Sequence[float]], gold: Sequence[Sequence[float]]) -> tuple[float, float]:
    """Gold and proxy at n = 1: the pool means (what the policy gets without selection)."""
    return (float(np.mean([np.mean(v) for v in gold])), float(np.mean([np.mean(s) for s in scores])))
