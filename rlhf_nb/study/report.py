"""The study report: one HTML page built with nbconvert from the executed notebooks.

``report/index.html`` opens with one figure of every part of every finding against its
smallest effect of interest (:mod:`rlhf_nb.study.effects_figure`), then the scorecard (H1-H8,
G1-G8, each with its parts, verdicts re-decided from the recorded per-seed values, seeds an
undecided finding would need, links to the figure in its notebook section and to the section;
:mod:`rlhf_nb.study.scorecard`), findings "beyond the papers" in a section of their own, the
multiplicity footer, a table of contents, what the next 10x of compute buys on each lever
(:mod:`rlhf_nb.study.compute_gain`), any failed executions, and every analysis notebook
rendered with its inputs hidden and without its stderr (progress and warnings are the
console's). Images scale to the page and a wide table scrolls in its own box, so nothing is
wider than the page. It reads files only (done records, findings, tables, executed notebooks),
so ``rlhf-nb report`` rebuilds it without training anything. The executed notebooks stay,
complete, in ``executions/``.
"""
from __future__ import annotations

import base64
import html
import json
import math
import os
from pathlib import Path

import nbformat
import pandas as pd
from nbconvert import HTMLExporter

from .compute_gain import compute_gain_figure, gain_table, lever_points, sft_stage
from .effects_figure import effects_figure
from .executions import StudyPaths
from .scorecard import BEYOND, multiplicity, parts_table, scorecard

STYLE = """
body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
img{max-width:100%;height:auto}
table.scorecard,table.compute{border-collapse:collapse;width:100%;font-size:0.92em}
table.scorecard td,table.scorecard th,table.compute td,table.compute th{border:1px solid #ccc;padding:4px 6px;
vertical-align:top}
table.compute td.num{text-align:right;white-space:nowrap}
.shown{background:#e3f6e3}.notshown{background:#fbe3e3}.inconclusive{background:#f6f1dc}.missing{color:#888}
tr.part td{font-size:0.9em;border-top:none}p.footer{font-size:0.9em;color:#444}
section.nb{border-top:2px solid #444;margin-top:2.5em}
section.nb table{display:block;width:fit-content;max-width:100%;overflow-x:auto;font-size:0.82em;border-collapse:collapse}
section.nb td,section.nb th{padding:2px 6px}
section.nb pre{white-space:pre-wrap;word-break:break-word;max-width:100%}
"""
"""Every image and table fits the page: images scale down to the column (1200 px at most), a notebook's table
scrolls inside its own box rather than widening the page, printed text wraps."""


def _load_json(folder: Path) -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8-sig")) for p in sorted(folder.glob("*.json"))] if folder.exists() else []


def compute_by_axis(results_dir: Path) -> pd.DataFrame:
    """Sum of every ``*flops*`` column of each axis table (FLOPs of the runs the axis used)."""
    rows = []
    for table in sorted((results_dir / "tables").glob("*.csv")) if (results_dir / "tables").exists() else []:
        df = pd.read_csv(table)
        cols = [c for c in df.columns if "flops" in c]
        rows.append({"axis": table.stem, "rows": len(df), "flops": float(df[cols].sum().sum()) if cols else float("nan")})
    return pd.DataFrame(rows)


def _fmt(x, digits=3):
    if x is None or (isinstance(x, float) and pd.isna(x)):
        return ""
    return f"{x:.{digits}g}" if isinstance(x, (int, float)) else html.escape(str(x))


