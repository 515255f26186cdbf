"""The Experiment Graph, persisted in SQLite (WAL) inside the store directory.

Every kernel and the server extension open the same database; each writer
batches a cell's updates into one ``BEGIN IMMEDIATE`` transaction, so two
kernels writing at once serialize on the lock and lose nothing. Each thread
gets its own connection. ``networkx_view`` builds the in-memory graph that
planning and materialization work on.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from ..errors import StoreError

SCHEMA_VERSION = "1"
NOT_STORED, WRITING, MATERIALIZED = 0, 1, 2
LARGE_LOAD = 1 << 20  # loads at least this big measure throughput; smaller ones the fixed cost per load
_ITEM_COLUMNS = "id, op, kind, size, frequency, compute_seconds, state, quality, last_used"


def load_counters(nbytes: int, seconds: float) -> dict[str, float]:
    """What one load adds to the store's counters (see ``ExperimentGraph.load_throughput``)."""
    if nbytes >= LARGE_LOAD:
        return {"load_bytes": nbytes, "load_seconds": seconds, "loads": 1}
    return {"small_loads": 1, "small_load_seconds": seconds}


@dataclass
class VertexUpdate:
    """One traced operation's result, as a cell reports it."""

    id: str
    op: str
    kind: str
    inputs: list[str] = field(default_factory=list)
    seconds: float = 0.0          # compute time measured now (0 when reused)
    computed: bool = True
    reused: bool = False
    load_seconds: float | None = None
    quality: float | None = None


@dataclass
class ArtifactInfo:
    id: str
    op: str
    kind: str
    size: int
    compute_seconds: float
    frequency: int
    state: int
    load_seconds: float | None
    quality: float | None
    storable: bool
    inputs: list[str]


def _split(opened: list[tuple[threading.Thread, Any]]) -> tuple[list[tuple[threading.Thread, Any]], list[Any]]:
    """(connections of live threads, connections of finished ones). The calling thread counts as live:
    at interpreter exit, and in a forked child, even the main thread reports itself stopped."""
    me = threading.current_thread()
    done = [(t, db) for t, db in opened if not t.is_alive() and t is not me]
    return [pair for pair in opened if pair not in done], [db for _, db in done]


