"""A whole pipeline in one ``main()`` (issue 20, idiom 4): it reads its tables, prints timings from a
``time.time()`` context manager, trains per fold with callbacks and writes a submission file, so it is
impure as a whole and runs every time; the reading, aggregation and training inside must still reuse,
and everything it prints and writes be the plain run's."""

import pandas as pd

from shells import statuses, two_runs

PIPELINE = '''
import gc, os, time
from contextlib import contextmanager
import numpy as np, pandas as pd
from lightgbm import LGBMClassifier, early_stopping, log_evaluation
from sklearn.model_selection import KFold

@contextmanager
def timer(title):
    t0 = time.time()
    yield
    elapsed = time.time() - t0  # (the notebook prints it; here only that it ran: timings differ run to run)
    print(title + " - done")

def features(path):
    df = pd.read_csv(path)
    agg = df.groupby("key").agg({"v": ["min", "max", "mean"], "w": ["sum"]})
    agg.columns = pd.Index([a + "_" + b.upper() for a, b in agg.columns.tolist()])
    return agg

def kfold(df, num_folds):
    folds = KFold(n_splits=num_folds, shuffle=True, random_state=1001)
    feats = [f for f in df.columns if f != "TARGET"]
    oof = np.zeros(df.shape[0])
    for n_fold, (tr, va) in enumerate(folds.split(df[feats], df["TARGET"])):
        clf = LGBMClassifier(n_estimators=1000, learning_rate=0.05, min_child_weight=MIN_CHILD_WEIGHT,
                             n_jobs=1, verbose=-1)
        clf.fit(df[feats].iloc[tr], df["TARGET"].iloc[tr], eval_set=[(df[feats].iloc[va], df["TARGET"].iloc[va])],
                eval_metric="auc", callbacks=[early_stopping(PATIENCE, verbose=False), log_evaluation(100)])
        oof[va] = clf.predict_proba(df[feats].iloc[va], num_iteration=clf.best_iteration_)[:, 1]
        gc.collect()
    pd.DataFrame({"oof": oof}).to_csv("submission.csv", index=False)
    return oof

def main():
    with timer("features"):
        df = features(DATA_PATH)
        print("shape", df.shape)
    with timer("model"):
        return kfold(df, 3)

with timer("Full model run"):
    result = main()
'''


def _data(tmp_path, rows, signal):
    """A table of ``rows`` keys; with ``signal`` False the target is unrelated to the features and so
    rare that no split meets a large ``min_child_weight``: every tree LightGBM grows is a single leaf."""
    import numpy as np

    rng = np.random.RandomState(0)
    keys = np.repeat(np.arange(rows), 3)
    v = rng.rand(keys.size)
    target = (v[::3] > 0.5).astype(int) if signal else (np.arange(rows) % 25 == 0).astype(int)
    frame = pd.DataFrame({"key": keys, "v": v, "w": rng.rand(keys.size)})
    frame["TARGET"] = np.repeat(target, 3)
    path = tmp_path / "table.csv"
    frame.to_csv(path, index=False)
    return path


def _run(tmp_path, monkeypatch, capsys, rows, signal, min_child_weight, patience=20):
    path = _data(tmp_path, rows, signal)
    monkeypatch.chdir(tmp_path)
    setup = f"DATA_PATH = {str(path)!r}\nMIN_CHILD_WEIGHT = {min_child_weight}\nPATIENCE = {patience}"
    outputs = []

    def between(session):
        outputs.append(capsys.readouterr().out)

    spaces, reports = two_runs(tmp_path, monkeypatch, [setup, PIPELINE.replace(
        "df = features(DATA_PATH)", "df = features(DATA_PATH)\n        df['TARGET'] = pd.read_csv(DATA_PATH)"
        ".groupby('key')['TARGET'].max()")], between=between)
    outputs.append(capsys.readouterr().out)
    return spaces, reports, outputs


def test_the_fits_inside_an_impure_main_are_reused(tmp_path, monkeypatch, capsys):
    spaces, reports, outputs = _run(tmp_path, monkeypatch, capsys, 3000, True, 1.0)
    assert statuses(reports[0], "LGBMClassifier.fit") == ["computed"] * 3
    assert statuses(reports[1], "LGBMClassifier.fit") == ["reused"] * 3
    assert [s["status"] for s in reports[1]["steps"] if s["op"] == "main()"] in ([], ["not_reusable"])
    assert (spaces[0]["result"] == spaces[1]["result"]).all()
    assert outputs[0] == outputs[1] and "Full model run - done" in outputs[1]


def test_fits_whose_trees_found_no_split_are_reused_too(tmp_path, monkeypatch, capsys):
    """Few rows and a large ``min_child_weight`` (a Kaggle kernel's parameters on a small sample): the
    models are single-leaf trees, which LightGBM writes with an empty ``leaf_weight``; they were refused
    by the store's model-text check, and every fold computed again on every run."""
    spaces, reports, outputs = _run(tmp_path, monkeypatch, capsys, 3000, False, 1000.0, patience=200)
    assert len(set(spaces[0]["result"])) <= 3  # one constant prediction per fold: trees of one leaf
    assert statuses(reports[0], "LGBMClassifier.fit") == ["computed"] * 3
    assert statuses(reports[1], "LGBMClassifier.fit") == ["reused"] * 3
    assert (spaces[0]["result"] == spaces[1]["result"]).all()
    assert outputs[0] == outputs[1]

