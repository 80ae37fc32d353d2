"""Risk-of-bias figures: the traffic-light plot and the summary bar plot (robvis layout).

Both figures draw the judgements and shares they are given; they compute no statistic (the
overall judgement and the shares come from :func:`evidence.rob_overall` and
:func:`evidence.rob_shares`). The same cells (a filled circle with a glyph) are drawn in the
risk-of-bias columns of :func:`evidence.plots.forest`.

Palette
-------
The judgements of a scale are coloured along one sequential yellow-orange-brown ramp
(ColorBrewer YlOrBr hues), from pale yellow for "low" to dark brown for "critical". The
colours differ in lightness step by step (WCAG relative luminance 0.78, 0.44, 0.18, 0.04), so
their order survives every form of colour-vision deficiency and greyscale printing, unlike
the green/red of a road traffic light, which red-green colour-blind readers (about 1 in 12
men) cannot tell apart. "No information" is a pale blue, off the ramp because it is no degree
of bias; "not assessed" is an empty cell with a dashed grey outline, never a judgement colour.
Every cell also carries a glyph (+, −, ×, !, ?), drawn in whichever of dark or white ink
contrasts more with its fill (at least 4.5:1), so the figure reads without any colour.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ArgumentError
from ._common import FONT, GREY, INK, TEXT_KW, is_missing, new_figure, require_frame
from .forest import _wrap
from .matrix import text_color

__all__ = ["traffic_light", "rob_summary", "ROB_STYLE", "ROB_SCALES", "ROB_TOOLS", "NOT_ASSESSED",
           "OVERALL", "SHARE_TOLERANCE"]

#: Judgement -> (fill colour, glyph). See the module notes for the choice of colours.
ROB_STYLE: dict[str, tuple[str, str]] = {
    "low": ("#fee391", "+"),
    "some concerns": ("#fe9929", "\u2212"),
    "moderate": ("#fe9929", "\u2212"),
    "high": ("#cc4c02", "\u00d7"),
    "serious": ("#cc4c02", "\u00d7"),
    "critical": ("#662506", "!"),
    "no information": ("#c6dbef", "?"),
}
#: A study or domain without an assessment: an empty cell, dashed grey outline, glyph "NA".
NOT_ASSESSED = "not assessed"
_NOT_ASSESSED_STYLE = ("#ffffff", "NA")
#: The judgement labels of each tool, in order from least to most risk of bias.
ROB_SCALES: dict[str, tuple[str, ...]] = {
    "rob2": ("low", "some concerns", "high", "no information"),
    "robins-i": ("low", "moderate", "serious", "critical", "no information"),
    "robins-i-v2": ("low", "moderate", "serious", "critical", "no information"),
}
ROB_TOOLS = tuple(ROB_SCALES)
#: The domain name of the overall judgement (matched case-insensitively).
OVERALL = "Overall"
#: How far a row of shares may be from a sum of 1 (rounding of fractions, not lost studies).
SHARE_TOLERANCE = 1e-9
_JUDGEMENT_COLUMNS = ("study", "domain", "judgement")
_MIN_PT = 7.0


# -- input checks ------------------------------------------------------------------------------

def _scale(tool: str) -> tuple[str, ...]:
    key = str(tool).strip().lower()
    if key not in ROB_SCALES:
        raise ArgumentError(f"tool {tool!r} is not one of {', '.join(ROB_TOOLS)}")
    return ROB_SCALES[key]


def _style(label: str) -> tuple[str, str]:
    return _NOT_ASSESSED_STYLE if label == NOT_ASSESSED else ROB_STYLE[label]


def _is_overall(domain: Any) -> bool:
    return str(domain).strip().lower() == OVERALL.lower()


def _judgements(judgements: Any, tool: str, name: str = "judgements") -> pd.DataFrame:
    """The frame with ``judgement`` in lower case, every label checked against the tool."""
    scale = _scale(tool)
    frame = require_frame(judgements, _JUDGEMENT_COLUMNS, name).loc[:, list(_JUDGEMENT_COLUMNS)]
    frame["study"] = frame["study"].astype(str)
    frame["domain"] = [OVERALL if _is_overall(d) else str(d) for d in frame["domain"]]
    labels = []
    allowed = (*scale, NOT_ASSESSED)
    for study, domain, value in frame.itertuples(index=False):
        label = NOT_ASSESSED if is_missing(value) else str(value).strip().lower()
        if label not in allowed:
            raise ArgumentError(f"study {study!r}, domain {domain!r}: judgement {value!r} is "
                                f"not one of {', '.join(allowed)} (tool {tool!r})")
        labels.append(label)
    frame["judgement"] = labels
    dup = frame.duplicated(["study", "domain"])
    if dup.any():
        study, domain = frame.loc[dup, ["study", "domain"]].iloc[0]
        raise ArgumentError(f"{name} has more than one row for study {study!r}, domain "
                            f"{domain!r}; give one row per study and domain")
    return frame


def _domain_order(frame: pd.DataFrame, domains: Sequence[str] | None) -> list[str]:
    """Domains in the given order (then the others as they appear), the overall one last."""
    seen = list(pd.unique(frame["domain"]))
    given = [OVERALL if _is_overall(d) else str(d) for d in (domains or [])]
    order = given + [d for d in seen if d not in given]
    return [d for d in order if d != OVERALL] + ([OVERALL] if OVERALL in order else [])


def _codes(domains: Sequence[str]) -> list[str]:
    """Column headers: D1, D2, ... and "Overall"."""
    out, n = [], 0
    for d in domains:
        if d == OVERALL:
            out.append(OVERALL)
        else:
            n += 1
            out.append(f"D{n}")
    return out


def _key_labels(scale: Sequence[str], used: set[str]) -> list[str]:
    """The judgements a key lists: the tool's graded labels, plus "no information" and
    "not assessed" when the figure shows them."""
    keep = [s for s in scale if s != "no information" or s in used]
    return keep + ([NOT_ASSESSED] if NOT_ASSESSED in used else [])


def _display(text: str) -> str:
    return text[:1].upper() + text[1:]


# -- drawing helpers shared with the forest plot ----------------------------------------------

def _text_width(text: str, size: float, weight: str = "normal") -> float:
    """Width of one line of ``text`` in inches at ``size`` points (font outline, no renderer)."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextPath

    if not text:
        return 0.0
    verts = TextPath((0, 0), text, size=size,
                     prop=FontProperties(family=FONT, weight=weight)).vertices
    return float(verts[:, 0].max()) / 72.0 if len(verts) else 0.0


