"""Subgroup analysis (evidence.meta.subgroup) against R metafor 3.8-1.

Oracles: tests/reference/around.json "subgroup" (separate: rma per level + rma(estimates,
sei=ses, method="FE"); common: rma(yi, vi, mods=~factor(group))) and around_extra.json
(common tau2 with test="knha"). Each case carries its R call in ``call``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evidence.errors import ArgumentError
from evidence.meta.fit import meta
from evidence.meta.subgroup import SubgroupResult, subgroup

REF = Path(__file__).parent / "reference"

# Converged fits on both sides (threshold 1e-12): agreement is ~1e-12 relative; 1e-8 leaves
# room for the REML iterations ending at slightly different points.
REL_TOL = 1e-8
# Values that are 0 on one side and ~1e-17 on the other.
ABS_FLOOR = 1e-12


def _load(name):
    with open(REF / name, encoding="utf-8") as fh:
        return json.load(fh)


DATASETS = _load("datasets.json")["datasets"]
CASES = [pytest.param(c, id=f"{c['dataset']}-{c['method']}-{c['tau2_mode']}-{c['test']}")
         for c in _load("around.json")["subgroup"] + _load("around_extra.json")["subgroup"]]


def _close(a, b):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=REL_TOL,
                               atol=ABS_FLOOR)


@pytest.mark.reference
@pytest.mark.parametrize("case", CASES)
def test_subgroup_matches_metafor(case):
    d = DATASETS[case["dataset"]]
    sg = subgroup(d["yi"], d["vi"], d["groups"][case["by"]], method=case["method"],
                  tau2=case["tau2_mode"], test=case["test"])
    ref = pd.DataFrame(case["groups"])
    if "group" in ref:
        assert list(sg.groups["group"]) == list(ref["group"])
    for col in ref.columns:
        if col != "group":
            _close(sg.groups[col], ref[col])
    _close(sg.q_between, case["q_between"])
    _close(sg.q_between_pvalue, case["q_between_pvalue"])
    df = case["q_between_df"]
    df = df if isinstance(df, list) else [df]
    assert sg.q_between_df == df[0]
    if len(df) == 2:
        assert sg.q_between_df2 == df[1]
    if case["tau2_mode"] == "common":
        _close(sg.tau2, case["tau2"])
        for name in ("qe", "qe_pvalue", "i2"):
            if name in case:
                _close(getattr(sg, name), case[name])
    else:
        assert np.isnan(sg.tau2)


def test_separate_rows_equal_meta_on_each_group():
    d = DATASETS["raudenbush1985"]
    groups = np.asarray(d["groups"]["setting"])
    sg = subgroup(d["yi"], d["vi"], groups, method="REML")
    y, v = np.asarray(d["yi"]), np.asarray(d["vi"])
    for _, row in sg.groups.iterrows():
        m = groups == row["group"]
        res = meta(y[m], v[m], method="REML")
        assert row["k"] == m.sum()
        _close([row["estimate"], row["se"], row["tau2"], row["q"]],
               [res.estimate, res.se, res.tau2, res.q])


def test_categorical_level_order_and_summary():
    # synthetic data: two subgroups with clearly different means
    yi = np.array([0.1, 0.2, 0.15, 0.6, 0.7, 0.65])
    vi = np.full(6, 0.02)
    groups = pd.Categorical(["low"] * 3 + ["high"] * 3, categories=["low", "high"])
    sg = subgroup(yi, vi, groups, method="DL", tau2="common")
    assert isinstance(sg, SubgroupResult)
    assert list(sg.groups["group"]) == ["low", "high"]
    assert sg.q_between_df == 1
    assert sg.groups["tau2"].nunique() == 1
    assert "Test for subgroup differences" in sg.summary()
    assert sg.to_frame().shape[0] == 2


def test_subgroup_errors():
    yi, vi = [0.1, 0.2, 0.3, 0.4], [0.01] * 4
    with pytest.raises(ArgumentError, match="tau2 'pooled' is not one of separate, common"):
        subgroup(yi, vi, list("aabb"), tau2="pooled")
    with pytest.raises(ArgumentError, match="at least 2 distinct"):
        subgroup(yi, vi, list("aaaa"))
    with pytest.raises(ArgumentError, match="one entry per study"):
        subgroup(yi, vi, list("aab"))
    with pytest.raises(ArgumentError, match="method"):
        subgroup(yi, vi, list("aabb"), method="xx")
