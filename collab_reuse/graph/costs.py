"""What the materializer needs from the Experiment Graph, read without a pass over it.

After a cell, ``kernel/store_writes.materialize`` weighs the stored artifacts (the budget bounds them)
and the cell's offered ones. For each it needs the rows themselves, its recreation cost (its own and
every ancestor's compute time: ``planner.materialize.recreation_costs``) and its model potential
(the best score of a model downstream: ``planner.materialize.model_potential``). Reading the whole
graph for that costs a pass over every vertex per write (0.6 s at 10^5 vertices); here:

* the stored rows come by the ``state`` index, the offered ones by id;
* the recreation costs and potentials of the targets of earlier passes are kept (``Memo``, per process)
  and brought up to date from ``artifact_changes`` (what changed since, written by triggers): a cell that
  adds unscored vertices and retimes new ones changes none of them; only targets not kept are computed
  (a kernel's first pass takes the potentials a pass saved, ``potentials``, and computes the rest);
* a recreation cost, as the exact sum (``math.fsum``) of the compute seconds of the target and each of its
  ancestors (by the inputs on each row, read level by level, kept in the memo), the same in any order;
* the potential of a target, exactly as ``model_potential`` gives it once the utility clips it into
  [0, 1] (``planner.materialize.utility_value``), from whichever of two searches ends first: down its
  descendants (the ``artifacts_input*`` indexes find the rows naming a vertex as an input), which ends
  soon for a target with a small cone, and up from the scored models, best first (the
  ``artifacts_quality`` index), which reaches a target under many models after a few of them: every
  vertex the upward search reaches first from a model scoring q has potential q (each model's walk
  stops at what a better one reached, whose ancestors that one reached too). Both are bounded by
  what the targets reach, not by the graph; the searches alternate with growing budgets.

Rows are checked as ``ExperimentGraph.all_artifacts`` checks them: a malformed row is absent (its id
may still name an input, a vertex without parents, cost or score), so the results are those of a pass
over the whole graph (``tests/planner/test_incremental_costs.py`` compares them, for one pass and for
passes kept between rounds of changes).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

from . import rows
from .rows import BadRow

# The expressions of the input indexes of schema.sql, spelled as there (SQLite uses an index on an
# expression only for the same expression).
FIRST_INPUT = "(CASE WHEN json_valid(inputs) THEN json_extract(inputs, '$[0]') END)"
SECOND_INPUT = "(CASE WHEN json_valid(inputs) THEN json_extract(inputs, '$[1]') END)"
MORE_THAN_ONE = "json_valid(inputs) AND json_array_length(inputs) > 1"
MORE_THAN_TWO = "json_valid(inputs) AND json_array_length(inputs) > 2"
CHUNK = 400  # ids per IN list (SQLite's default limit of variables is 999 before 3.32)
FIRST_BUDGET = 64  # vertices a downward search may visit in the first round; x4 each round


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(items), CHUNK):
        yield items[i:i + CHUNK]


def _marks(n: int) -> str:
    return ",".join("?" * n)


def clip(quality: float | None) -> float:
    """A score as the utility counts it (``utility_value``: clipped into [0, 1]; none is 0)."""
    return 0.0 if quality is None else min(max(quality, 0.0), 1.0)


class WideInputs:
    """Rows with more than two inputs (few), by their third and later inputs: the downward searches'
    children that the two input indexes don't find. Kept per process and brought up to date by rowid:
    a row added later has a larger rowid than every row there was. Whether rows were deleted at the
    end meanwhile (their rowids are given again) is seen from the newest row read, which is then gone
    or another: everything is read again. A row deleted elsewhere stays here harmlessly (each child
    found is read and checked)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_input: dict[str, list[str]] = {}
        self._newest: tuple[int, str] | None = None

    def children(self, ids: Iterable[str]) -> dict[str, list[str]]:
        """The rows naming each of ``ids`` as a third or later input (as of the last ``refresh``)."""
        with self._lock:
            return {i: list(self._by_input[i]) for i in ids if i in self._by_input}

    def forget(self) -> None:
        """Read everything again at the next refresh: a row's inputs or id changed in place (``Memo.sync``
        sees it in ``artifact_changes``), which its rowid doesn't show."""
        with self._lock:
            self._by_input, self._newest = {}, None

    def refresh(self, db: sqlite3.Connection) -> None:
        """Read the rows added since the last refresh (everything, the first time)."""
        with self._lock:
            self._refresh(db)

    def _refresh(self, db: sqlite3.Connection) -> None:
        if self._newest is not None:
            rowid, aid = self._newest
            row = db.execute("SELECT id FROM artifacts WHERE rowid=?", (rowid,)).fetchone()
            if row is None or row[0] != aid:
                self._by_input, self._newest = {}, None
        newest = db.execute("SELECT rowid, id FROM artifacts ORDER BY rowid DESC LIMIT 1").fetchone()
        if newest is None or (self._newest is not None and newest[0] == self._newest[0]):
            return
        if self._newest is None:
            found = db.execute(f"SELECT id, inputs FROM artifacts WHERE {MORE_THAN_TWO} AND rowid<=?",
                               (newest[0],))
        else:
            found = db.execute(f"SELECT id, inputs FROM artifacts WHERE rowid>? AND rowid<=? AND {MORE_THAN_TWO}",
                               (self._newest[0], newest[0]))
        for aid, inputs in found.fetchall():
            try:
                items = rows.id_list(inputs)
                child = rows.text(aid)
            except BadRow:
                continue
            for parent in dict.fromkeys(items[2:]):
                self._by_input.setdefault(parent, []).append(child)
        self._newest = (newest[0], newest[1]) if type(newest[1]) is str else None


