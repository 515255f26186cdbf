"""The corpus of outside notebooks (corpus/README.md), each at its small test scale, through real kernels.

Per notebook: two plain runs agree (else nothing could be compared; ``corpus.compare_runs`` masks
printed timings and the kernel's pid in warning locations, and ignores how stdout and stderr chunks
interleave; for a notebook whose manifest entry says so, it also ignores the order of printed lines
and accepts, line for line, displayed lines that differ between the two plain runs); the first run with collab_reuse (new
store) and a re-run in a new kernel, started after the first kernel's exit writer finished
(``run_notebook(..., wait_for_writes=True)``), produce exactly the plain run's outputs (plots
included, as the PNGs the inline backend sends) and written files.

Known engine defects are ``xfail(strict=True)`` with the defect as the reason: the test flips to
XPASS (a failure) once the engine is fixed, and the mark must then go.
"""
from __future__ import annotations

import pytest

from collab_reuse.demo import corpus
from collab_reuse.demo.runner import run_notebook, run_parallel

pytestmark = pytest.mark.kernel

ENTRIES = {e.name: e for e in corpus.load_manifest()}

#: engine defects seen on this corpus (issue 20); (phase, reason). "first": the first run with an empty
#: store differs from plain; "rerun": the re-run differs.
KNOWN_DEFECTS: dict[str, tuple[str, str]] = {
}


def _params():
    out = []
    for name in ENTRIES:
        marks = []
        if name in KNOWN_DEFECTS:
            marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_DEFECTS[name][1]))
        out.append(pytest.param(name, marks=marks, id=name))
    return out


@pytest.fixture(scope="module")
def corpus_data(tmp_path_factory):
    return tmp_path_factory.mktemp("corpus-data")


def _prepared(name, tmp_path, data_root):
    entry = ENTRIES[name]
    if entry.raw.get("test_skip"):  # said, not silent: the manifest says why
        pytest.skip(f"{name}: {entry.raw['test_skip']}")
    try:
        notebook = corpus.write_converted(entry, tmp_path / "nb")
    except corpus.CorpusError as exc:  # said, not silent: the original is not on this machine
        pytest.skip(str(exc))
    data = corpus.data_for(entry, data_root, 1.0)
    return entry, notebook, corpus.kernel_env_for(entry, data)


@pytest.mark.parametrize("name", _params())
def test_corpus_notebook_identical_with_reuse(name, tmp_path, corpus_data):
    entry, notebook, env = _prepared(name, tmp_path, corpus_data)
    store = tmp_path / "store"

    def run(label, store_dir=None):
        return lambda: run_notebook(notebook, tmp_path / label, store_dir=store_dir, env=env, timeout=900)

    plain, first = run_parallel(run("plain"), run("first", store))
    plain2, rerun = run_parallel(run("plain2"), run("rerun", store))
    if not entry.raw.get("varies_between_plain_runs"):  # (else plain2 is what says which lines vary)
        assert not (d := corpus.compare_runs(entry, plain, plain2)), "two plain runs differ:\n" + "\n".join(d)
    assert first.extension_loaded and rerun.extension_loaded
    assert not (d := corpus.compare_runs(entry, plain, first, plain2)), \
        "first run differs from plain:\n" + "\n".join(d[:30])
    assert not (d := corpus.compare_runs(entry, plain, rerun, plain2)), \
        "re-run differs from plain:\n" + "\n".join(d[:30])
