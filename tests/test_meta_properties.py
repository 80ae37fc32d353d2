"""Property-based tests of meta() on synthetic data drawn by hypothesis."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from evidence.errors import EvidenceWarning
from evidence.meta import meta

METHODS = ("FE", "DL", "REML", "ML", "PM", "HE", "SJ", "HS", "EB")
# Closed-form results are invariant up to floating-point rounding of sums over <= 12 terms.
EXACT_REL = 1e-9
# Iterative estimators stop when |change in tau^2| <= 1e-12 (absolute), so after rescaling
# by c^2 the stopping point moves by up to ~1e-12 * c^2; with near-zero tau^2 approached by
# step halving this is the dominant error. Allow 1e-8 absolute on tau^2-scale quantities.
ITER_ABS = 1e-8

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def studies(draw, min_k=2, max_k=12):
    k = draw(st.integers(min_k, max_k))
    yi = draw(st.lists(st.floats(-3, 3, allow_nan=False, allow_subnormal=False),
                       min_size=k, max_size=k))
    vi = draw(st.lists(st.floats(1e-3, 1.0, allow_nan=False), min_size=k, max_size=k))
    return np.array(yi), np.array(vi)


def fit(yi, vi, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvidenceWarning)
        kw.setdefault("control", {"stepadj": 0.5})
        return meta(yi, vi, **kw)


def close(a, b, rel=EXACT_REL, abs_=ITER_ABS):
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


@SETTINGS
@given(data=studies(), method=st.sampled_from(METHODS), test=st.sampled_from(["z", "knha"]),
       seed=st.integers(0, 2**32 - 1))
def test_permutation_invariance(data, method, test, seed):
    yi, vi = data
    perm = np.random.default_rng(seed).permutation(yi.size)
    a = fit(yi, vi, method=method, test=test)
    b = fit(yi[perm], vi[perm], method=method, test=test)
    assume(a.converged and b.converged)
    for f in ("estimate", "se", "tau2", "q", "i2", "ci_low", "pi_high", "tau2_ci_high"):
        assert close(getattr(a, f), getattr(b, f)), f
    np.testing.assert_allclose(a.weights[perm], b.weights, rtol=1e-8, atol=1e-12)


@SETTINGS
@given(data=studies(), method=st.sampled_from(METHODS), shift=st.floats(-5, 5))
def test_shift_moves_location_only(data, method, shift):
    yi, vi = data
    a = fit(yi, vi, method=method)
    b = fit(yi + shift, vi, method=method)
    assume(a.converged and b.converged)
    for f in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high"):
        assert close(getattr(a, f) + shift, getattr(b, f), abs_=1e-7), f
    for f in ("se", "tau2", "q", "i2", "h2", "tau2_ci_low", "tau2_ci_high"):
        assert close(getattr(a, f), getattr(b, f), abs_=1e-7), f


@SETTINGS
@given(data=studies(), method=st.sampled_from(METHODS), c=st.floats(0.1, 10))
def test_scaling(data, method, c):
    yi, vi = data
    a = fit(yi, vi, method=method)
    b = fit(yi * c, vi * c * c, method=method)
    assume(a.converged and b.converged)
    assert close(a.estimate * c, b.estimate, abs_=ITER_ABS * c)
    assert close(a.se * c, b.se, abs_=ITER_ABS * c)
    assert close(a.tau2 * c * c, b.tau2, abs_=ITER_ABS * c * c)
    for f in ("q", "q_pvalue"):
        assert close(getattr(a, f), getattr(b, f)), f
    assert close(a.i2, b.i2, abs_=1e-5)


@st.composite
def homogeneous(draw):
    """Effects much closer together than their standard errors (Q << k - 1)."""
    yi, vi = draw(studies(min_k=3))
    mu = draw(st.floats(-2, 2))
    z = np.clip(yi / 3.0, -1, 1) * 0.2  # reuse the draws as bounded noise
    return mu + z * np.sqrt(vi), vi


@SETTINGS
@given(data=homogeneous(), method=st.sampled_from(["DL", "REML", "ML", "PM", "HE", "HS", "EB"]))
def test_random_equals_fixed_when_tau2_zero(data, method):
    yi, vi = data
    re = fit(yi, vi, method=method)
    assume(re.converged and re.tau2 == 0.0)
    fe = fit(yi, vi, method="FE")
    for f in ("estimate", "se", "ci_low", "ci_high", "q"):
        assert close(getattr(re, f), getattr(fe, f)), f
    assert (re.pi_low, re.pi_high) == (re.ci_low, re.ci_high)


@SETTINGS
@given(data=studies(min_k=1), method=st.sampled_from(METHODS),
       test=st.sampled_from(["z", "knha"]), level=st.floats(0.5, 0.999))
def test_weights_and_intervals(data, method, test, level):
    yi, vi = data
    res = fit(yi, vi, method=method, test=test, level=level)
    assume(res.converged)
    assert res.weights.sum() == pytest.approx(1.0, rel=1e-12)
    assert np.all(res.weights > 0)
    assert res.ci_low <= res.estimate <= res.ci_high
    assert 0.0 <= res.tau2 and 0.0 <= res.i2 <= 100.0 or math.isnan(res.i2)
    if method != "FE":
        assert res.pi_low <= res.ci_low and res.ci_high <= res.pi_high
    if method != "FE" and res.k >= 2:
        assert 0.0 <= res.tau2_ci_low <= res.tau2_ci_high
    wider = fit(yi, vi, method=method, test=test, level=(1 + level) / 2)
    assert wider.ci_low <= res.ci_low and res.ci_high <= wider.ci_high


@SETTINGS
@given(data=studies(min_k=3))
def test_pm_estimate_inside_qprofile_ci(data):
    """PM solves Q(tau^2) = k - 1, which lies between the chi^2 quantiles of the CI."""
    yi, vi = data
    res = fit(yi, vi, method="PM")
    assert res.tau2_ci_low - 1e-12 <= res.tau2 <= res.tau2_ci_high + 1e-12


@SETTINGS
@given(data=studies(min_k=2))
def test_em_equals_pm(data):
    """The EB (Morris) estimator converges to the PM solution: both solve Q(tau^2) = k - 1."""
    yi, vi = data
    pm = fit(yi, vi, method="PM")
    eb = fit(yi, vi, method="EB")
    assume(eb.converged)
    assert close(pm.tau2, eb.tau2, rel=1e-8, abs_=1e-9)
