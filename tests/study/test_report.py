"""The report opens with every finding's effect, shows every part and what chance alone gives, and reads clean."""
from __future__ import annotations

import base64
import dataclasses
import json

import nbformat
import pandas as pd
import pytest
from matplotlib.figure import Figure
from report_reader import PAGE_PX, VIEWPORT, browser, layout_in_browser, reader_problems

from rlhf_nb.analysis import PartSpec
from rlhf_nb.axes.findings import FINDINGS, FindingSpec
from rlhf_nb.axes.results import decided_finding, write_finding
from rlhf_nb.study.executions import StudyPaths
from rlhf_nb.study.report import build_report
from rlhf_nb.study.scorecard import (
    BEYOND,
    multiplicity,
    parts_table,
    redecide,
    scorecard,
)


def _study(tmp_path):
    paths = StudyPaths(tmp_path / "study")
    results = paths.results
    write_finding(decided_finding("H1", [PartSpec([0.10, 0.12, 0.09, 0.11], "greater", 0.02, name="first doubling"),
                                         PartSpec([-0.04, -0.05, -0.03, -0.06], "less", 0.01, name="last - first/3")]),
                  results)
    write_finding(decided_finding("H5", [PartSpec([0.01, -0.01, 0.02], "equivalent", 0.03, name="PPO - GRPO")]),
                  results)
    write_finding(decided_finding("H8", [PartSpec([0.3, -0.2, 0.1], "greater", 0.01, name="in - out")]), results)
    return paths


def test_the_scorecard_shows_every_part_and_what_undecided_findings_need(tmp_path):
    paths = _study(tmp_path)
    card = scorecard(paths.results).set_index("id")
    assert card.loc["H1", "verdict"] == "shown" and card.loc["H1", "parts"] == 2
    assert card.loc["H8", "verdict"] == "inconclusive" and card.loc["H8", "seeds_needed"] > 3
    assert card.loc["G3", "verdict"] == "not tested"
    parts = parts_table(paths.results)
    assert list(parts[parts.id == "H1"].name) == ["first doubling", "last - first/3"]
    assert (parts.delta > 0).all()


def test_verdicts_are_re_decided_from_the_recorded_values_and_multiplicity_is_stated(tmp_path):
    paths = _study(tmp_path)
    from rlhf_nb.study.scorecard import load_findings

    for fid, record in load_findings(paths.results).items():
        assert redecide(record).verdict == record["verdict"], fid
    m = multiplicity(paths.results)
    assert m["tested"] == 3 and m["decided"] == 1  # H1; H5 and H8 are undecided at these spreads
    assert abs(m["expected_false_verdicts"] - 3 * 0.025) < 1e-12 and m["decided_holm"] <= m["decided"]


def test_the_report_opens_with_the_effects_figure_then_the_scorecard(tmp_path):
    paths = _study(tmp_path)
    page = build_report(paths.root).read_text(encoding="utf-8")
    assert (paths.report / "effects.png").exists()
    assert page.index('src="effects.png"') < page.index('id="scorecard"') < page.index("Holm")
    assert "first doubling" in page and "last - first/3" in page and "seeds at the observed spread" in page
    assert len(pd.read_csv(paths.report / "parts.csv")) == 4


# --- the report as a reader meets it ---------------------------------------------------------------------------------