@dataclass
class Reader:
    """The reads of one materialization, inside one read transaction (one snapshot of the graph)."""

    db: sqlite3.Connection
    wide: WideInputs
    check: Callable[[tuple], Any]  # a row of ``columns`` -> its ArtifactInfo, None when malformed
    columns: str
    found: dict[str, Any] = field(default_factory=dict)  # id -> ArtifactInfo, or None: absent or malformed
    kids: dict[str, list[str]] = field(default_factory=dict)  # id -> the checked rows naming it as an input
    _wide_read: bool = False

    def infos(self, ids: Iterable[str]) -> dict[str, Any]:
        """Checked rows of ``ids`` (None: absent or malformed), read once each."""
        want = [i for i in dict.fromkeys(ids) if i not in self.found]
        for chunk in _chunks(want):
            for row in self.db.execute(f"SELECT {self.columns} FROM artifacts WHERE id IN ({_marks(len(chunk))})",
                                       chunk).fetchall():
                info = self.check(row)
                if info is not None:
                    self.found[info.id] = info
            for i in chunk:
                self.found.setdefault(i, None)
        return {i: self.found.get(i) for i in ids}

    def rowid(self, aid: str) -> int:
        row = self.db.execute("SELECT rowid FROM artifacts WHERE id=?", (aid,)).fetchone()
        return row[0] if row is not None and type(row[0]) is int else 0

    def stored(self) -> list:
        """The materialized artifacts (by the state index), in the table's order."""
        out = []
        for row in self.db.execute(f"SELECT {self.columns} FROM artifacts WHERE state=2 ORDER BY rowid").fetchall():
            info = self.check(row)
            if info is not None and info.state == 2:
                self.found[info.id] = info
                out.append(info)
        return out

    def upward_closure(self, ids: list[str]) -> list[str]:
        """``ids`` and their ancestors by every row's inputs, malformed ones' too (a superset of the
        ancestors by well-formed rows), from one recursive query."""
        found = self.db.execute(
            "WITH RECURSIVE up(id) AS (SELECT value FROM json_each(?)"
            "  UNION SELECT j.value FROM up JOIN artifacts a ON a.id=up.id,"
            "  json_each(CASE WHEN json_valid(a.inputs) THEN a.inputs ELSE '[]' END) j)"
            " SELECT id FROM up", (json.dumps(ids),)).fetchall()
        return [v for (v,) in found if type(v) is str]

    def checked_ancestors(self, aid: str) -> set[str]:
        """``aid`` and its ancestors by the inputs of well-formed rows (read level by level)."""
        reached = {aid}
        frontier = [aid]
        while frontier:
            step = []
            for info in self.infos(frontier).values():
                if info is None:
                    continue
                for p in info.inputs:
                    if p not in reached:
                        reached.add(p)
                        step.append(p)
            frontier = step
        return reached

    def blob_sizes(self, ids: list[str]) -> dict[str, dict[str, int] | None]:
        """``ExperimentGraph.blob_sizes_of`` of many artifacts at once."""
        sizes: dict[str, dict[str, int] | None] = {i: {} for i in ids}
        for chunk in _chunks(ids):
            for aid, key, size in self.db.execute(
                    "SELECT a.artifact_id, b.key, b.size FROM artifact_blobs a JOIN blobs b ON a.key=b.key"
                    f" WHERE a.artifact_id IN ({_marks(len(chunk))})", chunk).fetchall():
                held = sizes.get(aid)
                if held is None:
                    continue
                try:
                    held[rows.text(key)] = rows.count(size)
                except BadRow:
                    sizes[aid] = None
        return sizes

    def children(self, ids: list[str]) -> dict[str, list[str]]:
        """The checked rows naming each of ``ids`` as an input (by the input indexes and ``WideInputs``),
        read once per vertex."""
        want = [i for i in dict.fromkeys(ids) if i not in self.kids]
        if want:
            if not self._wide_read:
                self.wide.refresh(self.db)
                self._wide_read = True
            maybe: list[str] = []
            for chunk in _chunks(want):
                marks = _marks(len(chunk))
                for sql in (f"SELECT {self.columns} FROM artifacts WHERE {FIRST_INPUT} IN ({marks})",
                            f"SELECT {self.columns} FROM artifacts WHERE {SECOND_INPUT} IN ({marks})"
                            f" AND {MORE_THAN_ONE}"):
                    for row in self.db.execute(sql, chunk).fetchall():
                        info = self.found.get(row[0]) if type(row[0]) is str else None
                        if info is None:
                            info = self.check(row)
                        if info is not None:
                            self.found[info.id] = info
                            maybe.append(info.id)
            for children in self.wide.children(want).values():
                maybe.extend(children)
            asked = set(want)
            for i in want:
                self.kids[i] = []
            for child, info in self.infos(list(dict.fromkeys(maybe))).items():
                if info is None:
                    continue
                for parent in dict.fromkeys(info.inputs):
                    if parent in asked:
                        self.kids[parent].append(child)
        return {i: self.kids[i] for i in ids}

    def potentials(self, targets: list[str]) -> dict[str, float]:
        """Each target's model potential, clipped into [0, 1] (see the module's docstring)."""
        targets = list(dict.fromkeys(targets))
        if self.db.execute("SELECT 1 FROM artifacts WHERE quality > 0 LIMIT 1").fetchone() is None:
            return dict.fromkeys(targets, 0.0)  # no positive score anywhere (a malformed one counts as none)
        known: dict[str, float] = {}  # exact potentials found so far, by either search
        # the newest first: a row is added after its inputs, so a target's descendants mostly come before
        # it and end its search (``known``)
        pending = [aid for _, aid in sorted(((self.rowid(t), t) for t in targets), reverse=True)]
        up = _Upward(self, known)
        try:
            return self._potentials(pending, targets, up, known)
        finally:
            up.close()  # (an open statement would hold this snapshot past the pass: a later write of the
            #            connection, after another's commit, would fail at once with "database is locked")

    def _potentials(self, pending: list[str], targets: list[str], up: "_Upward", known: dict[str, float]
                    ) -> dict[str, float]:
        budget = FIRST_BUDGET
        while True:
            pending = [t for t in pending if t not in known and self._down(t, budget, known) is None]
            if not pending:
                break
            up.run(set(pending), budget * len(pending))
            pending = [t for t in pending if t not in known]
            if not pending:
                break
            if up.exhausted:  # every vertex with a positively scored model downstream was reached
                for t in pending:
                    known[t] = 0.0
                break
            budget *= 4
        return {t: known[t] for t in targets}

    def _down(self, target: str, budget: int, known: dict[str, float]) -> float | None:
        """``target``'s potential from its cone (itself included), or None if that holds more than
        ``budget`` vertices whose potential is unknown. Every vertex of a cone searched to its end gets
        its potential (in ``known``); a vertex whose potential is known ends its branch."""
        if target in known:
            return known[target]
        cone = [target]
        seen = {target}
        frontier = [target]
        while frontier:
            if len(cone) > budget:
                return None
            step = []
            for kids in self.children(frontier).values():
                for kid in kids:
                    if kid not in seen and kid not in known:
                        seen.add(kid)
                        cone.append(kid)
                        step.append(kid)
            frontier = step
        # children before parents: a depth-first post-order of the cone
        order: list[str] = []
        done: set[str] = set()
        stack: list[tuple[str, bool]] = [(target, False)]
        while stack:
            v, expanded = stack.pop()
            if expanded:
                order.append(v)
                continue
            if v in done:
                continue
            done.add(v)
            stack.append((v, True))
            stack.extend((k, False) for k in self.kids[v] if k not in done and k not in known)
        for v in order:
            info = self.found.get(v)
            best = clip(info.quality) if info is not None else 0.0
            for k in self.kids[v]:
                best = max(best, known[k])
            known[v] = best
        return known[target]


