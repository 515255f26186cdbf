"""Recording what an operation prints and warns, so a reuse can replay it.

While an operation computes, ``sys.stdout``/``sys.stderr`` are teed (the text
still reaches the notebook as it is written) and every warning is recorded
(whatever the filters say, so that a replay elsewhere sees it too) and issued
at once through the user's warning filters, exactly where and when a plain run
would have issued it: between the same writes, and raised as an error where a
filter says so. A reused operation replays both in the order they happened.

What C code writes straight to descriptors 1 and 2 while the operation computes is recorded too, in a
kernel that forwards them (``fd_output``), as ``["fd", stream, text]``; a replay writes those bytes to
the same descriptor, so the notebook receives them as a plain run's.

Only what the operation's own thread writes or warns, and threads it starts, is the operation's: a
thread that was already running (a progress monitor, a timer the notebook started, another kernel
component) writes through unrecorded, as it would have in a plain run. Recorded, its text made the
operation "not quiet" and was replayed at every reuse, beside the thread's own writing of it again.
Nor is what finalizers say while the garbage collector runs inside the operation (``unclosed file``
ResourceWarnings of objects long dropped): when a collection happens is an accident of allocation, so
it is issued as the notebook's filters say, unrecorded. (Recorded, an old cycle collected during one
run's ``read_csv`` made that read "not quiet", and the next run could not defer it.)

What is kept is bounded (``MAX_CAPTURED``, counting each write's text and a fixed cost per entry):
beyond it the log is dropped for a single ``overflow`` entry, the operation is not stored (it could
not be replayed) and its step says why (``unstorable``); the text still reaches the notebook. (A 5 MB
printed output used to become a 19 MB artifact, and a loop of tiny writes a list of millions.)
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import warnings
from typing import Any

from . import fd_output

_OWN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_CAPTURED = 1_000_000  # bytes (about) of output and warnings an operation's log may keep
_ENTRY_COST = 64  # what one entry costs beyond its text


def is_own_file(filename: str) -> bool:
    return filename.startswith(_OWN_DIR)


class _Tee:
    """Writes through to a stream and keeps a copy (in its ``Capture``, within the bound)."""

    def __init__(self, stream: Any, name: str, capture: "Capture"):
        self._stream, self._name, self._capture = stream, name, capture

    def write(self, text: str) -> int:
        if self._capture.its_own():
            self._capture.keep([self._name, text], len(text) if isinstance(text, str) else 0)
        return self._stream.write(text)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._stream, attr)


class Capture:
    """Context manager: tee the streams and record warnings; with the user's ``frame``, also issue
    each warning as it happens (without one, warnings are only recorded: they were replayed)."""

    def __init__(self, tee: bool = True, warnings: bool = True, frame: Any = None) -> None:
        self.tee = tee
        self.record_warnings = warnings
        self.frame = frame
        self.log: list[list] = []  # [["stdout"|"stderr", text] | ["fd", "stdout"|"stderr", latin-1 text]
        #                             | ["warning", category, message, file, line]]
        self.overflowed = False            # more than MAX_CAPTURED: the log is just ``[["overflow"]]``
        self._kept = 0
        self._warnings_cm: Any = None
        self._owner = threading.get_ident()
        self._running_before: list[threading.Thread] = []
        self._collecting_in: int | None = None  # the thread in which a garbage collection runs now

    def __enter__(self) -> "Capture":
        # (1 us; which of them is writing is worked out only when a thread other than this one writes)
        self._owner, self._running_before = threading.get_ident(), threading.enumerate()
        self._out, self._err = sys.stdout, sys.stderr
        if self.tee:
            sys.stdout = _Tee(self._out, "stdout", self)  # type: ignore[assignment]
            sys.stderr = _Tee(self._err, "stderr", self)  # type: ignore[assignment]
            self._stop_listening = fd_output.listening(self._written_to_descriptor)
        if self.record_warnings:
            self._warnings_cm = warnings.catch_warnings()
            self._warnings_cm.__enter__()
            self._user_filters, self._user_show = list(warnings.filters), warnings.showwarning
            warnings.simplefilter("always")
            warnings.showwarning = self._record
        gc.callbacks.append(self._collection)  # (last: a failed enter leaves no callback behind)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._warnings_cm is not None:
            self._warnings_cm.__exit__(*exc)
            self._warnings_cm = None
        if self.tee:
            sys.stdout, sys.stderr = self._out, self._err
            self._stop_listening()
        self._running_before = []
        gc.callbacks.remove(self._collection)
        if len(self.log) > 1 and not self.overflowed:
            self.log[:] = compacted(self.log)

    def its_own(self) -> bool:
        """Is what the calling thread writes or warns now the operation's? Not when the thread was
        running before the operation began (and isn't its own), nor when a garbage collection runs in it."""
        ident = threading.get_ident()
        if ident == self._collecting_in:
            return False
        return ident == self._owner or not any(t.ident == ident and t.is_alive() for t in self._running_before)

    def _collection(self, phase: str, info: dict) -> None:
        self._collecting_in = threading.get_ident() if phase == "start" else None

    def _written_to_descriptor(self, stream: str, text: str) -> None:
        self.keep(["fd", stream, text], len(text))

    def _record(self, message: Any, category: type, filename: str, lineno: int, file: Any = None,
                line: Any = None) -> None:
        """``warnings.showwarning`` while the operation runs: keep it, and issue it as a plain run would.
        (Not the operation's, ``its_own``: only issued.)"""
        entry = ["warning", f"{category.__module__}:{category.__qualname__}", str(message), filename, lineno]
        if not self.its_own():
            if threading.get_ident() != self._owner:  # (the filters are this thread's to change, not another's)
                self._user_show(message, category, filename, lineno, file, line)
            else:
                self._issue_as_the_user(entry, None, message)
            return
        self.keep(entry, len(entry[2]))
        if self.frame is None:
            return
        self._issue_as_the_user(entry, self.frame, message)

    def _issue_as_the_user(self, entry: list, frame: Any, message: Any) -> None:
        """Issue a warning through the user's filters and ``showwarning`` (``frame``: where it points)."""
        with warnings.catch_warnings():
            warnings.resetwarnings()
            warnings.filters.extend(self._user_filters)
            warnings.showwarning = self._user_show
            teed = sys.stdout, sys.stderr
            sys.stdout, sys.stderr = self._out, self._err  # its text is in the log as the warning already
            try:
                _issue(entry, frame, message)
            finally:
                sys.stdout, sys.stderr = teed

    def keep(self, entry: list, size: int) -> None:
        """Add to the log, unless that passes ``MAX_CAPTURED``: then the log becomes one overflow entry."""
        if self.overflowed:
            return
        self._kept += size + _ENTRY_COST
        if self._kept > MAX_CAPTURED:
            self.overflowed = True
            self.log[:] = [["overflow"]]  # (not empty: the operation did write, it isn't quiet)
            return
        self.log.append(entry)

    @property
    def replayable(self) -> bool:
        return not self.overflowed and all(_category(e[1]) is not None for e in self.log if e[0] == "warning")

    @property
    def unstorable(self) -> str | None:
        """Why the operation can't be stored for its output, or None."""
        if self.overflowed:
            return f"not stored: it printed more than {MAX_CAPTURED // 1_000_000} MB, more than a replay keeps"
        return None


def compacted(log: list) -> list:
    """The log with consecutive writes to one stream joined into one entry: the same text in the same
    order, so a replay shows what the writes showed. A call that prints a progress line per iteration
    made thousands of small entries, each an object every full garbage collection walked (and stored
    with the result)."""
    out: list = []
    last_stream = None  # what out[-1] writes to
    run: list[str] = []  # texts of the entry at out[-1], joined when the run ends
    for entry in log:
        stream = _stream_of(entry)
        if stream is not None and stream == last_stream:
            run.append(entry[-1])
            continue
        if run:
            out[-1][-1] = "".join(run)
        out.append(list(entry))
        last_stream, run = stream, [entry[-1]] if stream is not None else []
    if run:
        out[-1][-1] = "".join(run)
    return out


def _stream_of(entry: list) -> tuple | None:
    """What a text entry writes to (("stdout",), ("fd", "stderr")...), None for a warning or overflow."""
    if entry[0] in ("stdout", "stderr") and len(entry) == 2 and isinstance(entry[1], str):
        return (entry[0],)
    if entry[0] == "fd" and len(entry) == 3 and isinstance(entry[2], str):
        return ("fd", entry[1])
    return None


def replay(log: list, frame: Any) -> None:
    """Write recorded output and issue recorded warnings, in order.

    A stream is flushed before the other one is written to: Jupyter sends each stream's text in
    batches, so without it a replay (which writes everything at once) could show the stdout lines
    before a warning that a plain run, where time passed in between, showed first."""
    last = None
    for entry in log:
        stream = "stderr" if entry[0] == "warning" else entry[1] if entry[0] == "fd" else entry[0]
        if last is not None and stream != last:
            _flush(last)
        last = stream
        if entry[0] == "fd":
            _flush(stream)  # (what Python wrote before it reaches the notebook first)
            fd_output.write(stream, entry[2])
        elif entry[0] == "stdout":
            sys.stdout.write(entry[1])
        elif entry[0] == "stderr":
            sys.stderr.write(entry[1])
        elif entry[0] == "warning":
            _issue(entry, frame, None)
    if last is not None:
        _flush(last)


def _flush(stream: str) -> None:
    try:
        getattr(sys, stream).flush()
    except Exception:  # (a closed or odd stream: its text is written already)
        pass


def _category(path: str) -> type | None:
    module, _, qualname = path.partition(":")
    obj: Any = sys.modules.get(module)
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    return obj if isinstance(obj, type) and issubclass(obj, Warning) else None


def _issue(entry: list, frame: Any, message: Any) -> None:
    _, category_path, text, filename, lineno = entry
    category = _category(category_path) or UserWarning
    if is_own_file(filename) and frame is not None:
        # it pointed at the tracer's frame: a plain run would have pointed at the user's line
        filename, lineno, module_globals = frame.f_code.co_filename, frame.f_lineno, frame.f_globals
        registry = module_globals.setdefault("__warningregistry__", {})
        module = module_globals.get("__name__", "__main__")
        warnings.warn_explicit(message if message is not None else category(text), category, filename, lineno,
                               module=module, registry=registry, module_globals=module_globals)
    else:
        warnings.warn_explicit(message if message is not None else category(text), category, filename, lineno)
