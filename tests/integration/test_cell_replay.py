"""Cells whose only effect is what they display replay their stored outputs (figures byte for
byte) in a new kernel; any other cell runs. Through real kernels: the inline backend's figures and
the display messages only exist there."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from collab_reuse.demo.runner import compare, run_notebook
from collab_reuse.graph import ExperimentGraph
from collab_reuse.kernel.handoff import wait_for_writers
from collab_reuse.kernel.replay import CellReplays

pytestmark = pytest.mark.kernel

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
LABEL = CellReplays.LABEL


def cell_statuses(store, kernel_id) -> dict[int, str]:
    """execution count -> status of the cell's own step, for the cells judged replayable."""
    out = {}
    for event in ExperimentGraph(store).events(kernel_id=kernel_id, limit=100000):
        for step in event["steps"]:
            if step["op"] == LABEL:
                out[event["execution_count"]] = step["status"]
    return out


def three_runs(notebook, tmp_path):
    store = tmp_path / "store"
    plain = run_notebook(notebook, tmp_path / "plain", timeout=300)
    first = run_notebook(notebook, tmp_path / "first", store_dir=store, timeout=300)
    wait_for_writers(store)
    again = run_notebook(notebook, tmp_path / "again", store_dir=store, timeout=300)
    return store, plain, first, again


def identical_runs(notebook, tmp_path):
    """``three_runs``, with the first run and the re-run both giving the plain run's outputs."""
    store, plain, first, again = three_runs(notebook, tmp_path)
    assert not (diffs := compare(plain, first)), "\n".join(diffs)
    assert not (diffs := compare(plain, again)), "\n".join(diffs)
    return store, plain, first, again


def test_plot_cells_replay_their_figures_and_the_others_run(tmp_path):
    store, plain, first, again = identical_runs(NOTEBOOKS / "plots.ipynb", tmp_path)
    # kde, histograms in a loop (binding i and col), heatmap (binding corr), df.hist, figures bound to
    # names (7, 12: rebuilt only if read), a seeded random plot
    replayed = {2, 3, 4, 5, 7, 9, 12}
    assert cell_statuses(store, first.kernel_id) == {n: "computed" for n in replayed}
    assert cell_statuses(store, again.kernel_id) == {n: "reused" for n in replayed}
    # the savefig cell and the rest ran: their outputs and file are there
    assert "bars.png" in again.files and again.files["bars.png"] == plain.files["bars.png"]
    assert sum(again.cell_seconds[i - 1] for i in replayed) < 0.5 * sum(plain.cell_seconds[i - 1] for i in replayed)


def _notebook(path: Path, cells: list[str]) -> Path:
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells]), path)
    return path


SETUP = ("import numpy as np, pandas as pd, matplotlib.pyplot as plt, seaborn as sns\n"
         "df = pd.DataFrame({'a': np.arange(3000) % 7, 'b': np.arange(3000) * 0.5})")


@pytest.mark.parametrize("cell, why, random", [
    ("seen = [1]\nseen.append(1)\nplt.plot(df.a[:50]);", "changes a list it did not make", False),
    ("sns.barplot(x='a', y='b', data=df)", "bootstraps with unseeded random numbers", True),
    ("plt.plot(np.random.rand(20));", "draws from numpy's unseeded global generator", True),
    ("with open('log.txt', 'a') as f:\n    f.write('x')\nplt.plot(df.b[:9]);", "writes a file", False),
    ("plt.style.use('ggplot')\nplt.plot(df.a[:9]);", "changes the global style through style.use", False),
    ("plt.plot(df.b[:9])\nplt.show()\nplt.plot(df.a[:9]);", None, False),  # replayable: the control case
])
def test_a_cell_with_an_effect_besides_its_figures_runs_every_time(tmp_path, cell, why, random):
    if why and "list" in why:  # (the list is made in an earlier cell)
        cells = [SETUP + "\nseen = []", cell.replace("seen = [1]\n", "")]
    else:
        cells = [SETUP, cell]
    store, plain, first, again = three_runs(_notebook(tmp_path / "case.ipynb", cells), tmp_path)
    status = cell_statuses(store, again.kernel_id).get(2)
    if why is None:
        assert status == "reused"
    else:
        assert status != "reused", f"replayed a cell that {why}"
    if not random:  # (an unseeded draw differs between any two runs)
        assert not (diffs := compare(plain, again)), "\n".join(diffs)


