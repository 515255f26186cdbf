"""The cell rewrite keeps Python's meaning: rewritten code computes what the original does."""

import ast
import builtins

import numpy as np
import pandas as pd
import pytest

from collab_reuse.tracing.rewrite import HOOK, rewrite
from collab_reuse.tracing.runtime import Tracer


class NullBackend:
    """No store: every lookup misses (the tracer still identifies and records)."""

    min_saving = 0.0

    def __init__(self):
        self.steps = []

    def lookup(self, artifact_id):
        return None

    def should_load(self, info, pending_seconds=0.0):
        return False

    def load(self, artifact_id):
        raise KeyError(artifact_id)

    def is_random(self, op_id):
        return False

    def random_parts(self, op_id):
        return ""

    def reports_more_steps(self):
        return True

    def mark_random(self, op_id, parts="np"):
        pass

    def file_digest(self, path):
        return "file"

    def add_step(self, step, candidate):
        self.steps.append(step)

    def quiet_op(self, op_id):
        return None

    def mark_quiet(self, op_id, type_name, seconds):
        pass

    def loadable(self, info):
        return False

    def lease(self, artifact_id, operands=None):
        return True

    def offered(self, artifact_id):
        return False

    def stored_meanwhile(self, artifact_id, operands=None):
        return False

    def release_leases(self, artifact_ids):
        pass

    def pin(self, artifact_id):
        pass


@pytest.fixture
def tracer():
    t = Tracer(NullBackend())
    setattr(builtins, HOOK, t)
    yield t
    delattr(builtins, HOOK)


SNIPPETS = [
    "df = pd.DataFrame({'a': [1, 2, 3]})\ndf['b'] = df['a'] * 2 + 1\nout = df.sum().tolist()",
    "df = pd.DataFrame({'a': [1, 2, 3]})\ndf.loc[df['a'] > 1, 'a'] = 0\nout = df['a'].tolist()",
    "a = np.arange(5)\nv = a[1:3]\nv[0] = 99\nout = a.tolist()",
    "x = 1\nx += 2\nd = {'k': 1}\nd['k'] += 5\nout = (x, d)",
    "df = pd.DataFrame({'a': [1, 2]})\ndel df['a']\nout = list(df.columns)",
    "l = [1, 2, 3]\na, l[0] = 5, 6\nout = (a, l)",
    "class C:\n    def __init__(self):\n        self.v = 1\n    def inc(self):\n        self.v += 1\n        return self\nout = C().inc().v",
    "class B:\n    def f(self):\n        return 1\nclass D(B):\n    def f(self):\n        return super().f() + 1\nout = D().f()",
    "def f(*a, **k):\n    return a, k\nout = f(*[1, 2], **{'z': 3})",
    "out = [i * 2 for i in range(3) if i != 1]",
    "s = pd.Series([3, 1, 2])\nout = (-s).tolist(), (~(s > 1)).tolist(), s[s > 1].tolist()",
    "m = np.ones((2, 2))\nout = (m @ m).tolist()",
    "g = pd.DataFrame({'k': [1, 1, 2], 'v': [1, 2, 3]})\nout = g.groupby('k').agg(total=('v', 'sum'))['total'].tolist()",
    "out = eval('1 + 2'), sorted(locals())[:1]",
]


@pytest.mark.parametrize("src", SNIPPETS)
def test_rewritten_code_computes_the_same(tracer, src):
    plain = {"pd": pd, "np": np}
    exec(compile(src, "<cell>", "exec"), plain)
    traced = {"pd": pd, "np": np}
    exec(compile(rewrite(ast.parse(src)), "<cell>", "exec"), traced)
    assert repr(traced["out"]) == repr(plain["out"])


