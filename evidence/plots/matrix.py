"""Evidence matrix: injury x strategy, clinical evidence level and expert stance side by side."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence

import pandas as pd

from ..errors import ArgumentError
from ._common import INK, is_missing, new_figure

__all__ = ["evidence_matrix", "LEVEL_STYLE", "STANCE_STYLE", "MIN_FONTSIZE", "contrast_ratio",
           "text_color"]

#: Clinical level of evidence -> (fill colour, short code shown in the cell). A sequential
#: blue scale (ordered by lightness, so it reads in grey and with colour-vision deficiency)
#: plus orange for conflicting evidence; every cell also carries its code.
LEVEL_STYLE: dict[str, tuple[str, str]] = {
    "strong": ("#08306b", "S"),
    "moderate": ("#2171b5", "M"),
    "limited": ("#6baed6", "L"),
    "very limited": ("#c6dbef", "VL"),
    "conflicting": ("#fdae6b", "C"),
    "none": ("#f0f0f0", "\u2013"),
}
#: Expert stance -> (marker colour, short code shown in the marker). Purple for support and
#: brown-orange against (the PuOr diverging scheme, safe for colour-vision deficiency); the
#: codes carry the meaning without colour.
STANCE_STYLE: dict[str, tuple[str, str]] = {
    "strongly advocated": ("#542788", "++"),
    "recommended": ("#b2abd2", "+"),
    "poor agreement": ("#fee0b6", "?"),
    "not recommended": ("#b35806", "\u2212"),
    "not reported": ("#ffffff", ""),
}
_UNKNOWN = ("#bdbdbd", "*")
_WHITE = "#ffffff"
#: Smallest font size (points, at the figure's own size) of any text in the figure.
MIN_FONTSIZE = 7.5


def _luminance(hex_color: str) -> float:
    """WCAG 2 relative luminance of an sRGB colour."""
    def chan(c: int) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * chan(r) + 0.7152 * chan(g) + 0.0722 * chan(b)


def contrast_ratio(a: str, b: str) -> float:
    """WCAG 2 contrast ratio of two ``#rrggbb`` colours (1 to 21)."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def text_color(fill: str) -> str:
    """The ink (dark or white) with the higher contrast on ``fill``."""
    return _WHITE if contrast_ratio(_WHITE, fill) > contrast_ratio(INK, fill) else INK


def _order(values: pd.Series, given: Sequence[str] | None) -> list:
    seen = list(pd.unique(values.dropna()))
    if given is None:
        return seen
    return list(given) + [v for v in seen if v not in given]


