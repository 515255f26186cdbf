"""numpy's global random generator, as an input of the operations that draw from it.

An operation is known to be random when it moved numpy's global generator;
its identity then includes the state it started from, and a reuse leaves the
generator where the computation would have left it. An unseeded kernel starts
from fresh OS entropy, so its draws never match a stored one: unseeded
randomness is never replaced.

Watching the state must be cheap (it brackets every traced operation): the
probe reads the MT19937 key and position straight from the bit generator's C
struct (about 1 us; ``get_state`` costs 200 us). The legacy Gaussian cache is
not in that struct, so two states differing only in a cached normal draw share
a probe; a seeded notebook that re-runs the same code never meets that case.
Python's ``random`` module is not watched: the traced libraries draw from numpy.
"""

from __future__ import annotations

import ctypes
import random
from typing import Any

import numpy as np
import xxhash

_MT_BYTES = 624 * 4 + 4  # uint32 key[624]; int pos
_probe_buffer: Any = None
_probe_owner: Any = None


def _buffer() -> Any:
    global _probe_buffer, _probe_owner
    bitgen = np.random.mtrand._rand._bit_generator
    if _probe_owner is not bitgen:
        _probe_buffer = (ctypes.c_char * _MT_BYTES).from_address(bitgen.ctypes.state_address)
        _probe_owner = bitgen
    return _probe_buffer


def snapshot() -> bytes:
    """The global generator's key and position."""
    return bytes(_buffer())


def digest(state: bytes) -> str:
    return xxhash.xxh3_128_hexdigest(state)


def changed(before: bytes, after: bytes) -> bool:
    return before != after


def full_state_json() -> dict:
    """Everything needed to put the generator back where it is now (Gaussian cache included)."""
    name, key, pos, has_gauss, gauss = np.random.get_state(legacy=True)
    return {"np": [name, key.tolist(), int(pos), int(has_gauss), float(gauss)]}


def restore(data: dict) -> None:
    name, key, pos, has_gauss, gauss = data["np"]
    np.random.set_state((name, np.array(key, dtype=np.uint32), pos, has_gauss, gauss))


def is_generator(value: Any) -> bool:
    return isinstance(value, (np.random.RandomState, np.random.Generator, random.Random))


def is_global_generator(value: Any) -> bool:
    """numpy's module-level RandomState (``np.random.rand`` and friends draw from it)."""
    return value is np.random.mtrand._rand