class _Upward:
    """The upward search: scored models best first, each walking up to what a better one reached; every
    vertex reached gets the score of the model it was reached from, its potential (in ``known``)."""

    def __init__(self, reader: Reader, known: dict[str, float]) -> None:
        self.reader = reader
        self.known = known
        self.reached: set[str] = set()
        self.exhausted = False
        self._models = reader.db.execute(f"SELECT {reader.columns} FROM artifacts WHERE quality > 0"
                                         " ORDER BY quality DESC")

    def close(self) -> None:
        self._models.close()

    def run(self, wanted: set[str], work: int) -> None:
        """Walk until ``work`` vertices are reached, every wanted vertex is, or no model is left."""
        done = 0
        while done < work and not wanted <= self.reached:
            batch = self._models.fetchmany(64)
            if not batch:
                self.exhausted = True
                return
            for row in batch:
                info = self.reader.check(row)
                if info is None or info.quality is None or info.quality <= 0 or info.id in self.reached:
                    continue
                q = clip(info.quality)
                self.reader.found[info.id] = info
                self.reached.add(info.id)
                frontier = [info.id]
                while frontier:
                    done += len(frontier)
                    for v in frontier:
                        self.known.setdefault(v, q)
                    parents = []
                    for v, got in self.reader.infos(frontier).items():
                        if got is None:
                            continue
                        for p in got.inputs:
                            if p not in self.reached:
                                self.reached.add(p)
                                parents.append(p)
                    frontier = parents


