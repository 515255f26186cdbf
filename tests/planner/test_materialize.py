"""Specification of collab_reuse.planner.materialize: what is kept under a budget."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collab_reuse.planner.materialize import (
    Candidate,
    model_potential,
    recreation_costs,
    select,
    select_with_quotas,
    select_heuristic,
    select_storage_aware,
    stored_bytes,
)

ALGORITHMS = [select_heuristic, select_storage_aware]


def frame(id_: str, cols: list[tuple[str, int]], *, rec: float = 10.0, load: float = 1.0, freq: int = 1) -> Candidate:
    return Candidate(id_, sum(b for _, b in cols), rec, load, freq, columns=tuple(cols))


def pipeline(n: int, base: int = 1000, step: int = 10) -> list[Candidate]:
    """A frame plus n descendants, each adding one column to its parent."""
    cols = [("base", base)]
    out = [frame("f0", list(cols))]
    for i in range(1, n + 1):
        cols.append((f"c{i}", step))
        out.append(frame(f"f{i}", list(cols)))
    return out


# --------------------------------------------------------------------------- budgets


candidates_strategy = st.lists(
    st.tuples(
        st.integers(0, 2000),  # own bytes beyond columns
        st.lists(st.tuples(st.sampled_from("abcdefgh"), st.just(0)), max_size=5),
        st.floats(0.0, 100.0),
        st.floats(0.0, 100.0),
        st.integers(0, 5),
        st.floats(0.0, 1.0, allow_subnormal=False),
    ),
    max_size=15,
)
COLUMN_BYTES = dict(zip("abcdefgh", [500, 300, 1200, 50, 50, 800, 10, 2500]))


def build(raw: list) -> list[Candidate]:
    out = []
    for i, (own, cols, rec, load, freq, pot) in enumerate(raw):
        cols = tuple((k, COLUMN_BYTES[k]) for k, _ in dict.fromkeys(cols))
        out.append(Candidate(f"v{i}", own + sum(b for _, b in cols), rec, load, freq, pot, cols))
    return out


@settings(max_examples=300, deadline=None)
@given(candidates_strategy, st.integers(0, 10000))
def test_budget_is_never_exceeded_in_unique_bytes(raw: list, budget: int) -> None:
    cands = build(raw)
    for algo in ALGORITHMS:
        assert stored_bytes(cands, algo(cands, budget)) <= budget


@settings(max_examples=200, deadline=None)
@given(candidates_strategy)
def test_unlimited_budget_keeps_every_useful_artifact(raw: list) -> None:
    cands = build(raw)
    useful = {c.id for c in cands if c.load_cost < c.recreation_cost and (c.frequency > 0 or c.potential > 0)}
    for algo in ALGORITHMS:
        assert algo(cands, 10**9) == useful


def test_stored_bytes_counts_a_shared_column_once() -> None:
    a = frame("a", [("x", 100), ("y", 10)])
    b = frame("b", [("x", 100), ("z", 20)])
    assert stored_bytes([a, b], {"a", "b"}) == 130


def test_stored_bytes_counts_bytes_beyond_columns_per_artifact() -> None:
    a = Candidate("a", 150, 10.0, 1.0, 1, columns=(("x", 100),))  # 50 bytes of index
    b = Candidate("b", 160, 10.0, 1.0, 1, columns=(("x", 100),))
    assert stored_bytes([a, b], {"a", "b"}) == 100 + 50 + 60


# --------------------------------------------------------------------------- eligibility


@pytest.mark.parametrize("algo", ALGORITHMS)
def test_artifact_cheaper_to_recompute_than_to_load_is_never_selected(algo) -> None:
    slow_load = Candidate("slow", 10, recreation_cost=1.0, load_cost=2.0, frequency=100, potential=1.0)
    even = Candidate("even", 10, recreation_cost=2.0, load_cost=2.0, frequency=100, potential=1.0)
    good = Candidate("good", 10, recreation_cost=5.0, load_cost=1.0, frequency=1)
    assert algo([slow_load, even, good], 10**6) == {"good"}


@pytest.mark.parametrize("algo", ALGORITHMS)
def test_zero_budget_keeps_nothing(algo) -> None:
    assert algo(pipeline(3), 0) == set()


@pytest.mark.parametrize("algo", ALGORITHMS)
def test_materialized_artifact_falling_out_of_the_budget_is_not_returned(algo) -> None:
    old = Candidate("old", 100, 2.0, 1.0, 1, materialized=True)
    hot = Candidate("hot", 100, 100.0, 1.0, 10)
    assert algo([old, hot], 150) == {"hot"}


# --------------------------------------------------------------------------- ranking


def test_heuristic_prefers_higher_utility_per_byte() -> None:
    big = Candidate("big", 1000, 100.0, 1.0, 5)
    small = Candidate("small", 100, 50.0, 1.0, 5)  # half the saving for a tenth of the bytes
    assert select_heuristic([big, small], 1000) == {"small"}


def test_heuristic_skips_what_no_longer_fits_and_fills_with_the_rest() -> None:
    a = Candidate("a", 600, 100.0, 1.0, 10)
    b = Candidate("b", 600, 90.0, 1.0, 10)
    c = Candidate("c", 300, 10.0, 1.0, 1)
    assert select_heuristic([a, b, c], 1000) == {"a", "c"}


def test_potential_makes_an_otherwise_unused_artifact_worth_keeping() -> None:
    feeder = Candidate("feeder", 100, 10.0, 1.0, frequency=0, potential=0.9)
    idle = Candidate("idle", 100, 10.0, 1.0, frequency=0, potential=0.0)
    assert select_heuristic([feeder, idle], 10**6) == {"feeder"}


# --------------------------------------------------------------------------- storage-aware


def test_storage_aware_keeps_more_artifacts_than_heuristic_when_columns_are_shared() -> None:
    cands = pipeline(20)  # 1000-byte base column, then 20 frames adding 10 bytes each
    budget = 1300
    heuristic = select_heuristic(cands, budget)
    aware = select_storage_aware(cands, budget)
    assert len(heuristic) == 1
    assert aware == {c.id for c in cands}  # all of them: 1000 + 20 * 10 bytes
    assert stored_bytes(cands, aware) == 1200


def test_storage_aware_charges_only_columns_not_yet_selected() -> None:
    a = frame("a", [("x", 800), ("y", 100)], rec=100.0)
    b = frame("b", [("x", 800), ("z", 100)], rec=100.0)
    # alone each is 900; together 1000: the heuristic can take only one
    assert select_heuristic([a, b], 1000) in ({"a"}, {"b"})
    assert select_storage_aware([a, b], 1000) == {"a", "b"}


def test_storage_aware_prefers_the_frame_whose_columns_are_already_kept() -> None:
    base = frame("base", [("x", 500)], rec=100.0, freq=5)
    child = frame("child", [("x", 500), ("y", 50)], rec=20.0)
    other = frame("other", [("w", 400)], rec=30.0)
    # after base, child costs 50 bytes and other 400: only child fits in 600
    assert select_storage_aware([base, child, other], 600) == {"base", "child"}


def test_select_dispatches_by_name_and_rejects_unknown_algorithms() -> None:
    cands = pipeline(5)
    assert select(cands, 1030, "heuristic") == select_heuristic(cands, 1030)
    assert select(cands, 1030, "storage_aware") == select_storage_aware(cands, 1030)
    with pytest.raises(ValueError, match="unknown materialization algorithm"):
        select(cands, 1030, "optimal")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- recreation cost


def test_recreation_cost_counts_a_diamonds_shared_ancestor_once() -> None:
    parents = {"b": ["a"], "c": ["a"], "d": ["b", "c"]}
    cost = {"a": 10.0, "b": 1.0, "c": 2.0, "d": 3.0}
    assert recreation_costs(parents, cost) == {"a": 10.0, "b": 11.0, "c": 12.0, "d": 16.0}
    assert recreation_costs(parents, cost, ["d"]) == {"d": 16.0}


def test_recreation_cost_stays_linear_on_a_ladder_of_diamonds() -> None:
    parents: dict[str, list[str]] = {}
    prev = "s"
    for i in range(200):  # 2**200 paths from the end to the source
        parents[f"l{i}"] = [prev]
        parents[f"r{i}"] = [prev]
        parents[f"j{i}"] = [f"l{i}", f"r{i}"]
        prev = f"j{i}"
    cost = dict.fromkeys(itertools.chain(["s"], parents), 1.0)
    assert recreation_costs(parents, cost)[prev] == 601.0
    assert recreation_costs(parents, cost, [prev]) == {prev: 601.0}


def test_recreation_cost_of_a_vertex_without_a_timing_is_zero() -> None:
    assert recreation_costs({"b": ["file"]}, {"b": 2.0}) == {"file": 0.0, "b": 2.0}


def test_recreation_cost_rejects_a_cycle() -> None:
    with pytest.raises(ValueError, match="cycle"):
        recreation_costs({"a": ["b"], "b": ["a"], "c": ["a"]}, {}, None)


@st.composite
def dags(draw, max_n: int = 90):
    n = draw(st.integers(1, max_n))
    parents = {}
    for i in range(n):
        ps = draw(st.lists(st.integers(0, i - 1), max_size=4, unique=True)) if i else []
        parents[f"v{i}"] = [f"v{p}" for p in ps]
    cost = {f"v{i}": float(draw(st.integers(0, 50))) for i in range(n)}
    return parents, cost


def brute_recreation(parents, cost, v) -> float:
    seen, stack = {v}, [v]
    while stack:
        for p in parents.get(stack.pop(), ()):
            if p not in seen:
                seen.add(p)
                stack.append(p)
    return sum(cost[u] for u in seen)


@settings(max_examples=100, deadline=None)
@given(dags())
def test_recreation_costs_equal_the_sum_over_the_ancestor_set(g) -> None:
    parents, cost = g
    got = recreation_costs(parents, cost)
    assert got == {v: brute_recreation(parents, cost, v) for v in parents}
    some = list(parents)[-20:]  # enough targets to take the bitset path
    assert recreation_costs(parents, cost, some) == {v: got[v] for v in some}


def test_recreation_cost_of_a_merge_of_two_wide_pipelines() -> None:
    # two chains of 300 joined: the extra ancestors (>64) are summed with numpy
    parents: dict[str, list[str]] = {"a0": [], "b0": []}
    for i in range(1, 300):
        parents[f"a{i}"] = [f"a{i - 1}"]
        parents[f"b{i}"] = [f"b{i - 1}"]
    parents["m"] = ["a299", "b299"]
    cost = {v: 1.0 for v in parents}
    assert recreation_costs(parents, cost)["m"] == 601.0


# --------------------------------------------------------------------------- potential


def test_model_potential_is_the_best_model_reachable_downstream() -> None:
    parents = {"clean": ["raw"], "m1": ["clean"], "feat": ["clean"], "m2": ["feat"], "other": ["raw2"]}
    pot = model_potential(parents, {"m1": 0.7, "m2": 0.9})
    assert pot["raw"] == 0.9 and pot["clean"] == 0.9 and pot["feat"] == 0.9
    assert pot["m1"] == 0.7
    assert pot["other"] == 0.0 and pot["raw2"] == 0.0


# --------------------------------------------------------------------------- per-user quotas

owners_strategy = st.lists(st.sampled_from(["ann", "bob", "cat"]), min_size=15, max_size=15)


@settings(max_examples=300, deadline=None)
@given(candidates_strategy, owners_strategy, st.integers(0, 10000), st.integers(0, 10000),
       st.sampled_from(["heuristic", "storage_aware"]))
def test_every_writer_keeps_their_best_under_a_fair_quota_and_all_fit_the_budget(raw, who, budget, quota,
                                                                                 algorithm) -> None:
    cands = build(raw)
    owners = {c.id: who[i] for i, c in enumerate(cands)}
    kept = select_with_quotas(cands, budget, algorithm, owners, quota)
    assert stored_bytes(cands, kept) <= budget
    writers = set(owners.values())
    if 0 < quota < budget and quota * len(writers) <= budget:
        for writer in writers:
            theirs = [c for c in cands if owners[c.id] == writer]
            assert select(theirs, quota, algorithm) <= kept, writer


@settings(max_examples=100, deadline=None)
@given(candidates_strategy, owners_strategy, st.integers(0, 10000), st.sampled_from(["heuristic", "storage_aware"]))
def test_no_quota_is_the_plain_selection(raw, who, budget, algorithm) -> None:
    cands = build(raw)
    owners = {c.id: who[i] for i, c in enumerate(cands)}
    for quota in (0, budget, budget + 1):
        assert select_with_quotas(cands, budget, algorithm, owners, quota) == select(cands, budget, algorithm)


def test_one_writers_flood_does_not_push_out_the_others_work() -> None:
    """Bob's 20 new results are each worth more per byte than ann's 5 stored ones; without a quota
    they take the whole budget, with a half-budget quota ann keeps hers."""
    ann = [frame(f"ann{i}", [(f"a{i}", 100)], rec=10.0) for i in range(5)]
    bob = [frame(f"bob{i}", [(f"b{i}", 100)], rec=50.0) for i in range(20)]
    owners = {c.id: c.id[:3] for c in ann + bob}
    without = select(ann + bob, 1000, "storage_aware")
    assert not any(i.startswith("ann") for i in without)
    kept = select_with_quotas(ann + bob, 1000, "storage_aware", owners, 500)
    assert {i for i in kept if i.startswith("ann")} == {c.id for c in ann}
    assert len([i for i in kept if i.startswith("bob")]) == 5