def _executed(paths, notebook: str, outputs: list) -> None:
    """An analysis execution as the study leaves it: the executed notebook and its done record."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("run()", outputs=outputs)]
    out = paths.executions / f"{notebook}-analyze-0.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(out))
    paths.done.mkdir(parents=True, exist_ok=True)
    (paths.done / f"{notebook}-analyze-0.json").write_text(json.dumps(
        {"id": f"{notebook}-analyze-0", "label": notebook, "notebook": notebook, "phase": "analyze", "parameters": {},
         "seconds": 1.0, "output": str(out)}))


def _figure(path, width_in=6.0) -> str:
    fig = Figure(figsize=(width_in, 2))
    fig.subplots().plot([0, 1], [1, 0])
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return base64.encodebytes(path.read_bytes()).decode("ascii")  # wrapped lines, as some writers store it


def _study_with_a_section(tmp_path):
    paths = _study(tmp_path)
    png = _figure(paths.results / "figures" / "samples_per_prompt" / "h1.png")
    write_finding(decided_finding("H1", [PartSpec([0.10, 0.12, 0.09, 0.11], "greater", 0.02, name="first doubling")],
                                  figure="figures/samples_per_prompt/h1.png", axis="samples_per_prompt"), paths.results)
    _executed(paths, "samples_per_prompt", [
        nbformat.v4.new_output("stream", name="stderr", text="seeds (2 processes):  33%|███▎      | 1/3 [00:08<00:16, "
                               "8.33s/seed]\n/x/site-packages/tqdm/auto.py:21: TqdmWarning: IProgress not found.\n"),
        nbformat.v4.new_output("stream", name="stdout", text="the result in a sentence\n"),
        nbformat.v4.new_output("display_data", data={"image/png": png}),
    ])
    return paths


def test_each_finding_links_to_its_figure_in_the_section_that_made_it_and_the_section_is_clean(tmp_path):
    paths = _study_with_a_section(tmp_path)
    report = build_report(paths.root)
    page = report.read_text(encoding="utf-8")
    assert 'href="#figure-samples_per_prompt-h1"' in page and 'id="figure-samples_per_prompt-h1"' in page
    assert page.index('id="figure-samples_per_prompt-h1"') < page.index("data:image/png", page.index('id="samples_'))
    assert 'href="#samples_per_prompt"' in page and "the result in a sentence" in page
    assert "IProgress" not in page and "33%" not in page  # stderr is the console's
    assert reader_problems(report) == []


def test_the_reader_check_catches_what_a_log_shows(tmp_path):
    report = tmp_path / "index.html"
    wide = _figure(tmp_path / "wide.png", width_in=12.1).replace("\n", "")
    report.write_text(f"""<html><head><style>body{{max-width:{PAGE_PX}px}}</style></head><body>
