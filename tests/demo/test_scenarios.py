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
