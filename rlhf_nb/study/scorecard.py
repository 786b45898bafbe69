"""The scorecard: every finding and every part of it, re-decided from the per-seed values its record holds.

A finding's record (``<results>/findings/<ID>.json``, written by its axis) keeps each part's
per-seed values, claim and smallest effect of interest δ. The scorecard decides them again
with :func:`rlhf_nb.analysis.decide_compound` (the protocol of ``docs/findings.md``), so the
report shows what the protocol says of the numbers on disk, states how many verdicts the
scorecard would hold by chance and how many survive Holm's step-down, and for every undecided
finding the seeds a new study at the observed spread would need.

What it does not do: draw (see :mod:`rlhf_nb.study.effects_figure`) or write HTML.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from ..analysis.decision import (
    PartSpec,
    decide_compound,
    multiplicity_summary,
)
from ..axes.findings import (  # BEYOND: the source of findings neither paper states
    BEYOND,
    FINDINGS,
    SCORED,
)


def load_findings(results_dir: Path) -> dict[str, dict[str, Any]]:
    folder = Path(results_dir) / "findings"
    records = [json.loads(p.read_text(encoding="utf-8-sig")) for p in sorted(folder.glob("*.json"))] \
        if folder.exists() else []
    return {r["id"]: r for r in records}


def _num(x: Any) -> float:
    return float("nan") if x is None else float(x)


def scorecard(results_dir: Path) -> pd.DataFrame:
    """One row per finding (H1-H8, G1-G8, then recorded halves such as H3-bon and every finding beyond the papers,
    then any recorded finding the registry does not hold): verdict, headline effect and interval, seeds, the seeds it
    would need when undecided, its source (a paper, or :data:`BEYOND`); registered findings no axis produced are
    "not tested"."""
    found = load_findings(results_dir)
    rows = []
    unregistered = [f for f in found if f not in FINDINGS]
    extra = [f for f in FINDINGS if f not in SCORED and (f in found or FINDINGS[f].source == BEYOND)]
    for fid in list(SCORED) + extra + unregistered:
        f = found.get(fid)
        spec = FINDINGS.get(fid)
        source = spec.source if spec else (f.get("source") or BEYOND)
        scored = spec.scored if spec else False
        if f is None:
            rows.append({"id": fid, "claim": spec.claim, "axis": spec.axis, "verdict": "not tested", "effect": None,
                         "ci": None, "n_seeds": None, "effect_label": "", "figure": "", "note": "", "parts": 0,
                         "seeds_needed": None, "scored": spec.scored, "source": source})
            continue
        needed = [p.get("seeds_needed") for p in f.get("parts", []) if p.get("verdict") == "inconclusive"]
        rows.append({"id": fid, "claim": f.get("claim") or (spec.claim if spec else ""),
                     "axis": f.get("axis") or (spec.axis if spec else ""),
                     "verdict": f["verdict"], "effect": f.get("effect"), "ci": f.get("ci"), "n_seeds": f.get("n_seeds"),
                     "effect_label": f.get("effect_label", ""), "figure": f.get("figure", ""), "note": f.get("note", ""),
                     "parts": len(f.get("parts", [])),
                     "seeds_needed": (max(n for n in needed if n) if any(needed) else None)
                     if f["verdict"] == "inconclusive" else None,
                     "scored": scored, "source": source})
    return pd.DataFrame(rows)


def _split_columns(split: dict[str, Any] | None) -> dict[str, float]:
    """A part's variance split (:mod:`rlhf_nb.analysis.variance_split`) as three columns, NaN when not recorded."""
    split = split or {}
    return {"measurement_share": _num(split.get("measurement_share")),
            "prompts_x4_halfwidth_ratio": _num(split.get("prompts_x4_halfwidth_ratio")),
            "seeds_x2_halfwidth_ratio": _num(split.get("seeds_x2_halfwidth_ratio"))}


