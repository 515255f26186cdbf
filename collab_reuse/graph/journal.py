"""A user's journal: their cell reports, and the last run of each operation at each of their places.

Cell reports (what the panel lists per cell) and call summaries (what the next run at a place is
compared with, to say why a step was recomputed: ``planner/why.py``) carry a user's code, their
parameters and the paths of the files they read. So they are not in the Experiment Graph, which
every member of a team store can read, but in a file of their own:

* in a team store, ``journals/<uid>/journal.sqlite``, in a directory of the user's own (``0700``,
  made and checked by ``team.journal_dir``): no other member can open it;
* in a store of one user, ``journal.sqlite`` beside the graph.

What a team shares is the graph: artifact ids, operation names, sizes, costs, who stored and
who used what, the time saved. Every value read back is checked (``rows``): a malformed row reads
as absent and ``remove_malformed`` deletes it. Growth is bounded by age and count, as reports are
written.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from .. import team as teams
from ..errors import StoreError
from . import rows
from .rows import BadRow
from .sqlite_file import SQLiteFile, guarded

log = logging.getLogger("collab_reuse")

JOURNAL_FILE = "journal.sqlite"
PLACE_SEP = "\x1f"             # between a place's parts: user, cell, operation, occurrence
PLACES_MAX_ROWS = 50_000       # runs remembered by place (about 1 KB each), the oldest go first
EVENTS_MAX_AGE = 30 * 86400.0  # cell reports older than this are dropped ...
EVENTS_MAX_ROWS = 20_000       # ... and all but the newest this many (about 2 KB each)
PRUNE_EVENTS_EVERY = 100       # checked every this many reports
_PLACE_COLUMNS = "place, op_id, op, cell, summary, why"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events(seq INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, kernel_id TEXT,
  user TEXT, cell_id TEXT, execution_count INTEGER, report TEXT NOT NULL, notebook TEXT);
CREATE INDEX IF NOT EXISTS events_kernel ON events(kernel_id, seq);
CREATE INDEX IF NOT EXISTS events_time ON events(time);
-- the last run of each operation at each place (a cell, the operation's label, its occurrence in the
-- cell): a bounded summary of the call and why it computed
CREATE TABLE IF NOT EXISTS places(place TEXT PRIMARY KEY, op_id TEXT NOT NULL, op TEXT NOT NULL, cell INTEGER,
  summary TEXT NOT NULL, why TEXT, time REAL NOT NULL);
CREATE INDEX IF NOT EXISTS places_op ON places(op_id);
"""

#: rows whose values can't be used (``remove_malformed``); the checks run in SQLite, not in Python
_MALFORMED = (
    "DELETE FROM places WHERE typeof(place)<>'text' OR typeof(op_id)<>'text' OR typeof(op)<>'text'"
    " OR typeof(summary)<>'text' OR NOT json_valid(summary) OR json_type(summary)<>'object'"
    " OR (why IS NOT NULL AND NOT json_valid(why))",
    "DELETE FROM events WHERE typeof(report)<>'text' OR NOT json_valid(report) OR json_type(report)<>'object'",
)


@dataclass
class PlaceRun:
    """The last run of an operation at a place (``places``): what the next run there compares with."""

    place: str
    op_id: str
    op: str
    cell: int | None
    summary: dict
    why: list[dict] | None = None

    @classmethod
    def from_row(cls, row: tuple) -> "PlaceRun":
        place, op_id, op, cell, summary, why = row
        return cls(rows.text(place), rows.text(op_id), rows.text(op), rows.optional_count(cell),
                   rows.json_object(summary), rows.reasons(why))


def _checked_place(row: tuple) -> PlaceRun | None:
    return rows.parsed(PlaceRun.from_row, row, "place row of the journal")


