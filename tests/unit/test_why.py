"""The pure logic of why a step was recomputed (planner/why.py), the call summary it compares
(tracing/summary.py) and the graph rows that keep it."""

import json

from hypothesis import given
from hypothesis import strategies as st

from collab_reuse.graph import ExperimentGraph, PlaceRun
from collab_reuse.graph.upkeep import remove_malformed
from collab_reuse.planner import why
from collab_reuse.tracing import summary


def test_a_changed_keyword_is_named_with_old_and_new():
    old = {"params": {"learning_rate": "0.05", "n": "100"}, "inputs": ["x"]}
    new = {"params": {"learning_rate": "0.08", "n": "100"}, "inputs": ["x"]}
    assert why.diff(old, new) == [why.reason("parameter", "learning_rate", "0.05", "0.08")]
    assert why.text({**why.diff(old, new)[0], "cell": 9}, 9) == "`learning_rate` changed 0.05 → 0.08 in cell 9"


def test_parameters_files_code_inputs_come_in_that_order():
    old = {"params": {"a": "1"}, "files": {"d.csv": ["aaa", 1.0]}, "code": {"f": "def f(x):\n    return x\n"},
           "inputs": ["i1"]}
    new = {"params": {"a": "2"}, "files": {"d.csv": ["bbb", 2.0]}, "code": {"f": "def f(x):\n    return x + 1\n"},
           "inputs": ["i2"]}
    kinds = [r["kind"] for r in why.diff(old, new)]
    assert kinds == ["parameter", "file", "code", "input"]
    code = why.diff(old, new)[2]
    assert code["old"] == ["return x"] and code["new"] == ["return x + 1"]


def test_nothing_summarized_differs_says_so_and_random_state_is_named():
    base = {"params": {"a": "<DataFrame>"}, "inputs": []}
    assert why.diff(base, dict(base))[0]["kind"] == "other"
    assert why.diff({**base, "rng": "aa"}, {**base, "rng": "bb"})[0]["kind"] == "random"


def test_a_partial_summary_compares_inputs_only():
    old = {"partial": True, "inputs": ["a"]}
    new = {"params": {"x": "1"}, "inputs": ["b"]}
    assert [r["kind"] for r in why.diff(old, new)] == ["input"]


def test_an_input_is_followed_to_its_first_changed_ancestor():
    own = [why.reason("parameter", "C", "0.5", "0.8", cell=4)]
    first = why.follow(why.reason("input", "x", id="m"), ("sklearn.LogisticRegression", 4, own))
    assert first["root"]["detail"] == "C" and first["root"]["op"] == "sklearn.LogisticRegression"
    second = why.follow(why.reason("input", "x", id="f"), ("LogisticRegression.fit", 5, [first]))
    assert second["root"] == first["root"] and second["cell"] == 5
    assert why.text(second) == ("input LogisticRegression.fit changed (cell 5), because `C` changed 0.5 → 0.8 "
                                "in cell 4")
    unknown = why.follow(why.reason("input", "x", id="z"), None)
    assert "not known" in unknown["detail"] and "id" not in unknown


def test_same_id_reasons_say_only_what_the_graph_recorded():
    assert why.same_id(2, True, None, 1.0, 10, None, 0.005, None)["kind"] == "cheaper_to_compute"
    assert "no pickle" in why.same_id(0, False, "no pickle", 1.0, 10, None, 0.005, None)["detail"]
    assert why.same_id(0, True, None, 1.0, 10, 123.0, 0.005, None)["kind"] == "evicted"
    assert why.same_id(0, True, None, 0.001, 10, None, 0.005, None)["kind"] == "too_cheap"
    large = why.same_id(0, True, None, 1.0, 100, None, 0.005, 50)
    assert large["kind"] == "too_large" and large["detail"] == "never stored: too large (100 B, the store's budget is 50 B)"


def test_an_eviction_says_when_by_which_budget_decision_and_what_it_would_have_saved():
    import time
    when = time.mktime((2026, 12, 6, 14, 3, 0, 0, 0, -1))
    decision = {"outcome": "budget", "algorithm": "storage_aware", "budget": 3_000_000, "quota": None,
                "writer": "alice", "writer_bytes": 2_900_000, "kept": 2, "kept_bytes": 2_900_000, "size": 1_600_000,
                "saving": 4.1, "load_seconds": 0.2, "time": when}
    item = why.same_id(0, True, None, 4.3, 1_600_000, when, 0.005, 3_000_000, decision, 0.2)
    assert item["kind"] == "evicted"
    assert item["detail"] == ("was stored, then evicted on 2026-12-06 14:03 by the storage_aware selection under the "
                              "budget of 3.0 MB: 2 artifacts (2.9 MB) saving more per byte were kept instead; reusing "
                              "it would have saved 4.10 s (compute 4.30 s, load 0.20 s)")
    # without the decision (a store written before it was recorded): when, and the saving from the vertex
    plain = why.same_id(0, True, None, 4.3, 1_600_000, when, 0.005, 3_000_000, None, 0.5)["detail"]
    assert plain == ("was stored, then evicted on 2026-12-06 14:03 to keep the store within its budget; reusing it "
                     "would have saved 3.80 s (compute 4.30 s, load 0.50 s)")