def _scorecard_html(card: pd.DataFrame, parts: pd.DataFrame, report_dir: Path, results_dir: Path,
                    sections: set[str], figure_anchors: dict[str, str]) -> str:
    """The scorecard table: one row per finding (verdict, headline effect, links) and one per part."""
    head = ("<tr><th>finding</th><th>claim / part</th><th>verdict</th><th>effect</th><th>95% CI</th><th>δ</th>"
            "<th>seeds</th><th>note</th></tr>")
    body = []
    for r in card.itertuples():
        css = {"shown": "shown", "not shown": "notshown", "inconclusive": "inconclusive"}.get(r.verdict, "missing")
        ci = f"[{_fmt(r.ci[0])}, {_fmt(r.ci[1])}]" if isinstance(r.ci, (list, tuple)) and len(r.ci) == 2 else ""
        links = []
        if r.figure:
            target = (f"#{figure_anchors[r.figure]}" if r.figure in figure_anchors
                      else os.path.relpath(results_dir / r.figure, report_dir))
            links.append(f'<a href="{html.escape(target)}">figure</a>')
        if r.axis in sections:
            links.append(f'<a href="#{html.escape(r.axis)}">notebook section</a>')
        link = f" ({', '.join(links)})" if links else ""
        label = f" <small>{html.escape(r.effect_label)}</small>" if r.effect_label else ""
        needed = (f" Would need about {int(r.seeds_needed)} seeds at the observed spread."
                  if r.seeds_needed and not pd.isna(r.seeds_needed) else "")
        scored = "" if r.scored or r.source == BEYOND else " <small>(reported beside its finding, not counted)</small>"
        body.append(f'<tr class="{css}" id="finding-{html.escape(r.id)}"><td><b>{html.escape(r.id)}</b></td>'
                    f"<td>{html.escape(str(r.claim))}{scored}</td><td>{r.verdict}{link}</td><td>{_fmt(r.effect)}{label}"
                    f"</td><td>{ci}</td><td></td><td>{_fmt(r.n_seeds)}</td><td>{html.escape(str(r.note or ''))}{needed}"
                    "</td></tr>")
        for p in parts[parts.id == r.id].itertuples() if len(parts) else []:
            pcss = {"shown": "shown", "not shown": "notshown", "inconclusive": "inconclusive"}.get(p.verdict, "missing")
            extra = " (true by construction: not evidence)" if p.exact_by_construction else ""
            need = f"needs ~{int(p.seeds_needed)} seeds" if p.seeds_needed and not pd.isna(p.seeds_needed) else ""
            share = getattr(p, "measurement_share", float("nan"))
            if not pd.isna(share):
                need += (f"{'; ' if need else ''}measurement {share:.0%} of the seed variance (half-width x"
                         f"{p.prompts_x4_halfwidth_ratio:.2f} with 4x prompts, x{p.seeds_x2_halfwidth_ratio:.2f} with 2x seeds)")
            body.append(f'<tr class="part {pcss}"><td></td><td>&nbsp;&nbsp;{p.part}. {html.escape(str(p.name))} '
                        f"<small>({html.escape(str(p.claim))})</small>{extra}</td><td>{p.verdict}</td>"
                        f"<td>{_fmt(p.estimate)}</td><td>[{_fmt(p.lo)}, {_fmt(p.hi)}]</td><td>{_fmt(p.delta)}</td>"
                        f"<td>{_fmt(p.n)}</td><td>{need}</td></tr>")
    return f'<table class="scorecard">{head}{"".join(body)}</table>'


def _design_html(study_root: Path) -> str:
    """The study's declared design (``design.json``, written before it ran): seeds per axis, looks, level, why."""
    path = Path(study_root) / "design.json"
    if not path.exists():
        return ""
    design = json.loads(path.read_text(encoding="utf-8"))
    by_count: dict[str, list[str]] = {}
    for axis, seeds in design.get("seeds", {}).items():
        by_count.setdefault(", ".join(str(s) for s in seeds), []).append(axis)
    rows = "".join(f"<li>seeds {html.escape(seeds)}: {html.escape(', '.join(axes))}</li>" for seeds, axes in by_count.items())
    looks = design.get("looks", 1)
    level = design.get("interval_level", 0.95)
    return (f'<h2 id="design">Study design (declared before it ran)</h2><p>{looks} look{"s" if looks != 1 else ""}, '
            f"{level:.0%} t intervals over seeds; preset <code>{html.escape(str(design.get('preset', '')))}</code>.</p>"
            f"<ul>{rows}</ul><p>{html.escape(design.get('rationale', ''))}</p>"
            "<p>Each part's note gives, where its variance split is recorded, the share of its seed-to-seed "
            "variance that is measurement (a split-half prompt jackknife, a diagnostic that no verdict reads) "
            "and how the interval would narrow with 4x the evaluation prompts or 2x the seeds.</p>")


