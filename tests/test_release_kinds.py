"""Releases beyond the two-arm BCG example: what release.json records of two-arm, multilevel
and pre-post findings and how What's New shows each kind (with the effect-size assumption);
the content hash of a release leaving out the records path; a release refusing to write when
another one landed meanwhile; and the loader's checks of ``living.sequential`` plans.

Data: temporary copies of the bundled reviews studies/bcg (metadat dat.bcg), studies/fine1993
(metadat dat.fine1993, a multilevel analysis; oracle tests/reference/multilevel.json, metafor
rma.mv and clubSandwich) and studies/ (Barton 2016, pre-post findings with the assumed pre-post
correlation of review.yaml). Removing a study from a copy, the sequential plans written into a
copy's review.yaml and the search dates are this test's construction, not data of any review.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from pathlib import Path
from typing import Callable

import pytest
import yaml
from scipy.stats import norm
from typer.testing import CliRunner

import evidence.report as report_mod
from evidence.cli import app
from evidence.release import (ReleaseError, compare_summaries, release_reviews,
                              whats_new_context)

from _multilevel import REF as ML_REF

ROOT = Path(__file__).resolve().parent.parent
STUDIES = ROOT / "studies"
BCG = STUDIES / "bcg"
FINE = STUDIES / "fine1993"

runner = CliRunner()

Z975 = norm.ppf(0.975)
#: As tests/test_review_multilevel.py: the pooled coefficient against metafor's boundary refit,
#: CR2 against clubSandwich on the free fit, σ² absolutely.
COEF_REL, CR2_REL, SIGMA2_ABS = 1e-8, 1e-6, 5e-8


def _tree(root: Path) -> dict[str, tuple[str, int]]:
    return {p.relative_to(root).as_posix(): (hashlib.sha256(p.read_bytes()).hexdigest(),
                                            p.stat().st_ino)
            for p in sorted(root.rglob("*")) if p.is_file()}


def _release(review: Path | str, out: Path, version: str, formats: str = "md",
             search_date: str | None = None):
    args = ["release", str(review), "--version", version, "--out", str(out), "-f", formats]
    if search_date:
        args += ["--search-date", search_date]
    return runner.invoke(app, args)


def _record(out: Path, version: str) -> dict:
    return json.loads((out / "versions" / version / "release.json").read_text("utf-8"))


def _whats_new(text: str, start: str, end: str) -> str:
    return text[text.index(start):text.index(end)]


def _bcg_copy(dst: Path, up_to: int | None = None) -> Path:
    """studies/bcg copied to ``dst``, keeping the trials published up to ``up_to``."""
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(BCG, dst, ignore=shutil.ignore_patterns("__pycache__"))
    for f in (dst / "trials").glob("*.yaml"):
        year = yaml.safe_load(f.read_text("utf-8"))["characteristics"]["year"]["value"]
        if up_to is not None and year > up_to:
            f.unlink()
    return dst


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def bcg_release(tmp_path_factory):
    base = tmp_path_factory.mktemp("bcg-kinds")
    review, out = _bcg_copy(base / "bcg"), base / "out"
    res = _release(review, out, "1")
    assert res.exit_code == 0, res.output
    return {"review": review, "out": out, "record": _record(out, "1")}


@pytest.fixture(scope="module")
def fine_releases(tmp_path_factory):
    """fine1993 released whole (1), then without study 17 (2: a copy with one record less)."""
    base = tmp_path_factory.mktemp("fine-kinds")
    review, out = base / "fine1993", base / "out"
    shutil.copytree(FINE, review, ignore=shutil.ignore_patterns("__pycache__"))
    res = _release(review, out, "1", "md")
    assert res.exit_code == 0, res.output
    (review / "trials" / "study-17.yaml").unlink()
    res = _release(review, out, "2", "md,html")
    assert res.exit_code == 0, res.output
    return {"review": review, "out": out}


@pytest.fixture(scope="module")
def barton_release(tmp_path_factory):
    base = tmp_path_factory.mktemp("barton-kinds")
    review, out = base / "studies", base / "out"
    shutil.copytree(STUDIES, review,
                    ignore=shutil.ignore_patterns("bcg", "fine1993", "__pycache__"))
    res = _release(review, out, "1", "md", "2026-01-31")
    assert res.exit_code == 0, res.output
    res = _release(review, out, "2", "html,md,tex", "2026-02-28")  # a new search, no new study
    assert res.exit_code == 0, res.output
    return {"review": review, "out": out}


# ------------------------------------------------------------- 1. what a release records


def test_two_arm_summary_records_se_and_accrued_participants(bcg_release):
    (a,) = bcg_release["record"]["analyses"]
    assert a["kind"] == "two-arm" and a["k"] == 13
    # z test: the 95% CI is estimate ± z·SE on the log scale
    assert a["se"] == pytest.approx((a["ci_high"] - a["ci_low"]) / (2 * Z975), rel=1e-9)
    assert a["ci_low"] == pytest.approx(a["estimate"] - Z975 * a["se"], rel=1e-9)
    # participants and the comparator arm, summed from the trial records themselves
    n = ctrl_events = ctrl_total = 0
    for f in (BCG / "trials").glob("*.yaml"):
        for m in yaml.safe_load(f.read_text("utf-8"))["outcomes"][0]["measurements"]:
            total = m["events"] + m["nonevents"]
            n += total
            if m["arm"] == "control":
                ctrl_events += m["events"]
                ctrl_total += total
    assert a["participants"] == n
    assert a["comparator"] == {"events": ctrl_events, "participants": ctrl_total}


def test_multilevel_summary_matches_metafor(fine_releases):
    (a,) = _record(fine_releases["out"], "1")["analyses"]
    case = {c["name"]: c for c in ML_REF["cases"]}["fine1993_rho05"]
    coef = case["boundary_refit"]["coefficients"][0]
    cr2 = case["cr2_free_fit"]
    assert a["kind"] == "multilevel" and a["id"] == "survival-or"
    assert a["k"] == 66 and a["studies"] == 17
    assert a["estimate"] == pytest.approx(coef["estimate"], rel=COEF_REL)
    assert a["ci_basis"] == "CR2 cluster-robust"
    for key in ("se", "ci_low", "ci_high"):
        assert a[key] == pytest.approx(cr2[key][0], rel=CR2_REL), key
    assert list(a["sigma2"]) == ["study", "study/timepoint"]
    for got, ref in zip(a["sigma2"].values(), case["sigma2"]):
        assert got == pytest.approx(ref, abs=SIGMA2_ABS)
    assert a["display"]["estimate"] == pytest.approx(math.exp(a["estimate"]))
    assert a["ci_excludes_null"] is (a["ci_low"] > 0 or a["ci_high"] < 0)
    # not graded, no I²: no heterogeneity class, no certainty; nothing accrued
    assert a["certainty"] is None and a["heterogeneity"] is None and a["i2"] is None
    assert a["participants"] is None and a["comparator"] is None


def test_prepost_summary_records_findings_with_their_assumption(barton_release):
    import evidence as ev
    from evidence.formatting import is_missing

    rec = _record(barton_release["out"], "1")
    pre = [a for a in rec["analyses"] if a["kind"] == "pre-post"]
    assert pre and len({a["id"] for a in pre}) == len(pre)
    pooled = {f"{g['injury']}/{g['strategy']}/{g['outcome_kind']}": g
              for g in ev.run_review(barton_release["review"]).pooled.records()
              if not is_missing(g["estimate"])}  # the poolable groups
    assert {a["id"] for a in pre} == set(pooled)
    r = yaml.safe_load((barton_release["review"] / "review.yaml").read_text("utf-8"))
    for a in pre:
        g = pooled[a["id"]]
        assert a["measure"] == r["synthesis"]["measure"] == "SMCR"
        assert a["k"] == g["k"] and a["estimate"] == pytest.approx(g["estimate"], rel=1e-12)
        assert a["se"] == pytest.approx((a["ci_high"] - a["ci_low"]) / (2 * Z975), rel=1e-9)
        assert f"r = {r['synthesis']['assumed_correlation']}" in a["assumption"]
        assert "assumed" in a["assumption"]
        assert a["title"].endswith("(pre-post)")
        assert a["display"] == {"estimate": a["estimate"], "ci_low": a["ci_low"],
                                "ci_high": a["ci_high"]}  # no transform


def test_prepost_assumption_noted_in_every_format(barton_release):
    vdir = barton_release["out"] / "versions" / "2"
    n = sum(a["kind"] == "pre-post" for a in _record(barton_release["out"], "2")["analyses"])
    note = "Effects computed with pre-post r = 0.5 (not reported; assumed)."
    md = _whats_new((vdir / "supplement.md").read_text("utf-8"), "## What's New",
                    "Rules set in advance")
    html = (vdir / "index.html").read_text("utf-8")
    html = html[html.index('<section id="whats-new">'):]
    html = html[:html.index("</section>")]
    tex = (vdir / "supplement.tex").read_text("utf-8")
    tex = tex[tex.index("\\section*{What's New}"):]
    tex = tex[:tex.index("\\section", 5)]
    assert md.count(note) == n
    assert html.count(f'<p class="table-note">{note}</p>') == n
    assert tex.count("{\\small " + note + "}") == n
    # the second release compares the pre-post rows: nothing changed, each row unchanged
    assert "**No finding changed**" in md
    row = next(r for r in md.splitlines() if r.startswith("| Heterogeneity class |"))
    assert row.rstrip().endswith("| unchanged |")


def test_no_assumption_note_without_an_assumption(bcg_release, fine_releases):
    for out, v in ((bcg_release["out"], "1"), (fine_releases["out"], "2")):
        assert "Effects computed with" not in (out / "versions" / v / "supplement.md"
                                               ).read_text("utf-8")
        assert all(a.get("assumption") is None for a in _record(out, v)["analyses"])


def test_multilevel_whats_new_rows(fine_releases):
    out = fine_releases["out"]
    rec = _record(out, "2")
    (a,) = rec["analyses"]
    assert a["studies"] == 16 and a["k"] == 64  # study 17 had two time points
    md = _whats_new((out / "versions" / "2" / "supplement.md").read_text("utf-8"),
                    "## What's New", "Rules set in advance")
    rows = {r.split("|")[1].strip(): [c.strip() for c in r.split("|")[2:-1]]
            for r in md.splitlines() if r.startswith("| ") and not r.startswith("| |")}
    assert rows["Effects (k)"][:2] == ["66", "64"]
    assert rows["Studies"][:2] == ["17", "16"]
    assert "Odds ratio of survival (95% CI, CR2 cluster-robust)" in rows
    assert rows["σ² (study/timepoint)"][1] == f"{a['sigma2']['study/timepoint']:.4f}"
    assert rows["Certainty (GRADE)"][:2] == ["not graded (multilevel model)"] * 2
    assert "τ²" not in rows and "I²" not in rows and "Heterogeneity class" not in rows
    ci = rows["Odds ratio of survival (95% CI, CR2 cluster-robust)"]
    assert ci[3] in ("changed", "**changed**", "unchanged")
    assert [s["id"] for s in rec["whats_new"]["studies_removed"]] == ["study-17"]


def test_history_figures_of_every_kind_exist(fine_releases, barton_release):
    """From the second release on, each finding's history figure is written under the id the
    supplement links (a pre-post id holds slashes; the figure id is sanitised)."""
    import re

    for out, exts in ((fine_releases["out"], ("md", "html")),
                      (barton_release["out"], ("md", "html", "tex"))):
        vdir = out / "versions" / "2"
        rec = _record(out, "2")
        for ext in exts:
            text = (vdir / ("index.html" if ext == "html" else f"supplement.{ext}")
                    ).read_text("utf-8")
            if ext == "html":  # the page inlines its SVG figures
                found = re.findall(r'<figure id="fig-(history-[A-Za-z0-9._-]+)"', text)
                linked = {f"{m}.svg" for m in found}
            else:
                linked = set(re.findall(r"figures/(history-[A-Za-z0-9._-]+?\.(?:svg|pdf))",
                                        text))
            assert len(linked) == len(rec["analyses"]), ext
            for name in linked:
                assert (vdir / "figures" / name).is_file(), name
    assert (fine_releases["out"] / "versions" / "2" / "figures" / "history-survival-or.svg"
            ).is_file()


def test_whats_new_context_rows_by_kind(bcg_release, fine_releases, barton_release):
    """The pure context: one row list per kind, from the summaries the releases recorded."""
    meta = {"version": "1", "release_date": "2026-01-01", "search_date": None,
            "content_hash": "0" * 64}
    names = {}
    for rec in (bcg_release["record"], _record(fine_releases["out"], "1"),
                _record(barton_release["out"], "1")):
        ctx = whats_new_context(compare_summaries(None, rec), meta, None)
        for a in ctx["analyses"]:
            names.setdefault(a["kind"], [r["name"] for r in a["rows"]])
            assert a["assumption"] == next(x for x in rec["analyses"]
                                           if x["id"] == a["id"]).get("assumption")
    assert names["two-arm"] == ["Studies (k)", "Risk ratio (95% CI)",
                                "Estimate (log risk ratio)", "τ²", "I²",
                                "Heterogeneity class", "Certainty (GRADE)"]
    assert names["multilevel"] == ["Effects (k)", "Studies",
                                   "Odds ratio of survival (95% CI, CR2 cluster-robust)",
                                   "Estimate (log odds ratio of survival)",
                                   "σ² (study)", "σ² (study/timepoint)", "Certainty (GRADE)"]
    assert names["pre-post"] == ["Studies (k)", "SMCR (95% CI)",
                                 "Estimate (SMCR, analysis scale)", "τ²", "I²",
                                 "Heterogeneity class", "Certainty (GRADE)"]


# --------------------------------------------------------- 2. the hash leaves out the path


def test_same_records_from_another_directory_are_unchanged(tmp_path, monkeypatch):
    first = _bcg_copy(tmp_path / "a" / "bcg", 1968)
    out = tmp_path / "out"
    assert _release(first, out, "1").exit_code == 0
    before = _tree(out)
    other = tmp_path / "b" / "elsewhere" / "bcg-copy"
    shutil.copytree(first, other)
    # the full fingerprint (of `evidence report`) sees the path; a release's does not
    assert (report_mod.inputs_fingerprint(first, ["md"])
            != report_mod.inputs_fingerprint(other, ["md"]))
    assert (report_mod.inputs_fingerprint(first, ["md"], records_path=False)
            == report_mod.inputs_fingerprint(other, ["md"], records_path=False)
            == _record(out, "1")["content_hash"])
    res = _release(other, out, "2")
    assert res.exit_code == 0, res.output
    assert "nothing changed since release 1" in res.output and "no new version" in res.output
    res = _release(other, out, "1")
    assert res.exit_code == 0 and "up to date" in res.output, res.output
    monkeypatch.chdir(tmp_path / "b")  # a relative path from another working directory
    res = _release(Path("elsewhere") / "bcg-copy", out, "2")
    assert res.exit_code == 0 and "no new version" in res.output, res.output
    assert not (out / "versions" / "2").exists() and _tree(out) == before
    # other content from the other directory is a release
    (other / "trials" / "01-aronson-1948.yaml").unlink()
    res = _release(Path("elsewhere") / "bcg-copy", out, "2")
    assert res.exit_code == 0, res.output
    assert _record(out, "2")["content_hash"] != _record(out, "1")["content_hash"]
    assert [s["label"] for s in _record(out, "2")["whats_new"]["studies_removed"]] == \
        ["Aronson 1948"]


# ------------------------------------------------------------ 3. a release landing meanwhile


def _interfere(monkeypatch, land: Callable[[], None]):
    """write_reports, with ``land`` run once just before the real one takes the lock: another
    release lands between this release's reading of versions/ and its writing."""
    real = report_mod.write_reports
    state = {"landed": False}

    def patched(*args, **kwargs):
        if not state["landed"]:
            state["landed"] = True
            monkeypatch.setattr(report_mod, "write_reports", real)
            land()
        return real(*args, **kwargs)

    monkeypatch.setattr(report_mod, "write_reports", patched)
    return state



