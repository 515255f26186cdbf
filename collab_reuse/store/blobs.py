"""Where bytes live: content-keyed blobs, verified on every read, and a few named rows.

``DiskcacheBlobs`` is the real store: a sharded ``diskcache.FanoutCache`` so that many kernels
write at once (diskcache writes the file first and commits the SQLite row after, so a crash
never leaves a half-visible blob). Anyone who can write the store's files may be hostile, so:

* a blob's key is the hash of its bytes (``keys.py``) and ``get`` checks the bytes it read
  against the key asked for: a replaced, swapped or damaged blob reads as ``CorruptArtifact``;
* the cache's ``Disk`` (diskcache's serialization strategy) is ``_DataOnlyDisk``: it stores
  bytes only and never unpickles (diskcache's own ``Disk`` unpickles any row marked as
  pickled, whatever the caller asked for); a row's file name must be one diskcache makes
  (``xx/yy/<28 hex>.val``) and is opened without following links, so a row can't make a reader
  read, block on or delete a file elsewhere;
* named rows (``get_row``/``put_row``: the manifests' ``m:<id>`` rows) are small SQLite rows,
  never files; they are not content-addressed, so ``artifacts.py`` checks what they claim;
* a format mark (``collab_reuse-format``) says which format the blob store holds; a store in
  another format raises ``IncompatibleStore`` on open and is not read;
* ``private()`` says whether only this user could have written the rows (the pickle gate).

Left to SQLite and diskcache (sabotage, not code or wrong values): a hostile ``Settings`` row
sets SQLite pragmas in the reader's connection, and a damaged database file fails to open.
``MemoryBlobs`` is the same contract in a dict, for unit tests.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import re
import sqlite3
import stat
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

import numpy as np

from ..errors import CorruptArtifact, IncompatibleStore, StoreError
from . import keys

log = logging.getLogger("collab_reuse")

FORMAT = 2
MARK = "collab_reuse-format"
_MARK_TEXT = f"collab_reuse blob store format {FORMAT}\n"
MAX_ROW = 16 << 10  # a named row (a manifest's m: row) is a few hundred bytes; never a file
_MIN_FILE_SIZE = 32 << 10  # diskcache keeps blobs below this in SQLite rows, larger ones in files
OPEN_LOCKED_SECONDS = 15.0  # how long opening a blob store retries a database another process holds locked
_ALIGNMENT = 64  # .npy pads its header to 64 bytes: arrays in a blob read here are aligned
_VALUE_FILE = re.compile(r"[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{28}\.val")
_NOT_A_KEY = "\x00pickled key"  # what a row whose key diskcache would unpickle is listed as


def _read_aligned(handle: Any) -> memoryview:
    """A file's bytes in a writable buffer starting 64-byte aligned: numpy arrays are then used in
    place, writable and aligned, with no copy. (An uninitialized numpy buffer: a zero-filled
    bytearray would write every page twice.)"""
    size = os.fstat(handle.fileno()).st_size
    buffer = np.empty(size + _ALIGNMENT, dtype=np.uint8)
    start = -buffer.ctypes.data % _ALIGNMENT
    view = memoryview(buffer)[start:start + size]
    done = 0
    while done < size:
        n = handle.readinto(view[done:])
        if not n:
            raise CorruptArtifact(f"blob file {getattr(handle, 'name', '?')} ended early")
        done += n
    return view


def _blob_bytes(key: str, found: Any) -> memoryview:
    """What diskcache found under a content key (bytes of a row, or an open file), verified against it."""
    if isinstance(found, bytes):  # small blobs live in diskcache's SQLite rows
        data = memoryview(found)
    else:
        with found:  # larger ones in files: read straight into the buffer the value will use
            data = _read_aligned(found)
    keys.verify(key, data)
    return data


def _row_bytes(name: str, found: Any) -> bytes:
    """What diskcache found under a row's name: bytes of a row, never a file, at most ``MAX_ROW``."""
    if not isinstance(found, bytes):
        found.close()
        raise CorruptArtifact(f"row {name[:20]} is a file; rows are never files")
    if len(found) > MAX_ROW:
        raise CorruptArtifact(f"row {name[:20]} has {len(found)} bytes, over {MAX_ROW}")
    return found


