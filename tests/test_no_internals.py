"""No internals in what a reader sees (issue 10, item 5).

The visible text of the HTML page and of the Markdown supplement of both bundled reviews holds
no Python leftovers ("None", "nan", dicts, empty source brackets), no raw rule templates, no
internal ids of time points, injuries or strategies, and one plural for one study.
"""

from __future__ import annotations

import html
import re

import pytest

import evidence as ev

REVIEWS = ["studies", "studies/bcg"]


def _no_urls(text: str) -> str:
    return re.sub(r"(?:https?|ftp)://\S+", " ", text)


def _visible_html(page: str) -> str:
    page = re.sub(r"<(style|script|svg)\b.*?</\1>", " ", page, flags=re.S)
    attrs = " ".join(re.findall(r'\b(?:alt|title)="([^"]*)"', page))
    return _no_urls(html.unescape(re.sub(r"<[^>]+>", " ", page) + " " + attrs))


def _visible_md(text: str) -> str:
    text = re.sub(r"\]\(figures/[^)]*\)", "]", text)        # figure file paths
    text = re.sub(r"`[^`]*`", " ", text)                      # code spans (file names)
    return _no_urls(re.sub(r"\\([\\\[\]|*_<>#`~&-])", r"\1", text))  # Markdown escapes


@pytest.fixture(scope="module", params=REVIEWS)
def texts(request, render_cached):
    files = render_cached(request.param)
    return request.param, {"html": _visible_html(files["index.html"]),
                           "md": _visible_md(files["supplement.md"])}


@pytest.mark.parametrize("pattern, what", [
    (r"\bNone\b", "Python None"),
    (r"\bnan\b|\bNaN\b", "NaN"),
    (r"\[\s*\]", "empty source brackets"),
    (r"\[\?\]", "unknown source shown as [?]"),
    (r"[{}]", "a brace (rule template or dict)"),
    (r"\b1 studies\b", "'1 studies'"),
    (r"\brank \d", "an internal rank"),
    (r"→\s*(?:None|nan)\b", "a time pair with a missing end"),
    (r"\b(?:characteristics|citation|sample|intervention|outcomes)\.\w+", "a record field path"),
    (r"\b[a-z]+_[a-z_]+\b", "a snake_case key"),
])
def test_no_python_or_template_leftovers(texts, pattern, what):
    review, by_format = texts
    for fmt, text in by_format.items():
        hits = re.findall(r".{0,40}(?:%s).{0,40}" % pattern, text)
        assert not hits, f"{review} {fmt}: {what}: {hits[:3]}"


def test_no_internal_ids_of_time_points_injuries_or_strategies(texts):
    review, by_format = texts
    frames = ev.load_review(review).frames()
    ids = set()
    for frame, id_col, label_col in ((frames.timepoints, "timepoint", "label"),
                                     (frames.injuries, "injury", "name"),
                                     (frames.strategies, "strategy", "name")):
        for i, label in zip(frame[id_col], frame[label_col]):
            # an id that reads as its own label (e.g. "baseline" / "Baseline") is not a code;
            # time-point ids that are plain words ("post") are ordinary English in notes
            if not isinstance(i, str) or str(label).lower() == i.lower():
                continue
            if id_col != "timepoint" or re.search(r"[-\d]", i):
                ids.add(i)
    assert ids, "the review defines ids to look for"
    for fmt, text in by_format.items():
        found = sorted(i for i in ids
                       if re.search(r"(?<![\w/.-])" + re.escape(i) + r"(?![\w/.-])", text))
        assert not found, f"{review} {fmt}: internal ids in the visible text: {found[:8]}"


def test_rules_are_sentences(render_cached):
    text = _visible_html(render_cached("studies")["index.html"])
    assert "At least 2 randomised controlled trials" in text
    assert "'min'" not in text and "{counted}" not in text


def test_sample_cites_each_value_by_its_own_source(render_cached):
    """Diebal 2012: n from the review's Table 1 (S4), the sex split from the news report (S14)."""
    text = _visible_html(render_cached("studies")["index.html"])
    assert "n = 10 [S4] (2 F, 8 M [S14])" in text
    bcg = _visible_html(render_cached("studies/bcg")["index.html"])
    assert "n not reported" not in bcg
    assert "per arm: vaccinated 123, control 139 (events + non-events) [METADAT]" in bcg


def test_characteristics_named_by_their_labels(texts):
    """A characteristic with a reader's label (spec `labels:`) never shows its column name
    (BCG: 'alloc', 'ablat') in headings, methods, tables or figure titles."""
    rel, t = texts
    loaded = ev.load_review(rel)
    # 'year' is also an ordinary word of running text, so only the coded names are searched
    labelled = {k for a in loaded.review.analyses for k in (a.labels or {})} - {"year"}
    for name, text in t.items():
        text = re.sub(r"dataset dat\.\w+ \(columns [^)]*\)", " ", text)  # the source's own words
        for k in labelled:
            assert not re.search(rf"\b{re.escape(k)}\b", text), (rel, name, k)