def _multiplicity_html(m: dict) -> str:
    return (f"<p class=\"footer\">Of {m['tested']} scored findings with an interval, {m['decided']} reached a verdict; "
            f"{m['decided_holm']} survive Holm's step-down over the scorecard. By chance alone the scorecard would "
            f"hold at most {m['expected_false_verdicts']:.2f} false verdicts (each verdict's test has one-sided size "
            f"{(1 - m['level']) / 2:.3g}). Decision protocol: <code>docs/findings.md</code>.</p>")


def _sci(x: float) -> str:
    """FLOPs as 2.6e12 (no '+', two significant digits): the order of magnitude is what a reader compares."""
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.2g}".replace("e+", "e")


def _interval(mean: float, lo: float, hi: float, fmt: str) -> str:
    ci = f" [{format(lo, fmt)}, {format(hi, fmt)}]" if math.isfinite(lo) and math.isfinite(hi) else " (one seed)"
    return f"{format(mean, fmt)}{ci}"


def _compute_html(gains: pd.DataFrame, sft: dict, by_axis: pd.DataFrame) -> str:
    """What the next 10x of compute buys on each lever: the figure, a table with intervals, the SFT stage beside."""
    if not len(gains):
        return "<p>No lever of this study has two or more points with recorded FLOPs.</p>"
    rows = []
    for r in gains.itertuples():
        rows.append(f"<tr><td>{html.escape(r.lever)}</td><td><code>{html.escape(r.axis)}</code></td>"
                    f'<td class="num">{_sci(r.flops_lo)} → {_sci(r.flops_hi)}</td>'
                    f'<td class="num">{r.gold_lo:.3f} → {r.gold_hi:.3f}</td>'
                    f'<td class="num"><b>{_interval(r.per_decade, r.per_decade_lo, r.per_decade_hi, "+.3f")}</b></td>'
                    f'<td class="num">{_interval(r.per_flop, r.per_flop_lo, r.per_flop_hi, ".2g")}</td>'
                    f'<td class="num">{r.seeds}</td></tr>')
    if sft:
        rows.append(f"<tr><td>the SFT stage itself ({html.escape(sft['policy'])} policy)</td><td></td>"
                    f'<td class="num">{_sci(sft["flops"])}</td><td class="num">{sft["gold"]:.3f}</td>'
                    f'<td class="num">beside: its cost</td><td></td><td class="num">{sft["seeds"]}</td></tr>')
    head = ("<tr><th>lever</th><th>axis</th><th>FLOPs measured (smallest → largest point)</th>"
            "<th>gold there</th><th>gold per 10x compute [95% CI]</th><th>gold per FLOP [95% CI]</th>"
            "<th>seeds</th></tr>")
    best = gains.sort_values("per_decade", ascending=False).iloc[0]
    sft_line = (f" The SFT stage of the {html.escape(sft['policy'])} policy cost {_sci(sft['flops'])} FLOPs and reached "
                f"{sft['gold']:.3f} gold: a lever's FLOPs are spent on top of it." if sft else "")
    total = (" FLOPs of the runs each axis used (a run two axes share counts in both): "
             + ", ".join(f"{html.escape(a)} {_sci(f)}" for a, f in zip(by_axis["axis"], by_axis["flops"])) + "."
             if len(by_axis) else "")
    best_ci = (f", 95% CI [{best['per_decade_lo']:+.3f}, {best['per_decade_hi']:+.3f}]"
               if math.isfinite(best["per_decade_lo"]) else ", fewer than 3 seeds: no interval")
    return (f"<p>Each lever's gold accuracy (share of held-out prompts answered right) against the FLOPs it spent, "
            f"per seed; <b>gold per 10x compute</b> is each seed's least-squares slope of gold on log10(FLOPs), "
            f"summarised over seeds with a 95% t interval. On this study's grid the largest estimate is "
            f"<b>{html.escape(str(best['lever']))}</b> ({best['per_decade']:+.3f} gold per 10x{best_ci}). These "
            f"are descriptions, not verdicts: no smallest effect of interest is registered for them, so the "
            f"findings above decide what the levers show. Slopes describe the measured range; a "
            f"decade past its largest point is an extrapolation.{sft_line}{total} Definitions: "
            f"<code>rlhf_nb/study/compute_gain.py</code>.</p>"
            f'<img src="compute_gain.png" alt="gold against compute per lever, and gold per 10x compute">'
            f'<table class="compute">{head}{"".join(rows)}</table>')


