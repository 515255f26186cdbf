"""``collab-reuse gc``: repairs what faults leave in a store, and says clearly when it can't."""
import sqlite3

import numpy as np

from collab_reuse import cli
from collab_reuse.graph import WRITING, ExperimentGraph, VertexUpdate
from collab_reuse.graph.storedir import open_store_dir
from collab_reuse.store import DiskcacheBlobs


def _store(tmp_path):
    store = tmp_path / "store"
    open_store_dir(store)
    graph = ExperimentGraph(store, budget_bytes=10**6)
    graph.record_cell([VertexUpdate("kept", "op", "dataframe"), VertexUpdate("cut", "op", "dataframe")], "u", None)
    blobs = DiskcacheBlobs(store / "blobs")
    blobs.put("kept-blob", b"x" * 100)
    graph.begin_write("kept", {"kept-blob": 100})
    graph.finish_write("kept", {"kept-blob": 100})
    blobs.put("cut-blob", b"y" * 50)  # a write whose process died before it finished
    graph.begin_write("cut", {"cut-blob": 50})
    db = sqlite3.connect(graph.path, isolation_level=None)
    db.execute("UPDATE writes SET pid=999999999")
    db.close()
    blobs.put("stray", b"z" * 10)  # a blob nothing references
    blobs.close()
    graph.close_all()
    return store


def test_gc_undoes_a_dead_writer_s_write_and_deletes_what_nothing_uses(tmp_path, capsys):
    store = _store(tmp_path)
    assert cli.main(["--store", str(store), "gc"]) == 0
    out = capsys.readouterr().out
    assert "undid 1 abandoned writes" in out and "deleted 2 unreferenced blobs" in out
    graph = ExperimentGraph(store, create=False)
    assert graph.artifact("cut").state != WRITING and graph.materialized_ids() == {"kept"}
    blobs = DiskcacheBlobs(store / "blobs")
    assert sorted(blobs.keys()) == ["kept-blob"]
    blobs.close()


def test_gc_on_a_missing_or_broken_store_says_so(tmp_path, capsys):
    assert cli.main(["--store", str(tmp_path / "absent"), "gc"]) == 1
    assert "no store" in capsys.readouterr().err and not (tmp_path / "absent").exists()
    store = _store(tmp_path)
    (store / "graph.sqlite").write_bytes(b"not a database" * 100)
    for name in ("graph.sqlite-wal", "graph.sqlite-shm"):
        (store / name).unlink(missing_ok=True)
    assert cli.main(["--store", str(store), "gc"]) == 1
    assert "move the store directory aside" in capsys.readouterr().err


def _aged_store(tmp_path):
    """Stored: ``raw`` (used 90 days ago, an input of ``features``), ``features`` (used now), ``old``
    (used 90 days ago, nothing made from it)."""
    store = tmp_path / "store"
    open_store_dir(store)
    graph = ExperimentGraph(store, budget_bytes=10**6)
    graph.record_cell([VertexUpdate("raw", "pandas.read_csv", "dataframe"),
                       VertexUpdate("features", "DataFrame.merge", "dataframe", ["raw"]),
                       VertexUpdate("old", "DataFrame.corr", "dataframe")], "alice", None)
    blobs = DiskcacheBlobs(store / "blobs")
    for aid in ("raw", "features", "old"):
        blobs.put(f"{aid}-blob", aid.encode() * 100)
        graph.begin_write(aid, {f"{aid}-blob": 100 * len(aid)})
        graph.finish_write(aid, {f"{aid}-blob": 100 * len(aid)})
    blobs.close()
    db = sqlite3.connect(graph.path, isolation_level=None)
    db.execute("UPDATE artifacts SET last_used = last_used - 90 * 86400 WHERE id IN ('raw', 'old')")
    db.close()
    graph.close_all()
    return store


