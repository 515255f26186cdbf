"""File fingerprints and the identity of notebook functions."""

import ast
import os
import time

from collab_reuse.fingerprint.files import FileFingerprints
from collab_reuse.fingerprint.functions import function_identity


def resolve(value):
    return repr(value)


def test_an_unchanged_file_is_not_read_again(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("a,b\n1,2\n")
    reads = []
    fp = FileFingerprints(lookup=lambda key: None, persist=lambda key, d: reads.append(key))
    first = fp.digest(path)
    assert fp.digest(path) == first
    assert len(reads) == 1


def test_one_changed_byte_changes_the_digest(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("a,b\n1,2\n")
    fp = FileFingerprints()
    before = fp.digest(path)
    path.write_text("a,b\n1,3\n")
    os.utime(path, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    assert fp.digest(path) != before


def test_a_digest_known_to_another_kernel_is_taken_from_the_graph(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("x")
    fp = FileFingerprints(lookup=lambda key: "known")
    assert fp.digest(path) == "known"


def _compile(src, glob=None):
    """Run ``src`` as a notebook cell: in ``__main__``, its source readable as IPython keeps it."""
    import linecache
    import uuid

    name = f"<cell-{uuid.uuid4()}>"
    linecache.cache[name] = (len(src), None, src.splitlines(keepends=True), name)
    ns = {"__name__": "__main__", **(glob or {})}
    exec(compile(src, name, "exec"), ns)
    return ns


def test_comments_and_spacing_do_not_change_identity():
    a = _compile("def f(d):\n    return d * 2\n")["f"]
    b = _compile("def f(d):\n    # doubled\n    return d  *  2\n")["f"]
    assert function_identity(a, resolve) == function_identity(b, resolve)


def test_editing_the_body_changes_identity():
    a = _compile("def f(d):\n    return d * 2\n")["f"]
    b = _compile("def f(d):\n    return d * 3\n")["f"]
    assert function_identity(a, resolve) != function_identity(b, resolve)


def test_a_global_the_function_reads_is_part_of_its_identity():
    a = _compile("def f(d):\n    return d * K\n", {"K": 2})["f"]
    b = _compile("def f(d):\n    return d * K\n", {"K": 3})["f"]
    assert function_identity(a, resolve) != function_identity(b, resolve)


def test_closures_and_called_notebook_functions_count():
    a = _compile("def g(x):\n    return x + 1\ndef f(d):\n    return g(d)\n")["f"]
    b = _compile("def g(x):\n    return x + 2\ndef f(d):\n    return g(d)\n")["f"]
    assert function_identity(a, resolve) != function_identity(b, resolve)
    c1 = _compile("def mk(n):\n    return lambda x: x + n\nf = mk(1)\n")["f"]
    c2 = _compile("def mk(n):\n    return lambda x: x + n\nf = mk(2)\n")["f"]
    assert function_identity(c1, resolve) != function_identity(c2, resolve)


def test_recursive_functions_terminate():
    f = _compile("def f(n):\n    return 1 if n == 0 else f(n - 1)\n")["f"]
    assert function_identity(f, resolve) == function_identity(f, resolve)


CLASS = ("class Sel:\n"
         "    '''picks columns'''\n"
         "    def __init__(self, cols):\n"
         "        self.cols = cols\n"
         "    def transform(self, X):\n"
         "        return X[self.cols] * SCALE\n")


def test_a_notebook_class_is_named_by_its_code_not_its_name():
    from collab_reuse.fingerprint.functions import class_identity

    base = _compile(CLASS, {"SCALE": 2})["Sel"]
    same = _compile(CLASS.replace("'''picks columns'''", "'''chooses columns'''"), {"SCALE": 2})["Sel"]
    edited = _compile(CLASS.replace("* SCALE", "* SCALE + 1"), {"SCALE": 2})["Sel"]
    other_global = _compile(CLASS, {"SCALE": 3})["Sel"]
    assert class_identity(base, resolve) == class_identity(same, resolve)
    assert class_identity(base, resolve) != class_identity(edited, resolve)
    assert class_identity(base, resolve) != class_identity(other_global, resolve)


def test_a_class_naming_itself_and_its_notebook_base_terminates():
    from collab_reuse.fingerprint.functions import class_identity

    ns = _compile("class A:\n    def f(self):\n        return 1\n"
                  "class B(A):\n    def g(self):\n        return super(B, self).f() + B.k\n    k = 2\n")
    ns2 = _compile("class A:\n    def f(self):\n        return 2\n"
                   "class B(A):\n    def g(self):\n        return super(B, self).f() + B.k\n    k = 2\n")
    assert class_identity(ns["B"], resolve) != class_identity(ns2["B"], resolve)


def test_code_a_library_runs_untraced_must_be_free_of_effects():
    from collab_reuse.tracing.purity import reachable_impurity

    ns = _compile("import numpy as np\nseen = []\n"
                  "def pure(v):\n    return np.c_[v, v ** 2]\n"
                  "def noting(env):\n    seen.append(env)\n"
                  "def calls_noting(env):\n    return noting(env) or 1\n"
                  "class Fitting:\n    def fit(self, X):\n        self.n_ = len(X)\n        return self\n"
                  "class Leaking:\n    def transform(self, X):\n        seen.append(len(X))\n        return X\n"
                  "class ChangesInput:\n    def transform(self, X):\n        X['new'] = 1\n        return X\n")
    assert reachable_impurity(ns["pure"]) is None
    assert reachable_impurity(ns["Fitting"]) is None  # a method may change its own instance
    assert "seen" in reachable_impurity(ns["noting"])
    assert "noting" in reachable_impurity(ns["calls_noting"])
    assert "seen" in reachable_impurity(ns["Leaking"])
    assert "X" in reachable_impurity(ns["ChangesInput"])


def test_a_function_that_only_draws_besides_is_pure_for_a_cell_that_calls_it_itself():
    """``drawing``: what a replayable cell's own call of a notebook function may do besides returning,
    its plotting calls (each judged as it runs, the figures replayed); nothing else is let through."""
    from collab_reuse.tracing.cells import only_called
    from collab_reuse.tracing.purity import reachable_impurity

    ns = _compile("import matplotlib.pyplot as plt\nseen = []\n"
                  "def draws(df):\n    df = df.sort_values('b')\n    plt.figure()\n    plt.plot(df.b)\n"
                  "    plt.show()\n    return df\n"
                  "def draws_and_notes(df):\n    plt.plot(df.b)\n    seen.append(1)\n"
                  "def draws_and_writes(df):\n    plt.plot(df.b)\n    open('x.txt', 'w')\n"
                  "def saves(x):\n    plt.savefig('a.png')\n    return x\n"
                  "def draws_and_hands_on(df):\n    plt.plot(df.b)\n    return df.b.apply(saves)\n")
    assert reachable_impurity(ns["draws"]) == "draws it calls plt.figure()"
    assert reachable_impurity(ns["draws"], drawing=True) is None
    assert "seen" in reachable_impurity(ns["draws_and_notes"], drawing=True)
    assert "open" in reachable_impurity(ns["draws_and_writes"], drawing=True)
    # what it reaches is judged as ever: a library may call it untraced (``apply``)
    assert reachable_impurity(ns["draws_and_hands_on"], drawing=True) == "draws_and_hands_on calls saves it calls plt.savefig()"
    tree = ast.parse("top = draws(fi)\ndraws(top.head())\nsns.barplot(data=fi, estimator=agg)\nagg(fi)")
    assert only_called(tree) == {"draws"}  # (``agg`` is passed to a library too, which calls it untraced)
