"""The demo data generator: deterministic, the real schema, a learnable target."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from collab_reuse.demo.generate import generate, make_tables


@pytest.fixture(scope="module")
def tables():
    return make_tables(scale=1.0, seed=0)


def test_same_seed_gives_identical_files(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    generate(a, scale=0.3, seed=0)
    generate(b, scale=0.3, seed=0)
    for name in ["application_train", "application_test", "bureau", "bureau_balance"]:
        assert (a / f"{name}.csv").read_bytes() == (b / f"{name}.csv").read_bytes()


def test_other_seed_gives_other_data():
    assert not make_tables(0.1, seed=0)["bureau"].equals(make_tables(0.1, seed=1)["bureau"])


def test_tables_have_the_kaggle_keys_and_main_columns(tables):
    train, test, bureau, balance = (tables[k] for k in ["application_train", "application_test", "bureau", "bureau_balance"])
    for col in ["SK_ID_CURR", "TARGET", "NAME_CONTRACT_TYPE", "CODE_GENDER", "FLAG_OWN_CAR", "FLAG_OWN_REALTY",
                "CNT_CHILDREN", "AMT_INCOME_TOTAL", "AMT_CREDIT", "AMT_ANNUITY", "AMT_GOODS_PRICE",
                "NAME_INCOME_TYPE", "NAME_EDUCATION_TYPE", "NAME_FAMILY_STATUS", "NAME_HOUSING_TYPE",
                "DAYS_BIRTH", "DAYS_EMPLOYED", "DAYS_REGISTRATION", "DAYS_ID_PUBLISH", "OWN_CAR_AGE",
                "OCCUPATION_TYPE", "EXT_SOURCE_1", "EXT_SOURCE_2", "EXT_SOURCE_3"]:
        assert col in train.columns
    assert len(train.columns) >= 60
    assert list(test.columns) == [c for c in train.columns if c != "TARGET"]
    for col in ["SK_ID_CURR", "SK_ID_BUREAU", "CREDIT_ACTIVE", "CREDIT_CURRENCY", "DAYS_CREDIT",
                "CREDIT_DAY_OVERDUE", "DAYS_CREDIT_ENDDATE", "AMT_CREDIT_SUM", "AMT_CREDIT_SUM_DEBT",
                "AMT_CREDIT_SUM_OVERDUE", "CREDIT_TYPE"]:
        assert col in bureau.columns
    assert list(balance.columns) == ["SK_ID_BUREAU", "MONTHS_BALANCE", "STATUS"]
    assert train["SK_ID_CURR"].is_unique and bureau["SK_ID_BUREAU"].is_unique
    assert not set(train["SK_ID_CURR"]) & set(test["SK_ID_CURR"])
    assert set(bureau["SK_ID_CURR"]) <= set(train["SK_ID_CURR"]) | set(test["SK_ID_CURR"])
    assert set(balance["SK_ID_BUREAU"]) <= set(bureau["SK_ID_BUREAU"])


def test_kaggle_quirks_are_there(tables):
    train, test = tables["application_train"], tables["application_test"]
    assert (train["DAYS_EMPLOYED"] == 365243).mean() > 0.05
    for col in ["EXT_SOURCE_1", "EXT_SOURCE_3"]:
        assert 0.05 < train[col].isna().mean() < 0.8
    assert "XNA" in set(train["CODE_GENDER"]) and "XNA" not in set(test["CODE_GENDER"])
    assert 0.04 < train["TARGET"].mean() < 0.15


def test_sizes_grow_linearly_with_scale():
    small, big = make_tables(0.5), make_tables(2.0)
    for name in small:
        ratio = len(big[name]) / len(small[name])
        assert 3.0 < ratio < 5.0, (name, ratio)


def test_target_is_learnable(tables):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import cross_val_predict

    train, bureau = tables["application_train"], tables["bureau"]
    debt = bureau.groupby("SK_ID_CURR")["AMT_CREDIT_SUM_DEBT"].sum() / bureau.groupby("SK_ID_CURR")["AMT_CREDIT_SUM"].sum()
    X = pd.DataFrame({
        "ext": train[["EXT_SOURCE_1", "EXT_SOURCE_2", "EXT_SOURCE_3"]].mean(axis=1).fillna(0.5),
        "age": train["DAYS_BIRTH"] / 365,
        "debt": train["SK_ID_CURR"].map(debt).fillna(0.2),
    })
    proba = cross_val_predict(LogisticRegression(), X, train["TARGET"], cv=3, method="predict_proba")[:, 1]
    auc = roc_auc_score(train["TARGET"], proba)
    assert 0.65 < auc < 0.85, auc
    assert np.isfinite(auc)
