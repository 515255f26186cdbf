"""The materializer reads only what it weighs (``graph/costs.py``), not the whole Experiment Graph: its
candidates and selection are those of the whole-graph pass it replaced (``_whole_graph``, kept here)."""

from __future__ import annotations

import json
import math
import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collab_reuse.graph import ExperimentGraph, costs
from collab_reuse.kernel import store_writes
from collab_reuse.kernel.store_writes import Offer
from collab_reuse.planner import materialize as plan
from collab_reuse.store.formats import Encoded


def _whole_graph(graph: ExperimentGraph, offers: list[Offer], min_saving: float) -> list[plan.Candidate]:
    """The candidates as ``store_writes.materialize`` made them before: from every vertex."""
    artifacts = {a.id: a for a in graph.all_artifacts()}
    stored = [a for a in artifacts.values() if a.state == 2]
    offered = {o.id: o for o in offers if o.id in artifacts and artifacts[o.id].state != 2}
    if not offered and not stored:
        return []
    parents = {a.id: a.inputs for a in artifacts.values()}
    compute = {a.id: a.compute_seconds for a in artifacts.values()}
    targets = [a.id for a in stored] + list(offered)
    recreation = {t: _exact_recreation(parents, compute, t) for t in targets}
    quality = {a.id: a.quality for a in artifacts.values() if a.quality is not None}
    potential = plan.model_potential(parents, quality) if quality else {}
    cands = []
    for aid in targets:
        info = artifacts[aid]
        blobs = ({k: len(v) for k, v in offered[aid].encoded.blobs.items()} if aid in offered
                 else graph.blob_sizes_of(aid))
        if blobs is None:
            continue
        blobs.setdefault(f"m:{aid}", 512)
        size = sum(blobs.values())
        load = store_writes.estimated_load_seconds(graph, size, info.load_seconds)
        saving = recreation.get(aid, info.compute_seconds) - load
        if aid in offered and saving < min_saving:
            continue
        cands.append(plan.Candidate(id=aid, size=size, recreation_cost=recreation.get(aid, info.compute_seconds),
                                    load_cost=load, frequency=max(info.frequency, 1),
                                    potential=float(potential.get(aid, 0.0) or 0.0),
                                    columns=tuple(sorted(blobs.items())), materialized=aid not in offered))
    return cands


def _exact_recreation(parents: dict[str, list[str]], compute: dict[str, float], target: str) -> float:
    """The target's compute seconds and every ancestor's, each once, summed exactly (``math.fsum``: in
    any order the same float, which is what lets the materializer keep a target's cost between passes)."""
    seen, stack = {target}, [target]
    while stack:
        for p in parents.get(stack.pop(), ()):
            if p not in seen:
                seen.add(p)
                stack.append(p)
    return math.fsum(compute.get(v, 0.0) for v in seen)


def _clipped(c: plan.Candidate) -> plan.Candidate:
    """The potential as the utility counts it (``utility_value`` clips it into [0, 1])."""
    return plan.Candidate(c.id, c.size, c.recreation_cost, c.load_cost, c.frequency,
                          min(max(c.potential, 0.0), 1.0), c.columns, c.materialized)


@st.composite
def graphs(draw):
    """A random Experiment Graph: vertices with up to five inputs among earlier ones (or unknown ids),
    scores (some negative, some above 1, most absent), stored ones with shared blobs, a few malformed
    rows, and offers of new and known ids."""
    n = draw(st.integers(1, 40))
    vertices = []
    for i in range(n):
        k = draw(st.integers(0, min(i, 5)))
        inputs = draw(st.lists(st.integers(0, i - 1), min_size=k, max_size=k)) if i else []
        names = [f"v{j}" for j in inputs] + (["ghost"] if draw(st.booleans()) and i % 7 == 3 else [])
        vertices.append({
            "id": f"v{i}", "inputs": names,
            "compute": draw(st.sampled_from([0.0, 0.001, 0.5, 1.0, 2.5, 7.0, 30.0])),
            "frequency": draw(st.integers(0, 5)),
            "quality": draw(st.one_of(st.none(), st.none(), st.sampled_from([-0.5, 0.0, 0.3, 0.7, 0.7, 0.9, 1.5]))),
            "state": draw(st.sampled_from([0, 0, 2])),
            "load": draw(st.one_of(st.none(), st.sampled_from([0.01, 0.2, 5.0]))),
            "blobs": draw(st.lists(st.sampled_from(["c1", "c2", "c3", "c4", "c5"]), max_size=3, unique=True)),
            "malformed": draw(st.integers(0, 19)) == 0,
        })
    offers = draw(st.lists(st.sampled_from([f"v{i}" for i in range(n)] + ["unknown"]), max_size=4))
    return vertices, offers, draw(st.integers(0, 40_000)), draw(st.sampled_from([0.0, 0.5]))


