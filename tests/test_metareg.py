"""Meta-regression (evidence.meta.metareg) against R metafor 3.8-1, plus back_transform.

Oracles: tests/reference/around.json ("metareg": rma(yi, vi, mods=...) for REML/DL/ML x z/knha)
and tests/reference/around_extra.json (every estimator, factor moderators, no intercept;
written by tests/reference/make_around_extra.R). Each case carries its R call in ``call``.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evidence.errors import ArgumentError, DegenerateFitWarning
from evidence.meta.fit import meta
from evidence.meta.metareg import METHODS, MetaRegResult, metareg
from evidence.meta.transform import back_transform

REF = Path(__file__).parent / "reference"

# Estimates, SEs, tau2, Q statistics: both sides are converged (threshold 1e-12) and agree to
# ~1e-13 on well-conditioned designs. For ~ablat + year (calendar years next to an intercept,
# condition number ~1e9) metafor's own QE is off by 3e-9 absolute (checked against exact
# rational arithmetic, where evidence is within 4e-14), hence 1e-8 relative.
REL_TOL = 1e-8
# p-values in the far tail (1e-20 and below) carry the relative error of the statistic times
# its size; compared with an absolute floor instead.
P_ABS_TOL = 1e-12
# Quantities that are exactly 0 in one program and ~1e-17 in the other (tau2 truncated at 0).
ABS_FLOOR = 1e-12
# The published dat.bcg example is printed to 4 decimals (Viechtbauer 2010, JSS 36(3), sec. 3.5).
PUBLISHED_TOL = 5e-5


from _reference import AROUND, DATASETS, EXTRA  # noqa: E402


def _mods(dataset: str, formula: str):
    """DataFrame of moderators for an R formula such as '~ablat + factor(alloc) - 1'."""
    d = DATASETS[dataset]
    cols = {**(d.get("moderators") or {}), **(d.get("groups") or {})}
    rhs = formula.lstrip("~").strip()
    intercept = not rhs.endswith("- 1")
    rhs = rhs.removesuffix("- 1").strip()
    frame = {}
    for term in (t.strip() for t in rhs.split("+")):
        m = re.fullmatch(r"factor\((\w+)\)", term)
        if m:
            frame[m.group(1)] = pd.Series(cols[m.group(1)]).astype(str)
        else:
            frame[term] = pd.Series(cols[term], dtype=float)
    return pd.DataFrame(frame), intercept


def _close(actual, expected, rel=REL_TOL, floor=ABS_FLOOR):
    actual = np.asarray(actual, dtype=float)
    expected = np.asarray(expected, dtype=float)
    np.testing.assert_allclose(actual, expected, rtol=rel, atol=floor)


CASES = [pytest.param(c, id=f"around-{c['dataset']}-{c['mods']}-{c['method']}-{c['test']}")
         for c in AROUND["metareg"]]
CASES += [pytest.param(c, id=f"extra-{c['dataset']}-{c['mods']}-{c['method']}-{c['test']}")
          for c in EXTRA["metareg"]]


@pytest.mark.reference
@pytest.mark.parametrize("case", CASES)
def test_metareg_matches_metafor(case):
    d = DATASETS[case["dataset"]]
    mods, intercept = _mods(case["dataset"], case["mods"])
    res = metareg(d["yi"], d["vi"], mods, method=case["method"], test=case["test"],
                  intercept=intercept)
    ref = pd.DataFrame(case["coefficients"]).set_index("term")
    # metafor names factor terms "factor(alloc)random"; evidence "allocrandom"
    assert res.terms == [re.sub(r"factor\((\w+)\)", r"\1", t) for t in ref.index]
    for col in ("estimate", "se", "stat", "ci_low", "ci_high"):
        _close(res.coefficients[col], ref[col])
    _close(res.coefficients["pvalue"], ref["pvalue"], floor=P_ABS_TOL)
    for name in ("tau2", "qm", "qe", "i2", "h2"):
        _close(getattr(res, name), case[name])
    for name in ("qm_pvalue", "qe_pvalue"):
        _close(getattr(res, name), case[name], floor=P_ABS_TOL)
    if case["r2"] is None:
        assert np.isnan(res.r2)
    else:
        _close(res.r2, case["r2"])
    assert res.qe_df == case["qe_df"]
    qm_df = case["qm_df"]
    assert res.qm_df == qm_df[0]
    if case["test"] == "knha":
        assert res.qm_df2 == qm_df[1]
    else:
        assert np.isnan(res.qm_df2)


@pytest.mark.reference
def test_bcg_absolute_latitude_documented_example():
    # metafor's documented dat.bcg example (Viechtbauer 2010, J Stat Softw 36(3)):
    # rma(yi, vi, mods = ~ ablat, data = dat), printed to 4 decimals:
    # intrcpt 0.2515 (SE 0.2491), ablat -0.0291 (SE 0.0072), QE(df = 11) = 30.7331,
    # R^2 = 75.63%.
    d = DATASETS["bcg"]
    res = metareg(d["yi"], d["vi"], {"ablat": d["moderators"]["ablat"]})
    c = res.coefficients
    assert c.loc["intrcpt", "estimate"] == pytest.approx(0.2515, abs=PUBLISHED_TOL)
    assert c.loc["intrcpt", "se"] == pytest.approx(0.2491, abs=PUBLISHED_TOL)
    assert c.loc["ablat", "estimate"] == pytest.approx(-0.0291, abs=PUBLISHED_TOL)
    assert c.loc["ablat", "se"] == pytest.approx(0.0072, abs=PUBLISHED_TOL)
    assert res.qe == pytest.approx(30.7331, abs=PUBLISHED_TOL)
    assert res.qe_df == 11
    assert res.r2 == pytest.approx(75.63, abs=0.005)


@pytest.mark.parametrize("method", METHODS)
def test_intercept_only_equals_meta(method):
    # same model, two code paths: meta() (group sums) and metareg() (QR)
    d = DATASETS["hackshaw1998"]
    a = metareg(d["yi"], d["vi"], method=method)
    b = meta(d["yi"], d["vi"], method=method)
    _close(a.coefficients.loc["intrcpt", "estimate"], b.estimate, rel=1e-10)
    _close(a.coefficients.loc["intrcpt", "se"], b.se, rel=1e-10)
    _close(a.tau2, b.tau2, rel=1e-10)
    _close([a.i2, a.h2, a.qe], [b.i2, b.h2, b.q], rel=1e-10)
    assert np.isnan(a.qm) and np.isnan(a.r2)


def test_array_moderators_and_result_object():
    rng = np.random.default_rng(20240611)  # synthetic data
    k = 30
    x = rng.normal(size=(k, 2))
    vi = rng.uniform(0.01, 0.1, k)
    yi = 0.1 + x @ np.array([0.3, -0.2]) + rng.normal(0, np.sqrt(vi + 0.02))
    res = metareg(yi, vi, x, method="DL")
    assert isinstance(res, MetaRegResult)
    assert res.terms == ["intrcpt", "x1", "x2"]
    assert (res.k, res.p) == (k, 3)
    assert res.vcov.shape == (3, 3)
    np.testing.assert_allclose(np.sqrt(np.diag(res.vcov)), res.coefficients["se"])
    assert res.weights.sum() == pytest.approx(1.0)
    assert list(res.to_frame().columns) == ["estimate", "se", "stat", "pvalue", "ci_low", "ci_high"]
    assert "Test of moderators" in res.summary()
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.tau2 = 1.0  # type: ignore[misc]
    # a DataFrame gives the same fit with its column names
    res2 = metareg(yi, vi, pd.DataFrame(x, columns=["dose", "age"]), method="DL")
    assert res2.terms == ["intrcpt", "dose", "age"]
    np.testing.assert_allclose(res2.coefficients["estimate"], res.coefficients["estimate"])


def test_level_as_percent_and_fraction_agree():
    d = DATASETS["bcg"]
    a = metareg(d["yi"], d["vi"], {"ablat": d["moderators"]["ablat"]}, level=0.9)
    b = metareg(d["yi"], d["vi"], {"ablat": d["moderators"]["ablat"]}, level=90)
    pd.testing.assert_frame_equal(a.coefficients, b.coefficients)


def test_errors_name_the_argument():
    yi, vi = [0.1, 0.2, 0.3, 0.4], [0.01, 0.02, 0.03, 0.04]
    with pytest.raises(ArgumentError, match="method 'dl2' is not one of FE, EE, DL, REML"):
        metareg(yi, vi, [1, 2, 3, 4], method="dl2")
    with pytest.raises(ArgumentError, match="test 't' is not one of z, knha"):
        metareg(yi, vi, [1, 2, 3, 4], test="t")
    with pytest.raises(ArgumentError, match="rank deficient"):
        metareg(yi, vi, {"a": [1, 2, 3, 4], "b": [2, 4, 6, 8]})
    with pytest.raises(ArgumentError, match="one row per study"):
        metareg(yi, vi, [1, 2, 3])
    with pytest.raises(ArgumentError, match="same length"):
        metareg(yi, vi[:3], [1, 2, 3, 4])
    with pytest.raises(ArgumentError, match="more coefficients"):
        metareg(yi[:2], vi[:2], np.eye(2))
    with pytest.raises(ArgumentError, match="control key"):
        metareg(yi, vi, [1, 2, 3, 4], control={"thresh": 1})


def test_zero_residual_df():
    # k = p (issue 11 item 6): metafor 3.8-1 stops for random-effects methods ("Number of
    # parameters to be estimated is larger than the number of observations"); a
    # fixed-effects fit interpolates with QE(df = 0) = 0, p = 1, I2 = 0, H2 = 1, and warns here
    with pytest.raises(ArgumentError, match="as many coefficients"):
        metareg([0.1, 0.5], [0.01, 0.02], [0.0, 1.0], method="REML")
    with pytest.warns(DegenerateFitWarning, match="saturated"):
        res = metareg([0.1, 0.5], [0.01, 0.02], [0.0, 1.0], method="FE")
    assert res.qe_df == 0 and res.qe == 0.0 and res.qe_pvalue == 1.0
    assert res.i2 == 0.0 and res.h2 == 1.0 and res.tau2 == 0.0


# ---------------------------------------------------------------------------------------------
# back_transform (evidence.meta.transform)
# ---------------------------------------------------------------------------------------------
def test_back_transform_frame_result_and_arrays():
    d = DATASETS["bcg"]
    res = meta(d["yi"], d["vi"], method="REML")
    out = back_transform(res, "exp")
    assert out["estimate"].iloc[0] == pytest.approx(np.exp(res.estimate))
    assert out["ci_low"].iloc[0] == pytest.approx(np.exp(res.ci_low))
    assert out["pi_high"].iloc[0] == pytest.approx(np.exp(res.pi_high))
    assert out["se"].iloc[0] == pytest.approx(res.se)  # untouched
    coefs = metareg(d["yi"], d["vi"], {"ablat": d["moderators"]["ablat"]}).coefficients
    rr = back_transform(coefs, "exp")
    np.testing.assert_allclose(rr["estimate"], np.exp(coefs["estimate"]))
    np.testing.assert_allclose(rr["stat"], coefs["stat"])
    np.testing.assert_allclose(back_transform([0.0, 0.5], "tanh"), np.tanh([0.0, 0.5]))
    np.testing.assert_allclose(back_transform(np.array([1.0]), lambda x: 2 * x), [2.0])
    np.testing.assert_allclose(back_transform(np.array([0.0]), "expit"), [0.5])
    assert back_transform(coefs, "identity").equals(coefs)


def test_back_transform_rejects_unknown():
    with pytest.raises(ArgumentError, match="transform 'log' is not one of identity, exp, tanh"):
        back_transform([1.0], "log")
    with pytest.raises(ArgumentError, match="columns"):
        back_transform(pd.DataFrame({"estimate": [0.0]}), "exp", columns=["ci_low"])


def test_formula_mods_equal_frame_mods():
    """mods="~ ablat + C(alloc)" with data= gives the same model as the frame, with
    metafor's term names (R: rma(yi, vi, mods = ~ ablat + factor(alloc), data = dat))."""
    import pandas as pd

    d = DATASETS["bcg"]
    df = pd.DataFrame(d["moderators"])
    df["alloc"] = d["groups"]["alloc"]
    a = metareg(d["yi"], d["vi"], "~ ablat + C(alloc)", data=df)
    b = metareg(d["yi"], d["vi"], df[["ablat", "alloc"]])
    assert list(a.coefficients.index) == ["intrcpt", "ablat", "allocrandom", "allocsystematic"]
    pd.testing.assert_frame_equal(a.coefficients, b.coefficients)
    assert a.qm == b.qm and a.tau2 == b.tau2
    no_int = metareg(d["yi"], d["vi"], "~ ablat - 1", data=df)
    assert list(no_int.coefficients.index) == ["ablat"]
    with pytest.raises(ArgumentError, match="data="):
        metareg(d["yi"], d["vi"], "~ ablat")


