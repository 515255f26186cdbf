"""Reuse never changes what a notebook shows or writes.

Every fixture notebook of tests/notebooks/ is run plain, then twice with
collab_reuse into one fresh store (a new kernel each time: the first run fills
the store, the second reuses from it); outputs (every cell's outputs and
execution counts) and written files must be those of the plain run.
The fixtures are tiny, so with the default ``min_saving`` (5 ms) almost nothing
would be stored and the reuse paths would go untested: the per-fixture test
runs with ``CollabReuse.min_saving=0`` (offer every result to the store); the
scenario tests and the demo tests use the defaults.  Draws
from unseeded randomness are the exception that proves the rule: they differ
between two plain runs, so they must differ between the two reuse runs too.
"""
from __future__ import annotations

import os
import time

from pathlib import Path

import nbformat
import pytest

from collab_reuse.demo.runner import compare, reuse_totals, run_notebook, run_parallel

pytestmark = pytest.mark.kernel

TIMEOUT = 180  # per cell
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def notebook(name: str) -> Path:
    return NOTEBOOKS / f"{name}.ipynb"


def fixture_meta(name: str) -> dict:
    """The ``collab_reuse_test`` metadata of a fixture notebook (e.g. ``random_files``)."""
    return nbformat.read(notebook(name), as_version=4).metadata.get("collab_reuse_test", {})

# covered (plain vs first run vs re-run included) by the scenario tests below
SPECIAL = {"data_file_changed", "function_edit_v2", "cross_notebook_a", "cross_notebook_b",
           "notebook_class_edit_v1", "notebook_class_edit_v2"}
FIXTURES = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb") if p.stem not in SPECIAL)


STORE_EVERYTHING = ["--CollabReuse.min_saving=0"]


def _run(name, workdir, env, store=None, kernel_args=()):
    return lambda: run_notebook(notebook(name), workdir, store_dir=store, env=env, timeout=TIMEOUT,
                                kernel_args=kernel_args if store is not None else ())


def _explain(diffs: list[str]) -> str:
    return "\n".join(diffs)


def _assert_loaded(*runs):
    for r in runs:
        assert r.extension_loaded, f"collab_reuse was not loaded in kernel {r.kernel_id} ({r.path})"


def test_there_are_enough_fixture_notebooks():
    assert len(list(NOTEBOOKS.glob("*.ipynb"))) >= 18


@pytest.mark.parametrize("name", FIXTURES)
def test_reuse_runs_match_the_plain_run(name, fixture_env, tmp_path):
    random_files = fixture_meta(name).get("random_files", [])
    store = tmp_path / "store"
    plain, first = run_parallel(_run(name, tmp_path / "plain", fixture_env),
                                _run(name, tmp_path / "first", fixture_env, store, STORE_EVERYTHING))
    if random_files:
        plain2, second = run_parallel(_run(name, tmp_path / "plain2", fixture_env),
                                      _run(name, tmp_path / "second", fixture_env, store, STORE_EVERYTHING))
    else:
        second = _run(name, tmp_path / "second", fixture_env, store, STORE_EVERYTHING)()
    _assert_loaded(first, second)

    assert not (diffs := compare(plain, first, ignore_files=random_files)), \
        f"first run with collab_reuse differs from plain:\n{_explain(diffs)}"
    assert not (diffs := compare(plain, second, ignore_files=random_files)), \
        f"second run with collab_reuse (reusing) differs from plain:\n{_explain(diffs)}"

    for rel in random_files:
        assert plain.files[rel] != plain2.files[rel], f"{rel}: fixture draws are not random in plain runs"
        assert rel in first.files and rel in second.files, f"{rel} not written with collab_reuse"
        assert first.files[rel] != second.files[rel], \
            f"{rel}: unseeded draws were replayed from the store (identical in both reuse runs)"


