"""Each user's journal (cell reports, call summaries) is kept apart from the shared Experiment Graph:
graph/journal.py. (Who can read it, with real Unix users: tests/security/test_team_store.py.)"""

import os
import sqlite3
import stat

from collab_reuse import team as teams
from collab_reuse.graph import ExperimentGraph, PlaceRun, VertexUpdate
from collab_reuse.graph.journal import JOURNAL_FILE, journal_path, readable_journal_paths

SECRET = "pd.read_csv('/home/alice/secret-plans.csv')"


def _record(graph: ExperimentGraph) -> int | None:
    report = {"kernel_id": "k1", "cell_id": "c1", "code": SECRET, "steps": [], "totals": {"reused": 0}}
    place = PlaceRun("u\x1fc1\x1fread_csv\x1f0", "id1", "pandas.read_csv", 1,
                     {"params": {"path": "/home/alice/secret-plans.csv"}, "inputs": []})
    return graph.record_cell([VertexUpdate("id1", "pandas.read_csv", "dataframe", [], 1.0)], "u", report,
                             places=[place])


def _tables(path) -> set[str]:
    db = sqlite3.connect(path)
    try:
        return {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        db.close()


def test_reports_and_call_summaries_are_in_the_journal_not_in_the_graph(tmp_path):
    graph = ExperimentGraph(tmp_path / "store")
    assert graph.journal() is None and graph.events() == []  # (nothing recorded yet: no file made)
    seq = _record(graph)
    assert seq == 1 and (tmp_path / "store" / JOURNAL_FILE).exists()
    assert [e["code"] for e in graph.events(kernel_id="k1")] == [SECRET]
    assert list(graph.place_runs(["u\x1fc1\x1fread_csv\x1f0"])) == ["u\x1fc1\x1fread_csv\x1f0"]
    assert graph.artifact("id1") is not None  # (the vertex is the graph's)
    graph.close_all()
    assert not {"events", "places"} & _tables(tmp_path / "store" / "graph.sqlite")
    text = b"".join(p.read_bytes() for p in (tmp_path / "store").glob("graph.sqlite*"))
    assert b"secret-plans" not in text


def test_an_older_graphs_reports_are_dropped_when_it_is_opened(tmp_path):
    store = tmp_path / "store"
    ExperimentGraph(store).close_all()
    db = sqlite3.connect(store / "graph.sqlite", isolation_level=None)
    db.execute("CREATE TABLE events(seq INTEGER PRIMARY KEY, time REAL, kernel_id TEXT, user TEXT, cell_id TEXT,"
               " execution_count INTEGER, report TEXT)")
    db.execute("CREATE TABLE places(place TEXT PRIMARY KEY, summary TEXT)")
    db.execute("INSERT INTO events VALUES(1, 1.0, 'k', 'alice', 'c', 1, ?)", (f'{{"code": "{SECRET}"}}',))
    db.close()
    ExperimentGraph(store, create=False).close_all()
    assert not {"events", "places"} & _tables(store / "graph.sqlite")


def test_in_a_team_store_the_journal_is_in_a_directory_of_the_users_own(tmp_path):
    store = tmp_path / "team"
    store.mkdir()
    os.chmod(store, teams.TEAM_STORE_MODE)  # (root's group: a team store of root)
    assert teams.team_of(store) is not None
    graph = ExperimentGraph(store)
    _record(graph)
    path = journal_path(store)
    assert path == store / teams.JOURNALS / str(os.geteuid()) / JOURNAL_FILE and path.exists()
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == teams.CONFIDENTIAL_MODE
    assert readable_journal_paths(store) == [path]
    assert [e["cell_id"] for e in graph.events()] == ["c1"]
    assert not (store / JOURNAL_FILE).exists()


def test_clearing_the_store_clears_the_users_journal(tmp_path):
    graph = ExperimentGraph(tmp_path / "store")
    _record(graph)
    graph.clear()
    assert graph.events() == [] and graph.place_runs(["u\x1fc1\x1fread_csv\x1f0"]) == {}


def test_a_journal_file_another_process_just_made_is_completed_not_failed(tmp_path):
    """(Two kernels of one user on a store: one made the file, its tables not yet; the other's lookups
    must not fail with "no such table", which stopped its reuse.)"""
    store = tmp_path / "store"
    graph = ExperimentGraph(store)
    sqlite3.connect(store / JOURNAL_FILE).close()  # (an empty database file: tables not made yet)
    assert graph.place_runs(["u\x1fc1\x1fread_csv\x1f0"]) == {} and graph.events() == []
    _record(graph)
    assert [e["cell_id"] for e in graph.events()] == ["c1"]
