"""A store another user made, that this user may read but not write (or not even read): the
notebook runs as without collab_reuse after the one warning; ``%load_ext`` itself never raises.
Run as a real second Unix user (root's permission override would hide the fault)."""
from __future__ import annotations

import os
import shutil

import pytest

from collab_reuse.demo.runner import RunResult, run_notebook

from .conftest import AGG, READ, SETUP, assert_plain_but_one_warning, run_as, write_notebook

pytestmark = pytest.mark.kernel

AS_THE_USER = r'''
import contextlib, io, json, os, sys
from pathlib import Path
from collab_reuse.demo.runner import run_notebook

notebook, work, store = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
runs = {}
for name, store_dir in (("plain", None), ("other", store)):
    run = run_notebook(notebook, work / name, store_dir=store_dir, timeout=300)
    runs[name] = {"path": run.path, "outputs": run.outputs, "files": run.files, "loaded": run.extension_loaded}

os.environ["COLLAB_REUSE_STORE"] = str(store)
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance(history_length=0)
err = io.StringIO()
with contextlib.redirect_stderr(err):
    loading = shell.run_cell("%load_ext collab_reuse")
    at_load = err.getvalue()
    after = shell.run_cell("x = sum(range(10))")
runs["load_ext"] = {"raised": repr(loading.error_in_exec or loading.error_before_exec),
                    "stderr": at_load, "next_stderr": err.getvalue()[len(at_load):],
                    "next_raised": repr(after.error_in_exec)}
try:
    (store / "probe").write_text("can this user write here?")
    runs["writable"] = True
except OSError:
    runs["writable"] = False
print(json.dumps(runs))
'''


def _result(found: dict) -> RunResult:
    return RunResult(path=found["path"], seconds=0.0, kernel_start_seconds=0.0, notebook=None,
                     outputs=found["outputs"], files=found["files"], kernel_id="", workdir="")


@pytest.mark.parametrize("mode", [0o755, 0o700], ids=["readable", "unreadable"])
def test_a_store_this_user_cant_write_costs_reuse_only(other_user, mode):
    name, base = other_user
    store = base / "store"
    notebook = write_notebook(base / "nb.ipynb", [SETUP, READ, AGG])
    run_notebook(notebook, base / "owner", store_dir=store, timeout=300)  # made and filled by its owner (root)
    for path in [store, *store.rglob("*")]:
        path.chmod(mode if path.is_dir() else mode & 0o644)
    before = {p: p.stat().st_mtime_ns for p in store.rglob("*")}
    work = base / "work"
    work.mkdir()
    shutil.chown(work, name, name)
    os.chmod(notebook, 0o644)

    found = run_as(other_user, AS_THE_USER, str(notebook), str(work), str(store))

    assert found["writable"] is False  # (the premise: this user really can't write the store)
    assert found["other"]["loaded"] is True  # the extension loads: it just doesn't reuse
    assert assert_plain_but_one_warning(_result(found["plain"]), _result(found["other"])) == [0]
    load_ext = found["load_ext"]
    assert load_ext["raised"] == "None" and load_ext["next_raised"] == "None"
    assert load_ext["stderr"].count("collab_reuse stopped reusing:") == 1  # at the end of the %load_ext cell
    assert load_ext["next_stderr"] == ""
    assert {p: p.stat().st_mtime_ns for p in store.rglob("*")} == before  # nothing of it was written

