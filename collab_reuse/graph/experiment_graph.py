"""The Experiment Graph, persisted in SQLite (WAL) inside the store directory.

Every kernel and the server extension open the same database; each writer
batches a cell's updates into one ``BEGIN IMMEDIATE`` transaction, so two
kernels writing at once serialize on the lock and lose nothing. Each thread
gets its own connection (``sqlite_file``). ``networkx_view`` builds the
in-memory graph that planning and materialization work on. What is a user's
own (cell reports, call summaries: code, parameters, paths) is not here but in
their journal (``journal``), which the graph opens for its process's user.

Faults: every SQLite error (a full disk, a locked or damaged database, a
store deleted underneath) comes out as ``StoreError``; only the constructor
creates the database file (a connection opened later never makes a new,
empty graph in place of a deleted one); every value read is checked
(``rows``), a bad row reads as absent and ``repair`` removes it. Growth is
bounded: vertices that nothing stored needs by age (``prune``), the journal's
reports by age and count.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from ..errors import StoreError
from . import attribution, claims, costs, rows
from .journal import Journal, PlaceRun, journal_path, readable_journal_paths
from .rows import BadRow
from .sqlite_file import BUSY_SECONDS, SQLiteFile, guarded

log = logging.getLogger("collab_reuse")

SCHEMA_VERSION = "1"
NOT_STORED, WRITING, MATERIALIZED = 0, 1, 2
LARGE_LOAD = 1 << 20  # loads at least this big measure throughput; smaller ones the fixed cost per load
_ITEM_COLUMNS = "id, op, kind, size, frequency, compute_seconds, state, quality, last_used"
_USERS_OWN = ("events", "places")  # tables an older graph had, now in each user's journal: dropped


def load_counters(nbytes: int, seconds: float) -> dict[str, float]:
    """What one load adds to the store's counters (see ``ExperimentGraph.load_throughput``)."""
    if nbytes >= LARGE_LOAD:
        return {"load_bytes": nbytes, "load_seconds": seconds, "loads": 1}
    return {"small_loads": 1, "small_load_seconds": seconds}


@dataclass(slots=True)
class VertexUpdate:
    """One traced operation's result, as a cell reports it. (Slots: a first run holds hundreds until the
    kernel is idle, and every garbage collection walks them.)"""

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

    COLUMNS = "id, op, kind, size, compute_seconds, frequency, state, load_seconds, quality, storable, inputs"

    @classmethod
    def from_row(cls, row: tuple) -> "ArtifactInfo":
        """A row of ``COLUMNS``, checked; ``BadRow`` if any value is wrong."""
        aid, op, kind, size, compute, frequency, state, load, quality, storable, inputs = row
        return cls(rows.text(aid), rows.text(op), rows.text(kind), rows.count(size), rows.seconds(compute),
                   rows.count(frequency), rows.state(state), rows.optional_seconds(load), rows.score(quality),
                   storable=rows.flag(storable), inputs=rows.id_list(inputs))


@dataclass
class MaterializationInputs:
    """``ExperimentGraph.materialization_inputs``."""

    stored: list[ArtifactInfo]
    offered: dict[str, ArtifactInfo]
    recreation: dict[str, float]  # each target's recreation cost (the exact sum over its ancestor set)
    potential: dict[str, float]
    blob_sizes: dict[str, dict[str, int] | None]


def _checked(row: tuple) -> ArtifactInfo | None:
    return rows.parsed(ArtifactInfo.from_row, row, "row of the Experiment Graph")