def test_a_cell_that_changes_the_plotting_settings_replays_and_leaves_them_as_it_did(tmp_path):
    # sns.set() (rcParams and the colour codes), rcParams set by item, a seaborn context: later cells
    # print settings and draw with the colour code "b", so a replay that left anything else differs
    cells = [SETUP,
             "sns.set()\nplt.rcParams['figure.figsize'] = (7, 3)\n"
             "sns.pairplot(df.iloc[:300])\nplt.show()",
             "sns.set_context('talk')\nplt.plot(df.b[:30], 'b');",
             "print(plt.rcParams['axes.facecolor'], plt.rcParams['figure.figsize'], plt.rcParams['font.size'])\n"
             "import matplotlib\nprint(matplotlib.colors.to_rgb('b'), plt.rcParams['axes.prop_cycle'])",
             "plt.plot(df.a[:20], 'b');"]
    store, plain, first, again = identical_runs(_notebook(tmp_path / "settings.ipynb", cells), tmp_path)
    statuses = cell_statuses(store, again.kernel_id)
    assert statuses.get(2) == "reused" and statuses.get(3) == "reused" and statuses.get(5) == "reused"
    assert "(0.2980392156862745, 0.4470588235294118, 0.6901960784313725)" in str(again.outputs[3])  # (deep blue)


def test_a_cell_binding_its_figures_replays_and_rebuilds_them_when_a_later_cell_reads_them(tmp_path):
    # f, ax = plt.subplots(): the figure names get stand-ins; cell 4 changes df in place (the rebuild
    # must use the frame as cell 2 saw it), cell 5 reads ax and f (rebuilt, as in the plain run), cell 6
    # saves f to a file, cell 7 binds a PairGrid nobody reads
    cells = [SETUP,
             "f, ax = plt.subplots(figsize=(8, 6))\nsns.boxplot(x='a', y='b', data=df)\nax.set_title('b by a');",
             "axes = plt.subplots(1, 2)[1]\naxes[0].plot(df.b[:40]);",
             "df['b'] = df['b'] * 2",
             "print(ax.get_ylim(), ax.get_title(), f.get_size_inches(), len(axes), axes[0].get_xlim())",
             "f.savefig('f.png', dpi=50)",
             "g = sns.pairplot(df.iloc[:200])"]
    store, plain, first, again = identical_runs(_notebook(tmp_path / "figures.ipynb", cells), tmp_path)
    statuses = cell_statuses(store, again.kernel_id)
    assert statuses.get(2) == "reused" and statuses.get(3) == "reused" and statuses.get(7) == "reused", statuses
    assert again.files["f.png"] == plain.files["f.png"]
    log = (store / "collab_reuse.log").read_text()
    assert log.count("ran a replayed cell again for its figure names") == 2, log  # (cells 2 and 3; not 7)


def test_a_warning_shown_once_per_line_stays_shown_once_whether_cells_replay_or_run(tmp_path):
    # seaborn's distplot warns at the calling line; the notebook's globals keep one registry for all
    # cells, so the same warning at the same line of a later cell is not shown again, unless the
    # warning filters changed in between (the libraries' catch_warnings change them all the time)
    store = tmp_path / "store"
    first_nb = _notebook(tmp_path / "a.ipynb", [SETUP, "sns.distplot(df.b);", "sns.distplot(df.a);"])
    run_notebook(first_nb, tmp_path / "a", store_dir=store, timeout=300)
    wait_for_writers(store)
    # cell 2 replays (and must leave its registry entry), cell 3 changed runs: no warning, as plainly
    edited = _notebook(tmp_path / "b.ipynb", [SETUP, "sns.distplot(df.b);", "sns.distplot(df.a, bins=7);"])
    plain = run_notebook(edited, tmp_path / "b-plain", timeout=300)
    reused = run_notebook(edited, tmp_path / "b", store_dir=store, timeout=300)
    assert "distplot" in str(plain.outputs[1])
    assert not (diffs := compare(plain, reused)), "\n".join(diffs)
    assert cell_statuses(store, reused.kernel_id) == {2: "reused", 3: "computed"}
    wait_for_writers(store)
    # the text of a.ipynb's cell 3 first, with nothing shown before: its stored outputs (no warning) don't fit
    alone = _notebook(tmp_path / "c.ipynb", [SETUP, "sns.distplot(df.a);"])
    plain = run_notebook(alone, tmp_path / "c-plain", timeout=300)
    again = run_notebook(alone, tmp_path / "c", store_dir=store, timeout=300)
    assert "distplot" in str(plain.outputs[1])
    assert not (diffs := compare(plain, again)), "\n".join(diffs)


