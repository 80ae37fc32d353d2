"""One computed review (issue 9): run_review -> a frozen ReviewResults that every output reads.

Oracles: the values come from the engine, which the reference tests hold to metafor; here
the tests check that they are computed once, frozen, and shown with one sign everywhere.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import evidence as ev
from evidence import results as results_module
from evidence.report import render_report

ROOT = Path(__file__).resolve().parent.parent
STUDIES = ROOT / "studies"


@pytest.fixture(scope="module")
def barton():
    return ev.run_review(STUDIES)


@pytest.fixture(scope="module")
def bcg():
    return ev.run_review(STUDIES / "bcg")


def test_run_review_holds_every_part_with_to_frame(barton, bcg):
    for res in (barton, bcg):
        parts = res.parts()
        assert {"completeness", "outcome_status"} <= set(parts)
        for t in parts.values():
            assert isinstance(t.to_frame(), pd.DataFrame)
        assert set(res.to_frame()["part"]) == set(parts)
        assert res.software["numpy"] == np.__version__
    assert barton.has_synthesis and not bcg.has_synthesis
    assert {"effects", "pooled", "levels", "matrix", "conclusions", "stated_check",
            "rules"} <= set(barton.parts())
    assert len(bcg.analyses) == 1 and bcg.analyses[0].pooled.k == 13
    # the options used are recorded: the assumed correlation comes from review.yaml
    assert barton.options.assumed_correlation == 0.5
    assert barton.options.method == "REML" and barton.options.level == 0.95
    assert barton.stated_check.to_frame()["match"].all()


def test_summary_prints_what_a_reader_needs_first(barton, bcg):
    s = bcg.summary()
    assert "13 studies" in s and "k = 13" in s and "I² = 92.2%" in s
    s = barton.summary()
    assert "Stated findings reproduced: 12 of 12" in s
    assert "pre-post r 0.5 (assumed)" in s


def test_results_are_immutable(barton):
    with pytest.raises(AttributeError):
        barton.title = "x"  # frozen dataclass
    frame = barton.effects.to_frame()
    frame.loc[:, "yi_benefit"] = 99.0
    assert not (barton.effects.to_frame()["yi_benefit"] == 99.0).any()
    with pytest.raises(TypeError):
        barton.frames["studies"] = None  # read-only mapping
    with pytest.raises(TypeError):
        barton.review["title"] = "x"
    studies = barton.frame("studies")
    studies.loc[0, "label"] = "changed"
    assert barton.frame("studies").loc[0, "label"] != "changed"


def test_options_override_the_review(barton):
    res = ev.run_review(STUDIES, ev.ReviewOptions(assumed_correlation=0.8))
    assert res.options.assumed_correlation == 0.8
    e0 = barton.effects.to_frame().dropna(subset=["yi"]).set_index("effect_id")["yi"]
    e1 = res.effects.to_frame().dropna(subset=["yi"]).set_index("effect_id")["yi"]
    assert e0.index.equals(e1.index) and len(e0) == 3
    # SMCR itself does not depend on r; its variance does
    np.testing.assert_allclose(e0, e1, rtol=1e-14)
    v0 = barton.effects.to_frame().dropna(subset=["vi"])["vi"].to_numpy()
    v1 = res.effects.to_frame().dropna(subset=["vi"])["vi"].to_numpy()
    assert (v1 < v0).all()
    with pytest.raises(ev.ArgumentError, match="not one of"):
        ev.run_review(STUDIES, ev.ReviewOptions(method="DL2"))


def test_without_an_assumed_correlation_no_smcr_is_computed(tmp_path):
    dst = tmp_path / "studies"
    shutil.copytree(STUDIES, dst, ignore=shutil.ignore_patterns("bcg"))
    text = (dst / "review.yaml").read_text()
    (dst / "review.yaml").write_text(text.replace("  assumed_correlation: 0.5\n", ""))
    res = ev.run_review(dst)
    eff = res.effects.to_frame()
    assert not eff["computable"].any()
    assert eff["reason"].str.contains("no pre-post correlation given").any()


def _count_calls(monkeypatch, names):
    calls = {n: 0 for n in names}
    for n in names:
        fn = getattr(results_module, n)

        def wrapped(*a, _fn=fn, _n=n, **k):
            calls[_n] += 1
            return _fn(*a, **k)

        monkeypatch.setattr(results_module, n, wrapped)
    return calls


def test_a_report_runs_each_synthesis_step_once(monkeypatch, tmp_path):
    import evidence.synthesis as syn

    steps = ["clinical_effects", "pool_by_group", "levels_of_evidence", "expert_matrix",
             "conclusions", "check_stated_findings", "completeness", "outcome_status"]
    calls = _count_calls(monkeypatch, steps)
    # the steps must not be reachable from the report any other way
    for n in ["clinical_effects", "expert_matrix", "conclusions", "load_rules"]:
        monkeypatch.setattr(syn, n, lambda *a, **k: pytest.fail("report recomputed"))
    res = ev.run_review(STUDIES)
    render_report(res, ["html", "md", "tex"])
    assert calls == {n: 1 for n in steps}


def test_evidence_report_builds_one_results_per_review(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from evidence.cli import app

    seen = []
    real = results_module.run_review

    def counting(review, options=None):
        seen.append(review.review.id)
        return real(review, options)

    monkeypatch.setattr(results_module, "run_review", counting)
    monkeypatch.setenv("EVIDENCE_JOBS", "1")  # count the calls in this process
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["report", str(STUDIES), "--out", str(out), "--format", "md"])
    assert r.exit_code == 0, r.output
    assert sorted(seen) == ["barton2016", "bcg", "fine1993"]


def _fmt(x: float) -> str:
    return f"{x:.2f}".replace("-", "−")


def _pdf_text(pdf: bytes, tmp_path: Path) -> str | None:
    if shutil.which("pdftotext") is None:
        return None
    p = tmp_path / "s.pdf"
    p.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(p), "-"], capture_output=True,
                          text=True, check=True).stdout


def test_each_pre_post_effect_has_one_sign_in_every_format(barton, tmp_path):
    files = render_report(barton)
    eff = barton.effects.to_frame()
    comp = eff[eff["computable"]]
    assert len(comp) == 3
    texts = {"html": files["index.html"], "md": files["supplement.md"],
             "tex": files["supplement.tex"]}
    pdf = _pdf_text(files["supplement.pdf"], tmp_path)
    if pdf is not None:
        texts["pdf"] = pdf
    for r in comp.itertuples():
        shown, flipped = _fmt(r.yi_benefit), _fmt(-r.yi_benefit)
        lo, hi = _fmt(r.ci_low_benefit), _fmt(r.ci_high_benefit)
        for fmt, text in texts.items():
            # undo each format's escaping of text: LaTeX braces brackets, Markdown backslashes them
            t = (text.replace("$-$", "−").replace("--", "−").replace("{[}", "[")
                 .replace("{]}", "]"))
            if fmt == "md":
                t = re.sub(r"\\([\[\]])", r"\1", t)
            assert f"{shown} [{lo}, {hi}]" in t, (fmt, r.effect_id)
            assert f"{flipped} [" not in t, (fmt, r.effect_id, "opposite sign shown")
    # the pooled table reads the same oriented values (single-study groups)
    pooled = barton.pooled.to_frame()
    single = pooled[pooled["status"] == "single study"]
    assert set(np.round(single["estimate"], 10)) <= set(np.round(comp["yi_benefit"], 10))


def test_forest_rows_read_the_oriented_effects(barton):
    from evidence.report import synthesis as rs

    seen = []
    real = rs.forest if hasattr(rs, "forest") else None
    import evidence.plots as plots

    orig = plots.forest

    def spy(rows, *a, **k):
        seen.append(rows.copy())
        return orig(rows, *a, **k)

    plots.forest = spy
    try:
        render_report(barton, ["md"])
    finally:
        plots.forest = orig
    assert real is None
    drawn = pd.concat(seen)
    drawn = drawn[drawn["yi"].notna()]
    eff = barton.effects.to_frame()
    oriented = set(np.round(eff["yi_benefit"].dropna(), 12))
    assert len(drawn) and set(np.round(drawn["yi"], 12)) <= oriented


def test_bcg_supplement_has_no_expert_or_pain_wording(bcg):
    files = render_report(bcg, ["html", "md", "tex"])
    for name, text in files.items():
        if not isinstance(text, str):
            continue
        low = text.lower()
        for word in ("expert", "pain", "runner", "retraining", "0 of 0"):
            assert word not in low, (name, word)


_REVIEW_WORDS = ("runners", "retraining", "r = 0.5", "no outcome has two poolable",
                 "_PROPER_NOUNS", "Achilles", "patellofemoral")


def test_library_code_and_templates_carry_no_words_of_one_review():
    hits = []
    for p in (ROOT / "evidence").rglob("*"):
        if p.suffix not in (".py", ".html", ".md", ".tex", ".css", ".txt") or not p.is_file():
            continue
        text = p.read_text(encoding="utf-8")
        for w in _REVIEW_WORDS:
            if re.search(re.escape(w), text, flags=re.IGNORECASE):
                hits.append(f"{p.relative_to(ROOT)}: {w}")
    assert not hits, hits


def test_diff_compares_the_planned_analyses(tmp_path):
    old = tmp_path / "old"
    new = tmp_path / "new"
    shutil.copytree(STUDIES / "bcg", old)
    shutil.copytree(STUDIES / "bcg", new)
    trial = sorted((new / "trials").glob("*.yaml"))[0]
    trial.unlink()  # one trial fewer: the pooled RR changes
    d = ev.diff_reviews(ev.run_review(old), ev.run_review(new))
    assert len(d.analyses) == 1
    row = d.analyses.iloc[0]
    assert row["k_old"] == 13 and row["k_new"] == 12
    assert "Planned analyses (1 changed)" in d.to_text()
    same = ev.diff_reviews(ev.run_review(old), ev.run_review(old))
    assert same.empty


def test_planned_analyses_are_immutable(bcg):
    a = bcg.analyses[0]
    eff = a.effects
    eff.loc[0, "yi"] = 99.0
    assert a.effects.loc[0, "yi"] != 99.0
    with pytest.raises(ValueError):
        a.pooled.weights[0] = 9.0
    with pytest.raises(AttributeError):
        a.notes = ()
