"""A small max-flow (Dinic) for the residual cuts of :func:`collab_reuse.planner.reuse.plan`.

Those networks have tens of nodes; building a networkx graph for them costs
more than solving them, so this is a plain-list implementation.
"""

from __future__ import annotations

from collections import deque

INF = float("inf")
_EPS = 1e-12


class Network:
    """A flow network over integer nodes; each edge has a paired reverse edge."""

    def __init__(self) -> None:
        self._head: list[list[int]] = []  # node -> indices of its out-edges
        self._to: list[int] = []
        self._cap: list[float] = []

    def node(self) -> int:
        """Add a node; return its number."""
        self._head.append([])
        return len(self._head) - 1

    def edge(self, u: int, v: int, cap: float) -> None:
        """Add an edge u -> v of capacity ``cap`` (INF allowed)."""
        self._head[u].append(len(self._to))
        self._to.append(v)
        self._cap.append(cap)
        self._head[v].append(len(self._to))
        self._to.append(u)
        self._cap.append(0.0)

    def max_flow(self, s: int, t: int) -> float:
        """Push a maximum flow from ``s`` to ``t``; return its value."""
        total = 0.0
        while True:
            level = self._levels(s)
            if level[t] < 0:
                return total
            it = [0] * len(self._head)
            while True:
                f = self._push(s, t, INF, level, it)
                if f <= _EPS:
                    break
                total += f

    def source_side(self, s: int) -> set[int]:
        """Nodes reachable from ``s`` in the residual network (after :meth:`max_flow`):
        the source side of a minimum cut."""
        seen = {s}
        queue = deque([s])
        while queue:
            u = queue.popleft()
            for e in self._head[u]:
                v = self._to[e]
                if v not in seen and self._cap[e] > _EPS:
                    seen.add(v)
                    queue.append(v)
        return seen

    def _levels(self, s: int) -> list[int]:
        level = [-1] * len(self._head)
        level[s] = 0
        queue = deque([s])
        while queue:
            u = queue.popleft()
            for e in self._head[u]:
                v = self._to[e]
                if level[v] < 0 and self._cap[e] > _EPS:
                    level[v] = level[u] + 1
                    queue.append(v)
        return level

    def _push(self, s: int, t: int, limit: float, level: list[int], it: list[int]) -> float:
        """One blocking-flow augmenting path by iterative DFS; 0 when none is left."""
        path: list[int] = []  # edge indices from s
        u = s
        while True:
            if u == t:
                f = min(self._cap[e] for e in path) if path else limit
                for e in path:
                    self._cap[e] -= f
                    self._cap[e ^ 1] += f
                return f
            edges = self._head[u]
            while it[u] < len(edges):
                e = edges[it[u]]
                v = self._to[e]
                if self._cap[e] > _EPS and level[v] == level[u] + 1:
                    break
                it[u] += 1
            else:
                if not path:
                    return 0.0
                level[u] = -1  # dead end: never enter again in this phase
                e = path.pop()
                u = self._to[e ^ 1]
                it[u] += 1
                continue
            path.append(edges[it[u]])
            u = self._to[edges[it[u]]]
