"""The study report: one HTML page built with nbconvert from the executed notebooks.

``report/index.html`` holds a table of contents, the findings scorecard (H1-H8, G1-G8, each
with verdict, effect, interval, seeds and a link to its figure), the compute each axis
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

from ..axes.findings import FINDINGS, SCORED
from .executions import StudyPaths

STYLE = """
body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table.scorecard{border-collapse:collapse;width:100%;font-size:0.92em}
table.scorecard td,table.scorecard th{border:1px solid #ccc;padding:4px 6px;vertical-align:top}
.shown{background:#e3f6e3}.notshown{background:#fbe3e3}.inconclusive{background:#f6f1dc}.missing{color:#888}
section.nb{border-top:2px solid #444;margin-top:2.5em}
"""


def _load_json(folder: Path) -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8-sig")) for p in sorted(folder.glob("*.json"))] if folder.exists() else []


def scorecard(results_dir: Path) -> pd.DataFrame:
    """One row per finding H1-H8, G1-G8; findings no axis produced are listed as not tested."""
    found = {f["id"]: f for f in _load_json(results_dir / "findings")}
    rows = []
    for fid in list(SCORED) + [f for f in FINDINGS if f not in SCORED and f in found]:
        f = found.get(fid)
        if f is None:
            rows.append({"id": fid, "claim": FINDINGS[fid].claim, "verdict": "not tested", "effect": None, "ci": None,
                         "n_seeds": None, "effect_label": "", "figure": "", "axis": "", "note": ""})
        else:
            rows.append({k: f.get(k) for k in ("id", "claim", "verdict", "effect", "ci", "n_seeds", "effect_label",
                                               "figure", "axis", "note")})
    return pd.DataFrame(rows)


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


def _scorecard_html(card: pd.DataFrame, report_dir: Path, results_dir: Path) -> str:
    head = "<tr><th>finding</th><th>claim</th><th>verdict</th><th>effect</th><th>95% CI</th><th>seeds</th><th>note</th></tr>"
    body = []
    for r in card.itertuples():
        css = {"shown": "shown", "not shown": "notshown", "inconclusive": "inconclusive"}.get(r.verdict, "missing")
        ci = f"[{_fmt(r.ci[0])}, {_fmt(r.ci[1])}]" if isinstance(r.ci, (list, tuple)) and len(r.ci) == 2 else ""
        fig = ""
        if r.figure:
            target = os.path.relpath(results_dir / r.figure, report_dir)
            fig = f' (<a href="{html.escape(target)}">figure</a>)'
        label = f" <small>{html.escape(r.effect_label)}</small>" if r.effect_label else ""
        body.append(f'<tr class="{css}"><td>{r.id}</td><td>{html.escape(str(r.claim))}</td><td>{r.verdict}{fig}</td>'
                    f"<td>{_fmt(r.effect)}{label}</td><td>{ci}</td><td>{_fmt(r.n_seeds)}</td>"
                    f"<td>{html.escape(str(r.note or ''))}</td></tr>")
    return f'<table class="scorecard">{head}{"".join(body)}</table>'


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
    card = scorecard(paths.results)
    compute = compute_by_axis(paths.results)

    toc = ['<li><a href="#scorecard">Findings scorecard</a></li>', '<li><a href="#compute">Compute by axis</a></li>']
    sections = []
    for d in done:
        anchor = Path(d["notebook"]).stem
        toc.append(f'<li><a href="#{anchor}">{html.escape(anchor)}</a> '
                   f'(<a href="{html.escape(os.path.relpath(d["output"], paths.report))}">notebook</a>)</li>')
        sections.append(f'<section class="nb" id="{anchor}"><h2>{html.escape(anchor)}</h2>'
                        f"{_notebook_fragment(Path(d['output']))}</section>")
    if failures:
        toc.append('<li><a href="#failures">Failed executions</a></li>')
    counts = card["verdict"].value_counts().to_dict()
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
<h2>Contents</h2><ul>{''.join(toc)}</ul>
<h2 id="scorecard">Findings scorecard</h2>{_scorecard_html(card, paths.report, paths.results)}
<h2 id="compute">Compute by axis</h2>{compute_html}
{fail_html}
{''.join(sections)}
</body></html>"""
    out = paths.report / "index.html"
    tmp = out.with_suffix(".tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, out)
    card.to_csv(paths.report / "scorecard.csv", index=False)
    return out