def test_same_code_in_another_notebook_is_reused(fixture_env, tmp_path):
    store = tmp_path / "store"
    a = _run("cross_notebook_a", tmp_path / "a", fixture_env, store)()
    plain_b, b = run_parallel(_run("cross_notebook_b", tmp_path / "plain_b", fixture_env),
                              _run("cross_notebook_b", tmp_path / "b", fixture_env, store))
    _assert_loaded(a, b)
    assert not (diffs := compare(plain_b, b)), _explain(diffs)
    totals = reuse_totals(store, b.kernel_id)
    assert totals.get("reused", 0) > 0, f"nothing of notebook a was reused by notebook b: {totals}"


def test_two_kernels_share_one_store_concurrently(fixture_env, tmp_path):
    store = tmp_path / "store"
    plain_a, plain_b = run_parallel(_run("cross_notebook_a", tmp_path / "plain_a", fixture_env),
                                    _run("cross_notebook_b", tmp_path / "plain_b", fixture_env))
    a, b = run_parallel(_run("cross_notebook_a", tmp_path / "a", fixture_env, store),
                        _run("cross_notebook_b", tmp_path / "b", fixture_env, store))
    _assert_loaded(a, b)
    assert not (diffs := compare(plain_a, a)), _explain(diffs)
    assert not (diffs := compare(plain_b, b)), _explain(diffs)
    # The store both wrote into at once serves a third kernel correctly.
    a2, b2 = run_parallel(_run("cross_notebook_a", tmp_path / "a2", fixture_env, store),
                          _run("cross_notebook_b", tmp_path / "b2", fixture_env, store))
    assert not (diffs := compare(plain_a, a2)), _explain(diffs)
    assert not (diffs := compare(plain_b, b2)), _explain(diffs)
    assert reuse_totals(store, a2.kernel_id).get("reused", 0) > 0
    assert reuse_totals(store, b2.kernel_id).get("reused", 0) > 0


def _rewrite_keeping_size(path, old: str, new: str):
    """Change the file's content but not its size; move its mtime on as an editor would."""
    text = path.read_text()
    assert len(old) == len(new) and old in text
    before = path.stat()
    path.write_text(text.replace(old, new, 1))
    os.utime(path, ns=(before.st_atime_ns, max(before.st_mtime_ns + 2_000_000_000, time.time_ns())))
    assert path.stat().st_size == before.st_size


def test_changed_data_file_gives_the_new_results(fixture_env, tmp_path):
    data = tmp_path / "input.csv"
    data.write_text("k,v\na,1\nb,2\na,3\nc,4\nb,5\n")
    env = dict(fixture_env, FIXTURE_INPUT=str(data))
    store = tmp_path / "store"
    plain_old, old = run_parallel(_run("data_file_changed", tmp_path / "plain_old", env),
                                  _run("data_file_changed", tmp_path / "old", env, store))
    assert not (diffs := compare(plain_old, old)), _explain(diffs)

    _rewrite_keeping_size(data, "a,3", "a,8")
    plain_new, new = run_parallel(_run("data_file_changed", tmp_path / "plain_new", env),
                                  _run("data_file_changed", tmp_path / "new", env, store))
    assert compare(plain_old, plain_new), "fixture problem: the edit did not change the plain results"
    assert not (diffs := compare(plain_new, new)), f"stale results after the data file changed:\n{_explain(diffs)}"


def test_edited_notebook_function_gives_the_new_results(fixture_env, tmp_path):
    store = tmp_path / "store"
    plain_v1, v1 = run_parallel(_run("function_edit_v1", tmp_path / "plain_v1", fixture_env),
                                _run("function_edit_v1", tmp_path / "v1", fixture_env, store))
    assert not (diffs := compare(plain_v1, v1)), _explain(diffs)
    plain_v2, v2 = run_parallel(_run("function_edit_v2", tmp_path / "plain_v2", fixture_env),
                                _run("function_edit_v2", tmp_path / "v2", fixture_env, store))
    assert compare(plain_v1, plain_v2), "fixture problem: the edit did not change the plain results"
    assert not (diffs := compare(plain_v2, v2)), f"stale results after the function was edited:\n{_explain(diffs)}"