def _top_down(fig):
    """Transform of figure inches measured from the top-left corner (y grows downwards)."""
    from matplotlib.transforms import Affine2D

    return Affine2D().scale(1.0, -1.0).translate(0.0, fig.get_figheight()) + fig.dpi_scale_trans


def _cell(fig, transform, x: float, y: float, radius: float, label: str, fontsize: float,
          gid: str) -> None:
    """One judgement: a circle at (x, y) (inches under ``transform``) with its glyph."""
    from matplotlib.patches import Circle

    fill, glyph = _style(label)
    empty = label == NOT_ASSESSED
    circle = Circle((x, y), radius, transform=transform, facecolor=fill,
                    edgecolor=GREY if empty else INK, linewidth=0.6,
                    linestyle=(0, (2, 1.5)) if empty else "solid")
    circle.set_gid(f"{gid}-cell")
    fig.add_artist(circle)
    art = fig.text(x, y, glyph, transform=transform, ha="center", va="center_baseline",
                   fontsize=_MIN_PT if empty else fontsize + 1.5,
                   fontweight="normal" if empty else "bold",
                   color=GREY if empty else text_color(fill), **TEXT_KW)
    art.set_gid(f"{gid}-glyph")


def _key_layout(labels: Sequence[str], width: float, fontsize: float, radius: float
                ) -> list[list[tuple[float, str]]]:
    """The key's entries flowed over lines no wider than ``width``: [(x offset, label)]."""
    lines: list[list[tuple[float, str]]] = [[]]
    x = 0.0
    for label in labels:
        w = 2 * radius + 0.06 + _text_width(_display(label), fontsize)
        if lines[-1] and x + w > width:
            lines.append([])
            x = 0.0
        lines[-1].append((x, label))
        x += w + 0.2
    return lines


