"""Configuration: traitlets for IPython/Jupyter config files, env for the store path.

``c.CollabReuse.store = "/shared/store"`` in ``ipython_config.py`` (or
``ipython_kernel_config.py``) and ``COLLAB_REUSE_STORE`` both name the store; the
environment wins so that a hub's spawner can point every kernel at one store.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from traitlets import Bool, Enum, Float, TraitError, Unicode, validate
from traitlets.config import Configurable

STORE_ENV = "COLLAB_REUSE_STORE"
DEFAULT_BUDGET = "5GB"

_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def parse_size(text: str | int) -> int:
    """Parse ``"2GB"``, ``"512 MiB"``, ``"100000"`` into bytes; ValueError on anything else."""
    if isinstance(text, int):
        if text < 0:
            raise ValueError("a size can't be negative")
        return text
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]i?B|B)?\s*", str(text), re.IGNORECASE)
    if not match:
        raise ValueError(f"not a size: {text!r} (examples: 2GB, 500MB, 1.5GiB, 1000000)")
    number, unit = match.groups()
    return int(float(number) * _UNITS[(unit or "").upper()])


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
    idle_seconds = Float(0.5, help="Storing a result (encoding it) waits until no cell has run for this long, so that "
                         "cells run back to back never wait for it.").tag(config=True)
    max_pending = Unicode("4GB", help="Results waiting to be stored above this size are stored between cells even "
                          "when cells run back to back (bounds the memory they hold).").tag(config=True)

    @validate("budget", "max_pending")
    def _a_size(self, proposal: dict) -> str:
        try:
            parse_size(proposal["value"])
        except ValueError as exc:
            raise TraitError(f"CollabReuse.{proposal['trait'].name}: {exc}") from None
        return proposal["value"]
