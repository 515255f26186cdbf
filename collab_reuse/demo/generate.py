"""Deterministic synthetic data with the schema of Kaggle's *Home Credit Default Risk*.

    python -m collab_reuse.demo.generate --out DIR --scale S --seed 0

writes ``application_train.csv``, ``application_test.csv``, ``bureau.csv`` and
``bureau_balance.csv`` into DIR.  Table names, keys and the main columns are the
real competition's; values are drawn from simple distributions chosen so that
the notebooks of ``notebooks/`` meet the same quirks as on the real data (the
365243 ``DAYS_EMPLOYED`` anomaly, missing ``EXT_SOURCE_*``, a ``CODE_GENDER``
level and a ``NAME_INCOME_TYPE`` level present only in the training table, so
one-hot encodings need ``align``) and so that ``TARGET`` depends on
``EXT_SOURCE_*``, ``DAYS_BIRTH``, the employment anomaly and the bureau debt
(a LightGBM model reaches a ROC AUC of about 0.7).

Sizes are linear in ``scale``: 3,000 training and 500 test applicants per unit
of scale, about 5 bureau loans per applicant and about 12 monthly balance rows
per bureau loan (scale 1: ~3.5k applicants, ~17k bureau rows, ~0.2M balance
rows, about 1.5 s to generate).  Everything is vectorised numpy; the same
``(scale, seed)`` gives byte-identical files.

Plain run times of the demo notebooks (fresh kernel, cell execution only,
kernel start excluded; 2 cores shared with other work, so treat them as
rough), measured with ``python -m collab_reuse.demo --plain-only --scale S``::

    scale  rows (train/bureau/balance)   generate  01_introduction  02_feature_engineering  load avg
    1      3.0k / 18k / 0.21M             ~1.5 s    ~7 s             ~20 s                   ~2
    10     30k / 178k / 2.1M              ~10 s     ~40 s            ~78 s                   ~2
    30     90k / 534k / 6.3M              ~27 s     ~404 s           ~333 s                  ~6-7

The feature-engineering notebook grows roughly linearly with the scale
(bureau_balance aggregation, the correlation matrix and two 5-fold LightGBM
models dominate; about 8 s per unit of scale on an idle machine, ~11 s under
load); the introduction notebook grows faster than linearly (two
100-tree random forests).  ``--scale 30`` makes both plain runs take well
over three minutes (extrapolating the idle scale-10 figure, about 25 is the
smallest scale that keeps 02_feature_engineering above three minutes on an
idle 2-core machine; not measured).
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import pandas as pd

TRAIN_PER_SCALE = 3000
TEST_PER_SCALE = 500

_WEEKDAYS = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]
_OCCUPATIONS = [
    "Laborers", "Core staff", "Accountants", "Managers", "Drivers", "Sales staff",
    "Cleaning staff", "Cooking staff", "Private service staff", "Medicine staff",
    "Security staff", "High skill tech staff", "Waiters/barmen staff",
    "Low-skill Laborers", "Realty agents", "Secretaries", "IT staff", "HR staff",
]
_ORGANIZATIONS = [
    "Business Entity Type 3", "XNA", "Self-employed", "Other", "Medicine",
    "Business Entity Type 2", "Government", "School", "Trade: type 7",
    "Kindergarten", "Construction", "Business Entity Type 1", "Transport: type 4",
    "Trade: type 3", "Industry: type 9", "Industry: type 3", "Security",
    "Housing", "Industry: type 11", "Military", "Bank", "Agriculture", "Police",
    "Postal", "Security Ministries", "Restaurant", "Services", "University",
]
_CREDIT_TYPES = [
    "Consumer credit", "Credit card", "Car loan", "Mortgage", "Microloan",
    "Loan for business development", "Another type of loan",
    "Unknown type of loan", "Loan for working capital replenishment",
]


def _choice(rng: np.random.Generator, n: int, levels, probs) -> np.ndarray:
    p = np.asarray(probs, dtype=float)
    return np.asarray(levels, dtype=object)[rng.choice(len(levels), size=n, p=p / p.sum())]


def _with_missing(rng: np.random.Generator, values: np.ndarray, frac: float) -> np.ndarray:
    out = values.astype(object) if values.dtype == object else values.astype(float)
    out[rng.random(len(values)) < frac] = np.nan
    return out


def _bureau(rng: np.random.Generator, client_ids: np.ndarray) -> pd.DataFrame:
    """About 5 previous credits per client (a sixth of clients have none)."""
    counts = rng.poisson(6.0, size=len(client_ids))
    counts[rng.random(len(client_ids)) < 0.15] = 0
    n = int(counts.sum())
    curr = np.repeat(client_ids, counts)
    active = _choice(rng, n, ["Closed", "Active", "Sold", "Bad debt"], [0.62, 0.37, 0.009, 0.001])
    days_credit = -rng.integers(1, 2923, size=n)
    duration = rng.integers(30, 3650, size=n)
    enddate = days_credit + duration
    is_closed = active == "Closed"
    enddate_fact = np.where(is_closed, np.minimum(enddate, -rng.integers(0, 2900, size=n)), np.nan)
    enddate_fact = np.where(is_closed, np.maximum(enddate_fact, days_credit), np.nan)
    amt_sum = np.round(np.exp(rng.normal(11.5, 1.1, size=n)), -2)
    debt_frac = np.where(is_closed, 0.0, rng.beta(2.0, 2.0, size=n))
    amt_debt = np.round(amt_sum * debt_frac, 1)
    overdue_days = np.where(rng.random(n) < 0.02, rng.integers(1, 2000, size=n), 0)
    amt_overdue = np.where(overdue_days > 0, np.round(amt_debt * rng.random(n) * 0.3, 1), 0.0)
    df = pd.DataFrame({
        "SK_ID_CURR": curr,
        "SK_ID_BUREAU": 5000000 + rng.permutation(n),
        "CREDIT_ACTIVE": active,
        "CREDIT_CURRENCY": _choice(rng, n, ["currency 1", "currency 2", "currency 3", "currency 4"],
                                   [0.999, 0.0007, 0.0002, 0.0001]),
        "DAYS_CREDIT": days_credit,
        "CREDIT_DAY_OVERDUE": overdue_days,
        "DAYS_CREDIT_ENDDATE": _with_missing(rng, enddate, 0.06),
        "DAYS_ENDDATE_FACT": enddate_fact,
        "AMT_CREDIT_MAX_OVERDUE": _with_missing(rng, np.round(amt_overdue * (1 + rng.random(n)), 1), 0.65),
        "CNT_CREDIT_PROLONG": (rng.random(n) < 0.005).astype(int),
        "AMT_CREDIT_SUM": amt_sum,
        "AMT_CREDIT_SUM_DEBT": _with_missing(rng, amt_debt, 0.15),
        "AMT_CREDIT_SUM_LIMIT": _with_missing(rng, np.where(rng.random(n) < 0.1, np.round(amt_sum * 0.2, 1), 0.0), 0.35),
        "AMT_CREDIT_SUM_OVERDUE": amt_overdue,
        "CREDIT_TYPE": _choice(rng, n, _CREDIT_TYPES, [0.73, 0.23, 0.017, 0.011, 0.007, 0.0012, 0.0006, 0.0003, 0.0003]),
        "DAYS_CREDIT_UPDATE": -rng.integers(0, 1500, size=n),
        "AMT_ANNUITY": _with_missing(rng, np.round(amt_sum / rng.integers(6, 60, size=n), 1), 0.7),
    })
    return df, debt_frac, amt_sum


def _bureau_balance(rng: np.random.Generator, bureau: pd.DataFrame) -> pd.DataFrame:
    """Monthly status rows per bureau credit, MONTHS_BALANCE 0, -1, ..., -(k-1)."""
    k = rng.geometric(1 / 13.0, size=len(bureau))
    k = np.minimum(k, 97)
    keep = rng.random(len(bureau)) < 0.9  # not every credit has a balance history
    k = np.where(keep, k, 0)
    n = int(k.sum())
    loan = np.repeat(bureau["SK_ID_BUREAU"].to_numpy(), k)
    starts = np.repeat(np.cumsum(k) - k, k)
    months = -(np.arange(n) - starts)
    closed = np.repeat((bureau["CREDIT_ACTIVE"] == "Closed").to_numpy(), k)
    status = _choice(rng, n, ["0", "X", "1", "2", "3", "4", "5"], [0.70, 0.22, 0.06, 0.01, 0.005, 0.003, 0.002])
    status = np.where(closed & (rng.random(n) < 0.6), "C", status)
    return pd.DataFrame({"SK_ID_BUREAU": loan, "MONTHS_BALANCE": months, "STATUS": status})


def _applications(rng: np.random.Generator, ids: np.ndarray, debt_score: np.ndarray) -> pd.DataFrame:
    n = len(ids)
    gender = _choice(rng, n, ["F", "M"], [0.66, 0.34])
    age_years = rng.uniform(21, 69, size=n)
    days_birth = -np.round(age_years * 365.25).astype(int)
    employed = -np.round(rng.gamma(1.6, 1200, size=n)).astype(int)
    pensioner = (age_years > 55) & (rng.random(n) < 0.6)
    income_type = _choice(rng, n, ["Working", "Commercial associate", "State servant", "Unemployed",
                                   "Student", "Businessman", "Maternity leave"],
                          [0.62, 0.28, 0.09, 0.0005, 0.0003, 0.0002, 0.0001])
    income_type = np.where(pensioner, "Pensioner", income_type)
    days_employed = np.where(pensioner, 365243, np.maximum(employed, days_birth + 18 * 365))
    income = np.round(np.exp(rng.normal(11.9, 0.5, size=n)), -2)
    credit = np.round(income * rng.uniform(0.8, 6.0, size=n), -2) + 45000.0
    annuity = np.round(credit / rng.uniform(10, 40, size=n), 1)
    goods = np.round(credit * rng.uniform(0.8, 1.0, size=n), -3)
    own_car = _choice(rng, n, ["N", "Y"], [0.66, 0.34])
    car_age = np.where(own_car == "Y", rng.integers(0, 40, size=n).astype(float), np.nan)
    children = np.minimum(rng.poisson(0.45, size=n), 12)
    family = _choice(rng, n, ["Married", "Single / not married", "Civil marriage", "Separated", "Widow"],
                     [0.64, 0.15, 0.1, 0.06, 0.05])
    fam_members = children + np.where(np.isin(family, ["Married", "Civil marriage"]), 2, 1)
    region_rating = _choice(rng, n, [1, 2, 3], [0.1, 0.74, 0.16]).astype(int)

    # Latent credit quality drives the external scores and the default risk.
    quality = rng.normal(size=n)
    ext = [np.clip(0.5 + 0.17 * (0.7 * quality + 0.7 * rng.normal(size=n)) + 0.004 * (age_years - 43) * (i == 0),
                   0.0005, 0.9999) for i in range(3)]
    ext1 = _with_missing(rng, np.round(ext[0], 6), 0.56)
    ext2 = _with_missing(rng, np.round(ext[1], 6), 0.002)
    ext3 = _with_missing(rng, np.round(ext[2], 6), 0.2)

    logit = (-2.9 - 1.1 * quality - 0.025 * (age_years - 43) + 0.9 * debt_score
             - 0.35 * pensioner + 0.25 * (gender == "M") + 0.2 * (region_rating - 2)
             + 0.15 * (own_car == "N") + 0.4 * rng.normal(size=n))
    target = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)

    cols: dict[str, object] = {
        "SK_ID_CURR": ids,
        "TARGET": target,
        "NAME_CONTRACT_TYPE": _choice(rng, n, ["Cash loans", "Revolving loans"], [0.9, 0.1]),
        "CODE_GENDER": gender,
        "FLAG_OWN_CAR": own_car,
        "FLAG_OWN_REALTY": _choice(rng, n, ["Y", "N"], [0.69, 0.31]),
        "CNT_CHILDREN": children,
        "AMT_INCOME_TOTAL": income,
        "AMT_CREDIT": credit,
        "AMT_ANNUITY": _with_missing(rng, annuity, 0.0005),
        "AMT_GOODS_PRICE": _with_missing(rng, goods, 0.001),
        "NAME_TYPE_SUITE": _with_missing(rng, _choice(rng, n, ["Unaccompanied", "Family", "Spouse, partner",
                                                                "Children", "Other_B", "Other_A", "Group of people"],
                                                       [0.81, 0.13, 0.037, 0.01, 0.006, 0.003, 0.001]), 0.004),
        "NAME_INCOME_TYPE": income_type,
        "NAME_EDUCATION_TYPE": _choice(rng, n, ["Secondary / secondary special", "Higher education",
                                                "Incomplete higher", "Lower secondary", "Academic degree"],
                                       [0.71, 0.24, 0.033, 0.012, 0.005]),
        "NAME_FAMILY_STATUS": family,
        "NAME_HOUSING_TYPE": _choice(rng, n, ["House / apartment", "With parents", "Municipal apartment",
                                              "Rented apartment", "Office apartment", "Co-op apartment"],
                                     [0.89, 0.048, 0.036, 0.016, 0.008, 0.004]),
        "REGION_POPULATION_RELATIVE": np.round(rng.uniform(0.0003, 0.072, size=n), 6),
        "DAYS_BIRTH": days_birth,
        "DAYS_EMPLOYED": days_employed,
        "DAYS_REGISTRATION": -np.round(rng.uniform(0, 15000, size=n)),
        "DAYS_ID_PUBLISH": -rng.integers(0, 6000, size=n),
        "OWN_CAR_AGE": car_age,
        "FLAG_MOBIL": np.ones(n, dtype=int),
        "FLAG_EMP_PHONE": (days_employed != 365243).astype(int),
        "FLAG_WORK_PHONE": (rng.random(n) < 0.2).astype(int),
        "FLAG_CONT_MOBILE": (rng.random(n) < 0.998).astype(int),
        "FLAG_PHONE": (rng.random(n) < 0.28).astype(int),
        "FLAG_EMAIL": (rng.random(n) < 0.057).astype(int),
        "OCCUPATION_TYPE": _with_missing(rng, _choice(rng, n, _OCCUPATIONS, np.linspace(3, 0.2, len(_OCCUPATIONS))), 0.31),
        "CNT_FAM_MEMBERS": fam_members.astype(float),
        "REGION_RATING_CLIENT": region_rating,
        "REGION_RATING_CLIENT_W_CITY": np.clip(region_rating + (rng.random(n) < 0.05) * rng.choice([-1, 1], size=n), 1, 3),
        "WEEKDAY_APPR_PROCESS_START": _choice(rng, n, _WEEKDAYS, [17, 17, 17, 17, 16, 11, 5]),
        "HOUR_APPR_PROCESS_START": np.clip(np.round(rng.normal(12, 3.3, size=n)), 0, 23).astype(int),
    }
    for name, p in [("REG_REGION_NOT_LIVE_REGION", 0.015), ("REG_REGION_NOT_WORK_REGION", 0.05),
                    ("LIVE_REGION_NOT_WORK_REGION", 0.04), ("REG_CITY_NOT_LIVE_CITY", 0.08),
                    ("REG_CITY_NOT_WORK_CITY", 0.23), ("LIVE_CITY_NOT_WORK_CITY", 0.18)]:
        cols[name] = (rng.random(n) < p).astype(int)
    cols["ORGANIZATION_TYPE"] = np.where(pensioner, "XNA", _choice(rng, n, _ORGANIZATIONS, np.linspace(4, 0.1, len(_ORGANIZATIONS))))
    cols["EXT_SOURCE_1"] = ext1
    cols["EXT_SOURCE_2"] = ext2
    cols["EXT_SOURCE_3"] = ext3
    has_building = rng.random(n) < 0.5
    for name, (a, b) in [("APARTMENTS_AVG", (1.5, 10)), ("BASEMENTAREA_AVG", (1.5, 15)),
                         ("YEARS_BEGINEXPLUATATION_AVG", (40, 1.5)), ("ELEVATORS_AVG", (1, 12)),
                         ("ENTRANCES_AVG", (2, 12)), ("FLOORSMAX_AVG", (3, 10)),
                         ("LANDAREA_AVG", (1, 15)), ("LIVINGAREA_AVG", (1.5, 12)),
                         ("APARTMENTS_MODE", (1.5, 10)), ("FLOORSMAX_MODE", (3, 10)),
                         ("LIVINGAREA_MODE", (1.5, 12)), ("TOTALAREA_MODE", (1.5, 12))]:
        cols[name] = np.where(has_building & (rng.random(n) < 0.9), np.round(rng.beta(a, b, size=n), 4), np.nan)
    cols["FONDKAPREMONT_MODE"] = np.where(has_building, _choice(rng, n, ["reg oper account", "org spec account",
                                                                         "reg oper spec account", "not specified"],
                                                                [0.75, 0.06, 0.13, 0.06]), None)
    cols["HOUSETYPE_MODE"] = np.where(has_building, _choice(rng, n, ["block of flats", "specific housing",
                                                                     "terraced house"], [0.97, 0.02, 0.01]), None)
    cols["WALLSMATERIAL_MODE"] = np.where(has_building, _choice(rng, n, ["Panel", "Stone, brick", "Block", "Wooden",
                                                                         "Mixed", "Monolithic", "Others"],
                                                                [0.43, 0.42, 0.06, 0.035, 0.015, 0.012, 0.02]), None)
    cols["EMERGENCYSTATE_MODE"] = np.where(has_building, _choice(rng, n, ["No", "Yes"], [0.985, 0.015]), None)
    obs30 = _with_missing(rng, rng.poisson(1.4, size=n).astype(float), 0.003)
    cols["OBS_30_CNT_SOCIAL_CIRCLE"] = obs30
    cols["DEF_30_CNT_SOCIAL_CIRCLE"] = np.where(np.isnan(obs30), np.nan, rng.binomial(np.nan_to_num(obs30).astype(int), 0.1 + 0.1 * (target == 1)))
    cols["OBS_60_CNT_SOCIAL_CIRCLE"] = obs30
    cols["DEF_60_CNT_SOCIAL_CIRCLE"] = np.where(np.isnan(obs30), np.nan, rng.binomial(np.nan_to_num(obs30).astype(int), 0.07))
    cols["DAYS_LAST_PHONE_CHANGE"] = -rng.integers(0, 4000, size=n).astype(float)
    for d, p in [(2, 0.00004), (3, 0.71), (5, 0.015), (6, 0.088), (8, 0.08), (16, 0.01), (18, 0.008)]:
        cols[f"FLAG_DOCUMENT_{d}"] = (rng.random(n) < p).astype(int)
    bureau_req_missing = rng.random(n) < 0.135
    for name, lam in [("AMT_REQ_CREDIT_BUREAU_HOUR", 0.006), ("AMT_REQ_CREDIT_BUREAU_DAY", 0.007),
                      ("AMT_REQ_CREDIT_BUREAU_WEEK", 0.034), ("AMT_REQ_CREDIT_BUREAU_MON", 0.27),
                      ("AMT_REQ_CREDIT_BUREAU_QRT", 0.27), ("AMT_REQ_CREDIT_BUREAU_YEAR", 1.9)]:
        cols[name] = np.where(bureau_req_missing, np.nan, rng.poisson(lam, size=n))
    return pd.DataFrame(cols)


def make_tables(scale: float = 1.0, seed: int = 0) -> dict[str, pd.DataFrame]:
    """The four tables as data frames (what :func:`generate` writes)."""
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale!r}")
    rng = np.random.default_rng(seed)
    n_train = max(50, int(round(TRAIN_PER_SCALE * scale)))
    n_test = max(20, int(round(TEST_PER_SCALE * scale)))
    ids = 100002 + np.cumsum(rng.integers(1, 3, size=n_train + n_test)) - 1
    is_test = np.zeros(n_train + n_test, dtype=bool)
    is_test[rng.choice(n_train + n_test, size=n_test, replace=False)] = True

    bureau, debt_frac, amt_sum = _bureau(rng, ids)
    # Per-client bureau risk: share of credit still owed, overdue and active counts.
    per_client = pd.DataFrame({
        "SK_ID_CURR": bureau["SK_ID_CURR"].to_numpy(),
        "debt": debt_frac * amt_sum,
        "sum": amt_sum,
        "overdue": (bureau["CREDIT_DAY_OVERDUE"].to_numpy() > 0).astype(float),
    }).groupby("SK_ID_CURR").sum()
    per_client = per_client.reindex(ids)
    debt_ratio = (per_client["debt"] / per_client["sum"]).fillna(0.2).to_numpy()
    debt_score = 2.0 * (debt_ratio - 0.2) + 0.8 * np.minimum(per_client["overdue"].fillna(0).to_numpy(), 2)

    app = _applications(rng, ids, debt_score)
    train = app.loc[~is_test].reset_index(drop=True)
    test = app.loc[is_test].drop(columns="TARGET").reset_index(drop=True)
    # Levels the test table never has (as on Kaggle): one-hot encodings must be aligned.
    xna = rng.choice(len(train), size=min(4, len(train)), replace=False)
    train.loc[xna, "CODE_GENDER"] = "XNA"
    test["NAME_INCOME_TYPE"] = test["NAME_INCOME_TYPE"].replace({"Maternity leave": "Working"})
    return {
        "application_train": train,
        "application_test": test,
        "bureau": bureau,
        "bureau_balance": _bureau_balance(rng, bureau),
    }


def generate(out: str | os.PathLike, scale: float = 1.0, seed: int = 0) -> dict[str, int]:
    """Write the four CSV files into ``out`` (created if missing); return rows per table."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = {}
    for name, df in make_tables(scale, seed).items():
        tmp = out / f".{name}.csv.tmp"
        df.to_csv(tmp, index=False)
        tmp.replace(out / f"{name}.csv")  # readers never see a half-written table
        rows[name] = len(df)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m collab_reuse.demo.generate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="demo-data", help="directory to write the CSV files into (default: demo-data)")
    parser.add_argument("--scale", type=float, default=1.0, help="size multiplier; 1.0 is test-sized (default 1.0)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args(argv)
    for name, n in generate(args.out, args.scale, args.seed).items():
        print(f"{name}.csv: {n} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
