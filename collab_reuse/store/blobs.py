"""Where bytes live: a content-addressed blob store with checksums.

``DiskcacheBlobs`` is the real one: a sharded ``diskcache.FanoutCache`` so that
many kernels write at once (diskcache writes the file first and commits the
SQLite row after, so a crash never leaves a half-visible blob). Each value is
stored behind a header with its xxh3 checksum; a damaged blob reads as
``CorruptArtifact``, never as data. ``MemoryBlobs`` is the same contract in a
dict, for unit tests.
"""

from __future__ import annotations

import os
import struct
from typing import Any, Iterator, Protocol

import xxhash

from ..errors import CorruptArtifact, StoreError

_MAGIC = b"CRB1"


def seal(data: bytes) -> bytes:
    return _MAGIC + struct.pack("<Q", xxhash.xxh3_64_intdigest(data)) + data


def unseal(sealed: bytes | memoryview, key: str) -> memoryview:
    """The payload of a sealed blob, checked, without copying it."""
    view = memoryview(sealed)
    if len(view) < 12 or view[:4] != _MAGIC:
        raise CorruptArtifact(f"blob {key[:12]} has no valid header")
    (checksum,) = struct.unpack("<Q", view[4:12])
    data = view[12:]
    if xxhash.xxh3_64_intdigest(data) != checksum:
        raise CorruptArtifact(f"blob {key[:12]} failed its checksum")
    return data


_PAYLOAD_ALIGNMENT = 16


def _read_aligned(handle: Any) -> memoryview:
    """A file's bytes in a writable buffer whose payload (after the 12-byte seal header) starts
    16-byte aligned: numpy arrays are then used in place, writable and aligned, with no copy.
    (An uninitialized numpy buffer: a zero-filled bytearray would write every page twice.)"""
    import numpy as np

    size = os.fstat(handle.fileno()).st_size
    buffer = np.empty(size + _PAYLOAD_ALIGNMENT, dtype=np.uint8)
    start = -(buffer.ctypes.data + 12) % _PAYLOAD_ALIGNMENT
    view = memoryview(buffer)[start:start + size]
    done = 0
    while done < size:
        n = handle.readinto(view[done:])
        if not n:
            raise CorruptArtifact(f"blob file {getattr(handle, 'name', '?')} ended early")
        done += n
    return view


class Blobs(Protocol):
    def get(self, key: str) -> memoryview:
        """The bytes stored under key (a view: large blobs are read once, into a writable, aligned
        buffer that decoders use in place); KeyError if absent, CorruptArtifact if damaged."""

    def put(self, key: str, data: bytes) -> int:
        """Store data (idempotent); returns bytes written (0 if it was there)."""

    def delete(self, key: str) -> None:
        """Forget key; absent keys are fine."""

    def __contains__(self, key: str) -> bool: ...

    def keys(self) -> Iterator[str]: ...

    def volume(self) -> int:
        """Bytes used on disk, everything included."""

    def clear(self) -> None: ...

    def close(self) -> None: ...


class MemoryBlobs:
    """Blobs in a dict: the same contract as on disk, for tests."""

    def __init__(self) -> None:
        self._data: dict[str, bytes] = {}

    def get(self, key: str) -> memoryview:
        return unseal(self._data[key], key)

    def put(self, key: str, data: bytes) -> int:
        if key in self._data:
            return 0
        self._data[key] = seal(data)
        return len(data)

    def delete(self, key: str) -> None:
        self._data.pop(key, None)

    def __contains__(self, key: str) -> bool:
        return key in self._data

    def keys(self) -> Iterator[str]:
        return iter(list(self._data))

    def volume(self) -> int:
        return sum(len(v) for v in self._data.values())

    def clear(self) -> None:
        self._data.clear()

    def close(self) -> None:
        pass

    def corrupt(self, key: str) -> None:
        """Flip a byte of a stored blob (tests of checksum handling)."""
        raw = bytearray(self._data[key])
        raw[-1] ^= 0xFF
        self._data[key] = bytes(raw)


class DiskcacheBlobs:
    """Blobs in a sharded diskcache under ``directory``."""

    def __init__(self, directory: str | os.PathLike, shards: int = 8):
        from diskcache import FanoutCache

        try:
            # size_limit: eviction is ours (the materializer's budget), never diskcache's
            self._cache = FanoutCache(os.fspath(directory), shards=shards, timeout=30, size_limit=2**62,
                                      eviction_policy="none", statistics=False)
        except Exception as exc:
            raise StoreError(f"can't open the blob store at {directory}: {exc}") from exc

    def get(self, key: str) -> memoryview:
        found = self._cache.get(key, default=None, read=True, retry=True)
        if found is None:
            raise KeyError(key)
        if isinstance(found, (bytes, memoryview)):  # small blobs live in diskcache's SQLite rows
            return unseal(found, key)
        with found:  # larger ones in files: read straight into the buffer the value will use
            return unseal(_read_aligned(found), key)

    def put(self, key: str, data: bytes) -> int:
        if key in self._cache:
            return 0
        ok = self._cache.set(key, seal(data), retry=True)
        if not ok:
            raise StoreError(f"the blob store refused a write of {len(data)} bytes")
        return len(data)

    def delete(self, key: str) -> None:
        self._cache.delete(key, retry=True)

    def __contains__(self, key: str) -> bool:
        return key in self._cache

    def keys(self) -> Iterator[str]:
        return iter(self._cache)

    def volume(self) -> int:
        return int(self._cache.volume())

    def clear(self) -> None:
        self._cache.clear(retry=True)

    def close(self) -> None:
        self._cache.close()

    def check(self) -> list[str]:  # (collab-reuse gc) removes files no row names, e.g. a write cut by a full disk
        return [str(w.message) for w in self._cache.check(fix=True, retry=True)]
