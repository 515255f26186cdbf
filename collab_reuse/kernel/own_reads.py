"""Files that notebook code opens itself count, for confidentiality, like files a traced reader reads.

In a team store a kernel's results become its user's alone once it has read a file the team can't
read (``TracerBackend.become_confidential``). Traced readers (``pd.read_csv``, ``np.load``, ...)
report the files they hash; a file the notebook opens itself (``open(path)``, ``Path.read_text()``,
``json.load(open(path))``, ``pickle.load``) is seen here, through Python's audit hook (PEP 578,
event ``open``): an open for reading whose first caller outside the standard library and
collab_reuse's tracing (which calls the notebook's callables) is the notebook's own code (a cell, or a
function a cell defined: globals named ``__main__``). collab_reuse's own reads (the store's files,
another member's namespace opened component by component) are not the notebook's: counted, every
member who loaded a teammate's result became confidential. Libraries' own reads (font caches, configuration in a home directory) don't count:
they are not data a result is computed from, and counting them would make every kernel
confidential. Not seen: files a third-party library opens for the notebook without a traced
reader, and files opened by C code (SQLite, Arrow's own file system).

An audit hook can't be removed once added, so one hook per process serves whichever session is
watching (``watch``/``unwatch``); for any other event, or when nobody watches, it returns at once.
"""

from __future__ import annotations

import logging
import os
import sys
import sysconfig
from typing import Any, Callable

from ..tracing import capture
from ..tracing.capture import is_own_file

log = logging.getLogger("collab_reuse")

# the standard library's directories (``os``'s own, where a venv's ``platstdlib`` would be its site-packages'
# parent), less the packages installed under them
_STDLIB = tuple({os.path.dirname(os.__file__) + os.sep, sysconfig.get_paths()["stdlib"] + os.sep})
_INSTALLED = (f"{os.sep}site-packages{os.sep}", f"{os.sep}dist-packages{os.sep}")
_FROZEN = "<frozen "
_TRACING = os.path.dirname(capture.__file__) + os.sep  # (its frames call the notebook's callables)
_watcher: Callable[[str], None] | None = None  # called with the path of a file notebook code reads
_hooked = False


def watch(on_read: Callable[[str], None]) -> None:
    """Call ``on_read(path)`` for each file that notebook code opens for reading, from now on."""
    global _watcher, _hooked
    _watcher = on_read
    if not _hooked:
        sys.addaudithook(_hook)
        _hooked = True


def unwatch(on_read: Callable[[str], None] | None = None) -> None:
    """Stop calling ``on_read`` (by default, whoever watches)."""
    global _watcher
    if on_read is None or _watcher == on_read:
        _watcher = None


def reads(mode: Any, flags: Any) -> bool:
    """Does an ``open`` event with this mode (``open()``) or these flags (``os.open``) read the file?"""
    if isinstance(mode, str):
        return "r" in mode or "+" in mode
    return isinstance(flags, int) and flags & os.O_ACCMODE != os.O_WRONLY


def opened_by_notebook(frame: Any) -> bool:
    """Is the first frame from ``frame`` outwards that is neither the standard library's nor
    collab_reuse's tracing (the tracer calls ``open`` on the cell's behalf) the notebook's own code?
    An open by the rest of collab_reuse (the store, the graph, leases) is its own, never the notebook's."""
    while frame is not None:
        filename = frame.f_code.co_filename
        stdlib = filename.startswith(_STDLIB) and not any(part in filename for part in _INSTALLED)
        if not (stdlib or filename.startswith(_FROZEN) or filename.startswith(_TRACING)):
            return not is_own_file(filename) and frame.f_globals.get("__name__") == "__main__"
        frame = frame.f_back
    return False


def _hook(event: str, args: tuple) -> None:
    if event != "open" or _watcher is None:
        return
    watcher = _watcher
    try:
        path, mode, flags = args
        if path is None or isinstance(path, int) or not reads(mode, flags):
            return
        if opened_by_notebook(sys._getframe(1)):
            watcher(os.fsdecode(os.fspath(path)))
    except Exception as exc:  # (an audit hook that raises would fail the user's open)
        log.debug("collab_reuse: a file the notebook opened was not checked: %s", exc)