class ExperimentGraph:
    """The shared Experiment Graph of a store directory."""

    def __init__(self, store_dir: str | os.PathLike, budget_bytes: int | None = None):
        self.store_dir = Path(store_dir)
        self.path = self.store_dir / "graph.sqlite"
        self._local = threading.local()
        self._opened: list[tuple[threading.Thread, sqlite3.Connection]] = []  # every thread's, for close_all()
        self._opened_lock = threading.Lock()
        try:
            self.store_dir.mkdir(parents=True, exist_ok=True)
            self._db().executescript((Path(__file__).with_name("schema.sql")).read_text())
            with self._tx() as db:
                found = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
                if found is None:
                    db.execute("INSERT INTO meta VALUES('schema', ?)", (SCHEMA_VERSION,))
                elif found[0] != SCHEMA_VERSION:
                    raise StoreError(f"store schema {found[0]} is not {SCHEMA_VERSION}; use another store directory")
                if budget_bytes is not None:
                    db.execute("INSERT OR IGNORE INTO meta VALUES('budget', ?)", (str(budget_bytes),))
        except sqlite3.Error as exc:
            raise StoreError(f"can't open the Experiment Graph at {self.path}: {exc}") from exc

    # -- connections -------------------------------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=60000")
            self._local.db = db
            with self._opened_lock:  # (a finished thread's connection is closed here)
                self._opened, finished = _split(self._opened + [(threading.current_thread(), db)])
            for old in finished:
                old.close()
        return db

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        else:
            db.execute("COMMIT")

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    def close_all(self) -> None:
        """Close every thread's connection (at exit; no other thread may use the graph any more)."""
        self._local.db = None
        with self._opened_lock:
            opened, self._opened = [db for _, db in self._opened], []
        for db in opened:
            try:
                db.close()
            except sqlite3.Error:
                pass

    # -- settings ----------------------------------------------------------------------------

    def budget(self) -> int:
        row = self._db().execute("SELECT value FROM meta WHERE key='budget'").fetchone()
        return int(row[0]) if row else 0

    def set_budget(self, nbytes: int) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES('budget', ?)", (str(int(nbytes)),))

    # -- lookups on the hot path -------------------------------------------------------------

    def artifact(self, artifact_id: str) -> ArtifactInfo | None:
        row = self._db().execute(
            "SELECT id, op, kind, size, compute_seconds, frequency, state, load_seconds, quality, storable, inputs"
            " FROM artifacts WHERE id=?", (artifact_id,)).fetchone()
        if row is None:
            return None
        return ArtifactInfo(*row[:9], storable=bool(row[9]), inputs=json.loads(row[10]))

    def is_random(self, op_id: str) -> bool:
        return self._db().execute("SELECT 1 FROM random_ops WHERE op_id=?", (op_id,)).fetchone() is not None

    def random_ops(self) -> set[str]:
        return {k for (k,) in self._db().execute("SELECT op_id FROM random_ops")}

    def file_digest(self, stat_key: str) -> str | None:
        row = self._db().execute("SELECT digest FROM files WHERE stat_key=?", (stat_key,)).fetchone()
        return row[0] if row else None

    def remember_file(self, stat_key: str, digest: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO files VALUES(?, ?)", (stat_key, digest))

    def load_throughput(self, unrecorded: Mapping[str, float] | None = None) -> tuple[float, float]:
        """(seconds per byte, fixed seconds per load) measured from this store's loads, and from
        ``unrecorded`` ones (``load_counters`` a kernel measured but has not written yet).

        Large loads (>= 1 MB) measure the throughput, small ones the fixed cost; mixing them would
        let many tiny loads (each mostly fixed cost) make every large artifact look slow to load."""
        rows = dict(self._db().execute("SELECT name, value FROM counters WHERE name IN "
                                       "('load_bytes', 'load_seconds', 'loads', 'small_loads', 'small_load_seconds')"
                                       ).fetchall())
        for name, amount in (unrecorded or {}).items():
            rows[name] = rows.get(name, 0) + amount
        nbytes, seconds, loads = rows.get("load_bytes", 0), rows.get("load_seconds", 0), rows.get("loads", 0)
        small, small_seconds = rows.get("small_loads", 0), rows.get("small_load_seconds", 0)
        fixed = min(small_seconds / small, 0.05) if small >= 3 else 0.002
        if loads < 3 or nbytes <= 0:
            return 1 / 300e6, fixed  # until measured: a modest disk
        return max(seconds - fixed * loads, 0) / nbytes or 1 / 3e9, fixed

    # -- a cell's batch of updates -----------------------------------------------------------

    def record_cell(self, updates: Iterable[VertexUpdate], user: str, report: dict | None,
                    random_ops: Iterable[str] = (), unstorable: dict[str, str] | None = None,
                    quiet_ops: Iterable[tuple[str, str, float]] = (),
                    forests: Iterable[tuple[str, int, str]] = ()) -> int | None:
        """Add/refresh vertices, bump frequencies and usage, append the cell's report; one transaction."""
        now = time.time()
        seq = None
        with self._tx() as db:
            for u in updates:
                db.execute(
                    "INSERT INTO artifacts(id, op, kind, inputs, created, last_used) VALUES(?,?,?,?,?,?)"
                    " ON CONFLICT(id) DO NOTHING", (u.id, u.op, u.kind, json.dumps(u.inputs), now, now))
                if u.computed and u.seconds > 0:
                    db.execute("UPDATE artifacts SET compute_seconds=(compute_seconds*runs + ?)/(runs+1), runs=runs+1"
                               " WHERE id=?", (u.seconds, u.id))
                db.execute("UPDATE artifacts SET frequency=frequency+1, last_used=?, kind=?,"
                           " quality=COALESCE(?, quality) WHERE id=?", (now, u.kind, u.quality, u.id))
                db.execute("INSERT INTO usage VALUES(?,?,1) ON CONFLICT(artifact_id, user) DO UPDATE SET count=count+1",
                           (u.id, user))
                if u.reused and u.load_seconds is not None:
                    # the fastest load seen: a first load may include one-time imports
                    db.execute("UPDATE artifacts SET load_seconds=MIN(COALESCE(load_seconds, ?), ?) WHERE id=?",
                               (u.load_seconds, u.load_seconds, u.id))
            for op_id in random_ops:
                db.execute("INSERT OR IGNORE INTO random_ops VALUES(?)", (op_id,))
            db.executemany("INSERT OR IGNORE INTO quiet_ops(op_id, value_type, seconds) VALUES(?,?,?)",
                           list(quiet_ops))
            db.executemany("INSERT OR REPLACE INTO forests VALUES(?,?,?)", list(forests))
            for aid, why in (unstorable or {}).items():
                db.execute("UPDATE artifacts SET storable=0, note=? WHERE id=?", (why, aid))
            if report is not None:
                totals = report.get("totals", {})
                self._bump(db, "hits", totals.get("reused", 0))
                self._bump(db, "misses", totals.get("computed", 0))
                self._bump(db, "saved_seconds", totals.get("saved_seconds", 0.0))
                cur = db.execute("INSERT INTO events(time, kernel_id, user, cell_id, execution_count, report)"
                                 " VALUES(?,?,?,?,?,?)", (now, report.get("kernel_id"), user, report.get("cell_id"),
                                                          report.get("execution_count"), json.dumps(report)))
                seq = cur.lastrowid
        return seq

    def add_bytes_written(self, seq: int, by_id: dict[str, int]) -> None:
        """Fill in what the store wrote for a cell's steps (known only after the cell's report)."""
        with self._tx() as db:
            row = db.execute("SELECT report FROM events WHERE seq=?", (seq,)).fetchone()
            if row is None:
                return
            report = json.loads(row[0])
            for step in report.get("steps", []):
                if step.get("id") in by_id and step.get("status") == "computed":
                    step["bytes_written"] = by_id.pop(step["id"])
            report.setdefault("totals", {})["bytes_written"] = sum(
                s.get("bytes_written", 0) for s in report.get("steps", []))
            db.execute("UPDATE events SET report=? WHERE seq=?", (json.dumps(report), seq))

    def remember_size(self, artifact_id: str, nbytes: int) -> None:
        with self._tx() as db:
            db.execute("UPDATE artifacts SET size=? WHERE id=? AND state=0", (int(nbytes), artifact_id))

    def record_load(self, nbytes: int, seconds: float) -> None:
        with self._tx() as db:
            for name, amount in load_counters(nbytes, seconds).items():
                self._bump(db, name, amount)

    def record_quality(self, artifact_id: str, quality: float) -> None:
        with self._tx() as db:
            db.execute("UPDATE artifacts SET quality=MAX(COALESCE(quality, 0), ?) WHERE id=?", (quality, artifact_id))

    @staticmethod
    def _bump(db: sqlite3.Connection, name: str, amount: float) -> None:
        db.execute("INSERT INTO counters VALUES(?, ?) ON CONFLICT(name) DO UPDATE SET value=value+?",
                   (name, amount, amount))

    # -- materialization bookkeeping ---------------------------------------------------------

    def begin_write(self, artifact_id: str, blob_sizes: dict[str, int]) -> None:
        """Claim the blobs before writing them, so a concurrent eviction won't delete them."""
        with self._tx() as db:
            db.execute("UPDATE artifacts SET state=? WHERE id=? AND state<>?", (WRITING, artifact_id, MATERIALIZED))
            db.executemany("INSERT OR IGNORE INTO artifact_blobs VALUES(?, ?)",
                           [(artifact_id, k) for k in blob_sizes])

    def finish_write(self, artifact_id: str, blob_sizes: dict[str, int]) -> None:
        with self._tx() as db:
            db.executemany("INSERT OR IGNORE INTO blobs VALUES(?, ?)", list(blob_sizes.items()))
            db.execute("UPDATE artifacts SET state=?, size=? WHERE id=?",
                       (MATERIALIZED, sum(blob_sizes.values()), artifact_id))
            db.execute("INSERT INTO stored_log(artifact_id) VALUES(?)", (artifact_id,))

    def stored_since(self, seq: int) -> tuple[set[str], int]:
        """Artifacts written to the store after ``seq`` (evicted ones included) and the newest seq.

        Kernels keep this set in memory, so a lookup of an id never stored costs no query."""
        rows = self._db().execute("SELECT seq, artifact_id FROM stored_log WHERE seq>?", (seq,)).fetchall()
        return {aid for _, aid in rows}, max((r[0] for r in rows), default=seq)

    def forests(self, key: str) -> list[tuple[int, str]]:
        """(tree count, artifact id) of the forests fitted under a warm-start key."""
        return [(n, aid) for n, aid in self._db().execute(
            "SELECT n_estimators, artifact_id FROM forests WHERE key=?", (key,)).fetchall()]

    def quiet_since(self, seq: int) -> tuple[dict[str, tuple[str, float]], int]:
        """Operations recorded as quiet after ``seq`` (id -> (result class, seconds)) and the newest seq."""
        rows = self._db().execute("SELECT seq, op_id, value_type, seconds FROM quiet_ops WHERE seq>?",
                                  (seq,)).fetchall()
        return {r[1]: (r[2], r[3]) for r in rows}, max((r[0] for r in rows), default=seq)

    def unmaterialize(self, artifact_ids: Iterable[str]) -> list[str]:
        """Mark artifacts not stored; return the blob keys no other artifact still uses."""
        ids = list(artifact_ids)
        if not ids:
            return []
        with self._tx() as db:
            keys: set[str] = set()
            for aid in ids:
                keys.update(k for (k,) in db.execute("SELECT key FROM artifact_blobs WHERE artifact_id=?", (aid,)))
                db.execute("DELETE FROM artifact_blobs WHERE artifact_id=?", (aid,))
                db.execute("UPDATE artifacts SET state=? WHERE id=?", (NOT_STORED, aid))
            orphans = [k for k in keys
                       if db.execute("SELECT 1 FROM artifact_blobs WHERE key=? LIMIT 1", (k,)).fetchone() is None]
            db.executemany("DELETE FROM blobs WHERE key=?", [(k,) for k in orphans])
        return orphans

    def used_bytes(self) -> int:
        return int(self._db().execute("SELECT COALESCE(SUM(size), 0) FROM blobs").fetchone()[0])

    def stored_blob_keys(self) -> set[str]:
        return {k for (k,) in self._db().execute("SELECT key FROM artifact_blobs")}

    def materialized_ids(self) -> set[str]:
        return {k for (k,) in self._db().execute("SELECT id FROM artifacts WHERE state=?", (MATERIALIZED,))}

    def blob_sizes_of(self, artifact_id: str) -> dict[str, int]:
        return dict(self._db().execute(
            "SELECT b.key, b.size FROM artifact_blobs a JOIN blobs b ON a.key=b.key WHERE a.artifact_id=?",
            (artifact_id,)).fetchall())

    def all_artifacts(self) -> list[ArtifactInfo]:
        rows = self._db().execute(
            "SELECT id, op, kind, size, compute_seconds, frequency, state, load_seconds, quality, storable, inputs"
            " FROM artifacts").fetchall()
        return [ArtifactInfo(*r[:9], storable=bool(r[9]), inputs=json.loads(r[10])) for r in rows]

    def clear(self) -> None:
        with self._tx() as db:
            for table in ("artifacts", "artifact_blobs", "blobs", "usage", "events", "random_ops", "counters",
                          "stored_log", "quiet_ops", "forests"):
                db.execute(f"DELETE FROM {table}")

    # -- queries for the panel, the magics and the CLI ---------------------------------------

    def summary(self, top: int = 10) -> dict[str, Any]:
        db = self._db()
        counters = dict(db.execute("SELECT name, value FROM counters").fetchall())
        hits, misses = int(counters.get("hits", 0)), int(counters.get("misses", 0))
        total, materialized = db.execute(
            "SELECT COUNT(*), COALESCE(SUM(state=2), 0) FROM artifacts").fetchone()
        users = [u for (u,) in db.execute("SELECT DISTINCT user FROM usage ORDER BY user")]
        top_rows = db.execute(f"SELECT {_ITEM_COLUMNS} FROM artifacts WHERE state=2"
                              " ORDER BY compute_seconds*frequency DESC LIMIT ?", (top,)).fetchall()
        return {"store_dir": str(self.store_dir), "used_bytes": self.used_bytes(), "budget_bytes": self.budget(),
                "artifacts": int(total), "materialized": int(materialized), "hits": hits, "misses": misses,
                "hit_rate": hits / (hits + misses) if hits + misses else 0.0,
                "saved_seconds": float(counters.get("saved_seconds", 0.0)), "users": users,
                "top_artifacts": [self._item(db, r) for r in top_rows]}

    def artifacts(self, offset: int = 0, limit: int = 100) -> dict[str, Any]:
        db = self._db()
        total = db.execute("SELECT COUNT(*) FROM artifacts").fetchone()[0]
        rows = db.execute(f"SELECT {_ITEM_COLUMNS} FROM artifacts ORDER BY state DESC, compute_seconds*frequency DESC"
                          " LIMIT ? OFFSET ?", (int(limit), int(offset))).fetchall()
        return {"total": int(total), "items": [self._item(db, r) for r in rows]}

    def events(self, kernel_id: str | None = None, since: int = 0, limit: int = 500) -> list[dict[str, Any]]:
        db = self._db()
        if kernel_id:
            rows = db.execute("SELECT seq, time, report FROM events WHERE kernel_id=? AND seq>? ORDER BY seq LIMIT ?",
                              (kernel_id, int(since), int(limit))).fetchall()
        else:
            rows = db.execute("SELECT seq, time, report FROM events WHERE seq>? ORDER BY seq LIMIT ?",
                              (int(since), int(limit))).fetchall()
        out = []
        for seq, when, report in rows:
            item = json.loads(report)
            item["seq"], item["time"] = seq, when
            out.append(item)
        return out

    @staticmethod
    def _item(db: sqlite3.Connection, row: tuple) -> dict[str, Any]:
        aid, op, kind, size, freq, secs, state, quality, last_used = row
        users = [u for (u,) in db.execute("SELECT user FROM usage WHERE artifact_id=? ORDER BY count DESC", (aid,))]
        return {"id": aid, "op": op, "kind": kind, "size": int(size), "frequency": int(freq),
                "compute_seconds": float(secs), "materialized": state == MATERIALIZED, "quality": quality,
                "last_used": last_used, "users": users}

    def networkx_view(self) -> Any:
        """The graph as a networkx DiGraph (edges input -> output), with vertex attributes."""
        import networkx as nx

        g = nx.DiGraph()
        for a in self.all_artifacts():
            g.add_node(a.id, op=a.op, kind=a.kind, size=a.size, compute_seconds=a.compute_seconds,
                       frequency=a.frequency, materialized=a.state == MATERIALIZED, quality=a.quality)
            for src in a.inputs:
                g.add_edge(src, a.id)
        return g
