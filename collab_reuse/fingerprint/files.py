"""Content fingerprints of source files, cached by (path, size, mtime, inode).

An unchanged file is never re-read to be hashed: the cache lives in memory
and, through ``persist``/``lookup`` callbacks, in the Experiment Graph, so a
new kernel on the same server knows a 1 GB CSV's digest at once.
"""

from __future__ import annotations

import os
from typing import Callable

import xxhash

_CHUNK = 8 * 1024 * 1024

Lookup = Callable[[str], "str | None"]
Persist = Callable[[str, str], None]


def file_stat_key(path: str) -> str:
    st = os.stat(path)
    return f"{os.path.realpath(path)}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}"


def stat_key_path(key: str) -> str:
    """The file a ``file_stat_key`` names."""
    return key.rsplit("|", 3)[0]


def hash_file(path: str) -> str:
    h = xxhash.xxh3_128()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


class FileFingerprints:
    """Digest of a file's content, remembered per stat key."""

    def __init__(self, lookup: Lookup | None = None, persist: Persist | None = None):
        self._memory: dict[str, str] = {}
        self._lookup = lookup
        self._persist = persist

    def digest(self, path: str | os.PathLike) -> str:
        """Content digest; raises OSError when the file can't be read (the reader would fail too), also
        when its digest is known (another user's kernel may have hashed a file this one can't read)."""
        if not os.access(path, os.R_OK):
            raise PermissionError(f"can't read {os.fspath(path)}")
        key = file_stat_key(os.fspath(path))
        found = self._memory.get(key)
        if found is None and self._lookup is not None:
            found = self._lookup(key)
        if found is None:
            found = hash_file(os.fspath(path))
            if self._persist is not None:
                self._persist(key, found)
        self._memory[key] = found
        return found
