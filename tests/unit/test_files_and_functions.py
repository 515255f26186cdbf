"""File fingerprints and the identity of notebook functions."""

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
    ns = {"__name__": "__main__", **(glob or {})}
    exec(compile(src, "<cell>", "exec"), ns)
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
