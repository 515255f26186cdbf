"""One SQLite database file (WAL) that kernels, their writers and the server open at once.

The Experiment Graph (``experiment_graph``) and each user's journal (``journal``) are such files.
Each thread gets its own connection; every SQLite error (a full disk, a locked or damaged
database, a store deleted underneath) comes out as ``StoreError`` (``guarded``); only the
constructor of a subclass may create the file: a connection opened later never makes a new, empty
database in place of a deleted one.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar
from urllib.parse import quote

from ..errors import StoreError

BUSY_SECONDS = 60.0  # how long a connection waits for another's write lock (background writers)

_F = TypeVar("_F", bound=Callable[..., Any])


def guarded(method: _F) -> _F:
    """SQLite's errors come out as ``StoreError`` (the session's sign that the store is unusable);
    the connection that failed is dropped, so the next call starts on a fresh one."""

    @functools.wraps(method)
    def call(self: "SQLiteFile", *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            self.close()
            raise StoreError(f"{self.WHAT} at {self.path}: {exc}") from exc

    return call  # type: ignore[return-value]


def _split(opened: list[tuple[threading.Thread, Any]]) -> tuple[list[tuple[threading.Thread, Any]], list[Any]]:
    """(connections of live threads, connections of finished ones). The calling thread counts as live:
    at interpreter exit, and in a forked child, even the main thread reports itself stopped."""
    me = threading.current_thread()
    done = [(t, db) for t, db in opened if not t.is_alive() and t is not me]
    return [pair for pair in opened if pair not in done], [db for _, db in done]


def _switch_to_wal(db: sqlite3.Connection, busy: float) -> None:
    """``PRAGMA journal_mode=WAL``, waiting up to ``busy`` seconds for the lock it needs: SQLite answers it
    "database is locked" at once, without its busy handler, while another process makes the same new
    file WAL (kernels of a team starting together on a new store: 8 of 120 such opens failed)."""
    deadline = time.monotonic() + busy
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


class SQLiteFile:
    """Per-thread connections to one database file, and its transactions."""

    WHAT = "the database"  # (how errors name it)

    def __init__(self, path: str | Path, busy_seconds: float | None = None):
        self.path = Path(path)
        self._local = threading.local()
        if busy_seconds is not None:
            self._local.busy = busy_seconds
        self._opened: list[tuple[threading.Thread, sqlite3.Connection]] = []  # every thread's, for close_all()
        self._opened_lock = threading.Lock()

    def _db(self, create: bool = False) -> sqlite3.Connection:
        """This thread's connection. Only the constructor may create the file (``mode=rwc``): a store
        deleted while a kernel runs must stay deleted, not come back empty."""
        db = getattr(self._local, "db", None)
        if db is None:
            uri = f"file:{quote(str(self.path.absolute()))}?mode={'rwc' if create else 'rw'}"
            busy = getattr(self._local, "busy", BUSY_SECONDS)
            db = sqlite3.connect(uri, uri=True, timeout=busy, isolation_level=None, check_same_thread=False)
            try:
                db.execute(f"PRAGMA busy_timeout={int(busy * 1000)}")
                _switch_to_wal(db, busy)
                db.execute("PRAGMA synchronous=NORMAL")
            except sqlite3.Error:
                db.close()
                raise
            self._local.db = db
            with self._opened_lock:  # (a finished thread's connection is closed here)
                self._opened, finished = _split(self._opened + [(threading.current_thread(), db)])
            for old in finished:
                old.close()
        return db

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        try:
            db.execute("COMMIT")
        except BaseException:  # (a COMMIT refused, e.g. busy: the write lock must not stay held)
            try:
                db.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            raise

    @guarded
    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        """Rows of a read on this thread's connection (for ``upkeep``'s free functions)."""
        return self._db().execute(sql, params).fetchall()

    def set_busy_timeout(self, seconds: float) -> None:
        """How long this thread's queries wait for another connection's lock before ``StoreError``
        (a cell's lookups must not hang on a store another process holds locked)."""
        self._local.busy = seconds
        db = getattr(self._local, "db", None)
        if db is not None:
            db.execute(f"PRAGMA busy_timeout={int(seconds * 1000)}")

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            self._local.db = None
            with self._opened_lock:
                self._opened = [pair for pair in self._opened if pair[1] is not db]
            try:
                db.close()
            except sqlite3.Error:
                pass

    def close_all(self) -> None:
        """Close every thread's connection (at exit; no other thread may use the file any more)."""
        self._local.db = None
        with self._opened_lock:
            opened, self._opened = [db for _, db in self._opened], []
        for db in opened:
            try:
                db.close()
            except sqlite3.Error:
                pass
