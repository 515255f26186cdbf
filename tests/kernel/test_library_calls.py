"""Library calls that run notebook code or fill objects they are given: callbacks, transformers
defined in the notebook, functions handed to scikit-learn. A reuse replays what they change or
they run every time; never a stale or missing effect."""

import pytest

from collab_reuse.tracing.registry import pandas_has_cow

from shells import statuses, two_runs

DATA = ("import numpy as np, pandas as pd, lightgbm as lgb\n"
        "rng = np.random.RandomState(0)\n"
        "X = pd.DataFrame(rng.rand(20000, 6), columns=[f'f{i}' for i in range(6)])\n"
        "y = (X.f0 + rng.rand(20000) > 1).astype(int)\n"
        "Xt, Xv, yt, yv = X[:15000], X[15000:], y[:15000], y[15000:]")


def test_a_reused_fit_fills_the_dict_record_evaluation_was_given(tmp_path, monkeypatch):
    fit = ("results = {}\n"
           "clf = lgb.LGBMClassifier(n_estimators=40, n_jobs=1, verbose=-1)\n"
           "clf.fit(Xt, yt, eval_set=[(Xv, yv)], callbacks=[lgb.record_evaluation(results), lgb.log_evaluation(10),"
           " lgb.early_stopping(5, verbose=False)])")
    spaces, reports = two_runs(tmp_path, monkeypatch, [DATA, fit])
    assert statuses(reports[0], "LGBMClassifier.fit") == ["computed"]
    assert statuses(reports[1], "LGBMClassifier.fit") == ["reused"]
    first, again = spaces[0]["results"], spaces[1]["results"]
    assert list(again) == ["valid_0"] and len(again["valid_0"]["binary_logloss"]) > 5
    assert again == first
    assert type(again["valid_0"]) is type(first["valid_0"])
    assert [type(v) for v in again["valid_0"]["binary_logloss"]] == [type(v) for v in first["valid_0"]["binary_logloss"]]


def test_a_callback_object_keeps_the_history_a_reused_training_would_have_given_it(tmp_path, monkeypatch):
    train = ("class History:\n"
             "    def __init__(self):\n"
             "        self.iterations = []\n"
             "        self.calls = 0\n"
             "    def __call__(self, env):\n"
             "        self.iterations.append(env.iteration)\n"
             "        self.calls += 1\n"
             "h = History()\n"
             "booster = lgb.train({'objective': 'binary', 'verbose': -1, 'num_threads': 1},"
             " lgb.Dataset(Xt, label=yt), num_boost_round=25, callbacks=[h])")
    spaces, reports = two_runs(tmp_path, monkeypatch, [DATA, train])
    assert statuses(reports[1], "lightgbm.train") == ["reused"]
    assert spaces[1]["h"].iterations == list(range(25)) and spaces[1]["h"].calls == 25


def test_a_notebook_callback_that_changes_a_global_runs_every_time(tmp_path, monkeypatch):
    fit = ("seen = []\n"
           "def remember(env):\n"
           "    seen.append(env.iteration)\n"
           "clf = lgb.LGBMClassifier(n_estimators=20, n_jobs=1, verbose=-1)\n"
           "clf.fit(Xt, yt, eval_set=[(Xv, yv)], callbacks=[remember])")
    spaces, reports = two_runs(tmp_path, monkeypatch, [DATA, fit])
    assert statuses(reports[1], "LGBMClassifier.fit") == ["not_reusable"]
    reason = next(s["reason"] for s in reports[1]["steps"] if s["op"] == "LGBMClassifier.fit")
    assert "remember" in reason and "seen" in reason
    assert spaces[1]["seen"] == list(range(20))


def test_a_notebook_function_calling_an_impure_callback_is_not_reused_whole(tmp_path, monkeypatch):
    helper = ("log = []\n"
              "def note(env):\n"
              "    log.append(env.iteration)\n"
              "def train(X, y):\n"
              "    m = lgb.LGBMClassifier(n_estimators=10, n_jobs=1, verbose=-1)\n"
              "    m.fit(X, y, eval_set=[(X, y)], callbacks=[note])\n"
              "    return m.predict_proba(X)\n"
              "p = train(Xt, yt)")
    spaces, reports = two_runs(tmp_path, monkeypatch, [DATA, helper])
    assert statuses(reports[1], "train()") == ["not_reusable"]
    assert spaces[1]["log"] == list(range(10))


CLASSES = ("from sklearn.base import BaseEstimator, TransformerMixin\n"
           "from sklearn.pipeline import Pipeline\n"
           "from sklearn.preprocessing import FunctionTransformer\n"
           "from sklearn.linear_model import LogisticRegression\n"
           "from sklearn.model_selection import cross_val_score\n"
           "class Selector(BaseEstimator, TransformerMixin):\n"
           "    def __init__(self, columns):\n"
           "        self.columns = columns\n"
           "    def fit(self, X, y=None):\n"
           "        return self\n"
           "    def transform(self, X):\n"
           "        return X[self.columns].values\n"
           "def squares(v):\n"
           "    return np.c_[v, v ** 2]\n")
