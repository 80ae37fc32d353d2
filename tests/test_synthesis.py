"""Mixed-methods synthesis of the bundled review (Barton et al. 2016).

Oracles:
- SMCR of Diebal 2012 (abstract, S13: compartment pressure 78.4 +- 32.0 -> 38.4 +- 11.5 mmHg,
  running distance 1.4 +- 0.6 -> 4.8 +- 0.5 km, SANE 49.9 +- 21.4 -> 90.4 +- 10.3, n = 10),
  from R metafor 3.8-1:
    d <- data.frame(m1=c(38.4,4.8,90.4), m2=c(78.4,1.4,49.9), sd1=c(32,0.6,21.4), n=10)
    escalc("SMCR", m1i=m1, m2i=m2, sd1i=sd1, ni=n, ri=rep(r,3), data=d)   # r = .2, .5, .8
  printed with digits = 10.
- The levels the review states in its abstract (review.yaml stated_findings, source S1).
Pooling of k >= 2 groups is checked against evidence.meta.meta on clearly synthetic effects.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import evidence as ev
from evidence.errors import ArgumentError, RecordError
from evidence.meta import meta
from evidence.synthesis import (check_stated_findings, clinical_effects, conclusions,
                                expert_matrix, levels_of_evidence, load_rules, parse_rules,
                                pool_by_group)

STUDIES = Path(__file__).resolve().parent.parent / "studies"

# metafor prints 10 significant digits; the values agree to rounding of the last digit
METAFOR_TOL = 1e-9
# pooling one group through meta_batch vs meta on the same numbers: identical algorithms,
# so only floating-point summation order can differ
ENGINE_TOL = 1e-10

METAFOR_SMCR = {  # outcome -> (yi, {r: vi})
    "compartment-pressure": (-1.1423436147, {0.2: 0.2252474467, 0.5: 0.1652474467,
                                             0.8: 0.1052474467}),
    "running-distance": (5.1786243868, {0.2: 1.5009075270, 0.5: 1.4409075270,
                                        0.8: 1.3809075270}),
    "sane": (1.7295295849, {0.2: 0.3095636293, 0.5: 0.2495636293, 0.8: 0.1895636293}),
}


@pytest.fixture(scope="module")
def frames():
    return ev.load_review(STUDIES).frames()


@pytest.fixture(scope="module")
def rules():
    return load_rules(STUDIES)


@pytest.fixture(scope="module")
def effects(frames):
    return clinical_effects(frames)


# --------------------------------------------------------------------------- effects


def test_diebal_smcr_matches_metafor(effects):
    e = effects.effects
    d = e[(e["study"] == "diebal-2012") & e["computable"]].set_index("outcome")
    assert set(d.index) == set(METAFOR_SMCR)
    for outcome, (yi, vis) in METAFOR_SMCR.items():
        row = d.loc[outcome]
        assert (row["pre"], row["post"]) == ("baseline", "wk6")
        assert row["yi"] == pytest.approx(yi, abs=METAFOR_TOL)
        assert row["vi"] == pytest.approx(vis[0.5], abs=METAFOR_TOL)
        assert row["assumption"] == "pre-post r = 0.5 (not reported; assumed)"
        assert row["ri"] == 0.5
    s = effects.sensitivity
    for outcome, (yi, vis) in METAFOR_SMCR.items():
        for r, vi in vis.items():
            hit = s[(s["outcome"] == outcome) & np.isclose(s["ri"], r)]
            assert len(hit) == 1
            assert hit["yi"].iloc[0] == pytest.approx(yi, abs=METAFOR_TOL)
            assert hit["vi"].iloc[0] == pytest.approx(vi, abs=METAFOR_TOL)


def test_sensitivity_grid_and_orientation(effects):
    s = effects.sensitivity
    assert sorted(s["ri"].unique()) == pytest.approx([0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    assert len(s) == 7 * 3
    # a higher assumed correlation gives a smaller variance, never a different estimate
    for _, g in s.groupby("effect_id"):
        g = g.sort_values("ri")
        assert np.all(np.diff(g["vi"].to_numpy()) < 0)
        assert g["yi"].nunique() == 1
    e = effects.effects.set_index("effect_id")
    # lower pressure is better: the benefit-oriented effect is positive
    cp = e.loc["diebal-2012:compartment-pressure:all:baseline->wk6"]
    assert cp["yi"] < 0 < cp["yi_benefit"]


def test_pain_rows_are_means_only_and_never_carry_a_variance(effects):
    e = effects.effects
    pain = e[e["outcome_kind"] == "pain"]
    assert not pain["computable"].any()
    assert pain["vi"].isna().all() and pain["yi"].isna().all()
    assert pain["assumption"].isna().all()
    means = pain[pain["m_pre"].notna() & pain["m_post"].notna()]
    assert set(means["study"]) == {"diebal-2012", "noehren-2011", "willy-2012"}
    assert means["reason"].str.startswith("no SD reported").all()
    assert (means["direction"] == "decrease").all()
    assert (means["improvement"] == "improved").all()
    d12 = means[means["study"] == "diebal-2012"].iloc[0]
    assert (d12["m_pre"], d12["m_post"], d12["mean_change"]) == pytest.approx((71.3, 2.7, -68.6))
    # outcomes with nothing reported still appear, with the reason
    helm = e[(e["study"] == "helmhout-2015") & (e["outcome"] == "pain")]
    assert len(helm) == 1 and not helm["computable"].iloc[0]
    assert "no numbers" in helm["reason"].iloc[0]


def test_effects_argument_errors(frames):
    with pytest.raises(ArgumentError, match="measure 'SMD' is not one of SMCR, SMCC, MC"):
        clinical_effects(frames, measure="SMD")
    with pytest.raises(ArgumentError, match="assumed_r"):
        clinical_effects(frames, assumed_r=1.5)
    with pytest.raises(ArgumentError, match="correlations"):
        clinical_effects(frames, correlations=())


# --------------------------------------------------------------------------- pooling


def test_pool_by_group_on_the_bundled_review(effects):
    t = pool_by_group(effects).table.set_index(["injury", "strategy", "outcome_kind"])
    pfp = t.loc[("pfp", "hip-adduction-reduction", "pain")]
    assert pfp["status"] == "not poolable" and pfp["k"] == 0 and pfp["k_studies"] == 2
    assert "Noehren 2011" in pfp["reason"] and "Willy 2012" in pfp["reason"]
    assert "no SD reported" in pfp["reason"]
    assert np.isnan(pfp["estimate"])
    # a study contributes to each strategy it targets
    for strategy in ("forefoot-midfoot-strike", "step-rate-increase"):
        g = t.loc[("aelp", strategy, "physiological")]
        assert g["status"] == "single study" and g["k"] == 1
        assert g["estimate"] == pytest.approx(-METAFOR_SMCR["compartment-pressure"][0],
                                              abs=METAFOR_TOL)
        assert np.isnan(g["tau2"]) and np.isnan(g["i2"])
        assert g["assumption"] == "pre-post r = 0.5 (not reported; assumed)"
    # unconfirmed studies are listed, never pooled
    g = t.loc[("aelp", "forefoot-midfoot-strike", "pain")]
    assert "Diebal 2011 (unconfirmed)" in g["studies_excluded"]
    assert "Helmhout 2015 (unconfirmed)" in g["studies_excluded"]


def test_pooling_matches_engine_on_synthetic_effects():
    # clearly synthetic effects (not from any study): three studies in group "a", one in "b",
    # two with means only in "c"
    e = pd.DataFrame({
        "effect_id": [f"s{i}" for i in range(7)],
        "study": ["s1", "s2", "s3", "s4", "s5", "s6", "s1"],
        "label": ["S1", "S2", "S3", "S4", "S5", "S6", "S1"],
        "inclusion": "confirmed", "g": ["a", "a", "a", "b", "c", "c", "a"],
        "outcome": ["o", "o", "o", "o", "o", "o", "o2"], "primary": [True] * 6 + [False],
        "post_order": 1, "pre": "t0", "post": "t1", "computable": [True] * 4 + [False] * 2
        + [True],
        "yi": [0.4, 0.9, 0.1, 0.5, np.nan, np.nan, 3.0],
        "vi": [0.04, 0.09, 0.05, 0.1, np.nan, np.nan, 0.2],
        "assumption": "pre-post r = 0.5 (not reported; assumed)",
        "reason": [None] * 4 + ["no SD reported"] * 2 + [None], "measure": "SMCR",
    })
    e["yi_benefit"] = e["yi"]
    p = pool_by_group(e, by=("g",), method="REML").table.set_index("g")
    ref = meta([0.4, 0.9, 0.1], [0.04, 0.09, 0.05], method="REML")
    a = p.loc["a"]
    assert a["status"] == "pooled" and a["k"] == 3  # s1's secondary outcome is not used
    for name in ("estimate", "se", "ci_low", "ci_high", "tau2", "i2", "q"):
        assert a[name] == pytest.approx(getattr(ref, name), abs=ENGINE_TOL)
    assert p.loc["b", "status"] == "single study"
    assert p.loc["c", "status"] == "not poolable"
    assert p.loc["c", "reason"] == "not poolable: S5 (o): no SD reported; S6 (o): no SD reported"


def test_pool_by_group_argument_errors(effects):
    with pytest.raises(ArgumentError, match="timepoint 'middle' is not one of first, last"):
        pool_by_group(effects, timepoint="middle")
    with pytest.raises(ArgumentError, match="not in the effects"):
        pool_by_group(effects, by=("country",))


# --------------------------------------------------------------------------- rules


def test_bundled_rules_load(rules):
    assert rules.path.endswith("rules.yaml")
    assert rules.count_inclusion == ["confirmed"]
    assert [r.id for r in rules.rules][0] == "R0-no-study"


def _minimal_rules(**over):
    data = {
        "version": 1, "name": "test rules",
        "designs": [{"id": "case-series", "label": "case series", "patterns": ["case series"],
                     "comparative": False}],
        "rules": [{"id": "A", "label": "none", "when": {"n_studies": 0},
                   "explanation": "no studies"},
                  {"id": "B", "label": "very limited", "when": {"n_studies": {"min": 1}},
                   "explanation": "{n_studies} studies: {studies}"}],
    }
    data.update(over)
    return data


def test_rules_validation_names_file_and_field():
    bad = _minimal_rules(rules=[
        {"id": "A", "label": "weak", "when": {}, "explanation": "x"},
        {"id": "B", "label": "none", "when": {"n_rtc": 1}, "explanation": "x"},
        {"id": "C", "label": "none", "when": {"consistency": "sometimes"},
         "explanation": "{no_such_field}"},
        {"id": "C", "label": "none", "when": {"pooled": 3}, "explanation": "x"},
    ])
    with pytest.raises(RecordError) as err:
        parse_rules(bad, "my/rules.yaml")
    msg = str(err.value)
    assert "my/rules.yaml: rules[0].label" in msg and "'weak'" in msg
    bad[ "rules"][0]["label"] = "none"
    with pytest.raises(RecordError) as err:
        parse_rules(bad, "my/rules.yaml")
    msg = str(err.value)
    assert "rules[1].when.n_rtc: unknown feature 'n_rtc'" in msg
    assert "rules[2].when.consistency: 'sometimes' is not one of" in msg
    assert "rules[2].explanation: unknown field '{no_such_field}'" in msg
    assert "rules[3].id: duplicate rule id 'C'" in msg
    assert "rules[3].when.pooled: must be true or false" in msg


def test_load_rules_errors(tmp_path):
    with pytest.raises(RecordError, match="no rules file"):
        load_rules(tmp_path)
    (tmp_path / "rules.yaml").write_text("name: [unclosed\n")
    with pytest.raises(RecordError, match="rules.yaml: line 2: not valid YAML"):
        load_rules(tmp_path)
    # the records' safe reader: no anchors, no YAML 1.1 surprises
    (tmp_path / "rules.yaml").write_text("name: &x a\nother: *x\n")
    with pytest.raises(RecordError, match="rules.yaml: line 1: anchor '&x'"):
        load_rules(tmp_path)
    (tmp_path / "rules.yaml").write_text("name: yes\n")
    with pytest.raises(RecordError, match="'yes' is ambiguous"):
        load_rules(tmp_path)


def test_first_matching_rule_wins_and_rules_are_configurable(frames, effects):
    custom = parse_rules(_minimal_rules())
    lv = levels_of_evidence(frames, custom, effects)
    pfp = lv[(lv["injury"] == "pfp") & (lv["strategy"] == "hip-adduction-reduction")].iloc[0]
    assert (pfp["level"], pfp["rule_id"]) == ("very limited", "B")
    assert pfp["explanation"] == "2 studies: Noehren 2011, Willy 2012"
    itbs = lv[lv["injury"] == "itbs"].iloc[0]
    assert (itbs["level"], itbs["rule_id"]) == ("none", "A")
    # no rule matching: said so, no level
    lone = parse_rules(_minimal_rules(rules=[{"id": "A", "label": "none",
                                              "when": {"n_studies": 0}, "explanation": "x"}]))
    lv = levels_of_evidence(frames, lone, effects)
    row = lv[lv["injury"] == "pfp"].iloc[0]
    assert row["level"] is None and row["rule_id"] is None
    assert row["explanation"].startswith("no rule matched")


# --------------------------------------------------------------------------- levels


def test_unconfirmed_studies_are_a_sensitivity_column(frames, rules, effects):
    lv = levels_of_evidence(frames, rules, effects)
    row = lv[(lv["injury"] == "aelp") & (lv["strategy"] == "forefoot-midfoot-strike")].iloc[0]
    assert row["n_studies"] == 2 and row["n_studies_with_unconfirmed"] == 4
    assert row["studies"] == "Breen 2015, Diebal 2012"
    assert "Diebal 2011 (unconfirmed)" in row["not_counted_studies"]
    assert row["level"] == row["level_with_unconfirmed"] == "limited"
    assert not row["level_changes_with_unconfirmed"]
    assert "2 case series" in row["explanation"]


def test_an_unconfirmed_study_never_changes_the_level(frames, effects):
    # a rule that only an unconfirmed study could satisfy (n_cohort >= 1: Helmhout 2015)
    custom = parse_rules(_minimal_rules(
        designs=[{"id": "cohort", "label": "cohort study", "patterns": ["cohort"],
                  "comparative": False},
                 {"id": "case-series", "label": "case series", "patterns": ["case series"],
                  "comparative": False}],
        rules=[{"id": "COH", "label": "moderate", "when": {"n_cohort": {"min": 1}},
                "explanation": "cohort"},
               {"id": "ELSE", "label": "limited", "when": {}, "explanation": "else"}]))
    lv = levels_of_evidence(frames, custom, effects)
    row = lv[(lv["injury"] == "aelp") & (lv["strategy"] == "forefoot-midfoot-strike")].iloc[0]
    assert (row["level"], row["rule_id"]) == ("limited", "ELSE")
    assert (row["level_with_unconfirmed"], row["rule_id_with_unconfirmed"]) == ("moderate", "COH")
    assert row["level_changes_with_unconfirmed"]


# --------------------------------------------------------------------------- experts


def test_expert_matrix_flags(frames, rules, effects):
    m = expert_matrix(frames, rules, effects).set_index(["injury", "strategy"], drop=False)
    pfp = m.loc[("pfp", "hip-adduction-reduction")]
    assert pfp["expert_stance"] == "strongly advocated" and pfp["expert_considered"] is True
    assert pfp["clinical_level"] == "limited" and pfp["biomechanical_support"] == "limited"
    assert bool(pfp["expert_ahead_of_evidence"])  # strongly advocated (3) > limited (2)
    sr = m.loc[("pfp", "step-rate-increase")]
    assert sr["clinical_level"] == "none" and sr["biomechanical_support"] == "strong"
    assert bool(sr["expert_ahead_of_evidence"])
    # experts listed four strategies for AELP, not the proximal one that Breen 2015 used
    prox = m.loc[("aelp", "proximal-kinematics")]
    assert prox["expert_considered"] is False and not prox["expert_ahead_of_evidence"]
    # injuries with expert views only: one injury-level row, experts ahead of the evidence
    inj = m[m["scope"] == "injury"].set_index("injury")
    for injury in ("itbs", "mtss", "calf-pain"):
        assert inj.loc[injury, "clinical_level"] == "none"
        assert inj.loc[injury, "expert_stance"] == "recommended"
        assert bool(inj.loc[injury, "expert_ahead_of_evidence"])
    assert not m["marked_without_evidence"].any()


def test_poor_agreement_is_not_support_so_never_ahead_of_the_evidence(frames, rules, effects):
    m = expert_matrix(frames, rules, effects)
    # the experts showed poor agreement on plantar fasciopathy (S1) and the clinical level is
    # "none": poor agreement outranks "none" on the stance scale, but it is not support
    pf = m[m["injury"] == "plantar-fasciopathy"]
    assert len(pf) > 0 and set(pf["expert_stance"]) == {"poor agreement"}
    assert set(pf["clinical_level"]) == {"none"}
    assert (pf["expert_rank"] > pf["level_rank"]).all()  # the old comparison would say yes
    assert not pf["expert_ahead_of_evidence"].any()
    assert pf["gap_explanation"].str.contains("is not support").all()
    # a strategy the experts strongly advocate, with only limited clinical evidence, still is
    pfp = m[(m["injury"] == "pfp") & (m["strategy"] == "hip-adduction-reduction")].iloc[0]
    assert bool(pfp["expert_ahead_of_evidence"])
    assert pfp["gap_explanation"] == ("The experts' support (strongly advocated) goes beyond "
                                      "the clinical evidence (level: limited).")
    # explanations are words, never rank numbers or rule-file keys
    for text in m["gap_explanation"]:
        assert "rank" not in text and "_" not in text and not any(c.isdigit() for c in text)


def test_which_stances_count_as_support_is_the_rules_choice(frames, rules, effects):
    assert rules.expert_support_stances == ["strongly advocated", "recommended"]
    # a rules file that counts only "strongly advocated" as support: "recommended" injuries
    # (e.g. iliotibial band syndrome, level none) are then no longer ahead
    strict = rules.model_copy(update={"expert_support_stances": ["strongly advocated"]})
    m = expert_matrix(frames, strict, effects).set_index(["injury", "scope"])
    assert m.loc[("itbs", "injury"), "expert_stance"] == "recommended"
    assert not bool(m.loc[("itbs", "injury"), "expert_ahead_of_evidence"])
    assert bool(m.loc[("pfp", "injury"), "expert_ahead_of_evidence"])
    # absent from the file: the loader's default, support = strongly advocated or recommended
    assert parse_rules(_minimal_rules()).expert_support_stances == [
        "strongly advocated", "recommended"]
    with pytest.raises(RecordError, match="'not reported' cannot count as support"):
        parse_rules(_minimal_rules(expert_support_stances=["not reported"]))
    with pytest.raises(RecordError, match="no rank in expert_support_rank"):
        parse_rules(_minimal_rules(expert_support_rank={"recommended": 1},
                                   expert_support_stances=["strongly advocated"]))


# --------------------------------------------------------------------------- conclusions


@pytest.fixture(scope="module")
def generated(frames, rules, effects):
    return conclusions(frames, rules, effects)


def _stated(frames):
    return [tuple(x) for x in frames.stated_findings[["injury", "strategy", "level"]]
            .itertuples(index=False)]


@pytest.mark.parametrize("i", range(12))
def test_conclusions_reproduce_stated_findings(frames, generated, i):
    stated = frames.stated_findings
    assert len(stated) == 12
    injury, strategy, level = _stated(frames)[i]
    strategy = None if pd.isna(strategy) else strategy
    hit = generated[(generated["injury"] == injury)
                    & (generated["strategy"].isna() if strategy is None
                       else generated["strategy"] == strategy)]
    assert len(hit) == 1, (injury, strategy)
    assert hit["clinical_level"].iloc[0] == level
    assert hit["rule_id"].iloc[0]
    assert hit["statement"].iloc[0]


def test_conclusions_are_exactly_the_stated_ones(frames, generated):
    check = check_stated_findings(generated, frames.stated_findings)
    assert check["match"].all()
    assert len(generated) == 12
    pfp = generated[generated["injury"] == "pfp"].iloc[0]
    assert pfp["rule_id"] == "R8-limited-uncontrolled"
    assert "female runners with patellofemoral pain" in pfp["statement"]
    itbs = generated[generated["injury"] == "itbs"].iloc[0]
    assert itbs["statement"].startswith("No clinical-outcome evidence")
    assert itbs["rule_id"] == "R0-no-study"


def test_biomechanical_support_follows_the_reviews_rationale_per_injury():
    """Table 3 cites strong step-rate evidence (patellofemoral stress) for patellofemoral
    pain; Table 2 cites only limited step-rate evidence for anterior exertional lower leg
    pain. The support is the injury's, not the strategy's best anywhere."""
    import evidence as ev

    f = ev.load_review("studies").frames()
    m = ev.expert_matrix(f, ev.load_rules("studies")).set_index(["injury", "strategy"])
    assert m.loc[("pfp", "step-rate-increase"), "biomechanical_support"] == "strong"
    assert m.loc[("aelp", "step-rate-increase"), "biomechanical_support"] == "limited"
    assert "sr-pfj-stress" not in m.loc[("aelp", "step-rate-increase"),
                                        "biomechanical_statements"]
    assert m.loc[("plantar-fasciopathy", "impact-reduction"),
                 "biomechanical_statements"].startswith("not linked to this injury")
