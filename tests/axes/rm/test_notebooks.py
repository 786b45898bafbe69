"""Every RM notebook runs end to end through papermill at toy scale, reusing the session's SFT model via the store."""
import json
from pathlib import Path

import nbformat
import pandas as pd
import papermill as pm
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[3] / "notebooks"
GRIDS = {  # tiny grids that share runs with each other and with test_rm_runs (same specs: cache hits)
    "rm_data": (dict(diversity_grid="8x4,4x8", equal_comparisons=16, volumes="8,16", volume_responses=4,
                     volume_pairs_per_prompt=2, epochs_base=8, epochs_k=2, headline_n=4), ["H2", "G5"]),
    "orm_vs_prm": (dict(supervisions="orm,prm", volumes="8,16", headline_n=4), ["H7"]),
    # RMs start from 30-step SFT models of their size: cheap, and still a real init from an SFT run
    "rm_size": (dict(sizes="xs,s", rm_prompts=8, rm_responses_per_prompt=4, rm_comparisons=16, rm_sft_steps=30,
                     headline_n=4), ["H3-bon"]),
    "best_of_n": (dict(sizes="xs,s", rm_prompts=8, rm_responses_per_prompt=4, rm_comparisons=16, rm_sft_steps=30),
                  ["G1", "G3"]),  # the rm_size notebook's runs, read along n
}


@pytest.mark.parametrize("name", list(GRIDS))
def test_notebook_runs_and_writes_table_findings_and_figure(name, rm_store, tiny_sft, tiny_params, tmp_path):
    grid, finding_ids = GRIDS[name]
    results = tmp_path / "results"
    params = dict(seeds="0", analyze=True, store_dir=str(rm_store.root), results_dir=str(results), **tiny_params,
                  **grid)
    out = tmp_path / f"{name}.ipynb"
    pm.execute_notebook(str(NOTEBOOKS / f"{name}.ipynb"), str(out), parameters=params, kernel_name="python3",
                        progress_bar=False, cwd=str(tmp_path))
    table = pd.read_csv(results / "tables" / f"{name}.csv")
    assert set(table.split) == {"heldout", "ood"} and (table.seed == 0).all()
    for fid in finding_ids:
        finding = json.loads((results / "findings" / f"{fid}.json").read_text())
        # n_seeds counts the seeds with a value: none for G3 here (two RM sizes, the claim needs three)
        assert finding["verdict"] in ("shown", "not shown", "inconclusive") and finding["n_seeds"] == (fid != "G3")
        assert (results / finding["figure"]).exists()
    closing = nbformat.read(out, as_version=4).cells[-1]
    shown = "".join(o.get("text", "") + o.get("data", {}).get("text/markdown", "") for o in closing.outputs)
    assert all(f"### {fid} · " in shown for fid in finding_ids)  # the closing cell states each finding, verdict first


def test_analyze_false_only_fills_the_store(rm_store, tiny_sft, tiny_params, tmp_path):
    grid, _ = GRIDS["orm_vs_prm"]
    results = tmp_path / "results"
    params = dict(seeds="0", analyze=False, store_dir=str(rm_store.root), results_dir=str(results), **tiny_params,
                  **grid)
    pm.execute_notebook(str(NOTEBOOKS / "orm_vs_prm.ipynb"), str(tmp_path / "out.ipynb"), parameters=params,
                        kernel_name="python3", progress_bar=False, cwd=str(tmp_path))
    assert not results.exists()


def test_notebooks_are_committed_clean(tiny_params):
    for name in GRIDS:
        nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        assert nb.metadata.kernelspec.name == "python3" and nb.metadata.language_info.name == "python"
        assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
        assert "parameters" in nb.cells[1].metadata.get("tags", [])
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None
        declared = pm.inspect_notebook(str(NOTEBOOKS / f"{name}.ipynb"))
        assert {"seeds", "analyze", "store_dir", "results_dir", *tiny_params} <= set(declared)
        assert all(p["help"] for p in declared.values())  # every parameter says what it is
