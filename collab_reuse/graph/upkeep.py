"""Keeping a store's Experiment Graph sound and bounded: undoing what failed, dropping what grows.

``repair`` undoes writes whose writer is gone (a kernel killed mid-write, a full disk, an exit
writer that ran out of time) and removes malformed rows; ``prune`` drops what no reuse decision
needs any more. ``collab-reuse gc`` runs both; every kernel, as it starts, undoes abandoned writes
and, at most once an hour per store, runs both (``at_start``, in its background writer). Repairs
return the blob keys that no artifact uses any more, which the caller deletes from the blob store.

A write is abandoned when its claim is a writer's that is gone (``claims``). Claims of live processes
are never touched: a write in progress is not undone.
"""

from __future__ import annotations

import time
from typing import Any

from . import claims, rows
from .experiment_graph import MATERIALIZED, NOT_STORED, WRITING, ArtifactInfo, ExperimentGraph
from .sqlite_file import guarded

VERTICES_MAX_AGE = 30 * 86400.0  # a vertex not stored, not needed by a stored one and unused this long goes
FILES_MAX_ROWS = 50_000        # file digests kept (the newest)
PRUNE_EVERY = 3600.0           # ``prune_if_due``: at most once an hour per store
UNREACHED_AFTER = 30 * 86400.0  # ``unreached``: a stored artifact no workload reached this long may go

#: rows of the small tables whose values can't be used (removed by ``repair``)
_MALFORMED = (
    "DELETE FROM counters WHERE typeof(value) NOT IN ('integer', 'real')",
    "DELETE FROM quiet_ops WHERE typeof(op_id)<>'text' OR typeof(value_type)<>'text'"
    " OR typeof(seconds) NOT IN ('integer', 'real') OR seconds < 0",
    "DELETE FROM forests WHERE typeof(n_estimators)<>'integer' OR n_estimators < 1 OR typeof(artifact_id)<>'text'",
    "DELETE FROM random_ops WHERE typeof(op_id)<>'text'",
    "DELETE FROM files WHERE typeof(digest)<>'text' OR digest=''",
    "DELETE FROM stored_log WHERE typeof(artifact_id)<>'text'",
    "DELETE FROM evictions WHERE typeof(artifact_id)<>'text' OR typeof(time) NOT IN ('integer', 'real')",
    "DELETE FROM artifact_changes WHERE typeof(artifact_id)<>'text'",
    "DELETE FROM potentials WHERE typeof(artifact_id)<>'text' OR typeof(value) NOT IN ('integer', 'real')"
    " OR value < 0 OR value > 1 OR typeof(seq)<>'integer'",
    "DELETE FROM decisions WHERE typeof(artifact_id)<>'text' OR typeof(time) NOT IN ('integer', 'real')"
    " OR typeof(detail)<>'text' OR NOT json_valid(detail)",
    "DELETE FROM artifact_blobs WHERE typeof(key)<>'text' OR typeof(artifact_id)<>'text'",
    "DELETE FROM usage WHERE typeof(user)<>'text' OR typeof(count)<>'integer'",
    "DELETE FROM confidential WHERE typeof(artifact_id)<>'text' OR typeof(uid)<>'integer'",
    "DELETE FROM authors WHERE typeof(artifact_id)<>'text' OR typeof(user)<>'text' OR user=''",
    "DELETE FROM reuse WHERE typeof(reader)<>'text' OR typeof(writer)<>'text' OR reader='' OR writer=''"
    " OR typeof(loads)<>'integer' OR loads < 0 OR typeof(saved_seconds) NOT IN ('integer', 'real')"
    " OR saved_seconds < 0",
)


@guarded
def abandoned_writes(graph: ExperimentGraph, now: float | None = None) -> list[str]:
    """Artifacts left "being written" by a writer that is gone (see the module's docstring)."""
    now = time.time() if now is None else now
    found = []
    for aid, host, pid, started in graph.query(
            "SELECT a.id, w.host, w.pid, w.started FROM artifacts a LEFT JOIN writes w ON w.artifact_id=a.id"
            " WHERE a.state=?", (WRITING,)):
        if claims.abandoned(host, pid, started, now):
            found.append(aid)
    return found


