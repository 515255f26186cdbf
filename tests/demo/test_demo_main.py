"""The README's main command end to end at a small scale, and the summary it ends with."""

import re

import pytest

from collab_reuse.demo import __main__ as demo
from collab_reuse.demo.story import summarize


def _event(*steps):
    return {"steps": list(steps)}


def test_summary_adds_up_steps_by_operation_and_orders_by_value():
    events = [
        _event({"op": "read_csv", "status": "reused", "seconds": 0.1, "saved_seconds": 2.0},
               {"op": "fit", "status": "computed", "seconds": 5.0, "reason": None,
                "why": {"text": "`learning_rate` changed 0.1 -> 0.05"}},
               {"op": "merge", "status": "reused", "seconds": 0.2, "saved_seconds": 3.0}),
        _event({"op": "read_csv", "status": "reused", "seconds": 0.1, "saved_seconds": 2.5},
               {"op": "fit", "status": "computed", "seconds": 4.0, "reason": "too cheap to store"},
               {"op": "head", "status": "reused", "seconds": 0.0, "saved_seconds": 0.0, "mutation": True}),
    ]
    reused = summarize(events, "reused")
    assert [(s.op, s.count) for s in reused] == [("read_csv", 2), ("merge", 1)]
    assert reused[0].saved_seconds == pytest.approx(4.5) and reused[0].seconds == pytest.approx(0.2)
    (fit,) = summarize(events, "computed")
    assert fit.count == 2 and fit.seconds == pytest.approx(9.0)
    assert fit.reasons == ("`learning_rate` changed 0.1 -> 0.05", "too cheap to store")


@pytest.mark.kernel
def test_the_demo_command_prints_its_table_the_modified_run_and_what_was_reused(capsys, tmp_path):
    code = demo.main(["--scale", "0.5", "--data", str(tmp_path / "data"),
                      "--notebook", str(demo.NOTEBOOKS_DIR / demo.MODIFIED_NOTEBOOK)])
    out = capsys.readouterr().out
    assert code == 0, out
    row = next(line for line in out.splitlines() if re.match(re.escape(demo.MODIFIED_NOTEBOOK) + r"\s+\d", line))
    assert re.search(r"\d+/\d+\s+yes\s+yes$", row), row  # reused/computed, outputs and files the same
    reused, computed = map(int, re.search(r"(\d+)/(\d+)\s+yes", row).groups())
    assert reused > 0
    assert "The same notebook modified (" + demo.MODIFIED_SCENARIO in out
    scenario = next(line for line in out.splitlines() if re.match(re.escape(demo.MODIFIED_SCENARIO) + r"\s+\d", line))
    assert scenario.rstrip().endswith("yes"), scenario
    assert f"{demo.MODIFIED_NOTEBOOK}, re-run:\n  reused (loaded from the store instead of computed)" in out
    assert "modified (" + demo.MODIFIED_SCENARIO + "):" in out and "  computed, the costliest first:" in out
    assert "Where to look next:" in out
    report = tmp_path / "collab-reuse-demo-report.html"  # (beside the demo data)
    assert f"the reuse report of {demo.MODIFIED_NOTEBOOK}'s store" in out and str(report) in out, out
    page = report.read_text()
    assert "What reuse saved" in page and "data:image/png;base64," in page