def test_values_a_replayed_cell_binds_keep_their_lineage_so_later_steps_still_reuse(tmp_path):
    # cell 2 drops rows and draws (replayed in the re-run: df comes from the store); cell 3's aggregation
    # must be named as in the first run, so that it is reused, not recomputed as from an unknown frame
    cells = [SETUP,
             "df = df.drop(df[df.a == 3].index)\nfig, ax = plt.subplots()\nax.scatter(x=df.a[:300], y=df.b[:300]);",
             "agg = df.groupby('a').agg(['mean', 'std', 'median', 'max'])\nprint(agg.round(3).to_string())"]
    store, plain, first, again = identical_runs(_notebook(tmp_path / "lineage.ipynb", cells), tmp_path)
    assert cell_statuses(store, again.kernel_id).get(2) == "reused"
    graph = ExperimentGraph(store)
    ids = {kernel: {s["id"] for e in graph.events(kernel_id=kernel, limit=1000) if e["execution_count"] == 3
                    for s in e["steps"] if s["op"] == "DataFrameGroupBy.aggregate"}
           for kernel in (first.kernel_id, again.kernel_id)}
    assert ids[first.kernel_id] and ids[first.kernel_id] == ids[again.kernel_id]


def test_a_replayed_cells_displayed_result_is_the_text_shown_before_its_figure_was_drawn(tmp_path):
    # plt.ylabel returns a Text whose position moves once the inline backend draws the figure: the
    # result must be recorded as IPython showed it, not formatted again after the drawing
    cells = [SETUP, "plt.plot([1, 2, 3])\nplt.ylabel('rmse')"]
    store, plain, first, again = three_runs(_notebook(tmp_path / "result.ipynb", cells), tmp_path)
    assert "Text(0, 0.5, 'rmse')" in str(plain.outputs[1])
    assert not (diffs := compare(plain, again)), "\n".join(diffs)
    assert cell_statuses(store, again.kernel_id).get(2) == "reused"


def test_a_replay_binds_the_values_as_the_cell_left_them_not_as_later_cells_changed_them(tmp_path):
    # the store encodes a cell's bound values after later cells ran (no idle time between cells):
    # cell 3 changes cell 2's frame, list and array in place; cell 2's replay must bind them unchanged
    cells = [SETUP,
             "small = df.iloc[:50].copy()\nseen = [1, 2]\nvalues = np.arange(5.0)\nplt.plot(small.b);",
             "small['b'] = np.log1p(small['b'])\nseen.append(3)\nvalues[0] = 99.0",
             "print(small.b.sum().round(6), seen, values)"]
    store, plain, first, again = identical_runs(_notebook(tmp_path / "later.ipynb", cells), tmp_path)
    assert cell_statuses(store, again.kernel_id).get(2) == "reused"


