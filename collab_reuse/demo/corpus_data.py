"""Deterministic synthetic data for the corpus notebooks (``corpus/``), one generator per dataset.

    python -m collab_reuse.demo.corpus_data --dataset house_prices --out DIR --scale S --seed 0

Each generator writes the files the real data set has, with its column names, dtypes, value
ranges and missing-value rates (taken from the public descriptions of the data and, for House
Prices, from the real training table's summary statistics), so that the outside notebooks' code
runs unchanged and their models learn something: the targets depend on a few real drivers
(``OverallQual`` / ``GrLivArea`` for house prices, ``median_income`` for California housing, the
Home Credit generator's latent credit quality for the extra Home Credit tables). Sizes are linear
in ``scale``; the same ``(scale, seed)`` gives byte-identical files.

* ``home_credit``: the four tables of :mod:`collab_reuse.demo.generate` (reused, not rewritten)
  plus ``previous_application``, ``POS_CASH_balance``, ``installments_payments`` and
  ``credit_card_balance`` for the same applicants (3,000 training applicants per unit of scale).
* ``california_housing``: ``housing.csv`` (20,640 districts at scale 1, as the real file) and
  ``california.png`` (a plain background image the Hands-On ML notebook downloads).
* ``house_prices``: Kaggle's ``train.csv`` / ``test.csv`` / ``sample_submission.csv`` (1,460
  and 1,459 houses at scale 1, as the real files; all 81 columns).
* ``titanic``: Kaggle's ``train.csv`` / ``test.csv`` / ``gender_submission.csv`` (891 and 418
  passengers at scale 1), passengers in families that share a surname, ticket, fare, class and
  port, with the real tables' names (``Surname, Title. First names``), ticket formats, cabins by
  class and missing values (age 20%, cabin 77%, two ports, one fare); survival driven by sex,
  class, age and family.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from .generate import make_tables


def _choice(rng: np.random.Generator, n: int, levels: dict[str, float]) -> np.ndarray:
    names = list(levels)
    p = np.asarray([levels[k] for k in names], dtype=float)
    return np.asarray(names, dtype=object)[rng.choice(len(names), size=n, p=p / p.sum())]


def _missing(rng: np.random.Generator, values: np.ndarray, frac: float) -> np.ndarray:
    out = values.astype(object) if values.dtype == object else values.astype(float)
    out[rng.random(len(out)) < frac] = None if out.dtype == object else np.nan
    return out


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    df.to_csv(tmp, index=False)
    tmp.replace(path)  # readers never see a half-written table


# -- Home Credit: the demo generator's four tables plus the other four -------------------------

def _previous_applications(rng: np.random.Generator, app: pd.DataFrame, risk: np.ndarray) -> pd.DataFrame:
    counts = rng.poisson(3.0, size=len(app))
    n = int(counts.sum())
    curr = np.repeat(app["SK_ID_CURR"].to_numpy(), counts)
    r = np.repeat(risk, counts)
    contract = _choice(rng, n, {"Cash loans": 0.45, "Consumer loans": 0.44, "Revolving loans": 0.11})
    refused_p = np.clip(0.12 + 0.25 * r, 0.02, 0.8)
    u = rng.random(n)
    status = np.where(u < refused_p, "Refused",
                      np.where(u < refused_p + 0.19, "Canceled",
                               np.where(u < refused_p + 0.205, "Unused offer", "Approved")))
    application = np.round(np.exp(rng.normal(11.5, 1.0, size=n)), -2)
    credit = np.round(application * rng.uniform(0.85, 1.15, size=n), -2)
    down = np.where(contract == "Consumer loans", np.round(application * rng.beta(1, 8, size=n), 1), np.nan)
    cnt_payment = rng.choice([6, 10, 12, 18, 24, 30, 36, 48, 60], size=n).astype(float)
    decision = -rng.integers(1, 2922, size=n)
    approved = status == "Approved"
    first_due = np.where(approved, decision + rng.integers(10, 60, size=n), np.nan)
    last_due = np.where(approved, first_due + 30 * cnt_payment, np.nan)
    never_ended = approved & (rng.random(n) < 0.4)
    df = pd.DataFrame({
        "SK_ID_PREV": 1000000 + rng.permutation(n),
        "SK_ID_CURR": curr,
        "NAME_CONTRACT_TYPE": contract,
        "AMT_ANNUITY": _missing(rng, np.round(credit / cnt_payment * 1.15, 2), 0.2),
        "AMT_APPLICATION": application,
        "AMT_CREDIT": credit,
        "AMT_DOWN_PAYMENT": down,
        "AMT_GOODS_PRICE": np.where(contract == "Revolving loans", np.nan, application),
        "WEEKDAY_APPR_PROCESS_START": _choice(rng, n, {d: w for d, w in zip(
            ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"],
            [15, 15, 15, 15, 15, 15, 10])}),
        "HOUR_APPR_PROCESS_START": np.clip(np.round(rng.normal(12.5, 3.3, size=n)), 0, 23).astype(int),
        "FLAG_LAST_APPL_PER_CONTRACT": _choice(rng, n, {"Y": 0.995, "N": 0.005}),
        "NFLAG_LAST_APPL_IN_DAY": (rng.random(n) < 0.996).astype(int),
        "RATE_DOWN_PAYMENT": np.where(np.isnan(down), np.nan, np.round(down / application, 6)),
        "NAME_CASH_LOAN_PURPOSE": _choice(rng, n, {"XAP": 0.55, "XNA": 0.4, "Repairs": 0.02, "Other": 0.01,
                                                   "Urgent needs": 0.01, "Everyday expenses": 0.01}),
        "NAME_CONTRACT_STATUS": status,
        "DAYS_DECISION": decision,
        "NAME_PAYMENT_TYPE": _choice(rng, n, {"Cash through the bank": 0.62, "XNA": 0.37,
                                              "Non-cash from your account": 0.01}),
        "CODE_REJECT_REASON": np.where(status == "Refused",
                                       _choice(rng, n, {"HC": 0.5, "LIMIT": 0.15, "SCO": 0.12, "SCOFR": 0.1,
                                                        "VERIF": 0.08, "SYSTEM": 0.05}), "XAP"),
        "NAME_TYPE_SUITE": _missing(rng, _choice(rng, n, {"Unaccompanied": 0.6, "Family": 0.26,
                                                          "Spouse, partner": 0.08, "Children": 0.04,
                                                          "Other_B": 0.02}), 0.49),
        "NAME_CLIENT_TYPE": _choice(rng, n, {"Repeater": 0.74, "New": 0.18, "Refreshed": 0.08}),
        "NAME_GOODS_CATEGORY": _choice(rng, n, {"XNA": 0.57, "Mobile": 0.13, "Consumer Electronics": 0.07,
                                                "Computers": 0.06, "Audio/Video": 0.06, "Furniture": 0.03,
                                                "Photo / Cinema Equipment": 0.02, "Construction Materials": 0.02,
                                                "Clothing and Accessories": 0.04}),
        "NAME_PORTFOLIO": _choice(rng, n, {"POS": 0.41, "Cash": 0.28, "XNA": 0.22, "Cards": 0.09}),
        "NAME_PRODUCT_TYPE": _choice(rng, n, {"XNA": 0.64, "x-sell": 0.27, "walk-in": 0.09}),
        "CHANNEL_TYPE": _choice(rng, n, {"Credit and cash offices": 0.43, "Country-wide": 0.3,
                                         "Stone": 0.13, "Regional / Local": 0.07, "Contact center": 0.04,
                                         "AP+ (Cash loan)": 0.03}),
        "SELLERPLACE_AREA": np.where(rng.random(n) < 0.45, -1, rng.integers(1, 4000, size=n)),
        "NAME_SELLER_INDUSTRY": _choice(rng, n, {"XNA": 0.51, "Consumer electronics": 0.24,
                                                 "Connectivity": 0.17, "Furniture": 0.04, "Construction": 0.04}),
        "CNT_PAYMENT": _missing(rng, cnt_payment, 0.22),
        "NAME_YIELD_GROUP": _choice(rng, n, {"XNA": 0.31, "middle": 0.23, "high": 0.21, "low_normal": 0.19,
                                             "low_action": 0.06}),
        "PRODUCT_COMBINATION": _missing(rng, _choice(rng, n, {"Cash": 0.17, "POS household with interest": 0.16,
                                                              "POS mobile with interest": 0.13,
                                                              "Cash X-Sell: middle": 0.09, "Cash X-Sell: low": 0.08,
                                                              "Card Street": 0.07, "POS industry with interest": 0.06,
                                                              "Card X-Sell": 0.05, "Cash Street: high": 0.04,
                                                              "POS other with interest": 0.15}), 0.0002),
        "DAYS_FIRST_DRAWING": np.where(approved, np.where(rng.random(n) < 0.96, 365243.0,
                                                           decision + rng.integers(1, 30, size=n)), np.nan),
        "DAYS_FIRST_DUE": first_due,
        "DAYS_LAST_DUE_1ST_VERSION": last_due,
        "DAYS_LAST_DUE": np.where(never_ended, 365243.0, last_due),
        "DAYS_TERMINATION": np.where(never_ended, 365243.0, last_due + rng.integers(0, 10, size=n)),
        "NFLAG_INSURED_ON_APPROVAL": np.where(approved, (rng.random(n) < 0.33).astype(float), np.nan),
    })
    return df


def _monthly_rows(rng: np.random.Generator, prev: pd.DataFrame, mean_months: float, cap: int):
    k = np.minimum(rng.geometric(1 / mean_months, size=len(prev)), cap)
    n = int(k.sum())
    starts = np.repeat(np.cumsum(k) - k, k)
    months = -(np.arange(n) - starts) - 1
    return k, n, months


def _pos_cash(rng: np.random.Generator, prev: pd.DataFrame, risk_by_curr: pd.Series) -> pd.DataFrame:
    loans = prev[prev["NAME_CONTRACT_TYPE"] != "Revolving loans"]
    k, n, months = _monthly_rows(rng, loans, 10.0, 96)
    risk = np.repeat(risk_by_curr.reindex(loans["SK_ID_CURR"]).fillna(0).to_numpy(), k)
    cnt = np.repeat(loans["CNT_PAYMENT"].fillna(12).to_numpy(), k)
    future = np.maximum(cnt + months, 0)
    late = rng.random(n) < np.clip(0.02 + 0.05 * risk, 0, 0.5)
    dpd = np.where(late, rng.integers(1, 120, size=n), 0)
    return pd.DataFrame({
        "SK_ID_PREV": np.repeat(loans["SK_ID_PREV"].to_numpy(), k),
        "SK_ID_CURR": np.repeat(loans["SK_ID_CURR"].to_numpy(), k),
        "MONTHS_BALANCE": months,
        "CNT_INSTALMENT": _missing(rng, cnt, 0.003),
        "CNT_INSTALMENT_FUTURE": _missing(rng, future, 0.003),
        "NAME_CONTRACT_STATUS": np.where(future == 0, "Completed",
                                         _choice(rng, n, {"Active": 0.97, "Signed": 0.02, "Demand": 0.005,
                                                          "Returned to the store": 0.005})),
        "SK_DPD": dpd,
        "SK_DPD_DEF": np.where(dpd > 30, dpd - 30, 0),
    })


def _installments(rng: np.random.Generator, prev: pd.DataFrame, risk_by_curr: pd.Series) -> pd.DataFrame:
    approved = prev[prev["NAME_CONTRACT_STATUS"] == "Approved"]
    k, n, months = _monthly_rows(rng, approved, 9.0, 72)
    risk = np.repeat(risk_by_curr.reindex(approved["SK_ID_CURR"]).fillna(0).to_numpy(), k)
    due = 30.0 * months + rng.integers(0, 30, size=n)
    delay = np.where(rng.random(n) < np.clip(0.08 + 0.1 * risk, 0, 0.8), rng.integers(1, 60, size=n),
                     -rng.integers(0, 20, size=n))
    instalment = np.round(np.repeat(approved["AMT_ANNUITY"].fillna(5000).to_numpy(), k), 3)
    paid = np.round(instalment * np.where(rng.random(n) < 0.07, rng.uniform(0, 1, size=n), 1.0), 3)
    unpaid = rng.random(n) < 0.0002
    return pd.DataFrame({
        "SK_ID_PREV": np.repeat(approved["SK_ID_PREV"].to_numpy(), k),
        "SK_ID_CURR": np.repeat(approved["SK_ID_CURR"].to_numpy(), k),
        "NUM_INSTALMENT_VERSION": rng.choice([0.0, 1.0, 2.0], size=n, p=[0.3, 0.65, 0.05]),
        "NUM_INSTALMENT_NUMBER": -months,
        "DAYS_INSTALMENT": due,
        "DAYS_ENTRY_PAYMENT": np.where(unpaid, np.nan, due + delay),
        "AMT_INSTALMENT": instalment,
        "AMT_PAYMENT": np.where(unpaid, np.nan, paid),
    })


def _credit_cards(rng: np.random.Generator, prev: pd.DataFrame, risk_by_curr: pd.Series) -> pd.DataFrame:
    cards = prev[prev["NAME_CONTRACT_TYPE"] == "Revolving loans"]
    k, n, months = _monthly_rows(rng, cards, 14.0, 96)
    risk = np.repeat(risk_by_curr.reindex(cards["SK_ID_CURR"]).fillna(0).to_numpy(), k)
    limit = np.repeat(rng.choice([0, 45000, 90000, 135000, 180000, 270000, 450000], size=len(cards)), k).astype(float)
    balance = np.round(limit * np.clip(rng.beta(1.2, 2.5, size=n) + 0.15 * risk, 0, 1.3), 3)
    drawings = np.where(rng.random(n) < 0.25, np.round(rng.exponential(15000, size=n), 2), 0.0)
    atm = np.round(drawings * rng.choice([0, 1], size=n, p=[0.4, 0.6]), 2)
    pos = np.round(drawings - atm, 2)
    no_info = rng.random(n) < 0.19
    min_reg = np.round(balance * 0.05, 3)
    payment = np.round(np.where(rng.random(n) < 0.8, min_reg * rng.uniform(1, 4, size=n), 0), 3)
    cnt_draw = np.where(drawings > 0, rng.integers(1, 8, size=n), 0)
    late = rng.random(n) < np.clip(0.01 + 0.05 * risk, 0, 0.5)
    dpd = np.where(late, rng.integers(1, 90, size=n), 0)
    return pd.DataFrame({
        "SK_ID_PREV": np.repeat(cards["SK_ID_PREV"].to_numpy(), k),
        "SK_ID_CURR": np.repeat(cards["SK_ID_CURR"].to_numpy(), k),
        "MONTHS_BALANCE": months,
        "AMT_BALANCE": balance,
        "AMT_CREDIT_LIMIT_ACTUAL": limit.astype(int),
        "AMT_DRAWINGS_ATM_CURRENT": np.where(no_info, np.nan, atm),
        "AMT_DRAWINGS_CURRENT": drawings,
        "AMT_DRAWINGS_OTHER_CURRENT": np.where(no_info, np.nan, 0.0),
        "AMT_DRAWINGS_POS_CURRENT": np.where(no_info, np.nan, pos),
        "AMT_INST_MIN_REGULARITY": _missing(rng, min_reg, 0.08),
        "AMT_PAYMENT_CURRENT": np.where(no_info, np.nan, payment),
        "AMT_PAYMENT_TOTAL_CURRENT": payment,
        "AMT_RECEIVABLE_PRINCIPAL": np.round(balance * 0.96, 3),
        "AMT_RECIVABLE": balance,
        "AMT_TOTAL_RECEIVABLE": balance,
        "CNT_DRAWINGS_ATM_CURRENT": np.where(no_info, np.nan, (atm > 0) * cnt_draw),
        "CNT_DRAWINGS_CURRENT": cnt_draw,
        "CNT_DRAWINGS_OTHER_CURRENT": np.where(no_info, np.nan, 0.0),
        "CNT_DRAWINGS_POS_CURRENT": np.where(no_info, np.nan, (pos > 0) * cnt_draw),
        "CNT_INSTALMENT_MATURE_CUM": _missing(rng, np.maximum(-months - 1, 0).astype(float), 0.08),
        "NAME_CONTRACT_STATUS": _choice(rng, n, {"Active": 0.963, "Completed": 0.033, "Signed": 0.004}),
        "SK_DPD": dpd,
        "SK_DPD_DEF": np.where(dpd > 30, 1, 0),
    })


def home_credit(out: Path, scale: float, seed: int) -> dict[str, int]:
    """The demo generator's tables, then the four tables of previous credits at Home Credit."""
    tables = make_tables(scale, seed)
    rng = np.random.default_rng([seed, 1])  # its own stream: the four demo tables stay those of the demo
    app = pd.concat([tables["application_train"], tables["application_test"]], ignore_index=True)
    ext = app[["EXT_SOURCE_1", "EXT_SOURCE_2", "EXT_SOURCE_3"]].mean(axis=1).fillna(0.5).to_numpy()
    target = app["TARGET"].fillna(0).to_numpy()
    risk = (0.5 - ext) * 4 + 1.5 * target  # previous behaviour tells a little about the default
    prev = _previous_applications(rng, app, risk)
    risk_by_curr = pd.Series(risk, index=app["SK_ID_CURR"].to_numpy())
    tables["previous_application"] = prev
    tables["POS_CASH_balance"] = _pos_cash(rng, prev, risk_by_curr)
    tables["installments_payments"] = _installments(rng, prev, risk_by_curr)
    tables["credit_card_balance"] = _credit_cards(rng, prev, risk_by_curr)
    rows = {}
    for name, df in tables.items():
        _write_csv(df, out / f"{name}.csv")
        rows[name] = len(df)
    return rows


