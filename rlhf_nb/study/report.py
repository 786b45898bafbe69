"""The study report: one HTML page built with nbconvert from the executed notebooks.

``report/index.html`` opens with one figure of every part of every finding against its
smallest effect of interest (:mod:`rlhf_nb.study.effects_figure`), then the scorecard (H1-H8,
G1-G8, each with its parts, verdicts re-decided from the recorded per-seed values, seeds an
undecided finding would need, links to its figure and notebook section; :mod:`rlhf_nb.study.scorecard`),
the multiplicity footer, a table of contents, the compute each axis
spent, any failed executions, and every analysis notebook rendered with its inputs hidden.
It reads files only (done records, findings, executed notebooks), so ``rlhf-nb report``
rebuilds it without training anything. The executed notebooks stay in ``executions/``.
"""
from __future__ import annotations

import html
import json
import os
from pathlib import Path

import nbformat
import pandas as pd
from nbconvert import HTMLExporter

from .effects_figure import effects_figure
from .executions import StudyPaths
from .scorecard import multiplicity, parts_table, scorecard

STYLE = """
body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table.scorecard{border-collapse:collapse;width:100%;font-size:0.92em}
table.scorecard td,table.scorecard th{border:1px solid #ccc;padding:4px 6px;vertical-align:top}
.shown{background:#e3f6e3}.notshown{background:#fbe3e3}.inconclusive{background:#f6f1dc}.missing{color:#888}
tr.part td{font-size:0.9em;border-top:none}p.footer{font-size:0.9em;color:#444}
section.nb{border-top:2px solid #444;margin-top:2.5em}
"""


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
                    sections: set[str]) -> str:
    head = ("<tr><th>finding</th><th>claim / part</th><th>verdict</th><th>effect</th><th>95% CI</th><th>δ</th>"
            "<th>seeds</th><th>note</th></tr>")
    body = []
    for r in card.itertuples():
        css = {"shown": "shown", "not shown": "notshown", "inconclusive": "inconclusive"}.get(r.verdict, "missing")
        ci = f"[{_fmt(r.ci[0])}, {_fmt(r.ci[1])}]" if isinstance(r.ci, (list, tuple)) and len(r.ci) == 2 else ""
        links = []
        if r.figure:
            links.append(f'<a href="{html.escape(os.path.relpath(results_dir / r.figure, report_dir))}">figure</a>')
        if r.axis in sections:
            links.append(f'<a href="#{html.escape(r.axis)}">notebook section</a>')
        link = f" ({', '.join(links)})" if links else ""
        label = f" <small>{html.escape(r.effect_label)}</small>" if r.effect_label else ""
        needed = (f" Would need about {int(r.seeds_needed)} seeds at the observed spread."
                  if r.seeds_needed and not pd.isna(r.seeds_needed) else "")
        scored = "" if r.scored else " <small>(reported beside its finding, not counted)</small>"
        body.append(f'<tr class="{css}" id="finding-{r.id}"><td><b>{r.id}</b></td><td>{html.escape(str(r.claim))}'
                    f"{scored}</td><td>{r.verdict}{link}</td><td>{_fmt(r.effect)}{label}</td><td>{ci}</td><td></td>"
                    f"<td>{_fmt(r.n_seeds)}</td><td>{html.escape(str(r.note or ''))}{needed}</td></tr>")
        for p in parts[parts.id == r.id].itertuples() if len(parts) else []:
            pcss = {"shown": "shown", "not shown": "notshown", "inconclusive": "inconclusive"}.get(p.verdict, "missing")
            extra = " (true by construction: not evidence)" if p.exact_by_construction else ""
            need = f"needs ~{int(p.seeds_needed)} seeds" if p.seeds_needed and not pd.isna(p.seeds_needed) else ""
            body.append(f'<tr class="part {pcss}"><td></td><td>&nbsp;&nbsp;{p.part}. {html.escape(str(p.name))} '
                        f"<small>({html.escape(str(p.claim))})</small>{extra}</td><td>{p.verdict}</td>"
                        f"<td>{_fmt(p.estimate)}</td><td>[{_fmt(p.lo)}, {_fmt(p.hi)}]</td><td>{_fmt(p.delta)}</td>"
                        f"<td>{_fmt(p.n)}</td><td>{need}</td></tr>")
    return f'<table class="scorecard">{head}{"".join(body)}</table>'


def _multiplicity_html(m: dict) -> str:
    return (f"<p class=\"footer\">Of {m['tested']} scored findings with an interval, {m['decided']} reached a verdict; "
            f"{m['decided_holm']} survive Holm's step-down over the scorecard. By chance alone the scorecard would "
            f"hold at most {m['expected_false_verdicts']:.2f} false verdicts (each verdict's test has one-sided size "
            f"{(1 - m['level']) / 2:.3g}). Decision protocol: <code>docs/findings.md</code>.</p>")


def _notebook_fragment(path: Path) -> str:
    exporter = HTMLExporter(template_name="basic", exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nbformat.read(str(path), as_version=4))
    return body


def build_report(study_root: Path, title: str = "RLHF scaling study") -> Path:
    """Write ``<study_root>/report/index.html`` from the study's files; returns its path."""
    paths = StudyPaths(Path(study_root))
    paths.report.mkdir(parents=True, exist_ok=True)
    done = [d for d in _load_json(paths.done) if d["phase"] in ("demo", "analyze")]
    done.sort(key=lambda d: (d["phase"] != "demo", d["notebook"]))
    failures = _load_json(paths.failed)
    card, parts = scorecard(paths.results), parts_table(paths.results)
    compute = compute_by_axis(paths.results)
    fig = effects_figure(parts)
    fig.savefig(paths.report / "effects.png", dpi=100)
    sections_made = {Path(d["notebook"]).stem for d in done}

    toc = ['<li><a href="#effects">Every finding\'s effect</a></li>', '<li><a href="#scorecard">Findings scorecard</a></li>',
           '<li><a href="#compute">Compute by axis</a></li>']
    sections = []
    for d in done:
        anchor = Path(d["notebook"]).stem
        toc.append(f'<li><a href="#{anchor}">{html.escape(anchor)}</a> '
                   f'(<a href="{html.escape(os.path.relpath(d["output"], paths.report))}">notebook</a>)</li>')
        sections.append(f'<section class="nb" id="{anchor}"><h2>{html.escape(anchor)}</h2>'
                        f"{_notebook_fragment(Path(d['output']))}</section>")
    if failures:
        toc.append('<li><a href="#failures">Failed executions</a></li>')
    counts = card[card.scored]["verdict"].value_counts().to_dict()
    summary = ", ".join(f"{n} {v}" for v, n in counts.items())
    compute_html = compute.to_html(index=False, float_format=lambda v: f"{v:.3g}") if len(compute) else "<p>No axis tables.</p>"
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
<img src="effects.png" alt="forest plot of every part of every finding" style="max-width:100%">
<h2 id="scorecard">Findings scorecard</h2>{_scorecard_html(card, parts, paths.report, paths.results, sections_made)}
{_multiplicity_html(multiplicity(paths.results))}
<h2>Contents</h2><ul>{''.join(toc)}</ul>
<h2 id="compute">Compute by axis</h2>{compute_html}
{fail_html}
{''.join(sections)}
</body></html>"""
    out = paths.report / "index.html"
    tmp = out.with_suffix(".tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, out)
    card.to_csv(paths.report / "scorecard.csv", index=False)
    parts.to_csv(paths.report / "parts.csv", index=False)
    return out