def test_never_stored_over_the_writer_s_quota_or_not_worth_its_load_is_said_so():
    quota = {"outcome": "quota", "algorithm": "storage_aware", "budget": 4_000_000, "quota": 2_000_000,
             "writer": "bob", "writer_bytes": 1_900_000, "kept": 3, "kept_bytes": 3_500_000, "size": 500_000,
             "saving": 2.0, "load_seconds": 0.1}
    item = why.same_id(0, True, None, 2.1, 500_000, None, 0.005, 4_000_000, quota, None)
    assert item["kind"] == "over_quota"
    assert item["detail"].startswith("never stored: over bob's quota by the storage_aware selection: bob's artifacts "
                                     "kept 1.9 MB of a 2.0 MB quota, this one 500.0 KB more")
    cheap = {"outcome": "not_worth_loading", "size": 9_000_000, "saving": 0.002, "load_seconds": 0.05,
             "min_saving": 0.005}
    item = why.same_id(0, True, None, 0.052, 9_000_000, None, 0.005, 10**9, cheap, None)
    assert item["kind"] == "too_cheap" and "would save 0.002 s of its 0.05 s, below min_saving 0.005 s" in item["detail"]
    budget = dict(quota, outcome="budget")
    assert why.same_id(0, True, None, 2.1, 500_000, None, 0.005, 4_000_000, budget, None)["detail"].startswith(
        "never stored: not chosen by the storage_aware selection under the budget of 4.0 MB: 3 artifacts (3.5 MB)")


def test_the_materializer_s_decisions_name_quota_budget_and_size():
    from collab_reuse.kernel.store_writes import decisions
    from collab_reuse.planner.materialize import Candidate

    def cand(aid, size):
        return Candidate(id=aid, size=size, recreation_cost=3.0, load_cost=0.5, frequency=1, potential=0.0,
                         columns=((aid, size),), materialized=False)

    cands = [cand("a1", 400), cand("a2", 500), cand("b1", 300), cand("huge", 5000), cand("b2", 150)]
    owners = {"a1": "alice", "a2": "alice", "b1": "bob", "huge": "bob", "b2": "bob"}
    out = decisions(cands, {"a1", "b1"}, 1000, 500, owners, "storage_aware")
    assert set(out) == {"a2", "huge", "b2"}
    assert out["a2"]["outcome"] == "quota" and out["a2"]["writer_bytes"] == 400 and out["a2"]["quota"] == 500
    assert out["huge"]["outcome"] == "too_large"
    assert out["b2"]["outcome"] == "budget"  # bob's 300 + 150 fit his quota: the budget left it out
    assert out["b2"]["saving"] == 2.5 and out["b2"]["kept"] == 2 and out["b2"]["kept_bytes"] == 700
    assert decisions(cands, {"a1", "b1"}, 1000, 1000, owners, "greedy")["a2"]["outcome"] == "budget"  # no quota


def test_a_decision_is_kept_until_the_artifact_is_stored_and_a_malformed_one_reads_as_absent(tmp_path):
    from collab_reuse.graph import VertexUpdate

    graph = ExperimentGraph(tmp_path / "store")
    graph.record_cell([VertexUpdate("a1", "op", "frame", seconds=1.0)], "u", None)
    graph.record_decisions({"a1": {"outcome": "quota", "quota": 10}})
    assert graph.decision("a1")["outcome"] == "quota" and graph.decision("a1")["time"] > 0
    assert graph.decision("nope") is None
    graph.begin_write("a1", {"k": 3})
    graph.finish_write("a1", {"k": 3})
    assert graph.decision("a1") is None
    with graph.transaction() as db:
        db.execute("INSERT INTO decisions VALUES('a2', 1.0, 'not json')")
    assert graph.decision("a2") is None
    assert remove_malformed(graph)["malformed_rows"] >= 1