# --------------------------------------------------------------------------- the memo kept between passes

MEMO_MAX_ROWS = 100_000  # ancestry rows a memo keeps (id -> inputs, compute seconds) before it starts again
RESAVE_AFTER = 10_000  # changes after which a saved potential is saved again (with a newer mark)
_KNOWN_WHAT = {"i", "d", "o", "q", "c", "qc"}


def exact_sum(values: Iterable[float]) -> float:
    """The correctly rounded sum (``math.fsum``): the same whatever the order, so that a recreation cost
    computed alone, in another pass, equals the one a pass over every target would give."""
    import math

    return math.fsum(values)


def _sequence(db: sqlite3.Connection) -> int:
    """``sqlite_sequence``'s value for ``artifact_changes``: the newest change's, in this snapshot."""
    row = db.execute("SELECT seq FROM sqlite_sequence WHERE name='artifact_changes'").fetchone()
    return row[0] if row is not None and type(row[0]) is int else 0


def _changes(db: sqlite3.Connection, mark: int, now: int) -> list[tuple] | None:
    """The entries after ``mark`` up to ``now``, or None if the first of them is gone (pruned, deleted)."""
    if now == mark:
        return []
    found = db.execute("SELECT seq, artifact_id, what, old_inputs, old_quality, new_quality FROM artifact_changes"
                       " WHERE seq > ? AND seq <= ? ORDER BY seq", (mark, now)).fetchall()
    return found if found and found[0][0] == mark + 1 else None