def _write(store_dir, vertices) -> ExperimentGraph:
    graph = ExperimentGraph(store_dir, budget_bytes=1)
    db = sqlite3.connect(graph.path, isolation_level=None)
    db.execute("DELETE FROM artifacts")
    db.execute("DELETE FROM artifact_blobs")
    db.execute("DELETE FROM blobs")
    for v in vertices:
        db.execute("INSERT INTO artifacts(id, op, kind, inputs, compute_seconds, frequency, quality, state,"
                   " load_seconds, created, last_used) VALUES(?,?,?,?,?,?,?,?,?,0,0)",
                   (v["id"], "op", "dataframe", "not json" if v["malformed"] else json.dumps(v["inputs"]),
                    v["compute"], v["frequency"], v["quality"], v["state"], v["load"]))
        if v["state"] == 2:
            for key in v["blobs"] + [f"m:{v['id']}"]:
                db.execute("INSERT INTO artifact_blobs VALUES(?, ?)", (v["id"], key))
                db.execute("INSERT OR IGNORE INTO blobs VALUES(?, ?)", (key, 300 if key.startswith("m:") else 4000))
    db.close()
    return graph


def _offers(ids: list[str]) -> list[Offer]:
    return [Offer(aid, Encoded({}, {"c2": b"x" * 4000, f"new-{aid}": b"y" * (100 + i)}), {})
            for i, aid in enumerate(ids)]


def _same(graph: ExperimentGraph, offers: list[Offer], min_saving: float, budget: int) -> None:
    before = _whole_graph(graph, offers, min_saving)
    after, _, _ = store_writes.weigh(graph, offers, min_saving)
    assert [_clipped(c) for c in after] == [_clipped(c) for c in before]
    for algorithm in ("heuristic", "storage_aware"):
        assert plan.select(after, budget, algorithm) == plan.select(before, budget, algorithm)


@pytest.mark.parametrize("first_budget", [costs.FIRST_BUDGET, 1])
def test_the_candidates_and_the_selection_are_the_whole_graph_passes(tmp_path_factory, monkeypatch, first_budget):
    """With a first budget of 1 vertex, most potentials come from the upward search."""
    monkeypatch.setattr(costs, "FIRST_BUDGET", first_budget)

    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(graphs())
    def check(drawn):
        vertices, offered, budget, min_saving = drawn
        graph = _write(tmp_path_factory.mktemp("eg"), vertices)
        try:
            _same(graph, _offers(offered), min_saving, budget)
        finally:
            graph.close_all()

    check()


def test_rows_added_or_deleted_between_materializations_are_seen(tmp_path):
    """``WideInputs`` (the rows with more than two inputs) is kept between calls: rows added later are
    read, and when the newest rows were deleted (their rowids given again) everything is read again."""
    chain = [{"id": f"v{i}", "inputs": [f"v{i - 1}"] if i > 1 else [], "compute": 1.0, "frequency": 1,
              "quality": None, "state": 2 if i in (0, 3) else 0, "load": 0.01, "blobs": ["c1"], "malformed": False}
             for i in range(6)]
    graph = _write(tmp_path, chain)
    db = sqlite3.connect(graph.path, isolation_level=None)
    try:
        _same(graph, [], 0.0, 10_000)

        def add(aid: str, inputs: list[str], quality: float) -> None:
            db.execute("INSERT INTO artifacts(id, op, kind, inputs, quality, created, last_used)"
                       " VALUES(?, 'fit', 'model', ?, ?, 0, 0)", (aid, json.dumps(inputs), quality))

        add("m1", ["v5", "v4", "v0"], 0.8)  # v0 (stored, a source) reaches it only as its third input
        _same(graph, [], 0.0, 10_000)
        assert [c.potential for c in store_writes.weigh(graph, [], 0.0)[0]] == [0.8, 0.8]
        db.execute("DELETE FROM artifacts WHERE id='m1'")
        add("m2", ["v5", "v4", "v0"], 0.6)  # m1's rowid again
        add("m3", ["v5", "v4", "v1"], 0.9)
        _same(graph, [], 0.0, 10_000)
        assert [c.potential for c in store_writes.weigh(graph, [], 0.0)[0]] == [0.6, 0.9]
    finally:
        db.close()
        graph.close_all()


