"""Fixtures for the server extension's REST tests: a Jupyter server (pytest-jupyter) and a store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

# pytest-jupyter's fixtures and async-test hooks, for this folder only (it has no
# entry point, and pytest_plugins is only allowed in the root conftest).
from pytest_jupyter.jupyter_server import *  # noqa: F403

from collab_reuse.graph import ExperimentGraph, VertexUpdate
from collab_reuse.team import os_user

#: the account the test server runs as: the user whose cell reports it serves
SERVER_USER = os_user().name


@pytest.fixture
def store_dir(tmp_path, monkeypatch) -> Path:
    """An empty store directory that the server reads (through COLLAB_REUSE_STORE)."""
    path = tmp_path / "store"
    monkeypatch.setenv("COLLAB_REUSE_STORE", str(path))
    return path


@pytest.fixture
def jp_server_config():
    """Enable the extension the way the installed config file does."""
    shipped = Path(__file__).parents[2] / "jupyter-config" / "server-config" / "collab_reuse.json"
    return json.loads(shipped.read_text())


@pytest.fixture
def graph(store_dir):
    g = ExperimentGraph(store_dir, budget_bytes=10_000_000)
    yield g
    g.close()


@pytest.fixture
def record_run(graph):
    """``record_run(kernel_id=, cell_id=, steps=[...])`` writes one cell report to the store."""
    return lambda **kwargs: _record_run(graph, **kwargs)


@pytest.fixture
def step():
    """``step(id, op, status, ...)`` builds one step of a cell report."""
    return _step


def _record_run(graph: ExperimentGraph, *, kernel_id: str, cell_id: str, steps: list[dict],
               user: str = SERVER_USER, execution_count: int = 1, reuse=()) -> int:
    """Write one cell report (and its vertices, and what its loads saved by writer: ``reuse``) the way a
    kernel does; return its seq."""
    totals = {key: 0 for key in ("reused", "computed", "deferred", "warm_started", "not_reusable")}
    for step in steps:
        totals[step["status"]] += 1
    totals.update(
        seconds=sum(s["seconds"] for s in steps),
        saved_seconds=sum(s["saved_seconds"] for s in steps),
        bytes_read=sum(s["bytes_read"] for s in steps),
        bytes_written=sum(s["bytes_written"] for s in steps),
    )
    report = {"kernel_id": kernel_id, "user": user, "cell_id": cell_id,
              "execution_count": execution_count, "steps": steps, "totals": totals}
    updates = [VertexUpdate(id=s["id"], op=s["op"], kind=s["kind"], inputs=s["inputs"], seconds=s["seconds"],
                            computed=s["status"] == "computed", reused=s["status"] == "reused")
               for s in steps]
    seq = graph.record_cell(updates, user, report, reuse=list(reuse))
    assert seq is not None
    return seq


def _step(aid: str, op: str, status: str, *, inputs=(), seconds=1.0, saved=0.0, kind="dataframe",
         reason=None, read=0, written=0) -> dict:
    return {"id": aid, "op": op, "status": status, "reason": reason, "seconds": seconds, "saved_seconds": saved,
            "bytes_read": read, "bytes_written": written, "inputs": list(inputs), "kind": kind}
