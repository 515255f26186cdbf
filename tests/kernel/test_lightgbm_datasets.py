"""A reused LightGBM training call leaves its Datasets binned, as the plain call does, so the training
calls after it print what they print in a plain run (``tracing/lgb_datasets.py``). Through real
kernels: the plain run, a first run and a re-run on one store, every output compared.

Before: koehrsen_model_tuning's cross-validation in a notebook function, after one in a cell on the
same Dataset, replayed the cell's output on a re-run (the binning lines of an unbinned Dataset, one
"Unknown parameter" warning fewer): the Dataset's binning was left out of the identity, and the reused
first cross-validation left it unbinned."""

from __future__ import annotations

import pytest

from collab_reuse.demo.runner import compare, reuse_events

from shells import plain_first_again

pytestmark = pytest.mark.kernel

CELLS = [
    "import numpy as np, lightgbm as lgb\nrng = np.random.default_rng(0)\n"
    "X = rng.normal(size=(3000, 10)); y = (X[:, 0] + rng.normal(size=3000) > 0).astype(int)",
    "train_set = lgb.Dataset(data=X, label=y, free_raw_data=False)",
    # (default parameters: LightGBM logs its binning, and warns of the scikit-learn-only parameters)
    "model = lgb.LGBMClassifier(n_jobs=1)\nparams = model.get_params(); del params['n_estimators']\n"
    "cv_results = lgb.cv(params, train_set, num_boost_round=200, callbacks=[lgb.early_stopping(20, verbose=False)],"
    " metrics='auc', nfold=3, seed=42)",
    "def objective(hyperparameters, iteration):\n"
    "    if 'n_estimators' in hyperparameters.keys():\n"
    "        del hyperparameters['n_estimators']\n"
    "    cv_results = lgb.cv(hyperparameters, train_set, num_boost_round=200, nfold=3,"
    " callbacks=[lgb.early_stopping(20, verbose=False)], metrics='auc', seed=42)\n"
    "    hyperparameters['n_estimators'] = len(cv_results['valid auc-mean'])\n"
    "    return [cv_results['valid auc-mean'][-1], hyperparameters, iteration]",
    "score, found, iteration = objective(params, 1)\nprint(round(score, 6), found['n_estimators'])",
    "booster = lgb.train(found, train_set, num_boost_round=found['n_estimators'])\n"
    "print(train_set.construct().num_data(), booster.num_trees())",
]
#: LightGBM times row- and column-wise threading and logs its choice, the time and advice: which one it
#: picks, and the time, differ between plain runs (a first run chose column-wise where the plain chose
#: row-wise, on a clean CI run)
TIMINGS = [r"\[LightGBM\] \[Info\] Auto-choosing (?:row|col)-wise multi-threading, the overhead of testing was "
           r"[0-9.e-]+ seconds\.\n(?:You can set `force_(?:row|col)_wise=true` to remove the overhead\.\n)?"
           r"(?:And if memory is not enough, you can set `force_col_wise=true`\.\n)?"]


def test_training_calls_after_a_reused_one_print_what_they_print_in_a_plain_run(tmp_path):
    plain, first, again, store = plain_first_again(tmp_path, CELLS)
    assert "Auto-choosing" in "".join(o.get("text", "") for o in plain.outputs[2]["outputs"])  # (it logs)
    assert compare(plain, first, volatile=TIMINGS) == []
    assert compare(plain, again, volatile=TIMINGS) == []
    cvs = [s["status"] for e in reuse_events(store, again.kernel_id) for s in e.get("steps", [])
           if s["op"] == "lightgbm.cv"]
    assert cvs == ["reused", "reused"]