def _caption_lines(domains: Sequence[str], codes: Sequence[str],
                   domain_labels: Mapping[str, str] | None, width: float,
                   fontsize: float) -> list[str]:
    """"D1: Name" lines for the domains (wrapped, never cut); none for a domain named "D1"."""
    labels = dict(domain_labels or {})
    named = [(c, _display(str(labels.get(d, d)))) for d, c in zip(domains, codes)
             if d != OVERALL]
    out = []
    for c, name in named:
        if name != c:  # a domain called by its code needs no line
            out += _wrap(f"{c}: {name}", width, fontsize, _text_width)
    return out


def _footer_height(caption: Sequence[str], key: Sequence[Sequence], fontsize: float,
                   radius: float) -> float:
    line_h = fontsize * 1.3 / 72.0
    key_h = max(line_h, 2 * radius + 0.06)
    return (line_h * (len(caption) + 1.4) if caption else 0.0) + line_h * 1.2 + key_h * len(key)


def _draw_footer(fig, transform, x0: float, y0: float, caption: Sequence[str],
                 key: Sequence[Sequence[tuple[float, str]]], fontsize: float, radius: float
                 ) -> None:
    """The domain names and the judgement key, from (x0, y0) downwards (inches)."""
    line_h = fontsize * 1.3 / 72.0
    y = y0
    if caption:
        fig.text(x0, y, "Domains", transform=transform, ha="left", va="top", fontsize=fontsize,
                 fontweight="bold", color=INK, **TEXT_KW).set_gid("rob-caption-title")
        y += line_h
        for line in caption:
            fig.text(x0, y, line, transform=transform, ha="left", va="top", fontsize=fontsize,
                     color=INK, **TEXT_KW).set_gid("rob-caption")
            y += line_h
        y += line_h * 0.4
    fig.text(x0, y, "Judgement", transform=transform, ha="left", va="top", fontsize=fontsize,
             fontweight="bold", color=INK, **TEXT_KW).set_gid("rob-key-title")
    y += line_h * 1.2
    key_h = max(line_h, 2 * radius + 0.06)
    for line in key:
        yc = y + key_h / 2
        for dx, label in line:
            _cell(fig, transform, x0 + dx + radius, yc, radius, label, fontsize, "rob-key")
            fig.text(x0 + dx + 2 * radius + 0.06, yc, _display(label), transform=transform,
                     ha="left", va="center", fontsize=fontsize, color=INK,
                     **TEXT_KW).set_gid("rob-key-label")
        y += key_h


class _RobColumns:
    """Risk-of-bias cells beside the rows of another figure (the forest plot's columns)."""

    col_w = 0.24  # inches per domain column
    apart = 0.06  # extra gap before the overall column
    radius = 0.08

    def __init__(self, rob: pd.DataFrame, tool: str,
                 domains: Sequence[str] | Mapping[str, str] | None, fontsize: float):
        self.frame = _judgements(rob, tool, "rob")
        self.scale = _scale(tool)
        labels = dict(domains) if isinstance(domains, Mapping) else None
        self.domains = _domain_order(self.frame, list(domains) if domains is not None else None)
        self.codes = _codes(self.domains)
        self.labels = labels
        self.cells = {(s, d): j for s, d, j in self.frame.itertuples(index=False)}
        self.studies = set(self.frame["study"])
        self.fontsize = fontsize
        self.widths = [max(self.col_w, _text_width(c, fontsize, "bold") + 0.05)
                       for c in self.codes]

    @property
    def width(self) -> float:
        return sum(self.widths) + (self.apart if OVERALL in self.domains else 0.0)

    def xs(self, x0: float) -> list[float]:
        """Centres of the columns when the block starts at ``x0`` (inches)."""
        out, x = [], x0
        for d, w in zip(self.domains, self.widths):
            x += self.apart if d == OVERALL else 0.0
            out.append(x + w / 2)
            x += w
        return out

    def row(self, study: str) -> list[str] | None:
        """The judgements of one study (``None`` when the study has no assessment)."""
        if study not in self.studies:
            return None
        return [self.cells.get((study, d), NOT_ASSESSED) for d in self.domains]

    def footer(self, width: float, studies: Sequence[str]):
        """(caption lines, key lines, height in inches) of the footer under the figure."""
        used = {j for s in studies if (r := self.row(s)) is not None for j in r}
        caption = _caption_lines(self.domains, self.codes, self.labels, width, self.fontsize)
        key = _key_layout(_key_labels(self.scale, used), width, self.fontsize, self.radius)
        return caption, key, _footer_height(caption, key, self.fontsize, self.radius)


