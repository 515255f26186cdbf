"""Whose write an artifact's claim (the ``writes`` row: host, pid, start) names, and whether it still runs.

A claim is abandoned when it names a process of this host that has ended, is older than
``ABANDONED_AFTER`` (longer than any writer may run, whatever host), or is missing. ``upkeep`` undoes
abandoned writes; ``ExperimentGraph.begin_write`` takes an artifact over only from an abandoned claim
(a live writer's artifact is left to it: two writers of one namespace would delete each other's
files)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from . import rows

HOST = socket.gethostname()
ABANDONED_AFTER = 6 * 3600.0  # a write claimed this long ago is abandoned, whoever claimed it


def process_alive(pid: int) -> bool:
    """Whether a process of this host still runs (a zombie has finished)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def abandoned(host: object, pid: object, started: object, now: float) -> bool:
    """Is the claim (its row's values, None where there is none) a writer's that is gone?"""
    if host is None or not rows.valid(rows.seconds, started) or now - started > ABANDONED_AFTER:  # type: ignore[operator]
        return True
    return host == HOST and type(pid) is int and not process_alive(pid)


def mine(host: object, pid: object) -> bool:
    """Does the claim name this process?"""
    return host == HOST and pid == os.getpid()