SCORES = ("pipe = Pipeline([('sel', Selector(['f0', 'f1'])), ('sq', FunctionTransformer(squares)),"
          " ('lr', LogisticRegression())])\n"
          "scores = cross_val_score(pipe, X, y, cv=3)")


def test_cross_validation_of_a_pipeline_with_notebook_code_is_reused(tmp_path, monkeypatch):
    spaces, reports = two_runs(tmp_path, monkeypatch, [DATA, CLASSES, SCORES])
    assert statuses(reports[0], "sklearn.Pipeline") == ["computed"]
    assert statuses(reports[1], "sklearn.cross_val_score") == ["reused"]
    assert (spaces[0]["scores"] == spaces[1]["scores"]).all()


@pytest.mark.parametrize("edit", [("X[self.columns].values", "X[self.columns[:1]].values"),
                                  ("np.c_[v, v ** 2]", "np.c_[v, v ** 3]")])
def test_an_edited_transformer_class_or_function_gives_new_scores(tmp_path, monkeypatch, edit):
    _, before = two_runs(tmp_path / "a", monkeypatch, [DATA, CLASSES, SCORES])
    edited = CLASSES.replace(*edit)
    assert edited != CLASSES
    spaces, reports = two_runs(tmp_path / "a", monkeypatch, [DATA, edited, SCORES])
    assert statuses(reports[0], "sklearn.cross_val_score") == ["computed"]
    plain = {}
    exec(DATA + "\n" + edited + "\n" + SCORES, plain)
    assert (spaces[0]["scores"] == plain["scores"]).all()


def test_a_transformer_class_with_an_effect_is_not_reused(tmp_path, monkeypatch):
    counting = CLASSES.replace("        return X[self.columns].values",
                               "        calls.append(len(X))\n        return X[self.columns].values")
    spaces, reports = two_runs(tmp_path, monkeypatch, [DATA, "calls = []\n" + counting, SCORES])
    assert statuses(reports[1], "sklearn.cross_val_score") == ["not_reusable"]
    assert len(spaces[1]["calls"]) == len(spaces[0]["calls"]) > 0


def test_a_method_alias_of_a_lazy_frame_runs(tmp_path, monkeypatch):
    """pandas binds ``DataFrame.hist = hist_frame``: a deferred frame's ``hist`` must be looked up by
    the name written, not the function's own name."""
    cells = ["import numpy as np, pandas as pd\nimport matplotlib\nmatplotlib.use('agg')\n"
             "X = pd.DataFrame(np.random.RandomState(0).rand(400000, 3), columns=['f0', 'f1', 'f2'])",
             "sub = X[X.f0 > 0.5]",
             "axes = sub.hist(figsize=(4, 3))\nbox = sub.boxplot(column=['f1'])\nn = len(sub.f1.hist().patches)"]
    spaces, reports = two_runs(tmp_path, monkeypatch, cells)
    if pandas_has_cow():  # (frames are deferred only under Copy-on-Write: pandas 3)
        # the re-run's frame was deferred, and produced for the first plot
        assert statuses(reports[1], "DataFrame.__getitem__[]")[:1] == ["computed"] and not reports[0]["steps"]
    assert spaces[1]["axes"].shape == spaces[0]["axes"].shape
    assert spaces[1]["n"] == spaces[0]["n"]


PIPELINE = ("from sklearn.pipeline import Pipeline, FeatureUnion\n"
            "from sklearn.preprocessing import StandardScaler\n"
            "from sklearn.decomposition import PCA\n"
            "from sklearn.linear_model import LogisticRegression\n"
            "from sklearn.model_selection import GridSearchCV\n"
            "scaler = StandardScaler()\n"
            "lr = LogisticRegression(C=0.5)\n"
            "steps = [('union', FeatureUnion([('s', scaler), ('p', PCA(3, random_state=0))])), ('lr', lr)]\n"
            "pipe = Pipeline(steps)\n"
            "pipe.fit(X, y)\n"
            "same_objects = (pipe.named_steps['lr'] is lr, pipe.steps[0][1].transformer_list[0][1] is scaler)\n"
            "search = GridSearchCV(pipe, {'lr__C': [0.1, 1.0]}, cv=3)\n"
            "search.fit(X, y)\n"
            "kept = (search.estimator is pipe, search.best_estimator_ is pipe)")


