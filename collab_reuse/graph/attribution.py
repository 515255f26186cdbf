"""Who saved time by whose work: the per-user figures of a store's summary (``ExperimentGraph.summary``).

Two tables of the Experiment Graph (``schema.sql``) hold them. ``reuse`` has one row per reader and
writer: the loads of the writer's artifacts by the reader's kernels and the compute time the reader's
reused steps did not spend, written in the reader's per-cell transaction (``record_cell``). The writer is
the owner of the namespace the artifact's manifest was accepted from, as the OS says
(``ArtifactStore.author``), never the name the manifest gives; in a store of one user, that user.
``authors`` names, for each stored artifact, the account whose kernel wrote it (``finish_write``; the
latest writer when several did).

``UserFigures`` is the record the panel's TypeScript mirrors (``labextension/src/protocol.ts``:
``IUserFigures``, ``ISavedBy``; ``tests/unit/test_protocol.py`` checks them). What one user sees of
another here is what a team store shares anyway: user names, counts, sizes and time saved.
"""
from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass, field
from typing import Any

from . import rows
from .rows import BadRow


@dataclass(slots=True)
class SavedBy:
    """What one writer's artifacts saved a user."""

    writer: str
    loads: int = 0
    saved_seconds: float = 0.0


@dataclass(slots=True)
class UserFigures:
    """One user of a store: what reuse saved them and by whose artifacts, what they stored, what it
    saved the others."""

    user: str
    saved_seconds: float = 0.0        # compute time reuse saved this user, whoever's artifacts they loaded
    loads: int = 0                    # artifacts their kernels loaded
    saved_by: list[SavedBy] = field(default_factory=list)  # split by whose artifacts, most saved first
    saved_others_seconds: float = 0.0  # what this user's artifacts saved the other users
    artifacts_stored: int = 0         # stored artifacts this user wrote
    bytes_stored: int = 0             # their size
    artifacts_written: int = 0        # artifacts the graph remembers this user writing (stored or evicted since)

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> "UserFigures":
        return cls(**{**item, "saved_by": [SavedBy(**s) for s in item.get("saved_by", [])]})


def per_user(db: sqlite3.Connection, materialized: int) -> list[UserFigures]:
    """Every user the ``reuse`` and ``authors`` tables name, most time saved first (malformed rows are
    skipped: ``collab-reuse gc`` removes them). ``materialized``: the state of a stored artifact."""
    users: dict[str, UserFigures] = {}

    def of(name: str) -> UserFigures:
        found = users.get(name)
        if found is None:
            found = users[name] = UserFigures(name)
        return found

    for reader, writer, loads, saved in db.execute("SELECT reader, writer, loads, saved_seconds FROM reuse"):
        try:
            reader, writer, loads, saved = rows.text(reader), rows.text(writer), rows.count(loads), rows.seconds(saved)
        except BadRow:
            continue
        figures = of(reader)
        figures.saved_seconds += saved
        figures.loads += loads
        figures.saved_by.append(SavedBy(writer, loads, saved))
        if writer != reader:
            of(writer).saved_others_seconds += saved
    for user, written, stored, size in db.execute(
            "SELECT au.user, COUNT(*), COALESCE(SUM(a.state=?), 0),"
            " COALESCE(SUM(CASE WHEN a.state=? AND typeof(a.size)='integer' AND a.size>=0 THEN a.size END), 0)"
            " FROM authors au JOIN artifacts a ON a.id=au.artifact_id GROUP BY au.user",
            (materialized, materialized)):
        if type(user) is not str or not user:
            continue
        figures = of(user)
        figures.artifacts_written, figures.artifacts_stored, figures.bytes_stored = int(written), int(stored), int(size)
    for figures in users.values():
        figures.saved_by.sort(key=lambda s: (-s.saved_seconds, s.writer))
    return sorted(users.values(), key=lambda f: (-f.saved_seconds, f.user))


def as_json(figures: list[UserFigures]) -> list[dict[str, Any]]:
    return [asdict(f) for f in figures]


def record(db: sqlite3.Connection, reader: str, reuse: list[tuple[str, int, float]] | tuple = ()) -> None:
    """(Inside a cell's transaction) add a cell's loads, per writer: (writer, loads, seconds saved)."""
    db.executemany("INSERT INTO reuse VALUES(?,?,?,?) ON CONFLICT(reader, writer) DO UPDATE SET"
                   " loads=loads+excluded.loads, saved_seconds=saved_seconds+excluded.saved_seconds",
                   [(reader, str(writer), int(loads), float(saved)) for writer, loads, saved in reuse])


def phrase(figures: UserFigures) -> str:
    """The user's figures in one line: "bob saved 41.2 s in 12 loads, 30.1 s of it by alice's artifacts,
    11.1 s by their own; stored 3 artifacts (1.2 MB); their artifacts saved others 5.0 s"."""
    from ..config import format_size

    line = f"{figures.user} saved {figures.saved_seconds:.1f} s in {figures.loads} loads"
    by = [s for s in figures.saved_by if s.saved_seconds > 0 or s.loads]
    for i, s in enumerate(by):
        whose = "their own" if s.writer == figures.user else f"{s.writer}'s"
        line += f", {s.saved_seconds:.1f} s {'of it ' if i == 0 else ''}by {whose}{' artifacts' if i == 0 else ''}"
    if figures.artifacts_written:
        line += f"; stored {figures.artifacts_stored} artifacts ({format_size(figures.bytes_stored)})"
        if figures.artifacts_written != figures.artifacts_stored:
            line += f", {figures.artifacts_written - figures.artifacts_stored} more since evicted"
    if figures.saved_others_seconds > 0:
        line += f"; their artifacts saved others {figures.saved_others_seconds:.1f} s"
    return line
