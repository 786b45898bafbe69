"""The one decision entry point of the findings scorecard: per-seed values -> shown / not shown / inconclusive.

Every rule here is the pre-registered protocol of ``docs/findings.md``, section "How a finding
is decided (pre-registered)"; this module adds nothing to it and loosens nothing.

- **Unit of replication: the seed.** :func:`decide` takes one number per seed (a paired
  difference, a slope over grid points, a fitted parameter) and nothing else.
- **Interval**: a two-sided Student-t interval over the per-seed values, df = n - 1, at
  ``level`` (95 % at a single look). Fewer than :data:`MIN_DECISION_SEEDS` (3) finite values, or
  values identical up to rounding, give no interval and no verdict. A quantity that is exact by
  construction is reported as such and is never a verdict ("not evidence").
- **Claims** (δ >= 0 is the smallest effect of interest, SESOI, or the margin; lo, hi the
  interval):

  ==============  =========================  ==========================================
  claim           shown when                 not shown when
  ==============  =========================  ==========================================
  "greater"       lo > 0                     hi < δ
  "less"          hi < 0                     lo > -δ
  "equivalent"    -δ < lo and hi < δ         lo >= δ or hi <= -δ (wholly outside)
  "noninferior"   lo > -δ                    hi < -δ
  ==============  =========================  ==========================================

  otherwise inconclusive. A directional claim whose interval lies inside (0, δ) (or (-δ, 0)
  for "less") is shown, with the note "smaller than δ".
- **Compound claims** (:func:`decide_compound`): shown when every part is shown at ``level``;
  not shown when some part is not shown at level 1 - (1 - level)/k (Bonferroni over the k
  counted parts); else inconclusive. Parts exact by construction are reported, never counted.
- **Two looks** (:data:`TWO_LOOK_LEVELS`): a design declared before the study may look after
  3 seeds and again at 5 or 6; the first look decides only at a 99 % interval (one-sided 0.005
  each side), the final look at 95.8 % (one-sided 0.021).
- **Multiplicity** (:func:`expected_false_verdicts`, :func:`holm_count`): how many false
  verdicts the scorecard would hold by chance, and a Holm-adjusted count beside the plain one.

Each decision also carries the one-sided p-values of the two tests its verdicts correspond to
(``p_shown``, ``p_not_shown``; see :class:`Decision`), so that the verdict from the interval
and the verdict from the p-value agree: for a level-L interval, a verdict's condition holds
exactly when its p-value is below (1 - L)/2 (``<=`` for the closed "wholly outside" rule of an
equivalence claim).

What it does not do: choose δ (it is part of the claim and fixed before the study), reduce runs
to per-seed values (the axes do that), or add seeds (see :func:`seeds_needed`, which says how
many a NEW declared design would need; it is never a licence to "add seeds until it decides").

>>> d = decide([0.05, 0.06, 0.07], "greater", delta=0.02)
>>> d.verdict, round(d.estimate, 3), d.n
('shown', 0.06, 3)
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from scipy import stats

__all__ = [
    "CLAIMS",
    "EQUIVALENT",
    "EXACT_BY_CONSTRUCTION",
    "FEWER_THAN_3_SEEDS",
    "GREATER",
    "IDENTICAL_VALUES",
    "LESS",
    "MIN_DECISION_SEEDS",
    "NONINFERIOR",
    "SMALLER_THAN_DELTA",
    "TWO_LOOK_LEVELS",
    "CompoundDecision",
    "Decision",
    "PartSpec",
    "decide",
    "decide_compound",
    "expected_false_verdicts",
    "holm_count",
    "multiplicity_summary",
    "seeds_needed",
    "two_look_level",
]

SHOWN, NOT_SHOWN, INCONCLUSIVE = "shown", "not shown", "inconclusive"
"""the three verdicts of the scorecard"""

GREATER, LESS, EQUIVALENT, NONINFERIOR = "greater", "less", "equivalent", "noninferior"
CLAIMS: tuple[str, ...] = (GREATER, LESS, EQUIVALENT, NONINFERIOR)

#: A verdict needs at least this many finite per-seed values (findings.md: "over at least 3 seeds").
MIN_DECISION_SEEDS = 3

#: Interval levels of the two-look design of findings.md ("More seeds"): the first look (3 seeds)
#: decides only at a 99 % interval (one-sided 0.005 each side), the final look (5 or 6 seeds) at a
#: 95.8 % interval (one-sided 0.021). Only for a design declared before the study starts.
TWO_LOOK_LEVELS: dict[str, float] = {"first": 0.99, "final": 0.958}

# Notes, so that callers and tests can match them.
SMALLER_THAN_DELTA = "smaller than δ"
FEWER_THAN_3_SEEDS = "fewer than 3 seeds"
IDENTICAL_VALUES = "identical values"
EXACT_BY_CONSTRUCTION = "exact by construction, not evidence"

# Relative tolerance under which per-seed values count as identical (rounding, not spread).
_IDENTICAL_RTOL = 1e-12


def two_look_level(look: str) -> float:
    """The interval level of ``look`` ("first" or "final") in the declared two-look design.

    >>> two_look_level("first"), two_look_level("final")
    (0.99, 0.958)
    """
    try:
        return TWO_LOOK_LEVELS[look]
    except KeyError:
        raise ValueError(f"look must be one of {sorted(TWO_LOOK_LEVELS)}, got {look!r}") from None


def _check_claim(claim: str) -> str:
    if claim not in CLAIMS:
        raise ValueError(f"claim must be one of {', '.join(repr(c) for c in CLAIMS)}; got {claim!r}")
    return claim


def _check_delta(delta: float, claim: str) -> float:
    try:
        d = float(delta)
    except (TypeError, ValueError):
        raise ValueError(f"delta must be a finite number >= 0, got {delta!r}") from None
    if not math.isfinite(d) or d < 0:
        raise ValueError(f"delta must be a finite number >= 0 (the SESOI or margin), got {delta!r}")
    if claim == EQUIVALENT and d == 0:
        raise ValueError("an equivalence claim needs delta > 0: '|effect| < 0' can never hold")
    return d


def _check_level(level: float) -> float:
    lv = float(level)
    if not 0 < lv < 1:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level!r}")
    return lv


@lru_cache(maxsize=4096)
def _t_quantile(q: float, df: int) -> float:
    return float(stats.t.ppf(q, df))


def _json_num(x: Any) -> Any:
    """A strict-JSON number: None for NaN or infinity, plain Python types otherwise."""
    if x is None:
        return None
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    x = float(x)
    return x if math.isfinite(x) else None


def _join(notes: Iterable[str]) -> str:
    return "; ".join(n for n in notes if n)


@dataclass(frozen=True)
class Decision:
    """The verdict on one claim over per-seed values, with everything needed to report it.

    Attributes:
        verdict: SHOWN, NOT_SHOWN or INCONCLUSIVE.
        estimate: mean of the finite per-seed values (NaN when there are none); in the units of
            the values.
        ci: (lo, hi), the two-sided Student-t interval at ``level`` with df = n - 1; (nan, nan)
            when there is no interval (fewer than 3 values, or identical values). For a quantity
            exact by construction with identical values it is (value, value).
        n: number of finite per-seed values used.
        claim, delta, level: what was decided, as given.
        sd: sample standard deviation (ddof = 1) of the values; NaN for n < 2.
        p_shown: one-sided t-test p-value of the test whose rejection is "shown" (greater:
            H0 mean <= 0; less: H0 mean >= 0; noninferior: H0 mean <= -δ; equivalent: TOST,
            the larger of the p-values of H0 mean <= -δ and H0 mean >= δ). NaN without an interval.
        p_not_shown: the same for "not shown" (greater: H0 mean >= δ; less: H0 mean <= -δ;
            noninferior: H0 mean >= -δ; equivalent: the smaller of the p-values of H0 mean < δ
            (rejected when lo >= δ) and H0 mean > -δ (rejected when hi <= -δ)).
        note: "; "-joined remarks: "smaller than δ", "fewer than 3 seeds", "identical values",
            "exact by construction, not evidence", "k non-finite value(s) dropped".
        exact_by_construction: the quantity is exact by construction; never evidence.
    """

    verdict: str
    estimate: float
    ci: tuple[float, float]
    n: int
    claim: str
    delta: float
    level: float
    sd: float = float("nan")
    p_shown: float = float("nan")
    p_not_shown: float = float("nan")
    note: str = ""
    exact_by_construction: bool = False

    @property
    def alpha(self) -> float:
        """One-sided error rate of each verdict: (1 - level) / 2."""
        return (1.0 - self.level) / 2.0

    @property
    def decided(self) -> bool:
        return self.verdict in (SHOWN, NOT_SHOWN)

    @property
    def tested(self) -> bool:
        """True when a test was run (an interval exists and the quantity is not exact by construction)."""
        return (not self.exact_by_construction) and self.n >= MIN_DECISION_SEEDS \
            and bool(np.isfinite(self.ci).all()) and self.ci[0] < self.ci[1]

    @property
    def p_value(self) -> float:
        """One-sided p-value of the test that decided the verdict; NaN when inconclusive."""
        if self.verdict == SHOWN:
            return self.p_shown
        if self.verdict == NOT_SHOWN:
            return self.p_not_shown
        return float("nan")

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON-safe dict (``json.dumps(d, allow_nan=False)`` works): NaN and inf become None."""
        return {
            "verdict": self.verdict, "claim": self.claim, "delta": _json_num(self.delta),
            "level": _json_num(self.level), "estimate": _json_num(self.estimate),
            "ci": [_json_num(self.ci[0]), _json_num(self.ci[1])], "n": int(self.n),
            "sd": _json_num(self.sd), "p_value": _json_num(self.p_value),
            "p_shown": _json_num(self.p_shown), "p_not_shown": _json_num(self.p_not_shown),
            "note": self.note, "exact_by_construction": bool(self.exact_by_construction),
        }

    def __str__(self) -> str:
        lo, hi = self.ci
        ci = f"[{lo:+.4g}, {hi:+.4g}]" if np.isfinite(self.ci).all() else "[no interval]"
        note = f" ({self.note})" if self.note else ""
        return (f"{self.verdict}: {self.claim} δ={self.delta:g}, {self.estimate:+.4g} {ci} "
                f"at {100 * self.level:g} %, n={self.n}{note}")


