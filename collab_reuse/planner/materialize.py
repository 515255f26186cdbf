"""Which artifacts to keep in the store under a byte budget (the paper's §5).

The engine calls :func:`select` after each workload with one :class:`Candidate`
per artifact of the Experiment Graph; the returned ids are what the store
should hold (materialized ones left out are evicted).

Two algorithms, both greedy by a utility per byte:

* ``heuristic`` — every artifact is charged its full size, as if stored alone;
* ``storage_aware`` — frames are charged only for the columns not already
  kept, because the store is content-addressed per column and a frame that
  adds one column to its parent costs one column. Marginal sizes are updated
  as the selection grows.

Both keep the budget in *real* bytes — what :func:`stored_bytes` counts,
shared columns once — unlike the paper's storage-aware variant, which charged
a frame's marginal size when it was chosen and then stored up to 8x its budget.

Also here: :func:`recreation_costs` (what an artifact costs to rebuild from
the sources, every ancestor counted once) and :func:`model_potential` (the
best model quality reachable downstream), the inputs of the utility.

Pure functions over plain data; no I/O, no networkx.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = [
    "Algorithm",
    "Candidate",
    "model_potential",
    "recreation_costs",
    "select",
    "select_heuristic",
    "select_storage_aware",
    "stored_bytes",
    "utility_value",
]

Algorithm = Literal["heuristic", "storage_aware"]

#: Weight of model potential against frequency x time saved in the utility
#: (the paper's alpha). 0.5 weighs "leads to a good model" and "saves time
#: often" equally.
DEFAULT_ALPHA = 0.5


@dataclass(frozen=True)
class Candidate:
    """One artifact the materializer may keep, with what its utility needs."""

    id: str
    size: int
    """Bytes on disk if stored alone."""
    recreation_cost: float
    """Seconds to rebuild from sources, each ancestor counted once (see :func:`recreation_costs`)."""
    load_cost: float
    """Estimated seconds to load it from the store."""
    frequency: int
    """How many workloads used it."""
    potential: float = 0.0
    """Best model quality reachable from it, in [0, 1]; 0 when unknown."""
    columns: tuple[tuple[str, int], ...] = ()
    """(content key, bytes) of each stored column for frames; () otherwise."""
    materialized: bool = False
    """Already in the store (only breaks ties: keeping it costs no write)."""


# --------------------------------------------------------------------------- sizes


def _column_bytes(cands: Iterable[Candidate]) -> dict[str, int]:
    """Bytes of every column key. A key names content, so its size is one number;
    if callers disagree we take the largest, so a budget is never under-counted."""
    out: dict[str, int] = {}
    get = out.get
    for c in cands:
        for key, nbytes in c.columns:
            if nbytes > get(key, -1):
                out[key] = nbytes
    return out


@dataclass(frozen=True)
class _Sizes:
    """Per candidate (in input order): its distinct column keys, its own bytes (index,
    metadata, or the whole object when it has no columns: never shared) and its bytes
    when stored alone, max(size, its distinct columns)."""

    col_bytes: dict[str, int]
    keys: list[frozenset[str]]
    own: list[int]
    alone: list[int]


def _sizes(cands: Sequence[Candidate]) -> _Sizes:
    col_bytes = _column_bytes(cands)
    keys: list[frozenset[str]] = []
    own: list[int] = []
    alone: list[int] = []
    for c in cands:
        ks = frozenset(k for k, _ in c.columns)
        shared = sum(col_bytes[k] for k in ks)
        o = max(c.size - shared, 0)
        keys.append(ks)
        own.append(o)
        alone.append(o + shared)
    return _Sizes(col_bytes, keys, own, alone)


def stored_bytes(cands: Sequence[Candidate], ids: Iterable[str]) -> int:
    """Real bytes the store holds for the artifacts ``ids``: each one's own bytes
    plus every distinct column once (the store is content-addressed per column).

    This is the measure both selection algorithms keep under the budget.
    """
    chosen = set(ids)
    sz = _sizes(cands)
    keys: set[str] = set()
    total = 0
    for i, c in enumerate(cands):
        if c.id in chosen:
            total += sz.own[i]
            keys |= sz.keys[i]
    return total + sum(sz.col_bytes[k] for k in keys)


# --------------------------------------------------------------------------- utility


def _eligible(c: Candidate) -> bool:
    """Storing ``c`` can save time only when loading it is cheaper than rebuilding it."""
    return c.load_cost < c.recreation_cost


def utility_value(cands: Sequence[Candidate], alpha: float = DEFAULT_ALPHA) -> dict[str, float]:
    """The numerator of the utility of every eligible candidate (before dividing by size).

    ``alpha * p' + (1 - alpha) * f' * t'`` with the paper's normalisation: each
    term divided by its maximum over the candidates, so they lie in [0, 1].
    ``t`` is the time one reuse saves, ``recreation_cost - load_cost``, rather than
    the paper's bare recreation cost: an artifact as slow to load as to rebuild is
    worth nothing however expensive it is. Ineligible candidates are absent.
    """
    elig = [c for c in cands if _eligible(c)]
    if not elig:
        return {}
    max_f = max(max(c.frequency for c in elig), 1)
    max_t = max(c.recreation_cost - c.load_cost for c in elig)
    out: dict[str, float] = {}
    for c in elig:
        p = min(max(c.potential, 0.0), 1.0)
        f = max(c.frequency, 0) / max_f
        t = (c.recreation_cost - c.load_cost) / max_t
        out[c.id] = alpha * p + (1.0 - alpha) * f * t
    return out


def _per_byte(value: float, nbytes: int, scale: float) -> float:
    """Utility of ``value`` bought with ``nbytes``; free artifacts come first."""
    return math.inf if nbytes <= 0 else value / (nbytes / scale)


def _tiebreak(c: Candidate) -> tuple[bool, str]:
    """Deterministic order among equal utilities: already-stored first (no write), then id."""
    return (not c.materialized, c.id)


# --------------------------------------------------------------------------- algorithms


def select_heuristic(cands: Sequence[Candidate], budget: int, alpha: float = DEFAULT_ALPHA) -> set[str]:
    """The paper's heuristic: greedy by utility per byte, each artifact charged as if
    stored alone, skipping those that no longer fit, until nothing more fits.

    Charging full sizes over-counts shared columns, so the real bytes
    (:func:`stored_bytes`) of the result are at most ``budget`` too.
    Never selects an artifact whose ``load_cost >= recreation_cost`` or whose
    utility is zero (never used, no potential).
    """
    values = utility_value(cands, alpha)
    sz = _sizes(cands)
    alone = {c.id: n for c, n in zip(cands, sz.alone)}
    scale = float(max(alone.values(), default=1) or 1)
    order = sorted(
        (c for c in cands if values.get(c.id, 0.0) > 0.0),
        key=lambda c: (-_per_byte(values[c.id], alone[c.id], scale), _tiebreak(c)),
    )
    chosen: set[str] = set()
    left = budget
    for c in order:
        if alone[c.id] <= left:
            chosen.add(c.id)
            left -= alone[c.id]
    return chosen


def select_storage_aware(cands: Sequence[Candidate], budget: int, alpha: float = DEFAULT_ALPHA) -> set[str]:
    """Storage-aware greedy: an artifact is charged only its own bytes plus the
    columns not yet selected, and that marginal size is recomputed as the selection
    grows, so the many frames of one pipeline that share columns fit together.

    Marginal sizes only shrink as columns get selected, so a candidate's utility
    only rises. A plain lazy-greedy (re-check the top, re-insert if stale) assumes
    the opposite, so instead every candidate touching a newly selected column is
    re-pushed with its new utility and stale heap entries are skipped by version —
    O((n + total column memberships) log n). A candidate that did not fit is
    dropped for good: a later choice P shrinks its marginal size by at most the
    bytes P itself consumes (the columns they share are among P's new ones), so
    it can never fit again.

    The budget is charged with exactly the bytes each choice adds to the store,
    so :func:`stored_bytes` of the result is at most ``budget``.
    """
    values = utility_value(cands, alpha)
    sz = _sizes(cands)
    pick = [i for i, c in enumerate(cands) if values.get(c.id, 0.0) > 0.0]
    if not pick:
        return set()
    live = [cands[i] for i in pick]
    keys = [sz.keys[i] for i in pick]
    marginal = [sz.alone[i] for i in pick]
    col_bytes = sz.col_bytes
    scale = float(max(marginal) or 1)
    value = [values[c.id] for c in live]
    ties = [_tiebreak(c) for c in live]
    users: dict[str, list[int]] = {}
    for i, ks in enumerate(keys):
        for k in ks:
            users.setdefault(k, []).append(i)
    version = [0] * len(live)
    taken = [False] * len(live)
    dropped = [False] * len(live)

    def entry(i: int) -> tuple[float, tuple[bool, str], int, int]:
        m = marginal[i]
        return (-math.inf if m <= 0 else -value[i] * scale / m, ties[i], version[i], i)

    heap = [entry(i) for i in range(len(live))]
    heapq.heapify(heap)
    stored_keys: set[str] = set()
    left = budget
    while heap:
        _, _, ver, i = heapq.heappop(heap)
        if taken[i] or dropped[i] or ver != version[i]:
            continue  # stale entry: a fresher one with the current marginal size was pushed
        if marginal[i] > left:
            dropped[i] = True  # can never fit again (see docstring)
            continue
        taken[i] = True
        left -= marginal[i]
        touched: set[int] = set()
        for k in keys[i] - stored_keys:
            stored_keys.add(k)
            for j in users[k]:
                if not taken[j]:
                    marginal[j] -= col_bytes[k]
                    if not dropped[j]:
                        touched.add(j)
        for j in touched:
            version[j] += 1
            heapq.heappush(heap, entry(j))
    return {live[i].id for i in range(len(live)) if taken[i]}


def select(cands: Sequence[Candidate], budget: int, algorithm: Algorithm = "storage_aware") -> set[str]:
    """Ids to keep in the store under ``budget`` bytes, by the named algorithm.

    Raises ``ValueError`` for an unknown algorithm name (a misuse, so loud).
    """
    if algorithm == "heuristic":
        return select_heuristic(cands, budget)
    if algorithm == "storage_aware":
        return select_storage_aware(cands, budget)
    raise ValueError(f"unknown materialization algorithm {algorithm!r}; use 'heuristic' or 'storage_aware'")


def select_with_quotas(cands: Sequence[Candidate], budget: int, algorithm: Algorithm, owners: Mapping[str, str],
                       quota: int) -> set[str]:
    """``select`` with a per-writer quota: each writer's best under ``quota`` bytes first (their
    shortlist), the best of all shortlists under the shared budget next, and only then, in what space
    is left, anyone's best of the rest. One user's flood of new results can't push everyone else's
    work out of a team store: beyond their quota it only fills space nobody's shortlist needs, and
    goes first when someone's does. ``owners``: artifact id -> its writer (unknown ones share one
    account, ""); a quota of 0, or one the budget doesn't exceed, is no quota."""
    if quota <= 0 or quota >= budget:
        return select(cands, budget, algorithm)
    by_writer: dict[str, list[Candidate]] = {}
    for c in cands:
        by_writer.setdefault(owners.get(c.id, ""), []).append(c)
    shortlist = []
    for group in by_writer.values():
        best = select(group, quota, algorithm)
        shortlist.extend(c for c in group if c.id in best)
    kept = select(shortlist, budget, algorithm)
    left = budget - stored_bytes(cands, kept)
    if left > 0:
        kept |= select([c for c in cands if c.id not in kept], left, algorithm)
    return kept


