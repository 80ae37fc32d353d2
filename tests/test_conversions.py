"""Conversions of reported statistics: published outputs, paper tables and exact identities.

metafor 3.8-1 (the version on the reference machine) has no conv.fivenum (added in 4.0), so
the median/quartile/range conversions are checked against printed outputs of another CRAN
implementation (metaBLUE 1.0.0), against Table 1 of Wan et al. (2014) and against the
algebraic properties the estimators must have.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from evidence.effects import (
    Converted,
    MeanSD,
    change_sd,
    implied_correlation,
    mean_sd_from_five_number,
    mean_sd_from_median_iqr,
    mean_sd_from_median_range,
    sd_from_se,
    se_from_ci,
    se_from_p,
    se_from_sd,
    se_from_t,
)
from evidence.errors import ArgumentError

# Round trips and closed forms in double precision: a few ulps of error compound through
# sqrt / ppf / cdf, far below 1e-12.
EXACT = 1e-12
# Outputs printed by R with 7 significant digits (6 decimals here): half a unit in the 6th.
PRINTED_6DP = 5e-7
# Wan et al. (2014) replace the exact expected range of n normals, xi(n) (their Table 1), by
# 2 * qnorm((n - 0.375)/(n + 0.25)); for 5 <= n <= 50 the approximation is within 1.5%.
WAN_APPROX_REL = 0.015


# ---- SE, SD, CI, p, t ------------------------------------------------------------------------


def test_sd_se_round_trip():
    se = np.array([0.1, 2.5, 7.0])
    n = np.array([4, 25, 120])
    sd = sd_from_se(se, n)
    np.testing.assert_allclose(sd.value, se * np.sqrt(n), rtol=EXACT)
    np.testing.assert_allclose(se_from_sd(sd.value, n).value, se, rtol=EXACT)


def test_se_from_ci_normal_and_t():
    est, se, n = np.array([1.2, -0.4]), np.array([0.3, 0.05]), np.array([12, 40])
    z = stats.norm.ppf(0.975)
    np.testing.assert_allclose(se_from_ci(est - z * se, est + z * se).value, se, rtol=EXACT)
    t = stats.t.ppf(0.975, n - 1)
    got = se_from_ci(est - t * se, est + t * se, n=n, dist="t").value
    np.testing.assert_allclose(got, se, rtol=EXACT)
    z90 = stats.norm.ppf(0.95)
    np.testing.assert_allclose(se_from_ci(est - z90 * se, est + z90 * se, level=0.90).value, se,
                               rtol=EXACT)


def test_se_from_ci_of_a_ratio_on_the_log_scale():
    log_or, se = np.log(2.0), 0.25
    z = stats.norm.ppf(0.975)
    low, high = np.exp(log_or - z * se), np.exp(log_or + z * se)
    assert float(se_from_ci(low, high, log=True).value) == pytest.approx(se, rel=EXACT)


def test_se_from_p_round_trip():
    est, se = np.array([0.5, -1.1]), np.array([0.2, 0.7])
    p = 2 * stats.norm.sf(np.abs(est / se))
    np.testing.assert_allclose(se_from_p(est, p).value, se, rtol=EXACT)
    n = np.array([15, 30])
    p_t = 2 * stats.t.sf(np.abs(est / se), n - 1)
    np.testing.assert_allclose(se_from_p(est, p_t, n=n, dist="t").value, se, rtol=EXACT)
    # a p-value of 0 or 1 carries no SE
    assert np.isnan(se_from_p(0.5, [0.0, 1.0]).value).all()


def test_se_from_t():
    np.testing.assert_allclose(se_from_t([3.0, -3.0], [2.0, 2.0]).value, [1.5, 1.5], rtol=EXACT)
    assert np.isnan(se_from_t(3.0, 0.0).value)


def test_t_needs_n_and_dist_is_checked():
    with pytest.raises(ArgumentError, match="dist='t' needs the sample size n"):
        se_from_ci(1.0, 2.0, dist="t")
    with pytest.raises(ArgumentError, match="dist 'normal' is not one of z, t"):
        se_from_p(1.0, 0.05, dist="normal")
    with pytest.raises(ArgumentError, match=r"level must lie in \(0, 1\)"):
        se_from_ci(1.0, 2.0, level=95)


def test_converted_records_provenance():
    sd = sd_from_se([0.5, 1.0], [10, 40])
    assert isinstance(sd, Converted)
    assert sd.quantity == "sd" and sd.method == "sd_from_se" and "Cochrane" in sd.reference
    assert sd.describe() == ["sd derived from SE (se=0.5, n=10)", "sd derived from SE (se=1, n=40)"]
    np.testing.assert_allclose(np.asarray(sd), sd.value)


# ---- median / quartiles / range (Wan 2014; Luo 2018; Shi 2020) -----------------------------


def test_median_range_matches_metablue_printed_output():
    # metaBLUE 1.0.0 help pages, Examples: X = c(1, 4, 10), n = 30, type = "S1":
    # Luo.mean -> $muhat 4.356748; Wan.std -> $sigmahat 2.205578
    mean, sd = mean_sd_from_median_range(1, 4, 10, 30)
    assert float(mean.value) == pytest.approx(4.356748, abs=PRINTED_6DP)
    assert float(sd.value) == pytest.approx(2.205578, abs=PRINTED_6DP)
    assert mean.method == "luo2018" and sd.method == "wan2014"


@pytest.mark.parametrize(("n", "xi"), [(5, 2.326), (10, 3.078), (15, 3.472), (20, 3.735),
                                       (25, 3.931), (30, 4.086), (40, 4.322), (50, 4.498)])
def test_range_divisor_close_to_wan_table1(n, xi):
    # Wan et al. (2014), Table 1: xi(n) = 2 E(Z_(n)); SD = range / xi(n)
    _, sd = mean_sd_from_median_range(0.0, 0.5, 1.0, n)
    assert 1 / float(sd.value) == pytest.approx(xi, rel=WAN_APPROX_REL)


def test_symmetric_summaries_give_the_median_as_mean():
    # every estimator is a weighted average of median, mid-range and mid-quartile range
    n = np.array([5, 20, 100, 1000])
    for method in ("luo/wan/shi", "wan"):
        m1, _ = mean_sd_from_median_range(2.0, 7.0, 12.0, n, method=method)
        m2, _ = mean_sd_from_median_iqr(5.0, 7.0, 9.0, n, method=method)
        m3, _ = mean_sd_from_five_number(2.0, 5.0, 7.0, 9.0, 12.0, n, method=method)
        for m in (m1, m2, m3):
            np.testing.assert_allclose(m.value, 7.0, rtol=EXACT)


def test_location_scale_equivariance():
    rng = np.random.default_rng(7)  # clearly synthetic five-number summaries
    x = np.sort(rng.normal(50, 10, size=(200, 5)), axis=1)
    n = rng.integers(5, 500, size=200)
    a, q1, m, q3, b = x.T
    base_mean, base_sd = mean_sd_from_five_number(a, q1, m, q3, b, n)
    c, d = 2.5, -13.0
    mean, sd = mean_sd_from_five_number(c * a + d, c * q1 + d, c * m + d, c * q3 + d, c * b + d, n)
    np.testing.assert_allclose(mean.value, c * base_mean.value + d, rtol=EXACT)
    np.testing.assert_allclose(sd.value, c * base_sd.value, rtol=EXACT)


def test_shi_sd_is_between_range_and_iqr_estimates():
    # Shi et al. (2020): SD = w * (b - a)/xi(n) + (1 - w) * (q3 - q1)/eta(n), w = 1/(1 + 0.07 n^0.6)
    n = np.array([10, 50, 400])
    a, q1, m, q3, b = 0.0, 3.0, 5.0, 7.0, 12.0
    _, sd_range = mean_sd_from_median_range(a, m, b, n)
    _, sd_iqr = mean_sd_from_median_iqr(q1, m, q3, n)
    _, sd5 = mean_sd_from_five_number(a, q1, m, q3, b, n)
    w = 1 / (1 + 0.07 * n**0.6)
    np.testing.assert_allclose(sd5.value, w * sd_range.value + (1 - w) * sd_iqr.value, rtol=EXACT)
    assert sd5.method == "shi2020"


def test_luo_weights_closed_form():
    # Luo et al. (2018) eq. 15 with n = 20: w1 = 2.2/(2.2 + 20^0.75), w2 = 0.7 - 0.72/20^0.55
    w1, w2 = 2.2 / (2.2 + 20**0.75), 0.7 - 0.72 / 20**0.55
    mean, _ = mean_sd_from_five_number(2, 4, 6, 10, 14, 20)
    assert float(mean.value) == pytest.approx(w1 * 8 + w2 * 7 + (1 - w1 - w2) * 6, rel=EXACT)
    # eq. 11 (quartiles): (0.7 + 0.39/n)(q1 + q3)/2 + (0.3 - 0.39/n) m
    mean, _ = mean_sd_from_median_iqr(4, 6, 10, 20)
    assert float(mean.value) == pytest.approx((0.7 + 0.39 / 20) * 7 + (0.3 - 0.39 / 20) * 6, rel=EXACT)


def test_invalid_summaries_give_nan():
    mean, sd = mean_sd_from_median_iqr([4, 10, 4], [6, 6, 6], [10, 4, 10], [20, 20, 4])
    assert np.isfinite(mean.value[0]) and np.isfinite(sd.value[0])
    assert np.isnan(mean.value[1:]).all() and np.isnan(sd.value[1:]).all()  # order; n < 5


def test_mean_sd_unpacks_and_describes():
    res = mean_sd_from_median_iqr(4, 6, 10, 20)
    assert isinstance(res, MeanSD)
    mean, sd = res
    assert mean.describe() == ["mean estimated from median and IQR by luo2018 "
                               "(q1=4, median=6, q3=10, n=20)"]
    assert "Wan" in sd.reference


def test_unknown_method():
    with pytest.raises(ArgumentError, match="method 'hozo' is not one of default, luo/wan/shi, wan"):
        mean_sd_from_median_range(1, 4, 10, 30, method="hozo")


# ---- change scores ---------------------------------------------------------------------------


def test_change_sd_and_implied_correlation_round_trip():
    sd_pre, sd_post = np.array([10.0, 4.7, 3.1]), np.array([12.0, 4.6, 4.1])
    r = np.array([0.5, 0.44, -0.2])
    sdc = change_sd(sd_pre, sd_post, r)
    np.testing.assert_allclose(
        sdc.value, np.sqrt(sd_pre**2 + sd_post**2 - 2 * r * sd_pre * sd_post), rtol=EXACT)
    np.testing.assert_allclose(implied_correlation(sd_pre, sd_post, sdc.value).value, r, rtol=EXACT)
    assert float(change_sd(3.0, 4.0, 0.0).value) == pytest.approx(5.0, rel=EXACT)


def test_inconsistent_sds_give_nan_not_a_clipped_correlation():
    # a change SD larger than sd_pre + sd_post implies r < -1
    assert np.isnan(implied_correlation(3.0, 4.0, 7.5).value)
    assert np.isnan(change_sd(3.0, 4.0, 1.5).value)