@pytest.mark.parametrize("first", [False, True], ids=["no-earlier-release", "after-release-1"])
def test_a_release_landing_meanwhile_is_refused(tmp_path, monkeypatch, first):
    ours, theirs = _bcg_copy(tmp_path / "ours", 1953), _bcg_copy(tmp_path / "theirs", 1949)
    out = tmp_path / "out"
    if first:
        res = _release(_bcg_copy(tmp_path / "v1", 1948), out, "1")
        assert res.exit_code == 0, res.output
    snap = {}

    def land():
        (o,) = release_reviews(theirs, "2-other", out, formats=["md"])
        assert o.status == "released"
        snap["tree"] = _tree(out)

    state = _interfere(monkeypatch, land)
    with pytest.raises(ReleaseError) as err:
        release_reviews(ours, "2", out, formats=["md"])
    assert state["landed"] and err.value.code == 3
    assert "another release landed" in str(err.value) and "2-other" in str(err.value)
    assert "nothing was written" in str(err.value)
    # the release that landed is whole; nothing of ours overwrote it (same bytes and inodes)
    assert _tree(out) == snap["tree"]
    assert not (out / "versions" / "2").exists()
    assert _record(out, "2-other")["content_hash"] == json.loads(
        (out / "release.json").read_text("utf-8"))["content_hash"]


