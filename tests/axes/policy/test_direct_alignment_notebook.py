"""The direct-alignment notebook, executed through papermill at toy scale on the session's store."""
from __future__ import annotations

import json

import pandas as pd

from rlhf_nb.axes.results import VERDICTS
from rlhf_nb.notebooks import execute_notebook

from .conftest import POLICY, TINY

GRID = dict(policy=POLICY, betas="0.1,0.3", dpo_epochs=1, dpo_comparisons_per_step=8, dpo_learning_rate=1e-3,
            kl_coef=0.0, rl_steps=2, prompts_per_step=2, samples_per_prompt=2, track_every_steps=1,
            rl_learning_rate=1e-3)


def _shown(output: dict) -> str:
    """What an output shows as text: a stream's text or a display's Markdown (each a string or a list of lines)."""
    text = output.get("text", output.get("data", {}).get("text/markdown", ""))
    return "".join(text) if isinstance(text, list) else text


def test_notebook_runs_dpo_and_rl_and_writes_d1_d2(tiny_runs, policy_store, tmp_path):
    results = tmp_path / "results"
    out = execute_notebook("direct_alignment", tmp_path / "direct_alignment.ipynb",
                           {"seeds": "0", "analyze": True, "store_dir": str(policy_store.root),
                            "results_dir": str(results), **TINY, **GRID}, cwd=tmp_path, progress=False)
    table = pd.read_csv(results / "tables" / "direct_alignment.csv")
    assert set(table["series"]) == {"dpo", "rl"}
    dpo = table[table["series"] == "dpo"]
    assert sorted(dpo["beta"].unique()) == [0.1, 0.3]
    assert (table["step"] == 0).sum() == 3 and table.loc[table["step"] == 0, "kl"].lt(1e-4).all()
    # one tracker: DPO and RL measure the same SFT policy identically at step 0
    assert table.loc[table["step"] == 0, "gold"].nunique() == 1
    for finding_id in ("D1", "D2"):
        finding = json.loads((results / "findings" / f"{finding_id}.json").read_text())
        assert finding["verdict"] in VERDICTS and finding["axis"] == "direct_alignment" and finding["n_seeds"] <= 1
        assert (results / finding["figure"]).exists()
    cells = json.loads(out.read_text())["cells"]
    closing = "".join(_shown(o) for o in cells[-1]["outputs"])
    assert "D1" in closing and "D2" in closing  # the findings are stated at the end
    setup = "".join(_shown(o) for c in cells if "describe_dpo" in "".join(c["source"]) for o in c["outputs"])
    assert "betas" in setup and "0.1, 0.3" in setup  # the setup prose comes from the values in force
    assert len(list(policy_store.root.glob("sft/sft-*/DONE"))) == 1  # SFT and RM were the fixture's
