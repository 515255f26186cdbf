"""Finishing a closing kernel's store writes after it is gone, in bounded memory and time.

Jupyter gives a closing kernel 2.5 s before interrupting it, and a kernel that ran its cells back
to back (Run All, nbclient, papermill) has had no idle time to encode its results. At exit:

1. The kernel takes one of the store's exit-writer slots (``writers/slots/<n>``, an ``flock``; at
   most ``exit_writers`` per store run at once). With none free within ``SLOT_WAIT`` seconds its
   pending writes are abandoned (nothing half-written is visible; the next run computes and
   stores them).
2. It starts the exit writer (``exit_writer``): a fresh process (``exec``, not a fork), so it holds
   no descriptor of the kernel (no ZMQ port: a restarted kernel binds the same ports at once) and
   none of its memory. It is fed the writes, encoded, through a pipe, keeps them until written
   and writes them under its time limit, holding the slot.
3. The kernel encodes a backlog expected to take less than its exit budget itself and sends it
   down the pipe: a small backlog never costs a copy of the kernel. (A larger one it leaves whole
   to the child: the child is needed anyway, and the kernel's exit, which a restart waits for, is
   not drawn out.)
4. What is left is encoded by a copy-on-write child of the kernel (double fork, out of the
   kernel's session), which exits as soon as everything is encoded: the kernel's memory is held
   for the encoding only, never for the writing. Its inherited descriptors, all but the pipe and
   the slot, are pointed at ``/dev/null`` at once (replaced, not closed, so a number can't be
   reused under an object of the kernel that still names it): the ports and the user's files
   are released when the kernel exits, and nothing written through an inherited object reaches
   them.

Fork safety of that child: only the forking thread exists in it; it never touches SQLite (a
child inheriting SQLite's per-process lock state loses writes: seen, then fixed), and it is not
started while any database file of the store is open in the kernel; the cell lock is replaced;
OpenMP pools (LightGBM, BLAS) are limited to one thread, since a pool made before the fork hangs
in the child. Both processes have an alarm (``exit_write_seconds``); an artifact becomes visible
only once fully written.

Each process leaves ``<store>/writers/<pid>`` while it runs: ``pending_writers`` and
``wait_for_writers`` let a benchmark or test wait for a closed kernel's writes.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import signal
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path
from typing import Any, Callable

from ..graph import ExperimentGraph
from ..graph.claims import process_alive
from . import jobs, storelog, wire

log = logging.getLogger("collab_reuse")

WRITERS_DIR = "writers"
SLOTS_DIR = "slots"
SLOT_WAIT = 0.5  # seconds a closing kernel waits for a free exit-writer slot


def can_fork() -> bool:
    return hasattr(os, "fork") and sys.platform.startswith("linux")


def hand_over(pending: list[jobs.Job], store_dir: Path, *, writers: int, time_limit: float, budget: float,
              graph: ExperimentGraph | None, close_connections: Callable[[], None],
              after_fork: Callable[[], None], settings: dict[str, Any]) -> str:
    """Have ``pending`` written after the kernel is gone; returns what happened, for the log.

    ``budget``: seconds the kernel may spend encoding itself; ``graph`` lets it skip what is stored
    already; ``close_connections`` closes every store connection (before a fork); ``after_fork``
    runs in the child; ``settings`` go to the exit writer."""
    store_dir = Path(store_dir)
    deadline = time.monotonic() + budget
    slot = take_slot(store_dir, writers, SLOT_WAIT)
    if slot is None:
        return f"abandoned {len(pending)} pending store jobs: {writers} exit writers already run on this store"
    try:
        try:
            writer_pid, pipe = spawn_writer(store_dir, slot, time_limit, settings)
        except OSError as exc:
            return f"abandoned {len(pending)} pending store jobs: can't start the exit writer ({exc})"
        try:
            if sum(job.estimated_seconds() for job in pending) > budget:
                left = pending  # the child will be needed anyway: the kernel exits at once (a restart waits)
            else:
                left = _prepare_until(pending, pipe, deadline, graph)
            if not left:
                return f"the kernel encoded its {len(pending)} pending store jobs; process {writer_pid} writes them"
            close_connections()
            still_open = open_databases(store_dir)
            if still_open:  # SQLite state inherited by a child corrupts what it writes: lost writes, not a hang
                return (f"abandoned {len(left)} of {len(pending)} pending store jobs: "
                        f"{', '.join(still_open)} still open; process {writer_pid} writes the rest")
            child = _fork_preparer(left, store_dir, pipe, slot, time_limit, after_fork)
            if child is None:
                return f"abandoned {len(left)} of {len(pending)} pending store jobs: can't fork"
            return (f"the kernel encoded {len(pending) - len(left)} of {len(pending)} pending store jobs, process "
                    f"{child} encodes the rest; process {writer_pid} writes them")
        finally:
            os.close(pipe)
    finally:
        os.close(slot)


def take_slot(store_dir: Path, writers: int, wait: float) -> int | None:
    """A descriptor holding one of the store's ``writers`` exit-writer slots (an ``flock``, released
    when every process holding the descriptor has ended), or None if none frees within ``wait``."""
    slots = Path(store_dir) / WRITERS_DIR / SLOTS_DIR
    try:
        slots.parent.mkdir(exist_ok=True)  # (not its parents: a store deleted meanwhile stays deleted)
        slots.mkdir(exist_ok=True)
    except OSError:
        return None
    deadline = time.monotonic() + wait
    while True:
        for n in range(writers):
            try:
                fd = os.open(slots / str(n), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except OSError:
                os.close(fd)
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.05)


def spawn_writer(store_dir: Path, slot: int, time_limit: float, settings: dict[str, Any]) -> tuple[int, int]:
    """Start the exit writer; returns (its pid, the pipe's end to feed it)."""
    read_end, write_end = os.pipe()
    wire.widen(write_end)
    package_root = str(Path(__file__).resolve().parents[2])  # the same collab_reuse as this kernel's
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p))
    arguments = json.dumps({**settings, "store": str(store_dir), "time_limit": time_limit})
    try:
        process = subprocess.Popen([sys.executable, "-m", "collab_reuse.kernel.exit_writer", arguments],
                                   stdin=read_end, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   close_fds=True, pass_fds=(slot,), start_new_session=True, env=env, cwd="/")
    except BaseException:
        os.close(write_end)
        raise
    finally:
        os.close(read_end)
    process.returncode = 0  # (detached: never waited for, and no warning that it still runs at exit)
    _mark(store_dir, process.pid)
    return process.pid, write_end


