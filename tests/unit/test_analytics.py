"""The reuse report (analytics.py) from a real store's graph and journal, and `collab-reuse report`."""

import subprocess
import sys

from collab_reuse.analytics import gather, render
from collab_reuse.graph import ExperimentGraph, VertexUpdate


def _cell(graph, kernel, notebook, saved, reused, computed):
    report = {"kernel_id": kernel, "cell_id": "c", "steps": [],
              "totals": {"saved_seconds": saved, "reused": reused, "computed": computed}}
    graph.record_cell([VertexUpdate(f"id-{kernel}-{saved}", "op", "dataframe", [], 1.0)], "u", report,
                      notebook=notebook)


def test_time_saved_is_gathered_per_notebook_day_user_and_session(tmp_path):
    graph = ExperimentGraph(tmp_path / "store")
    _cell(graph, "k1", "work/eda.ipynb", 30.0, 3, 1)
    _cell(graph, "k1", "work/eda.ipynb", 12.0, 1, 1)
    _cell(graph, "k2", "model.ipynb", 5.0, 1, 4)
    _cell(graph, "k3", None, 1.0, 1, 0)  # (a kernel no Jupyter server started: no notebook known)
    usage = gather(graph)
    assert dict(usage.saved_by_notebook) == {"work/eda.ipynb": 42.0, "model.ipynb": 5.0, "?": 1.0}
    assert dict(usage.saved_by_user) == {"u": 48.0} and usage.cells == 4
    assert [usage.sessions[k]["cells"] for k in ("k1", "k2", "k3")] == [2, 1, 1]
    [(reused, computed)] = usage.hits_by_day.values()
    assert (reused, computed) == (6, 6)
    page = render(usage, "the store")
    assert 'alt="time saved per notebook"' in page and 'alt="time saved per day"' in page


def test_the_report_command_writes_the_page(tmp_path):
    graph = ExperimentGraph(tmp_path / "store")
    _cell(graph, "k1", "eda.ipynb", 30.0, 3, 1)
    graph.close_all()
    out = tmp_path / "report.html"
    done = subprocess.run([sys.executable, "-m", "collab_reuse.cli", "--store", str(tmp_path / "store"), "report",
                           "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and "What reuse saved" in page
    assert "<b>30.0 s</b> saved over 1 traced cells in 1 kernel sessions by 1 users" in page
