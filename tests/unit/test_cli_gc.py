"""``collab-reuse gc``: repairs what faults leave in a store, and says clearly when it can't."""
import sqlite3

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
