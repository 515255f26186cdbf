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
from typing import Callable, Iterator

from .writer import Dropped, HandedOff


class CellLock:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._cell_ended = 0.0  # time.monotonic() when the last cell finished
        self._cell_thread: int | None = None  # the thread of the running cell
        self._handing_off = False
        self._dropping = False
        self._wake = threading.Event()  # set at hand-off (and while lent): a waiting job looks again at once

    def cell_started(self) -> None:
        self._lock.acquire()
        self._cell_thread = threading.get_ident()

    def cell_finished(self) -> None:
        self._cell_ended = time.monotonic()
        self._cell_thread = None
        try:
            self._lock.release()
        except RuntimeError:  # a post_run_cell without its pre_run_cell (extension loaded mid-cell)
            pass

    @contextmanager
    def lent(self) -> Iterator[None]:
        """The running cell lends the lock to background work while it waits for that work (a magic
        showing the store, a test): its thread is blocked, so no user code runs meanwhile. Outside a
        cell, or from another thread, nothing to lend."""
        if self._cell_thread != threading.get_ident():
            yield
            return
        ended, self._cell_ended, self._cell_thread = self._cell_ended, float("-inf"), None
        self._lock.release()
        self._wake.set()
        try:
            yield
        finally:
            self._lock.acquire()  # once the job that holds it now is done
            self._cell_thread, self._cell_ended = threading.get_ident(), ended
            if not self._handing_off:
                self._wake.clear()

    @contextmanager
    def idle(self, grace: float | Callable[[], float] = 0.0) -> Iterator[None]:
        """Hold the lock once no cell has run for ``grace`` seconds (a cell running now included; a
        function: asked again at each look).

        Raises ``HandedOff`` once the kernel is exiting (the work is handed over), ``Dropped`` once the
        store has failed (the work is dropped)."""
        while True:
            self._lock.acquire()
            if self._handing_off:
                self._lock.release()
                raise HandedOff()
            if self._dropping:
                self._lock.release()
                raise Dropped()
            wait = self._cell_ended + (grace() if callable(grace) else grace) - time.monotonic()
            if wait <= 0:
                break
            self._lock.release()
            self._wake.wait(min(wait, 1.0))
        try:
            yield
        finally:
            self._lock.release()

    def drop_waiting_work(self) -> None:
        """The store failed: background work waiting for the lock stops for good."""
        self._dropping = True
        self._wake.set()

    def hand_off(self) -> None:
        """The kernel is exiting: background work waiting for the lock stops (and runs in the child)."""
        self._handing_off = True
        self._wake.set()

    def after_fork(self) -> None:
        """In the handoff child: the thread that held the lock is gone, and the child runs the work."""
        self._lock = threading.RLock()
        self._handing_off = False
        self._wake = threading.Event()
        self._cell_thread = None
        self._cell_ended = float("-inf")  # no cell runs here: nothing to wait for
