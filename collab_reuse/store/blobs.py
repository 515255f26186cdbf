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
from typing import Iterator, Protocol

import xxhash

from ..errors import CorruptArtifact, StoreError

_MAGIC = b"CRB1"


def seal(data: bytes) -> bytes:
    return _MAGIC + struct.pack("<Q", xxhash.xxh3_64_intdigest(data)) + data


def unseal(sealed: bytes, key: str) -> bytes:
    if len(sealed) < 12 or sealed[:4] != _MAGIC:
        raise CorruptArtifact(f"blob {key[:12]} has no valid header")
    (checksum,) = struct.unpack("<Q", sealed[4:12])
    data = sealed[12:]
    if xxhash.xxh3_64_intdigest(data) != checksum:
        raise CorruptArtifact(f"blob {key[:12]} failed its checksum")
    return data


class Blobs(Protocol):
    def get(self, key: str) -> bytes:
        """The bytes stored under key; KeyError if absent, CorruptArtifact if damaged."""

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

    def get(self, key: str) -> bytes:
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

    def get(self, key: str) -> bytes:
        sealed = self._cache.get(key, default=None, read=False, retry=True)
        if sealed is None:
            raise KeyError(key)
        return unseal(bytes(sealed), key)

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
