"""Joint cluster-robust tests (RobustResult.wald_test: HTZ, chi-sq, Naive-F, Naive-Fp) against
R clubSandwich 0.5.8.

Oracle: tests/reference/multilevel.json (tests/reference/make_multilevel.R):
``clubSandwich::Wald_test(fit, constraints = constrain_zero(idx), vcov = "CR2",
cluster = ..., test = c("HTZ", "chi-sq", "Naive-F", "Naive-Fp"))``, stored per constraint set
(``terms`` 0-based) as ``wald`` (rma.mv refit at fixed sigma2, and rma.uni fits) and
``wald_free_fit`` (the free rma.mv fit), for the cases of ``cases`` and ``wald_cases``
(dat.konstantopoulos2011 with ``factor(year)`` and ``I(year - 1990)``, dat.assink2016 with
the 3-level ``deltype`` (+ ``year``, + a vcalc V), dat.bornmann2007, dat.fine1993 by month
without an intercept) and ``uni`` (dat.assink2016 ``deltype``, dat.bornmann2007 ``type``,
dat.bcg ``alloc`` (+ ``ablat``) clustered by first author).
"""

from __future__ import annotations

import math
import pickle
from dataclasses import FrozenInstanceError

import numpy as np
import pandas as pd
import pytest
from scipy import linalg

import evidence as ev
from evidence.errors import ArgumentError
from evidence.meta.robust import WALD_TESTS, WaldTestResult, robust

from _multilevel import FRAMES, REF, fit_case

# Given the same working model (sigma2 fixed at metafor's, or rma.uni's tau2 at threshold
# 1e-12), the statistic, delta, eta and the p-value are closed forms of the same matrices:
# measured agreement 2e-13 (statistic, df) and 6e-12 (p-value, via R's pf / scipy's f.sf).
FIXED_TOL = 1e-10
# Free fits: metafor's sigma2 are ~5e-9 from ours (see test_multilevel.py), which moves the
# statistic and the df by up to 6.4e-7 relative (measured): the 1e-6.
FREE_TOL = 1e-6
# p-values of the free fits move by (d log p / dQ) * dQ: for the tiny p (1e-10) of a chi-sq
# test with Q = 52 a relative change of 4e-7 in Q moves p by 1.1e-5 relative (measured).
FREE_P_TOL = 5e-5
# Identities that hold in exact arithmetic (q = 1 is the squared t test; the closed-form
# double sum equals the explicit one): rounding only.
IDENTITY_TOL = 1e-11

ML_CASES = [c for c in REF["cases"] + REF["wald_cases"] if c.get("wald")]
UNI_CASES = [c for c in REF["uni"] if c.get("wald")]


def _entries(cases, key):
    return [pytest.param(c, w, t, id=f"{c['name']}-{'+'.join(map(str, w['terms']))}-{t['test']}")
            for c in cases for w in c[key] for t in w["tests"]]


def _robust_mv(case, fixed=True):
    kw = {"sigma2": case["sigma2"]} if fixed else {}
    fit = fit_case(case, sigma2_ci=False, **kw)
    return robust(fit, cluster=FRAMES[case["dataset"]][case["cr2"]["cluster"]])


def _robust_uni(case):
    df = FRAMES[case["dataset"]]
    fit = ev.metareg(df["yi"], df["vi"], case["mods"], data=df, method=case["method"],
                     test=case["test"])
    return ev.robust(fit, cluster=df[case["cr2"]["cluster"]], yi=df["yi"], vi=df["vi"],
                     mods=case["mods"], data=df)


def _py_names(names):
    """R's term names as ours: factor(year)1989 (R) is year1989 (C(year) in Python)."""
    return tuple(n.replace("factor(year)", "year") for n in names)


