"""A store another process holds locked (here: SQLite's exclusive locking mode, which keeps even
readers out): the kernel waits a bounded time, then runs as without collab_reuse after the one
warning; once the lock is gone, the next run reuses. (A write lock held by a busy writer, which
only the background writer waits for, is tested in tests/kernel/test_store_faults.py.)"""
from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap

import pytest

from collab_reuse.demo.runner import reuse_totals, run_notebook

from .conftest import AGG, READ, SETUP, assert_plain_but_one_warning, write_notebook

pytestmark = pytest.mark.kernel

HOLD_LOCK = textwrap.dedent("""
    import sqlite3, sys
    db = sqlite3.connect(sys.argv[1], isolation_level=None)
    db.execute("PRAGMA locking_mode=EXCLUSIVE")
    db.execute("BEGIN EXCLUSIVE")
    db.execute("INSERT OR REPLACE INTO meta VALUES('held', 'by another process')")
    db.execute("COMMIT")  # (the exclusive lock stays, in this locking mode, until the connection closes)
    print("locked", flush=True)
    sys.stdin.read()
""")


def test_a_store_locked_by_another_process_costs_reuse_only(tmp_path):
    notebook = write_notebook(tmp_path / "nb.ipynb", [SETUP, READ, AGG])
    store = tmp_path / "store"
    plain = run_notebook(notebook, tmp_path / "plain", timeout=300)
    run_notebook(notebook, tmp_path / "first", store_dir=store, timeout=300)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(store / "graph.sqlite")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "locked\n"
        locked = run_notebook(notebook, tmp_path / "locked", store_dir=store, timeout=300)
        assert locked.kernel_start_seconds < 30  # a bounded wait, not SQLite's minute
    finally:
        holder.stdin.close()
        holder.wait(30)
    assert assert_plain_but_one_warning(plain, locked) == [0]
    assert "locked" in locked.text(0)

    again = run_notebook(notebook, tmp_path / "again", store_dir=store, timeout=300)
    assert_plain_but_one_warning(plain, again, warnings=0)
    assert reuse_totals(store, again.kernel_id).get("reused", 0) >= 1
    db = sqlite3.connect(store / "graph.sqlite")
    try:
        assert db.execute("SELECT value FROM meta WHERE key='held'").fetchone() == ("by another process",)
    finally:
        db.close()
