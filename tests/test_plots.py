"""Figures: they build from the BCG data, show what they are given, and save deterministically.

Plot tests are kept apart from numeric tests: they inspect artists and text, never pixels.
Data: the 13 BCG trials (metadat dat.bcg) as stored in tests/reference/datasets.json; the
pooled result comes from evidence.meta.meta (checked against metafor in test_meta_fit.py).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

from evidence.errors import ArgumentError
from evidence.meta import meta
from evidence.meta.subgroup import subgroup
from evidence.plots import (NOT_REPORTED, evidence_matrix, forest, funnel, prisma, save,
                            to_svg_string)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

DATA = json.loads((Path(__file__).parent / "reference" / "datasets.json").read_text())
BCG = DATA["datasets"]["bcg"]
Z975 = 1.959963984540054  # standard normal 97.5% quantile, for the study CIs of the rows


@pytest.fixture(scope="module")
def bcg():
    yi, vi = np.array(BCG["yi"]), np.array(BCG["vi"])
    res = meta(yi, vi, method="REML")
    se = np.sqrt(vi)
    rows = pd.DataFrame({"label": BCG["labels"], "yi": yi, "ci_low": yi - Z975 * se,
                         "ci_high": yi + Z975 * se, "weight": 100 * res.weights,
                         "group": BCG["groups"]["alloc"]})
    return yi, vi, res, rows


def _texts(fig) -> list[str]:
    """Every text the figure shows: texts, tick labels (as formatted at draw), legends."""
    fig.canvas.draw()
    out = [t.get_text() for t in fig.findobj(matplotlib.text.Text) if t.get_visible()]
    return [t for t in out if t]


def _gids(fig) -> list[str]:
    return [a.get_gid() for a in fig.findobj() if a.get_gid()]


def test_forest_has_thirteen_study_rows_diamond_and_prediction_interval(bcg):
    yi, vi, res, rows = bcg
    fig = forest(rows, res, measure="Risk ratio", transform="exp")
    ax = fig.axes[0]
    squares = [c for c in ax.collections if c.get_gid() == "study-squares"]
    assert len(squares) == 1
    offsets = np.ma.compress_rows(np.ma.asarray(squares[0].get_offsets()))
    assert len(offsets) == 13
    # squares sized by weight: the largest weight has the largest square
    sizes = squares[0].get_sizes()
    assert len(np.unique(sizes)) > 1
    diamonds = [p for p in ax.patches if p.get_gid() == "pooled-diamond"]
    assert len(diamonds) == 1
    xs = diamonds[0].get_xy()[:, 0]
    np.testing.assert_allclose([xs.min(), xs.max()], np.exp([res.ci_low, res.ci_high]))
    pi = [ln for ln in ax.lines if ln.get_gid() == "prediction-interval"]
    assert len(pi) == 1
    np.testing.assert_allclose(sorted(pi[0].get_xdata()), np.exp([res.pi_low, res.pi_high]))
    assert ax.get_xscale() == "log"
    texts = _texts(fig)
    for label in BCG["labels"]:
        assert any(t.startswith(label) for t in texts), label
    assert any("Heterogeneity" in t and "I\u00b2 = 92.2%" in t for t in texts)
    assert "null-line" in _gids(fig)
    # back-transformed tick labels (ratio units, not logs)
    assert {"0.5", "1"} <= {t.get_text() for t in ax.get_xticklabels()}


def test_forest_not_poolable_rows_show_their_reason(bcg):
    _, _, res, rows = bcg
    npool = pd.DataFrame({"label": ["Study without SD", "Study without counts"],
                          "reason": ["no SD reported", "not poolable: no counts reported"]})
    fig = forest(rows, res, transform="exp", not_poolable=npool)
    texts = _texts(fig)
    assert "Study without SD" in texts and "Study without counts" in texts
    reasons = [t.get_text() for t in fig.findobj(matplotlib.text.Text)
               if t.get_gid() == "not-poolable-reason"]
    assert reasons == ["not poolable: no SD reported", "not poolable: no counts reported"]
    assert "not poolable: not poolable" not in " ".join(texts)
    squares = [c for c in fig.axes[0].collections if c.get_gid() == "study-squares"][0]
    assert len(np.ma.compress_rows(np.ma.asarray(squares.get_offsets()))) == 13


def test_forest_subgroups_draw_one_diamond_and_heterogeneity_line_each(bcg):
    yi, vi, res, rows = bcg
    sg = subgroup(yi, vi, rows["group"].to_numpy(), method="REML")
    fig = forest(rows, res, sg, transform="exp", extra_columns={"group": "Allocation"})
    sub = [p for p in fig.axes[0].patches if p.get_gid() == "subgroup-diamond"]
    assert len(sub) == 3
    texts = _texts(fig)
    assert sum(t.startswith("Heterogeneity") for t in texts) == 4  # 3 groups + overall
    assert any(t.startswith("Test for subgroup differences") for t in texts)


def test_forest_accepts_a_plain_namespace_and_linear_scale(bcg):
    _, _, res, rows = bcg
    pooled = {"estimate": res.estimate, "ci_low": res.ci_low, "ci_high": res.ci_high,
              "k": 13, "method": "REML"}
    fig = forest(rows.drop(columns="group"), pooled, measure="log RR")
    ax = fig.axes[0]
    assert ax.get_xscale() == "linear"
    assert not [ln for ln in ax.lines if ln.get_gid() == "prediction-interval"]


def test_forest_argument_errors(bcg):
    _, _, res, rows = bcg
    with pytest.raises(ArgumentError, match="weight"):
        forest(rows.drop(columns="weight"))
    with pytest.raises(ArgumentError, match="transform 'log'"):
        forest(rows, transform="log")
    assert fig_ok(forest(rows, transform="identity")) and fig_ok(forest(rows, transform="tanh"))


def fig_ok(fig) -> bool:
    return fig.axes[0].get_xscale() == "linear"


def test_funnel_with_contours_and_filled_studies(bcg):
    yi, vi, res, _ = bcg
    filled = pd.DataFrame({"yi": [0.3], "vi": [0.2]})
    fig = funnel(yi, vi, res, filled=filled, measure="log risk ratio")
    gids = _gids(fig)
    for g in ("studies", "filled-studies", "pooled-line", "contour-0.9", "contour-0.95",
              "contour-0.99"):
        assert g in gids
    ax = fig.axes[0]
    assert ax.get_ylim()[0] > ax.get_ylim()[1]  # SE axis runs downwards
    with pytest.raises(ArgumentError, match="contours"):
        funnel(yi, vi, contours=(1.5,))


def test_prisma_says_not_reported_for_missing_counts():
    fig = prisma({"records_identified": None, "records_screened": 120,
                  "full_texts_assessed": None, "studies_included": 13})
    texts = _texts(fig)
    joined = "\n".join(texts)
    assert joined.count(f"({NOT_REPORTED})") == 2
    assert "(n = 120)" in joined and "(n = 13)" in joined
    ident = [t for t in texts if t.startswith("Records identified")][0]
    assert NOT_REPORTED in ident and not any(ch.isdigit() for ch in ident)
    with pytest.raises(ArgumentError, match="records_screened"):
        prisma({"records_screened": -1})


def test_evidence_matrix_draws_two_marks_per_cell_and_a_legend():
    frame = pd.DataFrame({"injury": ["pfp", "pfp", "itbs"],
                          "strategy": ["step-rate", "hip-adduction", "step-rate"],
                          "level": ["limited", None, "none"],
                          "stance": ["recommended", "strongly advocated", "poor agreement"]})
    fig = evidence_matrix(frame)
    gids = _gids(fig)
    assert {"level-pfp-step-rate", "stance-pfp-step-rate", "stance-pfp-hip-adduction",
            "level-itbs-step-rate"} <= set(gids)
    assert "level-pfp-hip-adduction" not in gids  # missing level: nothing drawn
    assert len(fig.axes[0].get_legend().get_texts()) >= 5
    with pytest.raises(ArgumentError, match="more than one row"):
        evidence_matrix(pd.concat([frame, frame]))


def _render(make, fmt):
    buf = io.BytesIO()
    save(make(), buf, fmt)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["svg", "png"])
def test_saving_is_deterministic(bcg, fmt):
    _, _, res, rows = bcg

    def make():
        return forest(rows, res, measure="Risk ratio", transform="exp")

    first, second = _render(make, fmt), _render(make, fmt)
    assert first == second
    if fmt == "svg":
        assert b"<dc:date>" not in first and b"Matplotlib" not in first
    else:
        assert first.startswith(b"\x89PNG") and b"Software" not in first
    p1 = _render(lambda: prisma({"records_identified": None, "studies_included": 13}), fmt)
    p2 = _render(lambda: prisma({"records_identified": None, "studies_included": 13}), fmt)
    assert p1 == p2


def test_svg_string_is_embeddable_and_save_checks_the_format(tmp_path):
    svg = to_svg_string(prisma({"studies_included": 13}))
    assert svg.startswith("<svg") and "<?xml" not in svg and "DOCTYPE" not in svg
    save(prisma({"studies_included": 13}), tmp_path / "flow.png")
    assert (tmp_path / "flow.png").read_bytes().startswith(b"\x89PNG")
    with pytest.raises(ArgumentError, match="format 'gif'"):
        save(prisma({"studies_included": 13}), tmp_path / "flow.gif")


def test_matplotlib_renders_with_agg(bcg):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    _, _, res, rows = bcg
    assert matplotlib.get_backend().lower() == "agg"
    for fig in (forest(rows, res), prisma({}), funnel(BCG["yi"], BCG["vi"])):
        assert isinstance(fig.canvas, FigureCanvasAgg)
    import matplotlib.pyplot as plt

    assert plt.get_fignums() == []  # figures are not left open in pyplot


def test_drawing_a_forest_leaves_warning_filters_alone(bcg):
    import warnings

    _, _, res, rows = bcg
    before = list(warnings.filters)
    forest(rows, res)
    assert warnings.filters == before