def _prepare_until(pending: list[jobs.Job], pipe: int, deadline: float, graph: ExperimentGraph | None) -> list:
    """Encode and send jobs while each is expected to end before ``deadline``; the jobs left."""
    for n, job in enumerate(pending):
        if time.monotonic() + job.estimated_seconds() > deadline:
            return pending[n:]
        _send_prepared(job, pipe, graph)
    return []


def _send_prepared(job: jobs.Job, pipe: int, graph: ExperimentGraph | None) -> None:
    try:
        writes = jobs.prepare_here(job, graph)
    except Exception:
        log.warning("a pending store job failed at exit", exc_info=True)
        return
    for write in writes:
        jobs.send(pipe, write)  # (BrokenPipeError: the exit writer is gone; nothing more to do)


def _fork_preparer(left: list[jobs.Job], store_dir: Path, pipe: int, slot: int, time_limit: float,
                   after_fork: Callable[[], None]) -> int | None:
    """Double fork: the intermediate child exits at once (no zombie of the kernel) after marking
    the grandchild, which encodes ``left`` into ``pipe``; returns the grandchild's pid."""
    try:
        read_end, write_end = os.pipe()
        middle = os.fork()
    except OSError as exc:
        log.warning("can't fork the process that encodes the pending results: %s", exc)
        return None
    if middle == 0:  # intermediate child
        status = 1
        try:
            os.close(read_end)
            os.setsid()
            grandchild = os.fork()
            if grandchild == 0:
                _run_preparer(left, store_dir / WRITERS_DIR / str(os.getpid()), pipe, slot, time_limit,
                              after_fork)  # never returns
            _mark(store_dir, grandchild)
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


def _run_preparer(left: list[jobs.Job], marker: Path, pipe: int, slot: int, time_limit: float,
                  after_fork: Callable[[], None]) -> None:
    status = 0
    try:
        _detach(keep=(pipe, slot))
        signal.alarm(max(int(time_limit), 1))  # a child that hangs dies (nothing half-written is visible)
        _single_threaded_openmp()
        after_fork()
        start = time.perf_counter()
        for job in left:
            _send_prepared(job, pipe, None)
        log.info("encoded %d store jobs of the exited kernel in %.1f s", len(left), time.perf_counter() - start)
    except BaseException:
        status = 1
    finally:
        with suppress(OSError):
            marker.unlink()
        os._exit(status)


def _detach(keep: tuple[int, ...]) -> None:
    """In the forked child: nothing of the kernel's reaches it or is held by it any more."""
    import warnings

    for number in (signal.SIGINT, signal.SIGHUP):  # the kernel's, not ours (we are out of its session)
        signal.signal(number, signal.SIG_IGN)
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    replace_inherited_descriptors(keep)
    storelog.reopen_after_fork()
    sys.stdout = sys.stderr = open(os.devnull, "w")
    warnings.simplefilter("ignore")


def replace_inherited_descriptors(keep: tuple[int, ...]) -> None:
    """Point every descriptor but ``keep`` at /dev/null: the sockets, pipes and files they held are
    released here; the numbers stay taken (an object of the kernel closing "its" descriptor later
    closes /dev/null, never a file this process opened since)."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd in keep or fd == devnull:
            continue
        try:
            os.fstat(fd)
            os.dup2(devnull, fd, inheritable=fd <= 2)
        except OSError:
            continue  # (the directory listing's own descriptor, closed by now)


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


def _mark(store_dir: Path, pid: int) -> None:
    with suppress(OSError):
        (Path(store_dir) / WRITERS_DIR / str(pid)).write_text(f"{time.time()}\n")


def pending_writers(store_dir: Path) -> list[int]:
    """Pids of the processes still writing to this store (stale markers are removed)."""
    markers = Path(store_dir) / WRITERS_DIR
    alive = []
    try:
        found = list(markers.iterdir())
    except OSError:  # (none yet, or a store this user can't read)
        found = []
    for marker in found:
        try:
            pid = int(marker.name)
        except ValueError:
            continue
        if process_alive(pid):
            alive.append(pid)
        else:
            with suppress(OSError):
                marker.unlink()
    return alive


def wait_for_writers(store_dir: Path, timeout: float = 900.0) -> None:
    """Wait until no process writes to this store (or ``timeout``)."""
    deadline = time.monotonic() + timeout
    while pending_writers(store_dir) and time.monotonic() < deadline:
        time.sleep(0.1)