# -- traffic-light plot ------------------------------------------------------------------------

def traffic_light(
    judgements: pd.DataFrame,
    *,
    tool: str = "rob2",
    domains: Sequence[str] | None = None,
    domain_labels: Mapping[str, str] | None = None,
    title: str | None = None,
    study_header: str = "Study",
    fontsize: float = 8.0,
    max_label_width: float = 2.4,
):
    r"""Draw a traffic-light plot: one row per study, one judgement circle per domain.

    Parameters
    ----------
    judgements : pandas.DataFrame
        Long frame with columns ``study``, ``domain`` and ``judgement``: one row per study
        and domain; the overall judgement has domain ``"Overall"`` (any case). Judgements are
        matched case-insensitively; a missing value, and a (study, domain) pair with no row,
        is drawn as "not assessed".
    tool : {"rob2", "robins-i", "robins-i-v2"}
        The judgement scale: RoB 2 "low", "some concerns", "high", "no information";
        ROBINS-I (both versions) "low", "moderate", "serious", "critical", "no information".
        "not assessed" is accepted with every tool.
    domains : sequence of str, optional
        Order of the domain columns (default: order of appearance); domains not listed follow,
        and a listed domain no study has is a column of "not assessed" cells.
        The overall column always comes last, set apart by a gap and a shaded band.
    domain_labels : mapping, optional
        Domain -> name printed in the caption under the plot ("D1: Randomisation process").
        Without it the domain values themselves are printed.
    title : str, optional
    study_header : str
        Header of the study column.
    fontsize : float
        Size of the text in points (no text is smaller than 7 pt).
    max_label_width : float
        Widest the study column may be (inches); longer labels wrap at spaces.

    Returns
    -------
    matplotlib.figure.Figure
        Circles carry the gid ``rob-<i>-<j>-cell`` and glyphs ``rob-<i>-<j>-glyph`` (study
        ``i``, domain column ``j``, from 0); the key's ``rob-key-cell``, ``rob-key-glyph`` and
        ``rob-key-label``; the caption lines ``rob-caption``; column headers ``rob-header``.

    Raises
    ------
    ArgumentError
        Unknown tool, a missing column, a judgement not on the tool's scale (the message
        names the study, the domain and the value), or two rows for one study and domain.

    Notes
    -----
    Glyphs: + low, − some concerns / moderate, × high / serious, ! critical, ? no information,
    NA not assessed. Colours: see the module notes (a lightness-ordered yellow-orange-brown
    ramp, colour-blind safe and readable in greyscale). The height grows with the number of
    studies (0.26 in per single-line row); the width never exceeds 7 in.

    References
    ----------
    McGuinness LA, Higgins JPT. Risk-of-bias VISualization (robvis): an R package and Shiny
    web app for visualizing risk-of-bias assessments. Res Syn Meth 2021;12:55-61.
    doi:10.1002/jrsm.1411

    Examples
    --------
    >>> import pandas as pd
    >>> from evidence.plots import traffic_light
    >>> judgements = pd.DataFrame({
    ...     "study": ["Trial A"] * 3 + ["Trial B"] * 3,
    ...     "domain": ["D1", "D2", "Overall"] * 2,
    ...     "judgement": ["low", "low", "low", "some concerns", "high", "high"]})
    >>> fig = traffic_light(judgements, domain_labels={"D1": "randomisation process",
    ...                                                "D2": "missing outcome data"})
    >>> import re
    >>> [t.get_text() for t in fig.texts if re.fullmatch(r"rob-1-\d-glyph", str(t.get_gid()))]
    ['−', '×', '×']
    """
    frame = _judgements(judgements, tool)
    if frame.empty:
        raise ArgumentError("judgements is empty: nothing to draw")
    scale = _scale(tool)
    fs = max(float(fontsize), _MIN_PT)
    doms = _domain_order(frame, domains)
    codes = _codes(doms)
    studies = list(pd.unique(frame["study"]))
    cells = {(s, d): j for s, d, j in frame.itertuples(index=False)}
    grid = [[cells.get((s, d), NOT_ASSESSED) for d in doms] for s in studies]

    line_h = fs * 1.25 / 72.0
    margin, gap, col_w, apart = 0.08, 0.15, 0.34, 0.14
    radius = 0.115
    row_min = 0.26
    max_width = 7.0
    has_overall = OVERALL in doms
    overall_w = max(col_w, _text_width(OVERALL, fs, "bold") + 0.08)
    cols_w = col_w * len(doms) + ((apart + overall_w - col_w) if has_overall else 0.0)
    natural = max([_text_width(study_header, fs, "bold")]
                  + [_text_width(s, fs) for s in studies])
    label_w = min(natural, max_label_width, max_width - 2 * margin - gap - cols_w)
    label_lines = [_wrap(s, label_w, fs, _text_width) for s in studies]
    label_w = max([_text_width(study_header, fs, "bold")]
                  + [_text_width(line, fs) for lines in label_lines for line in lines])
    content_w = margin + label_w + gap + cols_w + margin
    width = min(max_width, max(content_w, 4.0))
    caption = _caption_lines(doms, codes, domain_labels, width - 2 * margin, fs)
    key = _key_layout(_key_labels(scale, {j for r in grid for j in r}), width - 2 * margin, fs,
                      radius * 0.85)
    title_lines = _wrap(title, width - 2 * margin, fs + 1,
                        lambda t, s: _text_width(t, s, "bold")) if title else []
    row_h = [max(row_min, line_h * len(lines) + 0.08) for lines in label_lines]
    top = margin + line_h * 1.3 * len(title_lines) + (0.08 if title_lines else 0) + line_h * 1.6
    rows_h = sum(row_h)
    footer_h = _footer_height(caption, key, fs, radius * 0.85)
    height = top + rows_h + 0.2 + footer_h + margin
    fig = new_figure((width, height))
    tr = _top_down(fig)

    def text(x, y, s, **kw):
        kw = {"ha": "left", "va": "center", "fontsize": fs, "color": INK, **kw}
        return fig.text(x, y, s, transform=tr, **kw, **TEXT_KW)

    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle

    y = margin
    if title_lines:
        text(margin, y, "\n".join(title_lines), va="top", fontsize=fs + 1,
             fontweight="bold").set_gid("rob-title")
        y += line_h * 1.3 * len(title_lines) + 0.08
    x_cols = margin + label_w + gap
    xs = [x_cols + col_w * (j + 0.5) for j, d in enumerate(doms) if d != OVERALL]
    if has_overall:
        xs.append(x_cols + col_w * len(xs) + apart + overall_w / 2)
    y_head = y + line_h * 0.8
    text(margin, y_head, study_header, fontweight="bold").set_gid("rob-header")
    for x, c in zip(xs, codes):
        text(x, y_head, c, ha="center", fontweight="bold").set_gid("rob-header")
    y0 = top
    if has_overall:  # the overall column on a shaded band, apart from the domains
        band = Rectangle((xs[-1] - overall_w / 2, y0 - line_h * 1.6), overall_w,
                         rows_h + line_h * 1.6,
                         transform=tr, facecolor="#f0f0f0", edgecolor="none", zorder=0.5)
        band.set_gid("rob-overall-band")
        fig.add_artist(band)
    y = y0
    for i, (lines, h) in enumerate(zip(label_lines, row_h)):
        yc = y + h / 2
        lab = text(margin, yc, "\n".join(lines), gid="rob-study")
        lab.set_linespacing(1.1)
        for j, (x, label) in enumerate(zip(xs, grid[i])):
            _cell(fig, tr, x, yc, radius, label, fs, f"rob-{i}-{j}")
        y += h
        if i < len(studies) - 1:  # a faint rule to follow long rows across
            fig.add_artist(Line2D([margin, x_cols + cols_w], [y, y], transform=tr,
                                  color="#e6e6e6", linewidth=0.5, zorder=0.6))
    fig.add_artist(Line2D([margin, x_cols + cols_w], [y0, y0], transform=tr, color=GREY,
                          linewidth=0.6))
    _draw_footer(fig, tr, margin, y + 0.2, caption, key, fs, radius * 0.85)
    return fig


