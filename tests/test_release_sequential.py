"""Sequential analysis across the releases of a living review (issue 16 item 4).

The worked example is the bundled BCG review (metadat's dat.bcg, 13 real trials) released by
trial year as in tests/test_release.py (k = 6, 10, 13), with a ``living: sequential`` plan
that this test writes into the temporary copy: detect a risk ratio of 0.8 at the control
risk observed in the comparator arms, O'Brien-Fleming-type spending. The plan is this test's
construction (stated in its ``reason``), not part of the bundled review. The cumulative Z of
each release is checked against metafor's cumulative meta-analysis by year
(tests/reference/around.json, REML at tight control), the diversity against metafor's
fixed-effect fit of all 13 trials (tests/reference/rma.json), the boundaries against the
core (itself checked against rpact in tests/test_sequential.py).
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from evidence.cli import app
from evidence.meta import sequential as sq
from evidence.release import sequential_context, sequential_summary

ROOT = Path(__file__).resolve().parent.parent
BCG = ROOT / "studies" / "bcg"
REF = ROOT / "tests" / "reference"
#: The engine agrees with metafor at tight control to about 1e-13; the cumulative Z is a
#: ratio of two such numbers, held to the reference tests' 1e-6.
TOL_METAFOR = 1e-6
VERSIONS = [("1", 1968, 6), ("2", 1974, 10), ("3", None, 13)]
PLAN = """
living:
  sequential:
    - analysis: bcg-tb-rr
      effect: 0.8
      control_risk: observed
      reason: a 20% relative risk reduction; a plan written by this test, not the review's