class Blobs(Protocol):
    def get(self, key: str) -> memoryview:
        """The bytes stored under a content key, verified against it (a view: large blobs are read
        once, into a writable, aligned buffer that decoders use in place); KeyError if absent,
        CorruptArtifact if they are not the bytes the key names."""

    def put(self, key: str, data: bytes) -> int:
        """Store data under its content key (idempotent); returns bytes written (0 if it was there)."""

    def get_row(self, name: str) -> bytes:
        """A named row (not content-addressed: the caller checks it); KeyError if absent."""

    def put_row(self, name: str, data: bytes) -> int:
        """Write (or replace) a named row of at most ``MAX_ROW`` bytes."""

    def owned_rows(self, name: str) -> Iterator[tuple[bytes, int | None]]:
        """Every row ``name`` this store holds, each with the uid the OS says wrote where it was
        found (a team store's namespaces), or None where that is not known (one user's store)."""

    def delete(self, key: str) -> None:
        """Forget a blob or row; absent keys are fine."""

    def __contains__(self, key: str) -> bool: ...

    def keys(self) -> Iterator[str]: ...

    def volume(self) -> int:
        """Bytes used on disk, everything included."""

    def private(self) -> bool:
        """Could only this user (or root) have written the rows? (Pickle is loaded only then.)"""

    def confidential(self) -> "Blobs":
        """Where to write what the rest of a team must not read (a team store: the user's confidential
        namespace); anywhere else these same blobs."""

    def holds_confidential(self, name: str) -> bool:
        """Is row ``name`` in the user's confidential namespace (a team store's)?"""

    def clear(self) -> None: ...

    def close(self) -> None: ...


class MemoryBlobs:
    """Blobs in a dict: the same contract as on disk, for tests."""

    def __init__(self) -> None:
        self._data: dict[str, bytes] = {}

    def get(self, key: str) -> memoryview:
        data = self._data[key]
        keys.verify(key, data)
        return memoryview(data)

    def put(self, key: str, data: bytes) -> int:
        if key in self._data:
            return 0
        self._data[key] = bytes(data)
        return len(data)

    def get_row(self, name: str) -> bytes:
        return self._data[name]

    def put_row(self, name: str, data: bytes) -> int:
        if len(data) > MAX_ROW:
            raise StoreError(f"a row of {len(data)} bytes is over {MAX_ROW}")
        self._data[name] = bytes(data)
        return len(data)

    def owned_rows(self, name: str) -> Iterator[tuple[bytes, int | None]]:
        return single_row(self.get_row, name)

    def delete(self, key: str) -> None:
        self._data.pop(key, None)

    def __contains__(self, key: str) -> bool:
        return key in self._data

    def keys(self) -> Iterator[str]:
        return iter(list(self._data))

    def volume(self) -> int:
        return sum(len(v) for v in self._data.values())

    def private(self) -> bool:
        return True  # nobody else can reach this process's memory

    def confidential(self) -> "Blobs":
        return self  # (whoever chose these blobs chose who reads them)

    def holds_confidential(self, name: str) -> bool:
        return False

    def clear(self) -> None:
        self._data.clear()

    def close(self) -> None:
        pass

    def corrupt(self, key: str) -> None:
        """Flip a byte of a stored blob (tests of the content check)."""
        raw = bytearray(self._data[key])
        raw[-1] ^= 0xFF
        self._data[key] = bytes(raw)


def single_row(get_row: Callable[[str], bytes], name: str) -> Iterator[tuple[bytes, int | None]]:
    """``owned_rows`` of a store without namespaces: its one row, no owner vouched for."""
    try:
        data = get_row(name)
    except KeyError:
        return
    yield data, None