def _finite_values(values: Any) -> tuple[np.ndarray, int]:
    v = np.asarray(values, dtype=float)
    if v.ndim == 0:
        v = v.reshape(1)
    if v.ndim != 1:
        raise ValueError(f"values must be one number per seed (1-d), got shape {v.shape}")
    keep = np.isfinite(v)
    return v[keep], int((~keep).sum())


def _identical(v: np.ndarray) -> bool:
    return float(np.ptp(v)) <= _IDENTICAL_RTOL * max(1.0, abs(float(v.mean())))


def _p_values(claim: str, delta: float, mean: float, se: float, df: int) -> tuple[float, float]:
    """(p_shown, p_not_shown): one-sided t-test p-values matching the interval rules."""
    sf = lambda c: float(stats.t.sf((mean - c) / se, df))   # H0: mu <= c  vs  mu > c
    cdf = lambda c: float(stats.t.cdf((mean - c) / se, df))  # H0: mu >= c  vs  mu < c
    if claim == GREATER:
        return sf(0.0), cdf(delta)
    if claim == LESS:
        return cdf(0.0), sf(-delta)
    if claim == NONINFERIOR:
        return sf(-delta), cdf(-delta)
    # EQUIVALENT: TOST for "shown"; the deciding side of "wholly outside" for "not shown".
    return max(sf(-delta), cdf(delta)), min(sf(delta), cdf(-delta))


