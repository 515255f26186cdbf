"""The store directory deleted while a kernel runs: the notebook goes on as without collab_reuse,
after the one warning (at the end of the cell that deleted it), and nothing brings the store back
half-made: not the cells after, not the exit. The next run makes a new store and reuses from it."""
from __future__ import annotations

import pytest

from collab_reuse.demo.runner import reuse_totals, run_notebook

from .conftest import AGG, AGG2, READ, SETUP, assert_plain_but_one_warning, fault_run, write_notebook

pytestmark = pytest.mark.kernel

DELETE = "shutil.rmtree(os.environ['FAULT_DIR'], ignore_errors=True)"
AFTER = "print(df.describe().shape, agg.shape)"
PENDING = ["--CollabReuse.idle_seconds=3600", "--CollabReuse.min_saving=0"]  # every result still waits


def test_a_store_deleted_between_cells_costs_reuse_only(tmp_path):
    notebook = write_notebook(tmp_path / "nb.ipynb", [SETUP, READ, AGG, DELETE, AGG2, AFTER])
    store = tmp_path / "store"
    plain = fault_run(notebook, tmp_path / "plain", None, tmp_path / "nothing-here")
    faulty = fault_run(notebook, tmp_path / "faulty", store, store, kernel_args=PENDING)
    assert faulty.extension_loaded
    assert assert_plain_but_one_warning(plain, faulty) == [3]  # the deleting cell, at its end
    assert not store.exists(), sorted(p.name for p in store.rglob("*"))  # not made again, not even at exit

    again = [run_notebook(notebook, tmp_path / f"again{n}", store_dir=store, env={"FAULT_DIR": str(tmp_path / "x")},
                          timeout=300) for n in range(2)]
    for run in again:
        assert_plain_but_one_warning(plain, run, warnings=0)
    assert reuse_totals(store, again[1].kernel_id).get("reused", 0) >= 1


def test_a_store_deleted_while_results_are_written_between_cells(tmp_path):
    """The writer works between cells here (no idle wait): the store goes while it may be writing."""
    notebook = write_notebook(tmp_path / "nb.ipynb", [SETUP, READ, AGG, "time.sleep(1.0)", DELETE, AGG2, AFTER])
    store = tmp_path / "store"
    plain = fault_run(notebook, tmp_path / "plain", None, tmp_path / "nothing-here")
    faulty = fault_run(notebook, tmp_path / "faulty", store, store,
                       kernel_args=["--CollabReuse.idle_seconds=0", "--CollabReuse.min_saving=0"])
    assert assert_plain_but_one_warning(plain, faulty) == [4]
    assert not (store / "graph.sqlite").exists()  # no empty graph in its place
