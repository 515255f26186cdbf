"""Who saved time by whose work (issue 17): loads attributed to the writer the OS vouches for, recorded in
the cell's own transaction, summed per user in the store's summary and ``collab-reuse stats``."""
from __future__ import annotations

import json
import os
import pwd
import sqlite3

import numpy as np
import pytest

from collab_reuse import cli
from collab_reuse.graph import ExperimentGraph, VertexUpdate
from collab_reuse.graph import attribution, upkeep
from collab_reuse.graph.storedir import open_store_dir
from collab_reuse.kernel import cell_record
from collab_reuse.kernel.cell_record import CellRun
from collab_reuse.store import ArtifactStore, MemoryBlobs, Writer
from collab_reuse.tracing.steps import COMPUTED, REUSED, Step


def _report(user, saved=0.0, reused=0, computed=0):
    return {"kernel_id": f"k-{user}", "user": user, "cell_id": "c", "execution_count": 1,
            "totals": {"reused": reused, "computed": computed, "saved_seconds": saved}, "steps": []}


def _team_graph(store):
    """alice computes and stores two artifacts; bob loads both (30.1 s saved) and one of his own (11.1 s)."""
    open_store_dir(store)
    g = ExperimentGraph(store, budget_bytes=10**6)
    g.record_cell([VertexUpdate("agg", "DataFrame.groupby", "dataframe", [], 20.0),
                   VertexUpdate("fit", "RandomForestClassifier.fit", "model", [], 12.0)],
                  "alice", _report("alice", computed=2))
    for aid, blobs in (("agg", {"k-agg": 4000}), ("fit", {"k-fit": 6000})):
        g.begin_write(aid, blobs)
        g.finish_write(aid, blobs, "alice")
    g.record_cell([VertexUpdate("mine", "DataFrame.merge", "dataframe", [], 11.2)], "bob", _report("bob", computed=1))
    g.begin_write("mine", {"k-mine": 500})
    g.finish_write("mine", {"k-mine": 500}, "bob")
    g.record_cell([VertexUpdate("agg", "DataFrame.groupby", "dataframe", reused=True, computed=False),
                   VertexUpdate("fit", "RandomForestClassifier.fit", "model", reused=True, computed=False),
                   VertexUpdate("mine", "DataFrame.merge", "dataframe", reused=True, computed=False)],
                  "bob", _report("bob", 41.2, reused=3), reuse=[("alice", 2, 30.1), ("bob", 1, 11.1)])
    return g


def test_the_summary_says_who_saved_what_by_whose_artifacts(tmp_path):
    g = _team_graph(tmp_path / "store")
    summary = g.summary()
    assert summary["saved_seconds"] == pytest.approx(41.2)
    bob, alice = summary["per_user"]  # most time saved first
    assert bob["user"] == "bob" and bob["saved_seconds"] == pytest.approx(41.2) and bob["loads"] == 3
    assert [(s["writer"], s["loads"], round(s["saved_seconds"], 1)) for s in bob["saved_by"]] == \
        [("alice", 2, 30.1), ("bob", 1, 11.1)]
    assert (bob["artifacts_stored"], bob["bytes_stored"], bob["saved_others_seconds"]) == (1, 500, 0.0)
    assert alice["user"] == "alice" and alice["saved_seconds"] == 0.0 and alice["saved_by"] == []
    assert (alice["artifacts_stored"], alice["bytes_stored"], alice["artifacts_written"]) == (2, 10_000, 2)
    assert alice["saved_others_seconds"] == pytest.approx(30.1)
    line = attribution.phrase(attribution.UserFigures.from_json(bob))
    assert line.startswith("bob saved 41.2 s in 3 loads, 30.1 s of it by alice's artifacts, 11.1 s by their own")
    assert "their artifacts saved others 30.1 s" in attribution.phrase(attribution.UserFigures.from_json(alice))


def test_loads_add_up_across_cells_and_an_eviction_keeps_the_authorship(tmp_path):
    g = _team_graph(tmp_path / "store")
    g.record_cell([VertexUpdate("agg", "DataFrame.groupby", "dataframe", reused=True, computed=False)], "bob",
                  _report("bob", 19.9, reused=1), reuse=[("alice", 1, 19.9)])
    g.unmaterialize(["fit"], evicted=True)
    bob, alice = g.summary()["per_user"]
    assert bob["saved_by"][0] == {"writer": "alice", "loads": 3, "saved_seconds": pytest.approx(50.0)}
    assert (alice["artifacts_stored"], alice["bytes_stored"], alice["artifacts_written"]) == (1, 4000, 2)
    assert "stored 1 artifacts (4.0 KB), 1 more since evicted" in attribution.phrase(
        attribution.UserFigures.from_json(alice))