def _png(data: str | bytes) -> str:
    """A PNG as one base64 string without line breaks (how an executed notebook stores it, whatever its wrapping)."""
    return "".join((base64.b64encode(data).decode("ascii") if isinstance(data, bytes) else data).split())


def _figure_anchors(done: list[dict], results_dir: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(figure path relative to the results folder -> id of the image that shows it in a notebook section,
    the image's base64 -> that id). An axis notebook displays its saved PNG file, so the bytes match."""
    figures = Path(results_dir) / "figures"
    files = {_png(p.read_bytes()): str(p.relative_to(results_dir))
             for p in sorted(figures.rglob("*.png"))} if figures.exists() else {}
    anchors, by_data = {}, {}
    for d in done:
        for cell in nbformat.read(d["output"], as_version=4).cells:
            for out in cell.get("outputs", []):
                data = _png(out.get("data", {}).get("image/png", ""))
                if data in files and files[data] not in anchors:
                    anchors[files[data]] = by_data[data] = f"figure-{Path(d['notebook']).stem}-{Path(files[data]).stem}"
    return anchors, by_data


def _reader_copy(path: Path, by_data: dict[str, str]) -> nbformat.NotebookNode:
    """The executed notebook as the report shows it: stderr streams left out (progress bars and warnings belong to
    the console; a study run sends them there, this drops any an older execution kept), and an anchor before each
    saved figure so the scorecard can link to it."""
    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                continue
            anchor = by_data.get(_png(out.get("data", {}).get("image/png", ""))) if "data" in out else None
            if anchor:
                kept.append(nbformat.v4.new_output("display_data", data={"text/html": f'<a id="{anchor}"></a>'}))
            kept.append(out)
        cell["outputs"] = kept
    return nb


def _notebook_fragment(nb: nbformat.NotebookNode) -> str:
    exporter = HTMLExporter(template_name="basic", exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nb)
    return body


def build_report(study_root: Path, title: str = "RLHF scaling study") -> Path:
    """Write ``<study_root>/report/index.html`` from the study's files; returns its path.

    Also writes ``effects.png`` and ``compute_gain.png`` beside it (100 dpi, at most 1100 px wide),
    ``scorecard.csv``, ``parts.csv`` and ``compute_gain.csv`` (one row per lever)."""
    paths = StudyPaths(Path(study_root))
    paths.report.mkdir(parents=True, exist_ok=True)
    done = [d for d in _load_json(paths.done) if d["phase"] in ("demo", "analyze")]
    done.sort(key=lambda d: (d["phase"] != "demo", d["notebook"]))
    failures = _load_json(paths.failed)
    card, parts = scorecard(paths.results), parts_table(paths.results)
    effects_figure(parts).savefig(paths.report / "effects.png", dpi=100)
    points = lever_points(paths.results)
    gains = gain_table(points)
    sft = sft_stage(paths.results)
    compute_gain_figure(points, gains, sft).savefig(paths.report / "compute_gain.png", dpi=100)
    sections_made = {Path(d["notebook"]).stem for d in done}
    anchors, by_data = _figure_anchors(done, paths.results)

    toc = ['<li><a href="#effects">Every finding\'s effect</a></li>', '<li><a href="#scorecard">Findings scorecard</a></li>',
           '<li><a href="#compute">What the next 10x of compute buys</a></li>']
    sections = []
    for d in done:
        anchor = Path(d["notebook"]).stem
        toc.append(f'<li><a href="#{anchor}">{html.escape(anchor)}</a> '
                   f'(<a href="{html.escape(os.path.relpath(d["output"], paths.report))}">notebook</a>)</li>')
        sections.append(f'<section class="nb" id="{anchor}"><h2>{html.escape(anchor)}</h2>'
                        f"{_notebook_fragment(_reader_copy(Path(d['output']), by_data))}</section>")
    if failures:
        toc.append('<li><a href="#failures">Failed executions</a></li>')
    papers, beyond = card[card["source"] != BEYOND], card[card["source"] == BEYOND]
    counts = card[card.scored]["verdict"].value_counts().to_dict()
    summary = ", ".join(f"{n} {v}" for v, n in counts.items())
    beyond_html = ""
    if len(beyond):
        beyond_html = (f'<h3 id="beyond">Beyond the papers</h3><p>Findings neither Hou et al. nor Gao et al. test, '
                       f"decided by the same protocol and drawn in the figure above; they are not counted in the "
                       f"verdicts or the multiplicity footer.</p>"
                       f"{_scorecard_html(beyond, parts, paths.report, paths.results, sections_made, anchors)}")
    fail_html = ""
    if failures:
        items = "".join(f"<li>{html.escape(f['label'])}: <code>{html.escape(f['error'])}</code> "
                        f"(<a href=\"{html.escape(os.path.relpath(f['notebook'], paths.report))}\">partial notebook</a>)</li>"
                        for f in failures)
        fail_html = f'<h2 id="failures">Failed executions</h2><ul>{items}</ul>'
    page = f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{STYLE}</style></head><body>
<h1>{html.escape(title)}</h1>
<p>Verdicts: {html.escape(summary)}. Each finding's verdict rests on the effect and its 95% interval over the seeds
listed; "inconclusive" means the interval covers both outcomes, "not tested" that no axis of this study measured it.</p>
<h2 id="effects">Every finding's effect against its smallest effect of interest</h2>
<p>One row per part of a finding: the dot is its estimate, the bar its 95% interval over seeds, both in units of
the part's smallest effect of interest δ (solid line: no effect; dashed: ±δ). <span style="color:#2e7d32">Green:
shown</span>, <span style="color:#c62828">red: not shown</span>, <span style="color:#b08900">amber:
inconclusive</span>; a hollow dot is true by construction (not evidence). The scorecard below gives every number.</p>
<img src="effects.png" alt="forest plot of every part of every finding">
<h2 id="scorecard">Findings scorecard</h2>
{_scorecard_html(papers, parts, paths.report, paths.results, sections_made, anchors)}
{beyond_html}
{_multiplicity_html(multiplicity(paths.results))}
{_design_html(paths.root)}
<h2>Contents</h2><ul>{''.join(toc)}</ul>
<h2 id="compute">What the next 10x of compute buys on each lever</h2>
{_compute_html(gains, sft, compute_by_axis(paths.results))}
{fail_html}
{''.join(sections)}
</body></html>"""
    out = paths.report / "index.html"
    tmp = out.with_suffix(".tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, out)
    card.to_csv(paths.report / "scorecard.csv", index=False)
    parts.to_csv(paths.report / "parts.csv", index=False)
    gains.to_csv(paths.report / "compute_gain.csv", index=False)
    return out
