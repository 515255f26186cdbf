"""What a long cell's report keeps (``kernel/cell_record.reported``): a ``main()`` cell of 900 steps
whose model fits come after 400 column lookups must show its fits, and the places the next run
compares with must not move when cheap steps are left out."""
from __future__ import annotations

from collab_reuse.graph.journal import PLACE_SEP
from collab_reuse.kernel import cell_record
from collab_reuse.kernel.cell_record import MAX_STEPS_PER_REPORT, CellRun
from collab_reuse.tracing.steps import COMPUTED, DEFERRED, NOT_REUSABLE, REUSED, Step


def _cell(steps):
    cell = CellRun("c1", 1)
    cell.steps = steps
    return cell


def _main_cell():
    """450 quick column lookups, then ten fits (the slow steps), a reused aggregate and the impure
    pipeline function around them: what aguiar_lightgbm_simple_features's one cell looks like."""
    steps = [Step(f"get{i}", "DataFrame.__getitem__[]", COMPUTED, seconds=0.00002) for i in range(450)]
    steps += [Step(f"fit{i}", "LGBMClassifier.fit", COMPUTED, kind="model", seconds=0.5) for i in range(10)]
    steps += [Step("agg", "DataFrameGroupBy.aggregate", REUSED, seconds=0.01),
              Step("lazy", "pandas.read_csv", DEFERRED),
              Step(None, "kfold_lightgbm()", NOT_REUSABLE, reason="it calls DataFrame.to_csv", seconds=6.0)]
    return _cell(steps)


def test_a_long_cells_report_keeps_its_slow_and_reused_steps():
    cell = _main_cell()
    report = cell_record.report(cell, "k", "me")
    ops = [s["op"] for s in report["steps"]]
    assert report["truncated"] and len(ops) == MAX_STEPS_PER_REPORT
    assert ops.count("LGBMClassifier.fit") == 10
    assert {"DataFrameGroupBy.aggregate", "pandas.read_csv", "kfold_lightgbm()"} <= set(ops)
    assert ops[-1] == "kfold_lightgbm()"  # the cell's order
    assert report["totals"]["computed"] == 460  # totals count every step


def test_places_of_a_long_cell_are_counted_over_every_step():
    cell = _main_cell()
    report = cell_record.report(cell, "k", "me")
    runs = cell_record.place_runs(cell, "me")
    by_index = {index: key for index, key, _ in runs}
    assert all(report["steps"][index]["id"] is not None for index in by_index)
    fits = [key for index, key in by_index.items() if report["steps"][index]["op"] == "LGBMClassifier.fit"]
    assert [key.rsplit(PLACE_SEP, 1)[-1] for key in fits] == [str(i) for i in range(10)]
    gets = [index for index, key in by_index.items() if report["steps"][index]["op"] == "DataFrame.__getitem__[]"]
    assert len(gets) == MAX_STEPS_PER_REPORT - 13  # the earliest lookups fill what is left


def test_a_short_cell_keeps_every_step_in_order():
    steps = [Step(f"s{i}", "op", COMPUTED, seconds=0.0) for i in range(5)]
    assert cell_record.reported(steps) == [0, 1, 2, 3, 4]
