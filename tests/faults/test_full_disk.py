"""A full disk under the store (a real one: a small tmpfs, so writes fail with ENOSPC): the notebook
runs on as without collab_reuse after the one warning, nothing is left "being written", no byte
is left outside the budget's account, and once there is room again the store works."""
from __future__ import annotations

import subprocess
import sys

import pytest

from collab_reuse.demo.runner import reuse_totals, run_notebook
from collab_reuse.graph import ExperimentGraph
from collab_reuse.store import DiskcacheBlobs

from .conftest import AGG, AGG2, READ, SETUP, assert_plain_but_one_warning, fault_run, write_notebook

pytestmark = pytest.mark.kernel

#: the store writes between cells (a pause after each, as a person reading), so the kernel itself meets
#: the full disk
BETWEEN_CELLS = {"kernel_args": ["--CollabReuse.idle_seconds=0.2", "--CollabReuse.min_saving=0"], "pause": 1.0}
CELLS = [SETUP, READ, AGG, AGG2, "print(df.describe().shape)"]


def stored_state(store):
    """(rows being written, blob keys no stored artifact uses, bytes of blob files beyond what the graph
    counts, budget)."""
    graph = ExperimentGraph(store, create=False)
    try:
        writing = graph.query("SELECT id FROM artifacts WHERE state=1")
        live = graph.stored_blob_keys()
        blobs = DiskcacheBlobs(store / "blobs")
        try:
            stray = sorted(k for k in blobs.keys() if k not in live)
        finally:
            blobs.close()
        files = sum(p.stat().st_size for p in (store / "blobs").rglob("*.val"))
        return writing, stray, files - graph.used_bytes(), graph.budget()
    finally:
        graph.close()


def gc(store) -> str:
    done = subprocess.run([sys.executable, "-m", "collab_reuse.cli", "--store", str(store), "gc"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_full_disk_costs_reuse_only_and_the_store_is_whole_afterwards(tmp_path, small_filesystem):
    disk = small_filesystem("3m")  # the graph fits, the frame read from data.csv (about 10 MB) does not
    store = disk / "store"
    notebook = write_notebook(tmp_path / "nb.ipynb", CELLS)
    plain = fault_run(notebook, tmp_path / "plain", None, tmp_path / "x")
    full = fault_run(notebook, tmp_path / "full", store, store, **BETWEEN_CELLS)
    assert full.extension_loaded
    cells = assert_plain_but_one_warning(plain, full)
    assert cells[0] >= 1  # at the start of a cell after the writer met the full disk (not at kernel start)
    assert "No space left on device" in full.text(cells[0]) or "full" in full.text(cells[0])

    gc(store)  # (a write the disk cut short can leave a "being written" row and a partial file: undone here)
    writing, stray, unaccounted, _ = stored_state(store)
    assert writing == [] and stray == [] and unaccounted <= 0

    subprocess.run(["mount", "-o", "remount,size=200m", str(disk)], check=True)  # room again
    runs = [run_notebook(notebook, tmp_path / f"roomy{n}", store_dir=store, env={"FAULT_DIR": str(tmp_path / "x")},
                         timeout=300) for n in range(2)]
    for run in runs:
        assert_plain_but_one_warning(plain, run, warnings=0)
    assert reuse_totals(store, runs[1].kernel_id).get("reused", 0) >= 1


def test_a_disk_filled_by_another_program_between_cells(tmp_path, small_filesystem):
    """The store had room when the kernel started; a cell (another program, in real life) fills it."""
    disk = small_filesystem("40m")
    store = disk / "store"
    fill = ("with open(os.path.join(os.environ['FAULT_DIR'], 'filler'), 'wb') as f:\n"
            "    try:\n        f.write(b'0' * 60_000_000)\n    except OSError:\n        pass")
    notebook = write_notebook(tmp_path / "nb.ipynb", [SETUP, fill, READ, AGG, AGG2])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    plain = fault_run(notebook, tmp_path / "plain", None, elsewhere)
    full = fault_run(notebook, tmp_path / "full", store, disk, **BETWEEN_CELLS)
    assert_plain_but_one_warning(plain, full)
    (disk / "filler").unlink()
    gc(store)
    writing, stray, unaccounted, _ = stored_state(store)
    assert writing == [] and stray == [] and unaccounted <= 0
