"""The notebook's warning registry as a replayed cell reads and leaves it (tracing/warning_registry.py)."""
from __future__ import annotations

import warnings

import pytest

from collab_reuse.tracing import warning_registry as wr


@pytest.fixture
def shown(monkeypatch):
    """Python's default filters (show once per location; deprecations ignored); the warnings shown."""
    seen: list[str] = []
    with warnings.catch_warnings():
        warnings.resetwarnings()
        warnings.simplefilter("default")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        monkeypatch.setattr(warnings, "showwarning", lambda message, *args, **kwargs: seen.append(str(message)))
        yield seen


def _warn_in(namespace: dict, text: str, line: int) -> None:
    warnings.warn_explicit(text, UserWarning, "<cell>", line, module="__main__",
                           registry=namespace.setdefault(wr.NAME, {}))


def test_effective_entries_are_those_written_under_the_current_filters(shown):
    ns: dict = {}
    assert wr.entries(ns) == frozenset()
    _warn_in(ns, "careful", 2)
    assert wr.entries(ns) == {("careful", "builtins:UserWarning", 2)}
    with warnings.catch_warnings():  # (changes the filters: the registry is stale from now on)
        pass
    assert wr.entries(ns) == frozenset()


def test_what_a_cell_left_is_left_again_by_its_replay_and_suppresses_the_same_warning(shown):
    ns: dict = {}
    before = wr.entries(ns)
    _warn_in(ns, "careful", 2)
    left = wr.left_by_cell(before, wr.entries(ns))
    assert left == [["careful", "builtins:UserWarning", 2]] and wr.left_by_cell(before, before) is None
    assert wr.can_leave(left) and not wr.can_leave([["careful", "nowhere:Thing", 2]])
    assert not wr.can_leave([["careful", "builtins:int", 2]])  # (not a warning category)
    replayed: dict = {}
    wr.leave(replayed, left)
    assert wr.entries(replayed) == wr.entries(ns)
    count = len(shown)
    _warn_in(replayed, "careful", 2)
    assert len(shown) == count  # (already shown: as after the cell itself)
    wr.leave(replayed, [])  # (a cell that left none: nothing suppressed)
    _warn_in(replayed, "careful", 2)
    assert len(shown) == count + 1


def test_an_entry_that_cant_be_named_makes_the_registry_unknown(shown):
    assert wr.entries({wr.NAME: {"version": wr.filters_version(), ("x", object, 1): True}}) is None
    assert wr.entries({wr.NAME: []}) is None


def test_without_an_ignore_filter_for_the_probe_nothing_is_promised():
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert wr.filters_version() is None
        assert wr.entries({wr.NAME: {"version": 0, ("x", UserWarning, 1): True}}) is None
        assert wr.entries({}) == frozenset()
