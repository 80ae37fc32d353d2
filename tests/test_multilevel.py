"""Multilevel meta-analysis (evidence.meta.multilevel.meta_mv) and vcalc against R metafor 3.8-1.

Oracle: tests/reference/multilevel.json, written by tests/reference/make_multilevel.R
(rma.mv with nlminb at rel.tol = 1e-12, or optim/BFGS at reltol = 1e-15 where nlminb reports
false convergence; each case records its R call and ``control_used``). Datasets:
dat.konstantopoulos2011 (three-level, nested district/school; also crossed district + year and
one district alone), dat.assink2016 (study/esid; a factor moderator; a V from
vcalc(rho = 0.6); a singular V) and dat.bornmann2007 (log odds ratios, study/obs, REML and ML) and dat.fine1993 in long form
(log odds ratios per study x month with vcalc(rho = 0.5); intercept only and by month).
"""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

import evidence as ev
from evidence.effects.vcalc import vcalc
from evidence.errors import ArgumentError, DegenerateFitWarning
from evidence.meta.multilevel import MetaMVResult, meta_mv, rho_sensitivity

from _multilevel import FRAMES, REF, fit_case, sampling_v

CASES = {c["name"]: c for c in REF["cases"]}

# Given the variance components (rma.mv(..., sigma2 = fixed)), both programs do the same
# closed-form GLS: coefficients, SEs, p-values, logLik, AIC/BIC, QE, QM agree to ~1e-14.
FIXED_TOL = 1e-11
# Free fits: metafor's optimisers stop with scores of ~1e-6 and disagree with one another by
# ~5e-9 in sigma2 (the likelihood is flat to 1e-14 there; see make_multilevel.R), which moves
# SEs by up to 6e-8 relative. Ours solves the score equations to ~1e-12.
SIGMA2_ABS = 5e-8       # sigma2 (absolute: some are at the boundary, 0 vs metafor's ~1e-9)
COEF_REL = 1e-8         # coefficients (relative; they move least with sigma2)
SE_REL = 2e-7           # standard errors and prediction intervals (relative)
LOGLIK_ABS = 1e-12      # our maximum is never below metafor's by more than rounding
# Profile-likelihood CI bounds: both sides solve the same equation with root tolerances of
# 1e-11 (R's uniroot) and 1e-14 (brentq) on a profile that each program maximises to ~1e-9.
PROFILE_ABS = 1e-8
# The published three-level values of the issue (dat.konstantopoulos2011, 10 digits).
PUBLISHED_REL = 2e-8




def _coefs(entries):
    return pd.DataFrame(entries).set_index("term")


def _rel(actual, expected, tol, floor=0.0):
    actual = np.asarray(actual, float)
    expected = np.asarray(expected, float)
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=floor)


@pytest.mark.reference
def test_konstantopoulos2011_published_values():
    df = FRAMES["konstantopoulos2011"]
    fit = ev.meta_mv("yi", "vi", data=df, random="district/school", method="REML")
    _rel(fit.estimate, 0.1847131637, PUBLISHED_REL)
    _rel(fit.se, 0.0845559187, PUBLISHED_REL)
    # metafor's sigma2 are ~2e-9 from the optimum (see SIGMA2_ABS)
    _rel(fit.sigma2, [0.0650619443, 0.0327365170], 0.0, SIGMA2_ABS)
    _rel(fit.qe, 578.864018, 1e-9)
    assert fit.qe_df == 55
    _rel(fit.loglik, -7.95872403, 1e-9)
    assert fit.sigma2_names == ("district", "district/school")
    ml = ev.meta_mv("yi", "vi", data=df, random="district/school", method="ML",
                    sigma2_ci=False)
    _rel(ml.estimate, 0.1844553840, PUBLISHED_REL)
    _rel(ml.se, 0.0804816822, PUBLISHED_REL)


