"""The global random generators an operation may draw from.

An operation is known to be random when it changed numpy's or Python's global
generator state; its identity then includes the state it started from, and a
reuse leaves the generators where the computation would have left them. An
unseeded kernel starts from fresh OS entropy, so its draws never match a
stored one: unseeded randomness is never replaced.
"""

from __future__ import annotations

import random
from typing import Any

import xxhash


def snapshot() -> tuple:
    import numpy as np

    return (np.random.get_state(legacy=True), random.getstate())


def digest(state: tuple) -> str:
    (name, key, pos, has_gauss, gauss), py = state
    h = xxhash.xxh3_128()
    h.update(f"{name}|{pos}|{has_gauss}|{gauss!r}|".encode())
    h.update(key.tobytes())
    h.update(repr(py).encode())
    return h.hexdigest()


def changed(before: tuple, after: tuple) -> bool:
    import numpy as np

    (n1, k1, p1, g1, c1), py1 = before
    (n2, k2, p2, g2, c2), py2 = after
    return p1 != p2 or g1 != g2 or c1 != c2 or py1 != py2 or not np.array_equal(k1, k2)


def to_json(state: tuple) -> dict:
    (name, key, pos, has_gauss, gauss), (version, internal, gauss_next) = state
    return {"np": [name, key.tolist(), int(pos), int(has_gauss), float(gauss)],
            "py": [version, list(internal), gauss_next]}


def restore(data: dict) -> None:
    import numpy as np

    name, key, pos, has_gauss, gauss = data["np"]
    np.random.set_state((name, np.array(key, dtype=np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = data["py"]
    random.setstate((version, tuple(internal), gauss_next))


def is_generator(value: Any) -> bool:
    import numpy as np

    return isinstance(value, (np.random.RandomState, np.random.Generator, random.Random))


def is_global_generator(value: Any) -> bool:
    """numpy's module-level RandomState (``np.random.rand`` and friends draw from it)."""
    import numpy as np

    return value is np.random.mtrand._rand
