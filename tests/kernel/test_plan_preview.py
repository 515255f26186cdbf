"""``%%reuse plan`` in a real IPython shell: the cell is parsed, not run; each traced call is
previewed with the id the tracer then computes, stored ones as loads at their measured times, the
rest as unknown with the reason; the report of the cell that then runs carries the estimate."""

import collab_reuse
from IPython.utils.capture import capture_output

SETUP = ("import numpy as np\nfrom sklearn.ensemble import RandomForestClassifier\n"
         "rng = np.random.default_rng(0)\nX = rng.random((3000, 8))\ny = (X[:, 0] + X[:, 1] > 1).astype(int)")
FIT = "model = RandomForestClassifier(n_estimators=30, random_state=0)\nmodel.fit(X, y)"


def _plan(shell, code):
    with capture_output() as out:
        result = shell.run_cell("%%reuse plan\n" + code, store_history=True)
    assert result.error_in_exec is None, result.error_in_exec
    return out.stdout


def test_a_plan_runs_nothing_and_names_what_it_cannot_know(shell):
    assert shell.run_cell(SETUP, store_history=True).error_in_exec is None
    text = _plan(shell, "model = RandomForestClassifier(n_estimators=30, random_state=0)\nfitted = model.fit(X, y)\n"
                        "p = model.predict(X)")
    assert "fitted" not in shell.user_ns and "model" not in shell.user_ns  # nothing ran
    lines = text.splitlines()
    assert any(line.split()[:2] == ["unknown", "sklearn.RandomForestClassifier"] and "never run" in line
               for line in lines), text
    assert any(line.split()[:2] == ["unknown", "model.fit"] and "assigned or changed earlier" in line
               for line in lines), text
    assert "3 unknown, not counted" in text, text


def test_a_stored_fit_is_planned_as_a_load_and_the_report_carries_the_estimate(shell):
    session = collab_reuse.session_of(shell)
    session.config.min_saving = 0.0
    for cell in (SETUP, FIT):
        assert shell.run_cell(cell, store_history=True).error_in_exec is None
    session.flush(60)
    fit_id = next(s for s in session.last_report["steps"] if s["op"] == "RandomForestClassifier.fit")["id"]
    info = session.graph.artifact(fit_id)
    assert info is not None and info.state == 2, "the fit was stored"

    again = "model2 = RandomForestClassifier(n_estimators=30, random_state=0)"
    assert shell.run_cell(again, store_history=True).error_in_exec is None
    text = _plan(shell, "model2.fit(X, y)")
    line = next(line for line in text.splitlines() if "RandomForestClassifier.fit" in line)
    assert line.split()[0] == "load", text
    assert f"without reuse {info.compute_seconds * 1000:.1f} ms" in line, text

    assert shell.run_cell("model2.fit(X, y)", store_history=True).error_in_exec is None
    report = session.last_report
    step = next(s for s in report["steps"] if s["op"] == "RandomForestClassifier.fit")
    assert step["status"] == "reused" and step["id"] == fit_id  # the id the plan computed
    assert report["plan"]["steps"][0]["id"] == fit_id and report["plan"]["steps"][0]["action"] == "load"
    assert report["plan"]["plain_seconds"] == info.compute_seconds


TRAIN = ("def train(X, y, trees):\n"
         "    model = RandomForestClassifier(n_estimators=trees, random_state=0)\n"
         "    model.fit(X, y)\n"
         "    return model.predict_proba(X)[:, 1]")


def test_a_notebook_functions_call_is_one_step_planned_by_the_id_the_tracer_gives_it(shell):
    """A cell calling a costly notebook function (the demo's ``model(train, test)``) is previewed by that
    call: a load of its stored result once it was stored, with the id the run then reuses."""
    session = collab_reuse.session_of(shell)
    session.config.min_saving = 0.0
    for cell in (SETUP, TRAIN, "p = train(X, y, 40)"):
        assert shell.run_cell(cell, store_history=True).error_in_exec is None
    session.flush(60)
    step = next(s for s in session.last_report["steps"] if s["op"] == "train()")
    info = session.graph.artifact(step["id"])
    assert info is not None and info.state == 2, "the call was stored"

    text = _plan(shell, "p2 = train(X, y, 40)\nq = train(X, y, 41)")
    lines = [line for line in text.splitlines() if "train()" in line]
    assert lines[0].split()[0] == "load" and "stored" in lines[0], text
    assert lines[1].split()[0] == "unknown" and "never run with these inputs" in lines[1], text
    assert "p2" not in shell.user_ns  # nothing ran

    assert shell.run_cell("p2 = train(X, y, 40)\nq = train(X, y, 41)", store_history=True).error_in_exec is None
    report = session.last_report
    reused = next(s for s in report["steps"] if s["op"] == "train()")
    assert reused["status"] == "reused" and reused["id"] == step["id"] == report["plan"]["steps"][0]["id"]