def _rule(claim: str, delta: float, lo: float, hi: float) -> tuple[str, str]:
    """(verdict, note) from the interval, exactly as findings.md states the rules."""
    if claim == GREATER:
        if lo > 0:
            return SHOWN, (SMALLER_THAN_DELTA if hi < delta else "")
        if hi < delta:
            return NOT_SHOWN, ""
        return INCONCLUSIVE, ""
    if claim == LESS:
        if hi < 0:
            return SHOWN, (SMALLER_THAN_DELTA if lo > -delta else "")
        if lo > -delta:
            return NOT_SHOWN, ""
        return INCONCLUSIVE, ""
    if claim == EQUIVALENT:
        if -delta < lo and hi < delta:
            return SHOWN, ""
        if lo >= delta or hi <= -delta:
            return NOT_SHOWN, ""
        return INCONCLUSIVE, ""
    # NONINFERIOR
    if lo > -delta:
        return SHOWN, ""
    if hi < -delta:
        return NOT_SHOWN, ""
    return INCONCLUSIVE, ""


def decide(values: Sequence[float], claim: str, delta: float, level: float = 0.95, *,
           exact_by_construction: bool = False) -> Decision:
    """Decide ``claim`` over per-seed ``values`` by the pre-registered rules of docs/findings.md.

    Args:
        values: one number per seed, shape (n,) (a list, array or pandas Series); non-finite
            entries (NaN, ±inf) are dropped and counted in the note. Units are the estimand's.
        claim: "greater" (effect > 0), "less" (effect < 0), "equivalent" (|effect| < δ) or
            "noninferior" (effect > -δ).
        delta: δ >= 0, the smallest effect of interest (SESOI) of a directional claim or the
            margin of an equivalence / non-inferiority claim, in the units of ``values``; fixed
            before the study. An equivalence claim needs δ > 0.
        level: two-sided level of the t interval, 0.95 at a single look; use
            ``TWO_LOOK_LEVELS["first"]`` / ``["final"]`` in a declared two-look design.
        exact_by_construction: the quantity is exact by construction (e.g. best-of-n proxy rising
            in n over a fixed pool): reported, never a verdict (always INCONCLUSIVE), with the note
            "exact by construction, not evidence".

    Returns:
        :class:`Decision`. Fewer than 3 finite values, or values identical up to rounding
        (ptp <= 1e-12 * max(1, |mean|)), give INCONCLUSIVE with ci (nan, nan).

    Raises:
        ValueError: unknown claim, δ negative or non-finite (or 0 for an equivalence claim),
            level outside (0, 1), values not 1-d.

    >>> decide([0.004, 0.005, 0.006], "greater", 0.02).note
    'smaller than δ'
    >>> decide([0.0, 0.01, -0.01], "greater", 0.02).verdict
    'inconclusive'
    """
    claim = _check_claim(claim)
    delta = _check_delta(delta, claim)
    level = _check_level(level)
    v, dropped = _finite_values(values)
    n = len(v)
    mean = float(v.mean()) if n else float("nan")
    sd = float(v.std(ddof=1)) if n >= 2 else float("nan")
    notes: list[str] = []
    nan2 = (float("nan"), float("nan"))

    def result(verdict: str, ci=nan2, p=(float("nan"), float("nan")), extra: Sequence[str] = ()) -> Decision:
        all_notes = list(extra) + notes
        if dropped:
            all_notes.append(f"{dropped} non-finite value{'s' if dropped > 1 else ''} dropped")
        return Decision(verdict=verdict, estimate=mean, ci=(float(ci[0]), float(ci[1])), n=n, claim=claim,
                        delta=delta, level=level, sd=sd, p_shown=p[0], p_not_shown=p[1],
                        note=_join(all_notes), exact_by_construction=bool(exact_by_construction))

    if exact_by_construction:
        notes.append(EXACT_BY_CONSTRUCTION)
    if n < MIN_DECISION_SEEDS:
        return result(INCONCLUSIVE, extra=[FEWER_THAN_3_SEEDS])
    if _identical(v):
        if exact_by_construction:  # exact: the value itself, no spread; still not evidence
            return result(INCONCLUSIVE, ci=(mean, mean))
        return result(INCONCLUSIVE, extra=[IDENTICAL_VALUES])
    se = sd / math.sqrt(n)
    half = _t_quantile(1.0 - (1.0 - level) / 2.0, n - 1) * se
    ci = (mean - half, mean + half)
    if exact_by_construction:
        return result(INCONCLUSIVE, ci=ci)
    verdict, note = _rule(claim, delta, *ci)
    return result(verdict, ci=ci, p=_p_values(claim, delta, mean, se, n - 1), extra=[note])


