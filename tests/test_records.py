"""Study records: the bundled review loads completely, and malformed records fail clearly."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import evidence as ev
from evidence.records.schema import STATISTICS


# ----------------------------------------------------------------------------- bundled review


def test_bundled_review_counts(barton):
    assert barton.review.id == "barton2016"
    assert len(barton.studies) == 6
    unconfirmed = {s.id for s in barton.studies if s.inclusion.status == "unconfirmed"}
    assert unconfirmed == {"diebal-2011", "helmhout-2015"}
    assert len(barton.review.injuries) == 10
    assert {e.injury for e in barton.experts} == {i.id for i in barton.review.injuries}
    counts = barton.review.counts
    assert counts["clinical_studies"].value == 6
    assert counts["biomechanical_studies"].value == 46
    assert counts["experts"].value == 16


def test_bundled_review_injury_groups(barton):
    groups = {i.id: i.group for i in barton.review.injuries}
    knee_hip = {k for k, g in groups.items() if g.startswith("knee and hip")}
    foot_leg = {k for k, g in groups.items() if g.startswith("foot and lower leg")}
    assert knee_hip == {"pfp", "itbs", "patellar-tendinopathy", "proximal-hamstring-tendinopathy",
                        "gluteal-tendinopathy"}
    assert foot_leg == {"aelp", "plantar-fasciopathy", "achilles-tendinopathy", "calf-pain",
                        "mtss"}


def test_every_number_has_a_known_source(barton):
    f = barton.frames()
    known = set(f.sources["key"])
    m = f.measurements
    reported = m[m["value"].notna()]
    assert len(reported) > 0
    assert reported["source"].notna().all(), reported[reported["source"].isna()]
    assert set(reported["source"]) <= known
    assert reported["source_kind"].isin(["primary", "secondary", "tertiary"]).all()
    for st in barton.studies:
        for name in ("n", "female", "male"):
            v = getattr(st.sample, name)
            if v is not None and v.value is not None:
                assert (v.source or st.sample.source) in known, (st.id, name)
    c = f.counts.dropna(subset=["value"])
    assert c["source"].isin(known).all()


def test_missing_values_stay_missing(barton):
    """No SD was found for any pain outcome: the records must not carry one."""
    f = barton.frames()
    pain = f.outcomes[f.outcomes["kind"] == "pain"][["study", "outcome"]]
    m = f.measurements.merge(pain, on=["study", "outcome"])
    assert m.loc[m["statistic"] == "sd", "value"].isna().all()
    willy_1m = m[(m["study"] == "willy-2012") & (m["timepoint"] == "fu-1m")]
    assert willy_1m["value"].isna().all()


def test_published_values_as_extracted(barton):
    """Spot checks against shared/data (Diebal 2012 abstract; Davis 2020 Table 1)."""
    from evidence.model import wide_measurements

    w = wide_measurements(barton.frames().measurements).set_index(
        ["study", "outcome", "timepoint"])
    assert w.loc[("diebal-2012", "compartment-pressure", "baseline"), "mean"] == 78.4
    assert w.loc[("diebal-2012", "compartment-pressure", "baseline"), "sd"] == 32.0
    assert w.loc[("diebal-2012", "sane", "wk6"), "sd"] == 10.3
    assert w.loc[("noehren-2011", "pain-vas", "baseline"), "mean"] == 5.0
    assert w.loc[("noehren-2011", "pain-vas", "baseline"), "mean_source"] == "S20"
    assert w.loc[("willy-2012", "pain-vas", "fu-3m"), "mean"] == 0.5


def test_disagreements_recorded(barton):
    willy = next(s for s in barton.studies if s.id == "willy-2012")
    assert willy.sample.n.value == 10
    fields = {d.field for d in willy.disagreements}
    assert {"sample.n", "citation.year"} <= fields
    n_values = next(d for d in willy.disagreements if d.field == "sample.n").values
    assert {v["value"] for v in n_values} == {10, 13}


def test_frames_are_tidy(barton):
    f = barton.frames()
    assert list(f.measurements.columns[:7]) == ["study", "outcome", "arm", "timepoint",
                                                "timepoint_order", "statistic", "value"]
    assert set(f.measurements["statistic"]) <= set(STATISTICS)
    assert not f.measurements.duplicated(["study", "outcome", "arm", "timepoint",
                                          "statistic"]).any()
    assert len(f.studies) == 6 and f.studies["study"].is_unique
    assert len(f.experts) == 10
    assert len(f.biomechanics) == 8
    assert f["studies"] is f.studies


def test_load_review_skips_nested_reviews(review_copy):
    nested = review_copy / "other"
    nested.mkdir()
    (nested / "review.yaml").write_text("this: is not read\n")
    (nested / "x.yaml").write_text(": : bad yaml [\n")
    loaded = ev.load_review(review_copy)
    assert len(loaded.studies) == 6


# ----------------------------------------------------------------------------- malformed input


def _edit(path: Path, fn) -> None:
    data = yaml.safe_load(path.read_text())
    fn(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _problems(review_dir: Path) -> list[str]:
    with pytest.raises(ev.RecordError) as info:
        ev.load_review(review_dir)
    return info.value.problems


def _pain(d):
    return next(o for o in d["outcomes"] if o["id"] == "pain-vas")


CASES = [
    # (file, edit, expected fragments of one message)
    ("clinical/willy-2012.yaml",
     lambda d: _pain(d)["measurements"][1].update(sd=-1.2),
     ["clinical/willy-2012.yaml: willy-2012: outcomes[0].measurements[1].sd",
      "must be > 0, got -1.2"]),
    ("clinical/noehren-2011.yaml",
     lambda d: d["sample"].update(n=0),
     ["clinical/noehren-2011.yaml: noehren-2011: sample.n", "must be > 0"]),
    ("clinical/noehren-2011.yaml",
     lambda d: _pain(d)["measurements"][0].update(source="NOPE"),
     ["noehren-2011: outcomes[0].measurements[0].source", "unknown source key 'NOPE'"]),
    ("clinical/noehren-2011.yaml",
     lambda d: d.update(injury="knee-pain"),
     ["noehren-2011: injury", "unknown injury 'knee-pain'", "pfp"]),
    ("clinical/noehren-2011.yaml",
     lambda d: _pain(d)["measurements"][0].update(mean=12.0),
     ["noehren-2011: outcomes[0].measurements[0].mean", "12 is outside the declared scale [0, 10]"]),
    ("clinical/breen-2015.yaml",
     lambda d: d.update(id="willy-2012"),
     ["willy-2012: id", "duplicate record id 'willy-2012'", "breen-2015.yaml"]),
    ("clinical/noehren-2011.yaml",
     lambda d: d.update(sample_size=10),
     ["noehren-2011: sample_size", "unknown field"]),
    ("clinical/noehren-2011.yaml",
     lambda d: d.pop("design"),
     ["noehren-2011: design", "required field is missing"]),
    ("clinical/noehren-2011.yaml",
     lambda d: d["inclusion"].update(status="maybe"),
     ["noehren-2011: inclusion.status", "'maybe'"]),
    ("clinical/noehren-2011.yaml",
     lambda d: (_pain(d)["measurements"][0].update(mean=5.0, source=None)),
     ["noehren-2011: outcomes[0].measurements[0].mean", "has no source"]),
    ("clinical/noehren-2011.yaml",
     lambda d: _pain(d)["measurements"][0].update(timepoint="week-99"),
     ["noehren-2011: outcomes[0].measurements[0].timepoint", "unknown timepoint 'week-99'"]),
    ("clinical/diebal-2011.yaml",
     lambda d: d["inclusion"].pop("reason"),
     ["diebal-2011: inclusion", "needs a reason"]),
    ("experts/pfp.yaml",
     lambda d: d.update(stance="loved it"),
     ["experts/pfp.yaml: experts-pfp: stance", "'loved it'"]),
    ("experts/pfp.yaml",
     lambda d: d["strategies"][0].update(strategy="run-backwards"),
     ["experts-pfp: strategies[0].strategy", "unknown strategy 'run-backwards'"]),
    ("clinical/noehren-2011.yaml",
     lambda d: d.update(type="trial"),
     ["noehren-2011: type", "must be one of clinical, expert, biomechanics"]),
    ("review.yaml",
     lambda d: d["sources"].append(dict(d["sources"][0])),
     ["review.yaml: barton2016: sources", "duplicate source key 'S1'"]),
]


@pytest.mark.parametrize("file,edit,expected", CASES, ids=[c[2][-1][:40] for c in CASES])
def test_malformed_record_names_file_record_and_field(review_copy, file, edit, expected):
    _edit(review_copy / file, edit)
    problems = _problems(review_copy)
    joined = "\n".join(problems)
    assert any(all(frag in p for frag in expected) for p in problems), joined


def test_all_problems_reported_at_once(review_copy):
    _edit(review_copy / "clinical/willy-2012.yaml",
          lambda d: _pain(d)["measurements"][1].update(sd=-1.2))
    _edit(review_copy / "clinical/noehren-2011.yaml", lambda d: d["sample"].update(n=-3))
    (review_copy / "clinical" / "broken.yaml").write_text("id: [unclosed\n")
    problems = _problems(review_copy)
    assert len(problems) >= 3
    assert any("willy-2012.yaml" in p for p in problems)
    assert any("noehren-2011.yaml" in p for p in problems)
    assert any("broken.yaml: line " in p and "not valid YAML" in p for p in problems)


def test_yaml_is_loaded_safely(review_copy):
    (review_copy / "clinical" / "evil.yaml").write_text(
        "!!python/object/apply:os.system ['echo pwned']\n")
    problems = _problems(review_copy)
    assert any("evil.yaml: line 1: explicit tag" in p for p in problems)


def test_missing_directory_and_review_file(tmp_path):
    with pytest.raises(ev.RecordError, match="no such directory"):
        ev.load_review(tmp_path / "nope")
    with pytest.raises(ev.RecordError, match="no review.yaml"):
        ev.load_review(tmp_path)


def test_error_message_format(review_copy):
    _edit(review_copy / "clinical/willy-2012.yaml",
          lambda d: _pain(d)["measurements"][1].update(sd=-1.2))
    with pytest.raises(ev.RecordError) as info:
        ev.load_review(review_copy)
    text = str(info.value)
    assert text.startswith("1 problem in the study records:")
    assert "studies/clinical/willy-2012.yaml: willy-2012: outcomes[0].measurements[1].sd: " \
           "must be > 0, got -1.2" in text


# ------------------------------------------------------------------ semantic rules of the schema
# Each rule gets one record that breaks it (an edited copy of a bundled record, in tmp_path).

STUDIES_DIR = Path(__file__).resolve().parent.parent / "studies"
BCG = STUDIES_DIR / "bcg"


@pytest.fixture()
def bcg_copy(tmp_path: Path) -> Path:
    import shutil

    dst = tmp_path / "bcg"
    shutil.copytree(BCG, dst, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    return dst


def _m0(d):
    return d["outcomes"][0]["measurements"][0]


TRIAL = "trials/01-aronson-1948.yaml"  # vaccinated: 4 events, 119 non-events

SEMANTIC_BCG = [
    ("events + nonevents = total", TRIAL, lambda d: _m0(d).update(total=130),
     ["aronson-1948: outcomes[0].measurements[0].total", "events (4) + nonevents (119) = 123",
      "total is 130"]),
    ("events <= total", TRIAL, lambda d: (_m0(d).pop("nonevents"), _m0(d).update(total=3)),
     ["aronson-1948: outcomes[0].measurements[0].events", "4 events exceed total 3"]),
    ("events <= n", TRIAL, lambda d: _m0(d).update(n=2),
     ["aronson-1948: outcomes[0].measurements[0].events", "4 events exceed n 2"]),
    ("plausible count", TRIAL, lambda d: _m0(d).update(events=1e308),
     ["aronson-1948: outcomes[0].measurements[0].events", "not plausible"]),
    ("whole count", TRIAL, lambda d: _m0(d).update(events=4.5),
     ["aronson-1948: outcomes[0].measurements[0].events", "whole number"]),
    ("percent in [0, 100]", TRIAL, lambda d: _m0(d).update(percent=150),
     ["aronson-1948: outcomes[0].measurements[0].percent", "between 0 and 100, got 150"]),
    ("finite value", TRIAL, lambda d: _m0(d).update(events=float("inf")),
     ["aronson-1948: outcomes[0].measurements[0].events", "finite"]),
    ("year not in the future", TRIAL, lambda d: d["citation"].update(year=2999),
     ["aronson-1948: citation.year", "between 1000 and this year, got 2999"]),
    ("measurement arm exists", TRIAL, lambda d: _m0(d).update(arm="placebo"),
     ["aronson-1948: outcomes[0].measurements[0].arm", "unknown arm 'placebo'"]),
    ("arms unique", TRIAL, lambda d: d.update(arms=["control", "control"]),
     ["aronson-1948: arms", "duplicate arm 'control'"]),
    ("analysis arms exist", "review.yaml", lambda d: d["analyses"][0].update(arms=["vaccinated",
                                                                                  "placebo"]),
     ["review.yaml: bcg: analyses[0].arms[1]", "no study with outcome 'tb' has an arm 'placebo'"]),
    ("analysis arms differ", "review.yaml",
     lambda d: d["analyses"][0].update(arms=["control", "control"]),
     ["review.yaml: bcg: analyses[0].arms", "must differ"]),
    ("analysis characteristics exist", "review.yaml",
     lambda d: d["analyses"][0].update(subgroups=["altitude"]),
     ["review.yaml: bcg: analyses[0].subgroups[0]", "no study has a characteristic 'altitude'"]),
    ("analysis moderators exist", "review.yaml",
     lambda d: d["analyses"][0].update(moderators=[["ablat", "decade"]]),
     ["analyses[0].moderators[0][1]", "'decade'"]),
    ("id safe as a file name", TRIAL, lambda d: d.update(id="con"),
     ["con: id", "reserved file name"]),
    ("id without ..", TRIAL, lambda d: d.update(id="a..b"), ["a..b: id", "'..'"]),
    ("id not too long", TRIAL, lambda d: d.update(id="a" * 81), ["id", "at most 80 characters"]),
    ("id pattern", TRIAL, lambda d: d.update(id="../../etc"), ["id", "lower-case id"]),
    ("review count plausible", "review.yaml",
     lambda d: d.setdefault("counts", {}).update(trials={"value": 10**11, "source": "METADAT"}),
     ["review.yaml: bcg: counts.trials.value", "less than or equal"]),
]


@pytest.mark.parametrize("rule,file,edit,expected", SEMANTIC_BCG, ids=[c[0] for c in SEMANTIC_BCG])
def test_semantic_rule_bcg(bcg_copy, rule, file, edit, expected):
    _edit(bcg_copy / file, edit)
    problems = _problems(bcg_copy)
    assert any(all(frag in p for frag in expected) for p in problems), "\n".join(problems)


SEMANTIC_BARTON = [
    ("female + male <= n", "clinical/noehren-2011.yaml",
     lambda d: d["sample"].update(male=2),
     ["noehren-2011: sample.male", "female (10) + male (2) = 12 exceed n 10"]),
    ("female <= n", "clinical/noehren-2011.yaml",
     lambda d: d["sample"].update(female=11, male=None),
     ["noehren-2011: sample.female", "11 female participants exceed n 10"]),
    ("ci_low <= ci_high", "clinical/noehren-2011.yaml",
     lambda d: _pain(d)["measurements"][0].update(mean=None, ci_low=5, ci_high=4),
     ["noehren-2011: outcomes[0].measurements[0].ci_low", "ci_low (5) is above ci_high (4)"]),
    ("mean within the CI", "clinical/noehren-2011.yaml",
     lambda d: _pain(d)["measurements"][0].update(ci_low=6, ci_high=7),
     ["noehren-2011: outcomes[0].measurements[0].ci_low", "the mean (5) is below ci_low (6)"]),
    ("mean within the CI (above)", "clinical/noehren-2011.yaml",
     lambda d: _pain(d)["measurements"][0].update(ci_low=1, ci_high=2),
     ["outcomes[0].measurements[0].ci_high", "the mean (5) is above ci_high (2)"]),
    ("quartiles ordered", "clinical/noehren-2011.yaml",
     lambda d: _pain(d)["measurements"][0].update(q1=4, median=3),
     ["outcomes[0].measurements[0].median", "median (3) is below q1 (4)"]),
    ("mean within the range", "clinical/noehren-2011.yaml",
     lambda d: _pain(d)["measurements"][0].update(min=6, max=9),
     ["outcomes[0].measurements[0].mean", "the mean (5) is below min (6)"]),
    ("value within the declared scale", "clinical/noehren-2011.yaml",
     lambda d: _pain(d)["measurements"][0].update(median=11),
     ["noehren-2011: outcomes[0].measurements[0].median",
      "11 is outside the declared scale [0, 10]"]),
    ("scale with one open end", "clinical/noehren-2011.yaml",
     lambda d: (_pain(d)["scale"].update(max=None), _pain(d)["measurements"][0].update(mean=-1)),
     ["outcomes[0].measurements[0].mean", "-1 is outside the declared scale [0, ∞]"]),
    ("finite timepoint weeks", "clinical/noehren-2011.yaml",
     lambda d: d["timepoints"][0].update(weeks=float("inf")),
     ["noehren-2011: timepoints[0].weeks", "finite"]),
    ("epub date not in the future", "review.yaml",
     lambda d: d["citation"].update(epub="2999-01-01"),
     ["review.yaml: barton2016: citation.epub", "in the future"]),
    ("epub a real date", "review.yaml",
     lambda d: d["citation"].update(epub="2016-02-30"),
     ["citation.epub", "not a valid date"]),
    ("time point referenced exists", "clinical/noehren-2011.yaml",
     lambda d: _pain(d)["reported_changes"][0].update(to="week-99"),
     ["noehren-2011: outcomes[0].reported_changes[0].to", "unknown timepoint 'week-99'"]),
    ("source key referenced exists", "clinical/noehren-2011.yaml",
     lambda d: d["sample"].update(source="S999"),
     ["noehren-2011: sample.source", "unknown source key 'S999'"]),
    ("ids unique across files", "experts/pfp.yaml",
     lambda d: d.update(id="noehren-2011"),
     ["noehren-2011: id", "duplicate record id 'noehren-2011'"]),
]


@pytest.mark.parametrize("rule,file,edit,expected", SEMANTIC_BARTON,
                         ids=[c[0] for c in SEMANTIC_BARTON])
def test_semantic_rule_barton(review_copy, rule, file, edit, expected):
    _edit(review_copy / file, edit)
    problems = _problems(review_copy)
    assert any(all(frag in p for frag in expected) for p in problems), "\n".join(problems)


def test_bundled_records_pass_every_rule():
    for d in (STUDIES_DIR, BCG):
        ev.load_review(d)  # raises on any rule broken
