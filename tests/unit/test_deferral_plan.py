"""Producing lazies plans the whole pending region at once, exactly: a shared unstored parent is
computed once where loading each child would cost more (the paper's linear pass gets this wrong)."""

from collab_reuse.planner.reuse import PlanVertex, plan_linear
from collab_reuse.tracing.deferral import Deferral
from collab_reuse.tracing.lazy import Lazy, Pending
from collab_reuse.tracing.producer import Producer
from collab_reuse.tracing.registry import Registry


class Recorder:
    """The backend a Deferral needs for producing: loads from a dict, records steps."""

    def __init__(self, stored):
        self.stored, self.loaded, self.steps = stored, [], []

    def load(self, artifact_id):
        self.loaded.append(artifact_id)
        return self.stored[artifact_id], {}, 8, 0.0

    def add_step(self, step, candidate):
        self.steps.append(step)


class Tracer:
    """The parts of a tracer producing lazies uses: the backend, a registry, the producer."""

    def __init__(self, backend):
        self.backend, self.registry = backend, Registry()
        self.producer = Producer(backend)
        self.deferral = Deferral(self)


def diamond(tracer, computed):
    """root (computed, 10) feeds a and b (each computed 1 from root, or loaded for 10)."""
    def compute(name, value, parent=None):
        def run():
            computed.append(name)
            return value if parent is None else value + parent.snapshot
        return run

    root = Pending("root", int, "root", compute=compute("root", 1), compute_seconds=10.0)
    a = Pending("a", int, "a", compute=compute("a", 10, root), parents=(root,), compute_seconds=1.0, load_cost=10.0)
    b = Pending("b", int, "b", compute=compute("b", 20, root), parents=(root,), compute_seconds=1.0, load_cost=10.0)
    return tracer.deferral.new_lazy(a), tracer.deferral.new_lazy(b)


def test_forcing_two_lazies_computes_their_shared_parent_once_instead_of_two_loads():
    backend = Recorder({"a": 11, "b": 21})
    tracer = Tracer(backend)
    computed = []
    a, b = diamond(tracer, computed)
    tracer.deferral.force([a, b])
    assert sorted(computed) == ["a", "b", "root"] and backend.loaded == []  # cost 12, not 20
    assert (a._cr_node.value, b._cr_node.value) == (11, 21)
    # the paper's linear pass would have loaded both
    vertices = {"root": PlanVertex("root", 10.0, None), "a": PlanVertex("a", 1.0, 10.0, parents=("root",)),
                "b": PlanVertex("b", 1.0, 10.0, parents=("root",))}
    assert plan_linear(vertices, ["a", "b"]).load == {"a", "b"}


def test_forcing_one_lazy_loads_it_when_that_is_cheaper():
    backend = Recorder({"a": 11, "b": 21})
    tracer = Tracer(backend)
    computed = []
    a, _b = diamond(tracer, computed)
    tracer.deferral.force([a])  # alone, computing costs 11 > loading 10
    assert backend.loaded == ["a"] and computed == []
    assert a._cr_node.value == 11


def test_a_failed_load_falls_back_to_computing():
    backend = Recorder({})  # nothing is really there: KeyError on load
    backend.load = lambda artifact_id: (_ for _ in ()).throw(KeyError(artifact_id))
    tracer = Tracer(backend)
    computed = []
    a, _b = diamond(tracer, computed)
    assert isinstance(a, int) and type(a) is Lazy  # isinstance sees the value's class, unproduced
    tracer.deferral.force([a])
    assert a._cr_node.value == 11 and sorted(computed) == ["a", "root"]


def test_pandas_results_have_a_deferrable_class_name_whatever_module_pandas_reports():
    """pandas 3 reports ``pandas`` as its frames' module (pandas 2: ``pandas.core.frame``); both must
    name a class that quiet operations can be deferred with, and name it back."""
    import pandas as pd

    from collab_reuse.tracing.deferral import shape_from_name, type_from_name, type_name

    frame = pd.DataFrame({"k": [1, 1, 2], "v": [1.0, 2.0, 3.0]})
    for value in (frame, frame["v"], frame.groupby("k")):
        name = type_name(value)
        assert name is not None, type(value)
        assert type_from_name(name) is type(value)
    assert type_name([1, 2]) is None
    aligned = frame.align(frame[["v"]], join="inner", axis=1)
    assert shape_from_name(type_name(aligned)) == [type(frame), type(frame)]
    assert shape_from_name(type_name(frame)) is type(frame)
    for not_deferrable in ((frame, 1), (frame, (frame, frame)), (), (frame,) * 9):
        assert type_name(not_deferrable) is None


def test_a_produced_node_keeps_a_snapshot_only_for_the_nodes_that_read_it():
    """A snapshot is a copy of the value's blocks (each registering a reference in pandas): a node
    that no pending node reads takes none."""
    tracer = Tracer(Recorder({}))
    a, b = diamond(tracer, [])
    tracer.deferral.force([a, b])
    root = a._cr_node.compute[1][0]
    assert root.readers == 2 and root.snapshot == 1
    assert a._cr_node.readers == 0 and a._cr_node.snapshot is None and a._cr_node.value == 11


def test_an_unstored_operation_computed_in_a_cell_is_not_deferred_again_in_it_and_is_in_the_next():
    tracer = Tracer(Recorder({}))
    deferral = tracer.deferral
    node = Pending("op", int, "op", compute=lambda: 3, compute_seconds=0.5)
    deferral.force([deferral.new_lazy(node)])
    assert "op" in deferral.computed_ops  # (``defer`` returns None for it: its lazies were needed)
    deferral.new_cell()
    assert not deferral.computed_ops


def test_a_collected_lazy_leaves_the_entry_of_a_newer_lazy_under_the_same_id():
    import weakref

    from collab_reuse.tracing.deferral import _LazySet

    tracer = Tracer(Recorder({}))
    unforced = _LazySet()
    old, newer = Lazy(tracer, Pending("old", int, "old")), Lazy(tracer, Pending("newer", int, "newer"))
    unforced.add(old)
    unforced.add(newer)
    key = id(old)
    unforced.by_id[key] = weakref.KeyedRef(newer, unforced._on_collected, key)  # as if newer got old's id
    del old
    assert unforced.by_id[key]() is newer
    del newer
    assert not unforced.by_id