# --------------------------------------------------------------------------- graph inputs


def _vertices(parents: Mapping[str, Sequence[str]], extra: Iterable[str] = ()) -> list[str]:
    seen: dict[str, None] = {}
    for v, ps in parents.items():
        seen.setdefault(v, None)
        for p in ps:
            seen.setdefault(p, None)
    for v in extra:
        seen.setdefault(v, None)
    return list(seen)


def _ancestor_closure(parents: Mapping[str, Sequence[str]], targets: Iterable[str]) -> set[str]:
    out: set[str] = set()
    stack = [t for t in targets]
    while stack:
        v = stack.pop()
        if v in out:
            continue
        out.add(v)
        stack.extend(p for p in parents.get(v, ()) if p not in out)
    return out


def _topological(parents: Mapping[str, Sequence[str]], vertices: Iterable[str]) -> list[str]:
    """Parents before children (Kahn's algorithm, LIFO so the order runs depth-first
    and ancestor bitsets can be dropped soon after their last child).
    Raises ``ValueError`` on a cycle."""
    verts = list(vertices)
    vset = set(verts)
    indeg: dict[str, int] = {}
    children: dict[str, list[str]] = {v: [] for v in verts}
    for v in verts:
        ps = set(parents.get(v, ()))
        indeg[v] = len(ps)
        for p in ps:
            if p not in vset:
                raise ValueError(f"parent {p!r} of {v!r} is outside the vertex set")
            children[p].append(v)
    stack = [v for v in reversed(verts) if indeg[v] == 0]
    order: list[str] = []
    while stack:
        v = stack.pop()
        order.append(v)
        for ch in children[v]:
            indeg[ch] -= 1
            if indeg[ch] == 0:
                stack.append(ch)
    if len(order) != len(verts):
        raise ValueError("the graph has a cycle")
    return order


