"""The supplement: what a reader sees comes from the records, escaped, reproducibly."""

from __future__ import annotations

import re

import yaml

import evidence as ev
from evidence.report import render_report


def test_html_shows_table1_and_expert_table(render_cached):
    html = render_cached("studies")["index.html"]
    for label in ("Noehren 2011", "Willy 2012", "Diebal 2012", "Breen 2015", "Diebal 2011",
                  "Helmhout 2015"):
        assert label in html
    assert html.count('class="badge unconfirmed"') >= 2
    for injury in ("Patellofemoral pain", "Anterior exertional lower leg pain",
                   "Plantar fasciopathy", "Medial tibial stress syndrome"):
        assert injury in html
    assert "strongly advocated" in html and "poor agreement" in html
    assert "Completeness: what is missing and what it blocks" in html
    assert "not reported" in html
    assert "<script" not in html  # self-contained, no scripts or remote resources
    # no remote resource anywhere; links to the sources only in the Sources table
    body = html.split('<section id="sources">')[0]
    assert not re.search(r'(src|href)="https?://', body)


def test_markdown_has_same_tables(render_cached):
    md = render_cached("studies")["supplement.md"]
    assert "## Table 1. Clinical studies" in md
    assert "| Noehren 2011 (review: Noehren (2010)) | confirmed |" in md
    assert "## Expert opinion" in md and "## Completeness" in md


def test_rendering_is_reproducible(render_cached, monkeypatch):
    from conftest import ROOT

    monkeypatch.chdir(ROOT)
    a = render_cached("studies")
    b = render_report(ev.run_review("studies"), ["html", "md"])
    assert b["index.html"] == a["index.html"]
    assert b["supplement.md"] == a["supplement.md"]
    assert all(b[k] == a[k] for k in b if k.endswith(".svg") or k.endswith(".png"))


def test_templates_autoescape(review_copy):
    p = review_copy / "clinical" / "noehren-2011.yaml"
    d = yaml.safe_load(p.read_text())
    d["sample"]["population"] = "<script>alert(1)</script> & runners"
    p.write_text(yaml.safe_dump(d, sort_keys=False))
    html = render_report(ev.run_review(review_copy), ["html"])["index.html"]
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; runners" in html


def test_user_templates_override(barton, tmp_path):
    (tmp_path / "supplement.md").write_text("Custom: {{ review.title }}\n")
    md = render_report(ev.run_review(barton), ["md"], template_dir=tmp_path)["supplement.md"]
    assert md.startswith("Custom: Running retraining")


def test_barton_report_shows_synthesis(render_cached):
    html = render_cached("studies")["index.html"]
    assert "Check against the review's stated findings" in html
    assert "✗ differs" not in html  # every stated finding reproduced
    assert "Sensitivity to the assumed pre-post correlation" in html
    assert "pre-post r = 0.5 (not reported; assumed)" in html
    assert "not poolable" in html and "no SD reported" in html
    assert 'id="fig-evidence-matrix"' in html
    # forests only where an estimate exists, one per outcome kind (issue 10)
    assert 'id="fig-forest-aelp-forefoot-midfoot-strike-step-rate-increase-function"' in html
    assert 'id="fig-forest-pfp-hip-adduction-reduction' not in html


def test_bcg_report_agrees_with_metafor(render_cached):
    """The BCG page prints metafor's rma(yi, vi, method="REML") of dat.bcg (log RR):
    estimate -0.7145, tau2 0.3132, I2 92.22% (tests/reference/rma.json), shown as a risk
    ratio exp(-0.7145) = 0.49 [0.34, 0.70]."""
    html = render_cached("studies/bcg")["index.html"]
    assert "<b>0.49</b> pooled Risk ratio [0.34, 0.70]" in html
    assert "τ² = <b>0.3132</b>" in html
    assert "I² = <b>92.2%</b>" in html
    assert "13 of 13 studies pooled." in html
    md = render_cached("studies/bcg")["supplement.md"]
    assert "| absolute latitude (degrees) | −0.0291 |" in md