def _data_only_disk(private_files: bool = False) -> type:
    """diskcache's ``Disk`` made data-only (a function: diskcache is imported only when a store opens).
    ``private_files``: value files and their directories get explicit modes (``0640``, ``0750``), not
    the umask's: in a user's namespace of a team store (umask 002) the team must not write them."""
    from diskcache import Disk
    from diskcache.core import MODE_BINARY, MODE_RAW, UNKNOWN

    class DataOnlyDisk(Disk):
        """Stores bytes (and str keys) only; never unpickles; opens only diskcache's own file names."""

        def __init__(self, directory: str, min_file_size: int = _MIN_FILE_SIZE, pickle_protocol: int = 0,
                     **_unknown: Any):  # (settings come from the database too: unknown ones are ignored)
            super().__init__(directory, min_file_size=_MIN_FILE_SIZE, pickle_protocol=0)

        def put(self, key: Any) -> tuple[Any, bool]:
            if type(key) is not str:
                raise TypeError(f"blob keys are strings, not {type(key).__name__}")
            return key, True

        def get(self, key: Any, raw: bool) -> Any:
            # a row whose key diskcache would unpickle (raw=0) is never ours: list it, never decode it
            return key if raw and type(key) is str else _NOT_A_KEY

        def store(self, value: Any, read: bool, key: Any = UNKNOWN) -> tuple:
            if type(value) is not bytes:
                raise TypeError(f"the blob store holds bytes, not {type(value).__name__}")
            return super().store(value, False, key)

        def fetch(self, mode: int, filename: Any, value: Any, read: bool) -> Any:
            if mode == MODE_RAW and type(value) is bytes:
                return value
            if mode == MODE_BINARY and value is None:
                handle = self._open(filename)
                if read:
                    return handle
                with handle:
                    return handle.read()
            raise CorruptArtifact(f"a blob row of mode {mode} holding {type(value).__name__} (pickle, text or "
                                  "a foreign row): never decoded")

        def filename(self, key: Any = UNKNOWN, value: Any = UNKNOWN) -> tuple[str, str]:
            name, full_path = super().filename(key, value)
            if private_files:  # each level made here with its mode (os.makedirs gives middle levels the umask's)
                where = self._directory
                for part in name.split(os.sep)[:-1]:
                    where = os.path.join(where, part)
                    try:
                        os.mkdir(where, 0o750)
                    except FileExistsError:
                        pass
            return name, full_path

        def _write(self, full_path: str, iterator: Any, mode: str, encoding: Any = None) -> int:
            if not private_files or mode != "xb":
                return super()._write(full_path, iterator, mode, encoding)
            fd = os.open(full_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o640)
            size = 0
            with os.fdopen(fd, "wb") as writer:
                for chunk in iterator:
                    size += len(chunk)
                    writer.write(chunk)
            return size

        def remove(self, file_path: Any) -> None:
            if isinstance(file_path, str) and _VALUE_FILE.fullmatch(file_path):
                super().remove(file_path)
            else:  # a row naming a file elsewhere: deleting the row must not delete that file
                log.warning("blob row names a file outside the store (%r): file left alone", str(file_path)[:80])

        def _open(self, filename: Any) -> Any:
            """Open a value file by a name diskcache makes, following no link at any level, never
            blocking (a FIFO) and only if it is a regular file."""
            if not isinstance(filename, str) or not _VALUE_FILE.fullmatch(filename):
                raise CorruptArtifact(f"blob row names the file {str(filename)[:80]!r}, not one of the store's")
            parts = filename.split("/")
            fds = [os.open(self._directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)]
            try:
                for part in parts[:-1]:
                    fds.append(os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                                       dir_fd=fds[-1]))
                fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=fds[-1])
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise CorruptArtifact(f"blob file {filename} is reached through a link") from None
                raise  # (absent: diskcache reads it as a miss)
            finally:
                for opened in fds:
                    os.close(opened)
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
                raise CorruptArtifact(f"blob file {filename} is not a regular file")
            os.set_blocking(fd, True)
            return os.fdopen(fd, "rb")

    return DataOnlyDisk


