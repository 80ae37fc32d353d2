"""The supplement: what a reader sees comes from the records, escaped, reproducibly."""

from __future__ import annotations

import re

import yaml

import evidence as ev
from evidence.report import render_report


def test_html_shows_table1_and_expert_table(barton):
    html = render_report(barton, ["html"])["index.html"]
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


def test_markdown_has_same_tables(barton):
    md = render_report(barton, ["md"])["supplement.md"]
    assert "## Table 1. Clinical studies" in md
    assert "| Noehren 2011 (review: Noehren (2010)) | confirmed |" in md
    assert "## Expert opinion" in md and "## Completeness" in md


def test_rendering_is_reproducible(barton):
    a = render_report(barton)
    b = render_report(ev.load_review(barton.path))
    assert a == b


def test_templates_autoescape(review_copy):
    p = review_copy / "clinical" / "noehren-2011.yaml"
    d = yaml.safe_load(p.read_text())
    d["sample"]["population"] = "<script>alert(1)</script> & runners"
    p.write_text(yaml.safe_dump(d, sort_keys=False))
    html = render_report(ev.load_review(review_copy), ["html"])["index.html"]
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; runners" in html


def test_user_templates_override(barton, tmp_path):
    (tmp_path / "supplement.md").write_text("Custom: {{ review.title }}\n")
    md = render_report(barton, ["md"], template_dir=tmp_path)["supplement.md"]
    assert md.startswith("Custom: Running retraining")
