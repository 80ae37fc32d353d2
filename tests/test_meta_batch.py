"""meta_batch: many meta-analyses at once, equal to meta() on each group.

Data: every dataset of tests/reference/datasets.json (metadat datasets and synthetic edge
cases, including k = 1 and identical effects), stacked into one frame with a group column,
plus clearly synthetic groups generated here.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evidence.errors import ArgumentError, ConvergenceWarning, EvidenceWarning
from evidence.meta import METHODS, SCALAR_FIELDS, meta, meta_batch

REF = Path(__file__).parent / "reference"
# meta() and meta_batch() run the same vectorised code, so they agree to rounding; 1e-12
# relative leaves room for a different summation grouping should the implementation change.
SAME_REL = 1e-12
SAME_ABS = 1e-14

with open(REF / "datasets.json") as fh:
    DATA = json.load(fh)["datasets"]


def _stacked() -> pd.DataFrame:
    parts = []
    for name, d in DATA.items():
        parts.append(pd.DataFrame({"dataset": name, "yi": d["yi"], "vi": d["vi"]}))
    return pd.concat(parts, ignore_index=True)


FRAME = _stacked()
NUMERIC = [f for f in SCALAR_FIELDS if f not in ("method", "test", "level", "converged")]


def _assert_row_equals(row: pd.Series, res) -> None:
    for f in NUMERIC:
        got = float(row[f])
        want = getattr(res, f)
        want = math.nan if want is None else float(want)
        if math.isnan(want):
            assert math.isnan(got), f
        else:
            assert math.isclose(got, want, rel_tol=SAME_REL, abs_tol=SAME_ABS), (f, got, want)
    assert row["test"] == res.test and row["method"] == res.method
    assert bool(row["converged"]) == res.converged


@pytest.mark.parametrize("test", ["z", "knha"])
@pytest.mark.parametrize("method", METHODS)
def test_batch_equals_meta_per_group(method, test):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvidenceWarning)
        tbl = meta_batch(FRAME, by="dataset", method=method, test=test)
        assert list(tbl["dataset"]) == sorted(DATA)
        for _, row in tbl.iterrows():
            d = DATA[row["dataset"]]
            _assert_row_equals(row, meta(d["yi"], d["vi"], method=method, test=test))


def test_columns_are_attribute_names():
    tbl = meta_batch(FRAME, by="dataset")
    assert list(tbl.columns) == ["dataset", "k", "k_dropped", *SCALAR_FIELDS[1:]]
    assert "weights" not in tbl.columns


def test_nan_rows_dropped_and_counted_and_empty_group():
    df = FRAME.copy()
    bcg = df.index[df["dataset"] == "bcg"]
    df.loc[bcg[0], "yi"] = np.nan
    df.loc[bcg[1], "vi"] = np.nan
    empty = pd.DataFrame({"dataset": "zz_all_missing", "yi": [np.nan, 0.2], "vi": [0.1, np.nan]})
    df = pd.concat([df, empty], ignore_index=True)
    tbl = meta_batch(df, by="dataset", method="DL").set_index("dataset")
    assert tbl.loc["bcg", "k"] == 11 and tbl.loc["bcg", "k_dropped"] == 2
    d = DATA["bcg"]
    _assert_row_equals(tbl.loc["bcg"], meta(d["yi"][2:], d["vi"][2:], method="DL"))
    z = tbl.loc["zz_all_missing"]
    assert z["k"] == 0 and z["k_dropped"] == 2 and math.isnan(z["estimate"])
    assert tbl.loc["k1", "k"] == 1 and tbl.loc["k1", "q_pvalue"] == 1


def test_several_keys_and_no_key():
    rng = np.random.default_rng(7)  # synthetic
    n = 60
    df = pd.DataFrame({
        "injury": rng.choice(["knee", "shin"], n),
        "strategy": rng.choice(["cadence", "forefoot", "feedback"], n),
        "yi": rng.normal(0.3, 0.3, n),
        "vi": rng.uniform(0.02, 0.2, n),
    })
    tbl = meta_batch(df, by=["injury", "strategy"], method="REML")
    assert list(tbl.columns[:2]) == ["injury", "strategy"]
    assert tbl["k"].sum() == n
    for _, row in tbl.iterrows():
        sub = df[(df.injury == row["injury"]) & (df.strategy == row["strategy"])]
        _assert_row_equals(row, meta(sub.yi, sub.vi, method="REML"))
    whole = meta_batch(df, method="PM", test="knha")
    assert len(whole) == 1
    _assert_row_equals(whole.iloc[0], meta(df.yi, df.vi, method="PM", test="knha"))


def test_many_synthetic_groups_vectorised():
    """2,000 synthetic groups of k = 1..8, all estimators agree with per-group meta()."""
    rng = np.random.default_rng(2024)
    G = 2000
    k = rng.integers(1, 9, G)
    g = np.repeat(np.arange(G), k)
    vi = rng.uniform(0.005, 0.3, g.size)
    yi = rng.normal(0, np.sqrt(rng.choice([0.0, 0.04, 0.5], G)))[g] + rng.normal(0, np.sqrt(vi))
    df = pd.DataFrame({"g": g, "yi": yi, "vi": vi})
    picks = rng.choice(G, 25, replace=False)
    for method in ("REML", "PM", "SJ"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", EvidenceWarning)
            tbl = meta_batch(df, by="g", method=method, test="knha", control={"stepadj": 0.5})
            assert len(tbl) == G and tbl["converged"].all()
            for i in picks:
                sub = df[df.g == i]
                res = meta(sub.yi, sub.vi, method=method, test="knha", control={"stepadj": 0.5})
                _assert_row_equals(tbl.iloc[i], res)


def test_nonconvergence_in_one_group_warns_and_isolates():
    df = FRAME[FRAME.dataset.isin(["bcg", "normand1999"])]
    with pytest.warns(ConvergenceWarning):
        tbl = meta_batch(df, by="dataset", method="REML", control={"maxiter": 3})
    assert (~tbl["converged"]).any()
    assert tbl.loc[~tbl["converged"], "estimate"].isna().all()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"yi": "effect"}, r"yi column 'effect' is not in df"),
        ({"by": "nope"}, r"by column 'nope' is not in df"),
        ({"method": "XX"}, r"method 'XX' is not one of"),
        ({"test": "wald"}, r"test 'wald' is not one of z, knha"),
        ({"level": 200}, r"level 200"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ArgumentError, match=match):
        meta_batch(FRAME, **{"by": "dataset", **kwargs})


def test_bad_values():
    df = FRAME.copy()
    df.loc[3, "vi"] = -0.1
    with pytest.raises(ArgumentError, match=r"vi column 'vi' must be > 0.*row\(s\) 3"):
        meta_batch(df, by="dataset")
    df = FRAME.copy()
    df.loc[5, "yi"] = np.inf
    with pytest.raises(ArgumentError, match=r"yi column 'yi' has infinite values"):
        meta_batch(df, by="dataset")
    with pytest.raises(ArgumentError, match="DataFrame"):
        meta_batch({"yi": [1.0]}, by=None)
