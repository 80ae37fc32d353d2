"""Egger's regression test and trim-and-fill against R metafor 3.8-1.

Oracles: tests/reference/around.json ("regtest": regtest(res, model=...); "trimfill":
trimfill(res)) and around_extra.json (other predictors, knha, R0, a given side, DL/ML/PM).
Each case carries its R call in ``call``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from evidence.errors import ArgumentError
from evidence.meta.bias import EggerResult, TrimFillResult, egger_test, trimfill
from evidence.meta.fit import meta

REF = Path(__file__).parent / "reference"

# regtest is a single (meta-)regression: converged on both sides, agreement ~1e-13.
REL_TOL = 1e-8
# p-values in the far tail.
ABS_FLOOR = 1e-12
# metafor's trimfill refits the trimmed and filled data with its *default* control
# (threshold 1e-5, maxiter 100; see around_extra.json "note"). We pass the same settings for
# ML/REML/EB, which reproduces its iterations exactly (agreement ~1e-15).
METAFOR_TRIMFILL_CONTROL = {"threshold": 1e-5, "maxiter": 100}
# PM is solved by uniroot with metafor's default tol (eps^0.25 ~ 1.2e-4) inside trimfill, so
# its filled estimate is only accurate to ~1e-4 relative; evidence returns the exact root.
PM_TRIMFILL_REL_TOL = 5e-3


from _reference import AROUND, DATASETS, EXTRA  # noqa: E402


def _close(a, b, rel=REL_TOL):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=rel,
                               atol=ABS_FLOOR)


REGTEST = [pytest.param(c, id=f"{c['dataset']}-{c['method']}-{c['model']}-{c['predictor']}-"
                              f"{c.get('test', 'z')}")
           for c in AROUND["regtest"] + EXTRA["regtest"]]


@pytest.mark.reference
@pytest.mark.parametrize("case", REGTEST)
def test_egger_matches_metafor_regtest(case):
    d = DATASETS[case["dataset"]]
    res = egger_test(d["yi"], d["vi"], model=case["model"], predictor=case.get("predictor", "sei"),
                     method=case["method"], test=case.get("test", "z"), ni=case.get("ni"))
    _close(res.stat, case["stat"])
    _close(res.pvalue, case["pvalue"])
    if case["df"] is None:
        assert np.isnan(res.df)
    else:
        assert res.df == case["df"]
    for mine, theirs in (("estimate", "limit_estimate"), ("ci_low", "limit_ci_low"),
                         ("ci_high", "limit_ci_high")):
        if case[theirs] is None:
            assert np.isnan(getattr(res, mine))
        else:
            _close(getattr(res, mine), case[theirs])


TRIMFILL = [pytest.param(c, id=f"{c['dataset']}-{c['method']}-{c['estimator']}-"
                               f"{c.get('side_given') or 'auto'}")
            for c in AROUND["trimfill"] + EXTRA["trimfill"]]


@pytest.mark.reference
@pytest.mark.parametrize("case", TRIMFILL)
def test_trimfill_matches_metafor(case):
    d = DATASETS[case["dataset"]]
    # with k0 = 0 metafor returns the model itself (fitted with the tight fixture control)
    control = METAFOR_TRIMFILL_CONTROL if case["k0"] > 0 else None
    tf = trimfill(d["yi"], d["vi"], method=case["method"], estimator=case["estimator"],
                  side=case.get("side_given"), control=control)
    assert tf.k0 == case["k0"]
    assert tf.side == case["side"]
    assert tf.result.k == case["k"]
    _close(tf.se_k0, case["k0_se"])
    np.testing.assert_array_equal(tf.filled["vi"], case["filled_vi"])
    rel = PM_TRIMFILL_REL_TOL if case["method"] == "PM" else REL_TOL
    _close(tf.filled["yi"], case["filled_yi"], rel)
    for name in ("estimate", "se", "ci_low", "ci_high", "pvalue", "tau2"):
        _close(getattr(tf, name), case[name], rel)


def test_trimfill_default_is_the_converged_solution():
    # without metafor's loose control the filled fit is the converged REML solution, which
    # differs from metafor's printed trimfill numbers only beyond the 6th digit
    d = DATASETS["bcg"]
    tf = trimfill(d["yi"], d["vi"], method="REML")
    full = meta(np.r_[d["yi"], tf.filled["yi"]], np.r_[d["vi"], tf.filled["vi"]])
    assert tf.estimate == full.estimate
    ref = next(c for c in AROUND["trimfill"] if c["dataset"] == "bcg" and c["method"] == "REML")
    assert tf.estimate == pytest.approx(ref["estimate"], rel=1e-6)
    assert isinstance(tf, TrimFillResult)
    assert "missing studies" in tf.summary()
    assert tf.to_frame().loc[0, "k0"] == tf.k0


def test_trimfill_symmetric_funnel_fills_nothing():
    # synthetic, exactly symmetric data: no asymmetry, k0 = 0, result = meta on the data
    y = np.array([-0.2, 0.2, -0.1, 0.1, 0.0, -0.3, 0.3])
    v = np.array([0.04, 0.04, 0.02, 0.02, 0.01, 0.08, 0.08])
    tf = trimfill(y, v, method="FE")
    assert tf.k0 == 0
    assert tf.filled.empty
    assert tf.estimate == pytest.approx(meta(y, v, method="FE").estimate, abs=1e-15)


def test_egger_result_and_errors():
    d = DATASETS["bcg"]
    res = egger_test(d["yi"], d["vi"], model="lm")
    assert isinstance(res, EggerResult)
    assert res.fit.terms == ["intrcpt", "sei"]
    assert "funnel plot asymmetry" in res.summary()
    assert res.to_frame().shape == (1, 9)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.stat = 0.0  # type: ignore[misc]
    with pytest.raises(ArgumentError, match="model 'glm' is not one of rma, lm"):
        egger_test(d["yi"], d["vi"], model="glm")
    with pytest.raises(ArgumentError, match="predictor 'se' is not one of sei, vi, ni"):
        egger_test(d["yi"], d["vi"], predictor="se")
    with pytest.raises(ArgumentError, match="ni is required"):
        egger_test(d["yi"], d["vi"], predictor="ninv")
    with pytest.raises(ArgumentError, match="at least 3"):
        egger_test([0.1, 0.2], [0.01, 0.02])


def test_trimfill_errors():
    y, v = [0.1, 0.2, 0.3, 0.5], [0.01, 0.02, 0.03, 0.04]
    with pytest.raises(ArgumentError, match="estimator 'Q0' is not one of L0, R0"):
        trimfill(y, v, estimator="Q0")
    with pytest.raises(ArgumentError, match="side 'up' is not one of left, right"):
        trimfill(y, v, side="up")
