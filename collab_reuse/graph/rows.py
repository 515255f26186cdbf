"""Checking what the Experiment Graph's rows hold before anything uses it.

SQLite's columns take a value of any type (a ``size`` may hold text), and the
file is shared by every kernel of a store, so a row may be damaged or written
by other code. Every value read is checked here (type and range); a row that
fails is treated as absent by its reader and removed by ``collab-reuse gc``
(``ExperimentGraph.repair``). Nothing unchecked reaches a planner, a load
decision or a user's cell, where a TypeError would look like the user's own.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any, Callable, TypeVar

MAX_INT = 2**63 - 1  # SQLite's INTEGER range
_T = TypeVar("_T")
log = logging.getLogger("collab_reuse")


class BadRow(ValueError):
    """A value of a graph row has the wrong type or is out of range."""


def parsed(parse: Callable[[Any], _T], row: Any, what: str) -> _T | None:
    """``parse(row)``, or None when a value of it is malformed: the row reads as absent (logged, with
    ``what`` it is)."""
    try:
        return parse(row)
    except BadRow as exc:
        log.info("a malformed %s is ignored (collab-reuse gc removes it): %s", what, exc)
        return None


def valid(check: Callable[[Any], Any], value: Any) -> bool:
    """Whether ``check`` accepts ``value``."""
    try:
        check(value)
        return True
    except BadRow:
        return False


def count(value: Any) -> int:
    """A non-negative integer (bytes, counts, tree counts)."""
    if type(value) is not int or not 0 <= value <= MAX_INT:
        raise BadRow(f"not a count: {value!r}")
    return value


def count_text(value: Any) -> int:
    """A count kept as text (the ``meta`` table's budget)."""
    try:
        return count(int(value))
    except (TypeError, ValueError):
        raise BadRow(f"not a count: {value!r}") from None


def seconds(value: Any) -> float:
    """A finite, non-negative number (durations, byte counters kept as REAL)."""
    if type(value) not in (int, float) or not math.isfinite(value) or value < 0:
        raise BadRow(f"not a duration: {value!r}")
    return float(value)


def optional_seconds(value: Any) -> float | None:
    return None if value is None else seconds(value)


def score(value: Any) -> float | None:
    """A model's quality: any finite number, or absent."""
    if value is None:
        return None
    if type(value) not in (int, float) or not math.isfinite(value):
        raise BadRow(f"not a score: {value!r}")
    return float(value)


def text(value: Any) -> str:
    if type(value) is not str or not value:
        raise BadRow(f"not a text: {value!r}")
    return value


def state(value: Any) -> int:
    if type(value) is not int or value not in (0, 1, 2):
        raise BadRow(f"not a state: {value!r}")
    return value


def flag(value: Any) -> bool:
    if type(value) is not int or value not in (0, 1):
        raise BadRow(f"not a flag: {value!r}")
    return bool(value)


def id_list(value: Any) -> list[str]:
    """A JSON list of artifact ids."""
    try:
        items = json.loads(value) if type(value) is str else None
    except ValueError:
        items = None
    if type(items) is not list or not all(type(i) is str and i for i in items):
        raise BadRow(f"not a list of ids: {value!r:.80}")
    return items


def report(value: Any) -> dict:
    """A cell report (JSON object) of the events table."""
    return _object(value, "a cell report")


def json_object(value: Any) -> dict:
    """A JSON object kept as text (a place's call summary)."""
    return _object(value, "a JSON object")


def _object(value: Any, what: str) -> dict:
    try:
        item = json.loads(value) if type(value) is str else None
    except ValueError:
        item = None
    if type(item) is not dict:
        raise BadRow(f"not {what}: {value!r:.80}")
    return item


def reasons(value: Any) -> list[dict] | None:
    """A JSON list of reasons (``planner/why.py``), or absent."""
    if value is None:
        return None
    try:
        items = json.loads(value) if type(value) is str else None
    except ValueError:
        items = None
    if type(items) is not list or not all(type(i) is dict and type(i.get("kind")) is str for i in items):
        raise BadRow(f"not a list of reasons: {value!r:.80}")
    return items


def optional_count(value: Any) -> int | None:
    return None if value is None else count(value)
