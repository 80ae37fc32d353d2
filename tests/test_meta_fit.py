"""evidence.meta.meta against R metafor 3.8-1 (tests/reference/rma.json).

Oracle: ``rma(yi, vi, method=..., test=..., level=95, control=list(threshold=1e-12,
maxiter=10000, tol=1e-14))``, ``confint(res)`` (Q-profile) and ``predict(res)``, on the
datasets of tests/reference/datasets.json (metadat datasets and synthetic edge cases);
regenerate with ``Rscript tests/reference/make_reference.R``.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from evidence.errors import ArgumentError, EvidenceWarning
from evidence.meta import SCALAR_FIELDS, MetaResult, meta
from evidence.meta.results import _field_names

REF = Path(__file__).parent / "reference"

# Closed-form quantities (estimate, se, Q, I^2 ...) differ from R only by floating-point
# rounding of sums (R accumulates in long double, BLAS in a different order): ~1e-14 relative.
# 1e-9 leaves room for the iterative estimators, which both sides converge to |change| <=
# 1e-12 in tau^2 (metafor threshold 1e-12; ours the same), i.e. ~1e-11 relative on tau^2.
REL_TOL = 1e-9
# Absolute floor for quantities that are exactly or nearly 0 (tau^2 truncated at 0, where
# Fisher scoring approaches 0 by step halving and stops within ~threshold = 1e-12 of it).
ABS_TOL = 1e-10
# Q-profile CI bounds: metafor's uniroot(tol = 1e-12) stops within ~1e-12 absolute of the
# root; we solve to ~machine precision. 1e-9 relative (1e-10 absolute) covers that.
CI_REL_TOL = 1e-9
# p-values far in the tail (~1e-26) are computed from different series in R and scipy;
# relative agreement there is ~1e-12, so the general REL_TOL holds as well.

FIELD_MAP = {  # fixture name -> MetaResult attribute, where they differ
    "tau2_se": "se_tau2",
}
COMPARED = [
    "k", "estimate", "se", "ci_low", "ci_high", "stat", "pvalue", "tau2", "tau2_se",
    "tau2_ci_low", "tau2_ci_high", "i2", "h2", "q", "q_df", "q_pvalue", "pi_low", "pi_high",
    "df",
]


def _load():
    with open(REF / "rma.json") as fh:
        rma = json.load(fh)
    with open(REF / "datasets.json") as fh:
        data = json.load(fh)["datasets"]
    return rma, data


RMA, DATA = _load()
CASES = RMA["cases"]


def _expected(result: dict, name: str):
    """Fixture value as a float; NA/NaN as nan, Inf as inf; missing as nan."""
    val = result.get(name)
    if val is None:
        special = result.get(name + "_special", "NA")
        return {"Inf": math.inf, "-Inf": -math.inf}.get(special, math.nan)
    return float(val)


def _case_id(c):
    return f"{c['dataset']}-{c['method']}-{c['test']}"


def _fit(case):
    d = DATA[case["dataset"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvidenceWarning)
        return meta(d["yi"], d["vi"], method=case["method"], test=case["test"],
                    level=case["level"])


@pytest.mark.reference
@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_against_metafor(case):
    res = _fit(case)
    exp = case["result"]
    problems = []
    for name in COMPARED:
        want = _expected(exp, name)
        attr = FIELD_MAP.get(name, name)
        got = getattr(res, attr)
        got = math.nan if got is None else float(got)
        rel = CI_REL_TOL if name.startswith("tau2_ci") else REL_TOL
        if math.isnan(want) or math.isinf(want):
            ok = (math.isnan(got) and math.isnan(want)) or got == want
        else:
            ok = math.isclose(got, want, rel_tol=rel, abs_tol=ABS_TOL)
        if not ok:
            problems.append(f"{name}: got {got!r}, metafor {want!r}")
    assert res.test == exp["test_used"]
    np.testing.assert_allclose(res.weights, exp["weights"], rtol=REL_TOL, atol=ABS_TOL)
    assert not problems, "; ".join(problems)


def test_bcg_reml_documented_values():
    """metafor's documented dat.bcg log-RR example (Viechtbauer 2010, JSS 36(3), p. 16-17):
    estimate -0.7145, se 0.1798, tau^2 0.3132 (SE 0.1664), I^2 92.22%, H^2 12.86,
    Q(12) = 152.2330, tau^2 95% CI [0.1197, 1.1115]."""
    d = DATA["bcg"]
    res = meta(d["yi"], d["vi"])
    assert round(res.estimate, 4) == -0.7145
    assert round(res.se, 4) == 0.1798
    assert round(res.tau2, 4) == 0.3132
    assert round(res.se_tau2, 4) == 0.1664
    assert round(res.i2, 2) == 92.22
    assert round(res.h2, 2) == 12.86
    assert round(res.q, 4) == 152.2330
    assert (round(res.tau2_ci_low, 4), round(res.tau2_ci_high, 4)) == (0.1197, 1.1115)


# ------------------------------------------------------------------------------------------
# result object


def test_result_is_frozen_and_complete():
    d = DATA["bcg"]
    res = meta(d["yi"], d["vi"], method="DL", test="knha")
    assert isinstance(res, MetaResult)
    with pytest.raises(Exception):
        res.estimate = 0.0  # frozen
    assert set(SCALAR_FIELDS) == set(_field_names())
    assert res.df == res.k - 1 and res.test == "knha"
    assert res.tau == pytest.approx(math.sqrt(res.tau2))
    frame = res.to_frame()
    assert list(frame.columns) == list(SCALAR_FIELDS) and len(frame) == 1
    assert frame.loc[0, "estimate"] == res.estimate
    assert "DL" in str(res) and "t(12)" in str(res)
    assert "Knapp-Hartung" in res.summary()
    assert "<table" in res._repr_html_()
    assert meta(d["yi"], d["vi"]).df is None


def test_level_percent_and_fraction_agree():
    d = DATA["normand1999"]
    a = meta(d["yi"], d["vi"], level=90)
    b = meta(d["yi"], d["vi"], level=0.9)
    assert a.ci_low == b.ci_low and a.tau2_ci_high == b.tau2_ci_high and a.level == 0.9


def test_method_case_insensitive():
    d = DATA["bcg"]
    assert meta(d["yi"], d["vi"], method="reml").estimate == meta(d["yi"], d["vi"]).estimate


def test_ee_equals_fe():
    d = DATA["molloy2014"]
    fe = meta(d["yi"], d["vi"], method="FE")
    ee = meta(d["yi"], d["vi"], method="EE")
    assert fe.estimate == ee.estimate and fe.i2 == ee.i2 and ee.method == "EE"


# ------------------------------------------------------------------------------------------
# validation


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"method": "dl2"}, r"method 'dl2' is not one of FE, EE, DL, REML"),
        ({"test": "t"}, r"test 't' is not one of z, knha"),
        ({"level": 0}, r"level 0"),
        ({"level": 100}, r"level 100"),
        ({"level": 1}, r"level 1"),
        ({"level": -5}, r"level -5"),
        ({"level": "high"}, r"level 'high'"),
        ({"control": {"thresh": 1}}, r"control key"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ArgumentError, match=match):
        meta([0.1, 0.2, 0.3], [0.01, 0.02, 0.03], **kwargs)


@pytest.mark.parametrize(
    "yi, vi, match",
    [
        ([0.1, 0.2], [0.01], r"same length"),
        ([], [], r"empty"),
        ([0.1, float("nan")], [0.01, 0.02], r"yi contains NaN at position\(s\) 1"),
        ([0.1, 0.2], [float("nan"), 0.02], r"vi contains NaN at position\(s\) 0"),
        ([0.1, 0.2], [0.01, -0.02], r"vi must be > 0"),
        ([0.1, 0.2], [0.01, 0.0], r"vi must be > 0"),
        ([0.1, float("inf")], [0.01, 0.02], r"yi contains infinite"),
        ([[0.1, 0.2]], [[0.01, 0.02]], r"yi must be 1-D"),
    ],
)
def test_bad_data(yi, vi, match):
    with pytest.raises(ArgumentError, match=match):
        meta(yi, vi)


def test_argument_error_is_value_error():
    with pytest.raises(ValueError):
        meta([0.1], [0.1], method="nope")


# ------------------------------------------------------------------------------------------
# degenerate cases


def test_k1_knha_falls_back_to_z_with_warning():
    with pytest.warns(EvidenceWarning, match="k = 1"):
        res = meta([0.3], [0.04], method="REML", test="knha")
    assert res.test == "z" and res.df is None
    assert res.tau2 == 0 and res.q == 0 and res.q_pvalue == 1 and res.i2 == 0 and res.h2 == 1
    assert math.isnan(res.tau2_ci_low) and math.isnan(res.se_tau2)
    assert (res.pi_low, res.pi_high) == (res.ci_low, res.ci_high)
    np.testing.assert_array_equal(res.weights, [1.0])


def test_fe_knha_warns():
    d = DATA["bcg"]
    with pytest.warns(EvidenceWarning, match="not meant for FE"):
        meta(d["yi"], d["vi"], method="FE", test="knha")


def test_fe_has_no_prediction_interval_or_tau2_ci():
    d = DATA["bcg"]
    res = meta(d["yi"], d["vi"], method="FE")
    assert math.isnan(res.pi_low) and math.isnan(res.tau2_ci_high) and res.tau2 == 0


def test_non_convergence_warns_and_gives_nan():
    from evidence.errors import ConvergenceWarning

    d = DATA["bcg"]
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        res = meta(d["yi"], d["vi"], method="REML", control={"maxiter": 1})
    assert not res.converged and math.isnan(res.estimate) and math.isnan(res.tau2)


def test_metafor_default_threshold_reproducible():
    """control={'threshold': 1e-5, 'maxiter': 100} reproduces metafor's default stopping
    rule; the answer then differs from the converged one by less than the threshold."""
    d = DATA["bcg"]
    loose = meta(d["yi"], d["vi"], control={"threshold": 1e-5, "maxiter": 100})
    tight = meta(d["yi"], d["vi"])
    assert abs(loose.tau2 - tight.tau2) < 1e-5
    assert loose.iterations < tight.iterations


# A synthetic group (seeded draw, rounded) on which REML Fisher scoring oscillates with full
# steps: metafor 3.8-1 stops with "Fisher scoring algorithm did not converge"; with
# control = list(stepadj = 0.5, maxiter = 10000, threshold = 1e-12) it gives
# tau2 = 0.0308422890201045, estimate = -0.522744007645017, se = 0.217619877615568.
OSCILLATING_YI = [-0.680504, -0.369306, -0.2811, 0.007921, -0.911082, -0.493557]
OSCILLATING_VI = [0.466275, 0.433981, 0.41025, 0.183551, 0.094606, 0.457014]


def test_reml_retries_oscillating_groups_like_metafors_remedy():
    from evidence.errors import ConvergenceWarning, EvidenceWarning

    with pytest.warns(EvidenceWarning, match="converged only after retrying"):
        res = meta(OSCILLATING_YI, OSCILLATING_VI, method="REML")
    assert res.converged
    assert res.tau2 == pytest.approx(0.0308422890201045, rel=1e-9)
    assert res.estimate == pytest.approx(-0.522744007645017, rel=1e-9)
    assert res.se == pytest.approx(0.217619877615568, rel=1e-9)
    with pytest.warns(ConvergenceWarning):
        res = meta(OSCILLATING_YI, OSCILLATING_VI, method="REML", control={"retry": False})
    assert not res.converged and np.isnan(res.tau2)
