"""escalc() against R metafor 3.8-1, plus argument errors and NaN-with-reason rows.

Oracle: tests/reference/escalc.json, written by tests/reference/make_reference.R (each case
keeps its R call). Hand checks: values printed in metafor's own test suite for published data
(dat.bcg; Morris 2008, Table 1).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evidence.effects import MEASURES, correlation_sensitivity, escalc, hedges_correction
from evidence.errors import ArgumentError

FIXTURE = Path(__file__).parent / "reference" / "escalc.json"

# The fixture holds 15 significant digits (relative rounding <= 5e-16); 1e-10 leaves room for
# a different order of floating-point operations and a different lgamma implementation, and
# is still far below any digit a reader would see.
REL_TOL = 1e-10
# Values copied from printed R output rounded to 4 decimals: half a unit in the 4th decimal.
PRINTED_4DP = 5e-5

_CASES = json.loads(FIXTURE.read_text())["cases"] if FIXTURE.exists() else []


def _num(values):
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _options(case):
    opts = case.get("options") or {}
    return {k: (v[0] if isinstance(v, list) else v) for k, v in opts.items()}


def _case_id(case):
    i = _CASES.index(case)
    return f"{i:02d}-{case['measure']}-{case.get('source', '').split(' ')[0].split(':')[-1]}"


@pytest.mark.reference
@pytest.mark.skipif(not _CASES, reason="tests/reference/escalc.json not generated yet")
@pytest.mark.parametrize("case", _CASES, ids=_case_id if _CASES else None)
def test_matches_metafor(case):
    inputs = {k: _num(v) for k, v in case["inputs"].items() if not k.endswith("_special")}
    if "error" in case:
        with pytest.raises(ArgumentError):
            escalc(case["measure"], **inputs, **_options(case))
        return
    out = escalc(case["measure"], **inputs, **_options(case))
    for field in ("yi", "vi"):
        ref = _num(case[field])
        got = out[field].to_numpy()
        np.testing.assert_array_equal(np.isnan(got), np.isnan(ref), err_msg=f"{field}: NaN rows")
        np.testing.assert_allclose(got, ref, rtol=REL_TOL, atol=0, equal_nan=True,
                                   err_msg=f"{field} vs {case['call']}")
    # every NaN row says why; computed rows have no reason
    nan_rows = np.isnan(out["yi"].to_numpy()) | np.isnan(out["vi"].to_numpy())
    assert all(isinstance(r, str) and r for r in out["reason"][nan_rows])
    assert all(r is None for r in out["reason"][~nan_rows])


def test_fixture_covers_every_measure():
    if not _CASES:
        pytest.skip("tests/reference/escalc.json not generated yet")
    assert {c["measure"] for c in _CASES} == set(MEASURES)


# ---- hand checks on published data ----------------------------------------------------------

# dat.bcg, first trial (Aronson 1948): 4/119 vaccinated vs 11/128 controls with TB.
# metafor tests/testthat/test_misc_escalc.r: yi = -0.8893, vi = 0.3256.
def test_bcg_first_trial_rr():
    out = escalc("RR", ai=[4], bi=[119], ci=[11], di=[128])
    assert out["yi"][0] == pytest.approx(-0.8893, abs=PRINTED_4DP)
    assert out["vi"][0] == pytest.approx(0.3256, abs=PRINTED_4DP)


# Morris (2008), Table 1, treatment groups; metafor test_analysis_example_morris2008.r
MORRIS_T = pd.DataFrame({
    "m_pre": [30.6, 23.5, 0.5, 53.4, 35.6],
    "m_post": [38.5, 26.8, 0.7, 75.9, 36.0],
    "sd_pre": [15.0, 3.1, 0.1, 14.5, 4.7],
    "sd_post": [11.6, 4.1, 0.1, 4.4, 4.6],
    "n": [20, 50, 9, 10, 14],
    "r": [0.47, 0.64, 0.77, 0.89, 0.44],
})


def test_morris2008_smcr_with_columns():
    out = escalc("SMCR", data=MORRIS_T, m1i="m_post", m2i="m_pre", sd1i="sd_pre", ni="n", ri="r")
    np.testing.assert_allclose(out["yi"], [0.5056, 1.0481, 1.8054, 1.4181, 0.0801], atol=PRINTED_4DP)
    np.testing.assert_allclose(out["vi"], [0.0594, 0.0254, 0.2322, 0.1225, 0.0802], atol=PRINTED_4DP)
    # a copy with the new columns; the caller's frame is untouched
    assert list(out.columns) == [*MORRIS_T.columns, "yi", "vi", "reason"]
    assert "yi" not in MORRIS_T.columns
    assert out.attrs["escalc"] == {"measure": "SMCR", "vtype": "LS", "ri": "r"}


def test_hedges_correction_exact_gamma():
    # J(m) = Gamma(m/2) / (sqrt(m/2) Gamma((m-1)/2)); closed forms for small m:
    # J(2) = Gamma(1) / Gamma(1/2) = 1/sqrt(pi); J(3) = Gamma(3/2) / sqrt(3/2) = sqrt(pi/6)
    assert hedges_correction(2.0) == pytest.approx(1 / np.sqrt(np.pi), rel=1e-14)
    assert hedges_correction(3.0) == pytest.approx(np.sqrt(np.pi / 6), rel=1e-14)
    # and Hedges' (1981) approximation 1 - 3/(4m - 1) is close for moderate m
    m = np.array([10.0, 50.0, 200.0])
    assert np.all(np.abs(hedges_correction(m) - (1 - 3 / (4 * m - 1))) < 1e-3)
    assert np.isnan(hedges_correction(1.0))


# ---- argument errors -------------------------------------------------------------------------


def test_unknown_measure_lists_valid_ones():
    with pytest.raises(ArgumentError, match=r"measure 'SMDX' is not one of MD, SMD, .*SMCR"):
        escalc("SMDX", m1i=[1.0])


@pytest.mark.parametrize("measure", ["MC", "SMCC", "SMCR"])
def test_pre_post_without_ri_refuses_to_guess(measure):
    with pytest.raises(ArgumentError, match="ri.*must be stated explicitly"):
        escalc(measure, data=MORRIS_T, m1i="m_post", m2i="m_pre", sd1i="sd_pre",
               sd2i="sd_post", ni="n")


def test_missing_argument_is_named():
    with pytest.raises(ArgumentError, match="not given: sd2i"):
        escalc("SMD", m1i=[1.0], sd1i=[1.0], n1i=[10], m2i=[0.0], n2i=[10])


def test_mismatched_lengths():
    with pytest.raises(ArgumentError, match="mismatched lengths"):
        escalc("MD", m1i=[1.0, 2.0], sd1i=[1.0, 1.0], n1i=[10, 10],
               m2i=[0.0, 0.0, 0.0], sd2i=[1.0, 1.0], n2i=[10, 10])


def test_array_length_differs_from_data():
    with pytest.raises(ArgumentError, match="ni has length 2, but data has 5 rows"):
        escalc("SMCR", data=MORRIS_T, m1i="m_post", m2i="m_pre", sd1i="sd_pre", ni=[1, 2], ri=0.5)


def test_unknown_column_lists_columns():
    with pytest.raises(ArgumentError, match="'sd_baseline' is not a column of data; columns are: m_pre"):
        escalc("SMCR", data=MORRIS_T, m1i="m_post", m2i="m_pre", sd1i="sd_baseline", ni="n", ri=0.5)


@pytest.mark.parametrize(("kwargs", "pattern"), [
    ({"vtype": "LS2"}, "vtype 'LS2' is not available for measure SMD; use one of LS, UB"),
    ({"to": "sometimes"}, "to 'sometimes' is not one of only0, all, if0all, none"),
    ({"add": -1}, "add must be a non-negative number"),
])
def test_bad_options(kwargs, pattern):
    with pytest.raises(ArgumentError, match=pattern):
        escalc("SMD", m1i=[1.0], sd1i=[1.0], n1i=[10], m2i=[0.0], sd2i=[1.0], n2i=[10], **kwargs)


def test_assumed_correlation_out_of_range():
    with pytest.raises(ArgumentError, match=r"ri must lie in \[-1, 1\], got 1.5"):
        escalc("SMCR", data=MORRIS_T, m1i="m_post", m2i="m_pre", sd1i="sd_pre", ni="n", ri=1.5)


# ---- NaN rows with a reason ------------------------------------------------------------------


def test_missing_inputs_give_nan_and_reason():
    out = escalc("SMD", m1i=[5.0, np.nan, 5.0, 5.0], sd1i=[2.0, 2.0, None, 2.0],
                 n1i=[10, 10, 10, 1], m2i=[4.0, 4.0, 4.0, 4.0], sd2i=[2.0, np.nan, 2.0, 2.0],
                 n2i=[10, 10, 10, 1])
    assert np.isfinite(out["yi"][0]) and out["reason"][0] is None
    assert np.isnan(out["yi"][1]) and np.isnan(out["vi"][1])
    assert out["reason"][1] == "m1i, sd2i missing"
    assert out["reason"][2] == "sd1i missing"
    assert np.isnan(out["vi"][3]) and out["reason"][3] == "n1i + n2i - 2 <= 1"


def test_missing_mean_keeps_variance_like_metafor():
    out = escalc("MD", m1i=[np.nan], sd1i=[2.0], n1i=[10], m2i=[4.0], sd2i=[2.0], n2i=[10])
    assert np.isnan(out["yi"][0]) and out["vi"][0] == pytest.approx(0.8, rel=1e-15)
    assert out["reason"][0] == "m1i missing"


def test_invalid_rows_do_not_raise():
    out = escalc("ROM", m1i=[5.0, -5.0], sd1i=[1.0, 1.0], n1i=[10, 10],
                 m2i=[4.0, 4.0], sd2i=[1.0, 1.0], n2i=[10, 10])
    assert np.isfinite(out["yi"][0])
    assert np.isnan(out["yi"][1]) and "same sign" in out["reason"][1]
    out = escalc("ZCOR", ri=[0.3, 0.3, 1.2], ni=[20, 3, 20])
    assert list(out["reason"]) == [None, "ni <= 3", "ri outside [-1, 1]"]


def test_zero_cells_only0_default():
    # a table with a zero cell gets 1/2 added to every cell; the other table is untouched
    out = escalc("OR", ai=[0, 2], bi=[10, 8], ci=[3, 4], di=[7, 6])
    assert out["yi"][0] == pytest.approx(np.log(0.5 * 7.5 / (10.5 * 3.5)), rel=1e-14)
    assert out["vi"][0] == pytest.approx(1 / 0.5 + 1 / 10.5 + 1 / 3.5 + 1 / 7.5, rel=1e-14)
    assert out["yi"][1] == pytest.approx(np.log(2 * 6 / (8 * 4)), rel=1e-14)
    assert out.attrs["escalc"]["corrected_rows"] == [0]
    none = escalc("OR", ai=[0], bi=[10], ci=[3], di=[7], to="none")
    assert np.isnan(none["yi"][0]) and none["reason"][0].startswith("not computable")


def test_group_sizes_instead_of_cells():
    a = escalc("RD", ai=[4, 6], bi=[119, 300], ci=[11, 29], di=[128, 274])
    b = escalc("RD", ai=[4, 6], n1i=[123, 306], ci=[11, 29], n2i=[139, 303])
    np.testing.assert_allclose(a["yi"], b["yi"], rtol=1e-15)
    np.testing.assert_allclose(a["vi"], b["vi"], rtol=1e-15)


def test_scalars_broadcast_and_index_kept():
    df = MORRIS_T.set_index(pd.Index(list("abcde"), name="study"))
    out = escalc("SMCC", data=df, m1i="m_post", m2i="m_pre", sd1i="sd_post", sd2i="sd_pre",
                 ni="n", ri=0.5, var_names=("g", "var_g"))
    assert list(out.index) == list("abcde")
    assert {"g", "var_g", "reason"} <= set(out.columns)
    assert out.attrs["escalc"]["ri"] == 0.5


def test_vectorised_many_rows():
    rng = np.random.default_rng(1)  # clearly synthetic
    k = 200_000
    out = escalc("SMD", m1i=rng.normal(size=k), sd1i=rng.uniform(1, 2, k), n1i=rng.integers(5, 50, k),
                 m2i=rng.normal(size=k), sd2i=rng.uniform(1, 2, k), n2i=rng.integers(5, 50, k))
    assert out["yi"].notna().all() and len(out) == k


# ---- correlation sensitivity -----------------------------------------------------------------


def test_correlation_sensitivity_table():
    grid = (0.2, 0.5, 0.8)
    t = correlation_sensitivity("SMCR", data=MORRIS_T, ri=grid, m1i="m_post", m2i="m_pre",
                                sd1i="sd_pre", ni="n")
    assert list(t.columns) == ["ri", "row", "yi", "vi", "ci_low", "ci_high", "reason"]
    assert len(t) == len(grid) * len(MORRIS_T)
    for r in grid:  # identical to escalc with that assumed correlation
        one = escalc("SMCR", data=MORRIS_T, m1i="m_post", m2i="m_pre", sd1i="sd_pre", ni="n", ri=r)
        sub = t[t["ri"] == r]
        np.testing.assert_array_equal(sub["row"], MORRIS_T.index)
        np.testing.assert_allclose(sub["yi"], one["yi"], rtol=1e-15)
        np.testing.assert_allclose(sub["vi"], one["vi"], rtol=1e-15)
    half = 1.959963984540054 * np.sqrt(t["vi"])
    np.testing.assert_allclose(t["ci_high"] - t["yi"], half, rtol=1e-12)
    np.testing.assert_allclose(t["yi"] - t["ci_low"], half, rtol=1e-12)


def test_correlation_sensitivity_pool_callable():
    def inverse_variance(yi, vi):
        w = 1 / vi
        return {"estimate": float(np.sum(w * yi) / np.sum(w)), "k": len(yi)}

    t = correlation_sensitivity("SMCC", data=MORRIS_T, ri=(0.3, 0.7), pool=inverse_variance,
                                m1i="m_post", m2i="m_pre", sd1i="sd_post", sd2i="sd_pre", ni="n")
    assert {"pooled_estimate", "pooled_k"} <= set(t.columns)
    assert t.groupby("ri")["pooled_estimate"].nunique().eq(1).all()
    assert set(t["pooled_k"]) == {5}


def test_correlation_sensitivity_needs_a_pre_post_measure():
    with pytest.raises(ArgumentError, match="does not depend on a pre-post correlation"):
        correlation_sensitivity("SMD", m1i=[1.0])