# -- California housing (Hands-On Machine Learning, chapter 2) ----------------------------------

def california_housing(out: Path, scale: float, seed: int) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    n = max(200, int(round(20640 * scale)))
    # two population centres (Los Angeles, San Francisco) and the Central Valley
    centre = rng.choice(3, size=n, p=[0.55, 0.3, 0.15])
    lon = np.choose(centre, [-118.3, -122.2, -120.0]) + rng.normal(0, [0.6, 0.5, 0.9][0], size=n)
    lat = np.choose(centre, [34.1, 37.7, 36.8]) + rng.normal(0, 0.5, size=n)
    lon, lat = np.round(np.clip(lon, -124.35, -114.31), 2), np.round(np.clip(lat, 32.54, 41.95), 2)
    income = np.round(np.clip(rng.lognormal(1.28, 0.45, size=n), 0.4999, 15.0001), 4)
    age = np.clip(np.round(rng.normal(29, 12.5, size=n)), 1, 52)
    households = np.maximum(np.round(rng.lognormal(6.0, 0.7, size=n)), 1)
    rooms = np.round(households * np.clip(rng.normal(5.2 + 0.25 * income, 1.0, size=n), 1.5, 40))
    bedrooms = np.round(rooms * np.clip(rng.normal(0.21, 0.04, size=n), 0.1, 0.6))
    population = np.round(households * np.clip(rng.normal(2.9, 0.7, size=n), 1, 12))
    proximity = np.where(centre == 2, "INLAND",
                         _choice(rng, n, {"<1H OCEAN": 0.6, "NEAR OCEAN": 0.19, "NEAR BAY": 0.16, "INLAND": 0.05}))
    island = rng.choice(n, size=5, replace=False)  # the real file has five
    proximity[island] = "ISLAND"
    value = (45000 + 40000 * income + 900 * age + 60000 * (proximity != "INLAND")
             - 2500 * np.abs(lat - 35.5) + rng.normal(0, 45000, size=n))
    value = np.round(np.clip(value, 14999, 500001), -2)
    value[value >= 500000] = 500001.0  # the real data's cap
    df = pd.DataFrame({
        "longitude": lon, "latitude": lat, "housing_median_age": age, "total_rooms": rooms,
        "total_bedrooms": _missing(rng, bedrooms, 0.01), "population": population,
        "households": households, "median_income": income, "median_house_value": value,
        "ocean_proximity": proximity,
    })
    _write_csv(df, out / "housing.csv")
    _write_png(out / "california.png", rng)
    return {"housing": n}