@guarded
def undo_abandoned(graph: ExperimentGraph, now: float | None = None) -> dict[str, Any]:
    """Undo the writes whose writer is gone (cheap: only the rows being written are read)."""
    abandoned = abandoned_writes(graph, now)
    with graph.transaction() as db:
        orphans = graph.unclaim(db, abandoned)
    return {"abandoned_writes": len(abandoned), "orphans": orphans}


@guarded
def remove_malformed(graph: ExperimentGraph, default_budget: int | None = None) -> dict[str, Any]:
    """Remove every row whose values can't be used (a pass over the whole graph), in one
    transaction; an artifact whose blob sizes are malformed is no longer stored. A malformed or
    missing budget becomes ``default_budget`` (if given)."""
    with graph.transaction() as db:
        bad = [r[0] for r in db.execute(f"SELECT {ArtifactInfo.COLUMNS} FROM artifacts").fetchall()
               if not rows.valid(ArtifactInfo.from_row, r)]
        orphans = set(graph.unclaim(db, bad))
        db.executemany("DELETE FROM artifacts WHERE id=?", [(aid,) for aid in bad])
        db.executemany("DELETE FROM usage WHERE artifact_id=?", [(aid,) for aid in bad])
        db.executemany("DELETE FROM authors WHERE artifact_id=?", [(aid,) for aid in bad])
        removed = len(bad)
        bad_blobs = [k for k, size in db.execute("SELECT key, size FROM blobs") if not rows.valid(rows.count, size)]
        users = {aid for k in bad_blobs
                 for (aid,) in db.execute("SELECT artifact_id FROM artifact_blobs WHERE key=?", (k,))}
        orphans.update(graph.unclaim(db, sorted(users)))
        db.executemany("DELETE FROM blobs WHERE key=?", [(k,) for k in bad_blobs])
        removed += len(bad_blobs)
        for sql in _MALFORMED:
            removed += db.execute(sql).rowcount
        row = db.execute("SELECT value FROM meta WHERE key='budget'").fetchone()
        if default_budget is not None and (row is None or not rows.valid(rows.count_text, row[0])):
            db.execute("INSERT OR REPLACE INTO meta VALUES('budget', ?)", (str(int(default_budget)),))
            removed += row is not None
    journal = graph.journal()
    if journal is not None:  # (this process's user's; another member's journal is theirs to mend)
        removed += journal.remove_malformed()
    return {"malformed_rows": removed, "orphans": sorted(orphans)}


def repair(graph: ExperimentGraph, default_budget: int | None = None, now: float | None = None) -> dict[str, Any]:
    """``undo_abandoned`` and ``remove_malformed``: {"abandoned_writes": n, "malformed_rows": n,
    "orphans": [blob keys no artifact uses any more]}."""
    undone = undo_abandoned(graph, now)
    removed = remove_malformed(graph, default_budget)
    return {"abandoned_writes": undone["abandoned_writes"], "malformed_rows": removed["malformed_rows"],
            "orphans": sorted(set(undone["orphans"]) | set(removed["orphans"]))}


