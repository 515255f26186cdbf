"""Producing a traced operation's value: loading its stored result or computing it, and saying which.

Every way a value comes to be goes through here: eagerly, where the rewritten cell calls the
operation (``runtime``), later, where deferred evaluation produces a lazy (``deferral``), and inside
a library call (LightGBM's binned matrices, ``binned``). Loading goes through the backend; a damaged,
missing or undecodable artifact is logged and computed instead, never served. Computing runs with
the depth raised, so that whatever the library calls back into (notebook code, a callback) runs
plainly. Each produced value is one step of the cell's report.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import CorruptArtifact
from .steps import COMPUTED, REUSED, Backend, ComputedValue, Step

log = logging.getLogger("collab_reuse")


@dataclass
class Loaded:
    """A stored result, loaded: its graph vertex, value, manifest extras, bytes read and seconds taken."""

    info: Any
    value: Any
    extra: dict
    nbytes: int
    seconds: float


class Producer:
    """The load-or-compute-and-report path of one kernel's tracer."""

    def __init__(self, backend: Backend):
        self.backend = backend
        self._depth = 0

    @property
    def running(self) -> bool:
        """A traced operation is computing: calls it makes (into notebook code too) run plainly."""
        return self._depth > 0

    def computing(self) -> "Producer":
        """``with producer.computing():`` around a traced computation (the producer is its own context
        manager: no generator per traced call)."""
        return self

    def __enter__(self) -> None:
        self._depth += 1

    def __exit__(self, *exc: Any) -> None:
        self._depth -= 1

    def stored(self, label: str, op_id: str, pending_seconds: float = 0.0) -> Loaded | None:
        """The stored result if there is one and loading it beats computing it (``pending_seconds``:
        what computing would first have to produce); None otherwise."""
        try:
            info = self.backend.lookup(op_id)
            if info is None or not self.backend.should_load(info, pending_seconds):
                return None
        except Exception:
            log.warning("looking up %s failed, computing it", label, exc_info=True)
            return None
        return self.load(label, op_id, info)

    def load(self, label: str, op_id: str, info: Any = None) -> Loaded | None:
        """Load a stored result; None (logged) when it is missing or damaged: compute it instead."""
        try:
            value, extra, nbytes, seconds = self.backend.load(op_id)
        except (CorruptArtifact, KeyError) as exc:
            log.info("stored result of %s unusable, computing it: %s", label, exc)
            return None
        except Exception:
            log.warning("loading %s failed, computing it", label, exc_info=True)
            return None
        return Loaded(info, value, extra, nbytes, seconds)

    def run(self, compute: Callable[[], Any]) -> tuple[Any, float]:
        """Compute, timed, with the depth raised: (value, seconds)."""
        with self.computing():
            start = time.perf_counter()
            value = compute()
            return value, time.perf_counter() - start

    def reused(self, op_id: str, label: str, kind: str, seconds: float, compute_seconds: float, nbytes: int,
               inputs: list[str], call: dict | None = None) -> None:
        self.backend.add_step(Step(op_id, label, REUSED, kind, seconds=seconds, inputs=inputs, bytes_read=nbytes,
                                   saved_seconds=max(compute_seconds - seconds, 0.0), call=call), None)

    def computed(self, op_id: str, label: str, kind: str, seconds: float, inputs: list[str],
                 candidate: ComputedValue | None = None) -> None:
        self.backend.add_step(Step(op_id, label, COMPUTED, kind, seconds=seconds, inputs=inputs), candidate)