#: Up to this many targets, one walk per target beats building ancestor bitsets
#: for their whole closure: a walk is 0.1-40 ms on a 1e5-vertex EG, the bitsets
#: 3-7 s for all of it (benchmarks/materialize_bench.py, recreation_timing).
_DFS_TARGETS = 8


def recreation_costs(
    parents: Mapping[str, Sequence[str]],
    compute_cost: Mapping[str, float],
    targets: Iterable[str] | None = None,
) -> dict[str, float]:
    """Seconds to rebuild each target from the sources: the compute cost of the target
    and of every one of its ancestors, each counted once however many paths lead to
    it (summing parents' costs would count a diamond's top twice — and grow
    exponentially on a ladder of diamonds).

    ``parents[v]`` lists the inputs of ``v``; vertices that appear only as parents
    are sources. A vertex missing from ``compute_cost`` costs 0 (a source not timed).
    ``targets=None`` means every vertex. Raises ``ValueError`` on a cycle.

    How: vertices in topological order get a bit each; a vertex's ancestor set is
    a Python int, the OR of its parents' (freed after its last child). A vertex
    with one parent costs its own plus its parent's — O(1) beyond the OR. With
    several, it takes the parent with the most ancestors and adds only the
    ancestors the others bring in addition (usually few), found as set bits of an
    XOR. For a handful of targets a per-target walk is cheaper and is used instead.
    """
    if targets is not None:
        tlist = list(dict.fromkeys(targets))
        if len(tlist) <= _DFS_TARGETS:
            return {t: _walk_cost(parents, compute_cost, t) for t in tlist}
        verts: Iterable[str] = _ancestor_closure(parents, tlist)
    else:
        tlist = None
        verts = _vertices(parents)
    order = _topological(parents, verts)
    own = [float(compute_cost.get(v, 0.0)) for v in order]
    left: dict[str, int] = dict.fromkeys(order, 0)
    uniq: list[tuple[str, ...]] = []
    for v in order:
        ps = tuple(dict.fromkeys(parents.get(v, ())))
        uniq.append(ps)
        for p in ps:
            left[p] += 1
    bit_sum = _BitSum(own)
    bits: dict[str, int] = {}
    count: dict[str, int] = {}
    cost: dict[str, float] = {}
    for i, v in enumerate(order):
        ps = uniq[i]
        me = 1 << i
        if not ps:
            anc, n, total = me, 1, own[i]
        elif len(ps) == 1:
            p = ps[0]
            anc, n, total = bits[p] | me, count[p] + 1, own[i] + cost[p]
        else:
            best = max(ps, key=count.__getitem__)
            union = 0
            for p in ps:
                union |= bits[p]
            extra = union ^ bits[best]  # bits[best] is a subset of union
            anc = union | me
            n = anc.bit_count()
            total = own[i] + cost[best]
            if len(ps) == 2 and extra.bit_count() > 64:
                # two big pipelines joined: what they share may be the smaller set
                other = ps[1] if ps[0] == best else ps[0]
                shared = bits[best] & bits[other]
                if shared.bit_count() < extra.bit_count():
                    total += cost[other] - bit_sum(shared)
                    extra = 0
            total += bit_sum(extra)
        cost[v] = total
        if left[v]:
            bits[v], count[v] = anc, n
        for p in ps:
            left[p] -= 1
            if not left[p]:
                del bits[p]  # no child left to need its ancestor set
    if tlist is None:
        return cost
    return {t: cost[t] for t in tlist}


