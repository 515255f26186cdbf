"""Writes carried from one process to another: the frames on the pipe that feeds the exit writer.

A frame is ``CRW1``, the lengths of its JSON header and of its payload (8 bytes each, little
endian), the header (``{"kind", "fields", "sizes"}``) and the payload's parts back to back. JSON and
raw bytes only, so the reader runs nothing it reads (no pickle), and a frame cut short (its writer
killed by its time limit) is dropped whole: a write is applied entirely or not at all.

Only the standard library here: the exit writer starts reading its pipe before it imports
anything heavier, so the process feeding it never waits on a full pipe.
"""

from __future__ import annotations

import fcntl
import json
import os
import struct
from typing import BinaryIO, Iterator

MAGIC = b"CRW1"
_LENGTHS = struct.Struct("<QQ")
_F_SETPIPE_SZ = 1031  # Linux: a larger pipe buffer absorbs what is sent before the reader runs

Frame = tuple[str, dict, list[bytes]]  # (kind, fields, payload parts)


def widen(fd: int, size: int = 1 << 20) -> None:
    try:
        fcntl.fcntl(fd, _F_SETPIPE_SZ, size)
    except OSError:
        pass


def send(fd: int, kind: str, fields: dict, payloads: list[bytes]) -> None:
    """Write one frame to ``fd`` (blocking; a pipe takes it in pieces)."""
    header = json.dumps({"kind": kind, "fields": fields, "sizes": [len(p) for p in payloads]}).encode()
    _write_all(fd, MAGIC + _LENGTHS.pack(len(header), sum(len(p) for p in payloads)) + header)
    for part in payloads:
        _write_all(fd, part)


def frames(stream: BinaryIO) -> Iterator[Frame]:
    """The frames on ``stream`` in order, until its end or a frame that is short or malformed."""
    while True:
        start = _read_exactly(stream, len(MAGIC) + _LENGTHS.size)
        if start is None or start[:len(MAGIC)] != MAGIC:
            return
        header_size, payload_size = _LENGTHS.unpack(start[len(MAGIC):])
        header_bytes = _read_exactly(stream, header_size)
        if header_bytes is None:
            return
        try:
            header = json.loads(header_bytes)
            kind, fields, sizes = header["kind"], header["fields"], header["sizes"]
            if type(kind) is not str or type(fields) is not dict \
                    or not all(type(n) is int and n >= 0 for n in sizes) or sum(sizes) != payload_size:
                return
        except (ValueError, KeyError, TypeError):
            return
        parts = [_read_exactly(stream, size) for size in sizes]  # each its own bytes: no copy of the whole
        if any(part is None for part in parts):
            return
        yield kind, fields, parts  # type: ignore[misc]


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    data = stream.read(size)
    return data if data is not None and len(data) == size else None