@st.composite
def changes(draw, n: int):
    """Rows changed between two materializations, as any member's SQL may change them: vertices added
    (after or before the rows naming them), deleted, scored and rescored (up, down, malformed), retimed,
    rewired, made malformed or well formed again, stored or unstored."""
    ids = [f"v{i}" for i in range(n)] + ["ghost"]
    out = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["insert", "insert", "delete", "quality", "quality", "compute", "inputs",
                                     "malformed", "wellformed", "state", "id"]))
        aid = draw(st.sampled_from(ids))
        if kind == "insert":
            new = draw(st.sampled_from(["ghost", "w1", "w2", "w3"]))
            inputs = draw(st.lists(st.sampled_from(ids), max_size=4))
            out.append(("INSERT OR IGNORE INTO artifacts(id, op, kind, inputs, compute_seconds, quality, state,"
                        " created, last_used) VALUES(?, 'fit', 'model', ?, ?, ?, 0, 0, 0)",
                        # ("ghost" may be named as an input already: given none, it closes no cycle)
                        (new, json.dumps([] if new == "ghost" else inputs),
                         draw(st.sampled_from([0.0, 0.001, 2.5, 7.0])),
                         draw(st.one_of(st.none(), st.sampled_from([0.2, 0.85, 0.95, 1.2, -1.0]))))))
        elif kind == "delete":
            out.append(("DELETE FROM artifacts WHERE id=?", (aid,)))
        elif kind == "quality":
            out.append(("UPDATE artifacts SET quality=? WHERE id=?",
                        (draw(st.sampled_from([None, -0.5, 0.1, 0.6, 0.8, 0.99, 1.5, "bad"])), aid)))
        elif kind == "compute":
            out.append(("UPDATE artifacts SET compute_seconds=? WHERE id=?",
                        (draw(st.sampled_from([0.0, 0.003, 1.0, 12.5, -1.0, "x"])), aid)))
        elif kind == "inputs":
            inputs = draw(st.lists(st.sampled_from(ids), max_size=3))
            # (only edges to earlier vertices: a cycle is a graph no kernel writes)
            num = int(aid[1:]) if aid[1:].isdigit() else -1
            keep = [i for i in inputs if i[1:].isdigit() and int(i[1:]) < num]
            out.append(("UPDATE artifacts SET inputs=? WHERE id=?", (json.dumps(keep), aid)))
        elif kind == "malformed":
            column = draw(st.sampled_from(["size", "frequency", "inputs", "state", "op"]))
            out.append((f"UPDATE artifacts SET {column}=? WHERE id=?", (draw(st.sampled_from(["bad", -3, None])), aid)))
        elif kind == "wellformed":
            out.append(("UPDATE artifacts SET size=0, frequency=1, state=0, op='op' WHERE id=? AND typeof(inputs)='text'"
                        " AND json_valid(inputs)", (aid,)))
        elif kind == "state":
            out.append(("UPDATE artifacts SET state=? WHERE id=?", (draw(st.sampled_from([0, 2])), aid)))
        else:
            out.append(("UPDATE artifacts SET id=? WHERE id=?", (draw(st.sampled_from(["w1", "w4"])), aid)))
    return out