def parts_table(results_dir: Path) -> pd.DataFrame:
    """One row per part of every finding: claim, δ, estimate, interval, verdict, seeds, seeds needed, and the
    part's variance split when recorded (measurement share, interval half-width ratios for 4x prompts / 2x seeds)."""
    rows = []
    for fid, f in load_findings(results_dir).items():
        for i, p in enumerate(f.get("parts", []), start=1):
            ci = p.get("ci") or [None, None]
            rows.append({"id": fid, "part": i, "name": p.get("name") or f"part {i}", "claim": p.get("claim"),
                         "delta": _num(p.get("delta")), "estimate": _num(p.get("estimate")), "lo": _num(ci[0]),
                         "hi": _num(ci[1]), "verdict": p.get("verdict"), "n": p.get("n"),
                         "exact_by_construction": bool(p.get("exact_by_construction")),
                         "seeds_needed": p.get("seeds_needed"), "finding_verdict": f.get("verdict"),
                         **_split_columns(p.get("variance_split"))})
    order = {fid: k for k, fid in enumerate(FINDINGS)}
    table = pd.DataFrame(rows)
    if len(table):
        table = table.sort_values(["id", "part"], key=lambda s: s.map(order) if s.name == "id" else s)
    return table.reset_index(drop=True)


def redecide(record: dict[str, Any]):
    """The finding's compound decision from the per-seed values its record holds (None for a record without parts)."""
    parts = [PartSpec([_num(v) for v in p.get("values", [])], p["claim"], _num(p["delta"]), name=p.get("name", ""),
                      exact_by_construction=bool(p.get("exact_by_construction")))
             for p in record.get("parts", []) if p.get("values") is not None]
    if not parts:
        return None
    level = _num(record["parts"][0].get("level", 0.95))
    return decide_compound(parts, level=level)


def multiplicity(results_dir: Path) -> dict[str, Any]:
    """How many verdicts the scored findings hold, how many would be false by chance at most, and how many
    survive Holm's step-down (:func:`rlhf_nb.analysis.multiplicity_summary`), over the findings with parts."""
    decisions = [d for fid, record in load_findings(results_dir).items() if fid in SCORED
                 for d in [redecide(record)] if d is not None]
    if not decisions:
        return {"findings": 0, "tested": 0, "decided": 0, "decided_holm": 0, "expected_false_verdicts": 0.0,
                "level": 0.95}
    return multiplicity_summary(decisions)


def _fmt(x: Any) -> str:
    x = _num(x)
    return "n/a" if x != x else f"{x:+.3g}"


def _count(x: Any) -> str:
    """A count for a table cell: an integer, or blank when missing."""
    x = _num(x)
    return "" if x != x else str(int(x))


def markdown_table(results_dir: Path) -> str:
    """The scorecard as a Markdown table (finding rows in bold, then each part), for a README or a note.

    Columns: finding, part (claim, δ), verdict, estimate [95% CI], seeds, seeds needed (undecided
    only), measurement share (the part's variance split, when recorded: see
    :mod:`rlhf_nb.analysis.variance_split`).
    """
    found = load_findings(results_dir)
    lines = ["| finding | part (claim, δ) | verdict | estimate [95% CI] | seeds | seeds needed | measurement share |",
             "|---|---|---|---|---|---|---|"]
    for _, row in scorecard(results_dir).iterrows():
        record = found.get(row["id"])
        if record is None:
            lines.append(f"| **{row['id']}** | {row['claim']} | **not tested** | | | | |")
            continue
        ci = row["ci"] or [None, None]
        lines.append(f"| **{row['id']}** | {row['claim']} | **{row['verdict']}** | {_fmt(row['effect'])} "
                     f"[{_fmt(ci[0])}, {_fmt(ci[1])}] | {_count(row['n_seeds'])} | {_count(row['seeds_needed'])} | |")
        for i, p in enumerate(record.get("parts", []), start=1):
            lo, hi = p.get("ci") or [None, None]
            split = p.get("variance_split") or {}
            share = split.get("measurement_share")
            note = " (true by construction)" if p.get("exact_by_construction") else ""
            lines.append(f"| | {i}. {p.get('name', '')} ({p.get('claim')}, δ {_num(p.get('delta')):g}){note} | "
                         f"{p.get('verdict')} | {_fmt(p.get('estimate'))} [{_fmt(lo)}, {_fmt(hi)}] | {_count(p.get('n'))} | "
                         f"{_count(p.get('seeds_needed'))} | {'' if share is None else f'{share:.2f}'} |")
    return "\n".join(lines)