# -- summary plot ------------------------------------------------------------------------------

def _check_shares(shares: Any, scale: Sequence[str], tool: str
                  ) -> tuple[list[str], pd.DataFrame]:
    """The judgement columns in scale order and the shares as floats, every row checked."""
    if not isinstance(shares, pd.DataFrame):
        raise ArgumentError("shares must be a pandas DataFrame (index: domains, columns: "
                            f"judgement labels); got {type(shares).__name__}")
    if shares.empty:
        raise ArgumentError("shares is empty: nothing to draw")
    allowed = (*scale, NOT_ASSESSED)
    columns = {}
    for c in shares.columns:
        label = str(c).strip().lower()
        if label not in allowed:
            raise ArgumentError(f"shares column {c!r} is not a judgement of tool {tool!r}: "
                                f"{', '.join(allowed)}")
        columns[label] = c
    order = [a for a in allowed if a in columns]
    values = shares[[columns[a] for a in order]].apply(pd.to_numeric, errors="coerce")
    for domain, row in zip(shares.index, values.to_numpy(dtype=float)):
        if np.isnan(row).any() or (row < 0).any():
            raise ArgumentError(f"shares of domain {domain!r} must be numbers >= 0; got "
                                f"{', '.join(f'{v:g}' for v in row)}")
        if abs(row.sum() - 1.0) > SHARE_TOLERANCE:
            raise ArgumentError(f"shares of domain {domain!r} sum to {row.sum():.12g}, not 1 "
                                f"(tolerance {SHARE_TOLERANCE:g})")
    return order, values