def test_malformed_rows_are_skipped_and_removed_and_clear_forgets_them(tmp_path):
    g = _team_graph(tmp_path / "store")
    db = sqlite3.connect(g.path, isolation_level=None)
    db.execute("INSERT INTO reuse VALUES('carol', 'alice', 'many', 1.0)")
    db.execute("INSERT INTO reuse VALUES('dave', 'alice', 1, -5)")
    db.execute("INSERT INTO authors VALUES('agg2', x'07', 0)")  # (a blob: TEXT affinity keeps it)
    db.close()
    assert [f["user"] for f in g.summary()["per_user"]] == ["bob", "alice"]
    upkeep.remove_malformed(g)
    assert g.query("SELECT COUNT(*) FROM reuse")[0][0] == 2 and g.query("SELECT COUNT(*) FROM authors")[0][0] == 3
    g.clear()
    assert g.summary()["per_user"] == []


def test_an_existing_store_gets_the_new_tables(tmp_path):
    g = _team_graph(tmp_path / "store")
    g.close_all()
    db = sqlite3.connect(tmp_path / "store" / "graph.sqlite", isolation_level=None)
    db.execute("DROP TABLE reuse")
    db.execute("DROP TABLE authors")  # as a store made before them
    db.close()
    g = ExperimentGraph(tmp_path / "store", create=False)
    assert g.summary()["per_user"] == []
    g.record_cell([], "bob", None, reuse=[("alice", 1, 2.0)])
    assert g.summary()["per_user"][0]["saved_by"] == [{"writer": "alice", "loads": 1, "saved_seconds": 2.0}]


def test_a_cell_s_loads_and_reused_steps_are_summed_by_writer():
    cell = CellRun("c", 1)
    cell.loaded("alice")
    cell.loaded("alice")
    cell.loaded("bob")  # (a warm start: a load that reports no reused step)
    cell.saved("alice", 3.0)
    cell.saved("alice", 0.5)
    assert cell_record.reuse(cell) == [("alice", 2, 3.5), ("bob", 1, 0.0)]


class _Namespaced(MemoryBlobs):
    """Rows found in the namespace of ``owner`` (what NamespacedBlobs says the OS vouches for)."""

    def __init__(self, owner):
        super().__init__()
        self.owner = owner

    def owned_rows(self, name):
        for data, _ in super().owned_rows(name):
            yield data, self.owner


def _another_account():
    me = os.geteuid()
    for entry in pwd.getpwall():
        if entry.pw_uid != me:
            return entry
    pytest.skip("no second account in the password database")


def test_a_load_is_attributed_to_the_namespace_owner_never_to_the_name_a_row_gives():
    other = _another_account()
    blobs = _Namespaced(other.pw_uid)
    writer = ArtifactStore(blobs, user="mallory")
    writer.writer = Writer(other.pw_uid, "alice")  # the row names the right uid and a name of its choosing
    writer.put("x", writer.encode(np.arange(4)))
    reader = ArtifactStore(blobs, user="bob")
    got = reader.fetch("x")
    assert got.value.tolist() == [0, 1, 2, 3] and got.nbytes > 0
    assert got.author == other.pw_name != "alice"
    assert reader.manifest("x")["writer"].user == "alice"  # (what the row says, kept apart)
    own = _Namespaced(os.geteuid())
    mine = ArtifactStore(own, user="bob")
    mine.put("y", mine.encode(np.arange(2)))
    assert mine.fetch("y").author == "bob"  # one's own namespace: one's own name


def test_a_store_of_one_user_vouches_for_no_namespace():
    store = ArtifactStore(MemoryBlobs(), user="alice")
    store.put("x", store.encode(np.arange(3)))
    assert store.fetch("x").author is None  # the session attributes it to its own user
    value, extra, nbytes = store.get("x")
    assert value.tolist() == [0, 1, 2] and extra == {} and nbytes > 0


def _summary_store(tmp_path):
    store = tmp_path / "store"
    _team_graph(store).close_all()
    return store


def test_stats_prints_time_saved_per_user_by_whose_artifacts(tmp_path, capsys):
    store = _summary_store(tmp_path)
    assert cli.main(["--store", str(store), "stats"]) == 0
    out = capsys.readouterr().out
    assert "per user (time saved by whose artifacts, what each stored):" in out
    lines = [line.strip() for line in out.splitlines()]
    assert "bob saved 41.2 s in 3 loads, 30.1 s of it by alice's artifacts, 11.1 s by their own; stored 1 " \
           "artifacts (500 B)" in lines, out
    assert "alice saved 0.0 s in 0 loads; stored 2 artifacts (10.0 KB); their artifacts saved others 30.1 s" \
        in lines, out
    assert cli.main(["--store", str(store), "stats", "--json"]) == 0
    per_user = json.loads(capsys.readouterr().out)["per_user"]
    assert [(f["user"], [s["writer"] for s in f["saved_by"]]) for f in per_user] == \
        [("bob", ["alice", "bob"]), ("alice", [])]