def _classify(found: list[tuple]) -> tuple[set[str], list[str], set[str], bool]:
    """(ids whose ancestors' potentials may have fallen, ids whose ancestors' potentials may have risen to
    theirs, ids whose descendants' recreation costs may have changed, whether a row was rewired or renamed
    in place)."""
    lowered: set[str] = set()
    raised: list[str] = []
    moved: set[str] = set()
    rewired = False
    for _, aid, what, old_inputs, old_quality, new_quality in found:
        if what not in _KNOWN_WHAT:
            what = "o"
        rewired = rewired or what == "o"
        if type(aid) is not str or not aid:
            continue  # a row whose id is not a text is absent, and no input names it
        if what == "i":
            raised.append(aid)
        elif what in ("q", "qc"):
            try:
                up = clip(rows.score(new_quality)) >= clip(rows.score(old_quality))
            except BadRow:
                up = False
            if up:
                raised.append(aid)
            else:
                lowered.add(aid)
        elif what != "c":
            lowered.add(aid)
            try:
                lowered.update(rows.id_list(old_inputs))
            except BadRow:
                pass  # the old row was malformed: it had no edges
        if what != "q":
            moved.add(aid)
    return lowered, list(dict.fromkeys(raised)), moved, rewired


def _apply(reader: "Reader", potential: dict[str, float], lowered: set[str], raised: list[str]) -> None:
    """Bring ``potential`` (id -> clipped potential) up to date: forget the ancestors of ``lowered``
    (by every row's inputs), raise the ancestors of ``raised`` (by well-formed rows) to theirs."""
    if lowered and potential:
        for v in reader.upward_closure(sorted(lowered)):
            potential.pop(v, None)
    if raised and potential:
        reader.infos(raised)  # (``potentials`` reads a target's own score from what was read)
        for v, p in reader.potentials(raised).items():
            if p > 0:
                for a in reader.checked_ancestors(v):
                    if a in potential and potential[a] < p:
                        potential[a] = p


