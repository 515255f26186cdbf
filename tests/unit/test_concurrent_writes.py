"""Kernels of one user write one namespace: what one unclaims and deletes, another may claim and keep at
the same moment. Each interleaving below left an artifact marked stored without its files before
(seen as "m:<id>" missing in the hub's load test): the deletes now happen under the graph's write lock,
re-checked (``ExperimentGraph.delete_unclaimed``), and an artifact another live process writes is left
to it (``begin_write``, ``finish_write``, ``abort_write``)."""

import subprocess
import sys

import numpy as np
import pytest

from collab_reuse.errors import CorruptArtifact
from collab_reuse.graph import MATERIALIZED, NOT_STORED, WRITING, ExperimentGraph, VertexUpdate
from collab_reuse.graph.storedir import open_store_dir
from collab_reuse.kernel import store_writes
from collab_reuse.kernel.store_writes import Offer
from collab_reuse.store import open_artifacts

N = 20_000


@pytest.fixture()
def kernels(tmp_path):
    """Two kernels' handles on one store (graph, artifact store), "arr" stored by the first."""
    store_dir = tmp_path / "store"
    open_store_dir(store_dir)
    first = ExperimentGraph(store_dir, budget_bytes=10**8)
    first.record_cell([VertexUpdate("arr", "np.arange", "array")], "u", None)
    store = open_artifacts(store_dir)
    assert store_writes._write(first, store, Offer("arr", store.encode(np.arange(N)), {})) is not None
    second = ExperimentGraph(store_dir)
    yield (first, store), (second, open_artifacts(store_dir))
    first.close_all()
    second.close_all()


def test_blobs_evicted_by_one_kernel_and_stored_again_by_another_meanwhile_are_kept(kernels):
    (graph, store), (other, other_store) = kernels
    orphans = graph.unmaterialize(["arr"], evicted=True)  # the first evicts it; its deletes come next
    assert orphans
    # the second stores it again in between, finding the blobs still there (it writes only the row)
    again = store_writes._write(other, other_store, Offer("arr", other_store.encode(np.arange(N)), {}))
    assert again is not None and again.bytes_written < N * 8
    assert graph.delete_unclaimed(orphans, store.blobs.delete) == []
    assert other.artifact("arr").state == MATERIALIZED
    value, _, _ = store.get("arr")
    assert (value == np.arange(N)).all()
    for key in orphans:  # (what deleting them outside the lock, as before, did)
        store.blobs.delete(key)
    with pytest.raises((KeyError, CorruptArtifact)):
        store.get("arr")


def test_blobs_no_artifact_claims_any_more_are_deleted(kernels):
    (graph, store), _ = kernels
    orphans = graph.unmaterialize(["arr"], evicted=True)
    assert sorted(graph.delete_unclaimed(orphans + orphans, store.blobs.delete)) == sorted(orphans)
    assert list(store.blobs.keys()) == []


def test_an_artifact_another_live_process_writes_is_left_to_it(tmp_path):
    graph = ExperimentGraph(tmp_path, budget_bytes=10**6)
    graph.record_cell([VertexUpdate("x", "op", "dataframe")], "u", None)
    writer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        assert graph.begin_write("x", {"k": 1})
        with graph.transaction() as db:  # (the claim is the other process's)
            db.execute("UPDATE writes SET pid=? WHERE artifact_id='x'", (writer.pid,))
        assert not graph.begin_write("x", {"k": 1, "k2": 2})
        assert graph.abort_write("x") == []  # its failure here would undo the other's claim
        assert not graph.finish_write("x", {"k": 1})
        assert graph.artifact("x").state == WRITING
        assert graph.query("SELECT key FROM artifact_blobs") == [("k",)]
    finally:
        writer.kill()
        writer.wait()
    assert graph.begin_write("x", {"k": 1})  # its writer is gone: the write is taken over
    assert graph.finish_write("x", {"k": 1}) and graph.artifact("x").state == MATERIALIZED
    assert not graph.begin_write("x", {"k": 1})  # stored: nothing to write


def test_a_write_whose_claim_was_undone_meanwhile_is_not_marked_stored(kernels):
    """(``clear`` while the write ran: its blobs are deleted, the artifact stays unstored.)"""
    (graph, store), (other, other_store) = kernels
    other.clear()
    for key in list(store.blobs.keys()):
        store.blobs.delete(key)
    other.record_cell([VertexUpdate("arr", "np.arange", "array")], "u", None)
    put = other_store.put

    def put_then_cleared(*args, **kwargs):
        written = put(*args, **kwargs)
        graph.clear()  # (another kernel's %reuse clear --yes)
        return written

    other_store.put = put_then_cleared
    assert store_writes._write(other, other_store, Offer("arr", other_store.encode(np.arange(N)), {})) is None
    assert other.materialized_ids() == set()
    assert list(store.blobs.keys()) == []


def test_a_failed_write_undoes_only_its_own_claim(kernels):
    (graph, store), _ = kernels
    graph.record_cell([VertexUpdate("y", "op", "array")], "u", None)

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    store.put = full_disk
    with pytest.raises(OSError):
        store_writes._write(graph, store, Offer("y", store.encode(np.arange(N) * 2), {}))
    assert graph.artifact("y").state == NOT_STORED and graph.artifact("arr").state == MATERIALIZED
    value, _, _ = store.get("arr")
    assert (value == np.arange(N)).all()


def _open_at(store_dir, start, results):
    import time

    while time.time() < start:
        pass
    try:
        ExperimentGraph(store_dir).close()
        results.put("opened")
    except Exception as exc:  # (what the kernel would report: "collab_reuse stopped reusing")
        results.put(repr(exc))


def test_kernels_that_open_a_new_store_at_the_same_moment_all_open_it(tmp_path):
    """Making a new graph file WAL is answered "database is locked" at once, without SQLite's busy
    handler, while another process does the same: a team starting kernels together on a new store lost
    collab_reuse in some of them (8 of 120 such opens before the fix; found by test_equivalence's two
    kernels on one store)."""
    import multiprocessing
    import time

    ctx = multiprocessing.get_context("fork")
    outcomes = []
    for trial in range(15):
        results = ctx.Queue()
        start = time.time() + 0.3
        procs = [ctx.Process(target=_open_at, args=(tmp_path / f"store{trial}", start, results)) for _ in range(4)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        outcomes += [results.get(timeout=10) for _ in procs]
    assert outcomes == ["opened"] * 60, sorted(set(outcomes))
