"""The plan-accuracy bench's notebook edit and summary (the measurement itself is ``make bench``'s)."""
import nbformat

from collab_reuse.demo.plan_accuracy import CellEstimate, format_estimates, with_previews


def test_each_code_cell_is_preceded_by_its_preview():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# t"), nbformat.v4.new_code_cell("%load_ext x"),
                                         nbformat.v4.new_code_cell("a = f(1)"), nbformat.v4.new_code_cell("")])
    sources = [c.source for c in with_previews(nb).cells]
    assert sources == ["# t", "%load_ext x", "%%reuse plan\na = f(1)", "a = f(1)", ""]


def test_the_summary_sets_estimates_beside_measurements():
    text = format_estimates("nb.ipynb", [CellEstimate("re-run", 3, 0.5, 1.0, 0), CellEstimate("re-run", 4, 2.0, 2.0, 1),
                                         CellEstimate("edited", 3, 0.1, 4.0, 2)])
    assert "re-run: 2 cells, estimated 2.5 s, measured 3.0 s (total error -17%)" in text
    assert "median absolute error 0.50 s, largest 0.50 s; cells of 1 s or more: 2, median relative error 50%" in text
    assert "edited: 1 cells, estimated 0.1 s, measured 4.0 s" in text and "2 steps unknown" in text