def test_a_reused_pipeline_fit_fits_the_user_s_own_steps(tmp_path, monkeypatch):
    spaces, reports = two_runs(tmp_path, monkeypatch, [DATA, PIPELINE])
    assert statuses(reports[1], "Pipeline.fit") == ["reused"]
    assert statuses(reports[1], "GridSearchCV.fit") == ["reused"]
    first, again = spaces
    assert again["same_objects"] == first["same_objects"] == (True, True)
    assert again["kept"] == first["kept"] == (True, False)
    # the steps the user holds were fitted in place, as a plain fit does
    assert (again["scaler"].mean_ == first["scaler"].mean_).all()
    assert (again["lr"].coef_ == first["lr"].coef_).all()
    assert again["search"].best_params_ == first["search"].best_params_
    assert (again["search"].predict(again["X"][:50]) == first["search"].predict(first["X"][:50])).all()


def test_a_search_s_estimator_left_unfitted_stays_unfitted(tmp_path, monkeypatch):
    cells = [DATA, "from sklearn.linear_model import LogisticRegression\nfrom sklearn.model_selection import GridSearchCV\n"
             "base = LogisticRegression()\nsearch = GridSearchCV(base, {'C': [0.1, 1.0]}, cv=3).fit(X, y)\n"
             "fitted_base = hasattr(base, 'coef_')"]
    spaces, reports = two_runs(tmp_path, monkeypatch, cells)
    assert statuses(reports[1], "GridSearchCV.fit") == ["reused"]
    assert spaces[1]["fitted_base"] is spaces[0]["fitted_base"] is False
    assert spaces[1]["search"].estimator is spaces[1]["base"]


def test_a_model_saved_with_joblib_stays_known_to_the_steps_after(tmp_path, monkeypatch):
    # (joblib.dump reads its argument: the fitted pipeline and the transformer in it keep their lineage)
    cells = ["import numpy as np, joblib\nfrom sklearn.pipeline import Pipeline\n"
             "from sklearn.preprocessing import StandardScaler\nfrom sklearn.linear_model import Ridge\n"
             "X = np.random.RandomState(0).rand(20000, 8)\ny = X[:, 0] * 2",
             "scaler = StandardScaler()\nmodel = Pipeline([('scale', scaler), ('ridge', Ridge())]).fit(X, y)",
             f"joblib.dump(model, {str(tmp_path / 'model.pkl')!r})",
             "bigger = Pipeline([('prep', scaler), ('ridge', Ridge(alpha=2.0))])\nbigger.fit(X, y)"]
    _, reports = two_runs(tmp_path, monkeypatch, cells)
    assert statuses(reports[0], "Pipeline.fit") == ["computed"]  # (not "StandardScaler was fitted outside...")


SELECTOR = ("from sklearn.base import BaseEstimator, TransformerMixin\n"
            "class TopColumns(BaseEstimator, TransformerMixin):\n"
            "    def __init__(self, k=2):\n"
            "        self.k = k\n"
            "    def fit(self, X, y=None):\n"
            "        self.order_ = np.argsort(-np.abs(np.corrcoef(X.T, y)[-1, :-1]))[:self.k]\n"
            "        return self\n"
            "    def transform(self, X):\n"
            "        return X[:, self.order_]\n")


@pytest.mark.parametrize("edit", [None, "self.order_ = np.argsort(", "self.order_ = np.sort(np.argsort("])
def test_a_fitted_search_over_a_notebook_transformer_is_stored_and_reused_until_the_class_changes(
        tmp_path, monkeypatch, edit):
    cells = ["import numpy as np\nfrom sklearn.pipeline import Pipeline\nfrom sklearn.linear_model import Ridge\n"
             "from sklearn.model_selection import GridSearchCV\nrng = np.random.RandomState(0)\n"
             "X = rng.rand(3000, 8)\ny = X[:, 3] * 2 + X[:, 5] + rng.rand(3000) * 0.1",
             SELECTOR,
             "search = GridSearchCV(Pipeline([('top', TopColumns()), ('ridge', Ridge())]),\n"
             "                      {'top__k': [1, 2, 3], 'ridge__alpha': [0.1, 1.0]}, cv=3).fit(X, y)\n"
             "picked = search.best_estimator_.named_steps['top'].order_.tolist()"]

    def between(session):
        if edit is not None:  # the class as edited for the second kernel: a closing ")" added with np.sort
            cells[1] = SELECTOR.replace("self.order_ = np.argsort(", edit).replace(
                "[:self.k]\n", "[:self.k])\n" if "sort(np" in edit else "[:self.k]\n")
    spaces, reports = two_runs(tmp_path, monkeypatch, cells, between=between)
    assert statuses(reports[0], "GridSearchCV.fit") == ["computed"]
    changed = edit is not None and "sort(np" in edit
    assert statuses(reports[1], "GridSearchCV.fit") == (["computed"] if changed else ["reused"])
    assert type(spaces[1]["search"].best_estimator_.named_steps["top"]).__name__ == "TopColumns"
    assert spaces[1]["picked"] == (sorted(spaces[0]["picked"]) if changed else spaces[0]["picked"])
