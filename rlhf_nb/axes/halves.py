"""Half views of an axis table: every prompt-averaged column replaced by its value on one half of the prompts.

A finding's variance split (:mod:`rlhf_nb.analysis.variance_split`, reported beside the verdict,
never evidence) needs each part computed on the even-position and on the odd-position half of
the evaluation (or tracking) prompts. The axes get it by running their own part functions on a
half view of their table, so the half computation is the full one, column for column:

- tracked RL curves (:func:`rl_half`): ``gold`` <- ``gold_even`` / ``gold_odd`` (the tracker's
  halves, :mod:`rlhf_nb.stages.tracking`), ``gold_gain`` <- that half's gold minus the same
  half's gold at the run's first tracked step (step 0, the SFT policy);
- best-of-n curves (:func:`bon_half`): ``gold`` <- ``gold_even`` / ``gold_odd``, ``gold_wr``
  <- ``gold_wr_even`` / ``gold_wr_odd``, ``pairwise_acc`` <- ``pairwise_acc_even`` /
  ``pairwise_acc_odd``, each gain over n = 1 recomputed from the half's own n = 1 gold (the
  pool mean on that half, which is the start of both selection rules).

Every other measured column without halves (proxy scores, the evaluation stage's accuracies,
reward-model accuracies on other pools, the oracle) becomes NaN in the view, so a part that
reads one has no half values and records no split rather than a made-up one. The x coordinates
(step, n, sqrt(KL), parameters) are kept: the KL is estimated on all prompts, so a part read at
a sqrt(KL) treats the KL as fixed and its split counts the gold's measurement noise only.
A table without the half columns (runs made before them) has no view: the functions return None.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

HALVES = ("even", "odd")
"""the two halves: prompts at even and at odd positions of the evaluation (or tracking) prompt list"""

RL_UNSPLIT = ("proxy", "proxy_gain", "rm_heldout_pairwise_acc", "rm_pairwise_acc_own_samples")
"""tracked or recorded columns of an RL table that have no per-half values"""
EVAL_PREFIXES = ("sft_heldout_", "rl_heldout_", "gain_heldout_", "sft_ood_", "rl_ood_", "gain_ood_")
"""the evaluation stage's columns (other prompts than the tracker's, no halves)"""
HALF_COLUMNS = tuple(f"{c}_{h}" for c in ("gold", "gold_wr", "pairwise_acc") for h in HALVES)
"""the per-half columns themselves: blank in a view (a half of a half does not exist)"""
BON_UNSPLIT = ("proxy", "proxy_gain", "oracle", "rm_train_pairwise_acc", "pool_share_correct")
"""best-of-n columns without per-half values"""


def _has(table: pd.DataFrame, column: str) -> bool:
    return column in table and bool(table[column].notna().any())


def _blank(out: pd.DataFrame, columns) -> None:
    for c in columns:
        if c in out:
            out[c] = np.nan


def _check(half: str) -> None:
    if half not in HALVES:
        raise ValueError(f"half={half!r}: use one of {HALVES}")


def crossfit_fall(half_a, half_b) -> float:
    """Fall from the peak to the last point, the peak chosen on one half and the fall measured on the other.

    ``half_a``, ``half_b``: the gold at each point of one curve, in ascending order of its x (n
    or step), on two disjoint halves of the prompts. Peak k_A = the first argmax of A; the
    value is the mean of B(k_A) - B(last) and A(k_B) - A(last), so selecting the peak on the
    same noise it is measured on cannot inflate it. NaN when a half is empty or not finite.
    """
    a, b = np.asarray(half_a, dtype=float), np.asarray(half_b, dtype=float)
    if not a.size or a.shape != b.shape or not (np.isfinite(a).all() and np.isfinite(b).all()):
        return float("nan")
    return float(0.5 * ((b[int(np.argmax(a))] - b[-1]) + (a[int(np.argmax(b))] - a[-1])))


def rl_half(rl: pd.DataFrame, half: str) -> pd.DataFrame | None:
    """The RL rows with gold and gold gain on one half of the tracking prompts; None without ``gold_<half>``.

    A run is one ``rl_run`` (or, in a table without it, one (seed, kl_coef, algorithm, ...)
    combination); its gain is measured from its own first tracked step on the same half.
    """
    _check(half)
    col = f"gold_{half}"
    if not _has(rl, col):
        return None
    out = rl.copy()
    out["gold"] = out[col].astype(float)
    if "rl_run" in out and out["rl_run"].notna().all():
        key = ["rl_run"]
    else:
        key = [c for c in ("seed", "series", "budget", "policy", "rm_policy", "algorithm", "kl_coef",
                           "samples_per_prompt", "prompts_per_step", "rl_steps") if c in out]
    first = out["step"] == out.groupby(key, sort=False, dropna=False)["step"].transform("min")
    # the run's first tracked step on this half, NaN when that step has no half (never a later step instead)
    start = out["gold"].where(first).groupby([out[k] for k in key], sort=False, dropna=False).transform("max")
    out["gold_gain"] = out["gold"] - start
    _blank(out, RL_UNSPLIT + HALF_COLUMNS)  # a part that itself reads the halves has no half of its own
    _blank(out, [c for c in out.columns if c.startswith(EVAL_PREFIXES)])
    return out


def bon_half(bon: pd.DataFrame, half: str, by: list[str] | None = None) -> pd.DataFrame | None:
    """The best-of-n rows with gold, with-replacement gold and pairwise accuracy on one half of the prompts.

    ``by``: the columns naming one curve (default: every column of seed, series, split, reward_run,
    rm_size, rm_policy, supervision, comparisons, arm, point, aggregate the table has); each gain
    is over that curve's n = 1 row on the same half (NaN for a curve without one). None without
    ``gold_<half>``. Columns without halves in the table (``gold_wr_<half>``,
    ``pairwise_acc_<half>`` in older tables) become NaN.
    """
    _check(half)
    col = f"gold_{half}"
    if not _has(bon, col):
        return None
    out = bon.copy()
    out["gold"] = out[col].astype(float)
    for full in ("gold_wr", "pairwise_acc"):
        if full in out:
            out[full] = out[f"{full}_{half}"].astype(float) if f"{full}_{half}" in out else np.nan
    by = by or [c for c in ("seed", "series", "split", "reward_run", "rm_size", "rm_policy", "supervision",
                            "comparisons", "arm", "point", "aggregate") if c in out]
    at_one = out["gold"].where(out["n"] == 1)
    start = at_one.groupby([out[c] for c in by], sort=False, dropna=False).transform("max") if by else \
        pd.Series(at_one.max(), index=out.index)
    if "gold_gain" in out:
        out["gold_gain"] = out["gold"] - start
    if "gold_wr_gain" in out:
        out["gold_wr_gain"] = out["gold_wr"] - start
    _blank(out, BON_UNSPLIT + HALF_COLUMNS)  # a part that itself reads the halves has no half of its own
    return out


NO_HALF_COLUMNS = "the table has no per-half values (runs tracked or evaluated before the half columns)"


def halves_of(compute, views: dict, n_parts: int, unsplit: dict[int, str] | None = None,
              missing: str = NO_HALF_COLUMNS) -> tuple[tuple[list, list] | None, list[str]]:
    """(``halves`` and ``no_split`` for :func:`rlhf_nb.axes.results.decided_finding`) from a part function.

    ``compute(view)`` returns the finding's parts (a list of PartSpec, aligned with the full
    parts) from one half view; ``views`` maps "even" and "odd" to the views (None: no view).
    ``unsplit`` maps a part's index to why it has no split (its half is then None whatever the
    view gives: e.g. a part that reads a column without halves, or one that already uses both
    halves). ``missing`` is the reason every part records when a view is missing; when the part
    function fails on a view, every part records that instead (the verdict is never affected).
    """
    unsplit = dict(unsplit or {})
    reasons = [unsplit.get(i, "") for i in range(n_parts)]
    if any(views.get(h) is None for h in HALVES):
        return None, [r or missing for r in reasons]
    try:  # a diagnostic never stops a verdict: a half the part functions cannot read records why instead
        even, odd = (list(compute(views[h])) for h in HALVES)
    except (ValueError, KeyError, IndexError, ZeroDivisionError, np.linalg.LinAlgError) as err:
        return None, [r or f"the part could not be computed on a half of the prompts ({err})" for r in reasons]
    if len(even) != n_parts or len(odd) != n_parts:
        raise ValueError(f"the part function gave {len(even)} and {len(odd)} parts on the halves for {n_parts}")
    for i in unsplit:
        even[i] = odd[i] = None
    return (even, odd), reasons
