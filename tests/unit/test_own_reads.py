"""Files the notebook's own code opens (kernel/own_reads.py): which opens count, through the real audit hook."""

import os
from pathlib import Path

import pytest

from collab_reuse.kernel import own_reads


@pytest.fixture
def seen():
    paths: list[str] = []
    own_reads.watch(paths.append)
    yield paths
    own_reads.unwatch(paths.append)


def _run(code: str, module: str, **names) -> None:
    exec(compile(code, f"/tmp/ipykernel_1/{module}.py", "exec"), {"__name__": module, **names})


def test_reads_by_mode_and_flags():
    assert own_reads.reads("r", 0) and own_reads.reads("rb", 0) and own_reads.reads("r+", 0)
    assert own_reads.reads("w+b", 0) and not own_reads.reads("w", 0) and not own_reads.reads("ab", 0)
    assert own_reads.reads(None, os.O_RDONLY) and own_reads.reads(None, os.O_RDWR | os.O_CREAT)
    assert not own_reads.reads(None, os.O_WRONLY | os.O_CREAT)


def test_what_notebook_code_opens_to_read_is_seen(tmp_path, seen):
    data = tmp_path / "data.json"
    data.write_text("{}")
    _run("import json\njson.load(open(p))", "__main__", p=str(data))
    _run("from pathlib import Path\nPath(p).read_text()", "__main__", p=str(data))  # (through the stdlib)
    _run("import os\nos.close(os.open(p, os.O_RDONLY))", "__main__", p=str(data))
    assert seen == [str(data)] * 3


def test_writes_and_a_librarys_own_reads_are_not(tmp_path, seen):
    data = tmp_path / "data.txt"
    data.write_text("x")
    _run("open(p, 'w').close()", "__main__", p=str(tmp_path / "out.txt"))
    _run("open(p).read()", "somelibrary.fonts", p=str(data))  # (a library's code: its globals aren't __main__)
    Path(data).read_text()  # (this test module's own read)
    assert seen == []


def test_nobody_watching_costs_nothing_and_sees_nothing(tmp_path):
    paths: list[str] = []
    own_reads.watch(paths.append)
    own_reads.unwatch(paths.append)
    (tmp_path / "f").write_text("x")
    _run("open(p).read()", "__main__", p=str(tmp_path / "f"))
    assert paths == []


def test_an_installed_librarys_read_is_not_the_notebooks_even_under_the_pythons_own_lib_dir(tmp_path, seen):
    """(A venv's ``platstdlib`` is its site-packages' parent: a library there is no standard library.)"""
    import pandas

    data = tmp_path / "data.json"
    data.write_text("{}")
    library_file = os.path.join(os.path.dirname(pandas.__file__), "_reader_for_test.py")  # (a library's path)
    code = compile("def read(p):\n    return open(p).read()\n", library_file, "exec")
    library = {"__name__": "pandas._reader_for_test"}
    exec(code, library)
    _run("read(p)", "__main__", p=str(data), read=library["read"])
    assert seen == []


def test_the_stores_own_reads_during_a_cell_are_not_the_notebooks(tmp_path, seen):
    """Another member's namespace is read one path component at a time (``os.open(name, dir_fd=...)``,
    an open of "6d"): counted as the notebook's, every member who loaded a teammate's result became
    confidential (seen in the hub's load test)."""
    from collab_reuse.store import DiskcacheBlobs
    from collab_reuse.store.blobs import ReadOnlyDiskcache
    from collab_reuse.store.keys import content_key

    data = os.urandom(200_000)  # (a value file, not a row)
    key = content_key(data)
    DiskcacheBlobs(tmp_path / "theirs").put(key, data)
    reader = ReadOnlyDiskcache(tmp_path / "theirs")
    got: list[bytes] = []
    _run("got.append(bytes(reader.get(key)))", "__main__", reader=reader, key=key, got=got)
    assert got == [data] and seen == []


def test_an_open_the_tracer_makes_for_the_cell_is_the_notebooks(tmp_path, seen):
    """(A cell's ``open(p)`` is called through collab_reuse's tracing: its frames are passed through.)"""
    data = tmp_path / "data.txt"
    data.write_text("x")
    tracing_file = os.path.join(own_reads._TRACING, "_calls_for_test.py")
    tracer = {"__name__": "collab_reuse.tracing._calls_for_test"}
    exec(compile("def call(f, *a):\n    return f(*a)\n", tracing_file, "exec"), tracer)
    _run("call(open, p).close()", "__main__", p=str(data), call=tracer["call"])
    assert seen == [str(data)]
