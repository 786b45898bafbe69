"""A notebook execution's console shows what the notebook does, not the kernel's start-up chatter."""
from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    from pathlib import Path
    import nbformat
    import rlhf_nb.notebooks as notebooks

    folder = Path({folder!r})
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {{"name": "python3", "language": "python", "display_name": "Python 3"}}
    nb.cells = [nbformat.v4.new_code_cell("x = 1", metadata={{"tags": ["parameters"]}}),
                nbformat.v4.new_code_cell({body!r})]
    nbformat.write(nb, folder / "probe.ipynb")
    notebooks.notebook_path = lambda name: folder / "probe.ipynb"
    notebooks.execute_notebook("probe", folder / "out.ipynb", {{"x": 2}}, progress=False)
""")


def _run(tmp_path, body: str) -> subprocess.CompletedProcess:
    code = SCRIPT.format(folder=str(tmp_path), body=body)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_no_kernel_transport_warning_reaches_the_console(tmp_path):
    done = _run(tmp_path, "print(x)")
    assert done.returncode == 0, done.stderr
    assert "without encryption" not in done.stderr and "IPKernelApp" not in done.stderr


def test_a_real_error_in_a_notebook_still_fails_loudly(tmp_path):
    done = _run(tmp_path, "raise RuntimeError('the fix is to pass a positive size')")
    assert done.returncode != 0
    assert "the fix is to pass a positive size" in done.stderr


def _outputs(tmp_path) -> list[dict]:
    import nbformat

    return [o for cell in nbformat.read(str(tmp_path / "out.ipynb"), as_version=4).cells
            for o in cell.get("outputs", [])]


def test_progress_and_warnings_go_to_the_console_and_harmless_ones_nowhere(tmp_path):
    body = textwrap.dedent("""
        import subprocess, sys, warnings
        from tqdm.auto import tqdm
        for _ in tqdm(range(3), desc="seeds (probe)"):
            pass
        warnings.warn("`is_gradient_checkpointing` is deprecated and will be removed", FutureWarning)
        warnings.warn("a warning worth reading", RuntimeWarning)
        child = "import warnings; warnings.warn('`is_gradient_checkpointing` is deprecated (child)', FutureWarning)"
        subprocess.run([sys.executable, "-c", child], check=True)
        print("the result")
    """)
    done = _run(tmp_path, body)
    assert done.returncode == 0, done.stderr
    outputs = _outputs(tmp_path)
    assert [o.get("text") for o in outputs] == ["the result\n"]  # the document: only what the notebook prints
    assert "seeds (probe)" in done.stderr and "100%" in done.stderr  # progress on the console
    assert "a warning worth reading" in done.stderr  # an unknown warning is not hidden
    assert "is_gradient_checkpointing" not in done.stderr and "IProgress" not in done.stderr  # known-harmless: gone


def test_an_interactive_kernel_keeps_its_progress_bars_in_the_page(tmp_path):
    # the same notebook run without the batch kernel arguments (as JupyterLab runs it): importing the
    # package changes nothing, the bar stays in the page
    script = SCRIPT.format(folder=str(tmp_path), body="import rlhf_nb.notebooks, rlhf_nb.axes.seed_pool\n"
                           "from tqdm.auto import tqdm\nfor _ in tqdm(range(2), desc='seeds (probe)'): pass")
    script = script.replace('notebooks.execute_notebook("probe", folder / "out.ipynb", {"x": 2}, progress=False)',
                            'import papermill as pm\npm.execute_notebook(str(folder / "probe.ipynb"), '
                            'str(folder / "out.ipynb"), parameters={"x": 2}, kernel_name="python3", progress_bar=False)')
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    page = "".join(o.get("text", "") for o in _outputs(tmp_path) if o.get("name") == "stderr")
    assert "seeds (probe)" in page and "100%" in page
