"""``collab_reuse.log`` in the store: where collab_reuse speaks, never into a cell.

The handler never raises and never prints: logging's own ``handleError`` writes a traceback to
``sys.stderr``, which in a kernel is the running cell's output (seen with a full disk and a deleted
store). A record that can't be written is dropped. It never makes a directory either, so logging
can't bring back a store that was deleted.

Bounded: the file is rotated by size (``MAX_BYTES``, ``BACKUPS`` older files kept) and rotated
files older than ``MAX_AGE`` are removed. Many kernels share the file: each reopens it when
another rotated it away (or the store was made again), as ``WatchedFileHandler`` does.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import IO

LOG_NAME = "collab_reuse.log"
MAX_BYTES = 5_000_000
BACKUPS = 3
MAX_AGE = 30 * 86400.0

log = logging.getLogger("collab_reuse")


class StoreLogHandler(logging.Handler):
    def __init__(self, path: str | os.PathLike, max_bytes: int = MAX_BYTES, backups: int = BACKUPS):
        super().__init__()
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self.dropped = 0  # records that could not be written
        self._stream: IO[str] | None = None
        self.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(message)s"))

    def point_at(self, path: str | os.PathLike) -> None:
        """Write to another store's log from now on."""
        with self.lock:  # type: ignore[union-attr]
            self._close_stream()
            self.path = Path(path)

    def reopen(self) -> None:
        """Forget the open file (in a forked child, whose inherited descriptors were replaced)."""
        self._stream = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record) + "\n"
            stream = self._open_stream()
            stream.write(text)
            stream.flush()
            if stream.tell() >= self.max_bytes:
                self._rotate()
        except Exception:  # full disk, deleted or read-only store: the record is dropped, silently
            self.dropped += 1
            self._close_stream()

    def close(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._close_stream()
        super().close()

    def _open_stream(self) -> IO[str]:
        if self._stream is not None:
            try:
                on_disk = os.stat(self.path)
                mine = os.fstat(self._stream.fileno())
                if (on_disk.st_dev, on_disk.st_ino) == (mine.st_dev, mine.st_ino):
                    return self._stream
            except OSError:
                pass
            self._close_stream()  # rotated by another process, or deleted
        self._stream = open(self.path, "a", encoding="utf-8")  # (never makes the directory)
        return self._stream

    def _rotate(self) -> None:
        """Rename the file to ``.1`` (older ones up by one); another process rotating at the same
        moment makes a rename fail, harmlessly."""
        self._close_stream()
        try:
            self._rename_older()
        except OSError:
            pass

    def _rename_older(self) -> None:
        for n in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{n}")
            if older.exists():
                os.replace(older, self.path.with_name(f"{self.path.name}.{n + 1}"))
        os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))  # (the oldest is overwritten)
        cutoff = time.time() - MAX_AGE
        for rotated in self.path.parent.glob(f"{self.path.name}.*"):
            if rotated.name[len(self.path.name) + 1:].isdigit() and rotated.stat().st_mtime < cutoff:
                rotated.unlink(missing_ok=True)

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.close()
            except Exception:
                pass


def log_to(store_dir: str | os.PathLike) -> StoreLogHandler:
    """Send collab_reuse's log to the store's ``collab_reuse.log`` (one handler per process: a later
    session with another store takes it over), never to the cell's output."""
    log.propagate = False
    log.setLevel(logging.INFO)
    path = Path(store_dir) / LOG_NAME
    for handler in log.handlers:
        if isinstance(handler, StoreLogHandler):
            if handler.path != path:
                handler.point_at(path)
            return handler
    handler = StoreLogHandler(path)
    log.addHandler(handler)
    return handler


def reopen_after_fork() -> None:
    """In a forked child: the log's inherited descriptor is no longer its file."""
    for handler in log.handlers:
        if isinstance(handler, StoreLogHandler):
            handler.reopen()