def _write_png(path: Path, rng: np.random.Generator) -> None:
    """A small RGBA image (the map the notebook lays under its scatter plot), PNG written by hand
    (zlib only) so that the bytes depend on nothing but the seed."""
    import struct
    import zlib

    h, w = 48, 54
    pixels = (rng.random((h, w, 4)) * 60 + 150).astype(np.uint8)
    pixels[..., 3] = 255
    raw = b"".join(b"\x00" + pixels[y].tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    path.write_bytes(png)


# -- House Prices: Advanced Regression Techniques (Ames, Iowa) -----------------------------------

_QUAL = {"TA": 0.5, "Gd": 0.35, "Ex": 0.07, "Fa": 0.07, "Po": 0.01}
#: categorical columns: (levels with frequencies, share missing) as in the real train.csv
_HP_CATEGORIES: dict[str, tuple[dict[str, float], float]] = {
    "MSZoning": ({"RL": 0.788, "RM": 0.149, "FV": 0.045, "RH": 0.011, "C (all)": 0.007}, 0.0),
    "Street": ({"Pave": 0.996, "Grvl": 0.004}, 0.0),
    "Alley": ({"Grvl": 0.55, "Pave": 0.45}, 0.938),
    "LotShape": ({"Reg": 0.634, "IR1": 0.332, "IR2": 0.028, "IR3": 0.007}, 0.0),
    "LandContour": ({"Lvl": 0.898, "Bnk": 0.043, "HLS": 0.034, "Low": 0.025}, 0.0),
    "Utilities": ({"AllPub": 0.999, "NoSeWa": 0.001}, 0.0),
    "LotConfig": ({"Inside": 0.721, "Corner": 0.18, "CulDSac": 0.064, "FR2": 0.032, "FR3": 0.003}, 0.0),
    "LandSlope": ({"Gtl": 0.947, "Mod": 0.045, "Sev": 0.009}, 0.0),
    "Condition1": ({"Norm": 0.863, "Feedr": 0.055, "Artery": 0.033, "RRAn": 0.018, "PosN": 0.013,
                    "RRAe": 0.008, "PosA": 0.005, "RRNn": 0.003}, 0.0),
    "Condition2": ({"Norm": 0.99, "Feedr": 0.004, "Artery": 0.002, "RRNn": 0.002, "PosN": 0.002}, 0.0),
    "BldgType": ({"1Fam": 0.836, "TwnhsE": 0.078, "Duplex": 0.036, "Twnhs": 0.029, "2fmCon": 0.021}, 0.0),
    "HouseStyle": ({"1Story": 0.497, "2Story": 0.305, "1.5Fin": 0.105, "SLvl": 0.045, "SFoyer": 0.025,
                    "1.5Unf": 0.01, "2.5Unf": 0.008, "2.5Fin": 0.005}, 0.0),
    "RoofStyle": ({"Gable": 0.782, "Hip": 0.196, "Flat": 0.009, "Gambrel": 0.008, "Mansard": 0.005}, 0.0),
    "RoofMatl": ({"CompShg": 0.982, "Tar&Grv": 0.008, "WdShngl": 0.005, "WdShake": 0.005}, 0.0),
    "Exterior1st": ({"VinylSd": 0.353, "HdBoard": 0.152, "MetalSd": 0.151, "Wd Sdng": 0.141, "Plywood": 0.074,
                     "CemntBd": 0.042, "BrkFace": 0.034, "WdShing": 0.018, "Stucco": 0.017}, 0.0),
    "Exterior2nd": ({"VinylSd": 0.345, "MetalSd": 0.147, "HdBoard": 0.142, "Wd Sdng": 0.135, "Plywood": 0.097,
                     "CmentBd": 0.041, "Wd Shng": 0.026, "Stucco": 0.018, "BrkFace": 0.017}, 0.0),
    "MasVnrType": ({"None": 0.597, "BrkFace": 0.305, "Stone": 0.088, "BrkCmn": 0.01}, 0.0055),
    "ExterQual": ({"TA": 0.621, "Gd": 0.334, "Ex": 0.036, "Fa": 0.01}, 0.0),
    "ExterCond": ({"TA": 0.878, "Gd": 0.1, "Fa": 0.019, "Ex": 0.002, "Po": 0.001}, 0.0),
    "Foundation": ({"PConc": 0.443, "CBlock": 0.434, "BrkTil": 0.1, "Slab": 0.016, "Stone": 0.004,
                    "Wood": 0.002}, 0.0),
    "BsmtQual": ({"TA": 0.456, "Gd": 0.434, "Ex": 0.085, "Fa": 0.025}, 0.0253),
    "BsmtCond": ({"TA": 0.921, "Gd": 0.046, "Fa": 0.032, "Po": 0.001}, 0.0253),
    "BsmtExposure": ({"No": 0.67, "Av": 0.155, "Gd": 0.094, "Mn": 0.08}, 0.026),
    "BsmtFinType1": ({"Unf": 0.302, "GLQ": 0.294, "ALQ": 0.155, "BLQ": 0.104, "Rec": 0.093, "LwQ": 0.052}, 0.0253),
    "BsmtFinType2": ({"Unf": 0.883, "Rec": 0.038, "LwQ": 0.032, "BLQ": 0.023, "ALQ": 0.013, "GLQ": 0.01}, 0.026),
    "Heating": ({"GasA": 0.978, "GasW": 0.012, "Grav": 0.005, "Wall": 0.003, "OthW": 0.002}, 0.0),
    "HeatingQC": ({"Ex": 0.508, "TA": 0.293, "Gd": 0.165, "Fa": 0.034, "Po": 0.001}, 0.0),
    "CentralAir": ({"Y": 0.935, "N": 0.065}, 0.0),
    "Electrical": ({"SBrkr": 0.914, "FuseA": 0.064, "FuseF": 0.019, "FuseP": 0.002, "Mix": 0.001}, 0.0007),
    "KitchenQual": ({"TA": 0.503, "Gd": 0.401, "Ex": 0.068, "Fa": 0.027}, 0.0),
    "Functional": ({"Typ": 0.932, "Min2": 0.023, "Min1": 0.021, "Mod": 0.01, "Maj1": 0.01, "Maj2": 0.003,
                    "Sev": 0.001}, 0.0),
    "FireplaceQu": ({"Gd": 0.494, "TA": 0.406, "Fa": 0.043, "Ex": 0.031, "Po": 0.026}, 0.4726),
    "GarageType": ({"Attchd": 0.631, "Detchd": 0.281, "BuiltIn": 0.064, "Basment": 0.014, "CarPort": 0.007,
                    "2Types": 0.004}, 0.0555),
    "GarageFinish": ({"Unf": 0.439, "RFn": 0.306, "Fin": 0.255}, 0.0555),
    "GarageQual": ({"TA": 0.951, "Fa": 0.035, "Gd": 0.01, "Ex": 0.002, "Po": 0.002}, 0.0555),
    "GarageCond": ({"TA": 0.962, "Fa": 0.025, "Gd": 0.007, "Po": 0.005, "Ex": 0.001}, 0.0555),
    "PavedDrive": ({"Y": 0.918, "N": 0.062, "P": 0.021}, 0.0),
    "PoolQC": ({"Gd": 0.43, "Ex": 0.285, "Fa": 0.285}, 0.9952),
    "Fence": ({"MnPrv": 0.559, "GdPrv": 0.21, "GdWo": 0.192, "MnWw": 0.039}, 0.8075),
    "MiscFeature": ({"Shed": 0.907, "Gar2": 0.037, "Othr": 0.037, "TenC": 0.019}, 0.963),
    "SaleType": ({"WD": 0.868, "New": 0.084, "COD": 0.029, "ConLD": 0.006, "ConLI": 0.003, "ConLw": 0.003,
                  "CWD": 0.003, "Oth": 0.002}, 0.0),
    "SaleCondition": ({"Normal": 0.821, "Partial": 0.086, "Abnorml": 0.069, "Family": 0.014, "Alloca": 0.008,
                       "AdjLand": 0.003}, 0.0),
}
_NEIGHBORHOODS = {"NAmes": 0.154, "CollgCr": 0.103, "OldTown": 0.077, "Edwards": 0.068, "Somerst": 0.059,
                  "Gilbert": 0.054, "NridgHt": 0.053, "Sawyer": 0.051, "NWAmes": 0.05, "SawyerW": 0.04,
                  "BrkSide": 0.04, "Crawfor": 0.035, "Mitchel": 0.034, "NoRidge": 0.028, "Timber": 0.026,
                  "IDOTRR": 0.025, "ClearCr": 0.019, "StoneBr": 0.017, "SWISU": 0.017, "MeadowV": 0.012,
                  "Blmngtn": 0.012, "BrDale": 0.011, "Veenker": 0.008, "NPkVill": 0.006, "Blueste": 0.002}
#: the real test.csv has a few missing values the training table doesn't (the notebooks fill them)
_TEST_ONLY_MISSING = ("MSZoning", "Utilities", "Exterior1st", "Exterior2nd", "KitchenQual", "Functional",
                      "SaleType", "BsmtFullBath", "BsmtHalfBath", "GarageCars", "GarageArea", "BsmtFinSF1",
                      "BsmtFinSF2", "BsmtUnfSF", "TotalBsmtSF")


def _house_table(rng: np.random.Generator, ids: np.ndarray, with_price: bool) -> pd.DataFrame:
    n = len(ids)
    qual = np.clip(np.round(rng.normal(6.1, 1.4, size=n)), 1, 10).astype(int)
    year = np.clip(np.round(2010 - rng.gamma(1.6, 24, size=n) + 4 * (qual - 6)), 1872, 2010).astype(int)
    remod = np.maximum(year, np.clip(np.round(rng.uniform(1950, 2010, size=n)), 1950, 2010)).astype(int)
    first = np.round(np.clip(rng.lognormal(6.99, 0.32, size=n) + 60 * (qual - 6), 334, 4692)).astype(int)
    two_story = rng.random(n) < 0.43
    second = np.where(two_story, np.round(first * rng.uniform(0.5, 1.1, size=n)), 0).astype(int)
    low = np.where(rng.random(n) < 0.02, rng.integers(50, 572, size=n), 0)
    grliv = first + second + low
    no_bsmt = rng.random(n) < 0.025
    total_bsmt = np.where(no_bsmt, 0, np.round(first * rng.uniform(0.6, 1.05, size=n))).astype(int)
    fin1 = np.where(rng.random(n) < 0.68, np.round(total_bsmt * rng.uniform(0.2, 0.9, size=n)), 0).astype(int)
    fin2 = np.where(rng.random(n) < 0.11, np.round((total_bsmt - fin1) * rng.uniform(0, 0.6, size=n)), 0).astype(int)
    unf = total_bsmt - fin1 - fin2
    garage_cars = np.where(rng.random(n) < 0.0555, 0, np.clip(np.round(rng.normal(1.8 + 0.25 * (qual - 6), 0.6,
                                                                                   size=n)), 1, 4)).astype(int)
    no_garage = garage_cars == 0
    lot_area = np.round(np.clip(rng.lognormal(9.1, 0.5, size=n), 1300, 215245)).astype(int)
    cols: dict[str, object] = {"Id": ids}
    cols["MSSubClass"] = rng.choice([20, 60, 50, 120, 30, 160, 70, 80, 90, 190, 85, 75, 45, 180, 40], size=n,
                                    p=np.array([536, 299, 144, 87, 69, 63, 60, 58, 52, 30, 20, 16, 12, 10, 4]) / 1460)
    cat = {name: _missing(rng, _choice(rng, n, levels), frac) for name, (levels, frac) in _HP_CATEGORIES.items()}
    cat["Neighborhood"] = _choice(rng, n, _NEIGHBORHOODS)
    for name in ("BsmtQual", "BsmtCond", "BsmtExposure", "BsmtFinType1", "BsmtFinType2"):
        cat[name] = np.where(no_bsmt, None, np.where(cat[name] == None, _choice(rng, n, _HP_CATEGORIES[name][0]),  # noqa: E711
                                                      cat[name]))
    for name in ("GarageType", "GarageFinish", "GarageQual", "GarageCond"):
        cat[name] = np.where(no_garage, None, np.where(cat[name] == None, _choice(rng, n, _HP_CATEGORIES[name][0]),  # noqa: E711
                                                        cat[name]))
    fireplaces = np.where(rng.random(n) < 0.47, 0, rng.choice([1, 2, 3], size=n, p=[0.86, 0.13, 0.01]))
    cat["FireplaceQu"] = np.where(fireplaces == 0, None, _choice(rng, n, _HP_CATEGORIES["FireplaceQu"][0]))
    pool = np.where(rng.random(n) < 0.005, rng.integers(400, 738, size=n), 0)
    cat["PoolQC"] = np.where(pool == 0, None, _choice(rng, n, _HP_CATEGORIES["PoolQC"][0]))
    misc_val = np.where(cat["MiscFeature"] == None, 0, rng.choice([400, 500, 700, 1200, 2000], size=n))  # noqa: E711
    mas_area = np.where(cat["MasVnrType"] == "None", 0.0, np.round(rng.lognormal(5.2, 0.6, size=n)))
    mas_area = np.where(cat["MasVnrType"] == None, np.nan, mas_area)  # noqa: E711
    full_bath = np.clip(np.round(grliv / 900 + rng.normal(0, 0.3, size=n)), 0, 3).astype(int)
    bedrooms = np.clip(np.round(grliv / 520 + rng.normal(0, 0.6, size=n)), 0, 8).astype(int)
    garage_area = np.where(no_garage, 0, np.round(garage_cars * rng.normal(250, 30, size=n))).astype(int)
    numeric = {
        "LotFrontage": _missing(rng, np.round(np.clip(rng.normal(70, 22, size=n), 21, 313)), 0.1774),
        "LotArea": lot_area, "OverallQual": qual,
        "OverallCond": np.clip(np.round(rng.normal(5.6, 1.1, size=n)), 1, 9).astype(int),
        "YearBuilt": year, "YearRemodAdd": remod, "MasVnrArea": mas_area,
        "BsmtFinSF1": fin1, "BsmtFinSF2": fin2, "BsmtUnfSF": unf, "TotalBsmtSF": total_bsmt,
        "1stFlrSF": first, "2ndFlrSF": second, "LowQualFinSF": low, "GrLivArea": grliv,
        "BsmtFullBath": np.where(fin1 > 0, rng.choice([0, 1, 2], size=n, p=[0.2, 0.75, 0.05]), 0),
        "BsmtHalfBath": (rng.random(n) < 0.06).astype(int),
        "FullBath": full_bath, "HalfBath": np.where(two_story, rng.choice([0, 1], size=n), 0),
        "BedroomAbvGr": bedrooms, "KitchenAbvGr": np.where(rng.random(n) < 0.05, 2, 1),
        "TotRmsAbvGrd": np.clip(bedrooms + 3 + rng.integers(0, 3, size=n), 2, 14),
        "Fireplaces": fireplaces,
        "GarageYrBlt": np.where(no_garage, np.nan, np.maximum(year, year + rng.integers(0, 3, size=n)).astype(float)),
        "GarageCars": garage_cars, "GarageArea": garage_area,
        "WoodDeckSF": np.where(rng.random(n) < 0.48, np.round(rng.lognormal(5.1, 0.5, size=n)), 0).astype(int),
        "OpenPorchSF": np.where(rng.random(n) < 0.55, np.round(rng.lognormal(3.9, 0.6, size=n)), 0).astype(int),
        "EnclosedPorch": np.where(rng.random(n) < 0.14, rng.integers(20, 552, size=n), 0),
        "3SsnPorch": np.where(rng.random(n) < 0.02, rng.integers(20, 508, size=n), 0),
        "ScreenPorch": np.where(rng.random(n) < 0.08, rng.integers(40, 480, size=n), 0),
        "PoolArea": pool, "MiscVal": misc_val,
        "MoSold": rng.choice(np.arange(1, 13), size=n, p=np.array([58, 52, 106, 141, 204, 253, 234, 122, 63, 89,
                                                                     79, 59]) / 1460),
        "YrSold": rng.choice([2006, 2007, 2008, 2009, 2010], size=n, p=[0.22, 0.22, 0.21, 0.23, 0.12]),
    }
    real_order = ["Id", "MSSubClass", "MSZoning", "LotFrontage", "LotArea", "Street", "Alley", "LotShape",
                  "LandContour", "Utilities", "LotConfig", "LandSlope", "Neighborhood", "Condition1", "Condition2",
                  "BldgType", "HouseStyle", "OverallQual", "OverallCond", "YearBuilt", "YearRemodAdd", "RoofStyle",
                  "RoofMatl", "Exterior1st", "Exterior2nd", "MasVnrType", "MasVnrArea", "ExterQual", "ExterCond",
                  "Foundation", "BsmtQual", "BsmtCond", "BsmtExposure", "BsmtFinType1", "BsmtFinSF1",
                  "BsmtFinType2", "BsmtFinSF2", "BsmtUnfSF", "TotalBsmtSF", "Heating", "HeatingQC", "CentralAir",
                  "Electrical", "1stFlrSF", "2ndFlrSF", "LowQualFinSF", "GrLivArea", "BsmtFullBath",
                  "BsmtHalfBath", "FullBath", "HalfBath", "BedroomAbvGr", "KitchenAbvGr", "KitchenQual",
                  "TotRmsAbvGrd", "Functional", "Fireplaces", "FireplaceQu", "GarageType", "GarageYrBlt",
                  "GarageFinish", "GarageCars", "GarageArea", "GarageQual", "GarageCond", "PavedDrive",
                  "WoodDeckSF", "OpenPorchSF", "EnclosedPorch", "3SsnPorch", "ScreenPorch", "PoolArea", "PoolQC",
                  "Fence", "MiscFeature", "MiscVal", "MoSold", "YrSold", "SaleType", "SaleCondition"]
    cols.update(cat)
    cols.update(numeric)
    df = pd.DataFrame({name: cols[name] for name in real_order})
    if with_price:
        nb_premium = df["Neighborhood"].map({"NoRidge": 0.35, "NridgHt": 0.3, "StoneBr": 0.3, "Timber": 0.15,
                                             "Somerst": 0.1, "MeadowV": -0.25, "IDOTRR": -0.3, "BrDale": -0.25,
                                             "OldTown": -0.1}).fillna(0.0).to_numpy()
        log_price = (10.3 + 0.12 * qual + 0.00042 * grliv + 0.00012 * total_bsmt + 0.0025 * (year - 1970)
                     + 0.06 * garage_cars + nb_premium + 0.05 * fireplaces + rng.normal(0, 0.11, size=n))
        df["SalePrice"] = np.round(np.clip(np.exp(log_price), 34900, 755000)).astype(int)
        # the two famous outliers: huge living area, low price (the notebooks delete them)
        big = rng.choice(n, size=min(2, n), replace=False)
        df.loc[big, "GrLivArea"] = [5642, 4676][: len(big)]
        df.loc[big, "SalePrice"] = [160000, 184750][: len(big)]
    else:
        for name in _TEST_ONLY_MISSING:  # one or two houses each, as in the real test.csv
            rows = rng.choice(n, size=min(2, n), replace=False)
            numeric = pd.api.types.is_numeric_dtype(df[name])
            df[name] = df[name].astype(float) if numeric else df[name].astype(object)
            df.loc[rows, name] = np.nan
    return df


def house_prices(out: Path, scale: float, seed: int) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    n_train = max(100, int(round(1460 * scale)))
    n_test = max(100, int(round(1459 * scale)))
    train = _house_table(rng, np.arange(1, n_train + 1), True)
    test = _house_table(rng, np.arange(n_train + 1, n_train + n_test + 1), False)
    _write_csv(train, out / "train.csv")
    _write_csv(test, out / "test.csv")
    _write_csv(pd.DataFrame({"Id": test["Id"], "SalePrice": 180921.0}), out / "sample_submission.csv")
    return {"train": n_train, "test": n_test}


# -- Titanic: Machine Learning from Disaster --------------------------------------------------------

#: passengers' family sizes (SibSp + Parch + 1) in the real data, counted per family: 790 travelled alone, ...,
#: one family of eleven
_FAMILY_SIZES = {1: 790, 2: 117, 3: 53, 4: 11, 5: 4.4, 6: 4.2, 7: 2.3, 8: 1, 11: 1}
_RARE_MALE_TITLES = {"Dr": 8, "Rev": 8, "Col": 4, "Major": 2, "Capt": 1, "Sir": 1, "Don": 1, "Jonkheer": 1}
_RARE_FEMALE_TITLES = {"Mlle": 2, "Ms": 2, "Mme": 1, "Lady": 1, "the Countess": 1, "Dona": 1}
_FIRST_NAMES_MALE = ["John", "William", "Charles", "George", "James", "Thomas", "Henry", "Edward", "Frederick",
                     "Arthur", "Joseph", "Karl", "Johan", "Patrick", "Albert", "Ernst", "Nils", "Samuel", "Leo"]
_FIRST_NAMES_FEMALE = ["Mary", "Anna", "Elizabeth", "Margaret", "Ellen", "Helen", "Alice", "Bertha", "Kate",
                       "Hilda", "Maria", "Emily", "Agnes", "Ida", "Marion", "Edith", "Jane", "Bridget", "Ruth"]


def _surnames(rng: np.random.Generator, n: int) -> np.ndarray:
    """Made-up surnames from syllables (common ones repeat, as Andersson and Sage do in the real list)."""
    first = ["An", "Ber", "Car", "Dal", "El", "Fen", "Gold", "Har", "Ja", "Kel", "Lind", "Mor", "Nor", "Ol",
             "Pal", "Ros", "Sand", "Tal", "Van", "Wil"]
    last = ["son", "berg", "man", "ley", "ton", "sen", "ström", "ford", "well", "ing", "ard", "stein"]
    pool = np.asarray([a + b for a in first for b in last], dtype=object)
    weights = rng.pareto(1.5, size=len(pool)) + 1
    return pool[rng.choice(len(pool), size=n, p=weights / weights.sum())]


def _ticket(rng: np.random.Generator, pclass: int) -> str:
    number = int(rng.integers(0, 90000))
    style = rng.random()
    if pclass == 1:
        return f"PC {17000 + number % 800}" if style < 0.35 else str(110000 + number % 9999)
    if pclass == 2:
        return (f"C.A. {29000 + number % 5000}" if style < 0.2 else f"SC/PARIS {2100 + number % 100}"
                if style < 0.3 else str(220000 + number % 30000))
    return (f"A/5 {21000 + number % 900}" if style < 0.12 else f"STON/O2. {3101270 + number % 50}"
            if style < 0.2 else f"SOTON/O.Q. {3101300 + number % 30}" if style < 0.25 else str(330000 + number % 50000))


def _titanic_passengers(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """``n`` passengers in families that share a surname, a ticket, a fare, a class and a port."""
    sizes, p = np.asarray(list(_FAMILY_SIZES)), np.asarray(list(_FAMILY_SIZES.values()))
    groups = []
    while sum(groups) < n:
        groups.append(int(sizes[rng.choice(len(sizes), p=p / p.sum())]))
    surnames = _surnames(rng, len(groups))
    rows = []
    for family, size in enumerate(groups):
        pclass = int(rng.choice([1, 2, 3], p=[0.25, 0.21, 0.54] if size < 5 else [0.05, 0.1, 0.85]))
        port = str(rng.choice(["S", "C", "Q"], p={1: [0.6, 0.38, 0.02], 2: [0.9, 0.08, 0.02],
                                                   3: [0.72, 0.13, 0.15]}[pclass]))
        ticket = _ticket(rng, pclass)
        fare = 0.0 if rng.random() < 0.01 else float(np.round(min(512.3292, size ** 0.7 * rng.lognormal(
            {1: 4.0, 2: 2.6, 3: 2.0}[pclass], 0.45)), 4))
        parents = 0 if size == 1 else int(rng.choice([0, 1, 2], p=[0.5, 0.1, 0.4] if size == 2 else [0.1, 0.3, 0.6]))
        children = size - parents
        deck = None
        if rng.random() < {1: 0.8, 2: 0.08, 3: 0.05}[pclass]:
            levels, weights = {1: (["A", "B", "C", "D", "E", "T"], [0.12, 0.3, 0.35, 0.12, 0.1, 0.01]),
                               2: (["D", "E", "F"], [0.3, 0.3, 0.4]), 3: (["E", "F", "G"], [0.2, 0.4, 0.4])}[pclass]
            deck = str(rng.choice(levels, p=weights))
        cabin = None if deck is None else " ".join(
            f"{deck}{int(rng.integers(1, 149))}" for _ in range(1 if size < 3 or rng.random() < 0.7 else 2))
        spirit = rng.normal(0, 1.0)  # families tend to survive (or not) together
        for member in range(size):
            parent = member < parents
            if parents == 2 and parent:
                male = member == 0  # father and mother
            else:
                male = bool(rng.random() < (0.35 if parent else 0.75 if size == 1 else 0.5))
            if parent or size == 1 or parents == 0:  # adults: first class older, women younger
                mean_age = {1: 40, 2: 31, 3: 27}[pclass] + (5 if parent else 0) + (0 if male else -2)
                age = float(min(80, np.round(14 + rng.gamma(2.5, (mean_age - 14) / 2.5))))
            else:
                age = float(np.clip(rng.gamma(2.0, 4.5), 0.42, 40))
                age = float(np.round(age, 2)) if age < 1 else float(np.round(age))
            if rng.random() < 0.03:
                age += 0.5  # estimated ages end in .5
            married = male is False and age >= 18 and (parent or rng.random() < 0.3)
            if male:
                title = "Master" if age < 13 else "Mr"
            else:
                title = "Mrs" if married else "Miss"
            if age >= 25 and rng.random() < 0.03:
                levels = _RARE_MALE_TITLES if male else _RARE_FEMALE_TITLES
                title = str(rng.choice(list(levels), p=np.asarray(list(levels.values())) / sum(levels.values())))
            first = rng.choice(_FIRST_NAMES_MALE if male or title == "Mrs" else _FIRST_NAMES_FEMALE)
            middle = rng.choice(_FIRST_NAMES_MALE if male or title == "Mrs" else _FIRST_NAMES_FEMALE)
            name = f"{surnames[family]}, {title}. {first} {middle}"
            if title == "Mrs":
                name += f" ({rng.choice(_FIRST_NAMES_FEMALE)} {_surnames(rng, 1)[0]})"
            sibsp, parch = (parents - 1, children) if parent else (children - 1, parents)
            if parents == 0:
                sibsp, parch = size - 1, 0
            logit = (-1.7 + (2.5 if not male else 0.0) + {1: 1.0, 2: 0.3, 3: -0.8}[pclass] + (1.2 if age < 10 else 0.0)
                     - 0.02 * (age - 30) + spirit - (1.5 if size >= 5 else 0.0))
            rows.append({"Pclass": pclass, "Name": name, "Sex": "male" if male else "female", "Age": age,
                         "SibSp": sibsp, "Parch": parch, "Ticket": ticket, "Fare": fare, "Cabin": cabin,
                         "Embarked": port, "Survived": int(rng.random() < 1 / (1 + np.exp(-logit)))})
    df = pd.DataFrame(rows).iloc[rng.permutation(len(rows))[:n]].reset_index(drop=True)
    missing_age = rng.random(n) < df["Pclass"].map({1: 0.14, 2: 0.06, 3: 0.27}).to_numpy()
    df.loc[missing_age, "Age"] = np.nan
    return df


def titanic(out: Path, scale: float, seed: int) -> dict[str, int]:
    """Kaggle's ``train.csv`` (891 passengers at scale 1), ``test.csv`` (418) and ``gender_submission.csv``.
    Families (surname, ticket, fare) span both tables, as in the real split."""
    rng = np.random.default_rng(seed)
    n_train, n_test = max(100, int(round(891 * scale))), max(50, int(round(418 * scale)))
    df = _titanic_passengers(rng, n_train + n_test)
    df.insert(0, "PassengerId", np.arange(1, len(df) + 1))
    train, test = df.iloc[:n_train].copy(), df.iloc[n_train:].drop(columns="Survived")
    embarked_missing = rng.choice(n_train, size=2, replace=False)  # two in the real train.csv, none in test.csv
    train.loc[train.index[embarked_missing], "Embarked"] = None
    test.loc[test.index[int(rng.integers(len(test)))], "Fare"] = np.nan  # one in the real test.csv
    columns = ["PassengerId", "Survived", "Pclass", "Name", "Sex", "Age", "SibSp", "Parch", "Ticket", "Fare",
               "Cabin", "Embarked"]
    _write_csv(train[columns], out / "train.csv")
    _write_csv(test[[c for c in columns if c != "Survived"]], out / "test.csv")
    _write_csv(pd.DataFrame({"PassengerId": test["PassengerId"], "Survived": (test["Sex"] == "female").astype(int)}),
               out / "gender_submission.csv")
    return {"train": n_train, "test": n_test}


GENERATORS: dict[str, Callable[[Path, float, int], dict[str, int]]] = {
    "home_credit": home_credit,
    "california_housing": california_housing,
    "house_prices": house_prices,
    "titanic": titanic,
}


def dataset(name: str, directory: str | os.PathLike, scale: float, seed: int = 0) -> Path:
    """Generate data set ``name`` into ``directory`` unless it already holds this (scale, seed)."""
    if name not in GENERATORS:
        raise ValueError(f"no generator for data set {name!r}; there are {', '.join(GENERATORS)}")
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale!r}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    marker = directory / ".generated.json"
    want = {"dataset": name, "scale": scale, "seed": seed}
    try:
        if json.loads(marker.read_text()) == want:
            return directory
    except (OSError, ValueError):
        pass
    GENERATORS[name](directory, scale, seed)
    marker.write_text(json.dumps(want))
    return directory


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m collab_reuse.demo.corpus_data",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", required=True, choices=sorted(GENERATORS))
    parser.add_argument("--out", required=True, help="directory to write the files into")
    parser.add_argument("--scale", type=float, default=1.0, help="size multiplier (default 1.0)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args(argv)
    if args.scale <= 0:
        parser.error(f"--scale must be positive, got {args.scale}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for table, rows in GENERATORS[args.dataset](out, args.scale, args.seed).items():
        print(f"{table}: {rows} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
