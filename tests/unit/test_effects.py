"""What a call changes among its arguments: found by watching, stored as plain data, written back."""

from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import given, strategies as st

from collab_reuse.tracing import effects


class Recorder:
    def __init__(self):
        self.history = []
        self.total = 0
        self.helper = object()


def fill(results):
    results.clear()
    results.setdefault("valid", OrderedDict())["loss"] = [np.float64(0.5), np.float64(0.25)]


def test_a_filled_dict_is_an_effect_and_comes_back_with_its_types():
    results = {"stale": 1}
    watch = effects.Watch((), {"callbacks": [results]})
    fill(results)
    changed = watch.changed()
    assert [p for p, _ in changed] == [(("kw", "callbacks"), ("item", 0))]
    states = watch.after_states(changed)
    paths = [[list(step) for step in p] for p, _ in changed]
    fresh = {"stale": 1}
    args = ((), {"callbacks": [fresh]})
    assert effects.replayable(paths, states, *args)
    effects.replay(paths, states, *args)
    assert fresh == results and type(fresh["valid"]) is OrderedDict
    assert type(fresh["valid"]["loss"][0]) is np.float64


def test_an_object_s_changed_attributes_are_replayed_and_the_others_kept():
    rec = Recorder()
    watch = effects.Watch((rec,), {})
    rec.history.append(3)       # a list it holds, changed in place
    rec.total = 7               # an attribute rebound
    changed = watch.changed()
    assert {effects.describe(p) for p, _ in changed} == {"argument 1", "argument 1.history"}
    states = watch.after_states(changed)
    assert not isinstance(states, str)
    other = Recorder()
    helper = other.helper
    paths = [[list(s) for s in p] for p, _ in changed]
    effects.replay(paths, states, (other,), {})
    assert other.history == [3] and other.total == 7 and other.helper is helper


def test_an_effect_that_holds_an_object_from_before_the_call_is_not_replayable():
    shared = [1]
    box = {}
    watch = effects.Watch((box, shared), {})
    box["x"] = shared
    assert "can't be replayed" in watch.after_states(watch.changed())


def test_nothing_changed_nothing_to_replay():
    data = {"a": [1.0, float("nan")]}
    watch = effects.Watch((data,), {"n": 3})
    assert watch.changed() == []


def test_data_values_and_scratch_state_are_not_watched():
    import lightgbm as lgb

    stopper = lgb.early_stopping(5)
    frame_like = np.zeros(3)
    watch = effects.Watch((frame_like,), {"callbacks": [stopper]})
    stopper.best_score.append(1.0)      # reset at every training: scratch
    frame_like[0] = 1                   # data: the registry's job
    assert watch.changed() == []
    stopper.enabled = False             # lasts beyond the training: an effect
    assert [effects.describe(p) for p, _ in watch.changed()] == ["callbacks[0]"]


def test_a_path_that_is_not_there_is_not_replayable():
    assert not effects.replayable([[["kw", "callbacks"], ["item", 3]]], [[1]], (), {"callbacks": [[]]})
    assert not effects.replayable([[["arg", 0]]], [{"set": {}, "del": []}], ([],), {})


def test_too_much_to_watch_is_refused():
    nested = [[[i] for i in range(10)] for _ in range(50)]
    with pytest.raises(effects.Unwatchable):
        effects.Watch((nested,), {})


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
                    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=3), kids, max_size=4),
                    max_leaves=20))
def test_any_plain_new_content_round_trips(content):
    target = {}
    watch = effects.Watch((target,), {})
    target["v"] = content
    changed = watch.changed()
    states = watch.after_states(changed)
    assert not isinstance(states, str)
    again = {}
    effects.replay([[["arg", 0]]], states, (again,), {})
    assert repr(again) == repr(target)
