"""A hostile colleague's tools: write any bytes into a store's files, as someone with write access can.

(A module of its own, not conftest.py: tests/kernel has a conftest too, and ``from conftest import``
would find whichever was imported first.)

Every attack writes what a writer with the store's own code (or raw SQLite) could write: blobs
are put under keys that really are their hashes unless the attack is the key itself, manifests
are well formed unless the attack is the form. ``notebook_runs`` runs one small notebook plain
and once with collab_reuse (a real Jupyter kernel each), once per test module; each test tampers
with a copy of that store and re-runs.
"""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np

from collab_reuse.demo.runner import RunResult, compare, run_notebook
from collab_reuse.graph import ExperimentGraph
from collab_reuse.store import ArtifactStore, DiskcacheBlobs
from collab_reuse.store.formats import Encoded

CELLS = [
    "import numpy as np, pandas as pd\nfrom sklearn.ensemble import RandomForestClassifier",
    "df = pd.read_csv('data.csv')\nprint(df.shape, round(df['a'].sum(), 6))",
    "X, y = df[['a', 'b', 'c']].to_numpy(), df['y'].to_numpy()\n"
    "model = RandomForestClassifier(n_estimators=20, random_state=0).fit(X, y)",
    "print(model.predict_proba(X[:5]).round(6).tolist())\nprint(round(df['b'].mean(), 6), len(df))",
]
TIMEOUT = 180
STORE_EVERYTHING = ["--CollabReuse.min_saving=0"]


def write_notebook(path: Path, cells: list[str]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, path)
    return path


def write_data(workdir: Path) -> None:
    rng = np.random.default_rng(0)
    rows = ["a,b,c,y"] + [f"{a:.6f},{b:.6f},{c:.6f},{int(a + b > 1)}" for a, b, c in rng.random((30000, 3))]
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "data.csv").write_text("\n".join(rows) + "\n")


@dataclass
class Runs:
    notebook: Path
    plain: RunResult
    first: RunResult
    store: Path  # the store the first run filled (copy it before tampering)

    def rerun(self, store: Path, workdir: Path, kernel_args: list[str] = STORE_EVERYTHING) -> RunResult:
        write_data(workdir)
        return run_notebook(self.notebook, workdir, store_dir=store, timeout=TIMEOUT, kernel_args=kernel_args)

    def copy_store(self, to: Path) -> Path:
        shutil.copytree(self.store, to, symlinks=True)
        return to


def first_runs(tmp_path_factory) -> Runs:
    """The victim notebook run plain and once with collab_reuse (filling a store)."""
    root = tmp_path_factory.mktemp("hostile")
    notebook = write_notebook(root / "victim.ipynb", CELLS)
    write_data(root / "plain")
    plain = run_notebook(notebook, root / "plain", timeout=TIMEOUT)
    write_data(root / "first")
    first = run_notebook(notebook, root / "first", store_dir=root / "store", timeout=TIMEOUT,
                         kernel_args=STORE_EVERYTHING)
    assert first.extension_loaded and compare(plain, first) == []
    return Runs(notebook, plain, first, root / "store")


# -- reading a store as the attacker --------------------------------------------------------

def keep_only(store: Path, *artifact_ids: str) -> None:
    """Drop every other stored artifact's manifest row: the re-run must load (or compute) these
    rather than a result downstream of them."""
    backend = DiskcacheBlobs(store / "blobs")
    try:
        for key in list(backend.keys()):
            if key.startswith("m:") and key[2:] not in artifact_ids:
                backend.delete(key)
    finally:
        backend.close()


def log_of(store: Path) -> str:
    path = store / "collab_reuse.log"
    return path.read_text() if path.exists() else ""


def stored(store: Path, op_fragment: str) -> str:
    """The id of the one materialized artifact whose operation's name contains ``op_fragment``."""
    found = [a.id for a in ExperimentGraph(store).all_artifacts() if op_fragment in a.op and a.state == 2]
    assert len(found) == 1, f"{op_fragment}: {found}"
    return found[0]


def statuses(store: Path, kernel_id: str, artifact_id: str) -> list[str]:
    """What the re-run's event reports say happened to one artifact."""
    return [step["status"] for event in ExperimentGraph(store).events(kernel_id=kernel_id, limit=100000)
            for step in event.get("steps", []) if step.get("id") == artifact_id]


def refusals(store: Path, kernel_id: str) -> list[str]:
    """The re-run's reasons of kind "refused": what the panel says of a stored result that failed a check."""
    return [reason["detail"] for event in ExperimentGraph(store).events(kernel_id=kernel_id, limit=100000)
            for step in event.get("steps", []) for reason in step.get("why") or [] if reason.get("kind") == "refused"]


def manifest_of(store: Path, artifact_id: str) -> dict:
    blobs = DiskcacheBlobs(store / "blobs")
    try:
        return ArtifactStore(blobs).manifest(artifact_id)
    finally:
        blobs.close()


def row_of(store: Path, artifact_id: str) -> dict:
    blobs = DiskcacheBlobs(store / "blobs")
    try:
        return json.loads(blobs.get_row(f"m:{artifact_id}"))
    finally:
        blobs.close()


def plant(store: Path, artifact_id: str, value_tree: dict, blobs: dict[str, bytes], kind: str, type_name: str,
          extra: dict | None = None, user: str | None = None) -> None:
    """Write a well-formed manifest for ``artifact_id`` whose value is ``value_tree`` (what any writer
    of the store can do: every key is the real hash of its bytes)."""
    backend = DiskcacheBlobs(store / "blobs")
    try:
        ArtifactStore(backend, user=user).put(
            artifact_id, Encoded({"kind": kind, "type": type_name, "value": value_tree}, blobs), extra)
    finally:
        backend.close()


def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def raw_rows(store: Path) -> list[sqlite3.Connection]:
    """Every shard database of a store's blob cache, opened as plain SQLite (no diskcache in between)."""
    return [sqlite3.connect(db, isolation_level=None) for db in sorted((store / "blobs").glob("*/cache.db"))]


def value_file(store: Path, key: str) -> Path:
    """The file a file-backed blob lives in."""
    for db in sorted((store / "blobs").glob("*/cache.db")):
        con = sqlite3.connect(db)
        found = con.execute("SELECT filename FROM Cache WHERE key=?", (key,)).fetchone()
        con.close()
        if found and found[0]:
            return db.parent / found[0]
    raise KeyError(key)


def sql_everywhere(store: Path, statement: str, params: tuple = ()) -> int:
    changed = 0
    for con in raw_rows(store):
        with con:
            changed += con.execute(statement, params).rowcount
        con.close()
    return changed


class Payload:
    """Unpickling it creates ``marker``: the proof that foreign code ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)
