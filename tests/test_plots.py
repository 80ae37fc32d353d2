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


# PRISMA and evidence-matrix tests: tests/test_matrix_prisma.py


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


# -- print standard (issue 10): sizes, labels, axes, weights, contrast, figures per analysis

MAX_WIDTH_IN = 180 / 25.4  # an A4 page's text width (180 mm), the widest a figure may print
MIN_PT = 7.0  # smallest text size at the printed size (figures print at 100%)
NATURAL_TICKS = {0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100}


@pytest.fixture(scope="module")
def bcg_review():
    import evidence as ev

    return ev.run_review(Path(__file__).parent.parent / "studies" / "bcg")


@pytest.fixture(scope="module")
def bcg_figures(bcg_review):
    from evidence.report import analyses as A

    token = A.FIGURE_FORMATS.set(("svg",))
    try:
        yield {f["id"]: f for f in _figures_of(bcg_review)}
    finally:
        A.FIGURE_FORMATS.reset(token)


def _figures_of(review):
    """analysis_figures with the drawn Figure kept (figure_entry closes only pyplot's copy)."""
    from evidence.report import analyses as A

    out = []
    orig = A.figure_entry

    def keep(fig_id, title, caption, fig):
        entry = orig(fig_id, title, caption, fig)
        entry["fig"] = fig
        return entry

    A.figure_entry = keep
    try:
        for res in review.analyses:
            out += A.analysis_figures(res)
    finally:
        A.figure_entry = orig
    return out


@pytest.fixture(scope="module")
def running_forests():
    import evidence as ev
    from evidence.report import analyses as A
    from evidence.report import synthesis as S

    review = ev.run_review(Path(__file__).parent.parent / "studies")
    kept = []
    orig = S.figure_entry

    def keep(fig_id, title, caption, fig):
        entry = orig(fig_id, title, caption, fig)
        entry["fig"] = fig
        kept.append(entry)
        return entry

    token = A.FIGURE_FORMATS.set(("svg",))
    S.figure_entry = keep
    try:
        S.synthesis_extra(review)
    finally:
        S.figure_entry = orig
        A.FIGURE_FORMATS.reset(token)
    kinds = list(S.record_frames(review).outcome_kinds.sort_values("order")["kind"])
    return review, [f for f in kept if f["id"].startswith("forest-")], kinds


def _visible_texts(fig):
    fig.canvas.draw()
    return [t for t in fig.findobj(matplotlib.text.Text) if t.get_visible() and t.get_text()]


def _all_figs(bcg_figures, running_forests):
    return [f["fig"] for f in bcg_figures.values()] + [f["fig"] for f in running_forests[1]]


def test_figures_fit_a_page_and_print_text_at_7pt_or_more(bcg_figures, running_forests):
    figs = _all_figs(bcg_figures, running_forests)
    assert len(figs) >= 5
    for fig in figs:
        w, h = fig.get_size_inches()
        assert w <= MAX_WIDTH_IN + 1e-9
        assert 0.2 < h / w < 2.5  # a sane aspect, not a 4:1 strip
        for t in _visible_texts(fig):
            assert t.get_fontsize() >= MIN_PT, (t.get_text(), t.get_fontsize())
            assert t.get_fontname() == "DejaVu Sans", t.get_text()


def test_forest_labels_wrap_at_words_and_are_never_cut(bcg):
    _, _, res, rows = bcg
    long = ("Very long study label with many words that cannot fit the label column "
            "of a page-wide forest plot at seven points")
    r = rows.copy()
    r.loc[0, "label"] = long
    fig = forest(r, res, transform="exp")
    renderer = fig.canvas.get_renderer()
    texts = _visible_texts(fig)
    shown = [t for t in texts if t.get_gid() == "forest-label"]
    joined = [" ".join(t.get_text().split("\n")) for t in shown]
    assert long in joined  # every word, in order: wrapped, not cut
    assert "\n" in shown[joined.index(long)].get_text()
    for lab in r["label"]:
        assert lab in joined
    # a label never runs into the plot: its right edge is left of the forest's axes
    ax_left = fig.axes[0].get_window_extent(renderer).x0
    fig_w = fig.bbox.width
    for t in shown:
        bb = t.get_window_extent(renderer)
        assert bb.x1 <= ax_left and bb.x0 >= 0 and bb.x1 <= fig_w


