"""The exact KL of best-of-n to the base policy over an empirical sample pool.

docs/findings.md ("How a finding is decided", Best-of-n KL): the exact KL of best-of-n over the
sample pool is the d² used for fits and comparisons; ln n - (n-1)/n
(:func:`rlhf_nb.analysis.forms.bon_kl_bound`) is reported beside it as the bound it is.

The base distribution is the pool's empirical distribution: distinct responses i with
probabilities p_i (identical responses grouped when ``responses`` is given; otherwise each of
the N draws is its own response, p_i = 1/N). Best-of-n draws n responses i.i.d. from it and keeps
the one with the highest proxy score, ties broken uniformly at random among the tied draws.
Ranking the responses by ascending proxy score with cumulative probability F_i,

    q_i = F_i^n - F_{i-1}^n,        KL(best-of-n || base) = Σ_i q_i ln(q_i / p_i)   (nats).

Ties in proxy score share their block's mass in proportion to p: a tie block B with cumulative
probabilities F_lo (below the block) and F_hi (through it) gets q_B = F_hi^n - F_lo^n, split as
q_i = q_B p_i / p_B. Within a block q_i / p_i is constant, so the KL equals Σ_B q_B ln(q_B / p_B)
over blocks; grouping identical responses that share a score therefore does not change it.

Facts the tests check: n = 1 gives 0; the KL is nondecreasing in n; it never exceeds
ln n - (n-1)/n (the KL of the continuous case, of which the pool is a coarsening) and approaches
it for a large pool of distinct scores with n << N; as n grows it tends to ln(1 / p_top), p_top
the probability of the top tie block.

Note: this is best-of-n WITH replacement from the empirical pool (what the formula of
findings.md describes), so n may exceed the pool size. The unbiased best-of-n estimator of
:mod:`rlhf_nb.scoring.best_of_n` draws subsets WITHOUT replacement (n <= N); the two agree for n << N.

What it does not do: average over prompts (compute one value per prompt's pool and average the
per-prompt KLs; the KL of a policy over prompts is the mean over prompts), or sample and score.
"""
from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

from .forms import bon_kl_bound

__all__ = ["bon_kl_bound", "exact_bon_kl", "exact_bon_kl_curve"]


def _blocks(proxy_scores: Sequence[float], responses: Sequence[Hashable] | None) -> tuple[np.ndarray, int]:
    """Integer counts of the tie blocks in ascending score order, and the pool size N.

    Identical responses (when ``responses`` is given) are one response scored by the mean of
    their scores, so they always share a block.
    """
    s = np.asarray(proxy_scores, dtype=float)
    if s.ndim != 1 or s.size == 0:
        raise ValueError(f"proxy_scores must be a non-empty 1-d sequence, one score per draw; got shape {s.shape}")
    if not np.isfinite(s).all():
        raise ValueError("proxy_scores hold NaN or inf: a reward model produced a non-finite score")
    if responses is not None:
        if len(responses) != s.size:
            raise ValueError(f"responses has {len(responses)} entries for {s.size} scores; give one per draw")
        ids: dict[Hashable, int] = {}
        group = np.fromiter((ids.setdefault(r, len(ids)) for r in responses), dtype=np.int64, count=s.size)
        counts = np.bincount(group)
        s_resp = np.bincount(group, weights=s) / counts  # one score per distinct response
        s, weights = s_resp, counts
    else:
        weights = np.ones(s.size, dtype=np.int64)
    _, inv = np.unique(s, return_inverse=True)  # ascending distinct scores = tie blocks
    block_counts = np.bincount(inv.ravel(), weights=weights).round().astype(np.int64)
    return block_counts, int(weights.sum())


def _check_ns(ns: np.ndarray) -> np.ndarray:
    if ns.size and (not np.isfinite(ns).all() or (ns < 1).any() or (ns != np.round(ns)).any()):
        raise ValueError(f"best-of-n needs integer n >= 1, got {ns.ravel().tolist()}")
    return ns


def _kl_blocks(counts: np.ndarray, total: int, ns: np.ndarray) -> np.ndarray:
    """KL for every n in ``ns`` (shape (K,)) from block counts in ascending score order."""
    c_hi = np.cumsum(counts)
    c_lo = c_hi - counts
    log_hi = np.log(c_hi) - np.log(total)                      # ln F_hi, shape (B,)
    with np.errstate(divide="ignore"):
        log_lo = np.log(c_lo.astype(float)) - np.log(total)    # ln F_lo, -inf for the bottom block
    log_p = np.log(counts) - np.log(total)
    n = ns.reshape(-1, 1).astype(float)
    # ln q_B = n ln F_hi + ln(1 - (F_lo/F_hi)^n), written to avoid cancellation for large n.
    log_q = n * log_hi + np.log(-np.expm1(n * (log_lo - log_hi)))
    q = np.exp(log_q)
    terms = np.where(q > 0, q * (log_q - log_p), 0.0)
    kl = terms.sum(axis=1)
    kl = np.where(ns.reshape(-1) == 1, 0.0, kl)  # n = 1: q = p exactly
    return np.maximum(kl, 0.0)  # KL >= 0; clears rounding below zero


def exact_bon_kl(proxy_scores: Sequence[float], n: int, responses: Sequence[Hashable] | None = None) -> float:
    """Exact KL(best-of-n || base), in nats, over the empirical pool of one prompt.

    Args:
        proxy_scores: shape (N,), the proxy reward of each of the N draws in the pool; finite.
        n: integer >= 1, the number of draws best-of-n keeps the best of (with replacement, so
            n may exceed N).
        responses: optional, shape (N,), a hashable identity per draw (e.g. the completion text
            or its token ids as a tuple). Identical responses are grouped into one response with
            probability count/N and the mean of their scores. Without it each draw is its own
            response (p = 1/N); identical responses with identical scores give the same KL either
            way (they tie).

    Returns:
        Σ_i q_i ln(q_i / p_i) with q_i = F_i^n - F_{i-1}^n over the ascending proxy ranking, ties
        sharing their block's mass in proportion to p (docs/findings.md, "Best-of-n KL"). At most
        :func:`bon_kl_bound` (n).

    Raises:
        ValueError: empty or non-1-d or non-finite scores, a ``responses`` of another length,
            n not an integer >= 1.

    >>> round(exact_bon_kl([0.1, 0.5, 0.9], 2), 6)  # q = (1/9, 3/9, 5/9) against p = 1/3
    0.161724
    """
    ns = _check_ns(np.asarray([n], dtype=float))
    counts, total = _blocks(proxy_scores, responses)
    return float(_kl_blocks(counts, total, ns)[0])


def exact_bon_kl_curve(proxy_scores: Sequence[float], ns: Sequence[int],
                       responses: Sequence[Hashable] | None = None) -> np.ndarray:
    """:func:`exact_bon_kl` for every n in ``ns`` at once: an array of the shape of ``ns``, in nats.

    >>> exact_bon_kl_curve([0.1, 0.5, 0.9], [1, 2]).round(6)
    array([0.      , 0.161724])
    """
    arr = _check_ns(np.asarray(ns, dtype=float))
    counts, total = _blocks(proxy_scores, responses)
    return _kl_blocks(counts, total, arr.ravel()).reshape(arr.shape)
