"""The Experiment Graph on SQLite: shared by processes, nothing lost, blobs accounted once."""

import multiprocessing as mp

from collab_reuse.graph import MATERIALIZED, ExperimentGraph, VertexUpdate


def _writer(store_dir, name, n):
    g = ExperimentGraph(store_dir)
    for i in range(n):
        g.record_cell([VertexUpdate(f"{name}-{i}", "op", "dataframe", [], 0.01), VertexUpdate("shared", "op", "other")],
                      name, {"kernel_id": name, "totals": {"computed": 1}})


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    ExperimentGraph(tmp_path)
    procs = [mp.get_context("spawn").Process(target=_writer, args=(str(tmp_path), f"k{j}", 40)) for j in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    g = ExperimentGraph(tmp_path)
    assert g.summary()["artifacts"] == 81
    assert len(g.events(kernel_id="k0")) == 40 and len(g.events(kernel_id="k1")) == 40
    assert g.artifact("shared").frequency == 80
    assert g.summary()["users"] == ["k0", "k1"]


def test_shared_blobs_are_deleted_only_with_their_last_artifact(tmp_path):
    g = ExperimentGraph(tmp_path, budget_bytes=10**6)
    g.record_cell([VertexUpdate("a", "op", "dataframe"), VertexUpdate("b", "op", "dataframe")], "u", None)
    for aid, blobs in (("a", {"col1": 10, "col2": 20}), ("b", {"col2": 20, "col3": 30})):
        g.begin_write(aid, blobs)
        g.finish_write(aid, blobs)
    assert g.used_bytes() == 60
    assert g.artifact("a").state == MATERIALIZED
    assert g.unmaterialize(["a"]) == ["col1"]
    assert g.used_bytes() == 50
    assert sorted(g.unmaterialize(["b"])) == ["col2", "col3"]
    assert g.used_bytes() == 0


def test_compute_time_is_a_running_mean(tmp_path):
    g = ExperimentGraph(tmp_path)
    for secs in (1.0, 3.0):
        g.record_cell([VertexUpdate("a", "fit", "model", [], secs)], "u", None)
    assert g.artifact("a").compute_seconds == 2.0


def test_events_page_by_sequence(tmp_path):
    g = ExperimentGraph(tmp_path)
    for i in range(5):
        g.record_cell([], "u", {"kernel_id": "k", "cell_id": f"c{i}", "totals": {}})
    first = g.events(kernel_id="k", limit=2)
    rest = g.events(kernel_id="k", since=first[-1]["seq"])
    assert [e["cell_id"] for e in first + rest] == [f"c{i}" for i in range(5)]


def test_load_throughput_counts_the_loads_a_kernel_has_not_recorded_yet(tmp_path):
    from collab_reuse.graph import load_counters

    g = ExperimentGraph(tmp_path)
    assert g.load_throughput() == (1 / 300e6, 0.002)  # nothing measured yet: a modest disk
    g.record_load(100_000_000, 0.25)
    g.record_load(200_000_000, 0.45)
    unrecorded = {}
    for nbytes, seconds in ((100_000_000, 0.35), (10, 0.004), (20, 0.004), (30, 0.004)):
        for name, amount in load_counters(nbytes, seconds).items():
            unrecorded[name] = unrecorded.get(name, 0) + amount
    assert g.load_throughput() == (1 / 300e6, 0.002)  # two large loads are not a measurement yet
    per_byte, fixed = g.load_throughput(unrecorded)
    assert fixed == 0.004  # the small loads measure the fixed cost
    assert abs(per_byte - (1.05 - 3 * 0.004) / 400_000_000) < 1e-15


def test_the_version_changes_with_every_commit_by_any_connection_and_only_then(tmp_path):
    """A kernel skips its per-cell refresh while the version is the one it last read: it must change
    when another process, another thread or this very connection commits, and stay put on reads."""
    import threading

    g = ExperimentGraph(tmp_path)
    first = g.version()
    assert g.stored_since(0) == (set(), 0) and g.budget() == 0
    assert g.version() == first  # reads change nothing
    g.set_budget(1 << 20)  # this thread's own connection
    mine = g.version()
    assert mine != first
    other = ExperimentGraph(tmp_path)  # another connection (another kernel's)
    other.record_cell([VertexUpdate("v", "op", "dataframe", [], 0.01)], "u", {"kernel_id": "k", "totals": {}})
    theirs = g.version()
    assert theirs != mine
    thread = threading.Thread(target=lambda: g.set_budget(2 << 20))  # the kernel's writer thread
    thread.start()
    thread.join()
    assert g.version() != theirs and g.budget() == 2 << 20