# ---------------------------------------------------------------------------------------------
# Compound claims


@dataclass(frozen=True)
class PartSpec:
    """One part of a compound claim: per-seed ``values``, its ``claim`` and ``delta``, a ``name``.

    ``exact_by_construction`` parts are reported and never counted (findings.md).
    """

    values: Sequence[float]
    claim: str
    delta: float
    name: str = ""
    exact_by_construction: bool = False


PartLike = PartSpec | tuple


def _as_part(p: PartLike, i: int) -> PartSpec:
    if isinstance(p, PartSpec):
        return p
    if isinstance(p, tuple) and 3 <= len(p) <= 4:
        return PartSpec(p[0], p[1], p[2], name=str(p[3]) if len(p) == 4 else "")
    raise ValueError(f"part {i}: expected a PartSpec or a (values, claim, delta[, name]) tuple, got {p!r}")


@dataclass(frozen=True)
class CompoundDecision:
    """The verdict on a compound claim and every part's own decision.

    Attributes:
        verdict: SHOWN when every counted part is shown at ``level``; NOT_SHOWN when some counted
            part is not shown at ``bonferroni_level`` = 1 - (1 - level)/k; else INCONCLUSIVE
            (also when no part counts).
        parts: each part's :class:`Decision` at ``level`` (what the report shows).
        parts_bonferroni: each part's :class:`Decision` at ``bonferroni_level`` (the not-shown test).
        names: the parts' names ("" when not given).
        k: number of counted parts (parts exact by construction excluded).
        level, bonferroni_level: the two levels used.
        p_shown: intersection-union p-value, the largest counted part's ``p_shown``.
        p_not_shown: Bonferroni p-value, min(1, k * smallest counted part's ``p_not_shown``).
    """

    verdict: str
    parts: tuple[Decision, ...]
    parts_bonferroni: tuple[Decision, ...]
    names: tuple[str, ...]
    k: int
    level: float
    bonferroni_level: float
    p_shown: float = float("nan")
    p_not_shown: float = float("nan")
    note: str = ""

    @property
    def alpha(self) -> float:
        return (1.0 - self.level) / 2.0

    @property
    def decided(self) -> bool:
        return self.verdict in (SHOWN, NOT_SHOWN)

    @property
    def exact_by_construction(self) -> bool:
        return self.k == 0 and any(p.exact_by_construction for p in self.parts)

    @property
    def tested(self) -> bool:
        """True when some counted part was tested (has an interval), so a verdict could have come by chance."""
        return any(p.tested for p in self.parts if not p.exact_by_construction)

    @property
    def p_value(self) -> float:
        if self.verdict == SHOWN:
            return self.p_shown
        if self.verdict == NOT_SHOWN:
            return self.p_not_shown
        return float("nan")

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON-safe dict with every part at ``level`` and at the Bonferroni level."""
        parts = []
        for name, d, db in zip(self.names, self.parts, self.parts_bonferroni):
            parts.append({"name": name, **d.to_dict(), "bonferroni": db.to_dict()})
        return {"verdict": self.verdict, "k": self.k, "level": _json_num(self.level),
                "bonferroni_level": _json_num(self.bonferroni_level), "p_value": _json_num(self.p_value),
                "p_shown": _json_num(self.p_shown), "p_not_shown": _json_num(self.p_not_shown),
                "note": self.note, "parts": parts}


def decide_compound(parts: Sequence[PartLike], level: float = 0.95) -> CompoundDecision:
    """Decide a compound claim over its parts (docs/findings.md, "Compound claims").

    Args:
        parts: k >= 1 parts, each a :class:`PartSpec` or a ``(values, claim, delta)`` /
            ``(values, claim, delta, name)`` tuple, with values one number per seed as in
            :func:`decide`.
        level: the single-look level of each part (0.95 by default).

    Returns:
        :class:`CompoundDecision`: SHOWN when every counted part is shown at ``level``, NOT_SHOWN
        when some counted part is not shown at 1 - (1 - level)/k, else INCONCLUSIVE. Parts flagged
        exact by construction are reported and excluded from k and from the combination; with no
        counted part the verdict is INCONCLUSIVE.

    Raises:
        ValueError: no parts, a malformed part, or any error :func:`decide` raises.
    """
    level = _check_level(level)
    specs = [_as_part(p, i) for i, p in enumerate(parts)]
    if not specs:
        raise ValueError("a compound claim needs at least one part")
    k = sum(not s.exact_by_construction for s in specs)
    b_level = 1.0 - (1.0 - level) / max(k, 1)
    at_level = tuple(decide(s.values, s.claim, s.delta, level, exact_by_construction=s.exact_by_construction)
                     for s in specs)
    at_bonf = tuple(decide(s.values, s.claim, s.delta, b_level, exact_by_construction=s.exact_by_construction)
                    for s in specs)
    counted = [i for i, s in enumerate(specs) if not s.exact_by_construction]
    note = ""
    if not counted:
        verdict, note = INCONCLUSIVE, "every part is exact by construction: no evidence"
    elif all(at_level[i].verdict == SHOWN for i in counted):
        verdict = SHOWN
    elif any(at_bonf[i].verdict == NOT_SHOWN for i in counted):
        verdict = NOT_SHOWN
    else:
        verdict = INCONCLUSIVE
    # Intersection-union p for "shown" (NaN unless every counted part has one); Bonferroni p for "not shown".
    p_shown = float(np.max([at_level[i].p_shown for i in counted])) if counted else float("nan")
    p_ns = [at_level[i].p_not_shown for i in counted if np.isfinite(at_level[i].p_not_shown)]
    p_not_shown = min(1.0, k * min(p_ns)) if p_ns else float("nan")
    return CompoundDecision(verdict=verdict, parts=at_level, parts_bonferroni=at_bonf,
                            names=tuple(s.name for s in specs), k=k, level=level, bonferroni_level=b_level,
                            p_shown=float(p_shown), p_not_shown=float(p_not_shown), note=note)


# ---------------------------------------------------------------------------------------------
# Seeds a new design would need


def _decision_distance(claim: str, delta: float, mean: float) -> float:
    """The largest half-width h for which an interval mean ± h would give a verdict (sup; may be <= 0).

    Each verdict condition is "lo > a" (needs h < mean - a) or "hi < b" (needs h < b - mean);
    the interval decides as soon as ANY condition holds, so the distance is the largest margin.
    """
    if claim == GREATER:
        margins = (mean - 0.0, delta - mean)          # shown: lo > 0; not shown: hi < δ
    elif claim == LESS:
        margins = (0.0 - mean, mean + delta)          # shown: hi < 0; not shown: lo > -δ
    elif claim == EQUIVALENT:
        margins = (delta - abs(mean), abs(mean) - delta)  # shown inside; not shown wholly outside
    else:
        margins = (mean + delta, -delta - mean)       # shown: lo > -δ; not shown: hi < -δ
    return max(margins)


def seeds_needed(values: Sequence[float], claim: str, delta: float, level: float = 0.95,
                 power: float = 0.5) -> int | None:
    """Seeds at which a NEW study, with the observed mean and spread, would expect to decide.

    Meant for an inconclusive result, to plan a declared design (never to add seeds to a
    running study; docs/findings.md, "More seeds"). With m the mean and s the sample sd
    (ddof = 1) of the finite ``values``, and D the largest distance from m to a decision
    boundary that an interval around m could clear (see below), it returns the smallest
    n >= 3 with

        (t_{n-1}(1 - α) + t_{n-1}(power)) * s / sqrt(n) < D,        α = (1 - level) / 2.

    At ``power`` = 0.5, t(power) = 0 and this is "the expected interval m ± t s/√n would decide":
    with a true effect m, about half of such studies decide. Higher power adds the usual
    t-quantile term (an approximation to the noncentral t).

    D per claim (lo, hi = m ∓ h): greater: max(m, δ - m); less: max(-m, m + δ); equivalent:
    |δ - |m||; noninferior: |m + δ|. It is the largest margin because the interval decides as
    soon as ANY verdict's condition holds. The result is computed the same way for any verdict;
    for a decided result it may be below the seeds used.

    Returns:
        int, or None when D <= 0 (the estimate sits on a boundary, e.g. an equivalence estimate
        at ±δ), or the spread is 0 or undefined (fewer than 2 finite values, identical values).

    Raises:
        ValueError: as :func:`decide`, and for ``power`` outside [0.5, 1).
    """
    claim = _check_claim(claim)
    delta = _check_delta(delta, claim)
    level = _check_level(level)
    if not 0.5 <= power < 1:
        raise ValueError(f"power must lie in [0.5, 1), got {power!r}")
    v, _ = _finite_values(values)
    if len(v) < 2 or _identical(v):
        return None
    mean, sd = float(v.mean()), float(v.std(ddof=1))
    dist = _decision_distance(claim, delta, mean)
    if not (sd > 0 and np.isfinite(sd)) or not dist > 0:
        return None
    q = 1.0 - (1.0 - level) / 2.0

    def decides(n: int) -> bool:
        return (stats.t.ppf(q, n - 1) + stats.t.ppf(power, n - 1)) * sd / math.sqrt(n) < dist

    lo = MIN_DECISION_SEEDS
    if decides(lo):
        return lo
    hi = lo * 2
    while not decides(hi):  # the left side falls monotonically in n for power >= 0.5
        lo, hi = hi, hi * 2
    while hi - lo > 1:  # invariant: not decides(lo), decides(hi)
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if decides(mid) else (mid, hi)
    return hi


# ---------------------------------------------------------------------------------------------
# Multiplicity over the scorecard

AnyDecision = Decision | CompoundDecision


def _common_level(decisions: Sequence[AnyDecision], level: float | None) -> float:
    if level is not None:
        return _check_level(level)
    levels = {round(d.level, 12) for d in decisions}
    if len(levels) > 1:
        raise ValueError(f"decisions were made at different levels {sorted(levels)}; pass level explicitly")
    return levels.pop() if levels else 0.95


def expected_false_verdicts(decisions: Sequence[AnyDecision], level: float | None = None) -> float:
    """Upper bound on the expected number of false verdicts the scorecard holds by chance.

    Each finding that was tested (it has an interval and is not exact by construction; a
    compound counts once) can give at most one false verdict, and each verdict's test has
    one-sided size at most α = (1 - level)/2. So E[false verdicts] <= (number tested) × α.
    Findings that ended inconclusive are counted too: they could have given a false verdict,
    and counting only the decided ones would not be a bound. With ``level`` None, each
    decision's own level is used (Σ α_i).

    >>> ds = [decide([0.05, 0.06, 0.07], "greater", 0.02), decide([1.0, 1.0], "greater", 0.02)]
    >>> round(expected_false_verdicts(ds), 6)  # one tested finding, α = 0.025
    0.025
    """
    tested = [d for d in decisions if d.tested]
    if level is not None:
        return len(tested) * (1.0 - _check_level(level)) / 2.0
    return float(sum((1.0 - d.level) / 2.0 for d in tested))


def holm_count(decisions: Sequence[AnyDecision], level: float | None = None) -> int:
    """Verdicts ("shown" or "not shown") that survive Holm's step-down over the scorecard.

    The family is every tested finding (m of them, see :func:`expected_false_verdicts`); a
    decided finding contributes the one-sided p-value of its deciding test
    (:attr:`Decision.p_value`), an inconclusive one a p-value that cannot pass. Sorting the
    decided p-values ascending, p_(i) is compared with α / (m - i + 1), α = (1 - level)/2; the
    count stops at the first failure. ``level`` None means the decisions' common level
    (ValueError when they differ).
    """
    alpha = (1.0 - _common_level(decisions, level)) / 2.0
    tested = [d for d in decisions if d.tested]
    m = len(tested)
    ps = sorted(float(d.p_value) for d in tested if d.decided and np.isfinite(d.p_value))
    count = 0
    for i, p in enumerate(ps, start=1):
        if p < alpha / (m - i + 1):
            count += 1
        else:
            break
    return count


def multiplicity_summary(decisions: Sequence[AnyDecision], level: float | None = None) -> dict[str, Any]:
    """What the report states about multiplicity: findings, tested, plain decided count, Holm count, expected false.

    Strict-JSON-safe.
    """
    lv = _common_level(decisions, level)
    return {
        "findings": len(decisions),
        "tested": sum(d.tested for d in decisions),
        "decided": sum(d.decided for d in decisions),
        "decided_holm": holm_count(decisions, lv),
        "expected_false_verdicts": float(expected_false_verdicts(decisions, lv)),
        "level": lv,
    }