class _BitSum:
    """Sum of ``weights[i]`` over the set bits ``i`` of an int: a loop when they are
    few, numpy's unpackbits when they are many (numpy imported only then)."""

    def __init__(self, weights: Sequence[float]) -> None:
        self._weights = weights
        self._array: object | None = None

    def __call__(self, bits: int) -> float:
        if bits.bit_count() <= 64:
            total = 0.0
            while bits:
                top = bits.bit_length() - 1
                total += self._weights[top]
                bits ^= 1 << top
            return total
        if self._array is None:
            self._array = np.asarray(self._weights, dtype=np.float64)
        weights: np.ndarray = self._array  # type: ignore[assignment]
        low = (bits & -bits).bit_length() - 1  # skip the empty low end
        bits >>= low
        raw = np.frombuffer(bits.to_bytes((bits.bit_length() + 7) // 8, "little"), dtype=np.uint8)
        idx = np.flatnonzero(np.unpackbits(raw, bitorder="little"))
        return float(weights[idx + low].sum())


def _walk_cost(parents: Mapping[str, Sequence[str]], compute_cost: Mapping[str, float], target: str) -> float:
    """Recreation cost of one target by a walk over its ancestors (each visited once)."""
    seen = {target}
    stack = [target]
    total = 0.0
    while stack:
        v = stack.pop()
        total += float(compute_cost.get(v, 0.0))
        for p in parents.get(v, ()):
            if p not in seen:
                seen.add(p)
                stack.append(p)
    return total


def model_potential(parents: Mapping[str, Sequence[str]], quality: Mapping[str, float]) -> dict[str, float]:
    """Best quality of any model reachable downstream of each vertex (itself included);
    0.0 where no scored model is reachable.

    This is the paper's *potential*: a frame that feeds a good model is worth
    keeping even if rarely reused. ``quality`` holds the scored model vertices.
    """
    order = _topological(parents, _vertices(parents, quality))
    best: dict[str, float] = {v: float(quality.get(v, 0.0)) for v in order}
    for v in reversed(order):
        b = best[v]
        for p in parents.get(v, ()):
            if b > best[p]:
                best[p] = b
    return best
