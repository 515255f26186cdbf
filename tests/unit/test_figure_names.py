"""Figure names of a replayed cell (kernel/figure_names.py): which values count, how the inputs are
kept, and a stand-in rebuilt from the kept inputs when first read."""
from __future__ import annotations

import ast

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("agg")
import matplotlib.pyplot as plt  # noqa: E402
import scipy.stats  # noqa: E402

from collab_reuse.kernel import figure_names  # noqa: E402
from collab_reuse.tracing import randomness, settings  # noqa: E402


@pytest.fixture(autouse=True)
def no_open_figures():
    plt.close("all")
    yield
    plt.close("all")
    matplotlib.rcdefaults()


def test_figures_axes_grids_and_containers_of_them_are_figure_values():
    fig, axes = plt.subplots(1, 2)
    assert figure_names.is_figure_value(fig) and figure_names.is_figure_value(axes)
    assert figure_names.is_figure_value((fig, axes)) and figure_names.is_figure_value([np.arange(3), axes[0]])
    assert not figure_names.is_figure_value([1, 2]) and not figure_names.is_figure_value(pd.DataFrame())
    assert not figure_names.is_figure_value([axes[0], object()])  # (the other item is not plain)


def test_inputs_are_kept_as_they_were_or_the_cell_is_not_replayed_with_stand_ins():
    df = pd.DataFrame({"a": np.arange(5.0)})
    small, big = np.arange(10.0), np.zeros(figure_names.MAX_COPIED_BYTES // 8 + 1)
    kept = figure_names.kept_inputs({"df": df, "small": small, "norm": scipy.stats.norm, "np": np, "n": 3,
                                     "names": ["a"]}, ["df", "small", "norm", "np", "n", "names", "len"])
    df["a"] = -1.0
    small[0] = 99.0
    assert kept["df"]["a"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0] and kept["small"][0] == 0.0
    assert kept["norm"] is scipy.stats.norm and kept["np"] is np and "len" not in kept
    assert figure_names.kept_inputs({"big": big}, ["big"]) is None
    assert figure_names.kept_inputs({"obj": object()}, ["obj"]) is None


def test_a_stand_in_runs_the_cell_again_once_from_the_kept_inputs_and_is_replaced(capsys):
    source = "f, ax = plt.subplots(figsize=(5, 2))\nax.plot(data)\nprint('shown once')\nnp.random.rand()"
    namespace = {"plt": plt, "np": np, "data": [1.0, 3.0, 2.0]}
    kept = figure_names.kept_inputs(namespace, ["plt", "data", "np"])
    np.random.seed(5)
    rng_before = randomness.full_state_json()
    cell = figure_names.CellToRebuild(ast.parse(source), kept, ["f", "ax"], settings.snapshot(), rng_before,
                                      namespace)
    namespace.update(cell.stand_ins())
    namespace["data"].append(10.0)  # (a later change: the rebuild uses the data as the cell had it)
    plt.rcParams["lines.linewidth"] = 7.0
    np.random.seed(6)
    after = randomness.full_state_json()
    figure_names.rebuild_read_names(ast.parse("print(ax.get_xlim())"), namespace)
    assert type(namespace["ax"]).__name__ == "Axes" and type(namespace["f"]).__name__ == "Figure"
    assert list(namespace["ax"].lines[0].get_ydata()) == [1.0, 3.0, 2.0]
    assert namespace["ax"].lines[0].get_linewidth() == matplotlib.rcParamsDefault["lines.linewidth"]
    assert plt.rcParams["lines.linewidth"] == 7.0 and randomness.full_state_json() == after
    assert plt.get_fignums() == []  # (closed, as the inline backend leaves them)
    assert capsys.readouterr().out == ""  # (what it printed was shown by the replay already)
    assert cell.rebuild() is cell.rebuild()


def test_a_stand_in_read_by_attribute_rebuilds_too():
    namespace = {"plt": plt}
    cell = figure_names.CellToRebuild(ast.parse("fig = plt.figure(figsize=(3, 3))"), {"plt": plt}, ["fig"],
                                      settings.snapshot(), randomness.full_state_json(), namespace)
    namespace.update(cell.stand_ins())
    stand_in = namespace["fig"]
    assert list(stand_in.get_size_inches()) == [3.0, 3.0]
    assert type(namespace["fig"]).__name__ == "Figure"


@pytest.mark.parametrize("code, reads", [
    ("get_ipython().run_line_magic('whos', '')", True),
    ("get_ipython().run_line_magic('who_ls', '')", True),
    ("print(dir())", True),
    ("names = sorted(globals())", True),
    ("get_ipython().run_line_magic('matplotlib', 'inline')", False),
    ("fig2 = plt.figure()", False),
])
def test_a_cell_that_looks_at_the_namespace_gets_every_stand_in_rebuilt(code, reads):
    # (%whos and dir() would otherwise show FigureToRebuild for a replayed cell's figure names)
    assert figure_names._reads_the_namespace(ast.parse(code)) is reads
