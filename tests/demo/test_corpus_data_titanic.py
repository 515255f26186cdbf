"""The generated Titanic tables (corpus_data.titanic): what the corpus notebooks rely on, checked on the data."""
from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from collab_reuse.demo.corpus_data import dataset, titanic

COLUMNS = ["PassengerId", "Survived", "Pclass", "Name", "Sex", "Age", "SibSp", "Parch", "Ticket", "Fare", "Cabin",
           "Embarked"]


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    out = dataset("titanic", tmp_path_factory.mktemp("titanic"), 1.0)
    return pd.read_csv(out / "train.csv"), pd.read_csv(out / "test.csv"), out


def _digests(directory):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.glob("*.csv"))}


def test_same_seed_gives_identical_files_and_another_seed_others(tmp_path):
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        (tmp_path / name).mkdir()
        titanic(tmp_path / name, 0.3, seed)
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")
    assert _digests(tmp_path / "a")["train.csv"] != _digests(tmp_path / "c")["train.csv"]


def test_kaggle_files_columns_and_sizes(tables):
    train, test, out = tables
    assert sorted(p.name for p in out.glob("*.csv")) == ["gender_submission.csv", "test.csv", "train.csv"]
    assert list(train.columns) == COLUMNS
    assert list(test.columns) == [c for c in COLUMNS if c != "Survived"]
    assert (len(train), len(test)) == (891, 418)
    assert list(pd.concat([train, test])["PassengerId"]) == list(range(1, 1310))


def test_sizes_grow_linearly_with_scale(tmp_path):
    rows = titanic(tmp_path, 2.0, 0)
    assert rows == {"train": 1782, "test": 836}


def test_missing_values_and_ranges_as_in_the_real_tables(tables):
    train, test, _ = tables
    assert 0.15 < train["Age"].isna().mean() < 0.25 and 0.7 < train["Cabin"].isna().mean() < 0.85
    assert train["Embarked"].isna().sum() == 2 and test["Embarked"].isna().sum() == 0
    assert test["Fare"].isna().sum() == 1 and train["Fare"].isna().sum() == 0
    assert set(train["Embarked"].dropna()) == {"S", "C", "Q"} and set(train["Sex"]) == {"male", "female"}
    assert train["Age"].dropna().between(0.4, 80).all()
    assert train["Fare"].between(0, 512.3292).all()
    assert set(train["Cabin"].dropna().str[0]) <= set("ABCDEFGT")


def test_names_carry_titles_and_families_share_surname_and_ticket(tables):
    train, test, _ = tables
    both = pd.concat([train, test])
    titles = both["Name"].str.split(", ", expand=True)[1].str.split(".", expand=True)[0]
    assert {"Mr", "Mrs", "Miss", "Master"} <= set(titles)
    family = both[both["SibSp"] + both["Parch"] > 0]
    surname = family["Name"].str.split(",").str[0]
    assert (family.groupby("Ticket")["Name"].transform(lambda s: s.str.split(",").str[0].nunique()) == 1).mean() > 0.9
    assert surname.duplicated(keep=False).mean() > 0.9  # relatives are in the tables too


def test_survival_depends_on_sex_and_class(tables):
    train, _, _ = tables
    by_sex = train.groupby("Sex")["Survived"].mean()
    by_class = train.groupby("Pclass")["Survived"].mean()
    assert 0.3 < train["Survived"].mean() < 0.45
    assert by_sex["female"] > by_sex["male"] + 0.3 and by_class[1] > by_class[3] + 0.15
