"""PRISMA 2020 flow and evidence matrix: wording, missing counts, layout rules, contrast.

Plot tests inspect artists and text, never pixels. Data: clearly synthetic frames built here,
and the bundled review (studies/) through ev.run_review for the matrix as the report draws it.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pandas as pd
import pytest

import evidence as ev
from evidence.errors import ArgumentError
from evidence.plots import NOT_REPORTED, evidence_matrix, prisma
from evidence.plots.matrix import (LEVEL_STYLE, MIN_FONTSIZE, STANCE_STYLE, contrast_ratio,
                                   text_color)

STUDIES = Path(__file__).resolve().parent.parent / "studies"
WCAG_AA = 4.5  # WCAG 2 AA minimum contrast for normal-size text
PT_TOL = 1e-9  # font sizes are set, not computed: only float representation can differ


def _texts(fig) -> list[str]:
    fig.canvas.draw()
    return [t.get_text() for t in fig.findobj(matplotlib.text.Text)
            if t.get_visible() and t.get_text()]


def _text_artists(fig):
    fig.canvas.draw()
    return [t for t in fig.findobj(matplotlib.text.Text) if t.get_visible() and t.get_text()]


def _gids(fig) -> list[str]:
    return [a.get_gid() for a in fig.findobj() if a.get_gid()]


# --------------------------------------------------------------------------------- PRISMA


def test_prisma_uses_the_2020_wording_and_says_not_reported_for_missing_counts():
    fig = prisma({"records_identified": None, "records_screened": 120,
                  "full_texts_assessed": None, "studies_included": 13})
    joined = "\n".join(_texts(fig))
    for wording in ("Identification of studies via databases and registers",
                    "Records identified from databases", "Records removed before screening",
                    "Records screened", "Records excluded", "Reports sought for retrieval",
                    "Reports not retrieved", "Reports assessed for eligibility",
                    "Reports excluded", "Studies included in review",
                    "Reports of included studies"):
        assert wording in joined.replace("\n", " "), wording
    assert "Full-text articles" not in joined  # 2009 wording
    assert "(n = 120)" in joined and "(n = 13)" in joined
    # 8 boxes without a count: identified, removed before screening, records excluded,
    # sought, not retrieved, assessed, reports excluded, reports of included studies
    assert joined.count(f"({NOT_REPORTED})") == 8
    ident = [t for t in _texts(fig) if t.startswith("Records identified")][0]
    assert NOT_REPORTED in ident and not any(ch.isdigit() for ch in ident)
    with pytest.raises(ArgumentError, match="records_screened"):
        prisma({"records_screened": -1})


def test_prisma_shows_unconfirmed_studies_apart_never_inside_the_count():
    counts = {"studies_included_clinical": 6, "studies_included_other": 46}
    fig = prisma(counts, n_unconfirmed=2, n_study_records=6,
                 unconfirmed_studies=["Synthetic A 2001", "Synthetic B 2002"])
    texts = _texts(fig)
    included = [t for t in texts if t.startswith("Studies included in review")][0]
    assert "(n = 6)" in included and "(n = 46)" in included and "unconfirmed" not in included
    apart = [t for t in texts if t.startswith("Inclusion not confirmed")]
    assert len(apart) == 1 and "2 of the 6 study records" in apart[0]
    assert "Synthetic A 2001" in apart[0] and "Synthetic B 2002" in apart[0]
    assert "prisma-unconfirmed" in _gids(fig)
    # nothing unconfirmed: no such box
    assert "prisma-unconfirmed" not in _gids(prisma(counts, n_unconfirmed=0, n_study_records=6))


def test_report_prisma_of_the_bundled_review_marks_its_two_unconfirmed_studies(monkeypatch):
    import evidence.plots as plots
    from evidence.report import analyses_extra

    results = ev.run_review(STUDIES)
    seen = {}
    real = plots.prisma

    def spy(counts, **kw):
        seen.update(counts=dict(counts), **kw)
        return real(counts, **kw)

    monkeypatch.setattr(plots, "prisma", spy)
    analyses_extra(results)
    studies = results.frames["studies"].to_frame()
    expected = list(studies.loc[studies["inclusion"] == "unconfirmed", "label"])
    assert len(expected) == 2
    assert seen["n_unconfirmed"] == 2 and seen["n_study_records"] == len(studies)
    assert seen["unconfirmed_studies"] == expected
    assert seen["counts"]["studies_included_clinical"] == 6  # as the review reports it (S9)


# --------------------------------------------------------------------------------- matrix


def _synthetic_matrix():
    rows = []
    for inj in ("inj-a", "inj-b", "inj-c"):
        rows.append({"injury": inj, "strategy": "any", "scope": "injury", "level": "none",
                     "stance": "recommended"})
    for j, st in enumerate(("first specific strategy with a rather long name indeed",
                            "second strategy", "third")):
        rows.append({"injury": "inj-a", "strategy": st, "scope": "strategy",
                     "level": ["limited", "none", "conflicting"][j],
                     "stance": ["strongly advocated", "poor agreement", "not recommended"][j]})
    # "any" listed in the middle on purpose: the figure must still draw it apart, first
    return pd.DataFrame(rows[3:4] + rows[:3] + rows[4:])


def test_matrix_draws_two_marks_per_cell_and_a_legend():
    frame = pd.DataFrame({"injury": ["pfp", "pfp", "itbs"],
                          "strategy": ["step-rate", "hip-adduction", "step-rate"],
                          "level": ["limited", None, "none"],
                          "stance": ["recommended", "strongly advocated", "poor agreement"]})
    fig = evidence_matrix(frame)
    gids = _gids(fig)
    assert {"level-pfp-step-rate", "stance-pfp-step-rate", "stance-pfp-hip-adduction",
            "level-itbs-step-rate"} <= set(gids)
    assert "level-pfp-hip-adduction" not in gids  # missing level: nothing drawn
    legend_texts = [t.get_text() for lg in fig.legends for t in lg.get_texts()]
    assert len(legend_texts) == len(LEVEL_STYLE) + len(STANCE_STYLE)
    assert "matrix-apart-rule" not in gids  # no scope column: nothing to set apart
    with pytest.raises(ArgumentError, match="more than one row"):
        evidence_matrix(pd.concat([frame, frame]))


def test_matrix_sets_the_injury_level_column_apart_and_first():
    fig = evidence_matrix(_synthetic_matrix())
    ax = fig.axes[0]
    labels = [t.get_text().replace("\n", " ") for t in ax.get_xticklabels()]
    assert labels[0] == "any"
    ticks = list(ax.get_xticks())
    assert ticks[1] - ticks[0] > ticks[2] - ticks[1]  # a gap after the apart column
    assert "matrix-apart-rule" in _gids(fig)
    assert "matrix-apart-rule" not in _gids(evidence_matrix(_synthetic_matrix(),
                                                            scope_col=None))


def test_matrix_labels_are_legible_and_never_overlap():
    fig = evidence_matrix(_synthetic_matrix(), title="A title")
    ax = fig.axes[0]
    for t in ax.get_xticklabels():
        assert t.get_text().count("\n") <= 1 and t.get_rotation() == pytest.approx(45)
    for t in _text_artists(fig):
        assert t.get_fontsize() >= MIN_FONTSIZE - PT_TOL, t.get_text()
    # neighbouring 45-degree labels: their distance perpendicular to the text exceeds the
    # height of a two-line label block (the lines of one never run into the next)
    r = fig.canvas.get_renderer()
    ticks = ax.get_xticks()
    spacing_pt = (ax.transData.transform((ticks[2], 0))[0]
                  - ax.transData.transform((ticks[1], 0))[0]) * 72 / fig.dpi * 0.7071
    block_pt = max(t.get_window_extent(r).height for t in ax.get_yticklabels()) * 72 / fig.dpi
    assert spacing_pt > 2 * block_pt * 1.05


def test_matrix_colours_meet_wcag_aa_and_carry_a_glyph():
    for name, (fill, code) in {**LEVEL_STYLE, **STANCE_STYLE}.items():
        if name != "not reported":
            assert code, name
            assert contrast_ratio(text_color(fill), fill) >= WCAG_AA, name
    codes = [c for _, c in LEVEL_STYLE.values()] + [c for _, c in STANCE_STYLE.values() if c]
    assert len(set(codes)) == len(codes)  # every glyph names one value
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21)


def test_matrix_of_the_bundled_review_puts_any_strategy_apart():
    results = ev.run_review(STUDIES)
    m = results.matrix.to_frame()
    fig = evidence_matrix(m, row="injury_name", col="strategy_name",
                          level_col="clinical_level", stance_col="expert_stance")
    labels = [t.get_text().replace("\n", " ") for t in fig.axes[0].get_xticklabels()]
    any_names = set(m.loc[m["scope"] == "injury", "strategy_name"])
    assert len(any_names) == 1 and labels[0] in any_names
    assert "matrix-apart-rule" in _gids(fig)
