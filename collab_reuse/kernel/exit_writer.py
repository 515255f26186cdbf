"""The exit writer: ``python -m collab_reuse.kernel.exit_writer SETTINGS`` writes what an exited
kernel left pending into its store.

A fresh process (``handoff`` starts it with ``exec``, not a fork): it holds nothing of the kernel's
but the pipe it reads (its stdin) and the store slot it was given. A reader thread takes every frame
off the pipe as it arrives, so whoever feeds it (the kernel, or the child encoding for it) never
waits for the writing; the main thread applies the writes in order. It stops at the pipe's end, at
its time limit (SIGALRM), or at the first store fault (a full disk, a deleted or replaced store):
the writes left are dropped, a write begun is undone. It removes its marker ``writers/<pid>`` as it
ends. Imports beyond the standard library wait until the reader runs.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO

from . import wire


def main(argv: list[str] | None = None) -> int:
    settings = json.loads((sys.argv[1:] if argv is None else argv)[0])
    for number in (signal.SIGINT, signal.SIGHUP):
        signal.signal(number, signal.SIG_IGN)
    signal.alarm(max(int(settings["time_limit"]), 1))
    inbox: queue.Queue[wire.Frame | None] = queue.Queue()
    threading.Thread(target=_read, args=(sys.stdin.buffer, inbox), name="pipe-reader", daemon=True).start()
    store = Path(settings["store"])
    opened: list[Any] = []
    try:
        _write_all(store, settings, inbox, opened)
    finally:
        for target in opened:  # closed before the marker goes: SQLite's last close still writes (checkpoint)
            target.close()
        try:
            (store / "writers" / str(os.getpid())).unlink()
        except OSError:
            pass
    return 0


def _read(stream: BinaryIO, inbox: "queue.Queue[wire.Frame | None]") -> None:
    try:
        for frame in wire.frames(stream):
            inbox.put(frame)
    finally:
        inbox.put(None)


def _write_all(store: Path, settings: dict[str, Any], inbox: "queue.Queue[wire.Frame | None]",
               opened: list[Any]) -> None:
    import logging

    from ..errors import CorruptArtifact, StoreError
    from . import jobs, storelog

    log = logging.getLogger("collab_reuse")
    storelog.log_to(store)
    start, count = time.perf_counter(), 0
    try:
        target = _open(store, settings)
        opened.append(target)
        while (frame := inbox.get()) is not None:
            write = jobs.decode(frame)
            if write is None:
                continue
            try:
                target.apply([write])
                count += 1
            except (StoreError, OSError, sqlite3.Error) as exc:
                if isinstance(exc, CorruptArtifact):
                    log.warning("a store write of the exited kernel failed", exc_info=True)
                    continue
                raise
            except Exception:  # a bug in one write: the others still go
                log.warning("a store write of the exited kernel failed", exc_info=True)
    except (StoreError, OSError, sqlite3.Error) as exc:
        log.warning("the exit writer stops after %d writes, the rest is not stored: %s", count, exc)
        return
    log.info("the exit writer applied %d writes of the exited kernel in %.1f s (peak memory %.0f MB)", count,
             time.perf_counter() - start, _peak_resident() / 1e6)


def _peak_resident() -> int:
    """Bytes: this process's peak resident set since its exec (``VmHWM``; ``ru_maxrss`` would count the
    kernel's, which it had for a moment between fork and exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _open(store: Path, settings: dict[str, Any]) -> Any:
    """The store the kernel opened (same directory, not one made again since), without making it."""
    from ..graph import ExperimentGraph
    from ..graph.storedir import StoreDir
    from ..store import ArtifactStore, DiskcacheBlobs
    from .jobs import Target

    store_dir = StoreDir(store, settings["device"], settings["inode"], settings["token"])
    store_dir.check()
    graph = ExperimentGraph(store, create=False)
    artifacts = ArtifactStore(DiskcacheBlobs(store / "blobs"), trust_pickle=settings["trust_pickle"])
    return Target(graph, artifacts, store_dir)


if __name__ == "__main__":
    sys.exit(main())
