"""A kernel that exits with store writes pending hands them over: they are written after it is gone.

Cells run back to back (as here, through nbclient) leave the kernel no idle time to encode its
results; the ``idle_seconds`` setting below makes sure of it. At exit the kernel encodes what fits
in its exit budget itself; with no budget (``exit_flush_seconds=0``) a forked child encodes
everything, and it must cope with a LightGBM model trained on two OpenMP threads (an OpenMP pool
made before a fork hangs in the child unless limited). Either way a fresh process writes.
"""
from __future__ import annotations

import re

import nbformat
import pytest

from collab_reuse.demo.runner import compare, reuse_totals, run_notebook
from collab_reuse.graph import ExperimentGraph
from collab_reuse.kernel.handoff import pending_writers

pytestmark = pytest.mark.kernel

CELLS = [
    "import numpy as np\nimport pandas as pd\nimport lightgbm as lgb",
    "n = np.arange(20000)\n"
    "X = pd.DataFrame({'a': n % 97, 'b': (n * 7) % 13, 'c': (n * 31) % 101})\n"
    "y = ((X['a'] + X['b'] + X['c']) % 3 == 0).astype(int)\n"
    "X.describe()",
    "model = lgb.LGBMClassifier(n_estimators=40, n_jobs=2, random_state=0, deterministic=True, verbose=-1)\n"
    "model.fit(X, y)\nprint(model.n_features_in_)",  # (a fitted model's HTML shows memory addresses)
    "print(round(float(model.predict_proba(X)[:, 1].sum()), 6))",
]
NO_IDLE_TIME = ["--CollabReuse.idle_seconds=3600", "--CollabReuse.min_saving=0"]


@pytest.fixture
def two_thread_model_notebook(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    path = tmp_path / "model.ipynb"
    nbformat.write(nb, path)
    return path


def _stored_kinds(store) -> list[str]:
    graph = ExperimentGraph(store)
    try:
        stored = graph.materialized_ids()
        return sorted(a.kind for a in graph.all_artifacts() if a.id in stored)
    finally:
        graph.close()


def test_pending_writes_are_abandoned_without_the_child(two_thread_model_notebook, tmp_path):
    store = tmp_path / "store"
    run = run_notebook(two_thread_model_notebook, tmp_path / "run", store_dir=store, timeout=120,
                       kernel_args=NO_IDLE_TIME + ["--CollabReuse.exit_write_seconds=0"])
    assert run.extension_loaded and not run.errors
    assert _stored_kinds(store) == [], "something was encoded while cells ran back to back"


@pytest.mark.parametrize("encoder, exit_args", [
    # a model's encoding time is unknown: the kernel hands everything to the child at once
    (r"the kernel encoded 0 of \d+ pending store jobs, process \d+ encodes the rest", []),
    (r"the kernel encoded 0 of \d+ pending store jobs", ["--CollabReuse.exit_flush_seconds=0"]),  # no budget at all
])
def test_what_the_exiting_kernel_had_pending_is_written_after_it(two_thread_model_notebook, tmp_path,
                                                                encoder, exit_args):
    store = tmp_path / "store"
    plain = run_notebook(two_thread_model_notebook, tmp_path / "plain", timeout=120)
    first = run_notebook(two_thread_model_notebook, tmp_path / "first", store_dir=store, timeout=120,
                         kernel_args=NO_IDLE_TIME + exit_args)
    assert first.extension_loaded
    assert pending_writers(store) == []
    assert 0 < first.kernel_start_seconds < 120 and 0 < first.writes_after_exit_seconds < 120
    kinds = _stored_kinds(store)
    assert "model" in kinds and "dataframe" in kinds, kinds
    log = (store / "collab_reuse.log").read_text()
    assert re.search(encoder, log) and "the exit writer applied" in log, log
    assert "failed" not in log, log

    second = run_notebook(two_thread_model_notebook, tmp_path / "second", store_dir=store, timeout=120,
                          kernel_args=NO_IDLE_TIME)
    assert reuse_totals(store, second.kernel_id).get("reused", 0) >= 1
    assert not (diffs := compare(plain, first)), "\n".join(diffs)
    assert not (diffs := compare(plain, second)), "\n".join(diffs)


def test_a_model_slow_to_encode_is_handed_to_the_child_not_lost_with_the_kernel(tmp_path):
    # A 3000-tree boosting model takes seconds to encode and check, while Jupyter interrupts a closing
    # kernel after 2.5 s and kills it at 5 s: encoded in the kernel (its size was not estimated, so it
    # counted as instant), it was lost with every job after it.
    cells = ["import numpy as np\nfrom sklearn.ensemble import GradientBoostingRegressor\n"
             "X = np.random.RandomState(0).rand(300, 20)\ny = X @ np.arange(20.0)",
             "models = [GradientBoostingRegressor(n_estimators=3000, max_depth=4, random_state=i).fit(X, y)"
             " for i in range(2)]",
             "print(round(float(sum(m.predict(X[:5]).sum() for m in models)), 6))"]
    path = tmp_path / "boosting.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells]), path)
    store = tmp_path / "store"
    first = run_notebook(path, tmp_path / "first", store_dir=store, timeout=300, kernel_args=NO_IDLE_TIME)
    log = (store / "collab_reuse.log").read_text()
    assert "encodes the rest" in log and "failed" not in log, log
    assert _stored_kinds(store).count("model") >= 2
    second = run_notebook(path, tmp_path / "second", store_dir=store, timeout=300, kernel_args=NO_IDLE_TIME)
    assert reuse_totals(store, second.kernel_id).get("reused", 0) >= 2
    assert not (diffs := compare(first, second)), "\n".join(diffs)


def test_data_pending_at_exit_is_encoded_by_the_kernel_itself_within_its_budget(tmp_path):
    path = tmp_path / "frame.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS[:2]]), path)
    store = tmp_path / "store"
    run = run_notebook(path, tmp_path / "run", store_dir=store, timeout=120, kernel_args=NO_IDLE_TIME)
    assert run.extension_loaded and pending_writers(store) == []
    log = (store / "collab_reuse.log").read_text()
    assert re.search(r"the kernel encoded its \d+ pending store jobs", log) and "failed" not in log, log
    assert "dataframe" in _stored_kinds(store)