def test_a_release_landing_meanwhile_exits_3(tmp_path, monkeypatch):
    ours, theirs = _bcg_copy(tmp_path / "ours", 1949), _bcg_copy(tmp_path / "theirs", 1948)
    out = tmp_path / "out"
    snap = {}

    def land():
        release_reviews(theirs, "1-other", out, formats=["md"])
        snap["tree"] = _tree(out)

    _interfere(monkeypatch, land)
    res = _release(ours, out, "1")
    assert res.exit_code == 3, res.output
    assert "another release landed" in res.output and "1-other" in res.output
    assert _tree(out) == snap["tree"] and not (out / "versions" / "1").exists()
    # run again (nothing interferes now): it is released beside the other one
    res = _release(ours, out, "1")
    assert res.exit_code == 0, res.output
    assert _record(out, "1")["previous"]["version"] == "1-other"


# ------------------------------------------------------------ 4. living.sequential plans

PLAN = {"analysis": "bcg-tb-rr", "effect": 0.8,
        "reason": "synthetic plan of tests/test_release_kinds.py (not a planned analysis of "
                  "any review)"}


def _with_plans(review: Path, *plans: dict) -> None:
    p = review / "review.yaml"
    data = {"living": {"sequential": [dict(pl) for pl in plans]}}
    p.write_text(p.read_text("utf-8") + yaml.safe_dump(data, sort_keys=False), "utf-8")