@pytest.mark.reference
@pytest.mark.parametrize("name", sorted(CASES))
def test_given_sigma2_matches_metafor(name):
    case = CASES[name]
    fit = fit_case(case, sigma2=case["sigma2"], sigma2_ci=False)
    ref = _coefs(case["fixed_sigma2"]["coefficients"])
    got = fit.coefficients
    assert list(got.index) == list(ref.index)
    for col in ("estimate", "se", "stat", "pvalue", "ci_low", "ci_high"):
        _rel(got[col], ref[col], FIXED_TOL)
    for key, value in case["fixed_sigma2"]["fit"].items():
        _rel(getattr(fit, key), value, FIXED_TOL)
    if case["qe"] is None:
        assert np.isnan(fit.qe)
    else:
        _rel(fit.qe, case["fixed_sigma2"]["qe"], FIXED_TOL)
    if case["fixed_sigma2"]["qm"] is not None and case["mods"] is not None:
        _rel(fit.qm, case["fixed_sigma2"]["qm"], FIXED_TOL)


@pytest.mark.reference
@pytest.mark.parametrize("name", sorted(CASES))
def test_fit_matches_metafor(name):
    case = CASES[name]
    fit = fit_case(case, sigma2_ci="profile" in case)
    # Where metafor stops a component just above 0 (< 1e-6) and ours is exactly 0, the
    # coefficients are compared with metafor's fit of the same model with that component
    # fixed at 0 (its maximum on the boundary); the free fit still bounds the log-likelihood.
    bound = case.get("boundary_refit")
    ref = _coefs((bound or case)["coefficients"])
    _rel(fit.coefficients["estimate"], ref["estimate"], COEF_REL, 1e-12)
    _rel(fit.coefficients["se"], ref["se"], SE_REL)
    _rel(fit.sigma2, case["sigma2"], 0.0, SIGMA2_ABS)
    if bound:
        _rel(fit.sigma2, bound["sigma2"], 0.0, SIGMA2_ABS)
        assert np.all(fit.sigma2[bound["sigma2_fixed_at_zero"]] == 0.0)
        assert fit.loglik >= bound["loglik"] - LOGLIK_ABS
    assert list(fit.n_levels) == case["n_levels"]
    assert list(fit.sigma2_names) == case["sigma2_names"]
    assert fit.loglik >= case["fit"]["loglik"] - LOGLIK_ABS
    assert fit.loglik - case["fit"]["loglik"] < 1e-6
    # AIC - (-2 logLik) is twice the parameter count metafor uses
    _rel(fit.aic + 2 * fit.loglik, case["fit"]["aic"] + 2 * case["fit"]["loglik"], 1e-9)
    if "pi_low" in case:
        pi = bound if bound and "pi_low" in bound else case
        _rel([fit.pi_low, fit.pi_high], [pi["pi_low"], pi["pi_high"]], SE_REL)
    if "profile" in case:
        _rel(fit.sigma2_ci_low, case["profile"]["sigma2_ci_low"], 0.0, PROFILE_ABS)
        _rel(fit.sigma2_ci_high, case["profile"]["sigma2_ci_high"], 0.0, PROFILE_ABS)


@pytest.mark.reference
def test_vcalc_matches_metafor():
    m = REF["matrices"]["assink_rho06"]
    df = FRAMES["assink2016"]
    V = vcalc("vi", cluster="study", obs="esid", rho=0.6, data=df)
    assert V.rho == 0.6
    ref = np.zeros((len(df), len(df)))
    ref[np.asarray(m["rows"], int), np.asarray(m["cols"], int)] = m["values"]
    np.testing.assert_allclose(np.asarray(V), ref, rtol=1e-14, atol=0)


def test_vcalc_same_obs_correlates_by_one_and_validates():
    V = np.asarray(vcalc([0.1, 0.2, 0.3], cluster=[1, 1, 1], obs=[1, 1, 2], rho=0.5))
    assert V[0, 1] == pytest.approx(np.sqrt(0.02))
    assert V[0, 2] == pytest.approx(0.5 * np.sqrt(0.03))
    with pytest.raises(ArgumentError, match="rho"):
        vcalc([0.1], cluster=[1], rho=1.5)
    with pytest.raises(ArgumentError, match="never a default"):
        vcalc([0.1], cluster=[1])  # rho is never a default


def test_one_level_component_fixed_to_zero_as_metafor():
    case = CASES["k2011_one_cluster"]
    df = FRAMES[case["dataset"]]
    with pytest.warns(DegenerateFitWarning, match="single level"):
        fit = meta_mv("yi", "vi", data=df, random="district/school", sigma2_ci=False)
    assert fit.sigma2[0] == 0.0