"""
runner = CliRunner()


def _make(review: Path, up_to: int | None, plan: str = PLAN) -> int:
    if review.exists():
        shutil.rmtree(review)
    shutil.copytree(BCG, review, ignore=shutil.ignore_patterns("__pycache__"))
    kept = 0
    for f in sorted((review / "trials").glob("*.yaml")):
        year = yaml.safe_load(f.read_text("utf-8"))["characteristics"]["year"]["value"]
        if up_to is not None and year > up_to:
            f.unlink()
        else:
            kept += 1
    text = (review / "review.yaml").read_text("utf-8")
    assert "\nliving:" not in text
    (review / "review.yaml").write_text(text + plan, "utf-8")
    return kept


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    base = tmp_path_factory.mktemp("tsa")
    review, out = base / "bcg", base / "reports"
    for version, up_to, k in VERSIONS:
        assert _make(review, up_to) == k
        res = runner.invoke(app, ["release", str(review), "--version", version, "--out",
                                  str(out), "-f", "html,md,tex"])
        assert res.exit_code == 0, res.output
    recs = {v: json.loads((out / "versions" / v / "release.json").read_text("utf-8"))
            for v, _, _ in VERSIONS}
    return {"out": out, "records": recs}


def _trials():
    rows = [yaml.safe_load(f.read_text("utf-8")) for f in sorted((BCG / "trials").glob("*.yaml"))]
    return rows


def test_looks_are_the_releases_with_metafor_z(released):
    ref = json.loads((REF / "around.json").read_text("utf-8"))["cumulative"][0]
    assert ref["dataset"] == "bcg" and ref["order_by"] == "year" and ref["method"] == "REML"
    (s,) = released["records"]["3"]["sequential"]
    assert s["computed"] and s["analysis"] == "bcg-tb-rr" and s["left_out"] == []
    assert [x["version"] for x in s["looks"]] == ["1", "2", "3"]
    assert [x["k"] for x in s["looks"]] == [6, 10, 13]
    for look in s["looks"]:
        assert look["z"] == pytest.approx(ref["stat"][look["k"] - 1], abs=TOL_METAFOR)
    # the first release has one look, the second two
    assert len(released["records"]["1"]["sequential"][0]["looks"]) == 1
    assert len(released["records"]["2"]["sequential"][0]["looks"]) == 2


def test_information_is_participants_and_required_size_from_observed_control_risk(released):
    (s,) = released["records"]["3"]["sequential"]
    rec3 = released["records"]["3"]["analyses"][0]
    # participants: both arms of every pooled trial, from the records
    comp = rec3["comparator"]
    assert s["looks"][-1]["information"] == rec3["participants"]
    assert comp["participants"] < rec3["participants"]
    # the observed control risk is the comparator arms' events over participants
    assert s["control_risk"] == pytest.approx(comp["events"] / comp["participants"], rel=1e-15)
    assert s["required_unadjusted"] == pytest.approx(
        sq.ris_binary(s["control_risk"], 0.8, "RR"), rel=1e-12)
    # diversity D² from the random-effects SE and metafor's fixed-effect SE of the 13 trials
    fe = next(c for c in json.loads((REF / "rma.json").read_text("utf-8"))["cases"]
              if c["dataset"] == "bcg" and c["method"] == "FE" and c["test"] == "z")
    d2 = 1 - (fe["result"]["se"] / rec3["se"]) ** 2
    assert s["diversity"] == pytest.approx(d2, abs=1e-9)
    assert s["required"] == pytest.approx(s["required_unadjusted"] / (1 - d2), rel=1e-8)


def test_boundaries_and_verdict(released):
    (s,) = released["records"]["3"]["sequential"]
    fr = [x["information"] / s["required"] for x in s["looks"]]
    assert [x["fraction"] for x in s["looks"]] == pytest.approx(fr, rel=1e-14)
    b = sq.sequential_bounds(fr, 0.05, "obrien-fleming")
    assert [x["boundary"] for x in s["looks"]] == pytest.approx(list(b.z), rel=1e-12)
    # BCG: |Z| 5.19, 4.36, 3.97 against boundaries far above (the information is a small
    # fraction of a size inflated by D² of about 95%): not crossed, not reached
    assert all(abs(x["z"]) < x["boundary"] for x in s["looks"])
    assert s["status"] == "neither" and s["first_crossed"] is None
    assert s["reached_at"] is None and fr[-1] < 1


def test_whats_new_shows_it_as_a_sensitivity_analysis(released):
    out = released["out"]
    md = (out / "versions" / "3" / "supplement.md").read_text("utf-8")
    assert "Sequential analysis across releases (sensitivity analysis)" in md
    assert "not the main conclusion" in md
    (s,) = released["records"]["3"]["sequential"]
    assert f"{math.ceil(s['required'])} participants" in md
    assert "risk ratio 0.8 with two-sided alpha 0.05 and power 80%" in md
    assert "observed in the comparator arms of release 3" in md
    assert "Lan-DeMets O'Brien-Fleming-type alpha spending" in md
    for ref in ("Lan KKG, DeMets DL", "Wetterslev J, Thorlund K", "BMC Med Res Methodol",
                "User manual for trial sequential analysis"):
        assert ref in md
    table = [ln for ln in md.splitlines() if ln.startswith("| 1 |") or ln.startswith("| 2 |")
             or ln.startswith("| 3 |")]
    assert len(table) == 3 and all(ln.rstrip().endswith("| no |") for ln in table)
    html = (out / "versions" / "3" / "index.html").read_text("utf-8")
    assert "Sequential analysis across releases" in html and "<b>not the main conclusion</b>" in html
    tex = (out / "versions" / "3" / "supplement.tex").read_text("utf-8")
    assert "Sequential analysis across releases" in tex and "U+" not in tex


def test_no_plan_no_section(tmp_path):
    review, out = tmp_path / "bcg", tmp_path / "reports"
    _make(review, 1968, plan="")
    res = runner.invoke(app, ["release", str(review), "--version", "1", "--out", str(out),
                              "-f", "md"])
    assert res.exit_code == 0, res.output
    rec = json.loads((out / "versions" / "1" / "release.json").read_text("utf-8"))
    assert rec["sequential"] == []
    assert "Sequential analysis" not in (out / "versions" / "1" / "supplement.md").read_text()


# ------------------------------------------------ the pure layer on synthetic summaries


def _summary(version, est, se, k, n=None, comp=None, se_fixed=None, measure="RR",
             transform="exp"):
    return {"version": version, "analyses": [{
        "id": "a", "title": "Synthetic", "measure": measure, "transform": transform,
        "estimate": est, "se": se, "k": k, "participants": n, "comparator": comp,
        "se_fixed": se_fixed}]}


def _plan(**kw):
    base = {"analysis": "a", "effect": 0.8, "reason": "synthetic", "alpha": 0.05,
            "power": 0.8, "spending": "obrien-fleming", "information": "participants",
            "heterogeneity": "diversity", "control_risk": 0.2, "control_risk_source": "S",
            "sd": None, "sd_source": None}
    base.update(kw)
    return base


def test_statistical_information():
    rel = [_summary("1", -0.30, 0.20, 3), _summary("2", -0.25, 0.12, 5)]
    cur = _summary("3", -0.22, 0.08, 8)
    (s,) = sequential_summary([_plan(information="statistical", control_risk=None,
                                     control_risk_source=None)], rel, cur)
    assert s["computed"]
    assert [x["information"] for x in s["looks"]] == pytest.approx([25, 1 / 0.0144, 156.25])
    assert s["required"] == pytest.approx(sq.required_statistical_information(math.log(0.8)))
    assert s["looks"][-1]["z"] == pytest.approx(-2.75)
    ctx = sequential_context([s])[0]
    assert "random-effects SE already carries τ²" in ctx["basis"]
    assert [r["information"] for r in ctx["rows"]] == ["25.0", "69.4", "156.2"]  # 1/0.08² is 156.2499… in floating point


def test_information_that_does_not_grow_is_not_computed():
    rel = [_summary("1", -0.3, 0.1, 3)]
    cur = _summary("2", -0.3, 0.15, 4)  # τ² grew: 1/SE² fell
    (s,) = sequential_summary([_plan(information="statistical")], rel, cur)
    assert not s["computed"] and "did not grow from release 1" in s["reason"]
    assert "required" not in s
    ctx = sequential_context([s])[0]
    assert not ctx["computed"] and ctx["reason"] == s["reason"] and "rows" not in ctx


def test_release_without_participants_is_left_out():
    rel = [_summary("1", -0.3, 0.2, 3, n=None), _summary("2", -0.3, 0.12, 5, n=900)]
    cur = _summary("3", -0.3, 0.08, 8, n=2000, se_fixed=0.07)
    (s,) = sequential_summary([_plan()], rel, cur)
    assert s["computed"] and [x["version"] for x in s["looks"]] == ["2", "3"]
    assert s["left_out"] == [{"version": "1", "why": "participants of the pooled studies "
                                                     "not all recorded"}]
    assert s["diversity"] == pytest.approx(1 - (0.07 / 0.08) ** 2)
    assert s["required"] == pytest.approx(sq.ris_binary(0.2, 0.8) / (0.07 / 0.08) ** 2)
    assert "release 1 (participants" in sequential_context([s])[0]["left_out"][0]


def test_observed_control_risk_needs_comparator_counts():
    cur = _summary("1", -0.3, 0.08, 8, n=2000, comp=None, se_fixed=0.07)
    (s,) = sequential_summary([_plan(control_risk="observed", control_risk_source=None)], [],
                              cur)
    assert not s["computed"] and "comparator" in s["reason"]


def test_mean_difference_with_sd_and_no_heterogeneity_adjustment():
    cur = _summary("1", 4.0, 1.5, 6, n=300, measure="MD", transform=None, se_fixed=1.0)
    (s,) = sequential_summary([_plan(effect=5.0, control_risk=None, control_risk_source=None,
                                     sd=10.0, sd_source="S", heterogeneity="none")], [], cur)
    assert s["computed"] and s["required"] == pytest.approx(sq.ris_continuous(10.0, 5.0))
    assert "diversity" not in s
    assert s["looks"][0]["fraction"] == pytest.approx(300 / sq.ris_continuous(10.0, 5.0))
    # 300 participants is past the required 126: reached, no boundary of its own
    assert s["status"] in ("crossed", "reached")
    ctx = sequential_context([s])[0]
    assert "not adjusted for heterogeneity" in ctx["basis"]


def test_no_estimate_in_this_release():
    cur = _summary("1", None, None, 0)
    (s,) = sequential_summary([_plan()], [], cur)
    assert not s["computed"] and "no pooled estimate" in s["reason"]