def test_a_changed_file_says_when_and_which_columns_where_a_header_tells(tmp_path):
    import os
    import time
    path = tmp_path / "d.csv"
    path.write_text("a,b,c\n1,2,3\n")
    os.chmod(path, 0o644)
    old = summary.summary(None, (str(path),), {}, {str(path): "aaa"})
    assert old["columns"] == {str(path): ["a", "b", "c"]}
    path.write_text("a,c,d\n1,3,4\n")
    when = time.mktime((2026, 12, 6, 9, 30, 0, 0, 0, -1))
    os.utime(path, (when, when))
    new = summary.summary(None, (str(path),), {}, {str(path): "bbb"})
    (item,) = why.diff(old, new)[-1:]
    assert item["kind"] == "file" and item["columns"] == {"added": ["d"], "removed": ["b"]}
    assert why.text(item, 2) == (f"data file {path} changed (digest aaa → bbb, modified on 2026-12-06 09:30; "
                                 "columns added: d; columns removed: b) in cell 2")
    assert "columns" not in why.visible([item], lambda p: False)[0]  # what the file holds: for its readers only


def test_a_team_store_keeps_no_column_names_of_a_file_the_team_cannot_read():
    from collab_reuse.kernel.cell_record import CellRun, place_runs
    from collab_reuse.tracing.steps import Step

    call = {"params": {}, "files": {"/a.csv": ["d", 1.0], "/b.csv": ["e", 1.0]},
            "columns": {"/a.csv": ["x"], "/b.csv": ["secret"]}}
    cell = CellRun(cell_id="c1", execution_count=1)
    cell.steps.append(Step(op="pandas.read_csv", kind="dataframe", status="computed", id="r1", call=call))
    assert place_runs(cell, "u")[0][2]["columns"] == call["columns"]  # one user's store
    assert place_runs(cell, "u", lambda p: p == "/a.csv")[0][2]["columns"] == {"/a.csv": ["x"]}


def test_a_file_path_is_shown_only_to_a_reader_who_may_read_it():
    item = why.reason("file", "/secret/data.csv", "a", "b")
    assert why.visible([item], lambda p: False)[0]["detail"] == "a data file"
    assert why.visible([item], lambda p: True)[0]["detail"] == "/secret/data.csv"
    nested = why.reason("input", "input x changed", root=item)
    assert why.visible([nested], lambda p: False)[0]["root"]["detail"] == "a data file"


def test_the_cell_line_prefers_a_change_to_a_never_stored_reason():
    steps = [{"op": "a", "status": "computed", "why": [why.reason("too_cheap", "never stored: too cheap")]},
             {"op": "b", "status": "computed", "why": [why.reason("parameter", "k", "1", "2", cell=3)]}]
    root = why.cell_root(steps)
    assert why.summary_line(root) == "recomputed because `k` changed 1 → 2 in cell 3"
    assert why.cell_root(steps[:1])["kind"] == "too_cheap"
    assert why.cell_root([{"op": "c", "status": "reused"}]) is None


@given(st.one_of(st.integers(), st.floats(allow_nan=False), st.text(), st.none(), st.booleans(),
                 st.lists(st.integers(), max_size=40), st.binary()))
def test_a_parameter_summary_is_short_json_text(value):
    text = summary.short(value)
    assert isinstance(text, str) and len(text) <= summary.MAX_REPR
    json.dumps(text)


def test_data_values_are_never_summarized():
    import numpy as np
    import pandas as pd

    params = summary.params(pd.DataFrame.merge, (pd.DataFrame({"secret": [42]}),), {"on": "k", "arr": np.arange(3)})
    assert params == {"right": "<DataFrame>", "on": "'k'", "arr": "<ndarray>"}


def test_a_deferred_value_is_summarized_as_what_it_stands_for_without_producing_it():
    import pandas as pd

    from collab_reuse.tracing.lazy import Lazy, Pending

    # (a run that deferred a frame must not read as "X changed <DataFrame> → <Lazy>")
    lazy = Lazy(None, Pending("a" * 64, pd.DataFrame, "read_csv"))  # no tracer: producing it would fail
    assert summary.short(lazy) == "<DataFrame>"


def test_places_round_trip_and_a_malformed_row_reads_as_absent(tmp_path):
    graph = ExperimentGraph(tmp_path / "store")
    run = PlaceRun("u\x1fc\x1fop\x1f0", "id1", "op", 3, {"params": {"a": "1"}, "inputs": []},
                   [why.reason("first", "first run")])
    graph.record_cell([], "u", None, places=[run])
    assert graph.place_runs([run.place]) == {run.place: run}
    assert graph.runs_of(["id1"], "u") == {"id1": run}
    assert graph.runs_of(["id1"], "someone-else") == {}
    with graph.journal().transaction() as db:
        db.execute("UPDATE places SET summary='[1]'")
    assert graph.place_runs([run.place]) == {}
    assert remove_malformed(graph)["malformed_rows"] == 1  # (not an object: read as absent, then removed)
    graph.record_cell([], "u", None, places=[run])
    with graph.journal().transaction() as db:
        db.execute("UPDATE places SET summary='not json'")
    assert graph.place_runs([run.place]) == {}
    assert remove_malformed(graph)["malformed_rows"] == 1