def test_log_axes_have_natural_scale_ticks_and_agreeing_labels(bcg_figures):
    forest_ax = bcg_figures["bcg-tb-rr-forest"]["fig"].axes[0]
    assert forest_ax.get_xscale() == "log"
    assert forest_ax.get_xlabel() == "Risk ratio (log scale)"
    for loc, lab in zip(forest_ax.get_xticks(), forest_ax.get_xticklabels()):
        if forest_ax.get_xlim()[0] <= loc <= forest_ax.get_xlim()[1]:
            assert float(lab.get_text()) == pytest.approx(loc) and loc in NATURAL_TICKS
    # the funnel plots log RR on a linear axis: ticks sit at log(ratio), labelled as ratios
    fax = bcg_figures["bcg-tb-rr-funnel"]["fig"].axes[0]
    assert fax.get_xlabel() == "Risk ratio (log scale)"
    fax.figure.canvas.draw()
    ticks = [(loc, t.get_text()) for loc, t in zip(fax.get_xticks(), fax.get_xticklabels())]
    assert len(ticks) >= 3
    for loc, text in ticks:
        ratio = float(text)
        assert ratio in NATURAL_TICKS
        assert np.exp(loc) == pytest.approx(ratio)  # label and position agree


def test_subgroup_weights_are_those_of_each_subgroup_fit(bcg_review, bcg_figures):
    res = bcg_review.analyses[0]
    eff = res.effects
    used = eff[eff["computable"]]
    sg = res.subgroups["alloc"]
    # the engine's within-subgroup weights are the weights of a separate fit per subgroup
    for g in sg.groups["group"]:
        m = (used["alloc"] == g).to_numpy()
        fit = meta(used["yi"].to_numpy()[m], used["vi"].to_numpy()[m], method=res.spec.method)
        np.testing.assert_allclose(np.asarray(sg.study_weights)[m], 100 * fit.weights,
                                   rtol=1e-10)  # same formula, float rounding only
    # the figure shows them: per subgroup, study weights as printed add to its subtotal
    fig = bcg_figures["bcg-tb-rr-forest-alloc"]["fig"]
    texts = [t.get_text() for t in _visible_texts(fig)]
    pct = [t for t in texts if t.endswith("%") and t[:-1].replace(".", "").isdigit()]
    printed = [float(t[:-1]) for t in pct]
    expected = []
    for g in sg.groups["group"]:
        m = (used["alloc"] == g).to_numpy()
        expected += [round(w, 1) for w in np.asarray(sg.study_weights)[m]] + [100.0]
    assert printed == pytest.approx(expected, abs=0.051)  # printed with one decimal
    # human labels, not the characteristic's code
    assert any(t.startswith("Method of treatment allocation: random") for t in texts)
    assert not any(t.startswith("by alloc") or t == "alloc" for t in texts)
    assert "Forest plot by method of treatment allocation" == \
        bcg_figures["bcg-tb-rr-forest-alloc"]["title"]
    assert any(t.startswith("Test for subgroup differences") for t in texts)
    assert sum(t.startswith("Heterogeneity") for t in texts) == 3


