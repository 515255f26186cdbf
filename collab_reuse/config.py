"""Configuration: traitlets for IPython/Jupyter config files, env for the store path.

``c.CollabReuse.store = "/shared/store"`` in ``ipython_config.py`` (or
``ipython_kernel_config.py``) and ``COLLAB_REUSE_STORE`` both name the store; the
environment wins so that a hub's spawner can point every kernel at one store.
"""

from __future__ import annotations

import math
import os
import re
from decimal import Decimal
from pathlib import Path

from traitlets import Bool, Enum, Float, Int, TraitError, Unicode, validate
from traitlets.config import Configurable

STORE_ENV = "COLLAB_REUSE_STORE"
DEFAULT_BUDGET = "5GB"
MAX_SIZE = 2**63 - 1  # bytes: what SQLite's INTEGER (the graph's sizes) holds
MAX_SECONDS = 7 * 86400.0  # durations above a week are refused (and ``signal.alarm`` takes no more)

_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def parse_size(text: str | int) -> int:
    """Parse ``"2GB"``, ``"512 MiB"``, ``"100000"`` into bytes; ValueError on anything else, or on a
    size above ``MAX_SIZE`` (computed exactly: a 400-digit number is refused, not an overflow)."""
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise ValueError("a size can't be negative")
        value = text
    else:
        match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]i?B|B)?\s*", str(text), re.IGNORECASE)
        if not match:
            raise ValueError(f"not a size: {text!r} (examples: 2GB, 500MB, 1.5GiB, 1000000)")
        number, unit = match.groups()
        whole = number.split(".")[0].lstrip("0")
        value = MAX_SIZE + 1 if len(whole) > 20 else int(Decimal(number) * _UNITS[(unit or "").upper()])
    if value > MAX_SIZE:
        raise ValueError(f"a size must be at most {MAX_SIZE} bytes (about 9.2 EB); got {str(text)[:40]!r}"
                         f"{' ...' if len(str(text)) > 40 else ''}")
    return value


def parse_quota(text: str) -> str:
    """A per-writer quota setting, normalised: "fair", a share of the budget ("40%": 1 to 100) or a
    size ("2GB"); ValueError on anything else."""
    text = str(text).strip()
    if text.lower() == "fair":
        return "fair"
    share = re.fullmatch(r"([0-9]{1,3}(?:\.[0-9]+)?)\s*%", text)
    if share:
        if not 0 < float(share.group(1)) <= 100:
            raise ValueError(f"a share of the budget must be above 0% and at most 100%; got {text!r}")
        return f"{float(share.group(1)):g}%"
    try:
        return str(parse_size(text))
    except ValueError:
        raise ValueError(f"not a quota: {text[:40]!r} (examples: fair, 40%, 2GB)") from None


def quota_bytes(setting: str, budget: int, writers: int) -> int:
    """Each writer's quota in bytes: "fair" is the budget over the writers whose artifacts compete
    (one writer: the whole budget); a malformed setting reads as "fair"."""
    try:
        setting = parse_quota(setting)
    except ValueError:
        setting = "fair"
    if setting == "fair":
        return budget // max(writers, 1)
    if setting.endswith("%"):
        return int(budget * float(setting[:-1]) / 100)
    return int(setting)


def check_seconds(value: float, what: str) -> float:
    """A duration setting: a finite number of seconds, from 0 to ``MAX_SECONDS``; ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0 <= value <= MAX_SECONDS:
        raise ValueError(f"{what} must be a number of seconds from 0 to {MAX_SECONDS:.0f}; got {value!r}")
    return float(value)


def format_size(n: float) -> str:
    """Human-readable bytes (decimal units, as ``parse_size`` reads them)."""
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def default_store_dir() -> Path:
    """A per-server store under the Jupyter data directory."""
    from jupyter_core.paths import jupyter_data_dir

    return Path(jupyter_data_dir()) / "collab_reuse" / "store"


def resolve_store_dir(configured: str = "") -> Path:
    """The store directory: ``$COLLAB_REUSE_STORE``, else the configured one, else the default."""
    chosen = os.environ.get(STORE_ENV) or configured
    return Path(chosen).expanduser() if chosen else default_store_dir()


class CollabReuse(Configurable):
    """Settings of the collab_reuse kernel extension."""

    store = Unicode("", help=f"Store directory (overridden by ${STORE_ENV}); empty: under the Jupyter data dir.").tag(config=True)
    budget = Unicode(DEFAULT_BUDGET, help="Storage budget for materialized artifacts, e.g. '2GB'.").tag(config=True)
    enabled = Bool(True, help="Reuse stored results (False: trace nothing, run plainly).").tag(config=True)
    defer = Bool(True, help="Deferred evaluation: bind names to lazy results and produce them only when "
                            "something uses them (False: load or compute every operation where it is).").tag(config=True)
    materializer = Enum(["heuristic", "storage_aware"], default_value="storage_aware",
                        help="Which of the paper's materialization algorithms chooses what to keep.").tag(config=True)
    trust_pickle = Bool(False, help="Store and load with pickle what no data-only format serves (pickle runs code "
                        "on load). Used only for a store that only you can write (the store directory and its "
                        "database files owned by you, writable by nobody else); ignored for any other store.").tag(config=True)
    min_saving = Float(0.005, help="Seconds an artifact must save over loading it to be worth storing.").tag(config=True)
    exit_flush_seconds = Float(2.0, help="How long a closing kernel waits for a running store write to finish, and "
                               "(where no child process can take over) for every pending one before abandoning them "
                               "(Jupyter interrupts a closing kernel after 2.5 s and kills it at 5 s).").tag(config=True)
    exit_write_seconds = Float(900.0, help="Time limit of the child process that finishes a closing kernel's pending "
                               "store writes (0: no child; pending writes are abandoned at exit).").tag(config=True)
    single_flight_seconds = Float(120.0, help="How long a kernel waits for another kernel of the store that is "
                                  "computing the very result it needs, to load it instead of computing it too "
                                  "(at most twice that result's measured time plus 5 s, when it was measured; "
                                  "0: never wait).").tag(config=True)
    idle_seconds = Float(0.5, help="Storing a result (encoding it) waits until no cell has run for this long, so that "
                         "cells run back to back never wait for it.").tag(config=True)
    max_pending = Unicode("4GB", help="Results waiting to be stored above this size are stored between cells even "
                          "when cells run back to back; above twice this size new results are not kept for "
                          "the store at all (bounds the memory they hold).").tag(config=True)
    exit_writers = Int(2, help="How many exited kernels' writers may run at once on one store (each holds the "
                       "pending results of its kernel); a kernel that finds them all busy abandons its pending "
                       "store writes.").tag(config=True)

    @validate("budget", "max_pending")
    def _a_size(self, proposal: dict) -> str:
        try:
            parse_size(proposal["value"])
        except ValueError as exc:
            raise TraitError(f"CollabReuse.{proposal['trait'].name}: {exc}") from None
        return proposal["value"]

    @validate("min_saving", "exit_flush_seconds", "exit_write_seconds", "idle_seconds", "single_flight_seconds")
    def _a_duration(self, proposal: dict) -> float:
        try:
            return check_seconds(proposal["value"], f"CollabReuse.{proposal['trait'].name}")
        except ValueError as exc:
            raise TraitError(str(exc)) from None

    @validate("exit_writers")
    def _a_writer_count(self, proposal: dict) -> int:
        if not 1 <= proposal["value"] <= 64:
            raise TraitError(f"CollabReuse.exit_writers must be from 1 to 64; got {proposal['value']!r}")
        return proposal["value"]