def journal_path(store_dir: str | os.PathLike, create: bool = False, uid: int | None = None) -> Path:
    """Where ``uid``'s (default: this process's user's) journal is in a store; with ``create``, in
    a team store, the directory it goes in is made (``StoreError`` if one is there that is not the
    user's own)."""
    store_dir = Path(store_dir)
    team = teams.team_of(store_dir)
    if team is None:
        return store_dir / JOURNAL_FILE
    uid = os.geteuid() if uid is None else uid
    if create:
        return teams.journal_dir(store_dir, team, uid) / JOURNAL_FILE
    return store_dir / teams.JOURNALS / str(uid) / JOURNAL_FILE


def readable_journal_paths(store_dir: str | os.PathLike) -> list[Path]:
    """The journals of a store that this process may open: in a team store its user's own (every
    member's, for root); in a store of one user, its journal."""
    store_dir = Path(store_dir)
    if teams.team_of(store_dir) is None:
        candidates = [store_dir / JOURNAL_FILE]
    else:
        try:
            candidates = sorted((store_dir / teams.JOURNALS).glob(f"*/{JOURNAL_FILE}"))
        except OSError:
            candidates = []
    return [p for p in candidates if os.access(p, os.R_OK) and os.access(p.parent, os.X_OK)]


class Journal(SQLiteFile):
    """One user's cell reports and place runs (see the module's docstring)."""

    WHAT = "the journal"

    def __init__(self, path: str | os.PathLike, create: bool = True, busy_seconds: float | None = None):
        """Open (with ``create``: make) a journal file; ``StoreError`` if it can't be."""
        super().__init__(path, busy_seconds)
        try:
            db = self._db(create=create)
            if create:
                db.executescript(_SCHEMA)
            elif db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='events'").fetchone() is None:
                raise sqlite3.OperationalError("no journal in it yet")  # (its user's process is making it)
        except sqlite3.Error as exc:
            self.close()
            raise StoreError(f"can't open the journal at {self.path}: {exc}") from exc

    # -- written at the end of each cell -------------------------------------------------------

    @guarded
    def record(self, user: str, report: dict | None, places: Iterable[PlaceRun] = (),
               notebook: str | None = None) -> int | None:
        """Remember the runs at each place and append the cell's report (its seq, None without one), of
        ``notebook`` (the path the Jupyter server gave the kernel, if any); one transaction. Every ``PRUNE_EVENTS_EVERY`` reports, those beyond the age and count go."""
        now = time.time()
        seq = None
        with self.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO places VALUES(?,?,?,?,?,?,?)",
                           [(p.place, p.op_id, p.op, p.cell, json.dumps(p.summary),
                             None if p.why is None else json.dumps(p.why), now) for p in places])
            if report is not None:
                cur = db.execute("INSERT INTO events(time, kernel_id, user, cell_id, execution_count, report,"
                                 " notebook) VALUES(?,?,?,?,?,?,?)",
                                 (now, report.get("kernel_id"), user, report.get("cell_id"),
                                  report.get("execution_count"), json.dumps(report), notebook))
                seq = cur.lastrowid
                if seq is not None and seq % PRUNE_EVENTS_EVERY == 0:
                    self._prune(db, now)
        return seq

    @guarded
    def add_bytes_written(self, seq: int, by_id: dict[str, int]) -> None:
        """Fill in what the store wrote for a cell's steps (known only after the cell's report)."""
        with self.transaction() as db:
            row = db.execute("SELECT report FROM events WHERE seq=?", (seq,)).fetchone()
            if row is None:
                return
            try:
                report = rows.report(row[0])
            except BadRow:
                return
            steps = [s for s in report.get("steps", []) if isinstance(s, dict)]
            for step in steps:
                if step.get("id") in by_id and step.get("status") == "computed":
                    step["bytes_written"] = by_id.pop(step["id"])
            totals = report.setdefault("totals", {})
            if isinstance(totals, dict):
                totals["bytes_written"] = sum(s.get("bytes_written", 0) for s in steps
                                              if isinstance(s.get("bytes_written", 0), (int, float)))
            db.execute("UPDATE events SET report=? WHERE seq=?", (json.dumps(report), seq))

    # -- upkeep --------------------------------------------------------------------------------

    @guarded
    def prune(self, now: float | None = None) -> int:
        """Drop the reports (and place runs) beyond their age and count; how many reports went."""
        with self.transaction() as db:
            return self._prune(db, time.time() if now is None else now)

    @staticmethod
    def _prune(db: sqlite3.Connection, now: float) -> int:
        cur = db.execute("DELETE FROM events WHERE time < ? OR seq <= (SELECT MAX(seq) FROM events) - ?",
                         (now - EVENTS_MAX_AGE, EVENTS_MAX_ROWS))
        db.execute("DELETE FROM places WHERE time < ? OR rowid <= (SELECT MAX(rowid) FROM places) - ?",
                   (now - EVENTS_MAX_AGE, PLACES_MAX_ROWS))
        return cur.rowcount

    @guarded
    def remove_malformed(self) -> int:
        with self.transaction() as db:
            return sum(db.execute(sql).rowcount for sql in _MALFORMED)

    @guarded
    def clear(self) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM events")
            db.execute("DELETE FROM places")

    # -- what a recomputation is compared with (planner/why.py) --------------------------------

    @guarded
    def place_runs(self, places: list[str]) -> dict[str, PlaceRun]:
        """The last run at each of ``places`` (a malformed row reads as absent)."""
        found: dict[str, PlaceRun] = {}
        db = self._db()
        for place in dict.fromkeys(places):
            row = db.execute(f"SELECT {_PLACE_COLUMNS} FROM places WHERE place=?", (place,)).fetchone()
            run = _checked_place(row) if row is not None else None
            if run is not None:
                found[place] = run
        return found

    @guarded
    def runs_of(self, op_ids: Iterable[str], user: str) -> dict[str, PlaceRun]:
        """The latest run of each operation id at ``user``'s places."""
        found: dict[str, PlaceRun] = {}
        db = self._db()
        for op_id in dict.fromkeys(op_ids):
            row = db.execute(f"SELECT {_PLACE_COLUMNS} FROM places WHERE op_id=? AND substr(place, 1, ?)=?"
                             " ORDER BY time DESC LIMIT 1", (op_id, len(user) + 1, user + PLACE_SEP)).fetchone()
            run = _checked_place(row) if row is not None else None
            if run is not None:
                found[op_id] = run
        return found

    # -- for the panel, the report and the demo -------------------------------------------------

    @guarded
    def events(self, kernel_id: str | None = None, since: int = 0, limit: int = 500,
               user: str | None = None) -> list[dict[str, Any]]:
        """Cell reports after ``since``, oldest first: of one kernel, of one user's kernels, or both."""
        where, params = ["seq>?"], [int(since)]
        if kernel_id:
            where.append("kernel_id=?")
            params.append(kernel_id)
        if user is not None:
            where.append("user=?")
            params.append(user)
        found = self._db().execute(f"SELECT seq, time, report FROM events WHERE {' AND '.join(where)}"
                                   " ORDER BY seq LIMIT ?", (*params, int(limit))).fetchall()
        out = []
        for seq, when, report in found:
            try:
                item = rows.report(report)
            except BadRow:
                continue  # a malformed report is skipped (gc removes it)
            item["seq"], item["time"] = seq, when
            out.append(item)
        return out

    @guarded
    def totals(self) -> list[tuple[float, str, str, str, dict]]:
        """(time, user, kernel id, notebook, the report's totals) of every report, oldest first (the reuse
        report's figures over time); malformed ones left out ("?" for an unknown user or notebook)."""
        out = []
        for when, user, kernel_id, notebook, report in self._db().execute(
                "SELECT time, user, kernel_id, notebook, json_extract(report, '$.totals') FROM events"
                " WHERE json_valid(report) ORDER BY seq"):
            try:
                totals = json.loads(report) if type(report) is str else None
            except ValueError:
                continue
            if rows.valid(rows.seconds, when) and type(totals) is dict:
                out.append((float(when), user if type(user) is str else "?", str(kernel_id),
                            notebook if type(notebook) is str and notebook else "?", totals))
        return out