def test_what_the_memo_keeps_between_passes_is_what_a_whole_graph_pass_gives(tmp_path_factory):
    """``costs.Memo`` keeps potentials and recreation costs between materializations of one graph: after
    each round of changes (written by a second connection, as another member's kernel or sqlite3 writes
    them) the candidates and selections are still the whole-graph pass's."""

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.data())
    def check(data):
        vertices, offered, budget, min_saving = data.draw(graphs())
        store_dir = tmp_path_factory.mktemp("eg")
        graph = _write(store_dir, vertices)
        kernels = [graph]
        db = sqlite3.connect(graph.path, isolation_level=None)
        try:
            _same(graph, _offers(offered), min_saving, budget)
            for _ in range(data.draw(st.integers(1, 4))):
                for sql, params in data.draw(changes(len(vertices))):
                    try:
                        db.execute(sql, params)
                    except sqlite3.IntegrityError:
                        pass  # (an id taken, a NOT NULL column)
                if data.draw(st.booleans()):
                    # another kernel's first pass: the potentials the others saved, brought up to date
                    kernels.append(ExperimentGraph(store_dir))
                _same(kernels[-1], _offers(data.draw(st.lists(st.sampled_from(
                    [v["id"] for v in vertices] + ["ghost", "w1", "w2"]), max_size=3))), min_saving, budget)
        finally:
            db.close()
            for kernel in kernels:
                kernel.close_all()

    check()


def test_the_memo_starts_again_when_the_changes_it_needs_are_gone(tmp_path):
    """Entries pruned or deleted (a member, ``clear``) make the memo start again rather than miss them."""
    chain = [{"id": f"v{i}", "inputs": [f"v{i - 1}"] if i else [], "compute": 1.0, "frequency": 1,
              "quality": 0.5 if i == 5 else None, "state": 2 if i in (0, 3) else 0, "load": 0.01, "blobs": ["c1"],
              "malformed": False} for i in range(6)]
    graph = _write(tmp_path, chain)
    db = sqlite3.connect(graph.path, isolation_level=None)
    try:
        _same(graph, [], 0.0, 10_000)
        db.execute("UPDATE artifacts SET quality=0.1 WHERE id='v5'")
        db.execute("UPDATE artifacts SET compute_seconds=4.0 WHERE id='v1'")
        db.execute("DELETE FROM artifact_changes")  # the entries the memo needs
        _same(graph, [], 0.0, 10_000)
        assert [(c.potential, c.recreation_cost) for c in store_writes.weigh(graph, [], 0.0)[0]] == [(0.1, 1.0),
                                                                                                    (0.1, 7.0)]
        db.execute("UPDATE artifacts SET quality=NULL WHERE id='v5'")
        graph.clear()
        _same(graph, [], 0.0, 10_000)
    finally:
        db.close()
        graph.close_all()


_VALUES = {  # (NOT NULL columns: no None)
    "op": ["op", "", 3, b"op"], "kind": ["model", "", 1.5, b"x"],
    "size": [0, 7, -1, 2.5, "7"], "compute_seconds": [0.0, 1.25, 3, -0.5, "x", float("inf")],
    "frequency": [0, 4, -2, "4", 1.5], "state": [0, 2, 3, "2"], "load_seconds": [None, 0.2, -1.0, "s"],
    "quality": [None, 0.5, 0.9, -3.0, "q", float("inf"), 2], "storable": [0, 1, 2, "1"],
    "inputs": ['[]', '["a"]', '["a", "b"]', 'not json', '[1]', b'[]'],
}


@settings(max_examples=400, deadline=None)
@given(st.fixed_dictionaries({c: st.sampled_from(v) for c, v in _VALUES.items()}),
       st.dictionaries(st.sampled_from(sorted(_VALUES)), st.integers(0, 6), min_size=1, max_size=3))
