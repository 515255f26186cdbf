"""Store faults inside one IPython shell: what the session holds and does once the store fails.

(The outputs of whole notebooks under each fault, against the plain run, are in tests/faults.)
"""
import shutil
import sqlite3
import time

import pytest
from IPython.core.interactiveshell import InteractiveShell

import collab_reuse
from collab_reuse.graph import sqlite_file

SETUP = "import numpy as np, pandas as pd\ndf = pd.DataFrame({'k': np.arange(300_000) % 97, 'v': np.arange(300_000) * 0.5})"
#: a 24 MB array that takes about 0.2 s to compute (worth storing), and an aggregate
AGG = ("agg{n} = df.groupby('k').agg(['mean', 'std', 'median', 'max'][:{n}])\n"
       "big{n} = np.argsort(np.sin(np.arange(3_000_000.0) + {n}), kind='stable')")


def run(shell, src):
    result = shell.run_cell(src)
    assert result.error_in_exec is None, result.error_in_exec
    return result


def open_shell(monkeypatch, store, *settings):
    monkeypatch.setenv("COLLAB_REUSE_STORE", str(store))
    InteractiveShell.clear_instance()
    ip = InteractiveShell.instance(history_length=0)
    ip.history_manager.enabled = False
    for setting in settings:
        ip.run_line_magic("config", setting)
    ip.run_line_magic("load_ext", "collab_reuse")
    return ip, collab_reuse.session_of(ip)


@pytest.fixture
def shells():
    opened = []
    yield opened
    for ip in opened:
        ip.run_line_magic("unload_ext", "collab_reuse")
    InteractiveShell.clear_instance()


def test_a_deleted_store_stops_the_session_and_lets_go_of_the_results_held(tmp_path, monkeypatch, capsys, shells):
    ip, s = open_shell(monkeypatch, tmp_path / "store", "CollabReuse.idle_seconds = 3600")  # nothing encoded
    shells.append(ip)
    run(ip, SETUP)
    run(ip, AGG.format(n=2))
    assert s.held_bytes > 10_000_000 and s.writer.waiting >= 1  # results wait for an idle kernel
    run(ip, f"import shutil; shutil.rmtree({str(tmp_path / 'store')!r})")
    assert s.failure is not None and "is gone" in s.failure
    assert s.writer.wait_idle(5)  # the job waiting for an idle kernel stops at once
    assert s.held_bytes == 0 and s.writer.waiting == 0  # dropped: they will never be stored
    for n in (3, 4):
        run(ip, AGG.format(n=n))
    assert s.held_bytes == 0 and s.writer.waiting == 0 and not s.active
    err = capsys.readouterr().err
    assert err.count("collab_reuse stopped reusing:") == 1 and "Logging error" not in err
    assert not (tmp_path / "store").exists()


def test_a_write_lock_held_too_long_stops_the_session_without_holding_up_cells(tmp_path, monkeypatch, capsys,
                                                                             shells):
    monkeypatch.setattr(sqlite_file, "BUSY_SECONDS", 0.5)  # (the writer's wait for another process's write lock)
    ip, s = open_shell(monkeypatch, tmp_path / "store", "CollabReuse.idle_seconds = 0")
    shells.append(ip)
    run(ip, SETUP)
    assert s.flush(30)
    other = sqlite3.connect(tmp_path / "store" / "graph.sqlite", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process writes, and does not finish
    try:
        start = time.perf_counter()
        run(ip, AGG.format(n=2))
        assert time.perf_counter() - start < 5  # lookups read (WAL): the lock doesn't hold up cells
        deadline = time.monotonic() + 30
        while s.failure is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert s.failure is not None and "locked" in s.failure
        run(ip, AGG.format(n=3))
        assert s.held_bytes == 0 and s.writer.waiting == 0
    finally:
        other.execute("ROLLBACK")
        other.close()
    err = capsys.readouterr().err
    assert err.count("collab_reuse stopped reusing:") == 1


def test_results_held_for_the_store_stay_within_twice_max_pending(tmp_path, monkeypatch, shells):
    ip, s = open_shell(monkeypatch, tmp_path / "store", "CollabReuse.idle_seconds = 3600",
                       "CollabReuse.max_pending = '30MB'")
    shells.append(ip)
    run(ip, SETUP)
    for n in range(2, 8):  # each cell offers a 24 MB array (and an aggregate)
        run(ip, AGG.format(n=n))
        assert s.held_bytes <= 60_000_000
    assert s.failure is None and s.held_bytes > 24_000_000


def test_a_store_that_is_not_a_directory_warns_at_the_end_of_the_load_ext_cell(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "store"
    blocker.write_text("not a store")
    monkeypatch.setenv("COLLAB_REUSE_STORE", str(blocker))
    InteractiveShell.clear_instance()
    ip = InteractiveShell.instance(history_length=0)
    try:
        run(ip, "%load_ext collab_reuse")
        assert capsys.readouterr().err.count("collab_reuse stopped reusing:") == 1  # in that very cell
        run(ip, "x = sum(range(10))")
        assert capsys.readouterr().err == ""
    finally:
        ip.run_line_magic("unload_ext", "collab_reuse")
        InteractiveShell.clear_instance()


def test_a_store_fault_in_a_magic_is_a_usage_error_and_stops_reuse(tmp_path, monkeypatch, shells):
    from IPython.core.error import UsageError

    ip, s = open_shell(monkeypatch, tmp_path / "store")
    shells.append(ip)
    run(ip, SETUP)
    assert s.flush(30)
    shutil.rmtree(tmp_path / "store")
    with pytest.raises(UsageError, match="store"):
        ip.run_line_magic("reuse", "budget 1GB")
    assert s.failure is not None