class Memo:
    """What the materializer computed for its targets (the stored artifacts, mostly the same from one
    cell to the next), kept per process between passes and brought up to date from ``artifact_changes``
    (rows written by schema.sql's triggers for every insert, delete and relevant update of ``artifacts``,
    whoever makes it):

    * ``potential``: a target's clipped model potential. A change that can only raise potentials (a row
      inserted, a score raised) raises every remembered ancestor's to the changed vertex's potential,
      which a new unscored leaf (most changes) leaves as it is, without reading its ancestors; any other
      change (a row deleted, a score lowered, inputs or well-formedness changed) forgets the potential of
      every target among the ancestors, by all rows' inputs, of the vertex and of its old inputs (a
      superset), which the next pass searches again.
    * ``recreation``: a target's recreation cost, the exact sum of its ancestors' compute seconds; the
      ancestry rows it came from are kept (``rows``: id -> (inputs, compute seconds), or None: absent or
      malformed), with the children among them, so that a change to any of them forgets the targets
      downstream of it.

    A pass saves the stored targets' potentials that changed in ``potentials`` (as of its mark), and a
    memo that starts (a new kernel, an exit writer) takes them, bringing each up to date from the
    changes since it was saved (``load``); the recreation costs are computed again (their ancestry
    rows would be the graph's rows again). A saved potential a member writes is taken as it is, as a
    score written into a row is.

    The memo's mark is ``sqlite_sequence``'s value for ``artifact_changes`` as of the snapshot it was
    brought up to date from. When the entry after the mark is gone (pruned after falling 50,000 changes
    behind, the table cleared, entries deleted) or the sequence went back, the memo starts again. Entries
    a member writes into the table can only make it forget; one who bypasses the triggers (drops them, or
    replaces a row with ``INSERT OR REPLACE``, which fires no delete trigger) can leave a kernel's memo
    stale, which moves what is kept, as writing scores into rows does, and never what a load serves."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.mark: int | None = None
        self.potential: dict[str, float] = {}
        self.recreation: dict[str, float] = {}
        self.rows: dict[str, tuple[list[str], float] | None] = {}
        self.kids: dict[str, set[str]] = {}
        self.saved: dict[str, tuple[float, int]] = {}  # id -> (potential, mark) as saved in ``potentials``

    def reset(self) -> None:
        self.potential, self.recreation, self.rows, self.kids, self.saved = {}, {}, {}, {}, {}

    # -- the ancestry rows -------------------------------------------------------------------

    def _keep_row(self, aid: str, info: Any) -> None:
        row = None if info is None else (info.inputs, info.compute_seconds)
        self.rows[aid] = row
        if row is not None:
            for parent in row[0]:
                self.kids.setdefault(parent, set()).add(aid)

    def _drop_row(self, aid: str) -> None:
        row = self.rows.pop(aid, None)
        if row is not None:
            for parent in row[0]:
                kids = self.kids.get(parent)
                if kids is not None:
                    kids.discard(aid)
                    if not kids:
                        del self.kids[parent]

    def _downstream(self, ids: Iterable[str]) -> set[str]:
        """``ids`` and their descendants among the kept rows."""
        out: set[str] = set()
        stack = list(ids)
        while stack:
            v = stack.pop()
            if v in out:
                continue
            out.add(v)
            stack.extend(k for k in self.kids.get(v, ()) if k not in out)
        return out

    # -- bringing it up to date --------------------------------------------------------------

    def sync(self, reader: "Reader") -> None:
        """Apply the changes since the mark, from ``reader``'s snapshot (or start again: then the
        potentials another kernel saved, ``load``)."""
        now = _sequence(reader.db)
        mark, self.mark = self.mark, now
        found = _changes(reader.db, mark, now) if mark is not None and mark <= now else None
        if found is None or len(self.rows) > MEMO_MAX_ROWS:
            self.reset()
            reader.wide.forget()
            self.load(reader)
            return
        lowered, raised, moved, rewired = _classify(found)
        if rewired:
            reader.wide.forget()  # (a row rewired or renamed in place: its rowid doesn't show it)
        if moved:
            gone = self._downstream(v for v in moved if v in self.rows or v in self.recreation)
            for v in gone:
                self.recreation.pop(v, None)
            for v in moved:
                self._drop_row(v)
        _apply(reader, self.potential, lowered, raised)

    # -- the potentials saved in the graph (``potentials``), for the next kernel ---------------

    def load(self, reader: "Reader") -> None:
        """The stored artifacts' potentials saved by a pass of any kernel (``save``), each brought up to
        date from the changes since its pass; one whose changes are gone, or malformed, is absent."""
        now = self.mark if self.mark is not None else 0
        stored = [a.id for a in reader.found.values() if a is not None and a.state == 2]
        groups: dict[int, dict[str, float]] = {}
        for chunk in _chunks(stored):
            for aid, value, seq in reader.db.execute(
                    f"SELECT artifact_id, value, seq FROM potentials WHERE artifact_id IN ({_marks(len(chunk))})",
                    chunk).fetchall():
                if (type(aid) is str and type(value) in (int, float) and 0 <= value <= 1 and type(seq) is int
                        and 0 <= seq <= now):
                    groups.setdefault(seq, {})[aid] = float(value)
        for seq, values in groups.items():
            found = _changes(reader.db, seq, now)
            if found is None:
                continue
            self.saved.update((aid, (value, seq)) for aid, value in values.items())  # (as saved)
            lowered, raised, _, _ = _classify(found)
            _apply(reader, values, lowered, raised)
            self.potential.update(values)

    def to_save(self, stored: list[str]) -> list[tuple[str, float, int]]:
        """(id, potential, mark) of the stored targets whose potential this memo has not saved or loaded
        as it is now, or saved more than ``RESAVE_AFTER`` changes ago (its changes would be pruned)."""
        self.saved = {aid: self.saved[aid] for aid in stored if aid in self.saved}
        if self.mark is None:
            return []
        return [(aid, self.potential[aid], self.mark) for aid in stored if aid in self.potential
                and (aid not in self.saved or self.saved[aid][0] != self.potential[aid]
                     or self.saved[aid][1] < self.mark - RESAVE_AFTER)]

    def save(self, db: sqlite3.Connection, write: list[tuple[str, float, int]]) -> None:
        """(Inside a write transaction) save ``to_save``'s potentials; one saved as of a newer change is
        left as it is (unless its change is beyond the newest: malformed)."""
        db.executemany("INSERT INTO potentials VALUES(?, ?, ?) ON CONFLICT(artifact_id) DO UPDATE SET"
                       " value=excluded.value, seq=excluded.seq WHERE typeof(potentials.seq)<>'integer'"
                       " OR potentials.seq <= excluded.seq OR potentials.seq > ?",
                       [(*w, _sequence(db)) for w in write])
        for aid, value, seq in write:
            self.saved[aid] = (value, seq)

    # -- what a pass asks --------------------------------------------------------------------

    def potentials(self, reader: "Reader", targets: list[str]) -> dict[str, float]:
        """The targets' potentials, searched (``Reader.potentials``) for those not kept; only these
        targets' are kept after (an offer not stored is not asked about again)."""
        missing = [t for t in dict.fromkeys(targets) if t not in self.potential]
        if missing:
            self.potential.update(reader.potentials(missing))
        self.potential = {t: self.potential[t] for t in targets}
        return dict(self.potential)

    def recreation_costs(self, reader: "Reader", targets: list[str]) -> dict[str, float]:
        """The targets' recreation costs, from the kept ancestry rows (the missing ones read level by
        level); only these targets' are kept after."""
        missing = [t for t in dict.fromkeys(targets) if t not in self.recreation]
        if missing:
            # the ancestry rows not kept, level by level
            want = [t for t in missing if t not in self.rows]
            seen = set(want)
            while want:
                for aid, info in reader.infos(want).items():
                    self._keep_row(aid, info)
                step = []
                for aid in want:
                    row = self.rows[aid]
                    for p in row[0] if row is not None else ():
                        if p not in seen and p not in self.rows:
                            seen.add(p)
                            step.append(p)
                want = step
            for t in missing:
                self.recreation[t] = self._walk(reader, t)
        self.recreation = {t: self.recreation[t] for t in targets}
        return dict(self.recreation)

    def _walk(self, reader: "Reader", target: str) -> float:
        """The exact sum of the compute seconds of ``target`` and its ancestors, from the kept rows (read
        where one is missing)."""
        seen = {target}
        stack = [target]
        costs: list[float] = []
        while stack:
            v = stack.pop()
            if v not in self.rows:
                self._keep_row(v, reader.infos([v])[v])
            row = self.rows[v]
            if row is None:
                continue
            costs.append(row[1])
            for p in row[0]:
                if p not in seen:
                    seen.add(p)
                    stack.append(p)
        return exact_sum(costs)