def test_boundary_component_is_exactly_zero():
    fit = fit_case(CASES["k2011_crossed"], sigma2_ci=False)
    assert fit.sigma2[1] == 0.0  # metafor stops at ~4e-9


def test_singular_V_gives_nan_qe_with_warning():
    case = CASES["assink_singular_V"]
    df = FRAMES[case["dataset"]]
    with pytest.warns(DegenerateFitWarning, match="not positive definite"):
        fit = meta_mv("yi", sampling_v(case, df), data=df, random="study/esid", sigma2_ci=False)
    assert np.isnan(fit.qe)


def test_singular_marginal_covariance_raises():
    df = pd.DataFrame({"s": [1, 1, 2, 2], "yi": [0.1, 0.2, 0.3, 0.4]})
    V = np.array([[0.1, 0.1, 0, 0], [0.1, 0.1, 0, 0], [0, 0, 0.1, 0], [0, 0, 0, 0.1]])
    with pytest.raises(ArgumentError, match="singular"):
        meta_mv("yi", V, data=df, random="s", sigma2=[0.0], sigma2_ci=False)


def test_errors_name_the_problem():
    df = FRAMES["konstantopoulos2011"]
    with pytest.raises(ArgumentError, match="method"):
        meta_mv("yi", "vi", data=df, random="district", method="DL")
    with pytest.raises(ArgumentError, match="not implemented"):
        meta_mv("yi", "vi", data=df, random="~ year | district")
    with pytest.raises(ArgumentError, match="not in data"):
        meta_mv("yi", "vi", data=df, random="nope")
    with pytest.raises(ArgumentError, match="required"):
        meta_mv(df["yi"], df["vi"], random=None, data=df)


def test_result_is_frozen_and_pickles():
    df = FRAMES["konstantopoulos2011"]
    fit = meta_mv("yi", "vi", data=df, random="district/school", mods="~ I(year - 1990)",
                  sigma2_ci=False)
    assert isinstance(fit, MetaMVResult)
    with pytest.raises(Exception):
        fit.k = 3
    with pytest.raises(ValueError):
        fit.sigma2[0] = 1.0
    assert pickle.loads(pickle.dumps(fit)) == fit
    assert list(fit.to_frame().index) == ["intrcpt", "I(year - 1990)"]
    with pytest.raises(AttributeError, match="coefficients"):
        fit.estimate
    assert "district/school" in fit.summary()
    assert list(fit.variance_components().columns) == ["sigma2", "sigma", "n_levels",
                                                      "ci_low", "ci_high"]


def test_rho_is_recorded_and_varied():
    df = FRAMES["assink2016"]
    V = vcalc("vi", cluster="study", obs="esid", rho=0.6, data=df)
    fit = meta_mv("yi", V, data=df, random="study/esid", sigma2_ci=False)
    assert fit.rho == 0.6
    tbl = rho_sensitivity("yi", "vi", "study", [0.0, 0.6], obs="esid", data=df,
                          random="study/esid")
    assert tbl["rho"].tolist() == [0.0, 0.6]
    row = tbl[tbl.rho == 0.6].iloc[0]
    assert row["estimate"] == pytest.approx(float(fit.estimate), rel=1e-12)
    assert {"robust_se", "robust_df", "robust_pvalue", "sigma2_study"} <= set(tbl.columns)


def test_block_diagonal_equals_dense_with_cross_cluster_V():
    # a V entry linking two studies merges their blocks; the fit equals the one on a
    # relabelled design where both are one study with its own inner levels... checked against
    # the same fit computed with every effect in one block (crossed with a constant factor
    # whose variance is fixed at 0)
    rng = np.random.default_rng(3)
    k = 30
    df = pd.DataFrame({"s": np.repeat(np.arange(10), 3), "e": np.arange(k),
                       "one": 0, "yi": rng.normal(size=k)})
    V = np.diag(rng.uniform(0.05, 0.2, k))
    V[0, 5] = V[5, 0] = 0.02
    a = meta_mv("yi", V, data=df, random="s/e", sigma2_ci=False)
    b = meta_mv("yi", V, data=df, random=["s/e", "one"], sigma2=[None, None, 0.0],
                sigma2_ci=False)
    np.testing.assert_allclose(a.sigma2, b.sigma2[:2], rtol=1e-9)
    assert a.estimate == pytest.approx(b.estimate, rel=1e-12)
