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