def _errors(review: Path) -> list[str]:
    res = runner.invoke(app, ["validate", str(review)])
    assert res.exit_code == 1, res.output
    return [line for line in res.output.splitlines() if line.startswith("error:")]


def _assert_named(errors: list[str], record: str, where: str, text: str) -> None:
    hits = [e for e in errors if f": {record}: {where}:" in e]
    assert hits, errors
    assert all("review.yaml" in e for e in hits)
    assert any(text in e for e in hits), hits


@pytest.fixture()
def bcg_small(tmp_path):
    return _bcg_copy(tmp_path / "bcg", 1948)


CROSS_CHECKS = [  # (plan changes, field, what the message says)
    ({"analysis": "no-such-analysis", "information": "statistical"},
     "living.sequential[0].analysis", "no planned analysis 'no-such-analysis'"),
    ({"sd": 10.0, "sd_source": "METADAT"}, "living.sequential[0].sd", "pools RR"),
    ({"effect": -0.2, "information": "statistical"}, "living.sequential[0].effect",
     "ratio above 0"),
    ({"effect": 1.0, "information": "statistical"},
     "living.sequential[0].effect", "a ratio of 1 is no effect"),
    ({"control_risk": 0.1, "control_risk_source": "NO-SUCH-SOURCE"},
     "living.sequential[0].control_risk_source", "unknown source 'NO-SUCH-SOURCE'"),
    ({"sd": 10.0, "sd_source": "NO-SUCH-SOURCE"}, "living.sequential[0].sd_source",
     "unknown source 'NO-SUCH-SOURCE'"),
]
SCHEMA_CHECKS = [
    ({"control_risk": 1.5, "control_risk_source": "METADAT"},
     "living.sequential[0].control_risk", "between 0 and 1"),
    ({"control_risk": 0.0, "control_risk_source": "METADAT"},
     "living.sequential[0].control_risk", "between 0 and 1"),
    ({"control_risk": 1, "control_risk_source": "METADAT"},  # an integer in YAML
     "living.sequential[0].control_risk", "between 0 and 1"),
    ({"control_risk": 0.2}, "living.sequential[0].control_risk_source", "needs a source"),
    ({"sd": 10.0}, "living.sequential[0].sd_source", "needs a source"),
    ({}, "living.sequential[0].control_risk", "information: statistical"),
    ({"control_risk": 0.2, "control_risk_source": "METADAT", "sd": 10.0,
      "sd_source": "METADAT"}, "living.sequential[0].sd", "not both"),
    ({"effect": 0, "information": "statistical"}, "living.sequential[0].effect",
     "cannot be no effect"),
]


