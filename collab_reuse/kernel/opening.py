"""Opening a kernel's store: the directory (checked: the user may use it, its format mark), a team
store's shared files given the team's modes, the store-wide settings only an admin's configuration may
set, the Experiment Graph and the artifact store. Any failure raises (a store fault, ``STORE_FAULTS``):
the session then runs plainly after the one warning.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from .. import team as teams
from ..config import CollabReuse, parse_size
from ..errors import StoreError
from ..graph import ExperimentGraph
from ..graph.storedir import StoreDir, open_store_dir
from ..store import ArtifactStore, open_artifacts
from . import handoff, jobs, storelog
from .leases import LEASES_FILE, Leases

log = logging.getLogger("collab_reuse")
FOREGROUND_WAIT = 2.0  # seconds a cell's lookups wait for a store locked by another process


@dataclass
class OpenedStore:
    handle: StoreDir
    team: teams.Team | None
    admin: bool               # may this user change the store's settings (budget, clear, materializer)?
    budget: int               # the budget a new store starts with (bytes)
    graph: ExperimentGraph
    store: ArtifactStore
    target: jobs.Target       # what the writer's jobs write to
    leases: Leases | None     # single flight with the store's other kernels (None: it couldn't be set up)


def open_store(config: CollabReuse, store_dir: Path, user: str) -> OpenedStore:
    if store_dir.is_dir() and not os.access(store_dir, os.R_OK | os.W_OK | os.X_OK):
        raise StoreError(f"{user} may not use the store at {store_dir} (its owner and group decide who may)")
    handle = open_store_dir(store_dir)
    team, admin = teams.team_of(store_dir), teams.is_admin(store_dir)
    if team is not None:
        share_team_files(team, store_dir, config.exit_writers)
    budget = store_wide_settings(config, admin, user)
    graph = ExperimentGraph(store_dir, budget_bytes=budget, busy_seconds=FOREGROUND_WAIT)  # (this thread runs cells)
    if admin and config.budget != CollabReuse.budget.default_value:
        graph.set_budget(budget)
    store = open_artifacts(store_dir, trust_pickle=config.trust_pickle, user=user)
    return OpenedStore(handle, team, admin, budget, graph, store, jobs.Target(graph, store, handle),
                       _leases(store_dir, team, config))


def _leases(store_dir: Path, team: teams.Team | None, config: CollabReuse) -> Leases | None:
    if config.single_flight_seconds <= 0:
        return None
    try:
        return Leases(store_dir / LEASES_FILE, mode=teams.SHARED_FILE_MODE if team is not None else 0o600)
    except OSError as exc:  # (single flight is an optimisation: the kernel works without it)
        log.warning("single flight with other kernels is off: %s", exc)
        return None


def store_wide_settings(config: CollabReuse, admin: bool, user: str) -> int:
    """The budget a new store starts with; a non-admin's configured budget and materializer are
    not applied (they would change the store for everyone): the defaults are, and the log says so."""
    if admin:
        return parse_size(config.budget)
    for name in ("budget", "materializer"):
        if getattr(config, name) != getattr(CollabReuse, name).default_value:
            log.info("CollabReuse.%s=%r not applied: only the store's admins change its settings (%s is not one)",
                     name, getattr(config, name), user)
    config.materializer = CollabReuse.materializer.default_value
    return parse_size(CollabReuse.budget.default_value)


def share_team_files(team: teams.Team, store_dir: Path, exit_writers: int) -> None:
    """A team store's shared files and directories get the team's modes before SQLite or logging
    makes them with the umask's; one the team can't write (left by another member's older kernel)
    is a store fault, and is not opened: SQLite would make its ``-wal`` unusable for the others."""
    graph = store_dir / "graph.sqlite"
    writers = store_dir / handoff.WRITERS_DIR
    slots = writers / handoff.SLOTS_DIR
    problems = teams.share(team, dirs=[writers, slots],
                           files=[graph, store_dir / storelog.LOG_NAME, store_dir / LEASES_FILE,
                                  *(slots / str(n) for n in range(exit_writers))],
                           fix_only=[graph.with_name(graph.name + suffix) for suffix in ("-wal", "-shm")])
    if problems:
        raise StoreError(f"the team store at {store_dir} has files its team can't write ({'; '.join(problems)})")
