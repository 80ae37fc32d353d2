"""The bundled review studies/fine1993 (dat.fine1993: survivors at 6, 12, 18 and 24 months)
pooled as review.yaml plans it: one log odds ratio per study × time point, V from vcalc with
the assumed rho = 0.5, random intercepts for studies and time points within studies, CR2 by
study, one coefficient per time point, and the refits over the sensitivity correlations.

Oracle: tests/reference/multilevel.json (make_multilevel.R fits the same long-form data with
rma.mv at rel.tol 1e-12 and clubSandwich); the records are read from studies/, not from the
fixture, so this checks the path records -> effects -> model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import evidence as ev
from evidence.analysis import MultilevelAnalysisResult, run_multilevel
from evidence.errors import RecordError
from evidence.model import planned_analyses

from _multilevel import FRAMES, REF

CASES = {c["name"]: c for c in REF["cases"]}
# As tests/test_multilevel.py: free fits agree to metafor's optimiser limit; the study
# component is at the boundary (ours exactly 0, metafor 2.8e-9), so coefficients are compared
# with metafor's fit with that component fixed at 0 (boundary_refit).
COEF_REL = 1e-8
SE_REL = 2e-7
SIGMA2_ABS = 5e-8
# CR2 on the free fits (test_robust.FREE_TOL): the working models differ by metafor's sigma2.
CR2_REL = 1e-6


@pytest.fixture(scope="module")
def fine(studies_dir):
    loaded = ev.load_review(studies_dir / "fine1993")
    (plan,) = planned_analyses(loaded)
    return run_multilevel(loaded.frames(), plan)


def test_effects_are_the_fixture_long_form(fine):
    ref = FRAMES["fine1993"]
    eff = fine.effects
    assert len(eff) == len(ref) == 66 and eff["computable"].all()
    assert eff["study"].str.removeprefix("study-").astype(int).tolist() == ref["study"].tolist()
    assert eff["timepoint_label"].str.removesuffix(" months").astype(int).tolist() == \
        ref["time"].tolist()
    np.testing.assert_allclose(eff["yi"], ref["yi"], rtol=1e-13)
    np.testing.assert_allclose(eff["vi"], ref["vi"], rtol=1e-13)
    # study 17 assessed survival at 12 and 24 months only: two rows, nothing filled in
    assert eff.loc[eff["study"] == "study-17", "timepoint"].tolist() == ["m12", "m24"]


def test_pooled_model_matches_metafor(fine):
    case = CASES["fine1993_rho05"]
    ref = case["boundary_refit"]["coefficients"][0]
    assert fine.rho == 0.5 and fine.fit.rho == 0.5
    assert fine.fit.estimate == pytest.approx(ref["estimate"], rel=COEF_REL)
    assert float(fine.fit.se) == pytest.approx(ref["se"], rel=SE_REL)
    np.testing.assert_allclose(fine.fit.sigma2, case["sigma2"], rtol=0, atol=SIGMA2_ABS)
    assert list(fine.fit.n_levels) == case["n_levels"] == [17, 66]
    assert fine.n_studies == 17 and fine.k_used == 66
    cr2 = case["cr2_free_fit"]
    got = fine.robust.coefficients.iloc[0]
    for col in ("se", "df", "pvalue", "ci_low", "ci_high"):
        assert got[col] == pytest.approx(cr2[col][0], rel=CR2_REL), col


def test_by_timepoint_matches_metafor(fine):
    case = CASES["fine1993_by_time"]
    ref = pd.DataFrame(case["boundary_refit"]["coefficients"])
    got = fine.by_timepoint.coefficients
    assert [lab for _, lab in fine.timepoints] == ["6 months", "12 months", "18 months",
                                                  "24 months"]
    np.testing.assert_allclose(got["estimate"], ref["estimate"], rtol=COEF_REL)
    np.testing.assert_allclose(got["se"], ref["se"], rtol=SE_REL)
    cr2 = case["cr2_free_fit"]
    np.testing.assert_allclose(fine.by_timepoint_robust.coefficients["se"], cr2["se"],
                               rtol=CR2_REL)
    np.testing.assert_allclose(fine.by_timepoint_robust.coefficients["df"], cr2["df"],
                               rtol=CR2_REL)


def test_rho_sensitivity_matches_metafor(fine):
    sens = fine.rho_sensitivity
    refs = REF["fine1993_rho"]
    assert sens["rho"].tolist() == [r["rho"] for r in refs]
    for (_, row), r in zip(sens.iterrows(), refs):
        # free fits on both sides; where a component is at the boundary metafor stops ~1e-9
        # above 0, which moves the estimate by up to ~2e-8 relative
        assert row["estimate"] == pytest.approx(r["estimate"], rel=5e-8)
        assert row["se"] == pytest.approx(r["se"], rel=SE_REL)
        assert row["robust_se"] == pytest.approx(r["cr2"]["se"][0], rel=CR2_REL)
        assert row["robust_df"] == pytest.approx(r["cr2"]["df"][0], rel=CR2_REL)


def test_review_results_carry_the_multilevel_part(studies_dir):
    res = ev.run_review(studies_dir / "fine1993")
    assert res.analyses == ()
    (m,) = res.multilevel
    assert isinstance(m, MultilevelAnalysisResult)
    parts = res.parts()
    assert len(parts["multilevel:survival-or"]) == 66
    assert len(parts["multilevel:survival-or:rho"]) == 5
    assert "multilevel, rho = 0.5" in res.summary()
    # results hand out copies: changing one leaves the result as it was
    eff = m.effects
    eff.loc[0, "yi"] = 99.0
    assert m.effects.loc[0, "yi"] != 99.0


def test_multilevel_needs_reml_or_ml_and_a_stated_rho(review_copy):
    import shutil
    src = review_copy.parent / "fine"
    shutil.copytree(review_copy / "fine1993", src)
    text = (src / "review.yaml").read_text()
    (src / "review.yaml").write_text(text.replace("method: REML", "method: DL"))
    with pytest.raises(RecordError, match=r"analyses\[0\]\.method: a multilevel model"):
        ev.load_review(src)
    (src / "review.yaml").write_text(text.replace("      rho: 0.5\n", ""))
    with pytest.raises(RecordError, match=r"multilevel\.rho"):
        ev.load_review(src)
