"""Risk-of-bias overall rules and summary shares.

Oracle: robvis (R package, McGuinness & Higgins 2021, Res Synth Methods 12:55-61), example
table ``data_rob2`` (file data_raw/data_rob2.csv of github.com/mcguinlu/robvis; re-typed below,
9 studies, columns D1-D5 and Overall), and the shares robvis's weighted summary plot shows for
Overall when ``data_rob2$Weight`` is the weights of ``rma(yi, vi, data = escalc("RR", ...,
data = dat.bcg[1:9, ]))`` (REML): Low 7.31 %, Some concerns 30.23 %, High 62.46 %.
"""

import itertools
from pathlib import Path

import numpy as np
import pytest

import evidence as ev

ROOT = Path(__file__).resolve().parents[1]

# robvis data_rob2 (source above): Study, D1..D5, Overall
DATA_ROB2 = [
    ("Study 1", "Low", "Low", "Low", "Low", "Low", "Low"),
    ("Study 2", "Some concerns", "Low", "Low", "Low", "Low", "Some concerns"),
    ("Study 3", "No information", "Low", "Some concerns", "Low", "Low", "Some concerns"),
    ("Study 4", "Low", "Low", "High", "Low", "Some concerns", "High"),
    ("Study 5", "High", "High", "Low", "Low", "Some concerns", "High"),
    ("Study 6", "Low", "High", "Some concerns", "Low", "Low", "High"),
    ("Study 7", "Low", "Some concerns", "Some concerns", "High", "Low", "High"),
    ("Study 8", "Low", "Some concerns", "Low", "Low", "Low", "Some concerns"),
    ("Study 9", "Low", "Low", "High", "Low", "Low", "High"),
]
# Shares robvis reports (percent, 2 decimals): tolerance half a unit in the last place.
ROBVIS_SHARE_TOL = 0.005
ROBVIS_OVERALL_SHARES = {"low": 7.31, "some concerns": 30.23, "high": 62.46}


@pytest.mark.parametrize("row", DATA_ROB2, ids=[r[0] for r in DATA_ROB2])
def test_rob2_overall_reproduces_robvis(row):
    assert ev.rob_overall("rob2", row[1:6]) == row[6].lower()


def test_unweighted_domain_counts():
    counts = {d: ev.rob_shares([r[1 + d] for r in DATA_ROB2]) for d in range(6)}
    n = len(DATA_ROB2)
    as_counts = {d: {k: round(v * n) for k, v in c.items() if v} for d, c in counts.items()}
    assert as_counts[0] == {"low": 6, "some concerns": 1, "no information": 1, "high": 1}
    assert as_counts[1] == {"low": 5, "some concerns": 2, "high": 2}
    assert as_counts[2] == {"low": 4, "some concerns": 3, "high": 2}
    assert as_counts[3] == {"low": 8, "high": 1}
    assert as_counts[4] == {"low": 7, "some concerns": 2}
    assert as_counts[5] == {"low": 1, "some concerns": 3, "high": 5}


def _bcg_first_nine():
    review = ev.load_review(ROOT / "studies" / "bcg")
    m = review.frames()["measurements"]
    order = [s.id for s in review.studies][:9]
    cell = m.set_index(["study", "arm", "statistic"])["value"]
    ai, bi, ci, di = [], [], [], []
    for sid in order:
        ai.append(cell[sid, "vaccinated", "events"]); bi.append(cell[sid, "vaccinated", "nonevents"])
        ci.append(cell[sid, "control", "events"]); di.append(cell[sid, "control", "nonevents"])
    a, b, c, d = (np.asarray(x, float) for x in (ai, bi, ci, di))
    yi = np.log((a / (a + b)) / (c / (c + d)))
    vi = 1 / a - 1 / (a + b) + 1 / c - 1 / (c + d)
    return yi, vi


def test_weighted_overall_shares_reproduce_robvis():
    yi, vi = _bcg_first_nine()
    fit = ev.meta(yi, vi, method="REML")
    shares = ev.rob_shares([r[6] for r in DATA_ROB2], weights=fit.weights)
    for label, percent in ROBVIS_OVERALL_SHARES.items():
        assert abs(100 * shares[label] - percent) <= ROBVIS_SHARE_TOL + 1e-9, (label, shares)


# Truth tables: every combination of judgements over the domains of each tool.
def _rob2_rule(labels):
    return ("high" if "high" in labels else
            "low" if set(labels) == {"low"} else "some concerns")


def test_rob2_overall_truth_table():
    for combo in itertools.product(("low", "some concerns", "high"), repeat=5):
        assert ev.rob_overall("rob2", combo) == _rob2_rule(combo)


@pytest.mark.parametrize("tool", ["robins-i", "robins-i-v2"])
def test_robins_overall_truth_table(tool):
    scale = ("low", "moderate", "serious", "critical", "no information")
    for combo in itertools.product(scale, repeat=4):
        got = ev.rob_overall(tool, combo + ("low",) * 3)
        if "critical" in combo:
            want = "critical"
        elif "serious" in combo:
            want = "serious"
        elif "no information" in combo:
            want = "no information"
        elif "moderate" in combo:
            want = "moderate"
        else:
            want = "low"
        assert got == want, combo


def test_bad_label_and_tool_are_named():
    with pytest.raises(ev.ArgumentError, match="'unclear' is not one of low, some concerns"):
        ev.rob_overall("rob2", ["low", "unclear"])
    with pytest.raises(ev.ArgumentError, match="'rob3' has no overall rule"):
        ev.rob_overall("rob3", ["low"])
