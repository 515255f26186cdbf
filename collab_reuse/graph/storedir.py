"""The store directory itself: its format mark, checked on open, and its identity, checked before writes.

A store directory holds ``collab_reuse-store.json`` (``{"format": 1, "id": ...}``). Code that finds another
format (a store of an older or newer collab_reuse) neither reads nor writes it: it raises
``StoreError``, and a kernel then runs plainly after the one warning. A directory with a graph but
no mark is a store from before the mark (format 1) and is given one.

Identity: the (device, inode) of the directory when it was opened and the random ``id`` of its mark
(a directory made again may get the same inode number). A store deleted or replaced while a kernel
runs must not be recreated piecemeal by that kernel's later writes (diskcache makes the directories
it writes into, SQLite creates a database file that is missing), so every write checks first that
the directory is still the one opened (``StoreDir.check``: a stat and a small read).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import StoreError

STORE_FORMAT = 1
MARK_FILE = "collab_reuse-store.json"
MARK_REREAD_SECONDS = 1.0


@dataclass(frozen=True)
class StoreDir:
    path: Path
    device: int
    inode: int
    token: str | None  # the mark's id
    # the mark as last read and found right: [(directory mtime, mark's device, inode, size, mtime, ctime), when]
    _mark_seen: list = field(default_factory=list, compare=False, repr=False)

    def check(self) -> None:
        """Raise ``StoreError`` unless the directory opened is still there, at the same path.

        The mark is read again when its file or the directory changed since it was last read (another
        inode, size, modification or change time), and at least every ``MARK_REREAD_SECONDS`` (a file
        system with coarse times could show a mark written again within the same second unchanged):
        two stats per check in between, where reading and parsing the mark took 0.2 ms, twice per cell."""
        try:
            found = os.stat(self.path)
        except OSError as exc:
            raise StoreError(f"the store directory {self.path} is gone ({exc.strerror})") from None
        if (found.st_dev, found.st_ino) != (self.device, self.inode):
            raise StoreError(f"the store directory {self.path} was deleted and made again")
        now = time.monotonic()
        try:
            mark = os.stat(os.path.join(self.path, MARK_FILE))
            seen = (found.st_mtime_ns, mark.st_dev, mark.st_ino, mark.st_size, mark.st_mtime_ns, mark.st_ctime_ns)
        except OSError:
            seen = None
        last = self._mark_seen[:]  # (one copy: the store's writer thread checks too)
        if seen is not None and len(last) == 2 and last[0] == seen and now - last[1] < MARK_REREAD_SECONDS:
            return
        token = _token(self.path)
        if token is None and self.token is not None:  # (also a directory being deleted: its files go first)
            raise StoreError(f"the store directory {self.path} is gone or was made again (its mark "
                             f"{MARK_FILE} was deleted)")
        if token != self.token:
            raise StoreError(f"the store directory {self.path} was deleted and made again")
        self._mark_seen[:] = [seen, now] if seen is not None else []


def open_store_dir(path: str | os.PathLike, create: bool = True) -> StoreDir:
    """Open (with ``create``, make) a store directory and check its format mark."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise StoreError(f"the store {path} is not a directory")
    try:
        if create:
            path.mkdir(parents=True, exist_ok=True)
        found = os.stat(path)
    except OSError as exc:
        raise StoreError(f"can't open the store directory {path}: {exc.strerror or exc}") from None
    token = _check_mark(path)
    return StoreDir(path, found.st_dev, found.st_ino, token)


def _read_mark(path: Path) -> dict:
    data = json.loads((path / MARK_FILE).read_text())
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def _token(path: Path) -> str | None:
    try:
        return _read_mark(path).get("id")
    except (OSError, ValueError):
        return None


def _check_mark(path: Path) -> str | None:
    """The mark's id, after checking its format (a missing mark is written)."""
    try:
        data = _read_mark(path)
    except FileNotFoundError:
        return _write_mark(path)  # a new store, or one from before the mark: format 1 either way
    except (OSError, ValueError) as exc:
        raise StoreError(f"can't read the store's format mark {path / MARK_FILE}: {exc}") from None
    if data.get("format") != STORE_FORMAT:
        raise StoreError(f"the store at {path} has format {data.get('format')!r}, this collab_reuse reads "
                         f"format {STORE_FORMAT}: use another store directory")
    return data.get("id")


def _write_mark(path: Path) -> str | None:
    """Without replacing one another kernel wrote meanwhile (both open a new store at once: the
    first mark stays, and both use its id)."""
    temporary = path / f".{MARK_FILE}.{os.getpid()}"
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        with os.fdopen(fd, "w") as handle:
            os.fchmod(fd, 0o644)  # (the umask's mode would lock a team out, or let it write the mark)
            handle.write(json.dumps({"format": STORE_FORMAT, "id": uuid.uuid4().hex}) + "\n")
        try:
            os.link(temporary, path / MARK_FILE)  # (fails if a mark is there by now)
        except FileExistsError:
            pass
        temporary.unlink()
        return _token(path)
    except OSError as exc:
        try:
            temporary.unlink()
        except OSError:
            pass
        raise StoreError(f"can't write the store's format mark in {path}: {exc.strerror or exc}") from None
