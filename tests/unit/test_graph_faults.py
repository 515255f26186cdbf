"""The Experiment Graph under faults: every value read is checked, SQLite's errors are StoreErrors,
a deleted store is never made again by a connection, failed and abandoned writes are undone, and
what grows is pruned."""
import os
import sqlite3
import subprocess
import sys
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collab_reuse.errors import StoreError
from collab_reuse.graph import MATERIALIZED, NOT_STORED, WRITING, ExperimentGraph, VertexUpdate, upkeep
from collab_reuse.graph import claims, journal
from collab_reuse.graph.rows import BadRow
from collab_reuse.graph.experiment_graph import ArtifactInfo


def _graph(tmp_path, *ids, inputs=None):
    g = ExperimentGraph(tmp_path, budget_bytes=10**6)
    g.record_cell([VertexUpdate(a, "op", "dataframe", (inputs or {}).get(a, []), 1.0) for a in ids], "u", None)
    return g


def _sql(g, statement, params=()):
    db = sqlite3.connect(g.path, isolation_level=None)
    try:
        db.execute(statement, params)
    finally:
        db.close()


def _store(g, aid, blobs):
    g.begin_write(aid, blobs)
    g.finish_write(aid, blobs)


# -- reads ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("column, value", [("size", "abc"), ("size", -5), ("compute_seconds", "slow"),
                                           ("compute_seconds", float("inf")), ("frequency", 1.5), ("state", 9),
                                           ("load_seconds", -1.0), ("quality", "good"), ("storable", 2),
                                           ("inputs", "not json"), ("inputs", '[1, 2]'), ("op", b"\x00")])
def test_a_malformed_row_reads_as_absent(tmp_path, column, value):
    g = _graph(tmp_path, "a", "b")
    _sql(g, f"UPDATE artifacts SET {column}=? WHERE id='a'", (value,))
    assert g.artifact("a") is None
    assert [a.id for a in g.all_artifacts()] == ["b"]
    assert g.artifact("b").size == 0


@settings(max_examples=60, deadline=None)
@given(st.one_of(st.integers(min_value=-2**63, max_value=2**63 - 1), st.floats(allow_nan=True),
                 st.text(max_size=20), st.binary(max_size=20), st.none()))
def test_any_value_of_any_column_is_checked_or_refused(value):
    """Whatever SQLite holds, ``from_row`` gives a well-typed ArtifactInfo or BadRow, nothing else."""
    row = ["id", "op", "dataframe", 10, 1.0, 1, 2, None, None, 1, "[]"]
    for at in range(len(row)):
        bad = list(row)
        bad[at] = value
        try:
            info = ArtifactInfo.from_row(tuple(bad))
        except BadRow:
            continue
        assert type(info.size) is int and info.size >= 0 and info.state in (0, 1, 2)
        assert isinstance(info.compute_seconds, float) and info.compute_seconds >= 0
        assert all(isinstance(i, str) for i in info.inputs)


def test_malformed_counters_budget_and_reports_are_ignored(tmp_path):
    g = _graph(tmp_path, "a")
    g.record_cell([], "u", {"kernel_id": "k", "totals": {}})
    for _ in range(3):
        g.record_load(10_000_000, 0.01)
    _sql(g, "UPDATE counters SET value='x' WHERE name='load_bytes'")
    _sql(g, "UPDATE meta SET value='lots' WHERE key='budget'")
    _sql(g.journal(), "INSERT INTO events(time, kernel_id, user, report) VALUES(1, 'k', 'u', '{')")
    assert g.load_throughput() == (1 / 300e6, 0.002)  # as if never measured
    assert g.budget() == 0  # nothing kept until gc resets it
    assert len(g.events(kernel_id="k")) == 1
    assert g.summary()["hits"] == 0


def test_sqlite_errors_come_out_as_store_errors(tmp_path):
    g = _graph(tmp_path, "a")
    g.close_all()  # (first: closing checkpoints the log into the file)
    (tmp_path / "graph.sqlite").write_bytes(b"garbage" * 1000)
    with pytest.raises(StoreError, match="Experiment Graph"):
        g.artifact("a")
    with pytest.raises(StoreError):
        ExperimentGraph(tmp_path)


def test_a_connection_never_makes_a_deleted_graph_again(tmp_path):
    store = tmp_path / "store"
    g = _graph(store, "a")
    import shutil

    shutil.rmtree(store)
    store.mkdir()  # (someone made the directory again: still no graph from us)
    failed = []

    def in_another_thread():  # a new thread: a new connection
        try:
            g.artifact("a")
        except StoreError as exc:
            failed.append(exc)

    thread = threading.Thread(target=in_another_thread)
    thread.start()
    thread.join()
    assert failed and not (store / "graph.sqlite").exists()
    with pytest.raises(StoreError):
        ExperimentGraph(store, create=False)
    assert not (store / "graph.sqlite").exists()