def test_edited_notebook_class_gives_the_new_results(fixture_env, tmp_path):
    """A transformer class defined in the notebook is named by its code: after an edit of its
    ``transform``, ``cross_val_score`` over a pipeline with it is computed again."""
    store = tmp_path / "store"
    plain_v1, v1 = run_parallel(_run("notebook_class_edit_v1", tmp_path / "plain_v1", fixture_env),
                                _run("notebook_class_edit_v1", tmp_path / "v1", fixture_env, store,
                                     STORE_EVERYTHING))
    assert not (diffs := compare(plain_v1, v1)), _explain(diffs)
    again = _run("notebook_class_edit_v1", tmp_path / "again", fixture_env, store, STORE_EVERYTHING)()
    assert not (diffs := compare(plain_v1, again)), _explain(diffs)
    assert reuse_totals(store, again.kernel_id).get("reused", 0) > 0, "the unedited class's scores were not reused"
    plain_v2, v2 = run_parallel(_run("notebook_class_edit_v2", tmp_path / "plain_v2", fixture_env),
                                _run("notebook_class_edit_v2", tmp_path / "v2", fixture_env, store,
                                     STORE_EVERYTHING))
    assert compare(plain_v1, plain_v2), "fixture problem: the edit did not change the plain results"
    assert not (diffs := compare(plain_v2, v2)), f"stale results after the class was edited:\n{_explain(diffs)}"


LIGHTGBM_RETRAINED = [
    "import numpy as np\nimport lightgbm as lgb",
    "rng = np.random.default_rng(0)\nX = rng.normal(size=(200_000, 20))\n"
    "y = (X[:, 0] + X[:, 1] * X[:, 2] + rng.normal(size=len(X)) > 0.5).astype(int)",
    "model = lgb.LGBMClassifier(n_estimators=15, learning_rate=LR, n_jobs=1, random_state=0, verbose=-1)\n"
    "model.fit(X, y, eval_set=[(X[100_000:], y[100_000:])])\nprint(repr(model.predict_proba(X[:4])))\n"
    "print(repr(model.evals_result_['valid_0']['binary_logloss'][-3:]))",
    "np.savetxt('pred.txt', model.predict_proba(X[:500])[:, 1])\nmodel.booster_.num_trees()",
]


def _lightgbm_notebook(path: Path, learning_rate: float) -> Path:
    cells = [c.replace("LR", repr(learning_rate)) for c in LIGHTGBM_RETRAINED]
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells]), path)
    return path


def test_retrained_lightgbm_model_reuses_the_binned_matrix(tmp_path):
    """A changed learning rate retrains the model, on the stored binned matrices (training and
    validation), to the plain run's model and validation scores."""
    from collab_reuse.graph import ExperimentGraph
    from collab_reuse.tracing.binned import LABEL as BINNED_LABEL, VALIDATION_LABEL as BINNED_VALIDATION_LABEL

    store = tmp_path / "store"
    first = run_notebook(_lightgbm_notebook(tmp_path / "lr1.ipynb", 0.1), tmp_path / "first", store_dir=store,
                         timeout=TIMEOUT)
    edited = _lightgbm_notebook(tmp_path / "lr05.ipynb", 0.05)
    plain, retrained = run_parallel(
        lambda: run_notebook(edited, tmp_path / "plain", timeout=TIMEOUT),
        lambda: run_notebook(edited, tmp_path / "retrained", store_dir=store, timeout=TIMEOUT))
    _assert_loaded(first, retrained)
    assert compare(first, plain), "fixture problem: the learning rate did not change the results"
    assert not (diffs := compare(plain, retrained)), _explain(diffs)
    steps = {kernel: [(s["op"], s["status"]) for e in ExperimentGraph(store).events(kernel_id=kernel) for s in e["steps"]
                      if s["op"] in (BINNED_LABEL, BINNED_VALIDATION_LABEL, "LGBMClassifier.fit")]
             for kernel in (first.kernel_id, retrained.kernel_id)}
    assert steps[first.kernel_id] == [(BINNED_LABEL, "computed"), (BINNED_VALIDATION_LABEL, "computed"),
                                      ("LGBMClassifier.fit", "computed")]
    assert steps[retrained.kernel_id] == [(BINNED_LABEL, "reused"), (BINNED_VALIDATION_LABEL, "reused"),
                                          ("LGBMClassifier.fit", "computed")]