def _check(got: WaldTestResult, ref: dict, names, tol, p_tol=None):
    assert got.test == ref["test"]
    assert got.terms == _py_names(names)
    assert got.df_num == ref["df_num"] == len(names)
    np.testing.assert_allclose(got.statistic, ref["Fstat"], rtol=tol, atol=0)
    np.testing.assert_allclose(got.delta, ref["delta"], rtol=tol, atol=0)
    if ref["df_denom"] is None:  # chi-sq: Inf in R
        assert got.df_denom == math.inf
    else:
        np.testing.assert_allclose(got.df_denom, ref["df_denom"], rtol=tol, atol=0)
    if ref["p_val"] is None:  # HTZ with eta <= q - 1: no test (R: NA)
        assert got.df_denom <= 0 and math.isnan(got.pvalue) and got.statistic == 0.0
    else:
        np.testing.assert_allclose(got.pvalue, ref["p_val"], rtol=p_tol or tol, atol=0)


_CACHE: dict = {}


def _cached(key, make):
    if key not in _CACHE:
        _CACHE[key] = make()
    return _CACHE[key]


@pytest.mark.reference
@pytest.mark.parametrize(("case", "wald", "ref"), _entries(ML_CASES, "wald"))
def test_meta_mv_wald_matches_clubsandwich(case, wald, ref):
    rb = _cached((case["name"], "fixed"), lambda: _robust_mv(case))
    _check(rb.wald_test(wald["terms"], test=ref["test"]), ref, wald["term_names"], FIXED_TOL)


@pytest.mark.reference
@pytest.mark.parametrize(("case", "wald", "ref"), _entries(ML_CASES, "wald_free_fit"))
def test_meta_mv_wald_free_fit_matches_clubsandwich(case, wald, ref):
    rb = _cached((case["name"], "free"), lambda: _robust_mv(case, fixed=False))
    _check(rb.wald_test(wald["terms"], test=ref["test"]), ref, wald["term_names"], FREE_TOL,
           FREE_P_TOL)


@pytest.mark.reference
@pytest.mark.parametrize(("case", "wald", "ref"), _entries(UNI_CASES, "wald"))
def test_metareg_wald_matches_clubsandwich(case, wald, ref):
    rb = _cached((case["name"], "uni"), lambda: _robust_uni(case))
    _check(rb.wald_test(wald["terms"], test=ref["test"]), ref, wald["term_names"], FIXED_TOL)


def test_terms_by_name_and_default_as_constrain_zero():
    case = next(c for c in REF["uni"] if c["name"] == "bcg_uni_alloc_ablat")
    rb = _robust_uni(case)
    ref = next(w for w in case["wald"] if w["terms"] == [1, 2, 3])
    htz = next(t for t in ref["tests"] if t["test"] == "HTZ")
    # default: every term but the intercept, as constrain_zero(2:p)
    for wt in (rb.wald_test(), rb.wald_test(["allocrandom", "allocsystematic", "ablat"]),
               rb.wald_test([1, "allocsystematic", 3]), rb.wald_test(test="htz")):
        _check(wt, htz, ref["term_names"], FIXED_TOL)
    # a model without an intercept: the default tests every coefficient
    case = next(c for c in REF["cases"] if c["name"] == "fine1993_by_time")
    rb = _robust_mv(case)
    ref = next(w for w in case["wald"] if w["terms"] == [0, 1, 2, 3])
    htz = next(t for t in ref["tests"] if t["test"] == "HTZ")
    _check(rb.wald_test(), htz, ref["term_names"], FIXED_TOL)


def test_one_term_is_the_squared_satterthwaite_t_test():
    # clubSandwich gives the same: Wald_test(constrain_zero(j), test = "HTZ") has
    # Fstat = t^2 and df_denom = the Satterthwaite df of coef_test (checked in the fixtures:
    # the q = 1 sets of k2011_reml_year_t, assink_deltype, bornmann_type, k2011_year_factor)
    for case in ML_CASES:
        rb = _robust_mv(case)
        coefs = rb.coefficients
        for j, term in enumerate(coefs.index):
            wt = rb.wald_test(term)
            assert wt.df_num == 1 and wt.delta == 1.0
            np.testing.assert_allclose(wt.statistic, coefs["stat"].iloc[j] ** 2,
                                       rtol=IDENTITY_TOL)
            np.testing.assert_allclose(wt.df_denom, coefs["df"].iloc[j], rtol=IDENTITY_TOL)
            np.testing.assert_allclose(wt.pvalue, coefs["pvalue"].iloc[j], rtol=IDENTITY_TOL)
    for case in REF["cases"]:
        for w in case.get("wald") or []:
            if len(w["terms"]) == 1:
                htz = next(t for t in w["tests"] if t["test"] == "HTZ")
                j = w["terms"][0]
                np.testing.assert_allclose(htz["df_denom"], case["cr2"]["df"][j], rtol=1e-12)
                np.testing.assert_allclose(htz["Fstat"], case["cr2"]["stat"][j] ** 2,
                                           rtol=1e-12)


