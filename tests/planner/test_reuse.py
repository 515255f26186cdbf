"""Specification of collab_reuse.planner.reuse: exact reuse plans on every DAG."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collab_reuse.planner.reuse import Plan, PlanVertex, plan, plan_is_valid, plan_linear, plan_mincut

PLANNERS = [plan, plan_linear, plan_mincut]
EXACT = [plan, plan_mincut]


def V(id_: str, compute: float, load: float | None = None, *parents: str, mem: bool = False) -> PlanVertex:
    return PlanVertex(id_, compute, load, mem, tuple(parents))


def graph(*vs: PlanVertex) -> dict[str, PlanVertex]:
    return {v.id: v for v in vs}


def brute_force(vertices: dict[str, PlanVertex], needed: list[str]) -> float:
    """Cheapest valid plan over every skip/load/compute assignment of every vertex."""
    ids = [v for v in vertices if not vertices[v].in_memory]
    options = [("skip", "compute") + (("load",) if vertices[v].load_cost is not None else ()) for v in ids]
    best = math.inf
    for choice in itertools.product(*options):
        mode = dict(zip(ids, choice))
        avail = {v for v in ids if mode[v] != "skip"} | {v for v in vertices if vertices[v].in_memory}
        if not all(n in avail for n in needed):
            continue
        if not all(p in avail for v in ids if mode[v] == "compute" for p in vertices[v].parents):
            continue
        cost = sum(vertices[v].compute_cost if mode[v] == "compute" else vertices[v].load_cost for v in ids if mode[v] != "skip")
        best = min(best, cost)
    return best


@st.composite
def workloads(draw, max_n: int = 10):
    """Random small DAGs: integer costs (so sums compare exactly), some vertices
    materialized, some in memory, a few needed."""
    n = draw(st.integers(1, max_n))
    vs = {}
    for i in range(n):
        ps = draw(st.lists(st.integers(0, i - 1), max_size=3, unique=True)) if i else []
        load = draw(st.one_of(st.none(), st.integers(1, 30))) if draw(st.booleans()) else None
        vs[f"v{i}"] = PlanVertex(
            f"v{i}",
            float(draw(st.integers(0, 20))),
            None if load is None else float(load),
            draw(st.integers(0, 9)) == 0,
            tuple(f"v{p}" for p in ps),
        )
    needed = draw(st.lists(st.sampled_from(sorted(vs)), min_size=1, max_size=3, unique=True))
    return vs, needed


# --------------------------------------------------------------------------- exactness


@settings(max_examples=300, deadline=None)
@given(workloads())
def test_plan_cost_equals_the_brute_force_optimum(w) -> None:
    vertices, needed = w
    assert plan(vertices, needed).cost == brute_force(vertices, needed)


@settings(max_examples=100, deadline=None)
@given(workloads())
def test_mincut_baseline_cost_equals_the_brute_force_optimum(w) -> None:
    vertices, needed = w
    assert plan_mincut(vertices, needed).cost == brute_force(vertices, needed)


@settings(max_examples=100, deadline=None)
@given(workloads())
def test_linear_plan_never_costs_less_than_the_optimum(w) -> None:
    vertices, needed = w
    assert plan_linear(vertices, needed).cost >= brute_force(vertices, needed)


@settings(max_examples=150, deadline=None)
@given(workloads(max_n=14))
def test_every_planner_returns_a_valid_plan(w) -> None:
    vertices, needed = w
    for planner in PLANNERS:
        assert plan_is_valid(vertices, needed, planner(vertices, needed)), planner.__name__


@settings(max_examples=60, deadline=None)
@given(workloads(max_n=40))
def test_plan_agrees_with_the_mincut_baseline_on_larger_dags(w) -> None:
    vertices, needed = w
    assert plan(vertices, needed).cost == pytest.approx(plan_mincut(vertices, needed).cost)


# --------------------------------------------------------------------------- named cases


def shared_parent_example() -> dict[str, PlanVertex]:
    """Both children are stored (load 10); computing them needs their shared unstored
    parent p (9) and then 1.5 each: 12 in all. The forward pass charges p to each child
    (10.5 > 10) and loads both: 20."""
    return graph(V("src", 0.0, None, mem=True), V("p", 9.0, None, "src"), V("a", 1.5, 10.0, "p"), V("b", 1.5, 10.0, "p"))


def test_linear_loads_twice_where_computing_the_shared_parent_once_is_cheaper() -> None:
    g = shared_parent_example()
    linear = plan_linear(g, ["a", "b"])
    assert linear == Plan(frozenset({"a", "b"}), frozenset(), 20.0)


@pytest.mark.parametrize("planner", EXACT)
def test_exact_planners_compute_the_shared_parent_once(planner) -> None:
    assert planner(shared_parent_example(), ["a", "b"]) == Plan(frozenset(), frozenset({"p", "a", "b"}), 12.0)


@pytest.mark.parametrize("planner", PLANNERS)
def test_vertex_in_memory_costs_nothing(planner) -> None:
    g = graph(V("a", 5.0, 1.0, mem=True), V("b", 2.0, None, "a"))
    assert planner(g, ["a"]) == Plan(frozenset(), frozenset(), 0.0)
    assert planner(g, ["b"]) == Plan(frozenset(), frozenset({"b"}), 2.0)


@pytest.mark.parametrize("planner", PLANNERS)
def test_load_replaces_the_whole_upstream_when_cheaper(planner) -> None:
    g = graph(V("raw", 30.0), V("clean", 20.0, None, "raw"), V("feat", 10.0, 5.0, "clean"), V("model", 40.0, None, "feat"))
    assert planner(g, ["model"]) == Plan(frozenset({"feat"}), frozenset({"model"}), 45.0)


@pytest.mark.parametrize("planner", PLANNERS)
def test_load_dearer_than_recomputing_is_not_chosen(planner) -> None:
    g = graph(V("raw", 1.0), V("feat", 2.0, 50.0, "raw"))
    assert planner(g, ["feat"]) == Plan(frozenset(), frozenset({"raw", "feat"}), 3.0)


@pytest.mark.parametrize("planner", PLANNERS)
def test_needed_vertex_that_feeds_another_is_made_available_once(planner) -> None:
    g = graph(V("x", 10.0, 4.0), V("y", 1.0, None, "x"))
    assert planner(g, ["x", "y"]) == Plan(frozenset({"x"}), frozenset({"y"}), 5.0)


def test_plan_counts_a_diamond_ancestor_once_when_deciding() -> None:
    # top feeds l and r, both stored at 8; join needs both. Computing top once (10)
    # and l, r (1 each) costs 12 < 16; the forward pass sees 11 per side and loads.
    g = graph(V("top", 10.0), V("l", 1.0, 8.0, "top"), V("r", 1.0, 8.0, "top"), V("join", 1.0, None, "l", "r"))
    assert plan(g, ["join"]).cost == 13.0
    assert plan_linear(g, ["join"]).cost == 17.0


def test_unknown_needed_vertex_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        plan(graph(V("a", 1.0)), ["b"])


def test_plan_is_valid_rejects_a_compute_whose_parent_is_missing() -> None:
    g = graph(V("a", 1.0), V("b", 1.0, None, "a"))
    assert not plan_is_valid(g, ["b"], Plan(frozenset(), frozenset({"b"}), 1.0))
    assert plan_is_valid(g, ["b"], Plan(frozenset(), frozenset({"a", "b"}), 2.0))


@st.composite
def trees(draw, max_n: int = 9):
    """In-trees: every vertex feeds at most one other; the root is needed."""
    n = draw(st.integers(1, max_n))
    vs = {}
    for i in range(n):  # vertex i feeds vertex child[i] < i
        load = draw(st.one_of(st.none(), st.integers(1, 30)))
        vs[f"v{i}"] = [float(draw(st.integers(0, 20))), None if load is None else float(load), []]
        if i:
            vs[f"v{draw(st.integers(0, i - 1))}"][2].append(f"v{i}")
    return {v: PlanVertex(v, c, l, False, tuple(ps)) for v, (c, l, ps) in vs.items()}, ["v0"]


@settings(max_examples=100, deadline=None)
@given(trees())
def test_linear_plan_is_optimal_when_the_pending_region_is_a_tree(w) -> None:
    vertices, needed = w
    assert plan_linear(vertices, needed).cost == plan(vertices, needed).cost == brute_force(vertices, needed)


@pytest.mark.parametrize("planner", EXACT)
def test_an_input_used_twice_by_one_operation_is_paid_once(planner) -> None:
    # df.merge(df): the forward pass sees 2 * 9 + 1 = 19 > 12 and would load
    g = graph(V("df", 9.0), V("self_join", 1.0, 12.0, "df", "df"))
    assert planner(g, ["self_join"]) == Plan(frozenset(), frozenset({"df", "self_join"}), 10.0)
