"""The panel's model (labextension/src/model.ts) in Node's own test runner, on its compiled lib/ (built by
``make setup``): labextension/test/model.test.mjs gives it a data source and checks paging, following
notebooks, kernels and cells, totals, folded refreshes and errors."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

LABEXTENSION = Path(__file__).resolve().parents[2] / "labextension"


def test_the_panel_model_passes_its_node_tests():
    node = shutil.which("node")
    assert node, "Node is needed to test the panel (the README's set-up installs the rest)"
    assert (LABEXTENSION / "lib" / "model.js").exists(), "the panel is not built: run make setup"
    run = subprocess.run([node, "--import", "./test/register.mjs", "--test", "test/model.test.mjs"],
                         cwd=LABEXTENSION, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "# fail 0" in run.stdout and "# pass 5" in run.stdout, run.stdout[-2000:]
