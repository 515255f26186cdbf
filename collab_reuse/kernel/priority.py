"""Background work yields the processor to the notebook.

The kernel's writer thread and the exit writer (and the threads they start, which inherit it) run at a
lower scheduling priority (``nice``), so that storing one cell's results does not slow the next cell's
computation: on a machine of two cores, a writer hashing or encoding beside a LightGBM or scikit-learn
fit takes a core from its OpenMP threads, which wait for each other at every barrier. When the
notebook is idle, the writer gets the whole machine as before.
"""

from __future__ import annotations

import os
import sys
import threading

BACKGROUND_NICE = 10


def lower_this_thread() -> None:
    """Lower the calling thread's priority to ``BACKGROUND_NICE`` (never raise it). Linux only: there
    ``nice`` is per thread; elsewhere it would be the whole process's, the notebook's included."""
    if not sys.platform.startswith("linux"):
        return
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, max(os.getpriority(os.PRIO_PROCESS, tid), BACKGROUND_NICE))
    except OSError:
        pass  # (a container refusing it: the writer runs at the notebook's priority, as before)