def test_the_triggers_log_every_update_that_changes_what_a_vertex_contributes(before, update):
    """``artifact_changes``' update trigger against rows.py: an update it doesn't log leaves the vertex's
    edges, score and compute time as read (None for a malformed row) as they were; one it logs as 'q'/'c'
    leaves the row as well formed as it was."""
    import tempfile

    from collab_reuse.graph.experiment_graph import ArtifactInfo, _checked

    with tempfile.TemporaryDirectory() as tmp:
        graph = ExperimentGraph(tmp)
        db = sqlite3.connect(graph.path, isolation_level=None)
        try:
            db.execute("DELETE FROM artifact_changes")
            columns = ", ".join(before)
            db.execute(f"INSERT INTO artifacts(id, {columns}, created, last_used) VALUES('x', "
                       f"{', '.join('?' * len(before))}, 0, 0)", [before[c] for c in before])

            def read():
                row = db.execute(f"SELECT {ArtifactInfo.COLUMNS} FROM artifacts WHERE id='x'").fetchone()
                info = _checked(row)
                return None if info is None else (info.inputs, info.quality, info.compute_seconds), row

            old, old_row = read()
            changes = {c: _VALUES[c][i % len(_VALUES[c])] for c, i in update.items()}
            try:
                db.execute(f"UPDATE artifacts SET {', '.join(f'{c}=?' for c in changes)} WHERE id='x'",
                           list(changes.values()))
            except sqlite3.IntegrityError:
                return  # (a NOT NULL column)
            new, new_row = read()
            logged = db.execute("SELECT what, old_inputs, old_quality, new_quality FROM artifact_changes"
                                " WHERE seq > (SELECT MIN(seq) FROM artifact_changes)").fetchall()
            if not logged:
                assert new == old
            else:
                ((what, old_inputs, old_quality, new_quality),) = logged
                assert (old_inputs, old_quality, new_quality) == (old_row[-1], old_row[-3], new_row[-3])
                if what != "o":
                    assert (old is None) == (new is None)
                    assert what in ("q", "c", "qc")
                    if old is not None:
                        assert old[0] == new[0]
                        assert "c" in what or old[2] == new[2]
                        assert "q" in what or old[1] == new[1]
        finally:
            db.close()
            graph.close_all()


def test_a_kernels_first_pass_takes_the_potentials_another_saved(tmp_path, monkeypatch):
    """The potentials a pass saves (``potentials``) spare the next kernel's first pass the searches; a
    malformed saved one, or one whose changes are gone, is searched again."""
    chain = [{"id": f"v{i}", "inputs": [f"v{i - 1}"] if i else [], "compute": 1.0, "frequency": 1,
              "quality": 0.7 if i == 9 else None, "state": 2 if i in (0, 3, 5) else 0, "load": 0.01,
              "blobs": ["c1"], "malformed": False} for i in range(10)]
    graph = _write(tmp_path, chain)
    _same(graph, [], 0.0, 10_000)
    db = sqlite3.connect(graph.path, isolation_level=None)
    searched: list[str] = []
    search = costs.Reader.potentials

    def spy(self, targets):
        searched.extend(targets)
        return search(self, targets)

    monkeypatch.setattr(costs.Reader, "potentials", spy)
    kernels = []
    try:
        assert sorted(db.execute("SELECT artifact_id, value FROM potentials").fetchall()) == [
            ("v0", 0.7), ("v3", 0.7), ("v5", 0.7)]
        db.execute("UPDATE artifacts SET quality=0.9 WHERE id='v9'")  # a change since: a raise
        kernels.append(ExperimentGraph(tmp_path))
        _same(kernels[-1], [], 0.0, 10_000)
        assert searched == ["v9"]  # (the raised vertex's own potential; no stored target's)
        db.execute("UPDATE potentials SET value='bad' WHERE artifact_id='v0'")
        db.execute("UPDATE potentials SET seq=seq+1000 WHERE artifact_id='v3'")
        searched.clear()
        kernels.append(ExperimentGraph(tmp_path))
        _same(kernels[-1], [], 0.0, 10_000)
        assert sorted(searched) == ["v0", "v3"]
        assert sorted(db.execute("SELECT artifact_id, value FROM potentials").fetchall()) == [
            ("v0", 0.9), ("v3", 0.9), ("v5", 0.9)]  # (saved again: malformed, or another change's)
        db.execute("UPDATE artifacts SET quality=0.95 WHERE id='v9'")
        db.execute("DELETE FROM artifact_changes")  # the change since they were saved
        searched.clear()
        kernels.append(ExperimentGraph(tmp_path))
        _same(kernels[-1], [], 0.0, 10_000)
        assert sorted(searched) == ["v0", "v3", "v5"]
    finally:
        db.close()
        graph.close_all()
        for kernel in kernels:
            kernel.close_all()
