"""Finishing a closing kernel's store writes in a detached child process.

Jupyter gives a closing kernel 2.5 s before interrupting it, and a kernel that
ran its cells back to back (Run All, nbclient, papermill) has had no idle time
to encode its results. At exit the kernel forks: the child holds a
copy-on-write snapshot of every pending result, leaves the kernel's session
(so killing the kernel's process group spares it), and runs the writer's
remaining jobs, with a time limit, while the kernel exits at once.

Fork safety: only the forking thread exists in the child. SQLite keeps
per-process lock state that a child would inherit and get wrong (its writes
were lost when the kernel closed an inherited connection), so every store and
graph connection is closed before the fork (no fork if one is still open) and
the child opens its own; the cell lock is replaced; OpenMP
pools (LightGBM, BLAS) are limited to one thread, since a pool created before
the fork hangs in the child. A child that hangs anyway is killed by its alarm;
an artifact is visible only once fully written, so nothing half-written shows.

Each child leaves ``<store>/writers/<pid>`` while it runs: ``pending_writers``
and ``wait_for_writers`` let a benchmark or test wait for a closed kernel's
writes before starting the next run.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable

log = logging.getLogger("collab_reuse")

WRITERS_DIR = "writers"


def can_fork() -> bool:
    return hasattr(os, "fork") and sys.platform.startswith("linux")


def run_detached(jobs: Iterable[Callable[[], Any]], store_dir: Path, time_limit: float,
                 after_fork: Callable[[], None]) -> int | None:
    """Run ``jobs`` in a detached grandchild process; returns its pid (None if it couldn't start).

    Double fork: the intermediate child exits at once, so the grandchild is never a zombie of the
    kernel, and it writes the grandchild's marker before exiting, so the marker exists as soon as
    this function returns."""
    markers = Path(store_dir) / WRITERS_DIR
    still_open = open_databases(Path(store_dir))
    if still_open:  # SQLite state inherited by a child corrupts what it writes: lost writes, not a hang
        log.warning("can't hand the store writes over: %s still open", ", ".join(still_open))
        return None
    try:
        markers.mkdir(parents=True, exist_ok=True)
        read_end, write_end = os.pipe()
        middle = os.fork()
    except OSError as exc:
        log.warning("can't start the process that finishes the store writes: %s", exc)
        return None
    if middle == 0:  # intermediate child
        status = 1
        try:
            os.close(read_end)
            os.setsid()
            grandchild = os.fork()
            if grandchild == 0:
                os.close(write_end)
                _run_in_child(jobs, markers / str(os.getpid()), time_limit, after_fork)  # never returns
            (markers / str(grandchild)).write_text(f"{time.time()}\n")
            os.write(write_end, str(grandchild).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    try:
        os.waitpid(middle, 0)
        pid = os.read(read_end, 32).decode()
    finally:
        os.close(read_end)
    return int(pid) if pid else None


def open_databases(store_dir: Path) -> list[str]:
    """Files of SQLite databases under ``store_dir`` this process has open."""
    found = []
    root = str(Path(store_dir).resolve())
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(root) and target.endswith((".sqlite", ".db", "-wal", "-shm", "-journal")):
            found.append(os.path.relpath(target, root))
    return sorted(set(found))


def _run_in_child(jobs: Iterable[Callable[[], Any]], marker: Path, time_limit: float,
                  after_fork: Callable[[], None]) -> None:
    status = 0
    try:
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.alarm(max(int(time_limit), 1))  # a child that hangs dies (nothing half-written is visible)
        _detach_from_kernel_streams()
        _single_threaded_openmp()
        after_fork()
        start = time.perf_counter()
        count = 0
        for job in jobs:
            try:
                job()
                count += 1
            except Exception:
                log.warning("a store write handed over at exit failed", exc_info=True)
        log.info("finished %d store jobs handed over by the exiting kernel in %.1f s", count,
                 time.perf_counter() - start)
    except BaseException:
        status = 1
    finally:
        try:
            marker.unlink()
        except OSError:
            pass
        os._exit(status)


def _detach_from_kernel_streams() -> None:
    """Nothing the child does may reach the kernel's output channels (they belong to the parent)."""
    import warnings

    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    sys.stdout = sys.stderr = open(os.devnull, "w")
    warnings.simplefilter("ignore")


def _single_threaded_openmp() -> None:
    """An OpenMP pool made before the fork hangs in the child: use one thread."""
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except Exception:
        pass
    lightgbm = sys.modules.get("lightgbm.basic")
    if lightgbm is not None:  # LightGBM sizes its parallel regions itself (n_jobs), not from OpenMP
        try:
            import ctypes

            lightgbm._LIB.LGBM_SetMaxThreads(ctypes.c_int(1))
        except Exception:
            pass


def pending_writers(store_dir: Path) -> list[int]:
    """Pids of the children still writing to this store (stale markers are removed)."""
    markers = Path(store_dir) / WRITERS_DIR
    alive = []
    for marker in markers.glob("*") if markers.is_dir() else ():
        try:
            pid = int(marker.name)
        except ValueError:
            continue
        if _alive(pid):
            alive.append(pid)
        else:
            marker.unlink(missing_ok=True)
    return alive


def wait_for_writers(store_dir: Path, timeout: float = 900.0) -> None:
    """Wait until no child writes to this store (or ``timeout``)."""
    deadline = time.monotonic() + timeout
    while pending_writers(store_dir) and time.monotonic() < deadline:
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a finished child not yet reaped by init is a zombie: done
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