class ExperimentGraph(SQLiteFile):
    """The shared Experiment Graph of a store directory."""

    WHAT = "the Experiment Graph"

    def __init__(self, store_dir: str | os.PathLike, budget_bytes: int | None = None, create: bool = True,
                 busy_seconds: float | None = None):
        """Open (with ``create``: make) the graph of a store directory; ``StoreError`` if it can't be.
        ``busy_seconds``: how long this thread waits for a lock another process holds (``set_busy_timeout``)."""
        self.store_dir = Path(store_dir)
        super().__init__(self.store_dir / "graph.sqlite", busy_seconds)
        self._wide = costs.WideInputs()  # (the materializer's, kept between cells)
        self._memo = costs.Memo()  # (the materializer's potentials and recreation costs, kept between cells)
        self._journal: Journal | None = None
        self._journal_lock = threading.Lock()
        try:
            if create:
                self.store_dir.mkdir(parents=True, exist_ok=True)
            db = self._db(create=create)
            db.executescript((Path(__file__).with_name("schema.sql")).read_text())  # (no lock if it is there)
            meta = dict(db.execute("SELECT key, value FROM meta WHERE key IN ('schema', 'budget')").fetchall())
            if "schema" not in meta or (budget_bytes is not None and "budget" not in meta):
                with self.transaction() as db:  # a new store: the only write an open needs (no wait otherwise)
                    db.execute("INSERT OR IGNORE INTO meta VALUES('schema', ?)", (SCHEMA_VERSION,))
                    if budget_bytes is not None:
                        db.execute("INSERT OR IGNORE INTO meta VALUES('budget', ?)", (str(budget_bytes),))
                    meta["schema"] = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()[0]
            if meta["schema"] != SCHEMA_VERSION:
                raise StoreError(f"the store's graph has schema {meta['schema']!r}, this collab_reuse reads "
                                 f"{SCHEMA_VERSION}: use another store directory")
            self._drop_users_own(db)
        except StoreError:
            self.close()
            raise
        except (sqlite3.Error, OSError) as exc:
            self.close()
            raise StoreError(f"can't open the Experiment Graph at {self.path}: {exc}") from exc

    def _drop_users_own(self, db: sqlite3.Connection) -> None:
        """A graph written by an older collab_reuse kept every user's cell reports and call summaries
        (code, parameters, paths) where the whole team reads them: they go (they are history, not what
        reuse needs). A process that can't write the graph leaves that to the next one that can."""
        old = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table' AND name IN"
                                              f" ({','.join('?' * len(_USERS_OWN))})", _USERS_OWN)]
        if not old:
            return
        try:
            with self.transaction() as db:
                for name in old:
                    db.execute(f"DROP TABLE IF EXISTS {name}")
        except sqlite3.Error as exc:
            log.info("the graph's old %s tables stay until a process that can write it opens it: %s", old, exc)

    def close_all(self) -> None:
        """Close every thread's connection, to the graph and to the journal (at exit)."""
        super().close_all()
        if self._journal is not None:
            self._journal.close_all()

    # -- this process's user's journal (``journal``) --------------------------------------------

    def journal(self, create: bool = False) -> Journal | None:
        """This process's user's journal in the store; None while it has none (unless ``create``).
        ``StoreError`` when it can't be opened or made."""
        with self._journal_lock:
            if self._journal is None:
                path = journal_path(self.store_dir, create=create)
                if not create and not os.path.exists(path):
                    return None
                # (its tables made if missing: another process of the user may have just made the file)
                self._journal = Journal(path, create=True)
            return self._journal

    def readable_journals(self) -> list[Journal]:
        """The journals of this store this process may read: its user's own (everyone's, for root)."""
        own = self.journal()
        found = [] if own is None else [own]
        for path in readable_journal_paths(self.store_dir):
            if own is None or path.resolve() != own.path.resolve():
                try:
                    found.append(Journal(path, create=False))
                except StoreError as exc:
                    log.info("a journal of the store can't be read: %s", exc)
        return found

    def readable_totals(self) -> list[tuple]:
        """``Journal.totals`` of every journal ``readable_journals`` gives; the others' are closed after
        (root's report opens every member's)."""
        own = self.journal()
        found: list[tuple] = []
        for journal in self.readable_journals():
            try:
                found.extend(journal.totals())
            finally:
                if journal is not own:
                    journal.close_all()
        return found

    # -- settings ----------------------------------------------------------------------------

    @guarded
    def budget(self) -> int:
        """The store's budget in bytes (0, nothing kept, while it is unset or unreadable)."""
        row = self._db().execute("SELECT value FROM meta WHERE key='budget'").fetchone()
        try:
            return rows.count_text(row[0]) if row else 0
        except BadRow:
            log.info("the store's budget %r is malformed: nothing is kept until collab-reuse gc resets it", row[0])
            return 0

    @guarded
    def version(self) -> tuple:
        """Equal to an earlier answer only if nothing was committed to the database in between: by
        another connection (SQLite's ``data_version``) or by this thread's own (``total_changes``)."""
        db = self._db()
        return db, db.execute("PRAGMA data_version").fetchone()[0], db.total_changes

    @guarded
    def set_budget(self, nbytes: int) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES('budget', ?)", (str(rows.count(int(nbytes))),))

    @guarded
    def quota(self) -> str:
        """Each writer's quota inside the budget (``config.parse_quota``): "fair" (the budget shared
        evenly by the writers whose artifacts compete), a share ("40%") or a size; "fair" while unset
        or malformed."""
        row = self._db().execute("SELECT value FROM meta WHERE key='quota'").fetchone()
        return row[0] if row and type(row[0]) is str and len(row[0]) <= 32 else "fair"

    @guarded
    def set_quota(self, text: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES('quota', ?)", (text,))

    @guarded
    def authors_of(self, artifact_ids: Iterable[str]) -> dict[str, str]:
        """The writer of each of these artifacts that ``authors`` names (statistics a member can write:
        at worst it moves which of two members' results a quota counts)."""
        found: dict[str, str] = {}
        ids = list(artifact_ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            for aid, user in self._db().execute(
                    f"SELECT artifact_id, user FROM authors WHERE artifact_id IN ({','.join('?' * len(chunk))})",
                    chunk).fetchall():
                if type(aid) is str and type(user) is str:
                    found[aid] = user
        return found

    # -- lookups on the hot path -------------------------------------------------------------

    @guarded
    def artifact(self, artifact_id: str) -> ArtifactInfo | None:
        row = self._db().execute(f"SELECT {ArtifactInfo.COLUMNS} FROM artifacts WHERE id=?", (artifact_id,)).fetchone()
        return None if row is None else _checked(row)

    @guarded
    def is_random(self, op_id: str) -> bool:
        return self._db().execute("SELECT 1 FROM random_ops WHERE op_id=?", (op_id,)).fetchone() is not None

    @guarded
    def random_ops(self) -> set[str]:
        return {k for (k,) in self._db().execute("SELECT op_id FROM random_ops") if type(k) is str}

    @guarded
    def random_ops_since(self, mark: tuple[int, str] | None) -> tuple[set[str], tuple[int, str] | None]:
        """Operations recorded as drawing from the RNG after ``mark`` (the newest row read before: its
        rowid and id; None: all of them) and the new mark, so that a kernel reads each row once, not the
        table every cell. A row added later has a larger rowid than every row there was; if the marked
        row is gone or another (the newest rows were deleted, by ``clear`` or ``repair``, and their
        rowids given again), all of them are read again."""
        db = self._db()
        db.execute("BEGIN")
        try:
            if mark is not None:
                row = db.execute("SELECT op_id FROM random_ops WHERE rowid=?", (mark[0],)).fetchone()
                if row is None or row[0] != mark[1]:
                    mark = None
            found = db.execute("SELECT rowid, op_id FROM random_ops WHERE rowid>? ORDER BY rowid",
                               (-1 if mark is None else mark[0],)).fetchall()
        finally:
            db.execute("COMMIT")
        ops = {k for _, k in found if type(k) is str}
        if found and type(found[-1][1]) is str:
            mark = (found[-1][0], found[-1][1])
        elif found:
            mark = None  # a malformed newest row: read everything again next time (repair removes it)
        return ops, mark

    @guarded
    def file_digest(self, stat_key: str) -> str | None:
        row = self._db().execute("SELECT digest FROM files WHERE stat_key=?", (stat_key,)).fetchone()
        return row[0] if row and type(row[0]) is str and row[0] else None

    @guarded
    def remember_file(self, stat_key: str, digest: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO files VALUES(?, ?)", (stat_key, digest))

    @guarded
    def load_throughput(self, unrecorded: Mapping[str, float] | None = None) -> tuple[float, float]:
        """(seconds per byte, fixed seconds per load) measured from this store's loads, and from
        ``unrecorded`` ones (``load_counters`` a kernel measured but has not written yet).

        Large loads (>= 1 MB) measure the throughput, small ones the fixed cost; mixing them would
        let many tiny loads (each mostly fixed cost) make every large artifact look slow to load."""
        found = self._db().execute("SELECT name, value FROM counters WHERE name IN "
                                   "('load_bytes', 'load_seconds', 'loads', 'small_loads', 'small_load_seconds')"
                                   ).fetchall()
        counters: dict[str, float] = {}
        for name, value in found:
            try:
                counters[name] = rows.seconds(value)
            except BadRow:
                log.info("counter %s of the Experiment Graph is malformed (%r): ignored", name, value)
        for name, amount in (unrecorded or {}).items():
            counters[name] = counters.get(name, 0) + amount
        nbytes, seconds, loads = counters.get("load_bytes", 0), counters.get("load_seconds", 0), counters.get("loads", 0)
        small, small_seconds = counters.get("small_loads", 0), counters.get("small_load_seconds", 0)
        fixed = min(small_seconds / small, 0.05) if small >= 3 else 0.002
        if loads < 3 or nbytes <= 0:
            return 1 / 300e6, fixed  # until measured: a modest disk
        return max(seconds - fixed * loads, 0) / nbytes or 1 / 3e9, fixed

    # -- a cell's batch of updates -----------------------------------------------------------

    @guarded
    def record_cell(self, updates: Iterable[VertexUpdate], user: str, report: dict | None,
                    random_ops: Iterable[str] = (), unstorable: dict[str, str] | None = None,
                    quiet_ops: Iterable[tuple[str, str, float]] = (),
                    forests: Iterable[tuple[str, int, str]] = (),
                    places: Iterable[PlaceRun] = (),
                    reuse: Iterable[tuple[str, int, float]] = (), notebook: str | None = None) -> int | None:
        """Add/refresh vertices, bump frequencies and usage, add what the cell's loads saved ``user`` by
        writer (``reuse``: (writer, loads, seconds saved), ``attribution``), in one transaction; then,
        in the user's journal, remember the runs at each place and append the cell's report (its seq), of
        ``notebook``."""
        now = time.time()
        with self.transaction() as db:
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
                           [tuple(q) for q in quiet_ops])
            db.executemany("INSERT OR REPLACE INTO forests VALUES(?,?,?)", [tuple(f) for f in forests])
            for aid, why in (unstorable or {}).items():
                db.execute("UPDATE artifacts SET storable=0, note=? WHERE id=?", (why, aid))
            attribution.record(db, user, list(reuse))
            if report is not None:
                totals = report.get("totals", {})
                self._bump(db, "hits", totals.get("reused", 0))
                self._bump(db, "misses", totals.get("computed", 0))
                self._bump(db, "saved_seconds", totals.get("saved_seconds", 0.0))
        places = list(places)
        if report is None and not places:
            return None
        journal = self.journal(create=True)
        assert journal is not None
        return journal.record(user, report, places, notebook)

    # -- the user's own history, in their journal (``journal``) --------------------------------

    def place_runs(self, places: list[str]) -> dict[str, PlaceRun]:
        """The last run at each of ``places`` (a malformed row reads as absent)."""
        journal = self.journal()
        return {} if journal is None else journal.place_runs(places)

    def runs_of(self, op_ids: Iterable[str], user: str) -> dict[str, PlaceRun]:
        """The latest run of each operation id by ``user`` (only their own places: another user's
        parameters and paths are theirs, and in their own journal)."""
        journal = self.journal()
        return {} if journal is None else journal.runs_of(op_ids, user)

    def add_bytes_written(self, seq: int, by_id: dict[str, int]) -> None:
        """Fill in what the store wrote for a cell's steps (known only after the cell's report)."""
        journal = self.journal()
        if journal is not None:
            journal.add_bytes_written(seq, by_id)

    def events(self, kernel_id: str | None = None, since: int = 0, limit: int = 500,
               user: str | None = None) -> list[dict[str, Any]]:
        """This process's user's cell reports after ``since``, oldest first: of one kernel, of one
        user's kernels, or both (``Journal.events``)."""
        journal = self.journal()
        return [] if journal is None else journal.events(kernel_id, since, limit, user)

    @guarded
    def history(self, artifact_id: str) -> tuple[ArtifactInfo, str | None, float | None] | None:
        """An artifact seen before: its vertex, the note on why it can't be stored, when it was evicted."""
        db = self._db()
        row = db.execute(f"SELECT {ArtifactInfo.COLUMNS}, note FROM artifacts WHERE id=?", (artifact_id,)).fetchone()
        info = None if row is None else _checked(row[:-1])
        if info is None:
            return None
        note = row[-1] if type(row[-1]) is str else None
        when = db.execute("SELECT time FROM evictions WHERE artifact_id=?", (artifact_id,)).fetchone()
        evicted = when[0] if when is not None and rows.valid(rows.seconds, when[0]) else None
        return info, note, evicted

    @guarded
    def record_decisions(self, decisions: dict[str, dict]) -> None:
        """Remember why the materializer did not keep these artifacts (evicted or declined): per id, a
        small dict (``outcome``, the budget, the writer's quota, what it kept, what it would have saved)."""
        if not decisions:
            return
        now = time.time()
        with self.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO decisions VALUES(?, ?, ?)",
                           [(aid, now, json.dumps(detail)) for aid, detail in decisions.items()])

    @guarded
    def decision(self, artifact_id: str) -> dict | None:
        """The materializer's last decision not to keep this artifact (with its ``time``), or None."""
        row = self._db().execute("SELECT time, detail FROM decisions WHERE artifact_id=?", (artifact_id,)).fetchone()
        if row is None or not rows.valid(rows.seconds, row[0]) or type(row[1]) is not str:
            return None
        try:
            detail = json.loads(row[1])
        except ValueError:
            return None
        return {**detail, "time": row[0]} if isinstance(detail, dict) else None

    @guarded
    def remember_size(self, artifact_id: str, nbytes: int) -> None:
        with self.transaction() as db:
            db.execute("UPDATE artifacts SET size=? WHERE id=? AND state=?", (int(nbytes), artifact_id, NOT_STORED))

    @guarded
    def record_load(self, nbytes: int, seconds: float) -> None:
        with self.transaction() as db:
            for name, amount in load_counters(nbytes, seconds).items():
                self._bump(db, name, amount)

    @guarded
    def record_quality(self, artifact_id: str, quality: float) -> None:
        with self.transaction() as db:
            db.execute("UPDATE artifacts SET quality=MAX(COALESCE(quality, 0), ?) WHERE id=?", (quality, artifact_id))

    @staticmethod
    def _bump(db: sqlite3.Connection, name: str, amount: float) -> None:
        db.execute("INSERT INTO counters VALUES(?, ?) ON CONFLICT(name) DO UPDATE SET value=value+?",
                   (name, amount, amount))

    # -- materialization bookkeeping ---------------------------------------------------------

    @guarded
    def begin_write(self, artifact_id: str, blob_sizes: dict[str, int]) -> bool:
        """Claim the blobs before writing them, so a concurrent eviction won't delete them; the claim
        names this process, so that one that dies mid-write is found and undone (``repair``). False,
        with nothing claimed, when there is nothing to write: the artifact is stored, or another live
        writer has it claimed (two writers of one namespace would delete each other's files: the
        second's failure undoes the claim the first finishes with)."""
        with self.transaction() as db:
            row = db.execute("SELECT a.state, w.host, w.pid, w.started FROM artifacts a LEFT JOIN writes w"
                             " ON w.artifact_id=a.id WHERE a.id=?", (artifact_id,)).fetchone()
            if row is not None and (row[0] == MATERIALIZED or (
                    row[0] == WRITING and not claims.mine(row[1], row[2])
                    and not claims.abandoned(row[1], row[2], row[3], time.time()))):
                return False
            db.execute("UPDATE artifacts SET state=? WHERE id=?", (WRITING, artifact_id))
            db.executemany("INSERT OR IGNORE INTO artifact_blobs VALUES(?, ?)",
                           [(artifact_id, k) for k in blob_sizes])
            db.execute("INSERT OR REPLACE INTO writes VALUES(?, ?, ?, ?)", (artifact_id, claims.HOST, os.getpid(), time.time()))
        return True

    @guarded
    def finish_write(self, artifact_id: str, blob_sizes: dict[str, int], writer: str | None = None,
                     confidential_to: int | None = None) -> bool:
        """Mark a written artifact stored; ``writer``: the account whose kernel wrote it (``authors``);
        ``confidential_to``: the uid of the only user who may read it. False, with nothing changed, when
        this process's claim is gone (``clear``, a repair): its blobs may have been deleted meanwhile."""
        with self.transaction() as db:
            claim = db.execute("SELECT host, pid FROM writes WHERE artifact_id=?", (artifact_id,)).fetchone()
            if claim is None or not claims.mine(*claim):
                return False
            if confidential_to is not None:
                db.execute("INSERT OR REPLACE INTO confidential VALUES(?, ?)", (artifact_id, confidential_to))
            db.executemany("INSERT OR IGNORE INTO blobs VALUES(?, ?)", list(blob_sizes.items()))
            # (every key it wrote is the artifact's: what begin_write claimed, and any it didn't)
            db.executemany("INSERT OR IGNORE INTO artifact_blobs VALUES(?, ?)", [(artifact_id, k) for k in blob_sizes])
            db.execute("UPDATE artifacts SET state=?, size=? WHERE id=?",
                       (MATERIALIZED, sum(blob_sizes.values()), artifact_id))
            db.execute("INSERT INTO stored_log(artifact_id) VALUES(?)", (artifact_id,))
            db.execute("DELETE FROM writes WHERE artifact_id=?", (artifact_id,))
            db.execute("DELETE FROM evictions WHERE artifact_id=?", (artifact_id,))
            db.execute("DELETE FROM decisions WHERE artifact_id=?", (artifact_id,))
            if writer:
                db.execute("INSERT OR REPLACE INTO authors VALUES(?, ?, ?)", (artifact_id, writer, time.time()))
        return True

    @guarded
    def delete_unclaimed(self, keys: Iterable[str], delete: Callable[[str], Any]) -> list[str]:
        """Delete (``delete``: the blob store's) the blobs of ``keys`` that no artifact claims, holding
        the graph's write lock, and return them. A key unclaimed a moment ago (an eviction, an undone
        write) may have been claimed since by a writer that found its file there and kept it: deleted
        outside the lock, it would leave that writer's artifact stored without it. A writer claims
        before it writes (``begin_write``), so one that claims after this writes the file anew."""
        keys = list(dict.fromkeys(keys))
        if not keys:
            return []
        with self.transaction() as db:
            gone = [k for k in keys if _unused(db, k)]
            for key in gone:
                delete(key)
        return gone

    @guarded
    def abort_write(self, artifact_id: str) -> list[str]:
        """A write that failed (full disk, a deleted store): back to not stored; returns the blob keys
        no other artifact uses, for the caller to delete (they are outside the budget otherwise). Only
        this process's own claim is undone."""
        with self.transaction() as db:
            claim = db.execute("SELECT host, pid FROM writes WHERE artifact_id=?", (artifact_id,)).fetchone()
            if claim is not None and not claims.mine(*claim):
                return []
            db.execute("DELETE FROM writes WHERE artifact_id=?", (artifact_id,))
            if db.execute("SELECT 1 FROM artifacts WHERE id=? AND state=?", (artifact_id, WRITING)).fetchone() is None:
                return []
            return self.unclaim(db, [artifact_id])

    @guarded
    def stored_since(self, seq: int, reader: int | None = None) -> tuple[set[str], int]:
        """Artifacts written to the store after ``seq`` (evicted ones included) and the newest seq;
        for a ``reader`` uid, less those confidential to another user.

        Kernels keep this set in memory, so a lookup of an id never stored costs no query."""
        found = [(n, aid, uid) for n, aid, uid in self._db().execute(
            "SELECT s.seq, s.artifact_id, c.uid FROM stored_log s LEFT JOIN confidential c "
            "ON c.artifact_id=s.artifact_id WHERE s.seq>?", (seq,)).fetchall()
            if type(n) is int and type(aid) is str]
        return ({aid for _, aid, uid in found if reader is None or uid is None or uid == reader},
                max((n for n, _, _ in found), default=seq))

    @guarded
    def confidential_to_another(self, artifact_id: str, reader: int) -> bool:
        """Is this artifact stored in another user's confidential namespace (unreadable here, not lost)?"""
        row = self._db().execute("SELECT uid FROM confidential WHERE artifact_id=?", (artifact_id,)).fetchone()
        return row is not None and row[0] != reader

    @guarded
    def forests(self, key: str) -> list[tuple[int, str]]:
        """(tree count, artifact id) of the forests fitted under a warm-start key."""
        return [(n, aid) for n, aid in self._db().execute(
            "SELECT n_estimators, artifact_id FROM forests WHERE key=?", (key,)).fetchall()
            if type(n) is int and n > 0 and type(aid) is str]

    @guarded
    def quiet_since(self, seq: int) -> tuple[dict[str, tuple[str, float]], int]:
        """Operations recorded as quiet after ``seq`` (id -> (result class, seconds)) and the newest seq."""
        quiet: dict[str, tuple[str, float]] = {}
        newest = seq
        for n, op_id, value_type, seconds in self._db().execute(
                "SELECT seq, op_id, value_type, seconds FROM quiet_ops WHERE seq>?", (seq,)).fetchall():
            if type(n) is int:
                newest = max(newest, n)
            try:
                quiet[rows.text(op_id)] = (rows.text(value_type), rows.seconds(seconds))
            except BadRow:
                continue
        return quiet, newest

    @guarded
    def unmaterialize(self, artifact_ids: Iterable[str], evicted: bool = False) -> list[str]:
        """Mark artifacts not stored; return the blob keys no other artifact still uses. ``evicted``:
        the budget's decision, remembered (a later recomputation says so)."""
        ids = list(artifact_ids)
        if not ids:
            return []
        with self.transaction() as db:
            if evicted:
                now = time.time()
                db.executemany("INSERT OR REPLACE INTO evictions VALUES(?, ?)", [(aid, now) for aid in ids])
            return self.unclaim(db, ids)

    @staticmethod
    def unclaim(db: sqlite3.Connection, ids: list[str]) -> list[str]:
        """(Inside a transaction) mark artifacts not stored, drop their claims; the blob keys no
        other artifact uses, which leave the byte account."""
        keys: set[str] = set()
        for aid in ids:
            keys.update(k for (k,) in db.execute("SELECT key FROM artifact_blobs WHERE artifact_id=?", (aid,)))
            db.execute("DELETE FROM artifact_blobs WHERE artifact_id=?", (aid,))
            db.execute("UPDATE artifacts SET state=? WHERE id=?", (NOT_STORED, aid))
            db.execute("DELETE FROM writes WHERE artifact_id=?", (aid,))
            db.execute("DELETE FROM confidential WHERE artifact_id=?", (aid,))
        orphans = [k for k in keys if _unused(db, k)]
        db.executemany("DELETE FROM blobs WHERE key=?", [(k,) for k in orphans])
        return orphans

    @guarded
    def used_bytes(self) -> int:
        total = self._db().execute(
            "SELECT COALESCE(SUM(size), 0) FROM blobs WHERE typeof(size)='integer' AND size >= 0").fetchone()[0]
        return int(total)

    @guarded
    def stored_blob_keys(self) -> set[str]:
        return {k for (k,) in self._db().execute("SELECT key FROM artifact_blobs")}

    @guarded
    def materialized_ids(self) -> set[str]:
        return {k for (k,) in self._db().execute("SELECT id FROM artifacts WHERE state=?", (MATERIALIZED,))}

    @guarded
    def blob_sizes_of(self, artifact_id: str) -> dict[str, int] | None:
        """Sizes of an artifact's blobs; None when one is malformed (the artifact then counts as absent)."""
        sizes = {}
        for key, size in self._db().execute(
                "SELECT b.key, b.size FROM artifact_blobs a JOIN blobs b ON a.key=b.key WHERE a.artifact_id=?",
                (artifact_id,)).fetchall():
            try:
                sizes[rows.text(key)] = rows.count(size)
            except BadRow:
                return None
        return sizes

    @guarded
    def materialization_inputs(self, offered: Iterable[str]) -> "MaterializationInputs":
        """What ``kernel/store_writes.materialize`` weighs, from one snapshot of the graph, read without a
        pass over it (``costs``): the stored artifacts, the offered ones the graph knows and doesn't
        store, the recreation costs and model potentials (clipped into [0, 1], as the utility counts them)
        of them all, and the stored ones' blob sizes. The costs of the targets of earlier passes are kept
        (``costs.Memo``) and brought up to date from what changed since; only the others are searched."""
        db = self._db()
        with self._memo.lock:
            db.execute("BEGIN")
            try:
                reader = costs.Reader(db, self._wide, _checked, ArtifactInfo.COLUMNS)
                stored = reader.stored()
                known = reader.infos(list(dict.fromkeys(offered)))
                fresh = {aid: info for aid, info in known.items() if info is not None and info.state != MATERIALIZED}
                targets = [a.id for a in stored] + list(fresh)
                self._memo.sync(reader)
                if not targets:
                    return MaterializationInputs([], {}, {}, {}, {})
                found = MaterializationInputs(stored, fresh, self._memo.recreation_costs(reader, targets),
                                              self._memo.potentials(reader, targets),
                                              reader.blob_sizes([a.id for a in stored]))
            except BaseException:
                self._memo.mark = None  # (a pass cut short may have applied part of the changes)
                raise
            finally:
                db.execute("COMMIT")
            write = self._memo.to_save([a.id for a in stored])
            if write:
                self._save_potentials(db, write)
        return found

    def _save_potentials(self, db: sqlite3.Connection, write: list[tuple[str, float, int]]) -> None:
        """Save the stored artifacts' potentials for the next kernel's first pass (``costs.Memo.load``),
        unless another connection holds the write lock for more than a moment (they are only saved work)."""
        db.execute("PRAGMA busy_timeout=100")
        try:
            with self.transaction() as tx:
                self._memo.save(tx, write)
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            log.info("the materializer's potentials were not saved: %s", exc)
        finally:
            db.execute(f"PRAGMA busy_timeout={int(getattr(self._local, 'busy', BUSY_SECONDS) * 1000)}")

    @guarded
    def all_artifacts(self) -> list[ArtifactInfo]:
        found = (_checked(r) for r in self._db().execute(f"SELECT {ArtifactInfo.COLUMNS} FROM artifacts").fetchall())
        return [a for a in found if a is not None]

    @guarded
    def clear(self) -> None:
        with self.transaction() as db:
            for table in ("artifacts", "artifact_blobs", "blobs", "usage", "random_ops", "counters",
                          "stored_log", "quiet_ops", "forests", "writes", "evictions", "decisions", "authors", "reuse",
                          "confidential", "artifact_changes", "potentials"):
                db.execute(f"DELETE FROM {table}")
        journal = self.journal()
        if journal is not None:
            journal.clear()

    # -- queries for the panel, the magics and the CLI ---------------------------------------

    @guarded
    def summary(self, top: int = 10) -> dict[str, Any]:
        """The store at a glance (the panel's ``IStoreSummary``); ``per_user``: who saved time by whose
        artifacts and what each stored (``attribution.UserFigures``)."""
        db = self._db()
        counters = {}
        for name, value in db.execute("SELECT name, value FROM counters").fetchall():
            if rows.valid(rows.seconds, value):
                counters[name] = value
        hits, misses = int(counters.get("hits", 0)), int(counters.get("misses", 0))
        # (two counts by the state index, not a pass over every row)
        total = db.execute("SELECT COUNT(*) FROM artifacts").fetchone()[0]
        materialized = db.execute("SELECT COUNT(*) FROM artifacts WHERE state=?", (MATERIALIZED,)).fetchone()[0]
        # the distinct users by the usage_user index, one step per user (not a pass over every usage row)
        users = [u for (u,) in db.execute(
            "WITH RECURSIVE u(name) AS (SELECT MIN(user) FROM usage UNION ALL"
            " SELECT (SELECT MIN(user) FROM usage WHERE user > u.name) FROM u WHERE u.name IS NOT NULL)"
            " SELECT name FROM u WHERE name IS NOT NULL") if type(u) is str]
        top_rows = db.execute(f"SELECT {_ITEM_COLUMNS} FROM artifacts WHERE state=?"
                              " ORDER BY compute_seconds*frequency DESC LIMIT ?", (MATERIALIZED, top)).fetchall()
        return {"store_dir": str(self.store_dir), "used_bytes": self.used_bytes(), "budget_bytes": self.budget(),
                "artifacts": int(total), "materialized": int(materialized), "hits": hits, "misses": misses,
                "hit_rate": hits / (hits + misses) if hits + misses else 0.0,
                "saved_seconds": float(counters.get("saved_seconds", 0.0)), "users": users,
                "top_artifacts": [item for r in top_rows if (item := self._item(db, r)) is not None],
                "per_user": attribution.as_json(self.per_user())}

    @guarded
    def per_user(self) -> list[attribution.UserFigures]:
        """Who saved time by whose artifacts, and what each stored (``attribution``)."""
        return attribution.per_user(self._db(), MATERIALIZED)

    @guarded
    def artifacts(self, offset: int = 0, limit: int = 100) -> dict[str, Any]:
        db = self._db()
        total = db.execute("SELECT COUNT(*) FROM artifacts").fetchone()[0]
        found = db.execute(f"SELECT {_ITEM_COLUMNS} FROM artifacts ORDER BY state DESC, compute_seconds*frequency DESC"
                           " LIMIT ? OFFSET ?", (int(limit), int(offset))).fetchall()
        return {"total": int(total), "items": [item for r in found if (item := self._item(db, r)) is not None]}

    @staticmethod
    def _item(db: sqlite3.Connection, row: tuple) -> dict[str, Any] | None:
        aid, op, kind, size, freq, secs, state, quality, last_used = row
        try:
            item = {"id": rows.text(aid), "op": rows.text(op), "kind": rows.text(kind), "size": rows.count(size),
                    "frequency": rows.count(freq), "compute_seconds": rows.seconds(secs),
                    "materialized": rows.state(state) == MATERIALIZED, "quality": rows.score(quality),
                    "last_used": rows.optional_seconds(last_used)}
        except BadRow:
            return None
        item["users"] = [u for (u,) in db.execute("SELECT user FROM usage WHERE artifact_id=? ORDER BY count DESC",
                                                  (aid,)) if type(u) is str]
        return item

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


def _unused(db: sqlite3.Connection, key: str) -> bool:
    """No artifact claims the blob ``key``."""
    return db.execute("SELECT 1 FROM artifact_blobs WHERE key=? LIMIT 1", (key,)).fetchone() is None
