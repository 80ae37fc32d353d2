"""Risk of bias and certainty of evidence in a computed review (issue 14).

The BCG Summary of Findings row is checked against a hand calculation from the trial
records; risk-of-bias assessments are CLEARLY SYNTHETIC judgements written into a copy of
the BCG review by the test (source key ``SYNTH``), never real assessments.
"""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import evidence as ev
from evidence.certainty.grade import (absolute_effects, grade_certainty,
                                      optimal_information_size, propose_imprecision,
                                      propose_inconsistency, propose_large_effect,
                                      propose_publication_bias, propose_risk_of_bias)
from evidence.errors import RecordError
from evidence.report import render_report

ROOT = Path(__file__).resolve().parents[1]
BCG = ROOT / "studies" / "bcg"
# the pooled estimate of metafor rma(measure="RR", method="REML") on dat.bcg
LOG_RR, LOG_LO, LOG_HI = -0.7145323, -1.0668976, -0.3621670
EST_TOL = 1e-6  # the 7 decimals of metafor's printed values


@pytest.fixture(scope="module")
def bcg():
    return ev.run_review(BCG)


# ------------------------------------------------------------------ the BCG SoF row by hand


def _hand(bcg):
    frames = ev.load_review(BCG).frames()
    m = frames.measurements
    ctrl = m[m["arm"] == "control"].pivot_table(index="study", columns="statistic",
                                                values="value")
    vac = m[m["arm"] == "vaccinated"].pivot_table(index="study", columns="statistic",
                                                  values="value")
    r0 = ctrl["events"].sum() / (ctrl["events"] + ctrl["nonevents"]).sum()
    n = (ctrl["events"] + ctrl["nonevents"]).sum() + (vac["events"] + vac["nonevents"]).sum()
    return r0, n


def test_bcg_sof_row_matches_a_hand_calculation(bcg):
    r0, n = _hand(bcg)
    row = bcg.sof.to_frame().iloc[0]
    assert row["k"] == 13 and row["participants"] == n == 357347
    assert row["comparator_risk"] == pytest.approx(r0, rel=1e-15)
    assert r0 == pytest.approx(1510 / 166283, rel=1e-15)
    assert row["estimate"] == pytest.approx(LOG_RR, abs=EST_TOL)
    rr, lo, hi = (math.exp(x) for x in (row["estimate"], row["ci_low"], row["ci_high"]))
    assert (round(rr, 2), round(lo, 2), round(hi, 2)) == (0.49, 0.34, 0.70)
    # risk with vaccine = r0 x RR; difference = r0 x (RR - 1), per 1,000
    assert row["risk_comparator"] == pytest.approx(1000 * r0, rel=1e-14)
    assert row["risk_intervention"] == pytest.approx(1000 * r0 * rr, rel=1e-14)
    assert row["difference"] == pytest.approx(1000 * r0 * (rr - 1), rel=1e-14)
    assert row["difference_low"] == pytest.approx(1000 * r0 * (lo - 1), rel=1e-14)
    assert row["difference_high"] == pytest.approx(1000 * r0 * (hi - 1), rel=1e-14)
    assert (round(row["risk_comparator"]), round(row["risk_intervention"]),
            round(row["difference"]), round(row["difference_low"]),
            round(row["difference_high"])) == (9, 4, -5, -6, -3)
    assert row["start"] == "high" and row["certainty"] == "low" and row["upper_bound"]


def test_bcg_grade_domains(bcg):
    g = bcg.grade.to_frame().set_index("domain")
    assert g.loc["inconsistency", "level"] == -2
    assert "I² = 92%" in g.loc["inconsistency", "proposal_rule"]
    assert g.loc["risk of bias", "basis"] == "not assessed"
    assert "13 of 13 studies" in g.loc["risk of bias", "proposal_rule"]
    assert g.loc["imprecision", "level"] == 0
    assert g.loc["publication bias", "level"] == 0  # Egger p = 0.189, k = 13
    assert g.loc["indirectness", "basis"] == "not assessed"
    rob = bcg.risk_of_bias.to_frame()
    assert len(rob) == 13 and set(rob["judgement"]) == {"not assessed"}