@pytest.mark.parametrize("src", SNIPPETS)
def test_rewritten_code_computes_the_same_with_the_plain_hooks_where_no_tracer_runs(src):
    import pickle

    from collab_reuse.tracing.plain_hook import PLAIN

    assert not hasattr(builtins, HOOK)
    plain = {"pd": pd, "np": np}
    exec(compile(src, "<cell>", "exec"), plain)
    # (a worker process given a notebook function by value, or the kernel after %unload_ext)
    hooks = pickle.loads(pickle.dumps(Tracer(NullBackend())))
    assert hooks is PLAIN
    rewritten = {"pd": pd, "np": np, HOOK: hooks}
    exec(compile(rewrite(ast.parse(src)), "<cell>", "exec"), rewritten)
    assert repr(rewritten["out"]) == repr(plain["out"])


def test_lines_and_columns_are_kept(tracer):
    tree = rewrite(ast.parse("x = 1\n\ny = foo(x)[0]\n"))
    call = tree.body[1].value
    assert call.lineno == 3


def test_a_column_assignment_gives_the_frame_a_new_id(tracer):
    ns = {"pd": pd}
    exec(compile(rewrite(ast.parse("df = pd.DataFrame({'a': [1]})")), "<cell>", "exec"), ns)
    before = tracer.registry.get(ns["df"])
    exec(compile(rewrite(ast.parse("df['b'] = 2")), "<cell>", "exec"), ns)
    after = tracer.registry.get(ns["df"])
    assert before is not None and after is not None and before != after


def test_writing_through_a_view_forgets_the_base_array(tracer):
    ns = {"np": np}
    exec(compile(rewrite(ast.parse("a = np.arange(5) * 1\nv = a[1:3]")), "<cell>", "exec"), ns)
    assert tracer.registry.get(ns["a"]) is not None
    exec(compile(rewrite(ast.parse("v[0] = 99")), "<cell>", "exec"), ns)
    assert tracer.registry.get(ns["a"]) is None


def test_same_operations_get_the_same_ids_in_a_new_tracer(tracer):
    src = "df = pd.DataFrame({'a': [1, 2]})\nr = df.assign(b=df['a'] * 3)"
    ns1, ns2 = {"pd": pd}, {"pd": pd}
    exec(compile(rewrite(ast.parse(src)), "<cell>", "exec"), ns1)
    other = Tracer(NullBackend())
    setattr(builtins, HOOK, other)
    exec(compile(rewrite(ast.parse(src)), "<cell>", "exec"), ns2)
    assert tracer.registry.get(ns1["r"]) == other.registry.get(ns2["r"]) is not None


def _warnings_of(src, ns, traced):
    import warnings

    code = compile(rewrite(ast.parse(src)) if traced else ast.parse(src), "<cell>", "exec")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        exec(code, ns)
    return [(type(w.message).__name__, w.lineno) for w in caught]


CHAINED = ("df = pd.DataFrame({'A': [1.0, None], 'B': [4, 5]})\n"
           "df['A'].fillna(0, inplace=True)\n"
           "df.B.update(pd.Series([7, 8]))\n"
           "class H:\n    pass\nh = H()\nh.frame = df.copy()\n"
           "h.frame.fillna(-1, inplace=True)\n"
           "out = (df.values.tolist(), h.frame.values.tolist())")


def test_a_chained_in_place_call_warns_as_in_a_plain_run(tracer):
    plain, traced = {"pd": pd}, {"pd": pd}
    assert _warnings_of(CHAINED, traced, True) == _warnings_of(CHAINED, plain, False)
    assert repr(traced["out"]) == repr(plain["out"])


def test_a_receiver_changed_by_a_chained_in_place_call_is_forgotten(tracer):
    ns = {"pd": pd}
    exec(compile(rewrite(ast.parse("class H:\n    pass\nh = H()\nh.frame = pd.DataFrame({'a': [1.0, None]}) * 1")),
                 "<cell>", "exec"), ns)
    assert tracer.registry.get(ns["h"].frame) is not None
    exec(compile(rewrite(ast.parse("h.frame.fillna(0, inplace=True)")), "<cell>", "exec"), ns)
    assert tracer.registry.get(ns["h"].frame) is None