def test_an_eviction_is_remembered_until_the_artifact_is_stored_again(tmp_path):
    from collab_reuse.graph import VertexUpdate

    graph = ExperimentGraph(tmp_path / "store")
    graph.record_cell([VertexUpdate("a1", "op", "frame", seconds=1.0)], "u", None)
    graph.begin_write("a1", {"k": 3})
    graph.finish_write("a1", {"k": 3})
    graph.unmaterialize(["a1"], evicted=True)
    info, note, evicted = graph.history("a1")
    assert info.state == 0 and evicted is not None
    graph.begin_write("a1", {"k": 3})
    graph.finish_write("a1", {"k": 3})
    assert graph.history("a1")[2] is None


def test_the_panel_gets_reasons_with_unreadable_paths_hidden(tmp_path):
    from collab_reuse.server.reader import normalize_report

    readable = tmp_path / "mine.csv"
    readable.write_text("a\n1\n")
    hidden = why.reason("file", str(tmp_path / "gone" / "theirs.csv"), "a", "b", cell=2)
    mine = why.reason("file", str(readable), "a", "b", cell=2)
    out = normalize_report({"steps": [{"op": "pandas.read_csv", "why": [hidden, mine, "junk"]}], "why": hidden})
    assert [r["detail"] for r in out["steps"][0]["why"]] == ["a data file", str(readable)]
    assert out["why_text"] == "recomputed because a data file changed (digest a → b) in cell 2"
    assert normalize_report({"steps": [{}]})["steps"][0]["why"] is None


def test_a_reuse_known_by_its_inputs_keeps_what_the_run_before_was_called_with(tmp_path):
    """Computed (full summary), then reused through a deferred value (partial), then edited: the edit is
    named against the parameters of the first run, not as 'something not summarized'."""
    from collab_reuse.kernel.explaining import explain_cell, place_key

    graph = ExperimentGraph(tmp_path / "store")
    place = place_key("u", "cell-a", "DataFrameGroupBy.agg", 0)

    def record(op_id, status, summary, count):
        report = {"execution_count": count, "steps": [{"id": op_id, "op": "DataFrameGroupBy.agg",
                                                        "status": status, "inputs": ["in"]}]}
        runs = explain_cell(graph, "u", report, [[0, place, summary]], min_saving=0.0)
        graph.record_cell([], "u", None, places=runs)
        return report

    record("v1", "computed", {"params": {"func": "['sum', 'std']"}, "inputs": ["in"]}, 1)
    record("v1", "reused", {"partial": True, "inputs": ["in"]}, 2)
    report = record("v2", "computed", {"params": {"func": "['sum']"}, "inputs": ["in"]}, 3)
    (first, *_) = report["steps"][0]["why"]
    assert (first["kind"], first["detail"], first["old"], first["new"]) == (why.PARAMETER, "func", "['sum', 'std']", "['sum']")


def test_naming_a_calls_parameters_keeps_nothing_of_the_notebook_alive():
    """The parameter-name cache once held every bound method it saw, and with it the method's receiver:
    a frame, a model, for the kernel's life (a first run's collections walked them all)."""
    import gc
    import weakref

    import numpy as np
    import pandas as pd

    frame = pd.DataFrame({"a": [1, 2], "b": [3, 4]})
    array = np.arange(4.0)

    class Model:
        def fit(self, X, y=None):
            return self

    model = Model()
    assert summary.params(frame.merge, (frame,), {"on": "a"}) == {"right": "<DataFrame>", "on": "'a'"}
    assert summary.params(model.fit, (array,), {}) == {"X": "<ndarray>"}
    summary.params(array.reshape, (2, 2), {})  # a C method bound to an instance
    summary.params(array.__add__, (1,), {})  # a slot wrapper bound to one
    gone = [weakref.ref(frame), weakref.ref(array), weakref.ref(model)]
    del frame, array, model
    gc.collect()
    assert [ref() for ref in gone] == [None, None, None]


def test_a_bound_methods_names_are_its_functions_without_the_receiver():
    class Thing:
        def go(self, first, second=2, *rest, key=None):
            return first

        @classmethod
        def make(cls, size):
            return cls()

    assert summary.positional_names(Thing().go) == ("first", "second")
    assert summary.positional_names(Thing.make) == ("size",)
    assert summary.positional_names(Thing.go) == ("self", "first", "second")
    assert summary.params(Thing().go, (1, 2), {"key": "k"}) == {"first": "1", "second": "2", "key": "'k'"}


def test_c_level_definitions_names_are_cached_without_holding_anything():
    import numpy as np

    for func in (np.log, np.ndarray.sum, len, np.arange(3).sum):
        first = summary.positional_names(func)
        assert summary.positional_names(func) == first
    assert np.log in summary._definition_names and np.ndarray.sum in summary._definition_names
    assert (np.ndarray, "sum") in summary._definition_names  # (a bound one by its type, not its array)
