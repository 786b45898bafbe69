"""One figure of every finding's parts: estimate and interval against the smallest effect of interest, by verdict.

Parts are in their own units (accuracy differences, slopes per decade, fitted parameters), so
each is drawn in units of its δ: the estimate and the interval divided by δ, with the lines at
0 and ±1 marking "no effect" and "the smallest effect that matters". A part with δ = 0 (e.g. a
fitted β that must be positive) is drawn in units of its interval's half-width instead and
marked so. Every row's label gives the raw estimate, interval and δ.
"""
from __future__ import annotations

import math

import pandas as pd
from matplotlib.figure import Figure

COLOURS = {"shown": "#2e7d32", "not shown": "#c62828", "inconclusive": "#b08900"}


def effects_figure(parts: pd.DataFrame, width_in: float = 11.0) -> Figure:
    """A forest plot of ``parts`` (rows of :func:`rlhf_nb.study.scorecard.parts_table`); an empty table gives a note."""
    rows = max(len(parts), 1)
    fig = Figure(figsize=(width_in, 0.9 + 0.28 * rows), layout="constrained")
    ax = fig.subplots()
    if not len(parts):
        ax.text(0.5, 0.5, "no finding with recorded parts", ha="center", va="center")
        ax.set_axis_off()
        return fig
    labels = []
    for y, r in enumerate(parts.itertuples()):
        scale, unit = (r.delta, "δ") if r.delta and r.delta > 0 else (_half_width(r), "half-width")
        est, lo, hi = (v / scale if scale and math.isfinite(v) else float("nan") for v in (r.estimate, r.lo, r.hi))
        colour = COLOURS.get(r.verdict, "#777777")
        if math.isfinite(lo) and math.isfinite(hi):
            ax.plot([lo, hi], [y, y], color=colour, lw=2)
        if math.isfinite(est):
            ax.plot([est], [y], "o", color=colour, mfc="white" if r.exact_by_construction else colour)
        labels.append(f"{r.id} · {_short(str(r.name), 38)} ({r.claim}, δ {_g(r.delta)}): "
                      f"{_g(r.estimate)} [{_g(r.lo)}, {_g(r.hi)}]{'' if unit == 'δ' else ' *'}")
    for x, style in ((0, "-"), (1, "--"), (-1, "--")):
        ax.axvline(x, color="#555555", lw=0.8, ls=style)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.set_xlabel("effect / δ (dashed: ±δ; symmetric log scale beyond ±2δ). Green shown, red not shown,\namber "
                  "inconclusive; * δ = 0: in units of the interval's half-width; hollow: true by construction",
                  fontsize=8)
    ax.set_xscale("symlog", linthresh=2)  # linear within ±2 δ, where verdicts are decided; wide intervals compressed
    return fig


def _half_width(r) -> float:
    if math.isfinite(r.lo) and math.isfinite(r.hi) and r.hi > r.lo:
        return (r.hi - r.lo) / 2
    return abs(r.estimate) if math.isfinite(r.estimate) and r.estimate else 1.0


def _short(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters at a word boundary, with an ellipsis when cut."""
    if len(text) <= width:
        return text
    cut = text[: width - 1].rsplit(" ", 1)[0] if " " in text[: width - 1] else text[: width - 1]
    return cut.rstrip(" ,;:(") + "…"


def _g(x: float) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.3g}"
