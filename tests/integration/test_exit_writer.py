"""The processes that write an exited kernel's results hold nothing of the kernel's but the store:
no port, no file the user opened, no pipe to Jupyter; they run under the store's cap on exit
writers; and a small backlog costs no copy of the kernel's memory at all."""
from __future__ import annotations

import fcntl
import json
import os
import re
import time
from pathlib import Path

import nbformat
import pytest

from collab_reuse.demo.runner import run_notebook
from collab_reuse.graph import ExperimentGraph
from collab_reuse.kernel.handoff import pending_writers, wait_for_writers

pytestmark = pytest.mark.kernel

RECORD_KERNEL_FDS = ("import json, os\n"
                     "json.dump({n: os.readlink(f'/proc/self/fd/{n}') for n in os.listdir('/proc/self/fd')\n"
                     "           if os.path.exists(f'/proc/self/fd/{n}')}, open('kernel-fds.json', 'w'))")
CELLS = [
    "import numpy as np, pandas as pd\nkept_open = open('user-file.txt', 'w')\nkept_open.write('mine')",
    "agg = pd.DataFrame({'k': np.arange(400_000) % 97, 'v': np.arange(400_000) * 0.5}).groupby('k').agg(['mean', 'std'])",
    # a 190 MB result, seconds to encode: the writers live long enough to be looked at
    "ranked = pd.DataFrame(np.sin(np.arange(24_000_000.0)).reshape(-1, 12)).rank()\nprint(ranked.shape)",
    RECORD_KERNEL_FDS,
]
PENDING = ["--CollabReuse.idle_seconds=3600", "--CollabReuse.min_saving=0"]


def _notebook(path: Path, cells: list[str]) -> Path:
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells]), path)
    return path


def _descriptors(pid: int) -> dict[str, str]:
    found = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            found[fd] = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            pass
    return found


def _is_exit_writer(pid: int) -> bool:
    return b"collab_reuse.kernel.exit_writer" in Path(f"/proc/{pid}/cmdline").read_bytes()


def test_the_exit_writers_hold_no_descriptor_of_the_kernel_but_the_store(tmp_path):
    store = tmp_path / "store"
    work = tmp_path / "work"
    run = run_notebook(_notebook(tmp_path / "nb.ipynb", CELLS), work, store_dir=store, timeout=300,
                       wait_for_writes=False, kernel_args=PENDING + ["--CollabReuse.exit_flush_seconds=0"])
    assert not run.errors
    seen: dict[int, dict[str, str]] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not seen or pending_writers(store)):
        for pid in pending_writers(store):
            try:
                seen.setdefault(pid, _descriptors(pid))
                seen[pid].setdefault("writer?", str(_is_exit_writer(pid)))
            except OSError:
                pass
        time.sleep(0.01)
    wait_for_writers(store, timeout=120)

    kernel = json.loads((work / "kernel-fds.json").read_text()).values()
    assert any(t.startswith("socket:") for t in kernel) and any(t.endswith("user-file.txt") for t in kernel)
    writers = {pid: fds for pid, fds in seen.items() if fds.pop("writer?") == "True"}
    children = {pid: fds for pid, fds in seen.items() if pid not in writers}
    assert len(writers) == 1 and len(children) == 1, seen  # the fresh writer and the forked encoder
    (writer,) = writers.values()
    (child,) = children.values()
    pipe = writer["0"]
    assert pipe.startswith("pipe:")
    root = str(store.resolve())
    inherited = {t for t in kernel if t != "/dev/null" and not t.startswith(root)}
    for fds in (writer, child):
        for fd, target in fds.items():
            # A fresh process opens files of its own while it starts (the loader's ld.so.cache,
            # modules being imported): only the kernel's sockets, pipes and files may not be here.
            assert target not in inherited and not target.startswith("socket:"), (fd, target, fds)
            assert not target.startswith("pipe:") or target == pipe, (fd, target, fds)
    assert list(child.values()).count(pipe) == 1  # the child writes into the writer's pipe, nothing else

    graph = ExperimentGraph(store, create=False)
    try:
        assert {a.kind for a in graph.all_artifacts() if a.state == 2} >= {"dataframe"}
    finally:
        graph.close()


def test_a_kernel_that_finds_every_exit_writer_slot_taken_abandons_its_pending_writes(tmp_path):
    store = tmp_path / "store"
    cells = CELLS[:2]
    slots = store / "writers" / "slots"
    slots.mkdir(parents=True)
    held = []
    for n in range(2):  # the default cap: two exit writers per store, both busy
        fd = os.open(slots / str(n), os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX)
        held.append(fd)
    try:
        run = run_notebook(_notebook(tmp_path / "nb.ipynb", cells), tmp_path / "work", store_dir=store,
                           timeout=300, kernel_args=PENDING)
    finally:
        for fd in held:
            os.close(fd)
    assert not run.errors and run.extension_loaded
    assert "2 exit writers already run on this store" in (store / "collab_reuse.log").read_text()
    graph = ExperimentGraph(store, create=False)
    try:
        assert graph.materialized_ids() == set()  # abandoned: nothing half-written either
        assert graph.query("SELECT id FROM artifacts WHERE state=1") == []
    finally:
        graph.close()

    other = [CELLS[0], CELLS[1].replace("['mean', 'std']", "['min', 'max']") + "\nprint(agg.shape)"]
    again = run_notebook(_notebook(tmp_path / "nb2.ipynb", other), tmp_path / "again", store_dir=store,
                         timeout=300, kernel_args=PENDING)
    assert not again.errors
    graph = ExperimentGraph(store, create=False)
    try:
        assert graph.materialized_ids()  # with a slot free, the next kernel's writes are made
    finally:
        graph.close()


def test_a_small_backlog_is_encoded_by_the_kernel_itself_never_by_a_copy_of_it(tmp_path):
    """The issue's case: a kernel holding hundreds of MB, with a few MB of results pending. No child
    holding the kernel's memory: only the fresh writer, whose memory is a small part of the kernel's."""
    store = tmp_path / "store"
    cells = ["import numpy as np, pandas as pd\nheld = np.ones(60_000_000)",  # 480 MB the kernel holds
             CELLS[1],
             "import resource\nopen('kernel-rss', 'w').write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))"]
    run = run_notebook(_notebook(tmp_path / "nb.ipynb", cells), tmp_path / "work", store_dir=store, timeout=300,
                       kernel_args=PENDING)
    assert not run.errors
    kernel_rss = int((tmp_path / "work" / "kernel-rss").read_text()) * 1024
    log = (store / "collab_reuse.log").read_text()
    assert "the kernel encoded its" in log and "encodes the rest" not in log  # no fork
    writer_peak = float(re.search(r"the exit writer applied \d+ writes .* \(peak memory (\d+) MB\)", log)[1]) * 1e6
    assert kernel_rss > 480_000_000
    assert writer_peak < 150_000_000  # the writer only: an interpreter and the encoded bytes
    graph = ExperimentGraph(store, create=False)
    try:
        assert graph.materialized_ids()
    finally:
        graph.close()
