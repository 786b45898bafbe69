"""Every policy-axis notebook, executed through papermill at toy scale on the session's store.

The notebooks get the fixture's store and scale parameters, so SFT and reward model are
loaded, not trained; each runs its real grid (one seed, a few RL steps) and writes its table,
findings and figure.
"""
from __future__ import annotations

import json

import pandas as pd
import pytest

from rlhf_nb.axes.results import VERDICTS
from rlhf_nb.notebooks import execute_notebook

from .conftest import POLICY, TINY

GRIDS = {
    "samples_per_prompt": (dict(policy=POLICY, samples_per_prompt="1,2", rl_algorithm="ppo", prompts_per_step=1,
                                equal_total=2,
                                rl_steps=2, track_every_steps=1), ["H1"]),
    "policy_size": (dict(policies=POLICY, rm_policy=POLICY, kl_coefs="0,0.1", rl_steps=2, track_every_steps=1),
                    ["H4", "G8"]),
    "rm_size_for_rl": (dict(policy=POLICY, rm_policies=POLICY, kl_coefs="0", bon_n=4, rl_steps=2,
                            track_every_steps=1), ["H3", "G4"]),
    "rl_length_kl": (dict(policy=POLICY, kl_coefs="0,0.1", rl_steps=3, track_every_steps=1, bon_n=4),
                     ["H6", "G2", "G6", "G7"]),
    "method": (dict(policy=POLICY, rl_steps=2, prompts_per_step=2, samples_per_prompt=2, track_every_steps=1),
               ["H5", "H8"]),
}


@pytest.mark.parametrize("name", list(GRIDS))
def test_notebook_runs_and_writes_findings(name, tiny_runs, policy_store, tmp_path):
    grid, ids = GRIDS[name]
    results = tmp_path / "results"
    out = execute_notebook(name, tmp_path / f"{name}.ipynb", {"seeds": "0", "analyze": True,
                                                              "store_dir": str(policy_store.root),
                                                              "results_dir": str(results), **TINY, **grid},
                           cwd=tmp_path, progress=False)
    table = pd.read_csv(results / "tables" / f"{name}.csv")
    rl = table[table["final"] == True]  # noqa: E712 (a column of booleans read back from CSV)
    assert len(rl) and rl["rl_heldout_sampled_acc"].between(0, 1).all()
    assert (table["step"] == 0).sum() == len(rl)  # every grid point's curve starts at step 0
    assert table.loc[table["step"] == 0, "kl"].eq(0).all()
    for finding_id in ids:
        finding = json.loads((results / "findings" / f"{finding_id}.json").read_text())
        # n_seeds counts the seeds that gave a value (at toy scale a part may have none, e.g. G7's margin)
        assert finding["verdict"] in VERDICTS and finding["axis"] == name and finding["n_seeds"] <= 1
        assert (results / finding["figure"]).exists()
    closing = json.loads(out.read_text())["cells"][-1]["outputs"]
    shown = "".join("".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/markdown", "")) for o in closing)
    assert f"### {ids[0]} · " in shown  # the finding is stated at the end, verdict first
    # Every stage under the notebook came from the store: SFT and the reward model were the fixture's.
    assert len(list(policy_store.root.glob("sft/sft-*/DONE"))) == 1


def test_notebook_without_analysis_only_fills_the_store(tiny_runs, policy_store, tmp_path):
    grid, _ = GRIDS["policy_size"]
    execute_notebook("policy_size", tmp_path / "out.ipynb", {"seeds": "0", "analyze": False,
                                                             "store_dir": str(policy_store.root),
                                                             "results_dir": str(tmp_path / "results"), **TINY, **grid},
                     cwd=tmp_path, progress=False)
    assert not (tmp_path / "results").exists()
