"""The bench's choice of demo notebooks (``--notebooks``)."""

import pytest

from collab_reuse.bench import selected_notebooks

NAMES = ["01_introduction.ipynb", "02_feature_engineering.ipynb"]


def test_notebooks_are_chosen_by_stem_or_file_name_in_demo_order():
    assert selected_notebooks(NAMES, None) == NAMES
    assert selected_notebooks(NAMES, ["02_feature_engineering"]) == NAMES[1:]
    assert selected_notebooks(NAMES, ["02_feature_engineering.ipynb", "01_introduction"]) == NAMES


def test_an_unknown_notebook_is_refused_with_the_names_there_are():
    with pytest.raises(SystemExit, match="no demo notebook 03_x; there are 01_introduction, 02_feature_engineering"):
        selected_notebooks(NAMES, ["03_x"])


def test_the_graphscale_part_measures_small_graphs_side_by_side(tmp_path):
    from collab_reuse.bench import graphscale, synthetic_graph
    from collab_reuse.graph import ExperimentGraph

    built = synthetic_graph(tmp_path, 400, stored=30)
    graph = ExperimentGraph(tmp_path)
    assert graph.summary(top=0)["artifacts"] == len(built["ids"]) >= 400 and graph.summary(top=0)["materialized"] == 30
    assert set(built["stored"]) == graph.materialized_ids()
    graph.close_all()
    table, results = graphscale((300, 600), repeats=1, stored=20)
    assert set(results) == {300, 600}
    assert "materialize (3 offered)" in results[600] and all(s >= 0 for s in results[600].values())
    assert table.splitlines()[0].rstrip().endswith("ratio") and len(table.splitlines()) == 1 + len(results[300])


def test_the_graphscale_part_is_skipped_or_sized_by_its_options(capsys):
    from collab_reuse.bench import main

    others = "hashing,tracing,demo,scenarios,plan,corpus,planner,materialize"
    main(["--skip", others + ",graphscale"])
    assert "graphscale" not in capsys.readouterr().out
    main(["--skip", others, "--graphscale-sizes", "200,300"])
    out = capsys.readouterr().out
    assert "built 200 vertices" in out and "built 300 vertices" in out and "materialize (3 offered)" in out


def test_overhead_pairs_report_each_pair_their_median_and_their_sum():
    """One pair's overhead is about the run-to-run noise: the median of several is the figure to quote."""
    from collab_reuse.demo.runner import format_pairs

    line = format_pairs("nb", [(10.0, 11.0), (10.0, 10.2), (20.0, 19.8)])
    assert "10.0/11.0 s (+10.0%), 10.0/10.2 s (+2.0%), 20.0/19.8 s (-1.0%)" in line
    assert "median +2.0%" in line
    assert line.endswith("all pairs: plain 40.0 s, first 41.0 s, +2.5%")
