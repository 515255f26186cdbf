"""Recording what an operation prints and warns, so a reuse can replay it.

While an operation computes, ``sys.stdout``/``sys.stderr`` are teed (the text
still reaches the notebook as it is written) and warnings are recorded, then
re-issued at the user's line, through the user's warning filters and registry,
exactly where a plain run would have issued them. A reused operation replays
both in the order they happened.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any

_OWN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def is_own_file(filename: str) -> bool:
    return filename.startswith(_OWN_DIR)


class _Tee:
    """Writes through to a stream and keeps a copy."""

    def __init__(self, stream: Any, name: str, log: list):
        self._stream, self._name, self._log = stream, name, log

    def write(self, text: str) -> int:
        self._log.append([self._name, text])
        return self._stream.write(text)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._stream, attr)


class Capture:
    """Context manager: tee the streams, hold back warnings until ``reissue``."""

    def __init__(self, tee: bool = True, warnings: bool = True) -> None:
        self.tee = tee
        self.hold_warnings = warnings
        self.log: list[list] = []          # [["stdout"|"stderr", text] | ["warning", category, message, file, line]]
        self._warnings_cm: Any = None
        self._records: list = []

    def __enter__(self) -> "Capture":
        self._out, self._err = sys.stdout, sys.stderr
        if self.tee:
            sys.stdout = _Tee(self._out, "stdout", self.log)  # type: ignore[assignment]
            sys.stderr = _Tee(self._err, "stderr", self.log)  # type: ignore[assignment]
        if self.hold_warnings:
            self._warnings_cm = warnings.catch_warnings(record=True)
            self._records = self._warnings_cm.__enter__()
            warnings.simplefilter("always")
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._warnings_cm is not None:
            self._warnings_cm.__exit__(*exc)
            self._warnings_cm = None
        if self.tee:
            sys.stdout, sys.stderr = self._out, self._err

    def reissue(self, frame: Any) -> None:
        """Issue the recorded warnings as a plain run would have, and keep them for replay."""
        for w in self._records:
            entry = ["warning", f"{w.category.__module__}:{w.category.__qualname__}", str(w.message), w.filename,
                     w.lineno]
            self.log.append(entry)
            _issue(entry, frame, w.message)

    @property
    def replayable(self) -> bool:
        return all(_category(e[1]) is not None for e in self.log if e[0] == "warning")


def replay(log: list, frame: Any) -> None:
    """Write recorded output and issue recorded warnings, in order."""
    for entry in log:
        if entry[0] == "stdout":
            sys.stdout.write(entry[1])
        elif entry[0] == "stderr":
            sys.stderr.write(entry[1])
        elif entry[0] == "warning":
            _issue(entry, frame, None)


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
