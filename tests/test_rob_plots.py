"""Risk-of-bias figures: traffic light, summary bars and the forest plot's RoB columns.

Plot tests inspect artists and text, never pixels. Data: robvis's example RoB 2 assessment
``data_rob2`` (9 studies, domains D1-D5 and Overall; robvis data_raw/data_rob2.csv, retyped
below), and clearly synthetic ROBINS-I judgements drawn from a seeded generator. The forest
rows are the 13 BCG trials of tests/reference/datasets.json (metadat dat.bcg).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

from evidence.errors import ArgumentError
from evidence.plots import forest, rob_summary, save, to_svg_string, traffic_light
from evidence.plots.matrix import contrast_ratio
from evidence.plots.rob import NOT_ASSESSED, ROB_SCALES, ROB_STYLE

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

#: robvis data_rob2: Study, D1, D2, D3, D4, D5, Overall.
DATA_ROB2 = """\
Study 1,Low,Low,Low,Low,Low,Low
Study 2,Some concerns,Low,Low,Low,Low,Some concerns
Study 3,No information,Low,Some concerns,Low,Low,Some concerns
Study 4,Low,Low,High,Low,Some concerns,High
Study 5,High,High,Low,Low,Some concerns,High
Study 6,Low,High,Some concerns,Low,Low,High
Study 7,Low,Some concerns,Some concerns,High,Low,High
Study 8,Low,Some concerns,Low,Low,Low,Some concerns
Study 9,Low,Low,High,Low,Low,High"""
DOMAINS = ["D1", "D2", "D3", "D4", "D5", "Overall"]
NAMES = {"D1": "bias arising from the randomisation process",
         "D2": "bias due to deviations from intended interventions",
         "D3": "bias due to missing outcome data",
         "D4": "bias in measurement of the outcome",
         "D5": "bias in selection of the reported result"}
GLYPHS = {"+", "\u2212", "\u00d7", "!", "?", "NA"}

BCG = json.loads((Path(__file__).parent / "reference" / "datasets.json").read_text()
                 )["datasets"]["bcg"]


def _long(text: str = DATA_ROB2, labels=None) -> pd.DataFrame:
    recs = []
    for k, line in enumerate(text.splitlines()):
        study, *values = line.split(",")
        if labels is not None:
            study = labels[k]
        recs += [{"study": study, "domain": d, "judgement": v} for d, v in zip(DOMAINS, values)]
    return pd.DataFrame(recs)


@pytest.fixture(scope="module")
def rob2() -> pd.DataFrame:
    return _long()


def _synthetic(n: int, seed: int = 14) -> pd.DataFrame:
    """Clearly synthetic ROBINS-I judgements: n studies x 7 domains + overall."""
    rng = np.random.default_rng(seed)
    scale = ROB_SCALES["robins-i"]
    recs = []
    for i in range(n):
        study = f"Synthetic study {i + 1}" + (" with a long label that has to wrap" * (i % 9 == 0))
        for d, v in enumerate(rng.choice(scale, size=7)):
            recs.append({"study": study, "domain": f"domain {d + 1}", "judgement": v})
        recs.append({"study": study, "domain": "Overall", "judgement": "serious"})
    return pd.DataFrame(recs)


def _gid_artists(fig, pattern):
    import re

    rx = re.compile(pattern)
    return [a for a in fig.findobj() if a.get_gid() and rx.fullmatch(a.get_gid())]


def _texts(fig, gid):
    return [a.get_text() for a in fig.findobj(matplotlib.text.Text) if a.get_gid() == gid]


def _hex(color) -> str:
    return matplotlib.colors.to_hex(color)


# -- traffic light -----------------------------------------------------------------------------

def test_traffic_light_draws_one_glyph_and_circle_per_study_and_domain(rob2):
    fig = traffic_light(rob2, domain_labels=NAMES)
    glyphs = _gid_artists(fig, r"rob-\d+-\d+-glyph")
    cells = _gid_artists(fig, r"rob-\d+-\d+-cell")
    assert len(glyphs) == len(cells) == 9 * 6 == len(rob2)
    assert all(g.get_text() in GLYPHS for g in glyphs)
    assert _texts(fig, "rob-study") == [f"Study {i}" for i in range(1, 10)]
    assert _texts(fig, "rob-header") == ["Study", "D1", "D2", "D3", "D4", "D5", "Overall"]


def test_traffic_light_colours_and_glyphs_follow_each_judgement(rob2):
    fig = traffic_light(rob2)
    by_gid = {a.get_gid(): a for a in fig.findobj() if a.get_gid()}
    expected = [line.split(",")[1:] for line in DATA_ROB2.splitlines()]
    for i, values in enumerate(expected):
        for j, value in enumerate(values):
            colour, glyph = ROB_STYLE[value.lower()]
            assert _hex(by_gid[f"rob-{i}-{j}-cell"].get_facecolor()) == colour
            assert by_gid[f"rob-{i}-{j}-glyph"].get_text() == glyph
    # Study 7's judgements, read straight from the figure
    assert [by_gid[f"rob-6-{j}-glyph"].get_text() for j in range(6)] == \
        ["+", "\u2212", "\u2212", "\u00d7", "+", "\u00d7"]


def test_palette_is_lightness_ordered_and_glyph_ink_contrasts():
    for tool, scale in ROB_SCALES.items():
        graded = [s for s in scale if s != "no information"]
        lum = [matplotlib.colors.to_rgb(ROB_STYLE[s][0]) for s in graded]
        grey = [0.2126 * r + 0.7152 * g + 0.0722 * b for r, g, b in lum]
        assert grey == sorted(grey, reverse=True), tool  # darker = more risk, in greyscale too
        assert len({ROB_STYLE[s][1] for s in scale}) == len(scale)  # one glyph per judgement
    for colour, _ in ROB_STYLE.values():
        assert max(contrast_ratio(colour, "#ffffff"), contrast_ratio(colour, "#222222")) >= 4.5


def test_traffic_light_caption_and_key(rob2):
    fig = traffic_light(rob2, domain_labels=NAMES, title="RoB 2")
    assert _texts(fig, "rob-caption") == [
        "D1: Bias arising from the randomisation process",
        "D2: Bias due to deviations from intended interventions",
        "D3: Bias due to missing outcome data",
        "D4: Bias in measurement of the outcome",
        "D5: Bias in selection of the reported result"]
    assert _texts(fig, "rob-key-label") == ["Low", "Some concerns", "High", "No information"]
    assert [_hex(a.get_facecolor()) for a in _gid_artists(fig, "rob-key-cell")] == \
        [ROB_STYLE[s][0] for s in ROB_SCALES["rob2"]]
    assert _texts(fig, "rob-title") == ["RoB 2"]
    assert len(_gid_artists(fig, "rob-overall-band")) == 1


def test_traffic_light_orders_domains_and_puts_overall_last(rob2):
    shuffled = rob2.sample(frac=1.0, random_state=3)
    order = ["D5", "D4", "D3", "D2", "D1"]
    fig = traffic_light(shuffled, domains=order, domain_labels=NAMES)
    caption = _texts(fig, "rob-caption")
    assert [c.split(": ")[1] for c in caption] == [NAMES[d][:1].upper() + NAMES[d][1:]
                                                   for d in order]
    assert _texts(fig, "rob-header")[-1] == "Overall"
    # a domain without a name of its own gets no caption line
    assert _texts(traffic_light(rob2), "rob-caption") == []


def test_not_assessed_is_an_empty_cell_with_its_own_glyph(rob2):
    partial = rob2[~((rob2["study"] == "Study 2") & (rob2["domain"] == "D3"))].copy()
    partial.loc[(partial["study"] == "Study 4") & (partial["domain"] == "D1"),
                "judgement"] = "Not assessed"
    fig = traffic_light(partial)
    by_gid = {a.get_gid(): a for a in fig.findobj() if a.get_gid()}
    for i, j in ((1, 2), (3, 0)):
        assert by_gid[f"rob-{i}-{j}-glyph"].get_text() == "NA"
        assert _hex(by_gid[f"rob-{i}-{j}-cell"].get_facecolor()) == "#ffffff"
    judgement_colours = {c for c, _ in ROB_STYLE.values()}
    assert "#ffffff" not in judgement_colours
    assert _texts(fig, "rob-key-label")[-1] == "Not assessed"


def test_robins_i_scale_and_forty_studies_fit_the_page():
    frame = _synthetic(40)
    fig = traffic_light(frame, tool="robins-i")
    assert len(_gid_artists(fig, r"rob-\d+-\d+-glyph")) == 40 * 8
    w, h = fig.get_size_inches()
    assert w <= 7.0 + 1e-9 and h > 40 * 0.26
    fig.canvas.draw()
    for t in fig.findobj(matplotlib.text.Text):
        if t.get_visible() and t.get_text():
            assert t.get_fontsize() >= 7.0 and t.get_fontname() == "DejaVu Sans"
    labels = _texts(fig, "rob-study")
    assert any("\n" in s for s in labels)  # long labels wrap
    assert [s.replace("\n", " ") for s in labels] == list(pd.unique(frame["study"]))
    assert _texts(fig, "rob-key-label") == ["Low", "Moderate", "Serious", "Critical",
                                            "No information"]
    one = traffic_light(frame[frame["study"] == "Synthetic study 2"], tool="robins-i-v2")
    assert len(_gid_artists(one, r"rob-\d+-\d+-glyph")) == 8


def test_traffic_light_rejects_bad_input(rob2):
    bad = rob2.copy()
    bad.loc[(bad["study"] == "Study 5") & (bad["domain"] == "D2"), "judgement"] = "moderate"
    with pytest.raises(ArgumentError, match=r"'Study 5'.*'D2'.*'moderate'.*tool 'rob2'"):
        traffic_light(bad)  # a ROBINS-I label on the RoB 2 scale
    with pytest.raises(ArgumentError, match=r"'Study 1'.*'D1'.*'Some concerns'"):
        robins = rob2.assign(judgement="low")
        robins.loc[0, "judgement"] = "Some concerns"  # a RoB 2 label on the ROBINS-I scale
        traffic_light(robins, tool="robins-i")
    with pytest.raises(ArgumentError, match="tool 'rob3' is not one of rob2, robins-i"):
        traffic_light(rob2, tool="rob3")
    with pytest.raises(ArgumentError, match="missing column.*judgement"):
        traffic_light(rob2.drop(columns="judgement"))
    with pytest.raises(ArgumentError, match="more than one row for study 'Study 1', domain 'D1'"):
        traffic_light(pd.concat([rob2, rob2.head(1)]))
    with pytest.raises(ArgumentError, match="empty"):
        traffic_light(rob2.head(0))


def test_traffic_light_svg_is_deterministic(rob2):
    a = to_svg_string(traffic_light(rob2, domain_labels=NAMES, title="RoB 2"))
    b = to_svg_string(traffic_light(rob2, domain_labels=NAMES, title="RoB 2"))
    assert a == b and a.startswith("<svg")


# -- summary plot ------------------------------------------------------------------------------

def _shares(frame: pd.DataFrame, weights=None) -> pd.DataFrame:
    """Shares per domain as the caller computes them (here: counts or weight sums)."""
    w = pd.Series(1.0 if weights is None else weights, index=frame["study"].unique())
    f = frame.assign(w=frame["study"].map(w), judgement=frame["judgement"].str.lower())
    table = f.pivot_table(index="domain", columns="judgement", values="w", aggfunc="sum",
                          fill_value=0.0).reindex(DOMAINS)
    return table.div(table.sum(axis=1), axis=0)


def test_summary_bar_widths_are_the_shares(rob2):
    shares = _shares(rob2)
    fig = rob_summary(shares, domain_labels=NAMES, weighted=False)
    for i, domain in enumerate(DOMAINS):
        for label in ROB_SCALES["rob2"]:
            bars = _gid_artists(fig, f"rob-bar-{i}-{label.replace(' ', '-')}")
            share = float(shares.loc[domain].get(label, 0.0))
            if share == 0:
                assert bars == []
            else:
                assert len(bars) == 1
                assert bars[0].get_width() == pytest.approx(share, abs=1e-12)
                assert _hex(bars[0].get_facecolor()) == ROB_STYLE[label][0]
    # D1 of data_rob2: 6 low, 1 some concerns, 1 high, 1 no information; from low, left
    d1 = sorted(_gid_artists(fig, r"rob-bar-0-.*"), key=lambda r: r.get_x())
    assert [r.get_gid() for r in d1] == ["rob-bar-0-low", "rob-bar-0-some-concerns",
                                         "rob-bar-0-high", "rob-bar-0-no-information"]
    assert [r.get_width() for r in d1] == pytest.approx([6 / 9, 1 / 9, 1 / 9, 1 / 9])
    bar_labels = _texts(fig, "rob-bar-label")
    assert bar_labels[0] == "+ 67%"  # glyph and percentage where both fit, else one of them
    assert bar_labels[1:4] and all(t in {"11%", "\u2212 11%", "\u00d7 11%", "? 11%", "\u2212",
                                         "\u00d7", "?"} for t in bar_labels[1:4])
    assert fig.axes[0].get_xlabel() == "Proportion of studies"
    assert _texts(fig, "rob-summary-label")[-1] == "Overall"
    assert _texts(fig, "rob-key-label") == ["Low", "Some concerns", "High", "No information"]


def test_summary_weighted_axis_label_and_determinism(rob2):
    weights = np.arange(1, 10, dtype=float)
    shares = _shares(rob2, weights / weights.sum())
    fig = rob_summary(shares, title="Weighted")
    assert fig.axes[0].get_xlabel() == "Proportion of studies (weighted by the pooled model)"
    assert to_svg_string(rob_summary(shares, title="Weighted")) == to_svg_string(fig)
    w, _ = fig.get_size_inches()
    assert w <= 7.0


def test_summary_rejects_rows_not_summing_to_one(rob2):
    shares = _shares(rob2)
    shares.loc["D3", "low"] += 1e-6
    with pytest.raises(ArgumentError, match="domain 'D3' sum to 1.000001"):
        rob_summary(shares)
    ok = _shares(rob2)
    ok.loc["D3", "low"] += 1e-12  # rounding of fractions is tolerated
    rob_summary(ok)
    with pytest.raises(ArgumentError, match="column 'serious' is not a judgement of tool 'rob2'"):
        rob_summary(_shares(rob2).rename(columns={"high": "serious"}))
    with pytest.raises(ArgumentError, match="domain 'D1' must be numbers >= 0"):
        rob_summary(pd.DataFrame({"low": [1.5], "high": [-0.5]}, index=["D1"]))


# -- forest plot columns -----------------------------------------------------------------------

def _bcg_rows():
    """BCG rows with values rounded to 4 decimals (so the pinned SVG does not hang on the last
    bits of a fit) and a fixed pooled result (numbers of metafor's REML fit, rounded)."""
    yi, vi = np.round(np.array(BCG["yi"]), 4), np.round(np.array(BCG["vi"]), 4)
    se = np.sqrt(vi)
    w = 100 * (1 / vi) / (1 / vi).sum()
    rows = pd.DataFrame({"label": BCG["labels"], "yi": yi,
                         "ci_low": np.round(yi - 1.96 * se, 4),
                         "ci_high": np.round(yi + 1.96 * se, 4), "weight": np.round(w, 2)})
    pooled = {"estimate": -0.71, "ci_low": -1.07, "ci_high": -0.36, "pi_low": -1.86,
              "pi_high": 0.44, "tau2": 0.31, "i2": 92.2, "q": 152.23, "q_df": 12,
              "q_pvalue": 1e-20, "k": 13, "method": "REML", "stat": -3.97, "pvalue": 7e-5}
    return rows, pooled


def _bcg_rob(rows):
    """data_rob2's nine assessments given to the first nine BCG trials (as robvis's own
    forest example does); the other four trials have none."""
    return _long(labels=list(rows["label"][:9]))


#: SHA-256 of to_svg_string() of the two forests below, drawn at commit 7a18102 (before the
#: RoB columns existed) with matplotlib 3.11.2.
PINNED_FOREST_SVG = (
    "70e7de8846670a955f135873dda6c67400e00ac3af3d43ef99de5b7980b7a02f",
    "801fb121fa7dcf6b81d66d0b666f6e1895b2ae3e52b4bbf7205428efe4e692a7",
)


def _two_forests(**kw):
    rows, pooled = _bcg_rows()
    return (forest(rows, pooled, measure="Risk ratio", transform="exp",
                   favours=("vaccine", "control"), **kw),
            forest(rows.iloc[:6], measure="Log RR", title="Six trials",
                   weights_note="Inverse-variance weights", **kw))


def test_forest_without_rob_is_byte_identical_to_before():
    plain = [to_svg_string(f) for f in _two_forests()]
    assert [to_svg_string(f) for f in _two_forests(rob=None, rob_domains=None)] == plain
    if matplotlib.__version__ != "3.11.2":
        pytest.skip("pinned SVG hashes were drawn with matplotlib 3.11.2")
    assert tuple(hashlib.sha256(s.encode()).hexdigest() for s in plain) == PINNED_FOREST_SVG


def test_forest_with_rob_adds_one_cell_per_assessed_study_and_domain():
    rows, pooled = _bcg_rows()
    rob = _bcg_rob(rows)
    plain = forest(rows, pooled, measure="Risk ratio", transform="exp")
    fig = forest(rows, pooled, measure="Risk ratio", transform="exp", rob=rob,
                 rob_domains=NAMES)
    glyphs = _gid_artists(fig, r"rob-\d+-\d+-glyph")
    assert len(glyphs) == 9 * 6
    assert _texts(fig, "rob-header") == ["D1", "D2", "D3", "D4", "D5", "Overall"]
    assert _texts(fig, "rob-caption")[0] == "D1: Bias arising from the randomisation process"
    assert _texts(fig, "rob-key-label") == ["Low", "Some concerns", "High", "No information"]
    by_gid = {a.get_gid(): a for a in fig.findobj() if a.get_gid()}
    # row 4 (Frimodt-Moller, data_rob2's Study 5): high, high, low, low, some concerns, high
    assert [by_gid[f"rob-4-{j}-glyph"].get_text() for j in range(6)] == \
        ["\u00d7", "\u00d7", "+", "+", "\u2212", "\u00d7"]
    # the columns sit right of the weights, on the same rows as the labels
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    weights_right = max(t.get_window_extent(renderer).x1 for t in fig.texts
                        if t.get_text().endswith("%"))
    assert min(by_gid[f"rob-{i}-0-cell"].get_window_extent(renderer).x0
               for i in range(9)) > weights_right
    labels = {t.get_text(): t for t in fig.texts if t.get_gid() == "forest-label"}
    y_label = labels[rows["label"][4]].get_window_extent(renderer)
    y_cell = by_gid["rob-4-0-cell"].get_window_extent(renderer)
    assert abs((y_label.y0 + y_label.y1) / 2 - (y_cell.y0 + y_cell.y1) / 2) < 3  # pixels
    assert fig.get_figwidth() == pytest.approx(plain.get_figwidth(), abs=0.01)
    assert fig.get_figheight() > plain.get_figheight()  # the key under the axis
    assert to_svg_string(fig) == to_svg_string(
        forest(rows, pooled, measure="Risk ratio", transform="exp", rob=rob, rob_domains=NAMES))


def test_forest_rob_marks_a_missing_domain_and_checks_labels():
    rows, pooled = _bcg_rows()
    rob = _bcg_rob(rows)
    rob = rob[~((rob["study"] == rows["label"][0]) & (rob["domain"] == "D2"))]
    fig = forest(rows, pooled, rob=rob, rob_domains=list(NAMES))
    by_gid = {a.get_gid(): a for a in fig.findobj() if a.get_gid()}
    assert by_gid["rob-0-1-glyph"].get_text() == "NA"
    assert _texts(fig, "rob-key-label")[-1] == "Not assessed"
    bad = _bcg_rob(rows).replace({"High": "Serious"})
    with pytest.raises(ArgumentError, match="judgement 'Serious'"):
        forest(rows, pooled, rob=bad)
    robins = _bcg_rob(rows).replace({"Some concerns": "moderate", "High": "critical"})
    fig = forest(rows, pooled, rob=robins, rob_tool="robins-i")
    assert len(_gid_artists(fig, r"rob-\d+-\d+-glyph")) == 54


def test_pngs_for_a_person_to_look_at(tmp_path, rob2):
    """The four figures save as PNG (the brief's visual check writes them to /tmp/robplots)."""
    rows, pooled = _bcg_rows()
    figs = {"traffic_light_9": traffic_light(rob2, domain_labels=NAMES),
            "traffic_light_40": traffic_light(_synthetic(40), tool="robins-i"),
            "summary": rob_summary(_shares(rob2), domain_labels=NAMES),
            "forest_rob": forest(rows, pooled, transform="exp", rob=_bcg_rob(rows),
                                 rob_domains=NAMES)}
    for name, fig in figs.items():
        save(fig, tmp_path / f"{name}.png")
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_rob_figure_fits_the_page_in_dejavu_at_7pt_or_more(rob2):
    rows, pooled = _bcg_rows()
    figs = [traffic_light(rob2, domain_labels=NAMES, title="A title long enough " * 6),
            rob_summary(_shares(rob2), domain_labels=NAMES, title="Summary"),
            forest(rows, pooled, rob=_bcg_rob(rows), rob_domains=NAMES,
                   not_poolable={"Unpooled trial": "no SD"})]
    for fig in figs:
        assert fig.get_figwidth() <= 7.0 + 1e-9
        fig.canvas.draw()
        for t in fig.findobj(matplotlib.text.Text):
            if t.get_visible() and t.get_text():
                assert t.get_fontsize() >= 7.0, t.get_text()
                assert t.get_fontname() == "DejaVu Sans", t.get_text()
    assert any("\n" in t for t in _texts(figs[0], "rob-title"))  # a long title wraps


def test_forest_not_poolable_rows_get_their_rob_cells():
    rows, pooled = _bcg_rows()
    rob = pd.concat([_bcg_rob(rows), pd.DataFrame({"study": ["Unpooled trial"] * 2,
                                                   "domain": ["D1", "Overall"],
                                                   "judgement": ["high", "high"]})])
    fig = forest(rows, pooled, rob=rob, not_poolable={"Unpooled trial": "no SD reported"})
    by_gid = {a.get_gid(): a for a in fig.findobj() if a.get_gid()}
    # the tenth assessed row is the study that could not be pooled: D1 high, D2-D5 missing
    assert [by_gid[f"rob-9-{j}-glyph"].get_text() for j in range(6)] == \
        ["\u00d7", "NA", "NA", "NA", "NA", "\u00d7"]
