"""The corpus bench's inputs (no kernel): each notebook's recorded late edit applies to the part of
the notebook the bench runs, and a notebook the bench runs only in part is cut where the manifest says."""
from __future__ import annotations

import nbformat
import pytest

from collab_reuse.demo import corpus

ENTRIES = corpus.load_manifest()


def _code(nb) -> list[str]:
    return [cell.source for cell in nb.cells if cell.cell_type == "code"]


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_the_bench_edit_changes_one_code_cell_of_what_the_bench_runs(entry):
    try:
        whole = _code(corpus.converted(entry))
    except corpus.CorpusError as exc:  # said, not silent: the original is not on this machine
        pytest.skip(str(exc))
    ran, edited = _code(corpus.converted(entry, whole=False)), _code(corpus.converted(entry, True, whole=False))
    assert len(ran) == (entry.bench_code_cells or len(whole))
    assert ran == whole[:len(ran)]
    assert len(edited) == len(ran)
    assert sum(a != b for a, b in zip(ran, edited)) == 1


def test_a_cut_keeps_the_cells_through_the_last_code_cell_and_refuses_a_count_too_large():
    cells = [nbformat.v4.new_markdown_cell("# a"), nbformat.v4.new_code_cell("x = 1"),
             nbformat.v4.new_markdown_cell("b"), nbformat.v4.new_code_cell("y = 2"), nbformat.v4.new_code_cell("z")]
    assert [c.source for c in corpus._through_code_cell(cells, 2)] == ["# a", "x = 1", "b", "y = 2"]
    with pytest.raises(corpus.CorpusError, match="3 code cells"):
        corpus._through_code_cell(cells, 4)


def test_the_label_says_when_the_bench_ran_only_the_first_cells():
    cut = [e for e in ENTRIES if e.bench_code_cells]
    assert cut, "koehrsen_model_tuning's bench runs its first cells (corpus/manifest.json)"
    for entry in cut:
        assert entry.bench_label(whole=False) == f"{entry.name} (first {entry.bench_code_cells} code cells)"
        assert entry.bench_label(whole=True) == entry.name
