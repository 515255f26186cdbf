"""Why a step was recomputed, through real kernels: a notebook runs, is edited (a hyperparameter, its
data file), and runs again in a new kernel on the same store; ``%reuse explain`` and the cell reports
name what changed, and the edited notebook's outputs equal its plain run."""

import nbformat
import numpy as np
import pandas as pd

from collab_reuse.demo.runner import compare, run_notebook
from collab_reuse.graph import ExperimentGraph

CELLS = [
    "import pandas as pd\nfrom sklearn.linear_model import LogisticRegression",
    "df = pd.read_csv('data.csv')",
    "X = df[['a', 'b']].to_numpy()\ny = (df['a'] + df['b'] > 1).to_numpy()",
    "model = LogisticRegression(C=0.5, max_iter=300)",
    "model.fit(X, y)",
    "pred = model.predict_proba(X)[:, 1]\nprint(round(float(pred.sum()), 6))",
]
EXPLAIN = "%reuse explain"


def _write_data(workdir, seed):
    workdir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    pd.DataFrame({"a": rng.random(5000), "b": rng.random(5000)}).to_csv(workdir / "data.csv", index=False)


def _notebook(path, cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i}"  # (a notebook's cell ids stay as the user edits the cells)
    nbformat.write(nb, path)
    return path


def _explained(result):
    """The text of the last cell's output (%reuse explain)."""
    return "".join(o.get("text", "") for o in result.outputs[-1]["outputs"])


def _reports(store, kernel_id):
    return ExperimentGraph(store, create=False).events(kernel_id=kernel_id)


def _step(reports, op):
    return next(s for r in reports for s in r["steps"] if s["op"] == op)


def test_a_changed_hyperparameter_explains_the_fit_and_what_follows(tmp_path):
    store, work = tmp_path / "store", tmp_path / "work"
    _write_data(work, 0)
    run_notebook(_notebook(tmp_path / "first.ipynb", CELLS + [EXPLAIN]), work, store_dir=store)
    edited = CELLS[:3] + ["model = LogisticRegression(C=0.8, max_iter=300)"] + CELLS[4:]
    second = run_notebook(_notebook(tmp_path / "second.ipynb", edited + [EXPLAIN]), work, store_dir=store)

    text = _explained(second)
    assert "recomputed because `C` changed 0.5 → 0.8 in cell 4" in text, text
    assert "input LogisticRegression.fit changed (cell 5), because `C` changed 0.5 → 0.8 in cell 4" in text, text

    reports = _reports(store, second.kernel_id)
    made = _step(reports, "sklearn.LogisticRegression")
    assert made["status"] == "computed"
    assert made["why"] == [{"kind": "parameter", "detail": "C", "old": "0.5", "new": "0.8", "cell": 4}]
    fit = _step(reports, "LogisticRegression.fit")
    assert fit["why"][0]["kind"] == "input" and fit["why"][0]["op"] == "sklearn.LogisticRegression"
    assert fit["why"][0]["root"]["detail"] == "C" and fit["why"][0]["root"]["new"] == "0.8"
    fit_cell = next(r for r in reports if any(s["op"] == "LogisticRegression.fit" for s in r["steps"]))
    assert fit_cell["why"]["kind"] == "parameter" and fit_cell["why"]["old"] == "0.5"
    # the data did not change: read_csv was not recomputed for a reason of its own
    assert all(s.get("why") is None or s["why"][0]["kind"] != "file" for r in reports for s in r["steps"])

    _write_data(tmp_path / "plain-work", 0)
    plain = run_notebook(_notebook(tmp_path / "plain.ipynb", edited), tmp_path / "plain-work")
    # the oracle: every cell's output as in the plain run (the explanation is only in %reuse explain's)
    assert compare(plain, second) == [f"plain.ipynb: {len(edited)} code cells in plain run, {len(edited) + 1} in other"]


def test_a_changed_data_file_explains_the_downstream_recomputation(tmp_path):
    store, work = tmp_path / "store", tmp_path / "work"
    _write_data(work, 0)
    path = _notebook(tmp_path / "nb.ipynb", CELLS + [EXPLAIN])
    run_notebook(path, work, store_dir=store)
    _write_data(work, 1)
    second = run_notebook(path, work, store_dir=store)

    text = _explained(second)
    assert "because data file data.csv changed" in text and "in cell 2" in text, text
    reports = _reports(store, second.kernel_id)
    read = _step(reports, "pandas.read_csv")
    assert read["status"] == "computed" and read["why"][0]["kind"] == "file"
    assert read["why"][0]["detail"] == "data.csv" and read["why"][0]["old"] != read["why"][0]["new"]
    fit = _step(reports, "LogisticRegression.fit")
    assert fit["why"][0]["kind"] == "input" and fit["why"][0]["root"]["kind"] == "file"


AGGREGATE = [
    "import numpy as np, pandas as pd\n"
    "df = pd.DataFrame({'key': np.arange(1_000_000) % 5_000, 'value': np.arange(1_000_000) * 0.5})",
    "stats = df.groupby('key')['value'].agg(['sum', 'mean', 'std', 'median'])\nprint(stats.to_numpy().sum())",
]


def test_an_evicted_result_says_when_by_which_budget_decision_and_what_it_would_have_saved(tmp_path):
    from collab_reuse import cli

    store, work = tmp_path / "store", tmp_path / "work"
    work.mkdir()
    path = _notebook(tmp_path / "agg.ipynb", AGGREGATE + [EXPLAIN])
    first = run_notebook(path, work, store_dir=store)
    agg = _step(_reports(store, first.kernel_id), "SeriesGroupBy.aggregate")
    graph = ExperimentGraph(store, create=False)
    assert graph.artifact(agg["id"]).state == 2, "the aggregate was stored"
    assert cli.main(["--store", str(store), "materialize", "--budget", "1KB"]) == 0  # an admin shrinks the budget
    assert graph.artifact(agg["id"]).state == 0

    second = run_notebook(path, work, store_dir=store)
    # (deferred first, a quiet operation seen before; computed when its value is needed)
    again = next(s for r in _reports(store, second.kernel_id) for s in r["steps"]
                 if s["op"] == "SeriesGroupBy.aggregate" and s["status"] == "computed")
    assert again["id"] == agg["id"]
    (reason,) = again["why"]
    assert reason["kind"] == "evicted" and reason["decision"]["outcome"] == "too_large"
    assert reason["decision"]["budget"] == 1000 and reason["decision"]["saving"] > 0
    detail = reason["detail"]
    assert detail.startswith("was stored, then evicted on ") and "larger than the budget of 1.0 KB" in detail, detail
    assert "; reusing it would have saved " in detail, detail
    assert detail in _explained(second)
    plain = run_notebook(path, tmp_path / "plain")  # (the explanation is only in %reuse explain's output)
    assert [o for o in plain.outputs[1]["outputs"]] == [o for o in second.outputs[1]["outputs"]]