def _explicit_htz(case, terms):
    """eta and C V_CR2 C' from their definitions with k x k matrices (no shortcut):
    G_j = (I - H)_j' A_j W_j X_j B C', Omega = sum_j G_j' Phi G_j,
    eta = q (q + 1) / sum_ij [tr(P_ij)^2 + tr(P_ij P_ij)], P_ij = Omega^-1/2 G_i' Phi G_j
    Omega^-1/2; for dat.assink2016 ~ deltype, random = ~ 1 | study/esid, V = diag(vi).
    Dense k x k algebra, H and the pairs (i, j) explicit."""
    df = FRAMES[case["dataset"]]
    s_study, s_esid = case["sigma2"]
    study = df["study"].to_numpy()
    same = study[:, None] == study[None, :]
    Phi = np.diag(df["vi"].to_numpy()) + s_study * same + s_esid * np.eye(len(df))
    X = np.column_stack([np.ones(len(df))] + [(df["deltype"] == lev).to_numpy(float)
                                              for lev in ("general", "overt")])
    y = df["yi"].to_numpy()
    W = np.linalg.inv(Phi)
    B = np.linalg.inv(X.T @ W @ X)
    H = X @ B @ X.T @ W
    IH = np.eye(len(df)) - H
    C = np.eye(X.shape[1])[terms]
    G = []
    for s in np.unique(study):
        r = np.flatnonzero(study == s)
        D = np.linalg.cholesky(Phi[np.ix_(r, r)]).T
        S = Phi[np.ix_(r, r)] - X[r] @ B @ X[r].T
        # Moore-Penrose inverse square root: study 16 holds every "covert" effect, so its
        # inner matrix is singular (P&T 2018, generalised inverse)
        lam, vec = linalg.eigh(D @ S @ D.T)
        keep = lam > 1e-10 * lam.max()
        A = D.T @ (vec[:, keep] / np.sqrt(lam[keep])) @ vec[:, keep].T @ D
        G.append(IH[r].T @ A @ W[np.ix_(r, r)] @ X[r] @ B @ C.T)
    omega = sum(g.T @ Phi @ g for g in G)
    L = np.real(linalg.inv(linalg.sqrtm(omega)))
    total = 0.0
    for gi in G:
        for gj in G:
            P = L @ gi.T @ Phi @ gj @ L
            total += np.trace(P) ** 2 + np.trace(P @ P)
    q = len(terms)
    cvc = sum(g.T @ np.outer(y, y) @ g for g in G)
    return q * (q + 1) / total, cvc


def test_closed_form_equals_explicit_double_sum():
    case = next(c for c in REF["cases"] if c["name"] == "assink_deltype")
    rb = _robust_mv(case)
    for terms in ([1, 2], [0, 1, 2], [2]):
        eta, cvc = _explicit_htz(case, terms)
        wt = rb.wald_test(terms)
        np.testing.assert_allclose(wt.eta, eta, rtol=IDENTITY_TOL)
        np.testing.assert_allclose(rb.vcov.to_numpy()[np.ix_(terms, terms)], cvc,
                                   rtol=IDENTITY_TOL)


