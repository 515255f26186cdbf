"""The corpus bench's share of re-run time outside traced operations (``demo/corpus.traced_share``):
each traced second counted once, so a whole-pipeline function's own plotting shows as outside."""
from types import SimpleNamespace

from collab_reuse.demo.corpus import traced_share


def _step(op, status, seconds, **extra):
    return {"op": op, "status": status, "seconds": seconds, **extra}


def test_a_function_that_ran_is_counted_by_its_body_and_a_reused_one_whole():
    run = SimpleNamespace(outputs=[{"execution_count": 1}, {"execution_count": 2}], cell_seconds=[10.0, 2.0])
    events = [
        {"execution_count": 1, "steps": [
            _step("main()", "not_reusable", 9.5),                       # ran: its body's steps say what was traced
            _step("LGBMClassifier.fit", "computed", 4.0),
            _step("lightgbm.Dataset (binned training matrix)", "computed", 0.5),  # inside the fit
            _step("DataFrame.__setitem__", "computed", 0.2, mutation=True),
            _step("pandas.read_csv", "reused", 1.0)]},
        {"execution_count": 2, "steps": [_step("features()", "reused", 0.5)]},  # loaded whole
    ]
    share = traced_share(run, events)
    assert share["traced"] == 5.5 and share["outside"] == 6.5
