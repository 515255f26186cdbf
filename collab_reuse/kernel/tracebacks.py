"""Tracebacks without collab_reuse's frames.

An exception raised inside a traced operation unwinds through the tracer's
frames. IPython would list them (or print "[... skipping hidden N frame]"),
which a plain run does not. The traceback formatter is wrapped so that those
frames are cut from the chain before formatting; everything else is IPython's.
"""

from __future__ import annotations

import types
from typing import Any

from ..tracing.capture import is_own_file


def strip_own_frames(tb: types.TracebackType | None) -> types.TracebackType | None:
    """The same traceback chain without frames whose code lives in collab_reuse."""
    entries = []
    while tb is not None:
        if not is_own_file(tb.tb_frame.f_code.co_filename):
            entries.append((tb.tb_frame, tb.tb_lasti, tb.tb_lineno))
        tb = tb.tb_next
    out = None
    for frame, lasti, lineno in reversed(entries):
        out = types.TracebackType(out, frame, lasti, lineno)
    return out


def _strip_chain(value: Any, seen: set[int]) -> None:
    while isinstance(value, BaseException) and id(value) not in seen:
        seen.add(id(value))
        if value.__traceback__ is not None:
            value.__traceback__ = strip_own_frames(value.__traceback__)
        _strip_chain(value.__cause__, seen)
        value = value.__context__


class StrippingFormatter:
    """Delegates to IPython's traceback formatter after cutting our frames out."""

    def __init__(self, inner: Any):
        self.inner = inner

    def structured_traceback(self, etype: Any, evalue: Any, etb: Any = None, tb_offset: Any = None,
                             *args: Any, **kwargs: Any) -> Any:
        if isinstance(etb, types.TracebackType):
            etb = strip_own_frames(etb)
            _strip_chain(evalue, set())
        return self.inner.structured_traceback(etype, evalue, etb, tb_offset, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
