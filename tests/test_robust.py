"""Cluster-robust CR2 inference (evidence.meta.robust.robust) against R clubSandwich 0.5.8.

Oracle: tests/reference/multilevel.json (tests/reference/make_multilevel.R):
clubSandwich::coef_test(fit, vcov = "CR2", cluster = ..., test = "Satterthwaite") and
conf_int(...), which agree with metafor's robust(fit, cluster, clubSandwich = TRUE) (stored
beside them). ``cr2`` is computed on the rma.mv refit at fixed sigma2, ``cr2_free_fit`` on
the fit itself; ``uni`` on rma.uni fits (meta / metareg), clustered by study.
"""

from __future__ import annotations

import numpy as np
import pytest

import evidence as ev
from evidence.errors import ArgumentError
from evidence.meta.robust import robust

from _multilevel import FRAMES, REF, fit_case

CR2_CASES = [c for c in REF["cases"] if "cr2" in c]

# Given the same working model (sigma2 fixed at metafor's), CR2 SEs, Satterthwaite df,
# p-values and CIs are closed forms: agreement to ~1e-13.
FIXED_TOL = 1e-10
# On the free fits the working model differs by metafor's ~5e-9 in sigma2 (see
# test_multilevel.py), which moves the CR2 quantities by up to ~4e-8: the 1e-6.
FREE_TOL = 1e-6
# rma.uni at threshold 1e-12 against our meta/metareg: tau2 agrees to ~1e-13.
UNI_TOL = 1e-9


def _fit(case, **kw):
    return fit_case(case, sigma2_ci=False, **kw)


def _check(rb, ref, tol):
    for col in ("se", "df", "pvalue", "ci_low", "ci_high"):
        np.testing.assert_allclose(rb.coefficients[col], ref[col], rtol=tol, atol=0,
                                   err_msg=col)


@pytest.mark.reference
@pytest.mark.parametrize("case", CR2_CASES, ids=[c["name"] for c in CR2_CASES])
def test_cr2_meta_mv_matches_clubsandwich(case):
    df = FRAMES[case["dataset"]]
    cluster = df[case["cr2"]["cluster"]]
    rb = robust(_fit(case, sigma2=case["sigma2"]), cluster=cluster, adjust="CR2")
    _check(rb, case["cr2"], FIXED_TOL)
    np.testing.assert_allclose(rb.coefficients["se"], case["cr2"]["metafor_robust_se"],
                               rtol=FIXED_TOL)
    free = robust(_fit(case), cluster=cluster)
    for col in ("se", "df", "pvalue"):
        np.testing.assert_allclose(free.coefficients[col], case["cr2_free_fit"][col],
                                   rtol=FREE_TOL, err_msg=col)


@pytest.mark.reference
@pytest.mark.parametrize("case", REF["uni"], ids=[c["name"] for c in REF["uni"]])
def test_cr2_meta_and_metareg_match_clubsandwich(case):
    df = FRAMES[case["dataset"]]
    cluster = df[case["cr2"]["cluster"]]
    if case["mods"] is None:
        fit = ev.meta(df["yi"], df["vi"], method=case["method"], test=case["test"])
        rb = ev.robust(fit, cluster=cluster, yi=df["yi"], vi=df["vi"])
        assert isinstance(rb.se, float)
    else:
        fit = ev.metareg(df["yi"], df["vi"], case["mods"], data=df, method=case["method"],
                         test=case["test"])
        rb = ev.robust(fit, cluster=cluster, yi=df["yi"], vi=df["vi"], mods=case["mods"],
                       data=df)
    assert fit.tau2 == pytest.approx(case["tau2"], rel=UNI_TOL)
    _check(rb, case["cr2"], UNI_TOL)


def test_konstantopoulos2011_cr2_values():
    df = FRAMES["konstantopoulos2011"]
    fit = ev.meta_mv("yi", "vi", data=df, random="district/school", sigma2_ci=False)
    rb = ev.robust(fit, cluster="district", data=df)
    # clubSandwich::coef_test(res, vcov = "CR2", cluster = district)
    assert rb.se == pytest.approx(0.0844579954347626, rel=FREE_TOL)
    assert rb.df == pytest.approx(9.86315623331838, rel=FREE_TOL)
    assert rb.pvalue == pytest.approx(0.0539667424706465, rel=FREE_TOL)
    assert list(rb.to_frame().columns) == ["estimate", "se", "stat", "df", "pvalue",
                                           "ci_low", "ci_high"]
    assert rb.n_clusters == 11 and rb.model == "meta_mv"


def test_edge_cases_raise_clear_errors():
    df = FRAMES["konstantopoulos2011"]
    fit = ev.meta_mv("yi", "vi", data=df, random="district/school", sigma2_ci=False)
    with pytest.raises(ArgumentError, match="at least 2 clusters"):
        robust(fit, cluster=np.zeros(len(df)))
    with pytest.raises(ArgumentError, match="outermost"):
        robust(fit, cluster=df["school"].astype(str) + df["district"].astype(str))
    with pytest.raises(ArgumentError, match="adjust"):
        robust(fit, cluster=df["district"], adjust="CR1")
    with pytest.raises(ArgumentError, match="only an intercept"):
        robust(fit, cluster=df["district"]).wald_test()
    uni = ev.meta(df["yi"], df["vi"])
    with pytest.raises(ArgumentError, match="does not keep its data"):
        robust(uni, cluster=df["district"])
    with pytest.raises(ArgumentError, match="do not reproduce"):
        robust(uni, cluster=df["district"], yi=df["yi"] + 1, vi=df["vi"])
