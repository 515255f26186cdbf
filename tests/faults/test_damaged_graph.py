"""A damaged Experiment Graph: malformed rows (a value of the wrong type) are treated as absent,
never raised into a cell, and removed by gc; a graph file that is not a database, or a store of
another format, costs reuse only (the one warning) and is left as it is."""
from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys

import pytest

from collab_reuse.demo.runner import reuse_totals, run_notebook
from collab_reuse.graph import ExperimentGraph
from collab_reuse.graph.rows import BadRow
from collab_reuse.graph.experiment_graph import ArtifactInfo

from .conftest import AGG, READ, SETUP, assert_plain_but_one_warning, write_notebook

pytestmark = pytest.mark.kernel

STORE_ALL = ["--CollabReuse.min_saving=0"]

#: every kind of bad value, in every table a kernel reads
DAMAGE = [
    "UPDATE artifacts SET size='abc' WHERE op LIKE '%read_csv%'",   # the case: a TypeError in read_csv
    "UPDATE artifacts SET compute_seconds='slow' WHERE rowid % 3 = 0",
    "UPDATE artifacts SET inputs='not json' WHERE rowid % 3 = 1",
    "UPDATE artifacts SET state=7 WHERE rowid % 5 = 2",
    "UPDATE artifacts SET load_seconds=-1 WHERE rowid % 7 = 3",
    "UPDATE blobs SET size='big' WHERE rowid % 4 = 0",
    "UPDATE counters SET value='x'",
    "UPDATE meta SET value='lots' WHERE key='budget'",
    "UPDATE quiet_ops SET seconds='q'",
    "INSERT OR REPLACE INTO forests VALUES('k', 'three', 42)",
]
#: and in the user's journal
JOURNAL_DAMAGE = [
    "UPDATE events SET report='{' WHERE seq % 2 = 0",
    "UPDATE places SET summary='[1]' WHERE rowid % 2 = 0",
]


def damage(store) -> None:
    for name, damages in (("graph.sqlite", DAMAGE), ("journal.sqlite", JOURNAL_DAMAGE)):
        db = sqlite3.connect(store / name, isolation_level=None)
        try:
            for sql in damages:
                db.execute(sql)
        finally:
            db.close()


def malformed(store) -> int:
    graph = ExperimentGraph(store, create=False)
    try:
        bad = 0
        for row in graph.query(f"SELECT {ArtifactInfo.COLUMNS} FROM artifacts"):
            try:
                ArtifactInfo.from_row(row)
            except BadRow:
                bad += 1
        return bad
    finally:
        graph.close()


def test_malformed_rows_read_as_absent_and_gc_removes_them(tmp_path):
    notebook = write_notebook(tmp_path / "nb.ipynb", [SETUP, READ, AGG, "print(agg.shape)"])
    store = tmp_path / "store"
    plain = run_notebook(notebook, tmp_path / "plain", timeout=300)
    first = run_notebook(notebook, tmp_path / "first", store_dir=store, timeout=300, kernel_args=STORE_ALL)
    assert_plain_but_one_warning(plain, first, warnings=0)
    damage(store)
    assert malformed(store) > 0

    damaged = run_notebook(notebook, tmp_path / "damaged", store_dir=store, timeout=300, kernel_args=STORE_ALL)
    assert_plain_but_one_warning(plain, damaged, warnings=0)  # a bad row is not a store fault: no warning
    assert "malformed" in (store / "collab_reuse.log").read_text()

    done = subprocess.run([sys.executable, "-m", "collab_reuse.cli", "--store", str(store), "gc"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert malformed(store) == 0
    graph = ExperimentGraph(store, create=False)
    try:
        assert graph.budget() == 5_000_000_000  # a malformed budget is back to the default
        assert all(isinstance(e, dict) for e in graph.events(limit=10_000))
        journal = graph.journal()
        assert journal.query("SELECT COUNT(*) FROM events WHERE NOT json_valid(report)") == [(0,)]
        assert journal.query("SELECT COUNT(*) FROM places WHERE json_type(summary)<>'object'") == [(0,)]
    finally:
        graph.close()

    runs = [run_notebook(notebook, tmp_path / f"after{n}", store_dir=store, timeout=300, kernel_args=STORE_ALL)
            for n in range(2)]
    for run in runs:
        assert_plain_but_one_warning(plain, run, warnings=0)
    assert reuse_totals(store, runs[1].kernel_id).get("reused", 0) >= 1


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("fault", ["not a database", "another format"])
def test_an_unreadable_or_foreign_store_costs_reuse_only_and_is_left_alone(tmp_path, fault):
    notebook = write_notebook(tmp_path / "nb.ipynb", [SETUP, READ, AGG])
    store = tmp_path / "store"
    plain = run_notebook(notebook, tmp_path / "plain", timeout=300)
    run_notebook(notebook, tmp_path / "first", store_dir=store, timeout=300)
    if fault == "not a database":
        (store / "graph.sqlite").write_bytes(b"this is not a database" * 200)
        for extra in ("graph.sqlite-wal", "graph.sqlite-shm"):
            (store / extra).unlink(missing_ok=True)
    else:
        (store / "collab_reuse-store.json").write_text(json.dumps({"format": 2}))
    before = _digest(store / "graph.sqlite")
    run = run_notebook(notebook, tmp_path / "run", store_dir=store, timeout=300)
    assert assert_plain_but_one_warning(plain, run) == [0]  # loaded at kernel start: told in the first cell
    assert _digest(store / "graph.sqlite") == before
