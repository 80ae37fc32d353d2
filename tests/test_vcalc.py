"""evidence.vcalc beyond one constant correlation, against metafor's vcalc() (issue 13).

Reference matrices from ``tests/reference/make_vcalc.R`` (metafor 3.8-1) on synthetic
designs: construct types and observations (a within and a between correlation), subgroups,
time points with an autocorrelation phi, contrasts sharing a control (equal or given group
sizes) and within-subjects contrasts. vcalc is a closed form: the tolerance is 1e-14
relative per entry (R writes 15 significant digits into the JSON) plus 1e-17 absolute
(entries that are zero up to rounding).
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import evidence as ev
from evidence.errors import ArgumentError

REF = json.loads((Path(__file__).parent / "reference" / "vcalc.json").read_text())
RTOL, ATOL = 1e-14, 1e-17


@pytest.mark.parametrize("name", sorted(REF["cases"]))
def test_vcalc_matches_metafor(name):
    case = REF["cases"][name]
    data = pd.DataFrame(REF["data"][case.get("data", "d")])
    args = dict(case["args"])
    if isinstance(args.get("rho"), list):
        args["rho"] = tuple(args["rho"])
    V = np.asarray(ev.vcalc("vi", cluster="study", data=data, **args))
    want = np.asarray(case["V"], dtype=float)
    assert V.shape == want.shape
    np.testing.assert_allclose(V, want, rtol=RTOL, atol=ATOL,
                               err_msg=case["call"])


def test_phi_and_rho_are_recorded_and_required():
    d = pd.DataFrame(REF["data"]["d"])
    V = ev.vcalc("vi", cluster="study", type="type", obs="obs", rho=(0.7, 0.4), data=d)
    assert V.rho == (0.7, 0.4) and "between construct types" in V.note
    W = ev.vcalc("vi", cluster="study", time1="time", phi=0.8, data=d)
    assert W.rho is None and "phi = 0.8" in W.note
    with pytest.raises(ArgumentError, match="time1 needs phi"):
        ev.vcalc("vi", cluster="study", time1="time", data=d)
    with pytest.raises(ArgumentError, match="rho is a pair"):
        ev.vcalc("vi", cluster="study", type="type", obs="obs", rho=0.5, data=d)
    with pytest.raises(ArgumentError, match="never a default"):
        ev.vcalc("vi", cluster="study", obs="obs", data=d)
    with pytest.raises(ArgumentError, match="time2 needs grp2"):
        ev.vcalc("vi", cluster="study", time1="time", time2="time", phi=0.5, data=d)
    with pytest.raises(ArgumentError, match="phi"):
        ev.vcalc("vi", cluster="study", time1="time", phi=1.5, data=d)


def test_an_autocorrelated_v_fits_the_fine1993_trials():
    """A time-lagged working model for the bundled glioma trials (survival at 6-24 months)
    fits and differs from the constant-rho model only through V."""
    from evidence.analysis import multilevel_effects
    from evidence.model import planned_analyses

    loaded = ev.load_review("studies/fine1993")
    spec = planned_analyses(loaded)[0]
    eff = multilevel_effects(loaded.frames(), spec)
    eff = eff[eff["computable"]].reset_index(drop=True)
    months = eff["timepoint"].str.extract(r"(\d+)")[0].astype(float) / 6  # 6-month units
    V = ev.vcalc(eff["vi"], cluster=eff["study"], time1=months, phi=0.5)
    dense = np.asarray(V)
    same = (eff["study"].to_numpy()[:, None] == eff["study"].to_numpy()[None, :])
    lag = np.abs(months.to_numpy()[:, None] - months.to_numpy()[None, :])
    sd = np.sqrt(eff["vi"].to_numpy())
    np.testing.assert_allclose(dense, np.where(same, 0.5 ** lag, 0) * np.outer(sd, sd),
                               rtol=0, atol=1e-15)
    eff = eff.assign(tp=eff["timepoint"])
    fit = ev.meta_mv("yi", V, data=eff, random="study/tp")
    assert np.isfinite(fit.estimate) and fit.converged