def _luminance(rgb) -> float:
    def ch(c):
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (ch(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_favours_labels_come_from_the_spec_in_dark_text(bcg_review, bcg_figures):
    from matplotlib.colors import to_rgb

    fav = bcg_review.analyses[0].spec.favours
    fig = bcg_figures["bcg-tb-rr-forest"]["fig"]
    labels = [t for t in _visible_texts(fig) if t.get_gid() == "favours-label"]
    assert len(labels) == 2
    assert fav[0] in labels[0].get_text() and fav[1] in labels[1].get_text()
    for t in _visible_texts(fig):
        contrast = (1.0 + 0.05) / (_luminance(to_rgb(t.get_color())) + 0.05)
        assert contrast >= 4.5, (t.get_text(), t.get_color())  # WCAG AA, on white


def test_bubble_plot_for_the_one_moderator_metaregression(bcg_review, bcg_figures):
    res = bcg_review.analyses[0]
    assert "bcg-tb-rr-bubble-ablat" in bcg_figures
    ax = bcg_figures["bcg-tb-rr-bubble-ablat"]["fig"].axes[0]
    bubbles = [c for c in ax.collections if c.get_gid() == "bubbles"][0]
    mr = res.metaregs[0]
    assert len(bubbles.get_offsets()) == mr.k
    sizes = bubbles.get_sizes()
    np.testing.assert_allclose(sizes / sizes.max(), mr.weights / mr.weights.max())
    line = [ln for ln in ax.lines if ln.get_gid() == "metareg-line"][0]
    b = mr.coefficients["estimate"]
    x, y = line.get_xdata(), line.get_ydata()
    np.testing.assert_allclose(y, b["intrcpt"] + b["ablat"] * x)
    # the two-moderator model has no bubble plot (one moderator per plot)
    assert not any(k.startswith("bcg-tb-rr-bubble-year") for k in bcg_figures)


def test_running_review_forests_one_outcome_kind_each_with_an_estimate(running_forests):
    review, forests, kinds = running_forests
    assert forests
    seen_kinds, row_sets = [], []
    for f in forests:
        kind = f["id"].rsplit("-", 1)[1]
        assert kind in kinds
        seen_kinds.append(kinds.index(kind))
        fig = f["fig"]
        squares = [c for c in fig.axes[0].collections if c.get_gid() == "study-squares"]
        assert squares and len(squares[0].get_offsets()) >= 1  # never a plot without estimate
        labels = [t.get_text() for t in _visible_texts(fig) if t.get_gid() == "forest-label"]
        row_sets.append(tuple(labels))
        for t in _visible_texts(fig):
            if t.get_gid() == "forest-label":
                assert t.get_fontweight() in ("normal", 400)  # study rows are not bold
        assert not any("wk6" in x or "baseline" in x.split("(")[-1] for x in labels)
    assert seen_kinds == sorted(seen_kinds)  # the review's order: the lead kind first
    assert len(set(zip(seen_kinds, row_sets))) == len(forests)  # no duplicate plots
    # every kind with a computable, confirmed effect has its panel; others have none
    eff = review.effects.to_frame()
    with_est = set(eff.loc[eff["computable"].astype(bool) & (eff["inclusion"] == "confirmed"),
                           "outcome_kind"]) & set(kinds)
    assert {kinds[i] for i in seen_kinds} == with_est


def test_record_text_with_dollars_is_drawn_literally(bcg):
    _, _, res, rows = bcg
    label = r"$\frac{1948}{2}$ cost"
    r = rows.copy()
    r.loc[0, "label"] = label
    fig = forest(r, res, transform="exp", title=label, favours=(label, "other $x$"))
    shown = [t for t in _visible_texts(fig) if "$" in t.get_text()]
    assert len(shown) >= 4  # label, title, both favours texts
    for t in shown:
        assert not t.get_parse_math(), t.get_text()
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        svg = to_svg_string(fig)
    assert r"$\frac{1948}{2}$ cost" in svg
    from evidence.plots import bubble  # noqa: F401  (exported)


def test_exported_png_holds_what_is_drawn_outside_the_figure_canvas():
    """The evidence matrix puts its row labels and legends outside its own canvas; the PNG
    of one export call must hold them (the same bounding box as SVG and PDF, ink up to the
    padding on every side), not a crop of the on-canvas pixels."""
    from PIL import Image

    from evidence.plots.export import PAD_INCHES, PNG_DPI, export

    frame = pd.DataFrame({"injury": ["a very long injury name on the left"] * 2,
                          "strategy": ["a long strategy label", "another long strategy label"],
                          "level": ["limited", "none"], "stance": ["recommended", None]})
    files = export(evidence_matrix(frame), ("png", "svg"))
    image = np.asarray(Image.open(io.BytesIO(files["png"])).convert("L")) < 250
    rows, cols = np.nonzero(image)
    height, width = image.shape
    margins = (cols.min(), width - 1 - cols.max(), rows.min(), height - 1 - rows.max())
    # ink reaches the padding on each side (a few pixels of slack for text extents)
    assert max(margins) <= PAD_INCHES * PNG_DPI + 12, margins
    svg_width = float(files["svg"].split(b'width="', 1)[1].split(b"pt", 1)[0])
    assert abs(width - svg_width / 72 * PNG_DPI) <= 2
