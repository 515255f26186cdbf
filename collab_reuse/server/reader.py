"""Read-only access to a store's Experiment Graph for the REST handlers.

The handlers never touch SQLite on the event loop: every read runs in a small
thread pool (``StoreReader``'s executor), and every answer is bounded by
paging, so a large store cannot stall the Jupyter server.

Cell reports are read for one user only (``owner``: the Unix account this server runs as, which
is the account its kernels run as and write their reports under), never every user's of a
shared store.

A read never creates a store: while the store directory or its
``graph.sqlite`` does not exist (nothing traced yet), the summary says the
store is not available and the lists are empty.
"""

from __future__ import annotations

import asyncio
import html
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

from ..planner import why
from ..report import Totals

log = logging.getLogger(__name__)

GRAPH_FILE = "graph.sqlite"
MAX_LIMIT = 1000


def store_dir() -> Path:
    """The store directory the server reads: the one the kernels write (``COLLAB_REUSE_STORE``)."""
    from ..config import resolve_store_dir

    return Path(resolve_store_dir())


def server_user() -> str:
    """The Unix account this server runs as (the OS says; no environment variable decides)."""
    from ..team import os_user

    return os_user().name


def _open_graph(path: Path) -> Any:
    from ..graph import ExperimentGraph

    return ExperimentGraph(path)


def empty_summary(path: Path, reason: str) -> dict[str, Any]:
    """The summary of a store that does not exist yet or cannot be read."""
    return {
        "available": False,
        "reason": reason,
        "store_dir": str(path),
        "used_bytes": 0,
        "budget_bytes": 0,
        "artifacts": 0,
        "materialized": 0,
        "hits": 0,
        "misses": 0,
        "hit_rate": 0.0,
        "saved_seconds": 0.0,
        "users": [],
        "top_artifacts": [],
        "per_user": [],
    }


def normalize_report(report: dict[str, Any]) -> dict[str, Any]:
    """Fill the fields the panel relies on, so that an older or partial report still renders."""
    out = dict(report)
    out.setdefault("kernel_id", None)
    out["user"] = out.get("user") or ""
    out.setdefault("cell_id", None)
    out.setdefault("execution_count", None)
    steps = []
    for step in out.get("steps") or []:
        step = dict(step)
        step.setdefault("id", None)
        step.setdefault("op", "?")
        step.setdefault("status", "computed")
        step.setdefault("reason", None)
        step.setdefault("kind", "other")
        step["inputs"] = list(step.get("inputs") or [])
        step["why"] = why.visible(step.get("why") if isinstance(step.get("why"), list) else None)
        step["why_text"] = why.text(step["why"][0], step["why"][0].get("cell")) if step["why"] else None
        for key in ("seconds", "saved_seconds"):
            step[key] = float(step.get(key) or 0.0)
        for key in ("bytes_read", "bytes_written"):
            step[key] = int(step.get(key) or 0)
        steps.append(step)
    out["steps"] = steps
    root = out.get("why")
    out["why"] = why.visible([root])[0] if isinstance(root, dict) else None  # type: ignore[index]
    out["why_text"] = why.summary_line(out["why"], lambda path: True)  # (already filtered)
    out["totals"] = asdict(Totals.normalized(dict(out.get("totals") or {})))
    return out


class StoreReader:
    """Answers the panel's questions about one store, off the event loop.

    ``resolve`` gives the store directory (called on each request, so a changed
    environment is followed); ``open_graph`` opens an Experiment Graph on it; ``owner`` names
    the user whose cell reports ``events`` may return.
    Opened graphs are kept (one per directory): the graph gives each thread
    its own SQLite connection, so the pool's threads can share it.
    """

    def __init__(
        self,
        resolve: Callable[[], Path] = store_dir,
        open_graph: Callable[[Path], Any] = _open_graph,
        max_workers: int = 2,
        owner: Callable[[], str] = server_user,
    ) -> None:
        self._resolve = resolve
        self._owner = owner
        self._open_graph = open_graph
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="collab-reuse-rest")
        self._graphs: dict[Path, tuple[int, Any]] = {}  # dir -> (inode of graph.sqlite, graph)
        self._lock = threading.Lock()

    def close(self) -> None:
        """Stop the thread pool (the server is shutting down)."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    def _graph(self) -> tuple[Path, Any | None, str | None]:
        """(store dir, graph or None, why not) — runs in the pool."""
        path = self._resolve()
        try:
            inode = (path / GRAPH_FILE).stat().st_ino
        except OSError:
            return path, None, "Nothing has been traced into this store yet."
        with self._lock:
            inode_then, graph = self._graphs.get(path, (None, None))
            if graph is None or inode_then != inode:
                # First use, or the store was deleted and made anew: (re)open it.
                try:
                    graph = self._open_graph(path)
                except Exception as exc:  # StoreError, sqlite3.Error, a schema from another version
                    # The panel shows why; the server keeps serving.
                    log.warning("collab_reuse: can't read the store at %s: %s", path, exc)
                    return path, None, f"The store cannot be read: {exc}"
                self._graphs[path] = (inode, graph)
        return path, graph, None

    # -- the three questions -------------------------------------------------------------------

    async def summary(self) -> dict[str, Any]:
        return await self._run(self._summary)

    def _summary(self) -> dict[str, Any]:
        path, graph, why = self._graph()
        if graph is None:
            return empty_summary(path, why or "")
        summary = dict(graph.summary())
        summary["available"] = True
        summary["reason"] = None
        return summary

    async def artifacts(self, offset: int, limit: int) -> dict[str, Any]:
        return await self._run(self._artifacts, offset, limit)

    def _artifacts(self, offset: int, limit: int) -> dict[str, Any]:
        _, graph, _ = self._graph()
        page = {"total": 0, "items": []} if graph is None else graph.artifacts(offset=offset, limit=limit)
        return {"total": int(page["total"]), "offset": offset, "limit": limit, "items": list(page["items"])}

    async def report(self) -> str:
        return await self._run(self._report)

    def _report(self) -> str:
        from ..analytics import report_html

        path, graph, why = self._graph()
        if graph is None:
            return f"<!DOCTYPE html><html><body><p>No report: {html.escape(why or '')}</p></body></html>"
        return report_html(graph, str(path))

    async def events(self, kernel_id: str | None, since: int, limit: int) -> dict[str, Any]:
        return await self._run(self._events, kernel_id, since, limit)

    def _events(self, kernel_id: str | None, since: int, limit: int) -> dict[str, Any]:
        _, graph, _ = self._graph()
        rows = [] if graph is None else graph.events(kernel_id=kernel_id, since=since, limit=limit,
                                                    user=self._owner())
        items = [normalize_report(r) for r in rows]
        last_seq = max([since, *(int(r["seq"]) for r in items)])
        return {"items": items, "last_seq": last_seq, "more": len(items) >= limit}