def rob_summary(
    shares: pd.DataFrame,
    *,
    tool: str = "rob2",
    domain_labels: Mapping[str, str] | None = None,
    weighted: bool = True,
    title: str | None = None,
    fontsize: float = 8.0,
    width: float = 6.5,
):
    """Draw a risk-of-bias summary plot: one 100% stacked bar of judgement shares per domain.

    Parameters
    ----------
    shares : pandas.DataFrame
        Index: domains (one bar each, top to bottom in row order; an ``"Overall"`` row is
        printed in bold and set apart). Columns: judgement labels of the tool's scale (any
        case; a label not in the frame counts as 0; "not assessed" is allowed). Values:
        fractions summing to 1 per row, as :func:`evidence.rob_shares` returns them (weighted
        by the pooled model's study weights or not).
    tool : {"rob2", "robins-i", "robins-i-v2"}
    domain_labels : mapping, optional
        Domain -> name printed beside its bar (default: the index value).
    weighted : bool
        Whether the shares are weighted: sets the x axis label ("Proportion of studies
        (weighted by the pooled model)" or "Proportion of studies").
    title : str, optional
    fontsize : float
        Size of the text in points (no text is smaller than 7 pt).
    width : float
        Width of the figure in inches (at most 7).

    Returns
    -------
    matplotlib.figure.Figure
        Bar segments carry the gid ``rob-bar-<i>-<label>`` (row ``i`` from 0, spaces in the
        label written ``-``), their percentage labels ``rob-bar-label``; the key as in
        :func:`traffic_light`.

    Raises
    ------
    ArgumentError
        Unknown tool, a column not on the tool's scale, a negative or missing share, or a row
        that does not sum to 1 within :data:`SHARE_TOLERANCE` (the message names the domain).

    Notes
    -----
    Segments run from least to most risk of bias, left to right, in the colours of
    :func:`traffic_light`; a segment's glyph and percentage are printed inside it when they
    fit (else the percentage, else the glyph alone).
    Nothing is computed here but the display of the given fractions as percentages.

    Examples
    --------
    >>> import pandas as pd
    >>> from evidence.plots import rob_summary
    >>> shares = pd.DataFrame({"low": [0.5, 0.25], "some concerns": [0.5, 0.25],
    ...                        "high": [0.0, 0.5]}, index=["D1", "Overall"])
    >>> fig = rob_summary(shares, weighted=False)
    >>> fig.axes[0].get_xlabel()
    'Proportion of studies'
    """
    scale = _scale(tool)
    order, values = _check_shares(shares, scale, tool)
    fs = max(float(fontsize), _MIN_PT)
    width = min(float(width), 7.0)
    domains = [str(d) for d in shares.index]
    labels = dict(domain_labels or {})
    margin, gap = 0.08, 0.12
    line_h = fs * 1.25 / 72.0
    radius = 0.1
    max_label = min(2.6, width * 0.4)
    label_lines = [_wrap(_display(str(labels.get(d, d))), max_label, fs,
                         lambda t, s, o=_is_overall(d): _text_width(t, s,
                                                                    "bold" if o else "normal"))
                   for d in domains]
    label_w = max(_text_width(line, fs, "bold" if _is_overall(d) else "normal")
                  for d, lines in zip(domains, label_lines) for line in lines)
    bar_w = width - 2 * margin - label_w - gap - 0.15
    key = _key_layout(_key_labels(scale, set(order) | {s for s in scale if s != "no information"}),
                      width - 2 * margin, fs, radius)
    title_lines = _wrap(title, width - 2 * margin, fs + 1,
                        lambda t, s: _text_width(t, s, "bold")) if title else []
    row_h = [max(0.3, line_h * len(lines) + 0.1) for lines in label_lines]
    apart = [0.12 if _is_overall(d) and i > 0 else 0.0 for i, d in enumerate(domains)]
    rows_h = sum(row_h) + sum(apart)
    top = margin + (line_h * 1.3 * len(title_lines) + 0.1 if title_lines else 0.0)
    axis_h = line_h * 3.4
    footer_h = _footer_height([], key, fs, radius)
    height = top + rows_h + axis_h + footer_h + margin
    fig = new_figure((width, height))
    x_ax = margin + label_w + gap
    ax = fig.add_axes((x_ax / width, (height - top - rows_h) / height, bar_w / width,
                       rows_h / height))
    ax.set_xlim(0, 1)
    ax.set_ylim(rows_h, 0)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    from matplotlib.patches import Rectangle
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    ax.yaxis.set_major_locator(NullLocator())
    ax.xaxis.set_major_locator(FixedLocator([0, 0.25, 0.5, 0.75, 1.0]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v * 100:.0f}%"))
    ax.tick_params(axis="x", labelsize=fs, colors=INK)
    for lab in ax.get_xticklabels():
        lab.set_fontfamily(FONT)
    ax.set_xlabel("Proportion of studies (weighted by the pooled model)" if weighted
                  else "Proportion of studies", fontsize=fs, fontfamily=FONT, color=INK,
                  parse_math=False)
    tr = _top_down(fig)
    y = 0.0
    for i, (d, lines, h) in enumerate(zip(domains, label_lines, row_h)):
        y += apart[i]
        yc = y + h / 2
        bar_h = min(h - 0.08, 0.24)
        va = "center" if len(lines) > 1 else "center_baseline"  # one line: on the bar's axis
        fig.text(margin, top + yc, "\n".join(lines), transform=tr, ha="left", va=va,
                 fontsize=fs, color=INK, fontweight="bold" if _is_overall(d) else "normal",
                 linespacing=1.1, **TEXT_KW).set_gid("rob-summary-label")
        left = 0.0
        for label, v in zip(order, values.iloc[i].to_numpy(dtype=float)):
            if v <= 0:
                continue
            fill, glyph = _style(label)
            seg = Rectangle((left, yc - bar_h / 2), v, bar_h, facecolor=fill,
                            edgecolor=INK if label != NOT_ASSESSED else GREY, linewidth=0.5,
                            zorder=2)
            seg.set_gid(f"rob-bar-{i}-{label.replace(' ', '-')}")
            ax.add_patch(seg)
            # the glyph with the percentage when both fit, so the bar reads in grey too
            room = v * bar_w - 0.06
            for cand in (f"{glyph} {v * 100:.0f}%", f"{v * 100:.0f}%", glyph):
                if _text_width(cand, fs) < room:
                    ax.text(left + v / 2, yc, cand, ha="center", va="center_baseline", fontsize=fs,
                            color=GREY if label == NOT_ASSESSED else text_color(fill),
                            zorder=3, **TEXT_KW).set_gid("rob-bar-label")
                    break
            left += v
        y += h
    _draw_footer(fig, tr, margin, top + rows_h + axis_h, [], key, fs, radius)
    if title_lines:
        fig.text(margin, margin, "\n".join(title_lines), transform=tr, ha="left", va="top",
                 fontsize=fs + 1, fontweight="bold", color=INK, **TEXT_KW).set_gid("rob-title")
    return fig
