"""Per-user figures through real IPython shells: a second kernel on a store of one user reuses what the
first stored, and the store attributes the loads, the time saved and what was stored to that user."""
from __future__ import annotations

import pytest

from collab_reuse.graph import ExperimentGraph
from collab_reuse.team import os_user

from shells import two_runs

CELLS = ["import numpy as np, pandas as pd\n"
         "df = pd.DataFrame({'k': np.arange(2_000_000) % 97, 'v': np.arange(2_000_000) * 0.5})",
         "agg = df.groupby('k').agg(['mean', 'std', 'median', 'max'])\ntotal = float(agg.sum().sum())"]


def test_a_store_of_one_user_attributes_every_load_to_that_user(tmp_path, monkeypatch):
    spaces, reports = two_runs(tmp_path, monkeypatch, CELLS)
    assert spaces[0]["total"] == spaces[1]["total"]
    saved = reports[1]["totals"]["saved_seconds"]
    assert reports[1]["totals"]["reused"] >= 1 and saved > 0
    graph = ExperimentGraph(tmp_path / "store", create=False)
    try:
        summary = graph.summary()
        me = os_user().name
        [figures] = summary["per_user"]
        assert figures["user"] == me and figures["loads"] >= 1
        assert [s["writer"] for s in figures["saved_by"]] == [me]
        assert figures["saved_seconds"] == pytest.approx(summary["saved_seconds"])  # every second saved, attributed
        assert figures["artifacts_stored"] >= 1 and figures["bytes_stored"] > 0
        assert figures["saved_others_seconds"] == 0.0
    finally:
        graph.close_all()