def _two_lines(text: str, width: int = 30) -> str:
    """Wrap a label to at most two lines (longer lines rather than a third one)."""
    width = max(width, -(-len(text) // 2) + 2)
    return textwrap.fill(text, width)


def evidence_matrix(
    frame: pd.DataFrame,
    row: str = "injury",
    col: str = "strategy",
    level_col: str = "level",
    stance_col: str = "stance",
    *,
    row_order: Sequence[str] | None = None,
    col_order: Sequence[str] | None = None,
    row_labels: Mapping[str, str] | None = None,
    col_labels: Mapping[str, str] | None = None,
    scope_col: str | None = "scope",
    apart_scope: str = "injury",
    level_title: str = "Clinical evidence",
    stance_title: str = "Expert opinion",
    title: str | None = None,
    fontsize: float = 8,
):
    """Draw the injury x strategy matrix with two marks per cell.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per (``row``, ``col``) cell with the clinical level of evidence in
        ``level_col`` (strong, moderate, limited, very limited, conflicting, none) and the
        expert stance in ``stance_col`` (strongly advocated, recommended, poor agreement,
        not recommended, not reported). Missing values leave that half of the cell empty.
    row, col, level_col, stance_col : str
        Column names.
    row_order, col_order : sequence, optional
        Order of rows and columns (default: order of appearance); values not listed follow.
    row_labels, col_labels : mapping, optional
        Display names (e.g. injury id -> injury name).
    scope_col, apart_scope : str
        When ``frame`` has the column ``scope_col`` (as :func:`evidence.synthesis.expert_matrix`
        does), the columns whose cells all have scope ``apart_scope`` (the injury-level rows,
        "any strategy") are drawn first, in a shaded panel set apart by a gap and a rule from
        the specific strategies. ``scope_col=None`` turns this off.
    level_title, stance_title, title : legend titles and the figure title.
    fontsize : float
        Size of the labels in points; no text is smaller than :data:`MIN_FONTSIZE`.

    Returns
    -------
    matplotlib.figure.Figure
        Level squares carry the gid ``level-<row>-<col>``, stance markers
        ``stance-<row>-<col>``; the separator ``matrix-apart-rule``.

    Raises
    ------
    ArgumentError
        A named column is missing, or a (row, col) cell appears twice.

    Notes
    -----
    Each cell shows the clinical level as a filled square (left) and the expert stance as
    a circle (right), both with a short code so the figure reads without colour; the code's
    ink is whichever of dark or white contrasts more with the fill (at least 4.5:1 for every
    colour here). Column labels are single- or two-line, at 45 degrees, spaced so that
    neighbours never overlap. Values outside the known vocabularies are drawn grey with "*"
    and listed in the legend.

    Examples
    --------
    >>> import pandas as pd
    >>> from evidence.plots import evidence_matrix
    >>> frame = pd.DataFrame({"injury": ["pfp"], "strategy": ["step-rate"],
    ...                       "level": ["limited"], "stance": ["recommended"]})
    >>> fig = evidence_matrix(frame)
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Ellipse, Patch, Rectangle

    if not isinstance(frame, pd.DataFrame):
        raise ArgumentError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
    for name, c in (("row", row), ("col", col), ("level_col", level_col),
                    ("stance_col", stance_col)):
        if c not in frame.columns:
            raise ArgumentError(f"{name} '{c}' is not a column of frame; columns: "
                                f"{', '.join(map(str, frame.columns))}")
    dup = frame.duplicated([row, col])
    if dup.any():
        first = frame.loc[dup, [row, col]].iloc[0].tolist()
        raise ArgumentError(f"frame has more than one row for cell {row}={first[0]!r}, "
                            f"{col}={first[1]!r}; give one row per cell")
    fs = max(float(fontsize), MIN_FONTSIZE)
    small = MIN_FONTSIZE
    rows = _order(frame[row], row_order)
    cols = _order(frame[col], col_order)
    apart: list = []
    if scope_col is not None and scope_col in frame.columns:
        sc = frame.groupby(col, sort=False)[scope_col].agg(lambda v: set(v.dropna()))
        apart = [c for c in cols if sc.get(c) == {apart_scope}]
        if len(apart) == len(cols):
            apart = []
    cols = apart + [c for c in cols if c not in apart]
    gap = 0.4 if apart and len(cols) > len(apart) else 0.0
    xs = {c: j + (gap if j >= len(apart) else 0.0) for j, c in enumerate(cols)}
    rl = dict(row_labels or {})
    cl = dict(col_labels or {})

    cw, ch = 0.52, 0.40  # cell width and height, inches
    width_units = len(cols) + gap
    fig = new_figure((0.3 + cw * width_units, 0.3 + ch * len(rows)))
    ax = fig.add_axes((0.15 / fig.get_figwidth(), 0.15 / fig.get_figheight(),
                       cw * width_units / fig.get_figwidth(),
                       ch * len(rows) / fig.get_figheight()))
    ax.set_xlim(0, width_units)
    ax.set_ylim(len(rows), 0)
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    ax.set_xticks([xs[c] + 0.5 for c in cols])
    ax.set_xticklabels([_two_lines(str(cl.get(c, c))) for c in cols], rotation=45,
                       ha="right", va="center", rotation_mode="anchor", fontsize=fs,
                       linespacing=1.05)
    for lab in ax.get_xticklabels():
        lab.set_multialignment("right")
    ax.set_yticks([i + 0.5 for i in range(len(rows))])
    ax.set_yticklabels([textwrap.fill(str(rl.get(r, r)), 40) for r in rows], fontsize=fs)
    ax.tick_params(length=0, pad=3)
    for i in range(len(rows)):
        for c in cols:
            face = "#f2f2f2" if c in apart else "none"
            ax.add_patch(Rectangle((xs[c], i), 1, 1, facecolor=face, edgecolor="#d0d0d0",
                                   linewidth=0.6))
    if gap:
        x_rule = len(apart) + gap / 2
        rule = Line2D([x_rule, x_rule], [0, len(rows)], color=INK, linewidth=0.8)
        rule.set_gid("matrix-apart-rule")
        ax.add_line(rule)

    unknown_levels, unknown_stances = set(), set()
    index = {(r, c): k for k, (r, c) in enumerate(zip(frame[row], frame[col]))}
    levels = frame[level_col].tolist()
    stances = frame[stance_col].tolist()
    dx = 0.27 / cw  # circle radius in x data units (0.13 in)
    for (r, c), k in index.items():
        i, x = rows.index(r), xs[c]
        lv, st = levels[k], stances[k]
        if not is_missing(lv):
            color, code = LEVEL_STYLE.get(str(lv), _UNKNOWN)
            if str(lv) not in LEVEL_STYLE:
                unknown_levels.add(str(lv))
            sq = Rectangle((x + 0.05, i + 0.18), 0.42, 0.64, facecolor=color, edgecolor=INK,
                           linewidth=0.5)
            sq.set_gid(f"level-{r}-{c}")
            ax.add_patch(sq)
            ax.text(x + 0.26, i + 0.5, code, ha="center", va="center", fontsize=small,
                    color=text_color(color))
        if not is_missing(st):
            color, code = STANCE_STYLE.get(str(st), _UNKNOWN)
            if str(st) not in STANCE_STYLE:
                unknown_stances.add(str(st))
            circ = Ellipse((x + 0.74, i + 0.5), dx, 0.27 / ch, facecolor=color,
                           edgecolor=INK if code or str(st) not in STANCE_STYLE else "#777777",
                           linewidth=0.5)
            circ.set_gid(f"stance-{r}-{c}")
            ax.add_patch(circ)
            if code:
                ax.text(x + 0.74, i + 0.5, code, ha="center", va="center", fontsize=small,
                        color=text_color(color))

    level_handles = [Patch(facecolor=colr, edgecolor=INK, linewidth=0.5,
                           label=f"{code}  {name}") for name, (colr, code) in LEVEL_STYLE.items()]
    level_handles += [Patch(facecolor=_UNKNOWN[0], edgecolor=INK, label=f"{_UNKNOWN[1]}  {u}")
                      for u in sorted(unknown_levels)]
    stance_handles = [Line2D([], [], marker="o", linestyle="none", markersize=8,
                             markerfacecolor=colr, markeredgewidth=0.5,
                             markeredgecolor=INK if code else "#777777",
                             label=f"{code}  {name}" if code else name)
                      for name, (colr, code) in STANCE_STYLE.items()]
    stance_handles += [Line2D([], [], marker="o", linestyle="none", markersize=8,
                              markerfacecolor=_UNKNOWN[0], markeredgecolor=INK,
                              label=f"{_UNKNOWN[1]}  {u}") for u in sorted(unknown_stances)]

    # legends go below the rotated column labels: measure how far those reach
    renderer = fig.canvas.get_renderer()
    inv = fig.transFigure.inverted()
    extents = [lab.get_window_extent(renderer) for lab in ax.get_xticklabels()]
    low = min((inv.transform((0, e.y0))[1] for e in extents), default=0.0)
    left = min([inv.transform((e.x0, 0))[0] for e in extents]
               + [inv.transform((e.x0, 0))[0] for e in (
                   lab.get_window_extent(renderer) for lab in ax.get_yticklabels())]
               + [0.0])
    y_leg = low - 0.15 / fig.get_figheight()
    kw = dict(fontsize=fs, title_fontsize=fs, frameon=False, alignment="left",
              handlelength=1.4, handletextpad=0.5, columnspacing=1.2, labelspacing=0.45)
    leg1 = fig.legend(handles=level_handles, title=f"{level_title} (square)",
                      loc="upper left", bbox_to_anchor=(left, y_leg), ncol=2, **kw)
    leg1.get_title().set_fontweight("bold")
    fig.canvas.draw_idle()
    e1 = leg1.get_window_extent(renderer)
    leg2 = fig.legend(handles=stance_handles, title=f"{stance_title} (circle)",
                      loc="upper left",
                      bbox_to_anchor=(inv.transform((e1.x1, 0))[0] + 0.25 / fig.get_figwidth(),
                                      y_leg), ncol=2, **kw)
    leg2.get_title().set_fontweight("bold")
    if title:
        top = ax.get_position().y1 + 0.12 / fig.get_figheight()
        fig.text(left, top, title, ha="left", va="bottom", fontsize=fs + 1, fontweight="bold")
    return fig