class _ConnectionCloser:
    """One thread's SQLite connections, closed when the thread drops this (at its end)."""

    def __init__(self) -> None:
        self.connections: dict[int, Any] = {}

    def close(self) -> None:
        for con in self.connections.values():
            try:
                con.close()
            except Exception:  # (closed already)
                pass
        self.connections.clear()

    def __del__(self) -> None:
        self.close()


def _check_format(directory: Path) -> None:
    """Write the format mark into a new blob store; refuse a store in another format."""
    mark = directory / MARK
    for _attempt in range(3):
        try:
            fd = os.open(mark, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            pass
        else:
            with os.fdopen(fd, "rb") as handle:
                text = handle.read(200).decode("utf-8", "replace")
            if text != _MARK_TEXT:
                raise IncompatibleStore(f"the blob store at {directory} is in another format "
                                        f"({text.strip()[:80]!r}; this collab_reuse reads format {FORMAT})")
            return
        directory.mkdir(parents=True, exist_ok=True)
        others = [n for n in os.listdir(directory) if n != MARK and not n.startswith(f".{MARK}.")]
        if others and os.path.lexists(mark):
            continue  # a concurrent opener wrote the mark and went on: read it
        if others:
            raise IncompatibleStore(f"the blob store at {directory} has no format mark: written by an older "
                                    f"collab_reuse (format 1); this one reads format {FORMAT}")
        temporary = directory / f".{MARK}.{uuid.uuid4().hex}"
        _write_readable(temporary, _MARK_TEXT.encode())
        try:
            os.link(temporary, mark)  # appears whole or not at all; a concurrent opener's mark wins alike
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    raise StoreError(f"can't read the format mark of the blob store at {directory}")


def _write_readable(path: Path, data: bytes) -> None:
    """A new file that everyone who may enter its directory reads and only its writer writes (0644,
    whatever the umask: a mark made under umask 077 would lock a team out, under 002 let it write)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), 0o644)
        handle.write(data)


def _written_only_by(uid: int, path: Path, lineage_may_be_root: bool) -> bool:
    """Owned by ``uid`` (an ancestor may be root's), not a link, writable by nobody else
    (an ancestor may be other-writable if sticky, as /tmp)."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    if stat.S_ISLNK(st.st_mode) or st.st_uid not in ((uid, 0) if lineage_may_be_root else (uid,)):
        return False
    if not st.st_mode & 0o022:
        return True
    return lineage_may_be_root and stat.S_ISDIR(st.st_mode) and bool(st.st_mode & stat.S_ISVTX)


def _noting_connections(method: Callable) -> Callable:
    """After a DiskcacheBlobs method (whatever it raised): have the thread's connections closed when
    the thread ends (``_note_connections``)."""
    @functools.wraps(method)
    def noting(self: "DiskcacheBlobs", *args: Any) -> Any:
        try:
            return method(self, *args)
        finally:
            self._note_connections()

    return noting


class DiskcacheBlobs:
    """Blobs in a sharded diskcache under ``directory``. ``private_files``: a user's namespace in a team
    store (``store/namespaces.py``): explicit file modes, and SQLite's rollback journal instead of
    WAL, so that other users can read the shards without writing anything (a WAL database needs
    its ``-shm`` file written, or created, by every reader)."""

    def __init__(self, directory: str | os.PathLike, shards: int = 8, private_files: bool = False):
        from diskcache import FanoutCache

        self.directory = Path(directory)
        self._thread = threading.local()  # per thread: the _ConnectionCloser of its connections
        try:
            _check_format(self.directory)
            # size_limit: eviction is ours (the materializer's budget), never diskcache's
            journal = {"sqlite_journal_mode": "delete"} if private_files else {}
            deadline, pause = time.monotonic() + OPEN_LOCKED_SECONDS, 0.05
            while True:
                try:
                    self._cache = FanoutCache(os.fspath(directory), shards=shards, timeout=30,
                                              disk=_data_only_disk(private_files), size_limit=2**62,
                                              eviction_policy="none", statistics=False,
                                              disk_min_file_size=_MIN_FILE_SIZE, **journal)
                    break
                except sqlite3.OperationalError as exc:
                    # diskcache writes its settings at every open; kernels of one user opening their
                    # namespace at once (a rollback journal) meet a lock SQLite won't wait for
                    if "locked" not in str(exc) or time.monotonic() + pause > deadline:
                        raise
                    time.sleep(pause)
                    pause = min(pause * 2, 0.5)
            self._note_connections()
        except StoreError:
            raise
        except Exception as exc:
            raise StoreError(f"can't open the blob store at {directory}: {exc}") from exc

    def _note_connections(self) -> None:
        """Have the calling thread's connections closed when the thread ends. diskcache keeps one
        per thread and shard and closes only the calling thread's; SQLite lets only that thread
        close them, and a thread that ended leaves them in a reference cycle that only the garbage
        collector breaks: open files an exiting kernel must not fork with (the store writes it
        hands over would be refused). The closer lives in the thread's own locals, so it is
        dropped, in that thread, when the thread ends."""
        closer = getattr(self._thread, "closer", None)
        if closer is None:
            closer = self._thread.closer = _ConnectionCloser()
        for shard in self._cache._shards:
            con = getattr(shard._local, "con", None)
            if con is not None and id(con) not in closer.connections:
                closer.connections[id(con)] = con

    @_noting_connections
    def get(self, key: str) -> memoryview:
        if not keys.is_content_key(key):
            raise CorruptArtifact(f"{str(key)[:20]!r} is not a content key")
        found = self._cache.get(key, default=None, read=True, retry=True)
        if found is None:
            raise KeyError(key)
        return _blob_bytes(key, found)

    @_noting_connections
    def put(self, key: str, data: bytes) -> int:
        if key in self._cache:
            return 0
        if not self._cache.set(key, bytes(data), retry=True):
            raise StoreError(f"the blob store refused a write of {len(data)} bytes")
        return len(data)

    @_noting_connections
    def get_row(self, name: str) -> bytes:
        found = self._cache.get(name, default=None, read=True, retry=True)
        if found is None:
            raise KeyError(name)
        return _row_bytes(name, found)

    def owned_rows(self, name: str) -> Iterator[tuple[bytes, int | None]]:
        return single_row(self.get_row, name)

    @_noting_connections
    def put_row(self, name: str, data: bytes) -> int:
        if len(data) > MAX_ROW:
            raise StoreError(f"a row of {len(data)} bytes is over {MAX_ROW}")
        if not self._cache.set(name, bytes(data), retry=True):
            raise StoreError(f"the blob store refused a row of {len(data)} bytes")
        return len(data)

    @_noting_connections
    def delete(self, key: str) -> None:
        self._cache.delete(key, retry=True)

    @_noting_connections
    def __contains__(self, key: str) -> bool:
        return key in self._cache

    @_noting_connections
    def keys(self) -> Iterator[str]:
        return iter([k for k in self._cache if k != _NOT_A_KEY])

    @_noting_connections
    def volume(self) -> int:
        return int(self._cache.volume())

    def private(self) -> bool:
        """The store root and every directory above it, the blob directory, its shards and their
        database files: owned by this user (the directories above: or root), writable by nobody
        else. Value files need no such check: their bytes are verified against their keys."""
        uid = os.geteuid()
        try:
            resolved = self.directory.resolve(strict=True)
            shards = [p for p in resolved.iterdir() if p.is_dir() and not p.is_symlink()]
        except OSError:
            return False
        above = [p for p in resolved.parents if p != resolved.parent]
        mine = [resolved.parent, resolved, *shards]
        for shard in shards:
            mine.extend(p for p in (shard / "cache.db", shard / "cache.db-wal", shard / "cache.db-shm")
                        if os.path.lexists(p))
        return (all(_written_only_by(uid, p, True) for p in above)
                and all(_written_only_by(uid, p, False) for p in mine))

    def confidential(self) -> "Blobs":
        return self  # (whoever chose these blobs chose who reads them)

    def holds_confidential(self, name: str) -> bool:
        return False

    @_noting_connections
    def clear(self) -> None:
        self._cache.clear(retry=True)

    def close(self) -> None:
        """Close the calling thread's connections (threads that ended closed theirs); a later use
        opens new ones."""
        self._cache.close()
        closer = getattr(self._thread, "closer", None)
        if closer is not None:
            closer.close()

    def check(self) -> list[str]:  # (collab-reuse gc) removes files no row names, e.g. a write cut by a full disk
        return [str(w.message) for w in self._cache.check(fix=True, retry=True)]


class ReadOnlyDiskcache:
    """Another user's ``DiskcacheBlobs`` (a namespace of a team store), read without writing a byte:
    diskcache itself writes its settings whenever it opens a cache, so its tables are read here
    directly, read-only, the same way ``DataOnlyDisk`` would (bytes only, diskcache's own file
    names, no links), and every blob is verified against its key. Anything SQLite refuses (a
    shard being rolled back, locked too long, damaged) reads as absent: another user's namespace
    can make a reader recompute, never fail."""

    def __init__(self, directory: str | os.PathLike, shards: int = 8):
        self.directory = Path(directory)
        self._shards = shards
        disk = _data_only_disk()
        # a value file's name is relative to its shard's directory, as each shard's Disk has it
        self._disks = [disk(os.fspath(self.directory / f"{shard:03d}")) for shard in range(shards)]
        self._local = threading.local()

    def _connection(self, shard: int) -> Any:
        import sqlite3

        opened = getattr(self._local, "connections", None)
        if opened is None:
            opened = self._local.connections = {}
        if shard not in opened:
            path = self.directory / f"{shard:03d}" / "cache.db"
            from urllib.parse import quote

            opened[shard] = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=2.0,
                                            isolation_level=None, check_same_thread=False)
        return opened[shard]

    def _shard(self, key: str) -> int:
        return self._disks[0].hash(key) % self._shards

    def _row(self, key: str) -> tuple | None:
        import sqlite3

        shard = self._shard(key)
        try:
            return self._connection(shard).execute(
                "SELECT mode, filename, value FROM Cache WHERE key = ? AND raw = 1", (key,)).fetchone()
        except sqlite3.Error as exc:
            log.info("blob store %s shard %d unreadable (%s): read as absent", self.directory, shard, exc)
            self.close()
            return None

    def _value(self, key: str) -> Any:
        row = self._row(key)
        if row is None:
            raise KeyError(key)
        mode, filename, value = row
        try:
            return self._disks[self._shard(key)].fetch(mode, filename, value, True)
        except FileNotFoundError:
            raise KeyError(key) from None

    def get(self, key: str) -> memoryview:
        if not keys.is_content_key(key):
            raise CorruptArtifact(f"{str(key)[:20]!r} is not a content key")
        found = self._value(key)
        return _blob_bytes(key, found)

    def get_row(self, name: str) -> bytes:
        found = self._value(name)
        return _row_bytes(name, found)

    def __contains__(self, key: str) -> bool:
        return self._row(key) is not None

    def keys(self) -> Iterator[str]:
        import sqlite3

        found: list[str] = []
        for shard in range(self._shards):
            try:
                found.extend(k for (k,) in self._connection(shard).execute("SELECT key FROM Cache WHERE raw = 1")
                             if type(k) is str)
            except sqlite3.Error:
                continue
        return iter(found)

    def volume(self) -> int:
        import sqlite3

        total = 0
        for shard in range(self._shards):
            try:
                total += int(self._connection(shard).execute("SELECT COALESCE(SUM(size), 0) FROM Cache").fetchone()[0])
                total += os.stat(self.directory / f"{shard:03d}" / "cache.db").st_size
            except (sqlite3.Error, OSError, TypeError, ValueError):
                continue
        return total

    def close(self) -> None:
        for connection in getattr(self._local, "connections", {}).values():
            try:
                connection.close()
            except Exception:
                pass
        self._local.connections = {}
