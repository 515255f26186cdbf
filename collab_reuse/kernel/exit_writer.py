"""The exit writer: ``python -m collab_reuse.kernel.exit_writer SETTINGS`` writes what an exited
kernel left pending into its store.

A fresh process (``handoff`` starts it with ``exec``, not a fork): it holds nothing of the kernel's
but the pipe it reads (its stdin) and the store slot it was given. A reader thread takes frames off
the pipe as they arrive, up to ``AHEAD_BYTES`` ahead of the writing, so whoever feeds it (the
kernel, or the child encoding for it, which holds a copy of the kernel's memory) is rarely kept
waiting, and what waits here stays bounded; the main thread applies the writes in order. It stops at the pipe's end, at
its time limit (SIGALRM), or at the first store fault (a full disk, a deleted or replaced store):
the writes left are dropped, a write begun is undone. It removes its marker ``writers/<pid>`` as it
ends. Imports beyond the standard library wait until the reader runs.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO

from . import wire
from .priority import lower_this_thread

AHEAD_BYTES = 64_000_000  # frames read ahead of the writing (one frame more, if a frame is larger)


class _Inbox:
    """Frames read and not yet written, bounded by their bytes (the reader waits beyond the bound)."""

    def __init__(self, limit: int):
        self._frames: list[wire.Frame | None] = []
        self._bytes = 0
        self._limit = limit
        self._changed = threading.Condition()

    def put(self, frame: wire.Frame | None) -> None:
        size = 0 if frame is None else sum(len(p) for p in frame[2])
        with self._changed:
            self._changed.wait_for(lambda: size == 0 or self._bytes == 0 or self._bytes + size <= self._limit)
            self._frames.append(frame)
            self._bytes += size
            self._changed.notify_all()

    def get(self) -> wire.Frame | None:
        with self._changed:
            self._changed.wait_for(lambda: bool(self._frames))
            frame = self._frames.pop(0)
            self._bytes -= 0 if frame is None else sum(len(p) for p in frame[2])
            self._changed.notify_all()
            return frame


def main(argv: list[str] | None = None) -> int:
    settings = json.loads((sys.argv[1:] if argv is None else argv)[0])
    for number in (signal.SIGINT, signal.SIGHUP):
        signal.signal(number, signal.SIG_IGN)
    signal.alarm(max(int(settings["time_limit"]), 1))
    lower_this_thread()  # (the next kernel, often started right after this one's exited, comes first)
    inbox = _Inbox(AHEAD_BYTES)
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


def _read(stream: BinaryIO, inbox: _Inbox) -> None:
    try:
        for frame in wire.frames(stream):
            inbox.put(frame)
    finally:
        inbox.put(None)


def _write_all(store: Path, settings: dict[str, Any], inbox: _Inbox, opened: list[Any]) -> None:
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
    from ..store import open_artifacts
    from .jobs import Target

    store_dir = StoreDir(store, settings["device"], settings["inode"], settings["token"])
    store_dir.check()
    graph = ExperimentGraph(store, create=False)
    artifacts = open_artifacts(store, trust_pickle=settings["trust_pickle"], user=settings.get("user"))
    return Target(graph, artifacts, store_dir)


if __name__ == "__main__":
    sys.exit(main())
