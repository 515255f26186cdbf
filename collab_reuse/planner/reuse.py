"""What to load and what to compute for the work a cell needs (the paper's §6).

A needed vertex must be *available*: already in this kernel's memory (free),
loaded from the store (its ``load_cost``), or computed (its ``compute_cost``,
which requires all of its parents to be available). :func:`plan` returns a
cheapest such choice, exactly, on any DAG.

Three planners with one signature:

* :func:`plan_linear` — the paper's algorithm: a forward pass taking
  ``min(load, compute + sum of the parents' best)`` in topological order, then
  a backward pass from the needed vertices. Optimal when the part still to
  compute is a tree; on a DAG it counts a shared unstored ancestor once per
  child and may load two artifacts (20) where computing their shared parent
  once is cheaper (12).
* :func:`plan_mincut` — Helix's formulation: the whole region as a project
  selection problem solved by a minimum cut (networkx). Exact, slower.
* :func:`plan` — exact and about as fast as the linear pass. It runs the
  linear pass, keeps every choice that is provably optimal (see
  :func:`plan`), and cuts only the few undecided vertices with a small
  hand-written max-flow.

Pure functions over plain data. networkx is imported by :func:`plan_mincut`
only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from . import _flow

_NANO = 1e9

__all__ = ["Plan", "PlanVertex", "plan", "plan_linear", "plan_mincut", "plan_is_valid"]


@dataclass(frozen=True)
class PlanVertex:
    """One artifact of the pending work, as the planner needs to see it."""

    id: str
    compute_cost: float
    """Cost of its producing operation, given its inputs (finite, >= 0)."""
    load_cost: float | None
    """Cost to load it from the store; None when not materialized."""
    in_memory: bool = False
    """Already computed in this kernel: available at no cost."""
    parents: tuple[str, ...] = ()
    """Inputs of its producing operation."""


@dataclass(frozen=True)
class Plan:
    """Which vertices to load and which to compute; ``cost`` is the sum of their costs,
    each vertex counted once."""

    load: frozenset[str]
    compute: frozenset[str]
    cost: float


# --------------------------------------------------------------------------- shared helpers


def _start(vertices: Mapping[str, PlanVertex], needed: Iterable[str]) -> list[str]:
    """The needed vertices not already in memory, once each, in the given order.
    Raises ``KeyError`` for an id that is not in ``vertices`` (a misuse)."""
    out: list[str] = []
    seen: set[str] = set()
    for n in needed:
        if n in seen:
            continue
        seen.add(n)
        if not vertices[n].in_memory:
            out.append(n)
    return out


def _region(vertices: Mapping[str, PlanVertex], start: list[str], stop_at_cheap_loads: bool) -> list[str]:
    """Vertices that may have to be made available, parents before children:
    the needed ones and their ancestors, walking up through vertices not in memory.

    With ``stop_at_cheap_loads`` the walk does not go above a vertex that is no
    dearer to load than its own operation: it is always loaded (see :func:`plan`).
    Depth-first; a vertex is emitted when it comes back to the top of the stack
    after its parents (in a DAG, a parent already expanded is already emitted)."""
    order: list[str] = []
    expanded: set[str] = set()
    emitted: set[str] = set()
    stack = start[::-1]
    while stack:
        v = stack[-1]
        if v in expanded:
            stack.pop()
            if v not in emitted:
                emitted.add(v)
                order.append(v)
            continue
        expanded.add(v)
        pv = vertices[v]
        if stop_at_cheap_loads and pv.load_cost is not None and pv.load_cost <= pv.compute_cost:
            continue
        for p in pv.parents:
            if p not in expanded and not vertices[p].in_memory:
                stack.append(p)
    return order


def _extract(vertices: Mapping[str, PlanVertex], start: list[str], loads: set[str] | frozenset[str]) -> Plan:
    """The plan that makes ``start`` available, loading exactly the vertices of ``loads``
    it reaches and computing every other one it reaches (the backward pass)."""
    load: set[str] = set()
    compute: set[str] = set()
    cost = 0.0
    stack = list(start)
    seen = set(start)
    while stack:
        v = stack.pop()
        pv = vertices[v]
        if v in loads:
            load.add(v)
            cost += pv.load_cost  # type: ignore[operator]  # loads only holds materialized vertices
            continue
        compute.add(v)
        cost += pv.compute_cost
        for p in pv.parents:
            if p not in seen and not vertices[p].in_memory:
                seen.add(p)
                stack.append(p)
    return Plan(frozenset(load), frozenset(compute), cost)


def _forward(vertices: Mapping[str, PlanVertex], order: list[str]) -> tuple[dict[str, float], set[str]]:
    """The paper's forward pass: best cost of each vertex counting each parent's best
    in full, and the vertices where loading is strictly cheaper than that (or no
    dearer than the vertex's own operation: see rule 1 of :func:`plan`)."""
    best: dict[str, float] = {}
    loads: set[str] = set()
    for v in order:
        pv = vertices[v]
        c = pv.compute_cost
        for p in pv.parents:
            b = best.get(p)
            if b is not None:  # absent: in memory (free), or above a cheap load (unused)
                c += b
        lc = pv.load_cost
        if lc is not None and (lc < c or lc <= pv.compute_cost):
            best[v] = lc
            loads.add(v)
        else:
            best[v] = c
    return best, loads


def plan_is_valid(vertices: Mapping[str, PlanVertex], needed: Iterable[str], p: Plan) -> bool:
    """Whether ``p`` makes every needed vertex available: each one is in memory, loaded
    or computed; every computed vertex's parents are too; only materialized vertices
    are loaded; ``p.cost`` is the sum of its loads and computes."""
    if p.load & p.compute:
        return False
    avail = p.load | p.compute

    def ok(v: str) -> bool:
        return vertices[v].in_memory or v in avail

    if not all(ok(n) for n in needed):
        return False
    if any(vertices[v].load_cost is None for v in p.load):
        return False
    if not all(ok(q) for v in p.compute for q in vertices[v].parents):
        return False
    cost = sum(vertices[v].load_cost or 0.0 for v in p.load) + sum(vertices[v].compute_cost for v in p.compute)
    return abs(cost - p.cost) <= 1e-9 * max(1.0, abs(cost))


# --------------------------------------------------------------------------- the paper's baseline


def plan_linear(vertices: Mapping[str, PlanVertex], needed: Iterable[str]) -> Plan:
    """The paper's linear-time reuse algorithm (forward min pass, backward prune).

    Optimal when the pending region is a tree; on a DAG the forward pass counts a
    shared ancestor once per path and may choose a load that computing the shared
    ancestor once would beat. The returned ``cost`` is the plan's real cost (each
    vertex once), so it is never below the optimum of :func:`plan`.
    """
    start = _start(vertices, needed)
    order = _region(vertices, start, stop_at_cheap_loads=False)
    _, loads = _forward(vertices, order)
    return _extract(vertices, start, loads)


# --------------------------------------------------------------------------- exact


def plan(vertices: Mapping[str, PlanVertex], needed: Iterable[str]) -> Plan:
    """A cheapest plan making every needed vertex available — exact on every DAG.

    Why the linear pass is mostly right, and what is left to decide:

    1. A vertex no dearer to load than its own operation is always loaded: swapping
       a compute for that load never costs more. The region stops above it.
    2. Where the forward pass chooses *compute* the choice is optimal: the forward
       pass over-counts shared ancestors, so it chooses compute only when computing
       is cheaper even at that over-estimate.
    3. Where it chooses *load* and no ancestor feeding the vertex is shared (its
       upstream is a tree used by nothing else), the choice is optimal as well.

    An optimal plan agreeing with 1-3 always exists (each can be swapped in
    without raising the cost), so only loads that fail 3 are open. Usually there
    are none and the answer is the linear plan; otherwise they are decided by a
    minimum cut over them and the not-yet-required vertices above them (a project
    selection: computing an open vertex saves ``load - compute`` and requires its
    parents), which is small.
    """
    start = _start(vertices, needed)
    order = _region(vertices, start, stop_at_cheap_loads=True)
    best: dict[str, float] = {}
    loads: set[str] = set()
    open_loads: list[str] = []
    consumers: dict[str, int] = dict.fromkeys(start, 1)
    count = consumers.get
    for v in order:  # the forward pass, also counting who consumes what
        pv = vertices[v]
        lc = pv.load_cost
        c = pv.compute_cost
        if lc is not None and lc <= c:
            best[v] = lc  # rule 1: always loaded, consumes nothing
            loads.add(v)
            continue
        for p in pv.parents:
            b = best.get(p)
            if b is not None:
                c += b
                consumers[p] = count(p, 0) + 1
        if lc is not None and lc < c:
            best[v] = lc
            loads.add(v)
            open_loads.append(v)
        else:
            best[v] = c
    linear = _extract(vertices, start, loads)
    if not open_loads:
        return linear
    undecided = _shared_upstream(vertices, order, best, consumers, open_loads)
    if not undecided:
        return linear
    computed = _cut(vertices, best, loads, linear.load | linear.compute, undecided)
    if not computed:
        return linear
    return _switch(vertices, linear, loads, computed)


def _switch(vertices: Mapping[str, PlanVertex], linear: Plan, loads: set[str], computed: set[str]) -> Plan:
    """``linear`` with the vertices of ``computed`` computed instead of loaded, plus what
    that newly requires (loading what the forward pass loads, except ``computed``).
    Switching loads to computes only adds requirements, so the plan is extended from
    the switched vertices rather than extracted again."""
    load = set(linear.load)
    compute = set(linear.compute)
    cost = linear.cost
    stack = [v for v in computed if v in load]
    for v in stack:
        load.discard(v)
        cost -= vertices[v].load_cost  # type: ignore[operator]
    pushed = set(stack)
    while stack:
        v = stack.pop()
        pv = vertices[v]
        if v in loads and v not in computed:
            load.add(v)
            cost += pv.load_cost  # type: ignore[operator]
            continue
        compute.add(v)
        cost += pv.compute_cost
        for p in pv.parents:
            if p not in pushed and p not in load and p not in compute and not vertices[p].in_memory:
                pushed.add(p)
                stack.append(p)
    return Plan(frozenset(load), frozenset(compute), cost)


def _shared_upstream(
    vertices: Mapping[str, PlanVertex],
    order: list[str],
    region: Mapping[str, float],
    consumers: Mapping[str, int],
    candidates: list[str],
) -> set[str]:
    """The candidates with a shared vertex upstream: an ancestor (reached through
    vertices that are not always loaded) that more than one vertex of the region,
    or the request itself, consumes. Elsewhere the linear choice is exact.
    Only the order up to the last candidate can hold their ancestors."""
    wanted = set(candidates)
    tainted: set[str] = set()
    found: set[str] = set()
    for v in order:
        pv = vertices[v]
        lc = pv.load_cost
        if lc is None or lc > pv.compute_cost:  # else always loaded: consumes nothing
            for p in pv.parents:
                if p in region and (p in tainted or consumers[p] > 1):
                    tainted.add(v)
                    break
        if v in wanted:
            if v in tainted:
                found.add(v)
            wanted.discard(v)
            if not wanted:
                break
    return found


def _cut(
    vertices: Mapping[str, PlanVertex],
    best: Mapping[str, float],
    loads: set[str],
    fixed: frozenset[str],
    undecided: set[str],
) -> set[str]:
    """Decide the undecided loads exactly; return those that should be computed instead.

    ``fixed``: the vertices the linear plan makes available. The needed ones and
    those upstream of fixed computes are paid for whatever the cut decides, so they
    drop out. The rest form a min-weight closure problem: node ``c:v`` (compute
    undecided ``v``, weight ``compute - load`` < 0) and ``a:u`` (make ``u``
    available, weight its cost), with ``c:v -> a:v`` and ``c:v -> a:p`` for its
    parents, ``a:u -> a:p`` for a vertex that would be computed. A vertex loaded
    for sure is a leaf costing its load.
    """
    net = _flow.Network()
    source, sink = net.node(), net.node()
    a_node: dict[str, int] = {}
    pending: list[str] = []

    def avail(u: str) -> int:
        """Node for 'u is available', created with its cost edge on first use."""
        node = a_node.get(u)
        if node is None:
            node = a_node[u] = net.node()
            if u in undecided:
                net.edge(node, sink, vertices[u].load_cost)  # type: ignore[arg-type]
            elif u in loads:
                net.edge(node, sink, best[u])  # loaded for sure: a leaf
            else:
                net.edge(node, sink, vertices[u].compute_cost)
                pending.append(u)
        return node

    c_node: dict[str, int] = {}
    for v in undecided:
        pv = vertices[v]
        c = c_node[v] = net.node()
        net.edge(source, c, pv.load_cost - pv.compute_cost)  # type: ignore[operator]
        if v not in fixed:
            net.edge(c, avail(v), _flow.INF)
        for p in pv.parents:
            if p in best and p not in fixed:
                net.edge(c, avail(p), _flow.INF)
    while pending:
        u = pending.pop()
        here = a_node[u]
        for p in vertices[u].parents:
            if p in best and p not in fixed:
                net.edge(here, avail(p), _flow.INF)
    net.max_flow(source, sink)
    side = net.source_side(source)
    return {v for v, c in c_node.items() if c in side}


# --------------------------------------------------------------------------- Helix baseline


def plan_mincut(vertices: Mapping[str, PlanVertex], needed: Iterable[str]) -> Plan:
    """Helix's formulation, as the exact but slower baseline: every vertex of the region
    becomes project-selection nodes (``a:v`` available, ``c:v`` computed) and one
    networkx minimum cut decides them all.

    Weights: ``a:v`` costs ``load`` (or 0 when not materialized, where
    ``a:v -> c:v`` forces a compute), ``c:v`` costs ``compute - load``; ``c:v``
    requires ``a:v`` and ``a:p`` of its parents; the needed vertices are forced in.
    Costs are rounded to nanoseconds for the cut (the returned cost is exact).
    """
    import networkx as nx  # lazily: only this baseline uses it

    start = _start(vertices, needed)
    order = _region(vertices, start, stop_at_cheap_loads=False)
    g = nx.DiGraph()
    s, t = ("s",), ("t",)
    g.add_node(s)
    g.add_node(t)

    def weight(node: tuple[str, str], w: float) -> None:
        # networkx's flows are exact on integers only (on floats its cut can even
        # break an infinite edge): capacities in nanoseconds
        cap = round(w * _NANO)
        if cap > 0:
            g.add_edge(node, t, capacity=cap)
        elif cap < 0:
            g.add_edge(s, node, capacity=-cap)
        else:
            g.add_node(node)

    for v in order:
        pv = vertices[v]
        a, c = ("a", v), ("c", v)
        if pv.load_cost is None:
            weight(a, 0.0)
            weight(c, pv.compute_cost)
            g.add_edge(a, c)  # no capacity attribute: infinite
        else:
            weight(a, pv.load_cost)
            weight(c, pv.compute_cost - pv.load_cost)
        g.add_edge(c, a)
        for p in pv.parents:
            if not vertices[p].in_memory:
                g.add_edge(c, ("a", p))
    for n in start:
        g.add_edge(s, ("a", n))
    _, (side, _) = nx.minimum_cut(g, s, t)
    loads = {v for v in order if ("a", v) in side and ("c", v) not in side and vertices[v].load_cost is not None}
    return _extract(vertices, start, loads)
