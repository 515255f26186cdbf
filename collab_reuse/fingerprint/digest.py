"""Canonical, type-tagged encoding of parameters into a 128-bit digest.

Every value is written with a tag byte so that ``1``, ``1.0``, ``True`` and
``"1"`` never collide. Objects that are not literals are handed to a
``resolve`` callback (the tracer's: a live artifact's id, a content hash, a
function's identity); when it gives up it raises ``Unreusable``.
"""

from __future__ import annotations

import datetime as _dt
import math
import struct
import sys
from typing import Any, Callable

import numpy as np
import xxhash

from ..errors import Unreusable

FORMAT_VERSION = 1
_MAX_DEPTH = 50
_SALT = f"collab_reuse/{FORMAT_VERSION}/py{sys.version_info[0]}.{sys.version_info[1]}".encode()


def digest_parts(*parts: Any, resolve: Callable[[Any], str] | None = None) -> str:
    """Digest of a sequence of parameters (literals, or objects ``resolve`` can name)."""
    enc = Encoder(resolve)
    for part in parts:
        enc.add(part)
    return enc.hexdigest()


class Encoder:
    """Streams a canonical encoding of values into an xxh3-128 state."""

    __slots__ = ("_h", "_resolve")

    def __init__(self, resolve: Callable[[Any], str] | None = None):
        self._h = xxhash.xxh3_128(_SALT)
        self._resolve = resolve

    def hexdigest(self) -> str:
        return self._h.hexdigest()

    def raw(self, tag: bytes, data: bytes) -> None:
        self._h.update(tag + struct.pack("<Q", len(data)) + data)

    def add(self, value: Any, depth: int = 0) -> None:
        if depth > _MAX_DEPTH:
            raise Unreusable("parameter nested too deeply to identify")
        t = type(value)
        if value is None:
            self.raw(b"N", b"")
        elif t is bool:
            self.raw(b"B", b"1" if value else b"0")
        elif t is int:
            self.raw(b"I", str(value).encode())
        elif t is float:
            self.raw(b"F", _float_bytes(value))
        elif t is str:
            self.raw(b"S", value.encode("utf-8", "surrogatepass"))
        elif t is bytes:
            self.raw(b"Y", value)
        elif t is complex:
            self.raw(b"C", _float_bytes(value.real) + _float_bytes(value.imag))
        elif t is tuple or t is list:
            self.raw(b"T" if t is tuple else b"L", str(len(value)).encode())
            for item in value:
                self.add(item, depth + 1)
        elif t is dict:
            # insertion order matters to pandas (agg dicts, rename maps keep it)
            self.raw(b"D", str(len(value)).encode())
            for k, v in value.items():
                self.add(k, depth + 1)
                self.add(v, depth + 1)
        elif t is set or t is frozenset:
            parts = sorted(digest_parts(item, resolve=self._resolve) for item in value)
            self.raw(b"E", "".join(parts).encode())
        elif t is slice:
            self.raw(b"Z", b"")
            for part in (value.start, value.stop, value.step):
                self.add(part, depth + 1)
        elif t is range:
            self.raw(b"R", f"{value.start},{value.stop},{value.step}".encode())
        elif value is Ellipsis:
            self.raw(b".", b"")
        elif t in (_dt.datetime, _dt.date, _dt.time, _dt.timedelta):
            self.raw(b"t", repr(value).encode())
        else:
            self._add_other(value, depth)

    def _add_other(self, value: Any, depth: int) -> None:
        special = _numpy_or_pandas_literal(value)
        if special is not None:
            self.raw(b"X", special)
            return
        if isinstance(value, type) and value.__module__ != "__main__":
            self.raw(b"K", f"{value.__module__}.{value.__qualname__}".encode())
            return  # (a class defined in the notebook is named by its code: the resolver's job)
        if self._resolve is None:
            raise Unreusable(f"can't identify a {type(value).__name__} without a resolver")
        self.raw(b"A", self._resolve(value).encode())


def _float_bytes(x: float) -> bytes:
    if math.isnan(x):
        return b"nan"
    return struct.pack("<d", x)


def _numpy_or_pandas_literal(value: Any) -> bytes | None:
    """Scalars and dtypes of numpy/pandas, encoded by type and value; None if not one."""
    module = type(value).__module__
    if module.startswith("numpy"):
        if isinstance(value, np.generic):
            return f"{value.dtype.str}:".encode() + value.tobytes()
        if isinstance(value, np.dtype):
            return f"dtype:{value.str}:{value!r}".encode()
        return None
    if module.startswith("pandas"):
        import pandas as pd

        if value is pd.NaT:
            return b"NaT"
        if value is pd.NA:
            return b"NA"
        if isinstance(value, (pd.Timestamp, pd.Timedelta, pd.Period, pd.Interval, pd.DateOffset)):
            return f"{type(value).__name__}:{value!r}".encode()
        if isinstance(value, pd.CategoricalDtype):
            from .values import content_digest  # categories are data: hash them, don't trust repr

            cats = "none" if value.categories is None else content_digest(value.categories)
            return f"cat:{value.ordered}:{cats}".encode()
        from pandas.api.extensions import ExtensionDtype

        if isinstance(value, ExtensionDtype):
            return f"edtype:{value!r}:{value.name}".encode()
    return None
