"""Leave-one-out, influence and cumulative meta-analysis against R metafor 3.8-1.

Oracles: tests/reference/around.json ("leave_one_out": leave1out(res); "influence":
influence(res)$inf with weight/100 and dfbs; "cumulative": cumul(res, order=year)) and
around_extra.json (knha, PM/ML). Each case carries its R call in ``call``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from evidence.errors import ArgumentError
from evidence.meta.fit import meta
from evidence.meta.sensitivity import cumulative, influence, leave_one_out

REF = Path(__file__).parent / "reference"

# Converged fits on both sides (threshold 1e-12): estimates, SEs, tau2 agree to ~1e-13.
REL_TOL = 1e-8
# Influence statistics divide differences of nearly equal estimates (b - b_(-i)), which loses
# about log10(|b| / |b - b_(-i)|) digits: observed agreement ~5e-10 relative.
INFLUENCE_REL_TOL = 1e-7
# tau2 / I2 that are 0 in one program and ~1e-12 in the other (REML at the boundary after
# step halving), and p-values far in the tail.
ABS_FLOOR = 1e-9


from _reference import AROUND, DATASETS, EXTRA  # noqa: E402


def _params(section):
    cases = AROUND[section] + EXTRA.get(section, [])
    return [pytest.param(c, id=f"{c['dataset']}-{c['method']}-{c.get('test', 'z')}")
            for c in cases]


def _compare(frame, case, fields, rel):
    checked = 0
    for name in fields:
        ref = case.get(name)
        if not ref:  # metafor gives no such column (e.g. tau2 of an FE model)
            continue
        np.testing.assert_allclose(frame[name].to_numpy(float), np.asarray(ref, float),
                                   rtol=rel, atol=ABS_FLOOR, err_msg=name)
        checked += 1
    assert checked >= 5


@pytest.mark.reference
@pytest.mark.parametrize("case", _params("leave_one_out"))
def test_leave_one_out_matches_metafor(case):
    d = DATASETS[case["dataset"]]
    loo = leave_one_out(d["yi"], d["vi"], method=case["method"], test=case["test"])
    assert len(loo) == len(d["yi"])
    _compare(loo, case, ["estimate", "se", "stat", "pvalue", "ci_low", "ci_high", "q",
                         "q_pvalue", "tau2", "i2", "h2"], REL_TOL)


@pytest.mark.reference
@pytest.mark.parametrize("case", _params("influence"))
def test_influence_matches_metafor(case):
    d = DATASETS[case["dataset"]]
    inf = influence(d["yi"], d["vi"], method=case["method"])
    _compare(inf, case, ["rstudent", "dffits", "cooks", "cov_r", "tau2_del", "qe_del", "hat",
                         "weight", "dfbetas"], INFLUENCE_REL_TOL)
    assert inf["influential"].tolist() == case["influential"]


@pytest.mark.reference
@pytest.mark.parametrize("case", _params("cumulative"))
def test_cumulative_matches_metafor(case):
    d = DATASETS[case["dataset"]]
    key = d["moderators"][case["order_by"]]
    cm = cumulative(d["yi"], d["vi"], order=key, method=case["method"], test=case["test"])
    assert np.argsort(key, kind="stable").tolist() == case["order_used"]
    assert cm["k"].tolist() == list(range(1, len(key) + 1))
    _compare(cm, case, ["estimate", "se", "stat", "pvalue", "ci_low", "ci_high", "q",
                        "q_pvalue", "tau2", "i2", "h2"], REL_TOL)


def test_leave_one_out_rows_are_meta_without_that_study():
    d = DATASETS["normand1999"]
    y, v = np.asarray(d["yi"]), np.asarray(d["vi"])
    labels = [f"s{i}" for i in range(y.size)]
    loo = leave_one_out(y, v, method="DL", labels=labels)
    assert list(loo.index) == labels
    for i in (0, 4, y.size - 1):
        res = meta(np.delete(y, i), np.delete(v, i), method="DL")
        np.testing.assert_allclose(loo.iloc[i][["estimate", "se", "tau2"]].to_numpy(float),
                                   [res.estimate, res.se, res.tau2], rtol=1e-12)


def test_cumulative_default_order_and_labels():
    # synthetic data
    y = np.array([0.3, 0.1, 0.5, 0.2])
    v = np.array([0.02, 0.03, 0.01, 0.04])
    cm = cumulative(y, v, method="FE", labels=list("abcd"))
    assert list(cm.index) == list("abcd")
    last = meta(y, v, method="FE")
    assert cm["estimate"].iloc[-1] == pytest.approx(last.estimate, rel=1e-12)
    assert cm["estimate"].iloc[0] == pytest.approx(0.3, rel=1e-12)
    ordered = cumulative(y, v, order=[2004, 2001, 2001, 1999], method="FE", labels=list("abcd"))
    assert list(ordered.index) == list("dbca")  # stable: b before c at the tie
    assert ordered["order"].tolist() == [1999, 2001, 2001, 2004]


def test_influence_flags_an_outlier():
    # synthetic data: one study far away from nine homogeneous ones
    y = np.r_[np.linspace(0.18, 0.22, 9), 2.0]
    v = np.full(10, 0.01)
    inf = influence(y, v, method="DL")
    assert inf["influential"].tolist() == [False] * 9 + [True]
    assert inf["rstudent"].abs().idxmax() == 9
    assert inf["weight"].sum() == pytest.approx(1.0)


def test_sensitivity_errors():
    with pytest.raises(ArgumentError, match="at least 2"):
        leave_one_out([0.1], [0.01])
    with pytest.raises(ArgumentError, match="at least 3"):
        influence([0.1, 0.2], [0.01, 0.01])
    with pytest.raises(ArgumentError, match="order must have one entry per study"):
        cumulative([0.1, 0.2], [0.01, 0.01], order=[1])
    with pytest.raises(ArgumentError, match="labels"):
        leave_one_out([0.1, 0.2, 0.3], [0.01] * 3, labels=["a"])
    with pytest.raises(ArgumentError, match="method"):
        cumulative([0.1, 0.2], [0.01, 0.01], method="reml2")