@pytest.mark.parametrize("change,where,text", CROSS_CHECKS + SCHEMA_CHECKS,
                         ids=[w.rsplit(".", 1)[-1] + "-" + t.split()[0]
                              for _, w, t in CROSS_CHECKS + SCHEMA_CHECKS])
def test_sequential_plan_errors(bcg_small, change, where, text):
    _with_plans(bcg_small, {**PLAN, **change})
    _assert_named(_errors(bcg_small), "bcg", where, text)


def test_sequential_control_risk_for_a_non_ratio_measure(bcg_small):
    """The BCG copy's analysis re-declared as a standardised mean difference (a synthetic
    change of the plan): a control risk does not size it."""
    p = bcg_small / "review.yaml"
    p.write_text(p.read_text("utf-8").replace("measure: RR", "measure: SMD", 1), "utf-8")
    _with_plans(bcg_small, {**PLAN, "effect": 0.3, "control_risk": "observed"})
    _assert_named(_errors(bcg_small), "bcg", "living.sequential[0].control_risk",
                  "pools SMD")


def test_sequential_plan_on_a_multilevel_analysis(tmp_path):
    review = tmp_path / "fine1993"
    shutil.copytree(FINE, review, ignore=shutil.ignore_patterns("__pycache__"))
    _with_plans(review, {**PLAN, "analysis": "survival-or", "information": "statistical"})
    _assert_named(_errors(review), "fine1993", "living.sequential[0].analysis",
                  "is a multilevel analysis")


def test_sequential_analysis_listed_twice(bcg_small):
    plan = {**PLAN, "information": "statistical"}
    _with_plans(bcg_small, plan, plan)
    _assert_named(_errors(bcg_small), "bcg", "living.sequential",
                  "analysis 'bcg-tb-rr' is listed twice")


def test_valid_sequential_plans_load(bcg_small):
    import evidence as ev

    _with_plans(bcg_small, {**PLAN, "control_risk": "observed"})
    res = runner.invoke(app, ["validate", str(bcg_small)])
    assert res.exit_code == 0 and "error:" not in res.output, res.output
    (sp,) = ev.load_review(bcg_small).review.living.sequential
    assert (sp.analysis, sp.effect, sp.control_risk, sp.information) == (
        "bcg-tb-rr", 0.8, "observed", "participants")
    assert sp.spending == "obrien-fleming" and sp.alpha == 0.05 and sp.power == 0.8
