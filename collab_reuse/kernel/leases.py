"""Single flight between kernels: one computes a missing result, the others wait for it and load it.

A kernel about to compute a result that isn't stored takes that result's *lease*: an exclusive POSIX
record lock on one byte of the store's ``leases`` file, at an offset named by the result's id. It
holds the lease until the result is written to the store or dropped (the cell's store job finished),
or at once when it isn't offered to the store. Another kernel needing the same result finds the lease
taken and waits, bounded, then looks in the store again: it loads what the first one stored, or
computes (taking the lease) when nothing came.

Why record locks: the kernel (the OS) releases them when the process holding them dies, so a lease
of a killed kernel never outlives it, and taking or testing one is one system call. They belong to
the process: the kernel keeps one descriptor on the file for its life and never opens it again
(closing any descriptor of the file would release every lease of the process), and a forked child
holds none.

A waiter also holds a shared lock on a second byte of the same result while it waits, so that the
holder can see that someone waits (``awaited``) and store that result between cells at once, without
waiting for its kernel to be idle (``idle_seconds``).

Every kernel holds a shared lock on byte 0 while it has the file open, so that a kernel can tell it is
alone on its store (``others_alive``); alone, it takes leases only for operations on large inputs
(``kernel/backend.py``).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import logging
import os
import struct
import time
from pathlib import Path
from typing import Callable

log = logging.getLogger("collab_reuse")

LEASES_FILE = "leases"
_SPAN = 1 << 57            # leases are at 1 + a 56-bit hash of the id; waiters' bytes the same offsets above it
_BUSY = (errno.EACCES, errno.EAGAIN)
_POLL_FIRST, _POLL_MOST = 0.01, 0.25  # seconds between looks while waiting


def _offset(artifact_id: str) -> int:
    try:
        return 1 + int(artifact_id[:14], 16)  # (ids are hex digests)
    except ValueError:
        return 1 + int.from_bytes(hashlib.blake2b(artifact_id.encode(), digest_size=7).digest(), "big")


class Leases:
    """This process's leases on one store (see the module docstring)."""

    def __init__(self, path: str | os.PathLike, mode: int = 0o600):
        self.path = Path(path)
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, mode)
        self.held: dict[str, int] = {}  # id -> offset
        self._lock(fcntl.F_RDLCK, 0)  # alive (``others_alive``)

    def others_alive(self) -> bool:
        """Is another kernel on this store (one that could compute what this one needs)?"""
        return self._fd is not None and self._held_elsewhere(0)

    def take(self, artifact_id: str) -> bool:
        """Take the lease now; False when another process holds it (also when it's already ours: True)."""
        if artifact_id in self.held:
            return True
        if self._fd is None:
            return True  # (closed: single flight is off, compute freely)
        offset = _offset(artifact_id)
        if not self._lock(fcntl.F_WRLCK, offset):
            return False
        self.held[artifact_id] = offset
        return True

    def release(self, artifact_id: str) -> None:
        offset = self.held.pop(artifact_id, None)
        if offset is not None and self._fd is not None:
            self._lock(fcntl.F_UNLCK, offset)

    def wait(self, artifact_id: str, give_up: Callable[[float], bool]) -> bool:
        """Wait while another process holds the lease: True once it is ours, False when ``give_up``
        (given the seconds waited so far) says so first. Interruptible (KeyboardInterrupt goes on)."""
        if self._fd is None:
            return False
        offset = _offset(artifact_id)
        waiting = self._lock(fcntl.F_RDLCK, _SPAN + offset)  # seen by the holder (``awaited``)
        started, pause = time.monotonic(), _POLL_FIRST
        try:
            while True:
                if self.take(artifact_id):
                    return True
                waited = time.monotonic() - started
                if give_up(waited):
                    return False
                time.sleep(pause)
                pause = min(pause * 2, _POLL_MOST)
        finally:
            if waiting and self._fd is not None:
                self._lock(fcntl.F_UNLCK, _SPAN + offset)

    def awaited(self) -> bool:
        """Does another process wait for a lease this one holds?"""
        return self._fd is not None and any(self._held_elsewhere(_SPAN + offset) for offset in list(self.held.values()))

    def _held_elsewhere(self, offset: int) -> bool:
        """Does another process hold a lock on this byte?"""
        probe = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, offset, 1, 0)
        try:
            found = fcntl.fcntl(self._fd, fcntl.F_GETLK, probe)
        except OSError:
            return False
        return struct.unpack("hhqqi4x", found)[0] != fcntl.F_UNLCK

    def release_all(self) -> None:
        """Every lease let go (closing the descriptor releases them all): single flight ends here."""
        self.held.clear()
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def _lock(self, kind: int, offset: int) -> bool:
        try:
            fcntl.lockf(self._fd, _LOCKF[kind], 1, offset)
        except OSError as exc:
            if exc.errno in _BUSY:
                return False
            raise
        return True


_LOCKF = {fcntl.F_WRLCK: fcntl.LOCK_EX | fcntl.LOCK_NB, fcntl.F_RDLCK: fcntl.LOCK_SH | fcntl.LOCK_NB,
          fcntl.F_UNLCK: fcntl.LOCK_UN}