def test_gc_dry_run_lists_what_no_recent_workload_reaches_and_why_and_changes_nothing(tmp_path, capsys):
    store = _aged_store(tmp_path)
    assert cli.main(["--store", str(store), "gc", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "remove 1 stored artifacts" in out
    (line,) = [x for x in out.splitlines() if "DataFrame.corr" in x]
    assert "last used 90 days ago by alice" in line and "no workload of the last 30 days reaches it" in line
    assert "read_csv" not in out  # old, but an input of what was used now: a re-run after an edit loads it
    assert ExperimentGraph(store, create=False).materialized_ids() == {"raw", "features", "old"}


def test_gc_removes_what_no_recent_workload_reaches(tmp_path, capsys):
    store = _aged_store(tmp_path)
    assert cli.main(["--store", str(store), "gc", "--unused-days", "100"]) == 0
    assert "removed 0 artifacts no workload of the last 100 days reaches" in capsys.readouterr().out
    assert cli.main(["--store", str(store), "gc"]) == 0
    assert "removed 1 artifacts no workload of the last 30 days reaches" in capsys.readouterr().out
    assert ExperimentGraph(store, create=False).materialized_ids() == {"raw", "features"}
    blobs = DiskcacheBlobs(store / "blobs")
    assert sorted(blobs.keys()) == ["features-blob", "raw-blob"]
    blobs.close()


def test_gc_refuses_a_number_of_days_that_is_not_positive(tmp_path, capsys):
    store = _aged_store(tmp_path)
    for bad in ("-3", "0", "soon", "inf"):
        try:
            cli.main(["--store", str(store), "gc", "--unused-days", bad])
        except SystemExit as exc:
            assert exc.code == 2
        else:
            raise AssertionError(f"--unused-days {bad} was accepted")
        assert "days" in capsys.readouterr().err
    assert ExperimentGraph(store, create=False).materialized_ids() == {"raw", "features", "old"}


def _stored_array(tmp_path, n):
    """(store dir, graph, artifact store) of a store holding ``np.arange(n)`` as "arr", written as a
    kernel writes (``store_writes._write``)."""
    from collab_reuse.kernel import store_writes
    from collab_reuse.store import open_artifacts

    store_dir = tmp_path / "store"
    open_store_dir(store_dir)
    graph = ExperimentGraph(store_dir, budget_bytes=10**8)
    graph.record_cell([VertexUpdate("arr", "np.arange", "array")], "u", None)
    store = open_artifacts(store_dir)
    store_writes._write(graph, store, store_writes.Offer("arr", store.encode(np.arange(n)), {}))
    return store_dir, graph, store


def test_gc_keeps_every_blob_of_a_stored_artifact_its_manifest_body_included(tmp_path, capsys):
    """(gc once deleted each stored artifact's manifest body as unreferenced: nothing stored loaded
    after it.) Evicted, the artifact's blobs all go, its body too."""
    store_dir, graph, store = _stored_array(tmp_path, 50_000)
    before = sorted(store.blobs.keys())
    assert cli.main(["--store", str(store_dir), "gc"]) == 0
    assert "deleted 0 unreferenced blobs" in capsys.readouterr().out
    assert sorted(store.blobs.keys()) == before
    value, _, _ = store.get("arr")
    assert (value == np.arange(50_000)).all()
    for key in graph.unmaterialize(["arr"], evicted=True):
        store.blobs.delete(key)
    assert cli.main(["--store", str(store_dir), "gc"]) == 0
    assert list(store.blobs.keys()) == []


def test_gc_keeps_the_manifest_bodies_of_a_store_written_before_they_were_claimed(tmp_path, capsys):
    store_dir, graph, store = _stored_array(tmp_path, 1000)
    with graph.transaction() as db:  # (as an older collab_reuse left it: the body's key not the artifact's)
        db.execute("DELETE FROM artifact_blobs WHERE key=?", (store.body_key("arr"),))
    assert cli.main(["--store", str(store_dir), "gc"]) == 0
    value, _, _ = store.get("arr")
    assert (value == np.arange(1000)).all()