@guarded
def prune(graph: ExperimentGraph, now: float | None = None) -> dict[str, int]:
    """Drop what no reuse decision needs any more: this process's user's reports beyond their age and
    count (their journal); then, in one transaction of the graph: vertices not stored, not an input (transitively) of a stored or half-written one, and
    unused for ``VERTICES_MAX_AGE`` (with their usage, quiet, forest and author rows); the oldest file
    digests beyond ``FILES_MAX_ROWS``; the stored log of artifacts no longer stored; sizes of blobs no
    artifact uses (they would count against the budget)."""
    now = time.time() if now is None else now
    journal = graph.journal()
    done = {"events": 0 if journal is None else journal.prune(now)}
    with graph.transaction() as db:
        done["vertices"] = db.execute(
            "DELETE FROM artifacts WHERE state=? AND last_used < ? AND id NOT IN ("
            " WITH RECURSIVE needed(id) AS (SELECT id FROM artifacts WHERE state<>?"
            "  UNION SELECT j.value FROM needed JOIN artifacts a ON a.id=needed.id,"
            "  json_each(CASE WHEN json_valid(a.inputs) THEN a.inputs ELSE '[]' END) j)"
            " SELECT id FROM needed)", (NOT_STORED, now - VERTICES_MAX_AGE, NOT_STORED)).rowcount
        for table, column in (("usage", "artifact_id"), ("quiet_ops", "op_id"), ("forests", "artifact_id"),
                              ("evictions", "artifact_id"), ("decisions", "artifact_id"), ("authors", "artifact_id")):
            db.execute(f"DELETE FROM {table} WHERE {column} NOT IN (SELECT id FROM artifacts)")
        done["files"] = db.execute("DELETE FROM files WHERE rowid <= (SELECT MAX(rowid) FROM files) - ?",
                                   (FILES_MAX_ROWS,)).rowcount
        db.execute("DELETE FROM potentials WHERE artifact_id NOT IN (SELECT id FROM artifacts WHERE state=?)",
                   (MATERIALIZED,))
        db.execute("DELETE FROM stored_log WHERE artifact_id NOT IN (SELECT id FROM artifacts WHERE state=?)"
                   " OR seq NOT IN (SELECT MAX(seq) FROM stored_log GROUP BY artifact_id)", (MATERIALIZED,))
        db.execute("DELETE FROM blobs WHERE key NOT IN (SELECT key FROM artifact_blobs)")  # (out of the account)
        db.execute("INSERT OR REPLACE INTO meta VALUES('pruned', ?)", (str(now),))
    return done


def unreached(graph: ExperimentGraph, grace: float = UNREACHED_AFTER, now: float | None = None) -> list[dict]:
    """Stored artifacts no recent workload reaches, the least recently used first: neither used (computed,
    loaded, or bound to a deferred value, which a running kernel may still load) within ``grace``, nor an
    input, however indirect, of an artifact that was (a re-run after an edit upstream loads those). Each:
    id, op, size, last_used, users (who used it). Read-only; ``collab-reuse gc`` removes them."""
    now = time.time() if now is None else now
    found = graph.query(
        "WITH RECURSIVE reached(id) AS (SELECT id FROM artifacts WHERE last_used >= ?"
        "  UNION SELECT j.value FROM reached JOIN artifacts a ON a.id=reached.id,"
        "  json_each(CASE WHEN json_valid(a.inputs) THEN a.inputs ELSE '[]' END) j)"
        " SELECT id, op, size, last_used FROM artifacts WHERE state=? AND id NOT IN (SELECT id FROM reached)"
        " ORDER BY last_used", (now - grace, MATERIALIZED))
    out = []
    for aid, op, size, last_used in found:
        users = [u for (u,) in graph.query("SELECT user FROM usage WHERE artifact_id=? ORDER BY count DESC", (aid,))
                 if type(u) is str]
        out.append({"id": aid, "op": op, "size": size if type(size) is int else 0,
                    "last_used": last_used if rows.valid(rows.seconds, last_used) else 0.0, "users": users})
    return out


def due(graph: ExperimentGraph, now: float | None = None) -> bool:
    """Whether no kernel pruned this store within ``PRUNE_EVERY``."""
    now = time.time() if now is None else now
    found = graph.query("SELECT value FROM meta WHERE key='pruned'")
    try:
        return not found or now - float(found[0][0]) >= PRUNE_EVERY
    except (TypeError, ValueError):
        return True


def at_start(graph: ExperimentGraph, default_budget: int | None = None, now: float | None = None) -> dict[str, Any]:
    """What each kernel does as it starts (in its background writer): undo abandoned writes; when
    due, also remove malformed rows and prune."""
    if not due(graph, now):
        return {**undo_abandoned(graph, now), "malformed_rows": 0, "pruned": None}
    return {**repair(graph, default_budget, now), "pruned": prune(graph, now)}
