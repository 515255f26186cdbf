"""What a store keeps stays bounded: a step that prints megabytes is not stored (its report says why;
it used to become an artifact four times its output's size), and its output is the plain run's."""
from __future__ import annotations

import pytest

from collab_reuse.demo.runner import run_notebook
from collab_reuse.graph import ExperimentGraph

from .conftest import READ, SETUP, assert_plain_but_one_warning, write_notebook

pytestmark = pytest.mark.kernel

LOUD = ("def summarize(frame):\n"
        "    print('row\\n' * 1_250_000)  # 5 MB of output\n"
        "    return frame.groupby('k').agg(['mean', 'std', 'median'])\n"
        "summary = summarize(df)\nprint(summary.shape)")


def test_a_step_that_prints_megabytes_is_not_stored_and_says_why(tmp_path):
    notebook = write_notebook(tmp_path / "nb.ipynb", [SETUP, READ, LOUD])
    store = tmp_path / "store"
    plain = run_notebook(notebook, tmp_path / "plain", timeout=300)
    runs = [run_notebook(notebook, tmp_path / f"run{n}", store_dir=store, timeout=300,
                         kernel_args=["--CollabReuse.min_saving=0"]) for n in range(2)]
    for run in runs:
        assert_plain_but_one_warning(plain, run, warnings=0)
    graph = ExperimentGraph(store, create=False)
    try:
        assert graph.used_bytes() < 20_000_000  # the frame read and small results, not 5 MB of text
        steps = [s for e in graph.events(kernel_id=runs[0].kernel_id, limit=1000) for s in e["steps"]
                 if s["op"] == "summarize()"]
        assert steps and "printed more than 1 MB" in (steps[0]["reason"] or "")
        assert all(a.op != "summarize()" for a in graph.all_artifacts() if a.state == 2)
    finally:
        graph.close()
