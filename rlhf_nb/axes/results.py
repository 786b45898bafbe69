"""What every axis shares: seed lists, one figure layout, result files and finding records.

Every axis draws one figure (:func:`axis_figure`: a row of panels, at most four, sized to a
page; more than two panels wrap into two rows), saves it as ``<results>/figures/<axis>/<name>.png``
(:func:`save_figure`) and writes its table and findings with :func:`save_results`.

Result files are written atomically (temporary file + rename), so an interrupted study
never leaves a half-written table or finding for the report to read.
"""
from __future__ import annotations

import math
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..analysis.decision import PartSpec, decide_compound, seeds_needed
from ..analysis.variance_split import split_variance
from ..store import strict_json, write_json_atomic
from ..typed_values import declared_types

VERDICTS = ("shown", "not shown", "inconclusive")


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` -> ``[0, 1, 2]``; refuses empty or duplicate seeds."""
    try:
        seeds = [int(s) for s in str(text).split(",") if s.strip() != ""]
    except ValueError:
        raise ValueError(f"seeds={text!r}: give comma-separated integers such as '0,1,2'") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds={text!r}: give at least one seed, each once")
    return seeds


def parse_list(text: str, cast=str) -> list[Any]:
    """A comma-separated notebook parameter as a typed list (``"2,4,8"`` -> ``[2, 4, 8]``)."""
    items = [s.strip() for s in str(text).split(",") if s.strip()]
    if not items:
        raise ValueError(f"{text!r}: expected a comma-separated list with at least one value")
    try:
        return [cast(s) for s in items]
    except ValueError:
        raise ValueError(f"{text!r}: every item must be a valid {cast.__name__}") from None


def write_table(table: pd.DataFrame, path: Path) -> Path:
    """Write a CSV atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    table.to_csv(tmp, index=False)
    os.replace(tmp, path)
    return path


@dataclass
class Finding:
    """One finding's verdict for the scorecard (H1-H8 from Hou et al., G1-G8 from Gao et al.)."""

    id: str
    """finding id, e.g. 'H1' or 'G3'"""
    claim: str
    """the claim in one line"""
    verdict: str
    """shown, not shown or inconclusive"""
    effect: float
    """the effect size the verdict rests on (its meaning is in ``effect_label``)"""
    ci: tuple[float, float]
    """95 % interval of the effect"""
    n_seeds: int
    effect_label: str = ""
    """what ``effect`` measures, with units"""
    figure: str = ""
    """path of the figure that shows it, relative to the results folder"""
    axis: str = ""
    numbers: dict[str, Any] = field(default_factory=dict)
    """further figures worth quoting"""
    note: str = ""
    """why the verdict is what it is, in a sentence"""
    parts: list[dict[str, Any]] = field(default_factory=list)
    """every part of the claim as docs/findings.md states it: name, claim, delta, per-seed values, estimate,
    interval, verdict (at the finding's level and at the Bonferroni level), seeds it would need when undecided, and
    ``variance_split``: its variance split between measurement (prompts) and training (seeds) noise, a reported
    diagnostic (:mod:`rlhf_nb.analysis.variance_split`), or None with ``variance_split_reason``"""

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict={self.verdict!r}: use one of {VERDICTS}")

    def sentence(self) -> str:
        lo, hi = self.ci
        ci = f"[{lo:.3g}, {hi:.3g}]" if not (math.isnan(lo) or math.isnan(hi)) else "[n/a]"
        return (f"{self.id} ({self.claim}): {self.verdict.upper()} - {self.effect_label or 'effect'} "
                f"{self.effect:.3g}, 95% CI {ci}, {self.n_seeds} seeds. {self.note}").strip()


def part_notes(finding: Finding) -> str:
    """Each recorded part as ``name: estimate [lo, hi] (verdict; note)``, joined by semicolons: a finding's note."""
    out = []
    for part in finding.parts:
        lo, hi = part["ci"]
        ci = f"[{lo:+.3g}, {hi:+.3g}]" if lo is not None and hi is not None else "[no interval]"
        est = f"{part['estimate']:+.3g}" if part["estimate"] is not None else "n/a"
        out.append(f"{part['name']}: {est} {ci} ({part['verdict']}{'; ' + part['note'] if part.get('note') else ''})")
    return "; ".join(out)


def write_finding(finding: Finding, results_dir: Path) -> Path:
    """``<results>/findings/<ID>.json``, atomically, with undefined numbers written as null."""
    path = Path(results_dir) / "findings" / f"{finding.id}.json"
    write_json_atomic(path, strict_json(asdict(finding)))
    return path


FIGURE_WIDTH_IN = 11.0
"""width of every axis figure in inches: at the saved dpi (1,100 px) it fits the report's 1,200 px column"""
FIGURE_DPI = 100


def axis_figure(panels: int, sharey: bool = False, panel_height: float = 3.6) -> tuple[Figure, np.ndarray]:
    """One figure layout for every axis: ``panels`` panels (1-4), at most two per row, ``FIGURE_WIDTH_IN`` wide.

    Returns the figure and a flat array of its ``panels`` Axes, in reading order. A
    :class:`matplotlib.figure.Figure` made directly: no pyplot, no backend chosen at import.
    """
    if not 1 <= panels <= 4:
        raise ValueError(f"panels={panels}: an axis figure has 1 to 4 panels")
    cols = min(panels, 2) if panels > 2 else panels
    rows = -(-panels // cols)
    fig = Figure(figsize=(FIGURE_WIDTH_IN, panel_height * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, sharey=sharey, squeeze=False).ravel())
    return fig, axes[:panels]


def save_figure(fig: Figure, results_dir: str | Path, axis: str, name: str) -> str:
    """Save ``fig`` as ``<results>/figures/<axis>/<name>.png``; returns that path relative to ``results_dir``."""
    path = Path(results_dir) / "figures" / axis / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=FIGURE_DPI)
    return str(path.relative_to(results_dir))


def save_results(axis: str, table: pd.DataFrame, findings: list[Finding], results_dir: str | Path) -> list[Path]:
    """``<results>/tables/<axis>.csv`` and ``<results>/findings/<ID>.json`` for each finding."""
    results_dir = Path(results_dir)
    paths = [write_table(table, results_dir / "tables" / f"{axis}.csv")]
    paths += [write_finding(f, results_dir) for f in findings]
    return paths


NOTEBOOK_NAMES = {"task_spec": "task"}
"""config field -> the notebook parameter that sets it, where the two names differ"""


def config_from_params(cls: type, params: Mapping[str, Any], exclude: Iterable[str] = (), **fixed: Any) -> Any:
    """Build the dataclass ``cls`` from a notebook's parameters in one call: ``Scale.from_params(globals())``.

    Every field of ``cls`` whose notebook parameter (the field's name, or ``NOTEBOOK_NAMES``)
    is in ``params`` takes its value, converted to the field's declared type (an int is
    accepted for a float); ``exclude`` names notebook parameters that are the axis's own knobs
    although a field shares their name; ``fixed`` sets fields the axis does not let a user
    change. Raises ValueError naming the parameter whose value has the wrong type.
    """
    hints = declared_types(cls)
    excluded = set(exclude)
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        name = NOTEBOOK_NAMES.get(f.name, f.name)
        if f.name in fixed or name in excluded or name not in params:
            continue
        kwargs[f.name] = _as_declared(params[name], hints[f.name], name)
    return cls(**kwargs, **fixed)


def _as_declared(value: Any, kind: Any, name: str) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(kind, type) and not (isinstance(value, kind) and not (kind is int and isinstance(value, bool))):
        raise ValueError(f"parameter {name}={value!r} is a {type(value).__name__}, but it sets a {kind.__name__} field: "
                         f"pass a value of type {kind.__name__}")
    return value


def sft_problems_text(task, train_problems: int) -> str:
    """"N problems", or for a data file smaller than N "N draws from its M training problems" (they are cycled)."""
    sizes = getattr(task, "split_sizes", ())
    if sizes and sizes[0] < train_problems:
        return f"{train_problems} draws from its {sizes[0]} training problems"
    return f"{train_problems} problems"


def setup_markdown(title: str, items: Mapping[str, Any]) -> str:
    """The setup in force as a Markdown list: one ``- **name**: value`` line per item (lists comma-joined)."""
    lines = [f"**{title}**", ""]
    for key, value in items.items():
        if isinstance(value, (list, tuple)):
            value = ", ".join(str(v) for v in value)
        lines.append(f"- **{key}**: {value}")
    return "\n".join(lines)


def format_value(value: Any, digits: int = 3) -> str:
    """A number as a reader wants it: integers with thousands separators, floats to ``digits`` significant digits
    (scientific beyond 1e5 or below 1e-3, e.g. FLOPs), NaN and None as "n/a", lists comma-joined (at most 8 items)."""
    if value is None:
        return "n/a"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if not math.isfinite(v):
            return "n/a"
        if v == int(v) and abs(v) < 1e5:
            return f"{int(v):,}"
        return f"{v:.{digits - 1}e}".replace("e+", "e") if abs(v) >= 1e5 or abs(v) < 1e-3 else f"{v:.{digits}g}"
    if isinstance(value, (list, tuple)):
        shown = ", ".join(format_value(v, digits) for v in value[:8])
        return shown + (f", ... ({len(value)} in all)" if len(value) > 8 else "")
    return str(value)


def metrics_table(metrics: Mapping[str, Any], include: Iterable[str] = ()) -> pd.DataFrame:
    """Flat slash-namespaced metrics (``rm/heldout/pairwise_acc``) as a narrow table a reader scans: one row per
    metric, indexed by (stage, metric), one column of formatted values (:func:`format_value`). ``include``: keep
    only the keys containing one of these substrings (all when empty)."""
    keep = tuple(include)
    rows = [(k.split("/", 1)[0], k.split("/", 1)[1] if "/" in k else "", format_value(v)) for k, v in metrics.items()
            if not keep or any(part in k for part in keep)]
    return pd.DataFrame(rows, columns=["stage", "metric", "value"]).set_index(["stage", "metric"])


def seed_summary(table: pd.DataFrame, by: list[str], values: list[str], digits: int = 3) -> pd.DataFrame:
    """Mean ± standard deviation over seeds of ``values`` for each group of ``by`` columns, as formatted text, with
    the number of seeds: a small table in place of every seed's row. Missing columns are skipped."""
    by = [c for c in by if c in table.columns and table[c].nunique(dropna=False) > 1] or [c for c in by if c in table][:1]
    values = [c for c in values if c in table.columns]
    grouped = table.groupby(by, sort=False, dropna=False) if by else table.groupby(lambda _: "all")
    out = grouped[values].agg(["mean", "std"])
    text = pd.DataFrame(index=out.index)
    for col in values:
        mean, sd = out[(col, "mean")], out[(col, "std")]
        text[col] = [f"{m:.{digits}f}" + (f" ± {d:.{digits}f}" if math.isfinite(d) else "") if math.isfinite(m) else "n/a"
                     for m, d in zip(mean, sd)]
    if "seed" in table.columns:
        text["seeds"] = grouped["seed"].nunique()
    return text


def _ci_text(lo: Any, hi: Any) -> str:
    lo_text, hi_text = format_value(lo), format_value(hi)
    return "(no interval)" if "n/a" in (lo_text, hi_text) else f"[{lo_text}, {hi_text}]"


def findings_markdown(findings: Iterable[Finding]) -> str:
    """Each finding as a reader meets it: a heading with the verdict first, the headline effect with its interval,
    every part with its interval and verdict, the note, and the scalar numbers the finding quotes (lists of records
    stay in the finding's JSON file). Markdown, for ``display(Markdown(...))``."""
    def esc(text: Any) -> str:
        return str(text).replace("*", "\\*").replace("<", "&lt;").replace(">", "&gt;")

    blocks = []
    for f in findings:
        seeds = f"{f.n_seeds} seed{'' if f.n_seeds == 1 else 's'}"
        lines = [f"### {f.id} · {f.verdict.upper()}: {esc(f.claim)}", "",
                 f"{esc(f.effect_label or 'effect')}: **{format_value(f.effect)}**, 95% CI {_ci_text(*f.ci)}, {seeds}.",
                 ""]
        for i, part in enumerate(f.parts, start=1):
            lines.append(f"{i}. {esc(part.get('name', ''))} ({part.get('claim')}, δ {format_value(part.get('delta'))}): "
                         f"{format_value(part.get('estimate'))} {_ci_text(*(part.get('ci') or (None, None)))}, "
                         f"**{part.get('verdict')}**")
        if f.note:
            lines += ["", esc(f.note)]
        quoted = {k: v for k, v in f.numbers.items()
                  if not isinstance(v, dict) and not (isinstance(v, (list, tuple)) and any(isinstance(x, (dict, list, tuple))
                                                                                             for x in v))}
        if quoted:
            lines += ["", "Quoted: " + "; ".join(f"{esc(k.replace('_', ' '))} {esc(format_value(v))}"
                                                  for k, v in quoted.items()) + "."]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


NO_HALVES = "the axis computes no per-half values for this part"
"""the reason a part records when its finding was decided without halves"""


def part_variance_split(spec: PartSpec, even: PartSpec | None, odd: PartSpec | None, level: float = 0.95,
                        reason: str = "") -> tuple[dict[str, Any] | None, str]:
    """(the part's measurement / training variance split, "") or (None, why there is none).

    ``even`` and ``odd`` are the same part computed on the even-position and the odd-position
    half of the evaluation (or tracking) prompts, their per-seed values aligned with ``spec``'s
    (:func:`rlhf_nb.analysis.variance_split.split_variance`, the two-group prompt jackknife). A
    reported diagnostic: no verdict reads it.
    """
    if spec.exact_by_construction:
        return None, "exact by construction: no sampling variance to split"
    if even is None or odd is None:
        return None, reason or NO_HALVES
    v, e, o = (np.asarray(p.values, dtype=float).ravel() for p in (spec, even, odd))
    if not (len(v) == len(e) == len(o)):
        return None, f"per-seed values of the halves ({len(e)}, {len(o)}) do not align with the part's ({len(v)})"
    if not (np.isfinite(v) & np.isfinite(e) & np.isfinite(o)).any():
        return None, reason or "no seed has a finite value on both halves of the prompts (e.g. a table without them)"
    return split_variance(v, e, o, level=level).to_dict(), ""


def decided_finding(finding_id: str, parts: list[PartSpec], *, effect_label: str = "", figure: str = "",
                    axis: str = "", numbers: dict[str, Any] | None = None, note: str = "",
                    level: float = 0.95,
                    halves: tuple[list[PartSpec | None], list[PartSpec | None]] | None = None,
                    no_split: str | list[str] = "") -> Finding:
    """A finding decided by the protocol of docs/findings.md from its parts (:func:`rlhf_nb.analysis.decide_compound`).

    ``parts`` carry per-seed values, the claim (greater, less, equivalent, noninferior) and the
    smallest effect of interest; the finding is shown when every part is, not shown when some
    part is not shown at the Bonferroni level, else inconclusive. The headline effect and
    interval are the first counted part's. Each part's record holds its per-seed values and,
    when undecided, the seeds a new study at the observed spread would need
    (:func:`rlhf_nb.analysis.seeds_needed`).

    ``halves`` = (even_parts, odd_parts): the same parts computed on the even-position and on the
    odd-position half of the evaluation prompts, aligned with ``parts`` (None for a part with no
    per-half values). Each part's record then carries ``variance_split``, the split of its
    variance between measurement and training noise (:func:`part_variance_split`), or None with
    ``variance_split_reason`` (``no_split``: one reason for every part, or one per part). A
    reported diagnostic: the verdicts are decided exactly as without it.
    """
    from .findings import FINDINGS
    from .findings import claim as registered_claim

    if not parts:
        raise ValueError(f"{finding_id}: a decided finding needs at least one part")
    compound = decide_compound(parts, level=level)
    records = []
    for spec, record in zip(parts, compound.to_dict()["parts"]):
        values = [float(v) for v in spec.values]
        record["values"] = values
        if record["verdict"] == "inconclusive" and not spec.exact_by_construction:
            try:
                record["seeds_needed"] = seeds_needed(values, spec.claim, spec.delta, level=level)
            except ValueError:
                record["seeds_needed"] = None
        records.append(record)
    reasons = [no_split] * len(parts) if isinstance(no_split, str) else list(no_split) + [""] * len(parts)
    even, odd = halves if halves is not None else ([None] * len(parts), [None] * len(parts))
    if len(even) != len(parts) or len(odd) != len(parts):
        raise ValueError(f"{finding_id}: halves hold {len(even)} and {len(odd)} parts for {len(parts)} parts")
    for i, (spec, record) in enumerate(zip(parts, records)):
        split, why = part_variance_split(spec, even[i], odd[i], level=level, reason=reasons[i])
        record["variance_split"] = split
        if split is None:
            record["variance_split_reason"] = why
    counted = [d for d, spec in zip(compound.parts, parts) if not spec.exact_by_construction] or list(compound.parts)
    head = counted[0]
    spec = FINDINGS.get(finding_id)
    return Finding(
        id=finding_id, claim=registered_claim(finding_id), verdict=compound.verdict, effect=head.estimate,
        ci=tuple(head.ci), n_seeds=max((d.n for d in compound.parts), default=0),
        effect_label=effect_label or (parts[0].name if parts[0].name else ""), figure=figure,
        axis=axis or (spec.axis if spec else ""), numbers=dict(numbers or {}), note=(note or compound.note),
        parts=records)