@pytest.mark.parametrize("fmt,name", [("html", "index.html"), ("md", "supplement.md"),
                                      ("tex", "supplement.tex")])
def test_bcg_sof_in_every_format(bcg, fmt, name):
    text = render_report(bcg, formats=[fmt])[name]
    text = re.sub(r"<[^>]+>|\\[a-z]+\{?|[{}$]", " ", text)
    text = re.sub(r"\s+", " ", text)
    for bit in ("RR 0.49 (0.34 to 0.70)", "9 per 1,000", "4 per 1,000 (3 to 6)",
                "5 fewer per 1,000 (from 6 fewer to 3 fewer)", "357,347", "13 studies",
                "LOW (at most)", "Inconsistency", "1,510 events in 166,283"):
        assert bit in text, (fmt, bit)
    assert "Not assessed" in text or "not assessed" in text
    if fmt != "tex":
        assert "⊕⊕◯◯" in text
    else:
        assert "oplus" in render_report(bcg, formats=["tex"])[name]


def test_pdf_has_the_sof_table(bcg, tmp_path):
    pytest.importorskip("weasyprint")
    pdftotext = shutil.which("pdftotext")
    if pdftotext is None:
        pytest.skip("pdftotext (poppler-utils) not installed")
    import subprocess

    pdf = tmp_path / "s.pdf"
    pdf.write_bytes(render_report(bcg, formats=["pdf"])["supplement.pdf"])
    text = subprocess.run([pdftotext, "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    assert "Summary of findings" in text and "357,347" in text
    assert "5 fewer per 1,000" in text


# --------------------------------------------------------------- the running-retraining review


def test_running_review_starts_low_and_lists_pain_as_not_estimable():
    res = ev.run_review(ROOT / "studies")
    sof = res.sof.to_frame()
    assert len(sof) > 7  # the SoF table shows the first seven
    assert (sof["start"].dropna() == "low").all()
    assert sof["start_reason"].str.contains("uncontrolled before-after").any()
    pain = sof[sof["outcome"].str.contains(", pain")]
    assert len(pain) and pain["estimate"].isna().all() and pain["certainty"].isna().all()
    assert pain["start_reason"].str.contains("no SD reported").any()
    assert list(sof["importance"].iloc[:len(pain)]) == [1] * len(pain)
    assert set(res.risk_of_bias.to_frame()["judgement"]) == {"not assessed"}
    est = sof[sof["estimate"].notna()]
    assert (est["certainty"] == "low").all() and est["upper_bound"].all()
    html = render_report(res, formats=["html"])["index.html"]
    assert "not estimable" in html and "Starts at low certainty" in html


# ------------------------------------------------------------------ synthetic assessments


SYNTH_SOURCE = ("  - key: SYNTH\n    kind: tertiary\n    description: synthetic risk-of-bias "
                "judgements made up for a test, not an assessment\n")
BLOCKS = {
    0: """risk_of_bias:
  - tool: rob2
    signalling: {'1.1': Y, '1.2': Y, '1.3': N}
    domains: {D1: low, D2: low, D3: low, D4: low, D5: low}
    overall: low
    source: SYNTH
""",
    1: """risk_of_bias:
  - tool: rob2
    domains: {D1: high, D2: low, D3: some concerns, D4: low, D5: low}
    source: SYNTH
""",
    2: """risk_of_bias:
  - tool: rob2
    outcome: tb
    signalling: {'1.1': Y, '1.2': N, '1.3': N}
    domains: {D1: low, D2: some concerns, D3: low, D4: low, D5: low}
    overall: some concerns
    source: SYNTH
""",
    3: """risk_of_bias:
  - tool: rob2
    domains: {D1: some concerns, D2: some concerns, D3: some concerns, D4: low, D5: low}
    overall: high
    override_reason: some concerns in three domains (synthetic)
    source: SYNTH
""",
}


def _synthetic(tmp: Path, blocks=BLOCKS, grade_extra: str = "") -> Path:
    dst = tmp / "bcg"
    shutil.copytree(BCG, dst)
    rv = dst / "review.yaml"
    text = rv.read_text().replace("sources:\n", "sources:\n" + SYNTH_SOURCE, 1)
    rv.write_text(text + grade_extra)
    trials = sorted((dst / "trials").glob("*.yaml"))
    for i, block in blocks.items():
        trials[i].write_text(trials[i].read_text().rstrip("\n") + "\n" + block)
    return dst


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return ev.run_review(_synthetic(tmp_path_factory.mktemp("rob")))


def test_algorithm_beside_reviewer_conflict_reported_not_overwritten(synth):
    rob = synth.risk_of_bias.to_frame()
    ros = rob[(rob["label"] == "Rosenthal et al 1960") & (rob["domain"] == "D1")].iloc[0]
    assert (ros["reviewer"], ros["algorithm"], ros["judgement"]) == ("low", "high", "low")
    assert ros["conflict"] and ros["outcome"] == "tb"
    hart = rob[(rob["label"] == "Hart & Sutherland 1977") & (rob["domain"] == "Overall")]
    hart = hart.iloc[0]
    assert (hart["algorithm"], hart["judgement"]) == ("some concerns", "high")
    assert not hart["conflict"] and "override" in hart["rule"]
    fer = rob[(rob["label"] == "Ferguson & Simes 1949") & (rob["domain"] == "Overall")].iloc[0]
    assert fer["reviewer"] is None or fer["reviewer"] != fer["reviewer"]  # not typed
    assert fer["judgement"] == "high"  # from the overall rule: a high domain
    assert (rob.groupby("study").size() > 0).all()
    assert (rob["judgement"] == "not assessed").sum() == 9


def test_sensitivity_without_high_risk_studies_refits(synth):
    s = synth.rob_sensitivity.to_frame().iloc[0]
    assert s["k_kept"] == 11 and s["k_all"] == 13
    assert s["excluded"] == "Ferguson & Simes 1949, Hart & Sutherland 1977"
    eff = synth.analyses[0].effects
    keep = eff["computable"] & ~eff["label"].isin(["Ferguson & Simes 1949",
                                                   "Hart & Sutherland 1977"])
    ref = ev.meta(eff.loc[keep, "yi"], eff.loc[keep, "vi"], method="REML")
    assert s["estimate"] == pytest.approx(ref.estimate, abs=1e-12)
    assert s["tau2"] == pytest.approx(ref.tau2, abs=1e-12)


def test_weighted_shares_use_the_pooled_weights(synth):
    by = synth.rob_by_analysis.to_frame()
    w = by.drop_duplicates("study").set_index("label")["weight"]
    total = w.sum()
    sh = synth.rob_shares.to_frame()
    ov = sh[sh["domain"] == "Overall"].set_index("judgement")["share"]
    high = w[["Ferguson & Simes 1949", "Hart & Sutherland 1977"]].sum() / total
    assert ov["high"] == pytest.approx(high, abs=1e-14)
    assert ov["low"] == pytest.approx(w["Aronson 1948"] / total, abs=1e-14)
    assert ov.sum() == pytest.approx(1.0, abs=1e-14)
    assert total == pytest.approx(100.0, abs=1e-9)


def test_grade_risk_of_bias_needs_every_pooled_study(synth):
    g = synth.grade.to_frame().set_index("domain")
    assert g.loc["risk of bias", "proposed"] != g.loc["risk of bias", "proposed"]  # NaN
    assert "9 of 13 studies" in g.loc["risk of bias", "proposal_rule"]


def test_reviewer_decision_wins_and_is_shown_beside_the_proposal(tmp_path):
    extra = """    decisions:
      inconsistency: {level: -1, reason: "heterogeneity explained by latitude (synthetic decision)"}
      indirectness: {level: 0, reason: "the trials answer the question (synthetic decision)"}
"""
    d = _synthetic(tmp_path, blocks={})
    rv = d / "review.yaml"
    text = rv.read_text()
    text = text.replace("      risk-of-bias question, and risk of bias is not assessed\n",
                        "      risk-of-bias question, and risk of bias is not assessed\n"
                        + extra, 1)
    rv.write_text(text)
    res = ev.run_review(d)
    g = res.grade.to_frame().set_index("domain")
    assert g.loc["inconsistency", "proposed"] == -2 and g.loc["inconsistency", "decided"] == -1
    assert g.loc["inconsistency", "level"] == -1
    assert g.loc["inconsistency", "basis"] == "reviewer"
    assert g.loc["indirectness", "level"] == 0
    assert res.sof.to_frame().iloc[0]["certainty"] == "moderate"
    html = render_report(res, formats=["html"])["index.html"]
    assert "explained by latitude" in html and "reviewer&#39;s decision" in html


def test_figures_and_forest_columns_when_assessed(synth):
    files = render_report(synth, formats=["html"])
    assert "figures/bcg-tb-rr-rob-traffic.svg" in files
    assert "figures/bcg-tb-rr-rob-summary.svg" in files
    forest = files["figures/bcg-tb-rr-forest.svg"]
    forest = forest.decode() if isinstance(forest, bytes) else forest
    assert "rob-" in forest  # the RoB cells carry gids rob-*
    html = files["index.html"]
    assert "Judgements that differ from the algorithm" in html
    assert "Recorded overrides" in html and "without the studies at high risk" in html


@pytest.mark.parametrize("block,field", [
    ("risk_of_bias:\n  - tool: rob2\n    domains: {D7: low}\n    source: SYNTH\n",
     "risk_of_bias[0].domains.D7"),
    ("risk_of_bias:\n  - tool: rob2\n    domains: {D1: moderate}\n    source: SYNTH\n",
     "risk_of_bias[0].domains.D1"),
    ("risk_of_bias:\n  - tool: robins-i\n    signalling: {'1.1': Y}\n    source: SYNTH\n",
     "risk_of_bias[0].signalling"),
    ("risk_of_bias:\n  - tool: rob2\n    outcome: nope\n    overall: low\n    source: SYNTH\n",
     "risk_of_bias[0].outcome"),
    ("risk_of_bias:\n  - tool: rob2\n    source: SYNTH\n", "risk_of_bias[0]"),
    ("risk_of_bias:\n  - tool: rob2\n    overall: low\n    source: NOPE\n",
     "risk_of_bias[0].source"),
])
def test_bad_assessments_name_file_record_and_field(tmp_path, block, field):
    d = _synthetic(tmp_path, blocks={0: block})
    with pytest.raises(RecordError) as err:
        ev.load_review(d)
    msg = str(err.value)
    assert "01-aronson-1948.yaml" in msg and "aronson-1948" in msg and field in msg, msg


def test_grade_entry_must_name_a_planned_analysis(tmp_path):
    d = _synthetic(tmp_path, blocks={})
    rv = d / "review.yaml"
    rv.write_text(rv.read_text().replace("  - analysis: bcg-tb-rr", "  - analysis: nope", 1))
    with pytest.raises(RecordError, match=r"grade\[0\]\.analysis: no planned analysis 'nope'"):
        ev.load_review(d)


# ------------------------------------------------------------------------ the rules


def test_inconsistency_rule_paths():
    assert propose_inconsistency(1, None).level is None
    assert propose_inconsistency(5, 49.9, -1, 1).level == 0
    assert propose_inconsistency(5, 50, 0.1, 1).level == -1
    assert propose_inconsistency(5, 80, 0.1, 1).level == -1   # PI on one side
    assert propose_inconsistency(5, 80, -0.1, 1).level == -2  # PI includes no effect


def test_imprecision_rule_paths():
    thr = (math.log(0.75), math.log(1.25))
    assert propose_imprecision(math.log(0.5), math.log(1.5), thresholds=thr).level == -2
    assert propose_imprecision(math.log(0.8), math.log(1.1), thresholds=thr).level == -1
    assert propose_imprecision(math.log(0.3), math.log(0.7), thresholds=thr, n=100,
                               ois=1000).level == -1
    assert propose_imprecision(math.log(0.3), math.log(0.7), thresholds=thr, n=5000,
                               ois=1000).level == 0
    assert propose_imprecision(0.2, 0.9).level == 0
    assert propose_imprecision(float("nan"), 1).level is None


def test_risk_of_bias_rule_paths():
    assert propose_risk_of_bias(["low", None]).level is None
    assert propose_risk_of_bias(["low"] * 4).level == 0
    assert propose_risk_of_bias(["high", "low", "low", "low"]).level == -1        # 25% high
    assert propose_risk_of_bias(["some concerns", "some concerns", "low", "low"]).level == -1
    assert propose_risk_of_bias(["high", "high", "low", "low"]).level == -2       # 50% high
    assert propose_risk_of_bias(["serious", "low"], [0.6, 0.4]).level == -2
    assert propose_risk_of_bias(["high", "low"], [0.2, 0.8]).level == 0


def test_publication_bias_and_large_effect_paths():
    assert propose_publication_bias(9, 0.01).level is None
    assert propose_publication_bias(10, 0.09).level == -1
    assert propose_publication_bias(10, 0.10).level == 0
    L = math.log
    assert propose_large_effect("RR", L(0.4), L(0.3), L(0.6), start="low",
                                downgraded=False).level == 1
    assert propose_large_effect("RR", L(0.1), L(0.05), L(0.3), start="low",
                                downgraded=False).level == 2
    assert propose_large_effect("RR", L(0.4), L(0.3), L(1.1), start="low",
                                downgraded=False).level == 0
    assert propose_large_effect("RR", L(0.1), L(0.05), L(0.3), start="high",
                                downgraded=False).level == 0
    assert propose_large_effect("MD", 1, 0.5, 2, start="low", downgraded=False).level is None


def test_certainty_and_absolute_effects():
    assert grade_certainty("high", {d: 0 for d in ("risk of bias", "inconsistency",
                                                   "indirectness", "imprecision",
                                                   "publication bias")}) == ("high", False)
    assert grade_certainty("high", {"inconsistency": -2, "imprecision": -2})[0] == "very low"
    assert grade_certainty("low", {"large effect": 2, "risk of bias": 0, "inconsistency": 0,
                                   "indirectness": 0, "imprecision": 0,
                                   "publication bias": 0}) == ("high", False)
    # OR: r1 = r0 OR / (1 - r0 + r0 OR); RD: r1 = r0 + RD
    e = absolute_effects("OR", math.log(2), math.log(1.5), math.log(3), 0.2)
    assert e["risk_intervention"] == pytest.approx(1000 * 0.4 / 1.2)
    e = absolute_effects("RD", -0.05, -0.08, -0.02, 0.2)
    assert e["difference"] == pytest.approx(-50) and e["risk_intervention_low"] == \
        pytest.approx(120)
    # OIS: 2 x (z_.975 + z_.8)^2 [p1 q1 + p2 q2] / (p1 - p2)^2
    z = 1.959963984540054 + 0.8416212335729143
    p1, p2 = 0.2, 0.15
    assert optimal_information_size(0.2) == pytest.approx(
        2 * z ** 2 * (p1 * (1 - p1) + p2 * (1 - p2)) / (p1 - p2) ** 2, rel=1e-12)
    assert np.isfinite(optimal_information_size(0.009))


def test_multilevel_sensitivity_without_high_risk_studies(tmp_path):
    """Synthetic RoB 2 judgements on a copy of the fine1993 review: two trials at high risk
    are left out and the multilevel model refitted with the same assumed correlation."""
    src = ROOT / "studies" / "fine1993"
    d = tmp_path / "fine1993"
    shutil.copytree(src, d)
    rv = d / "review.yaml"
    rv.write_text(rv.read_text().replace("sources:\n", "sources:\n" + SYNTH_SOURCE, 1))
    trials = sorted((d / "trials").glob("*.yaml"))
    for i, j in ((0, "high"), (1, "high"), (2, "low")):
        trials[i].write_text(trials[i].read_text().rstrip("\n") + "\nrisk_of_bias:\n"
                             f"  - tool: rob2\n    overall: {j}\n    source: SYNTH\n")
    res = ev.run_review(d)
    s = res.rob_sensitivity.to_frame().iloc[0]
    m = res.multilevel[0]
    assert s["analysis"] == m.spec.id and s["k_all"] == 17 and s["k_kept"] == 15
    used = m.effects[m.effects["computable"]]
    frames = ev.load_review(d).frames()
    high = set(frames.risk_of_bias.query("overall == 'high'")["study"])
    kept = used[~used["study"].isin(high)].reset_index(drop=True)
    V = ev.vcalc(kept["vi"], cluster=kept["study"], obs=kept["timepoint"],
                 rho=m.spec.multilevel.rho)
    ref = ev.meta_mv(kept["yi"].to_numpy(), V, data=kept, random="study/timepoint",
                     method=m.spec.method)
    assert s["estimate"] == pytest.approx(ref.estimate, abs=1e-12)
    html = render_report(res, formats=["html"])["index.html"]
    assert "the τ² column is the sum of the variance components" in html


def test_validate_notes_a_judgement_that_differs_from_the_algorithm(tmp_path):
    from typer.testing import CliRunner

    from evidence.cli import app

    block = ("risk_of_bias:\n  - tool: rob2\n    signalling: {'1.1': Y, '1.2': N, '1.3': N}\n"
             "    domains: {D1: low}\n    source: SYNTH\n")
    d = _synthetic(tmp_path, blocks={0: block})
    res = CliRunner().invoke(app, ["validate", str(d), "--blocking"])
    assert res.exit_code == 0, res.output
    assert "No gap blocks an effect size." in res.output
    out = " ".join(res.output.split())
    assert ("01-aronson-1948.yaml: aronson-1948: risk_of_bias[0]: D1 (randomisation process): "
            "the reviewer's judgement 'low' differs from the algorithm's 'high'") in out


def test_pre_post_groups_pooled_again_without_high_risk_studies(tmp_path):
    """A copy of the running-retraining review with SYNTHETIC SDs and n for the two
    patellofemoral pain studies (no source reports them: made up here so that a group
    pools) and a synthetic high-risk judgement for one of them: the group is pooled again
    without it (one study left: not pooled, said so)."""
    d = tmp_path / "studies"
    shutil.copytree(ROOT / "studies", d, ignore=shutil.ignore_patterns("bcg", "fine1993"))
    rv = d / "review.yaml"
    rv.write_text(rv.read_text().replace(
        "sources:\n", "sources:\n  - {key: SYNTH, kind: tertiary, description: 'synthetic "
                      "values and judgements made up for a test; not data'}\n", 1))
    for name, sd in (("noehren-2011", 1.5), ("willy-2012", 1.2)):
        p = d / "clinical" / f"{name}.yaml"
        text = p.read_text()
        for tp in ("baseline", "post"):
            text = re.sub(r"(\{timepoint: " + tp + r", source: S20, where: Table 1, "
                          r"mean: [0-9.]+, )sd: null, n: null\}",
                          r"\1sd: {value: %s, source: SYNTH}, n: {value: 10, source: SYNTH}}"
                          % sd, text, count=1)
        if name == "willy-2012":
            text = text.rstrip("\n") + ("\nrisk_of_bias:\n  - tool: robins-i\n    overall: "
                                        "serious\n    source: SYNTH\n")
        p.write_text(text)
    res = ev.run_review(d)
    pooled = res.pooled.to_frame().set_index(["injury", "strategy", "outcome_kind"])
    assert pooled.loc[("pfp", "hip-adduction-reduction", "pain"), "status"] == "pooled"
    s = res.rob_sensitivity.to_frame().set_index("analysis")
    row = s.loc["pfp/hip-adduction-reduction/pain"]
    assert row["k_all"] == 2 and row["k_kept"] == 1 and row["excluded"] == "Willy 2012"
    assert row["note"] == "fewer than two studies left: not pooled"
    html = render_report(res, formats=["html"])["index.html"]
    assert "Patellofemoral pain: Reduce peak hip adduction" in html