def test_a_plot_cell_that_starts_with_imports_runs_them_and_replays_the_rest(tmp_path):
    """Kaggle-style plot cells import what they plot with first. A replay runs the imports (they bind
    their names, and whatever importing prints is printed by the import itself, once) and replays the
    rest. A cell that imports after its first other statement still runs."""
    (tmp_path / "chatty.py").write_text("print('chatty imported')\nWIDTH = 7\n")
    cells = [
        "import sys; sys.dont_write_bytecode = True; sys.path.insert(0, '.')\nimport numpy as np, pandas as pd\n"
        "df = pd.DataFrame({'a': np.arange(3000) % 7, 'b': np.arange(3000) * 0.5})",
        "import seaborn as sns\nimport matplotlib.pyplot as plt\nfrom chatty import WIDTH\n"
        "print('width', WIDTH)\nsns.histplot(df.b, bins=WIDTH)\nplt.title('b');",
        "print(sns.__name__, plt.__name__, WIDTH)",
        "x = 1\nimport chatty\nplt.plot(df.a[:9]);",
    ]
    notebook = _notebook(tmp_path / "imports.ipynb", cells)
    for name in ("plain", "first", "again"):  # (the notebook's module is found in each run's directory)
        (tmp_path / name).mkdir()
        (tmp_path / name / "chatty.py").write_text((tmp_path / "chatty.py").read_text())
    store, plain, first, again = identical_runs(notebook, tmp_path)
    shown = "".join(o.get("text") or "" for o in again.outputs[1]["outputs"])
    assert shown.count("chatty imported") == 1 and "width 7" in shown
    assert any("image/png" in (o.get("data") or {}) for o in again.outputs[1]["outputs"])
    assert cell_statuses(store, first.kernel_id) == {2: "computed"}
    assert cell_statuses(store, again.kernel_id) == {2: "reused"}


def test_a_plot_cell_that_defines_a_helper_defines_it_again_and_replays_the_rest(tmp_path):
    """A helper defined in the plot cell that draws with it (koehrsen_start_here's PairGrid cell): a
    replay defines it again (the same code at the same lines, so a later cell calling it gets the same)
    and replays the rest. A helper whose name the cell binds again, or a
    decorated one, keeps the cell running."""
    cells = [
        SETUP,
        "def label(ax, text):\n    ax.annotate(text, xy=(.2, .8), xycoords=ax.transAxes)\n"
        "fig, ax = plt.subplots()\nax.plot(df.a[:30])\nlabel(ax, 'r = %.2f' % df.a.corr(df.b))\nprint('drawn');",
        "print(label.__name__, label.__code__.co_firstlineno)\nfig2, ax2 = plt.subplots()\nlabel(ax2, 'again')\n"
        "print(ax2.texts[0].get_text())\nplt.close(fig2)",
        "def label(ax):\n    ax.set_title('t')\nlabel = label\nplt.plot(df.b[:9]);",
    ]
    store, plain, first, again = identical_runs(_notebook(tmp_path / "helper.ipynb", cells), tmp_path)
    assert again.text(2) == "label 1\nagain\n"
    assert cell_statuses(store, first.kernel_id) == {2: "computed"}
    assert cell_statuses(store, again.kernel_id) == {2: "reused"}


def test_a_cell_that_calls_a_notebook_function_that_draws_replays(tmp_path):
    """``fi_sorted = plot_feature_importances(fi)`` (koehrsen_start_here's four importance cells): the
    function draws with ``plt`` and returns a frame. Called by the cell itself, its body runs traced and
    each of its calls is judged as it runs: its figure and the frame it returns replay; a function that
    also saves its figure to a file keeps its cell running (the file is written at every run)."""
    helper = ("def plot_top(df, n):\n    df = df.sort_values('b', ascending=False).reset_index()\n"
              "    df['share'] = df['b'] / df['b'].sum()\n    plt.figure(figsize=(4, 3))\n"
              "    ax = plt.subplot()\n    ax.barh(list(df.index[:n]), df['share'].head(n))\n"
              "    plt.title('top'){save}\n    plt.show()\n    return df\n")
    cells = [SETUP, helper.format(save=""), helper.format(save="; plt.savefig('top.png')").replace("plot_top", "save_top"),
             "top = plot_top(df, 8)\ntop.shape", "saved = save_top(df, 5)", "print(top['share'].head(3).round(6).tolist())"]
    store, plain, first, again = identical_runs(_notebook(tmp_path / "drawing.ipynb", cells), tmp_path)
    assert again.files["top.png"] == plain.files["top.png"]
    assert cell_statuses(store, first.kernel_id) == {4: "computed"}
    assert cell_statuses(store, again.kernel_id) == {4: "reused"}
