"""The cell lock: held while a cell runs; background work that runs library code waits for it.

Encoding a result for the store runs pandas/pyarrow code, which swaps the process-wide warning
filters, and reads objects user code could change: it must never overlap a cell. It also waits
until the kernel has been idle for a moment, so that cells run back to back (Run All, nbclient,
papermill) never wait for it: what is still pending when the kernel exits is handed to a child
process (``handoff``).
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Iterator

from .writer import HandedOff


class CellLock:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._cell_ended = 0.0  # time.monotonic() when the last cell finished
        self._handing_off = False
        self._wake = threading.Event()  # set at hand-off: a job waiting for idleness stops at once

    def cell_started(self) -> None:
        self._lock.acquire()

    def cell_finished(self) -> None:
        self._cell_ended = time.monotonic()
        try:
            self._lock.release()
        except RuntimeError:  # a post_run_cell without its pre_run_cell (extension loaded mid-cell)
            pass

    @contextmanager
    def idle(self, grace: float = 0.0) -> Iterator[None]:
        """Hold the lock once no cell has run for ``grace`` seconds (a cell running now included).

        Raises ``HandedOff`` once the kernel is exiting: the work goes to the handoff child."""
        while True:
            self._lock.acquire()
            if self._handing_off:
                self._lock.release()
                raise HandedOff()
            wait = self._cell_ended + grace - time.monotonic()
            if wait <= 0:
                break
            self._lock.release()
            self._wake.wait(min(wait, 1.0))
        try:
            yield
        finally:
            self._lock.release()

    def hand_off(self) -> None:
        """The kernel is exiting: background work waiting for the lock stops (and runs in the child)."""
        self._handing_off = True
        self._wake.set()

    def after_fork(self) -> None:
        """In the handoff child: the thread that held the lock is gone, and the child runs the work."""
        self._lock = threading.RLock()
        self._handing_off = False
        self._wake = threading.Event()
        self._cell_ended = float("-inf")  # no cell runs here: nothing to wait for
