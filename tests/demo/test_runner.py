"""The notebook runner: what it records, and what compare() reports."""
from __future__ import annotations

import copy

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from collab_reuse.demo.__main__ import NotebookReport, format_table
from collab_reuse.demo.runner import compare, normalize_cell_outputs, run_notebook


def _notebook(tmp_path, *cells):
    nb = new_notebook()
    nb.cells = [new_markdown_cell(c[3:]) if c.startswith("MD:") else new_code_cell(c) for c in cells]
    path = tmp_path / "t.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("runner")
    path = _notebook(tmp, "MD:# title", "x = 2\nprint('x is', x)", "1 / 0",
                     "open('out.txt', 'w').write(str(x))\nimport os\nos.makedirs('sub', exist_ok=True)\n"
                     "open('sub/deep.txt', 'w').write('d')\nx * 21",
                     "import sys\nfor i in range(3):\n    print(i)\n    sys.stdout.flush()")
    return run_notebook(path, tmp / "work", env={"SOME_VAR": "1"})


@pytest.mark.kernel
def test_runner_records_outputs_errors_and_files(executed):
    r = executed
    assert [c["cell"] for c in r.outputs] == [1, 2, 3, 4]
    assert [c["execution_count"] for c in r.outputs] == [1, 2, 3, 4]
    assert r.text(1) == "x is 2\n"
    assert r.errors == [(2, "ZeroDivisionError", "division by zero")]
    assert r.outputs[2]["outputs"][0]["data"]["text/plain"] == "42"
    assert r.text(4) == "0\n1\n2\n"  # stream chunks merged
    assert set(r.files) == {"out.txt", "sub/deep.txt"}
    assert r.seconds > 0 and r.kernel_start_seconds > 0 and len(r.cell_seconds) == 4
    assert r.extension_loaded is None


@pytest.mark.kernel
def test_compare_reports_nothing_for_itself_and_each_difference(executed):
    assert compare(executed, executed) == []
    other = copy.deepcopy(executed)
    other.outputs[0]["outputs"][0]["text"] = "x is 3\n"
    other.outputs[2]["execution_count"] = 9
    other.files["out.txt"] = "0" * 64
    del other.files["sub/deep.txt"]
    other.files["extra.csv"] = "1" * 64
    diffs = compare(executed, other)
    assert len(diffs) == 5, diffs
    assert any("cell 1 output 0 text" in d and "+x is 3" in d for d in diffs)
    assert any("execution_count plain 3 != other 9" in d for d in diffs)
    assert "file out.txt: contents differ" in diffs
    assert "file sub/deep.txt: written by plain run, missing in other" in diffs
    assert "file extra.csv: written only by other run" in diffs
    assert compare(executed, other, ignore_files=["out.txt", "sub/deep.txt", "extra.csv"]) != []


def test_stream_chunks_are_merged_and_ansi_removed():
    outs = [{"output_type": "stream", "name": "stdout", "text": "a"},
            {"output_type": "stream", "name": "stdout", "text": ["b\n", "c"]},
            {"output_type": "stream", "name": "stderr", "text": "e"},
            {"output_type": "error", "ename": "E", "evalue": "v", "traceback": ["\x1b[0;31mE\x1b[0m: v"]}]
    norm = normalize_cell_outputs(outs)
    assert [o["output_type"] for o in norm] == ["stream", "stream", "error"]
    assert norm[0]["text"] == "ab\nc"
    assert norm[2]["traceback"] == ["E: v"]


@pytest.mark.kernel
def test_demo_table_lists_each_notebook(executed):
    table = format_table([NotebookReport("t.ipynb", executed)])
    assert "t.ipynb" in table and "speedup" in table and "kernel start" in table


@pytest.mark.kernel
def test_compare_shows_where_a_new_error_was_raised(executed):
    other = copy.deepcopy(executed)
    other.outputs[0]["outputs"] = [{"output_type": "error", "name": None, "text": None, "data": None,
                                    "ename": "RuntimeError", "evalue": "boom",
                                    "traceback": ["Traceback", "File engine.py, line 7, in f", "RuntimeError: boom"]}]
    diffs = compare(executed, other)
    assert any("traceback ends" in d and "engine.py, line 7" in d for d in diffs), diffs


def test_mask_volatile_touches_only_matching_stream_text():
    from collab_reuse.demo.runner import mask_volatile

    outs = [{"output_type": "stream", "name": "stdout", "text": "step - done in 3s\nrows 10\n"},
            {"output_type": "execute_result", "data": {"text/plain": "done in 3s"}, "text": None}]
    masked = mask_volatile(outs, [r" - done in \d+s"])
    assert masked[0]["text"] == "step<volatile>\nrows 10\n"
    assert masked[1] == outs[1]                      # displayed data is never masked
    assert outs[0]["text"].endswith("3s\nrows 10\n")  # the input is not changed


def test_regroup_streams_ignores_interleaving_but_keeps_text_and_displays():
    from collab_reuse.demo.runner import regroup_streams

    def s(name, text):
        return {"output_type": "stream", "name": name, "text": text}

    shown = {"output_type": "display_data", "data": {"text/plain": "x"}}
    a = regroup_streams([s("stdout", "a"), s("stderr", "w"), s("stdout", "b"), shown, s("stdout", "c")])
    b = regroup_streams([s("stdout", "a"), s("stdout", "b"), s("stderr", "w"), shown, s("stdout", "c")])
    assert a == b == [s("stdout", "ab"), s("stderr", "w"), shown, s("stdout", "c")]
    assert regroup_streams([s("stdout", "a"), shown, s("stdout", "b")]) != regroup_streams(
        [s("stdout", "ab"), shown])                  # text moved across a display still differs


@pytest.mark.kernel
def test_the_corpus_bench_names_an_error_the_plain_run_did_not_raise(executed):
    from collab_reuse.demo.corpus import new_errors

    other = copy.deepcopy(executed)
    other.outputs[0]["outputs"] = [{"output_type": "error", "name": None, "text": None, "data": None,
                                    "ename": "NameError", "evalue": "name '__cr__' is not defined",
                                    "traceback": ["NameError: name '__cr__' is not defined"]}]
    assert new_errors(executed, executed) == []  # (the plain run's own ZeroDivisionError is not new)
    assert new_errors(executed, other) == [(1, "NameError", "name '__cr__' is not defined")]
