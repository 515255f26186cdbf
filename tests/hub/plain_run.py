"""The plain reference of a list of cells, run in the hub's single-user environment (same library
versions as the users' kernels) through collab_reuse.demo.runner, with the extension that the
environment loads in every kernel turned off on the kernel's command line.

Usage: <env>/bin/python plain_run.py CELLS.json WORKDIR   -- prints a JSON list of
{"execution_count", "outputs"} (normalised outputs), one per cell.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat

from collab_reuse.demo.runner import run_notebook

#: a command-line setting beats the environment's ipython_kernel_config.py
NO_EXTENSIONS = "--InteractiveShellApp.extensions=[]"
LOADED = "print('collab_reuse' in get_ipython().extension_manager.loaded)"


def main(cells_file: str, workdir: str) -> None:
    cells = json.loads(Path(cells_file).read_text())
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code) for code in cells + [LOADED]])
    path = Path(workdir) / "plain.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    result = run_notebook(path, Path(workdir) / "run", kernel_args=[NO_EXTENSIONS])
    *runs, loaded = result.outputs
    if [o.get("text") for o in loaded["outputs"]] != ["False\n"]:
        sys.exit(f"the plain reference kernel must run without collab_reuse; asked, it said: {loaded['outputs']}")
    print(json.dumps([{"execution_count": r["execution_count"], "outputs": r["outputs"]} for r in runs]))


if __name__ == "__main__":
    main(*sys.argv[1:])