<pre>/x/site-packages/transformers/modeling_utils.py:3312: FutureWarning: deprecated</pre>
<pre>seeds (2 processes):  33%|███▎      | 1/3 [00:08&lt;00:16,  8.33s/seed]</pre>
<pre>{{'sft/flops': 2611546546752.0, 'sft/params': 361632}}</pre>
<img src="data:image/png;base64,{wide}"></body></html>""", encoding="utf-8")
    found = " | ".join(reader_problems(report))
    for problem in ("warning text", "progress residue", "raw dict dump", "max-width:100%", "wider than the"):
        assert problem in found, found


def test_findings_beyond_the_papers_get_a_section_of_their_own(tmp_path, monkeypatch):
    paths = _study(tmp_path)
    base = decided_finding("H8", [PartSpec([0.05, 0.06, 0.07], "greater", 0.02, name="DPO - GRPO gold")])
    # one the registry does not hold, and one it holds with source BEYOND
    write_finding(dataclasses.replace(base, id="Z9", claim="a fabricated claim no paper makes", axis="dpo"),
                  paths.results)
    monkeypatch.setitem(FINDINGS, "Z8", FindingSpec("Z8", "dpo", "a registered claim beyond them", BEYOND))
    write_finding(dataclasses.replace(base, id="Z8", claim="a registered claim beyond them", axis="dpo"), paths.results)
    page = build_report(paths.root).read_text(encoding="utf-8")
    beyond = page.index('id="beyond"')
    assert page.index('id="finding-G8"') < beyond < page.index('id="finding-Z9"') < page.index("Holm")
    assert beyond < page.index('id="finding-Z8"') < page.index("Holm")
    assert "Beyond the papers" in page and "a fabricated claim no paper makes" in page
    for registered in (s.id for s in FINDINGS.values() if s.source == BEYOND):  # recorded or not, in that section
        assert beyond < page.index(f'id="finding-{registered}"') < page.index("Holm")
    card = scorecard(paths.results).set_index("id")
    assert card.loc["Z9", "source"] == BEYOND and not card.loc["Z9", "scored"]
    assert card.loc["H1", "source"] != BEYOND


def test_the_report_asks_what_the_next_10x_of_compute_buys(tmp_path):
    from test_compute_gain import _policy_tables, _rm_data

    paths = _study(tmp_path)
    tables = paths.results / "tables"
    tables.mkdir(parents=True)
    _rm_data().to_csv(tables / "rm_data.csv", index=False)
    for name, table in _policy_tables().items():
        table.to_csv(tables / f"{name}.csv", index=False)
    report = build_report(paths.root)
    page = report.read_text(encoding="utf-8")
    assert page.index('id="scorecard"') < page.index('id="compute"') and 'src="compute_gain.png"' in page
    for lever in ("more RM data", "more samples per prompt", "a bigger policy", "longer RL", "the SFT stage itself"):
        assert lever in page
    assert "gold per 10x compute" in page and "+0.055 [" in page  # the mean of the seeds' slopes, with its interval
    assert len(pd.read_csv(paths.report / "compute_gain.csv")) == 4
    assert reader_problems(report) == []


@pytest.mark.skipif(browser() is None, reason="no headless browser (Debian: apt-get install chromium)")
def test_the_first_screen_at_1300_px_opens_on_the_effects_and_nothing_is_wider_than_the_page(tmp_path):
    paths = _study_with_a_section(tmp_path)
    layout, shot = layout_in_browser(build_report(paths.root), tmp_path, browser())
    assert layout["scroll_width"] <= layout["viewport"], layout  # no horizontal scroll: nothing wider than the page
    assert layout["wide"] == [], layout  # every image inside the window, and loaded
    assert 0 <= layout["effects_top"] < VIEWPORT[1] and layout["effects_top"] < layout["scorecard_top"], layout
    from PIL import Image

    image = Image.open(shot)
    assert image.size == VIEWPORT
    assert len(set(image.convert("RGB").getdata())) > 10  # something is drawn on the first screen


def test_the_scorecard_as_markdown_has_every_finding_and_its_parts(tmp_path):
    from rlhf_nb.axes.results import Finding, write_finding
    from rlhf_nb.study.scorecard import markdown_table

    write_finding(Finding(id="H1", claim="c", verdict="inconclusive", effect=0.06, ci=(0.05, 0.07), n_seeds=3,
                          parts=[{"name": "first doubling", "claim": "greater", "delta": 0.02, "values": [0.05, 0.06, 0.07],
                                  "estimate": 0.06, "ci": [0.05, 0.07], "verdict": "shown", "n": 3},
                                 {"name": "last doubling", "claim": "less", "delta": 0.01, "values": [0.1, -0.1, 0.0],
                                  "estimate": 0.0, "ci": [-0.2, 0.2], "verdict": "inconclusive", "n": 3,
                                  "seeds_needed": 54, "variance_split": {"measurement_share": 0.25}}]), tmp_path)
    text = markdown_table(tmp_path)
    lines = text.splitlines()
    assert lines[2] == "| **H1** | c | **inconclusive** | +0.06 [+0.05, +0.07] | 3 | 54 | |"
    assert "| | 2. last doubling (less, δ 0.01) | inconclusive | +0 [-0.2, +0.2] | 3 | 54 | 0.25 |" in text
    assert "| **H2** | prompt diversity beats responses per prompt | **not tested** |" in text


def test_the_report_states_the_declared_design_and_each_parts_variance_split(tmp_path):
    from rlhf_nb.study.presets import get_preset
    from rlhf_nb.study.whole_study import record_design

    paths = _study(tmp_path)
    full, even, odd = [0.3, -0.2, 0.1], [0.32, -0.25, 0.12], [0.28, -0.15, 0.08]
    write_finding(decided_finding("H8", [PartSpec(full, "greater", 0.01, name="in - out")],
                                  halves=([PartSpec(even, "greater", 0.01)], [PartSpec(odd, "greater", 0.01)])),
                  paths.results)
    record_design(paths.root, get_preset("default"))
    parts = parts_table(paths.results).set_index("id")
    share = parts.loc["H8", "measurement_share"]
    # (even - odd)^2 / 4 averaged over seeds, over the seeds' sample variance
    expected = sum((e - o) ** 2 / 4 for e, o in zip(even, odd)) / 3 / pd.Series(full).var()
    assert share == pytest.approx(expected)
    assert pd.isna(parts.loc["H5", "measurement_share"])  # no halves given: no split
    page = build_report(paths.root).read_text()
    assert "Study design (declared before it ran)" in page and "rl_length_kl" in page
    assert "seeds 0, 1, 2, 3, 4, 5: rl_length_kl" in page
    assert f"measurement {share:.0%} of the seed variance" in page
