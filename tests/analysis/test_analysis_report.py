"""Plots, the table-to-finding summary, the template notebook, and the docstring examples."""
import doctest
import importlib
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless, as on a cluster node

import nbformat  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import papermill  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402

from rlhf_nb.analysis import (  # noqa: E402
    analyse_runs,
    fit_curve,
    plot_fit,
    save_analysis,
    synthetic_runs,
)

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "analysis_template.ipynb"
MODULES = ["forms", "validation", "solvers", "bootstrap", "fitting", "compare", "ratio", "decision", "bon_kl", "plotting",
           "summary", ""]


def test_plot_fit_draws_points_curve_band_and_title():
    runs = synthetic_runs()
    fit = fit_curve(runs.x, runs.metric, "saturating_power", runs.seed, n_boot=50)
    ax = plot_fit(fit, runs.x, runs.metric, runs.seed, title="H1: gain per doubling shrinks")
    assert ax.get_title() == "H1: gain per doubling shrinks" and ax.get_xscale() == "log"
    assert any(isinstance(c, PolyCollection) for c in ax.collections)  # the bootstrap band
    assert len(ax.lines) >= 2  # raw points and the fitted curve
    ax = plot_fit(fit, runs.x, runs.metric, runs.seed, spread="points", band=False)
    assert not any(isinstance(c, PolyCollection) for c in ax.collections)
    assert sum(line.get_label().startswith("seed") for line in ax.lines) == 3


def test_plot_fit_marks_the_gao_peak_on_a_linear_axis():
    kl = np.linspace(0, 10, 12)
    d = np.sqrt(kl)
    fit = fit_curve(kl, 0.5 * d - 0.05 * d**2 + np.linspace(-0.01, 0.01, 12), "gao_bon", x_is="kl", n_boot=0)
    ax = plot_fit(fit, kl, 0.5 * d - 0.05 * d**2)
    assert ax.get_xscale() == "linear"
    assert any("peak (extrapolated)" in line.get_label() for line in ax.lines)


def test_analyse_runs_states_the_finding_with_numbers(tmp_path):
    a = analyse_runs(synthetic_runs(), n_boot=100, title="the metric saturates")
    assert a.fit.form == "saturating_power" and a.comparison.form.iloc[0] == "saturating_power"
    assert a.finding.startswith("Finding: the metric saturates.")
    assert f"alpha = {a.fit.params['alpha']:.3g} [" in a.finding and "over 3 seeds" in a.finding
    assert a.fit.params["E"] == pytest.approx(0.8, abs=0.02)
    names = sorted(p.name for p in save_analysis(a, tmp_path))
    assert names == ["comparison.csv", "figure.png", "finding.md", "fit.csv"]
    assert (tmp_path / "finding.md").read_text().strip() == a.finding
    assert pd.read_csv(tmp_path / "fit.csv").name.tolist()[:3] == ["E", "A", "alpha"]


def test_analyse_runs_two_x_values_and_bad_columns():
    runs = synthetic_runs(x=(1, 8))
    a = analyse_runs(runs)
    assert a.fit is None and a.ratio is not None and "ratio, not a law" in a.finding
    assert a.table().n.tolist() == [3, 3]
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['gold'\]"):
        analyse_runs(runs, metric_column="gold")


def test_template_notebook_is_commit_ready():
    nb = json.loads(NOTEBOOK.read_text())
    assert nb["metadata"]["kernelspec"] == {"name": "python3", "display_name": "Python 3", "language": "python"}
    assert nb["metadata"]["language_info"]["name"] == "python"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    params = [c for c in code if "parameters" in c["metadata"].get("tags", [])]
    assert len(params) == 1
    for line in "".join(params[0]["source"]).splitlines():  # typed, commented literals only
        assert ": " in line.split("=")[0] and "  # " in line, line
    nbformat.validate(nbformat.reads(NOTEBOOK.read_text(), as_version=4))


def test_template_notebook_runs_on_the_synthetic_table(tmp_path):
    out = tmp_path / "out.ipynb"
    params = {"runs_csv": "", "n_boot": 100, "title": "the metric saturates", "output_dir": str(tmp_path / "files")}
    papermill.execute_notebook(str(NOTEBOOK), str(out), kernel_name="python3", parameters=params,
                               progress_bar=False, cwd=str(tmp_path))
    nb = nbformat.read(out, as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    want = analyse_runs(synthetic_runs(), n_boot=100, title="the metric saturates").finding
    assert want in text  # the same numbers as the package computes
    assert any("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert (tmp_path / "files" / "finding.md").read_text().strip() == want


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples(module):
    mod = importlib.import_module("rlhf_nb.analysis" + (f".{module}" if module else ""))
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    assert result.attempted > 0, f"{mod.__name__} has no examples"
