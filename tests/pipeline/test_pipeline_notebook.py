"""The pipeline notebook through papermill at toy scale, and the CLI's parameter handling."""
import json
from pathlib import Path

import papermill as pm
import pytest

from rlhf_nb.notebooks import notebook_path, parse_parameter_overrides

TOY = dict(policy="xs", sft_steps=200, rm_prompts=256, rm_responses_per_prompt=4, rl_steps=2, prompts_per_step=4,
           samples_per_prompt=2, eval_prompts=8)


def test_notebooks_are_committed_clean():
    for path in Path(notebook_path("pipeline")).parent.glob("*.ipynb"):
        nb = json.loads(path.read_text())
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), path.name
        assert nb["metadata"]["kernelspec"]["language"] == "python", path.name
        tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, f"{path.name} needs exactly one parameters cell"


def test_pipeline_notebook_runs_and_states_its_result(tmp_path):
    out = tmp_path / "pipeline.ipynb"
    pm.execute_notebook(str(notebook_path("pipeline")), str(out), kernel_name="python3", cwd=str(tmp_path),
                        parameters={**TOY, "store_dir": str(tmp_path / "store")}, progress_bar=False)
    nb = json.loads(out.read_text())
    text = "".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []))
    assert "held-out gold accuracy" in text and "Reward model: pairwise accuracy" in text
    assert any(o.get("output_type") == "display_data" and "image/png" in o.get("data", {})
               for c in nb["cells"] for o in c.get("outputs", []))


def test_cli_parameters_are_typed_from_the_notebook():
    typed = parse_parameter_overrides([["rl_steps", "7"], ["kl_coef", "0.1"], ["policy", "s"]],
                                      notebook_path("pipeline"))
    assert typed == {"rl_steps": 7, "kl_coef": 0.1, "policy": "s"}
    with pytest.raises(ValueError, match="no parameter"):
        parse_parameter_overrides([["rl_stepz", "7"]], notebook_path("pipeline"))
    with pytest.raises(ValueError, match="is not an integer"):
        parse_parameter_overrides([["rl_steps", "many"]], notebook_path("pipeline"))