def test_naive_references_and_result_object():
    case = next(c for c in REF["cases"] if c["name"] == "assink_deltype")
    rb = _robust_mv(case)
    chi = rb.wald_test(test="chi-sq")
    assert chi.df_denom == math.inf and chi.delta == 1.0 and math.isnan(chi.eta)
    assert chi.statistic == pytest.approx(chi.wald_statistic / 2, rel=1e-15)
    assert rb.wald_test(test="Naive-F").df_denom == rb.n_clusters - 1
    assert rb.wald_test(test="naive-fp").df_denom == rb.n_clusters - rb.p
    wt = rb.wald_test()
    assert wt.eta - wt.df_num + 1 == pytest.approx(wt.df_denom, rel=1e-15)
    assert wt.statistic == pytest.approx(wt.delta * wt.wald_statistic / 2, rel=1e-15)
    frame = wt.to_frame()
    assert list(frame.columns) == ["terms", "statistic", "df_num", "df_denom", "pvalue"]
    assert list(frame.index) == ["HTZ"] and frame.index.name == "test"
    assert frame["terms"].iloc[0] == "deltypegeneral, deltypeovert"
    text = repr(wt)
    assert text.startswith("WaldTestResult(HTZ: F(2, ") and "deltypeovert" in text
    assert "chi2(2)" in repr(chi)
    with pytest.raises(FrozenInstanceError):
        wt.pvalue = 0.5
    assert pickle.loads(pickle.dumps(wt)) == wt
    back = pickle.loads(pickle.dumps(rb))
    assert back == rb and not back.cluster_gram.flags.writeable
    assert back.wald_test() == wt
    assert set(WALD_TESTS) == {"HTZ", "chi-sq", "Naive-F", "Naive-Fp"}


def test_meta_result_intercept_and_errors():
    df = FRAMES["assink2016"]
    fit = ev.meta(df["yi"], df["vi"])
    rb = ev.robust(fit, cluster=df["study"], yi=df["yi"], vi=df["vi"])
    with pytest.raises(ArgumentError, match="only an intercept"):
        rb.wald_test()
    wt = rb.wald_test("intrcpt")
    assert wt.statistic == pytest.approx(rb.stat ** 2, rel=IDENTITY_TOL)
    assert wt.df_denom == pytest.approx(rb.df, rel=IDENTITY_TOL)
    case = next(c for c in REF["uni"] if c["name"] == "bcg_uni_alloc_ablat")
    rb = _robust_uni(case)
    with pytest.raises(ArgumentError, match="'latitude' is not a coefficient.*ablat"):
        rb.wald_test(["allocrandom", "latitude"])
    with pytest.raises(ArgumentError, match="index 4 is out of range"):
        rb.wald_test([1, 4])
    with pytest.raises(ArgumentError, match="more than once"):
        rb.wald_test(["ablat", 3])
    with pytest.raises(ArgumentError, match="empty"):
        rb.wald_test([])
    with pytest.raises(ArgumentError, match="names or 0-based indices"):
        rb.wald_test([True])
    with pytest.raises(ArgumentError, match="HTZ, chi-sq, Naive-F, Naive-Fp"):
        rb.wald_test(test="F")


def test_works_through_the_public_api_on_a_free_meta_mv_fit():
    case = next(c for c in REF["wald_cases"] if c["name"] == "k2011_year_factor")
    df = FRAMES["konstantopoulos2011"]
    fit = ev.meta_mv("yi", "vi", data=df, random="district/school", mods="~ C(year)",
                     sigma2_ci=False)
    wt = ev.robust(fit, cluster="district", data=df).wald_test()
    ref = case["wald_free_fit"][0]
    htz = next(t for t in ref["tests"] if t["test"] == "HTZ")
    assert wt.terms == _py_names(ref["term_names"])
    # five terms, eta = 4.1: df_denom = 0.1, so the correction all but removes the evidence
    # of the naive tests (clubSandwich: F = 0.154, p = 0.948 vs chi-sq p = 1e-5)
    assert wt.df_denom == pytest.approx(htz["df_denom"], rel=FREE_TOL)
    assert wt.pvalue == pytest.approx(htz["p_val"], rel=FREE_P_TOL)
    assert isinstance(wt.to_frame(), pd.DataFrame)
