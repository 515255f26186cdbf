"""The global random generators (numpy's and Python's ``random``), as inputs of the operations
that draw from them.

An operation is known to be random when it moved a global generator; its identity then includes
the state it started from, and a reuse leaves the generators where the computation would have left
them. An unseeded kernel starts from fresh OS entropy, so its draws never match a stored one:
unseeded randomness is never replaced.

One exception: an operation that reseeds a generator before drawing from it (``xgboost.cv`` calls
``np.random.seed(seed)``; notebook functions often begin with ``np.random.seed(42)``) computes the
same whatever state it started from. While a notebook function or a call of a library known to reseed
(``specs.RESEEDING_PACKAGES``) runs, the module-level ``seed`` and ``set_state`` functions are wrapped
to notice that (``Reseeds``); such a call is named without the state, and its reuse still leaves the
generators where it would have.

Watching the state must be cheap (it brackets every traced operation): the probe reads the MT19937
keys and positions straight from the generators' C structs (about 1 us; ``get_state`` costs 200 us,
``random.getstate`` 20 us). The Gaussian caches are not in those structs, so two states differing
only in a cached normal draw share a probe; a seeded notebook that re-runs the same code never
meets that case.
"""

from __future__ import annotations

import ctypes
import functools
import random
from typing import Any, Callable

import numpy as np
import xxhash

_MT_BYTES = 624 * 4 + 4  # uint32 key[624]; int pos
_PY_BYTES = 4 + 624 * 4  # CPython's RandomObject after its header: int index; uint32_t state[624]
_probe_buffer: Any = None
_probe_owner: Any = None
_np_set_state, _py_setstate = np.random.set_state, random.setstate  # (restore never counts as a reseed)


def _python_probe() -> Any:
    """A view of ``random``'s state in CPython's struct, checked against ``getstate`` once; None
    (``getstate`` then, slower) on an interpreter laid out otherwise."""
    inst = random._inst
    try:
        view = (ctypes.c_char * _PY_BYTES).from_address(id(inst) + 2 * ctypes.sizeof(ctypes.c_void_p))
        _version, internal, _gauss = inst.getstate()
        index = int.from_bytes(bytes(view)[:4], "little", signed=True)
        words = np.frombuffer(bytes(view)[4:], dtype=np.uint32)
        return view if index == internal[-1] and words.tolist() == list(internal[:-1]) else None
    except Exception:
        return None


_py_probe = _python_probe()


def _buffer() -> Any:
    global _probe_buffer, _probe_owner
    bitgen = np.random.mtrand._rand._bit_generator
    if _probe_owner is not bitgen:
        _probe_buffer = (ctypes.c_char * _MT_BYTES).from_address(bitgen.ctypes.state_address)
        _probe_owner = bitgen
    return _probe_buffer


State = tuple[bytes, bytes]  # (numpy's generator, Python's)


def snapshot() -> State:
    """The global generators' keys and positions: numpy's, then Python's."""
    if _py_probe is not None and random._inst is not None:
        return bytes(_buffer()), bytes(_py_probe)
    return bytes(_buffer()), xxhash.xxh3_128_digest(repr(random.getstate()).encode())


_PARTS = {"np": 0, "py": 1}


def digest(state: State, parts: str = "np") -> str:
    """The state of the generators named (``moved``'s answer) as an operation's identity takes it."""
    return xxhash.xxh3_128_hexdigest(b"".join(state[_PARTS[name]] for name in parts.split("+")))


def moved(before: State, after: State) -> str:
    """Which generators moved between two snapshots: "np", "py", "np+py", or "" for none."""
    if before == after:  # (most calls: one comparison)
        return ""
    return "+".join(name for name, part in _PARTS.items() if before[part] != after[part])


def full_state_json() -> dict:
    """Everything needed to put the generators back where they are now (Gaussian caches included)."""
    name, key, pos, has_gauss, gauss = np.random.get_state(legacy=True)
    version, internal, gauss_next = random.getstate()
    return {"np": [name, key.tolist(), int(pos), int(has_gauss), float(gauss)],
            "py": [version, list(internal), gauss_next]}


def restore(data: dict) -> None:
    name, key, pos, has_gauss, gauss = data["np"]
    _np_set_state((name, np.array(key, dtype=np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = data["py"]
    _py_setstate((version, tuple(internal), gauss_next))


class Reseeds:
    """For one running call: per global generator it reseeded, whether that came before any draw
    from it (``first``); a generator it moved otherwise makes its result depend on the state it
    started from."""

    __slots__ = ("before", "first")

    def __init__(self, before: State):
        self.before = before
        self.first: dict[str, bool] = {}

    def __enter__(self) -> "Reseeds":
        if not _open:
            _wrap_seeding(True)
        _open.append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        _open.remove(self)
        if not _open:
            _wrap_seeding(False)

    def depends(self, after: State) -> str:
        """The generators whose state the call's result depends on (as ``moved`` names them): those it
        moved without reseeding them first, and those it drew from before reseeding them (even if it
        left them where they were)."""
        return "+".join(name for name, part in _PARTS.items()
                        if self.first.get(name) is False or (after[part] != self.before[part] and name not in self.first))


_open: list[Reseeds] = []
_SEEDING = ((np.random, "seed", "np"), (np.random, "set_state", "np"), (random, "seed", "py"),
            (random, "setstate", "py"))
_originals = {(module.__name__, name): getattr(module, name) for module, name, _ in _SEEDING}


def _noticing(original: Callable, generator: str) -> Callable:
    part = _PARTS[generator]

    @functools.wraps(original)
    def seeding(*args: Any, **kwargs: Any) -> Any:
        now = snapshot()
        for watch in _open:
            if generator not in watch.first:  # (the first reseed decides)
                watch.first[generator] = now[part] == watch.before[part]
        return original(*args, **kwargs)

    return seeding


_wrapped = {key: _noticing(fn, generator) for (key, fn), (_, _, generator) in zip(_originals.items(), _SEEDING)}


def _wrap_seeding(on: bool) -> None:
    for module, name, _ in _SEEDING:
        key = (module.__name__, name)
        current, wrapped = getattr(module, name), _wrapped[key]
        if on and current is _originals[key]:
            setattr(module, name, wrapped)
        elif not on and current is wrapped:  # (a notebook that replaced it itself keeps its own)
            setattr(module, name, _originals[key])


def reseeds_global(module: str, name: str, receiver: Any) -> bool:
    """``np.random.seed(...)`` / ``np.random.set_state(...)``: a call that sets numpy's global generator."""
    return name in ("seed", "set_state") and (module or "").split(".", 1)[0] == "numpy" \
        and (receiver is None or receiver is np.random.mtrand._rand)


def is_generator(value: Any) -> bool:
    return isinstance(value, (np.random.RandomState, np.random.Generator, random.Random))


def is_global_generator(value: Any) -> bool:
    """numpy's module-level RandomState (``np.random.rand`` and friends draw from it)."""
    return value is np.random.mtrand._rand
