"""The store directory itself: its format mark, checked on open, and its identity, checked before writes.

A store directory holds ``collab_reuse-store.json`` (``{"format": 1}``). Code that finds another
format (a store of an older or newer collab_reuse) neither reads nor writes it: it raises
``StoreError``, and a kernel then runs plainly after the one warning. A directory with a graph but
no mark is a store from before the mark (format 1) and is given one.

Identity: the (device, inode) of the directory when it was opened. A store deleted or replaced
while a kernel runs must not be recreated piecemeal by that kernel's later writes (diskcache makes
the directories it writes into, SQLite creates a database file that is missing), so every write
checks first that the directory is still the one opened (``StoreDir.check``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import StoreError

STORE_FORMAT = 1
MARK_FILE = "collab_reuse-store.json"


@dataclass(frozen=True)
class StoreDir:
    path: Path
    device: int
    inode: int

    def check(self) -> None:
        """Raise ``StoreError`` unless the directory opened is still there, at the same path."""
        try:
            found = os.stat(self.path)
        except OSError as exc:
            raise StoreError(f"the store directory {self.path} is gone ({exc.strerror})") from None
        if (found.st_dev, found.st_ino) != (self.device, self.inode):
            raise StoreError(f"the store directory {self.path} was deleted and made again")


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
    _check_mark(path)
    return StoreDir(path, found.st_dev, found.st_ino)


def _check_mark(path: Path) -> None:
    mark = path / MARK_FILE
    try:
        data = json.loads(mark.read_text())
    except FileNotFoundError:
        _write_mark(path)  # a new store, or one from before the mark: format 1 either way
        return
    except (OSError, ValueError) as exc:
        raise StoreError(f"can't read the store's format mark {mark}: {exc}") from None
    found = data.get("format") if isinstance(data, dict) else None
    if found != STORE_FORMAT:
        raise StoreError(f"the store at {path} has format {found!r}, this collab_reuse reads format "
                         f"{STORE_FORMAT}: use another store directory")


def _write_mark(path: Path) -> None:
    """Atomically (two kernels may open a new store at once; both write the same mark)."""
    temporary = path / f".{MARK_FILE}.{os.getpid()}"
    try:
        temporary.write_text(json.dumps({"format": STORE_FORMAT}) + "\n")
        os.replace(temporary, path / MARK_FILE)
    except OSError as exc:
        try:
            temporary.unlink()
        except OSError:
            pass
        raise StoreError(f"can't write the store's format mark in {path}: {exc.strerror or exc}") from None
