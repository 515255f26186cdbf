"""Which live object holds which artifact: the tracer's memory of the kernel.

Objects are tracked by identity through weak references, so tracking never
keeps a frame alive. When an object is mutated the tracer gives it a new id;
when it may have been mutated in ways the tracer could not follow it is
forgotten (and content-hashed again if traced code uses it later). Arrays that
share memory are forgotten together, and so are pandas objects when pandas
runs without Copy-on-Write (where a view's write reaches its parent).
"""

from __future__ import annotations

import weakref
from collections import deque
from typing import Any, Iterator

from ..fingerprint.values import is_estimator


def pandas_has_cow() -> bool:
    """Copy-on-Write isolates every pandas object from the others (always on in pandas 3)."""
    import pandas as pd

    if int(pd.__version__.split(".", 1)[0]) >= 3:
        return True
    return pd.options.mode.copy_on_write is True


def snapshot(value: Any) -> Any:
    """A copy isolated from the user's further in-place changes (what the store writes later, what a
    deferred operation reads). Cheap under Copy-on-Write; arrays and models come back as they are
    (they are checked unchanged before they are encoded)."""
    module = type(value).__module__.split(".", 1)[0]
    if module != "pandas" or not hasattr(value, "copy"):
        return value
    import pandas as pd

    if isinstance(value, (pd.DataFrame, pd.Series)):
        return value.copy(deep=not pandas_has_cow())
    return value.copy()  # extension arrays, indexes


class _Entry:
    __slots__ = ("ref", "artifact_id", "root", "born")

    def __init__(self, ref: Any, artifact_id: str, root: int | None, born: int):
        self.ref, self.artifact_id, self.root, self.born = ref, artifact_id, root, born


class Registry:
    """id(object) -> artifact id, for objects that are still alive."""

    def __init__(self) -> None:
        self._entries: dict[int, _Entry] = {}
        # weakref callbacks run in whatever thread collects the object (the store's writer too):
        # they only queue the key; the kernel's thread removes entries when it next touches the dict
        self._dead: deque = deque()
        self._on_collected = self._drop  # one callback for every entry (a closure each was 3 more objects
        # that every full garbage collection walks)
        self._cow: bool | None = None
        self.clock = 0  # counts registrations: tells whether an object existed before a point in time

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, obj: Any) -> str | None:
        entry = self._entries.get(id(obj))
        if entry is None or entry.ref() is not obj:
            return None
        return entry.artifact_id

    def set(self, obj: Any, artifact_id: str, born: int | None = None) -> bool:
        """Remember obj's artifact id; False when obj can't be tracked (no weak references).

        ``born``: when the object came to be, if earlier than now (a lazy's value produced later)."""
        self._purge()
        key = id(obj)
        old = self._entries.get(key)
        if old is not None and old.ref() is obj:
            old.artifact_id = artifact_id  # the same object in a new state: it keeps its birth time
            if born is not None:  # (or learns an earlier one: a lazy's value, registered as it was produced)
                old.born = min(old.born, born)
            return True
        try:
            ref = weakref.KeyedRef(obj, self._on_collected, key)
        except TypeError:
            return False
        self.clock += 1
        self._entries[key] = _Entry(ref, artifact_id, _memory_root(obj), self.clock if born is None else born)
        return True

    def tick(self) -> int:
        """Move the clock on for something born outside the registry (a lazy): its birth time."""
        self.clock += 1
        return self.clock

    def existed_before(self, obj: Any, clock: int) -> bool:
        """Was obj known before ``clock``? Unknown objects count as older: they came from outside."""
        entry = self._entries.get(id(obj))
        return entry is None or entry.ref() is not obj or entry.born <= clock

    def _drop(self, ref: weakref.KeyedRef) -> None:
        self._dead.append((ref.key, ref))

    def _purge(self) -> None:
        while self._dead:
            key, ref = self._dead.popleft()
            entry = self._entries.get(key)
            if entry is not None and entry.ref is ref:
                del self._entries[key]

    def forget(self, obj: Any) -> None:
        entry = self._entries.get(id(obj))
        if entry is not None and entry.ref() is obj:
            del self._entries[id(obj)]

    def forget_all(self) -> None:
        self._entries.clear()

    def objects(self) -> Iterator[tuple[Any, str]]:
        self._purge()
        for entry in list(self._entries.values()):
            obj = entry.ref()
            if obj is not None:
                yield obj, entry.artifact_id

    def mutated(self, obj: Any, new_id: str | None, nested_followed: bool = False) -> None:
        """obj changed in place: give it ``new_id`` (or forget it) and forget whatever shares its memory,
        and the estimators nested in it unless ``nested_followed`` (the tracer saw which ones changed)."""
        self._purge()
        root = _memory_root(obj)
        if root is not None:
            for key, entry in list(self._entries.items()):
                if entry.root == root and entry.ref() is not obj:
                    del self._entries[key]
        if _is_pandas(obj) and not self._pandas_isolated():
            for key, entry in list(self._entries.items()):
                other = entry.ref()
                if other is not obj and _is_pandas(other):
                    del self._entries[key]
        for nested in () if nested_followed else _nested_estimators(obj):
            self.forget(nested)
        if new_id is None:
            self.forget(obj)
        else:
            self.set(obj, new_id)

    def _pandas_isolated(self) -> bool:
        if self._cow is None:
            self._cow = pandas_has_cow()
        return self._cow


def _is_pandas(obj: Any) -> bool:
    return type(obj).__module__.startswith("pandas")


def _memory_root(obj: Any) -> int | None:
    """For numpy arrays, the id of the array that owns the memory (views share it)."""
    if type(obj).__module__ != "numpy" or not hasattr(obj, "base"):
        return None
    base = obj
    while getattr(base, "base", None) is not None:
        base = base.base
    return id(base)


def _nested_estimators(obj: Any) -> list[Any]:
    """Estimators inside a meta-estimator are fitted in place along with it."""
    if not is_estimator(obj):
        return []
    try:
        params = obj.get_params(deep=True)
    except Exception:
        return []
    return [v for v in params.values() if is_estimator(v)]
