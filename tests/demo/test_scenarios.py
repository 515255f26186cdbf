"""The benchmark's modified-notebook scenarios edit the demo notebook as they say."""

import nbformat

from collab_reuse.demo.__main__ import NOTEBOOKS_DIR
from collab_reuse.demo.scenarios import FINAL_MODEL_CALL, LATE_FEATURE, feature_added_late, learning_rate_changed

FE = NOTEBOOKS_DIR / "02_feature_engineering.ipynb"


def code(nb):
    return [c.source for c in nb.cells if c.cell_type == "code"]


def test_learning_rate_changed_edits_only_the_final_model_call():
    original = nbformat.read(FE, as_version=4)
    edited, index = learning_rate_changed(original)
    before, after = code(original), code(edited)
    changed = [i for i, (a, b) in enumerate(zip(before, after)) if a != b]
    assert changed == [index] and "learning_rate=0.05)" in after[index] and FINAL_MODEL_CALL in before[index]


def test_feature_added_late_inserts_one_cell_before_the_models():
    original = nbformat.read(FE, as_version=4)
    edited, index = feature_added_late(original)
    after = code(edited)
    assert len(after) == len(code(original)) + 1 and after[index] == LATE_FEATURE
    assert after[:index] == code(original)[:index]
    assert any("model(train_control" in src for src in after[index + 1:])


def _run(seconds, cells):
    from collab_reuse.demo.runner import RunResult

    return RunResult("n.ipynb", seconds, 0.5, None, [], {}, "k", ".", cell_seconds=cells)


def test_scenario_pairs_are_each_shown_and_summed():
    from collab_reuse.demo.scenarios import ScenarioReport, format_scenarios

    reports = [ScenarioReport("lr changed", _run(100.0, [40.0, 60.0]), _run(50.0, [1.0, 49.0]), 1, [], 1),
               ScenarioReport("lr changed", _run(110.0, [40.0, 70.0]), _run(55.0, [1.0, 54.0]), 1, [], 2)]
    text = format_scenarios(reports)
    assert "lr changed [pair 1]" in text and "lr changed [pair 2]" in text
    assert "1.20x" in text and "1.27x" in text  # old kernel / ours per pair: 60/50, 70/55
    assert ("lr changed, all 2 pairs: plain 210.0 s, old kernel 130.0 s, collab_reuse 105.0 s: 2.0x vs plain, "
            "1.24x vs old kernel") in text


def test_one_pair_keeps_the_plain_table():
    from collab_reuse.demo.scenarios import ScenarioReport, format_scenarios

    text = format_scenarios([ScenarioReport("lr changed", _run(100.0, [40.0, 60.0]), _run(50.0, [1.0, 49.0]), 1, [])])
    assert "[pair" not in text and "all 1 pairs" not in text and "1.20x" in text
