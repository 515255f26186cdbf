"""A model saved with ``joblib.dump`` or ``pickle.dump`` after its fit was reused is the plain run's file,
byte for byte. Through real kernels: the plain run, a first run and a re-run on one store, every output
and every written file compared.

Before: the corpus run of ageron_housing wrote another ``my_model.pkl`` whenever its pipeline's fit was
stored and reused: the model read back held its column-name lists and strings unshared, so pickle wrote
them out again where the original refers back (``store/state.py``, ``store/fidelity.py``)."""

from __future__ import annotations

import pytest

from collab_reuse.demo.runner import compare, reuse_events

from shells import plain_first_again

pytestmark = pytest.mark.kernel

CELLS = [
    "import pickle, joblib, numpy as np, pandas as pd\n"
    "rng = np.random.default_rng(0)\n"
    "pd.DataFrame({'longitude': rng.normal(size=3000), 'median_income': rng.gamma(2.0, size=3000),\n"
    "              'ocean_proximity': rng.choice(['NEAR BAY', 'INLAND', '<1H OCEAN'], 3000)}).to_csv('housing.csv', index=False)\n"
    "housing = pd.read_csv('housing.csv')\n"
    "labels = housing['median_income'] * 3 + rng.normal(size=3000)",
    "from sklearn.compose import ColumnTransformer\n"
    "from sklearn.ensemble import RandomForestRegressor\n"
    "from sklearn.impute import SimpleImputer\n"
    "from sklearn.pipeline import Pipeline\n"
    "from sklearn.preprocessing import OneHotEncoder, StandardScaler\n"
    "num_attribs = list(housing.drop(columns='ocean_proximity'))\n"
    "full_pipeline = ColumnTransformer([\n"
    "    ('num', Pipeline([('imputer', SimpleImputer(strategy='median')), ('std_scaler', StandardScaler())]), num_attribs),\n"
    "    ('cat', OneHotEncoder(), ['ocean_proximity'])])\n"
    "model = Pipeline([('preparation', full_pipeline), ('forest', RandomForestRegressor(n_estimators=30, random_state=0))])\n"
    "model.fit(housing, labels)",
    "from sklearn.model_selection import GridSearchCV\n"
    "grid_search = GridSearchCV(RandomForestRegressor(random_state=42), [{'n_estimators': [3, 10], 'max_features': [1, 2]}],\n"
    "                           cv=3, scoring='neg_mean_squared_error', return_train_score=True)\n"
    "grid_search.fit(housing[num_attribs], labels)\n"
    "print(grid_search.best_params_)",
    # (not the search itself: its fit and score times differ in every run, plain or not)
    "joblib.dump(model, 'my_model.pkl')\n"
    "joblib.dump(grid_search.best_estimator_, 'best_forest.pkl')\n"
    "with open('model_highest.pkl', 'wb') as f:\n"
    "    pickle.dump(model, f, protocol=pickle.HIGHEST_PROTOCOL)\n"
    "with open('best_default.pkl', 'wb') as f:\n"
    "    pickle.dump(grid_search.best_estimator_, f)",
]


def test_a_reused_model_dumps_to_the_plain_runs_file(tmp_path):
    plain, first, again, store = plain_first_again(tmp_path, CELLS)
    assert {"my_model.pkl", "best_forest.pkl", "model_highest.pkl", "best_default.pkl"} <= set(plain.files)
    assert compare(plain, first) == []
    assert compare(plain, again) == []
    steps = [s for e in reuse_events(store, again.kernel_id) for s in e.get("steps", [])]
    assert [s["status"] for s in steps if s["op"] in ("Pipeline.fit", "GridSearchCV.fit")] == ["reused", "reused"], \
        [(s["op"], s["status"]) for s in steps]