# ---------------------------------------------------------------------------------------------
# one tau2 engine: the same estimator code runs on the group sums (meta) and on the QR of the
# model matrix (metareg); the intercept-only model must give the same numbers both ways
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
def test_engine_designs_agree_on_the_intercept_only_model(method):
    from evidence.meta.estimators import Groups, InterceptDesign, MatrixDesign, estimate_tau2

    d = DATASETS["hackshaw1998"]
    y, v = np.asarray(d["yi"], float), np.asarray(d["vi"], float)
    a = estimate_tau2(method, InterceptDesign(Groups(np.array([y.size]))), y, v)
    b = estimate_tau2(method, MatrixDesign(np.ones((y.size, 1))), y, v)
    _close(b.tau2, a.tau2, rel=1e-10)
    _close(b.se_tau2, a.se_tau2, rel=1e-10)
    assert b.converged.tolist() == a.converged.tolist()


def test_metareg_nonconvergence_warns_and_gives_nan():
    from evidence.errors import ConvergenceWarning

    d = DATASETS["bcg"]
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        res = metareg(d["yi"], d["vi"], {"ablat": d["moderators"]["ablat"]}, method="REML",
                      control={"maxiter": 1, "retry": False})
    assert np.isnan(res.tau2) and res.coefficients["estimate"].isna().all()
    assert np.isnan(res.r2)