def test_a_reader_waits_for_a_lock_only_as_long_as_it_was_told(tmp_path):
    g = _graph(tmp_path, "a")
    g.close_all()
    holder = sqlite3.connect(tmp_path / "graph.sqlite", isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("UPDATE meta SET value=value")
    holder.execute("COMMIT")
    try:
        start = time.perf_counter()
        with pytest.raises(StoreError, match="locked"):
            ExperimentGraph(tmp_path, busy_seconds=0.3)
        assert time.perf_counter() - start < 5
    finally:
        holder.close()


# -- failed and abandoned writes ------------------------------------------------------------------

def test_a_failed_write_is_undone_and_gives_back_only_its_own_blobs(tmp_path):
    g = _graph(tmp_path, "a", "b")
    _store(g, "a", {"shared": 10, "a-only": 5})
    g.begin_write("b", {"shared": 10, "b-only": 7, "m:b": 0})
    assert g.artifact("b").state == WRITING
    assert sorted(g.abort_write("b")) == ["b-only", "m:b"]
    assert g.artifact("b").state == NOT_STORED and g.artifact("a").state == MATERIALIZED
    assert g.query("SELECT * FROM writes") == []
    assert g.abort_write("a") == []  # a stored artifact is not touched


def test_abandoned_writes_are_undone_and_live_ones_left(tmp_path):
    g = _graph(tmp_path, "dead", "live", "old", "unclaimed")
    for aid in ("dead", "live", "old", "unclaimed"):
        g.begin_write(aid, {f"{aid}-blob": 1})
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    _sql(g, "UPDATE writes SET pid=? WHERE artifact_id='dead'", (int(finished.stdout),))  # a process that ended
    _sql(g, "UPDATE writes SET host='elsewhere', started=? WHERE artifact_id='old'", (time.time() - 7 * 3600,))
    _sql(g, "DELETE FROM writes WHERE artifact_id='unclaimed'")
    assert sorted(upkeep.abandoned_writes(g)) == ["dead", "old", "unclaimed"]
    done = upkeep.repair(g)
    assert done["abandoned_writes"] == 3 and sorted(done["orphans"]) == ["dead-blob", "old-blob", "unclaimed-blob"]
    assert g.artifact("live").state == WRITING  # this process is alive: its write goes on
    assert {a.id for a in g.all_artifacts() if a.state == WRITING} == {"live"}


def test_repair_removes_malformed_rows_and_what_only_they_used(tmp_path):
    g = _graph(tmp_path, "good", "bad", "bad-blob-user")
    _store(g, "good", {"g": 1})
    _store(g, "bad", {"b": 2})
    _store(g, "bad-blob-user", {"x": 3})
    _sql(g, "UPDATE artifacts SET size='abc' WHERE id='bad'")
    _sql(g, "UPDATE blobs SET size='big' WHERE key='x'")
    _sql(g, "UPDATE meta SET value='lots' WHERE key='budget'")
    _sql(g.journal(create=True), "INSERT INTO events(time, report) VALUES(1, 'not json')")
    _sql(g, "INSERT INTO counters VALUES('weird', 'x')")
    done = upkeep.repair(g, default_budget=5_000)
    assert sorted(done["orphans"]) == ["b", "x"]
    assert done["malformed_rows"] >= 5
    assert [a.id for a in g.all_artifacts()] == ["good", "bad-blob-user"]
    assert g.artifact("bad-blob-user").state == NOT_STORED  # its size is unknown: never served
    assert g.budget() == 5_000 and g.used_bytes() == 1
    assert upkeep.repair(g, default_budget=5_000)["malformed_rows"] == 0


# -- growth ---------------------------------------------------------------------------------------

def test_events_are_pruned_by_count_and_age_as_they_are_written(tmp_path, monkeypatch):
    monkeypatch.setattr(journal, "EVENTS_MAX_ROWS", 30)
    monkeypatch.setattr(journal, "PRUNE_EVENTS_EVERY", 10)
    g = ExperimentGraph(tmp_path)
    for i in range(100):
        g.record_cell([], "u", {"kernel_id": "k", "cell_id": str(i), "totals": {}})
    kept = g.events(limit=1000)
    assert 30 <= len(kept) <= 40 and kept[-1]["cell_id"] == "99"
    _sql(g.journal(), "UPDATE events SET time=?", (time.time() - 31 * 86400,))
    assert upkeep.prune(g)["events"] == len(kept)


def test_prune_drops_unused_vertices_but_keeps_what_stored_ones_need(tmp_path):
    g = _graph(tmp_path, "raw", "mid", "stored", "unrelated", "recent",
               inputs={"mid": ["raw"], "stored": ["mid"]})
    _store(g, "stored", {"s": 1})
    old = time.time() - 31 * 86400
    _sql(g, "UPDATE artifacts SET last_used=? WHERE id<>'recent'", (old,))
    g.record_cell([], "u", None, quiet_ops=[("unrelated", "DataFrame", 0.1)])
    done = upkeep.prune(g)
    assert done["vertices"] == 1
    assert sorted(a.id for a in g.all_artifacts()) == ["mid", "raw", "recent", "stored"]  # lineage kept
    assert g.quiet_since(0)[0] == {}  # the pruned vertex's knowledge went with it
    assert not upkeep.due(g)  # just pruned: not again within the hour
    assert upkeep.at_start(g)["pruned"] is None


def test_file_digests_are_capped(tmp_path, monkeypatch):
    monkeypatch.setattr(upkeep, "FILES_MAX_ROWS", 5)
    g = ExperimentGraph(tmp_path)
    for i in range(12):
        g.remember_file(f"f{i}", f"d{i}")
    assert upkeep.prune(g)["files"] == 7
    assert g.file_digest("f11") == "d11" and g.file_digest("f0") is None


def test_sizes_of_blobs_no_artifact_uses_leave_the_account(tmp_path):
    g = _graph(tmp_path, "a")
    _store(g, "a", {"k": 100})
    _sql(g, "DELETE FROM artifact_blobs")
    assert g.used_bytes() == 100
    upkeep.prune(g)
    assert g.used_bytes() == 0


def test_the_process_check_sees_a_finished_process_as_gone():
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    assert claims.process_alive(os.getpid()) and not claims.process_alive(finished.pid)
