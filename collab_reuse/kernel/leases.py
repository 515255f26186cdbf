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

A kernel also *pins* each stored result it holds deferred (bound to a name, loaded when used): a
shared lock on a third byte of the result, which ``collab-reuse gc`` looks at (``pinned_elsewhere``)
so that it never removes what a running kernel will load. Pins last as long as the kernel.

Two waits that can't end by themselves are cut short. Two kernels each waiting for a lease the other
holds (each in a cell, neither finishing) are seen by the lock's owner (``F_GETLK`` names the
process): the one with the larger pid stops waiting and computes, so the other's wait ends when it
stores. And a holder this kernel once waited for in vain (a kernel stuck, or a member holding leases
to stall the team) is not waited for again: the next wait for any of its leases ends at once.
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
_SPAN = 1 << 57            # leases are at 1 + a 56-bit hash of the id; waiters' bytes the same offsets above it,
_PINS = 2 * _SPAN          # and pins the same offsets above those
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
        self.waited_in_vain: set[int] = set()  # pids of holders a wait for timed out (not waited for again)
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

    def wait(self, artifact_id: str, limit: Callable[[float], float | None]) -> bool:
        """Wait while another process holds the lease: True once it is ours; False once the seconds
        waited reach ``limit`` (asked again as the wait goes on: what is known of the result may
        change it), at once when ``limit`` says None (not worth waiting for: the holder is not to
        blame), when the holder waits for a lease of ours and has the smaller pid, or when it is a
        holder waited for in vain before. Interruptible (KeyboardInterrupt goes on)."""
        if self._fd is None:
            return False
        offset = _offset(artifact_id)
        waiting = self._lock(fcntl.F_RDLCK, _SPAN + offset)  # seen by the holder (``awaited``)
        started, pause = time.monotonic(), _POLL_FIRST
        try:
            while True:
                if self.take(artifact_id):
                    return True
                holder = self._owner(offset)
                if holder in self.waited_in_vain:
                    return False
                if holder is not None and holder < os.getpid() and self._waits_for_mine(holder):
                    log.info("lease of %s: its holder (pid %d) waits for a lease of this kernel: computed here",
                             artifact_id[:12], holder)
                    return False
                waited = time.monotonic() - started
                bound = limit(waited)
                if bound is None:
                    return False
                if waited >= bound:
                    if holder is not None:
                        self.waited_in_vain.add(holder)
                    return False
                time.sleep(pause)
                pause = min(pause * 2, _POLL_MOST)
        finally:
            if waiting and self._fd is not None:
                self._lock(fcntl.F_UNLCK, _SPAN + offset)

    def _waits_for_mine(self, pid: int) -> bool:
        """Does process ``pid`` wait for one of the leases this one holds?"""
        return any(self._owner(_SPAN + offset) == pid for offset in list(self.held.values()))

    def pin(self, artifact_id: str) -> None:
        """Hold this stored result for the process's life: ``gc`` won't remove it (``pinned_elsewhere``)."""
        if self._fd is not None:
            self._lock(fcntl.F_RDLCK, _PINS + _offset(artifact_id))

    def pinned_elsewhere(self, artifact_id: str) -> bool:
        """Does another process (a running kernel) hold this stored result deferred?"""
        return self._fd is not None and self._owner(_PINS + _offset(artifact_id)) is not None

    def awaited(self) -> bool:
        """Does another process wait for a lease this one holds?"""
        return self._fd is not None and any(self._held_elsewhere(_SPAN + offset) for offset in list(self.held.values()))

    def _held_elsewhere(self, offset: int) -> bool:
        """Does another process hold a lock on this byte?"""
        return self._owner(offset) is not None

    def _owner(self, offset: int) -> int | None:
        """The pid of a process (one of them, for shared locks) holding a lock on this byte that this
        one doesn't; None when there is none (0 when its pid can't be seen from here)."""
        probe = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, offset, 1, 0)
        try:
            found = fcntl.fcntl(self._fd, fcntl.F_GETLK, probe)
        except (OSError, TypeError):
            return None
        kind, _, _, _, pid = struct.unpack("hhqqi4x", found)
        return None if kind == fcntl.F_UNLCK else pid

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
