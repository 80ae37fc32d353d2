"""Evidence matrix: injury x strategy, clinical evidence level and expert stance side by side."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence

import pandas as pd

from ..errors import ArgumentError
from ._common import INK, is_missing, new_figure

__all__ = ["evidence_matrix", "LEVEL_STYLE", "STANCE_STYLE"]

#: Clinical level of evidence -> (fill colour, short code shown in the cell).
LEVEL_STYLE: dict[str, tuple[str, str]] = {
    "strong": ("#08306b", "S"),
    "moderate": ("#2171b5", "M"),
    "limited": ("#6baed6", "L"),
    "very limited": ("#c6dbef", "VL"),
    "conflicting": ("#fdae6b", "C"),
    "none": ("#f0f0f0", "0"),
}
#: Expert stance -> (marker colour, short code shown in the marker).
STANCE_STYLE: dict[str, tuple[str, str]] = {
    "strongly advocated": ("#006d2c", "++"),
    "recommended": ("#74c476", "+"),
    "poor agreement": ("#fee08b", "?"),
    "not recommended": ("#d73027", "\u2212"),
    "not reported": ("#ffffff", ""),
}
_UNKNOWN = ("#bdbdbd", "?")


def _text_color(hex_color: str) -> str:
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return "white" if 0.299 * r + 0.587 * g + 0.114 * b < 140 else INK


def _order(values: pd.Series, given: Sequence[str] | None) -> list:
    seen = list(pd.unique(values.dropna()))
    if given is None:
        return seen
    return list(given) + [v for v in seen if v not in given]


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
    level_title, stance_title, title, fontsize : legend titles and layout.

    Returns
    -------
    matplotlib.figure.Figure
        Level squares carry the gid ``level-<row>-<col>``, stance markers
        ``stance-<row>-<col>``.

    Raises
    ------
    ArgumentError
        A named column is missing, or a (row, col) cell appears twice.

    Notes
    -----
    Each cell shows the clinical level as a filled square (left) and the expert stance as
    a circle (right), both with a short code so the figure reads without colour. Values
    outside the known vocabularies are drawn grey with "?" and listed in the legend.

    Examples
    --------
    >>> import pandas as pd
    >>> from evidence.plots import evidence_matrix
    >>> frame = pd.DataFrame({"injury": ["pfp"], "strategy": ["step-rate"],
    ...                       "level": ["limited"], "stance": ["recommended"]})
    >>> fig = evidence_matrix(frame)
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Circle, Patch, Rectangle

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
    rows = _order(frame[row], row_order)
    cols = _order(frame[col], col_order)
    rl = dict(row_labels or {})
    cl = dict(col_labels or {})

    cell = 1.0
    fig_w = 2.6 + 0.55 * len(cols) + 1.9
    fig_h = 1.7 + 0.42 * len(rows)
    fig = new_figure((fig_w, fig_h))
    ax = fig.add_subplot()
    ax.set_xlim(-0.05, len(cols) + 0.05)
    ax.set_ylim(len(rows) + 0.05, -0.05)
    ax.set_aspect("equal")
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    ax.set_xticks([j + 0.5 for j in range(len(cols))])
    ax.set_xticklabels([textwrap.fill(cl.get(c, str(c)), 26) for c in cols], rotation=40, ha="right",
                       rotation_mode="anchor", fontsize=fontsize)
    for lab in ax.get_xticklabels():
        lab.set_multialignment("right")
    ax.set_yticks([i + 0.5 for i in range(len(rows))])
    ax.set_yticklabels([textwrap.fill(rl.get(r, str(r)), 34) for r in rows], fontsize=fontsize)
    ax.tick_params(length=0)
    for i in range(len(rows)):
        for j in range(len(cols)):
            ax.add_patch(Rectangle((j, i), cell, cell, facecolor="none", edgecolor="#e0e0e0",
                                   linewidth=0.6))

    unknown_levels, unknown_stances = set(), set()
    index = {(r, c): k for k, (r, c) in enumerate(zip(frame[row], frame[col]))}
    levels = frame[level_col].tolist()
    stances = frame[stance_col].tolist()
    for (r, c), k in index.items():
        i, j = rows.index(r), cols.index(c)
        lv, st = levels[k], stances[k]
        if not is_missing(lv):
            color, code = LEVEL_STYLE.get(str(lv), _UNKNOWN)
            if str(lv) not in LEVEL_STYLE:
                unknown_levels.add(str(lv))
            sq = Rectangle((j + 0.06, i + 0.2), 0.42, 0.6, facecolor=color, edgecolor=INK,
                           linewidth=0.5)
            sq.set_gid(f"level-{r}-{c}")
            ax.add_patch(sq)
            ax.text(j + 0.27, i + 0.5, code, ha="center", va="center",
                    fontsize=fontsize * 0.8, color=_text_color(color))
        if not is_missing(st):
            color, code = STANCE_STYLE.get(str(st), _UNKNOWN)
            if str(st) not in STANCE_STYLE:
                unknown_stances.add(str(st))
            circ = Circle((j + 0.74, i + 0.5), 0.2, facecolor=color, edgecolor=INK,
                          linewidth=0.5)
            circ.set_gid(f"stance-{r}-{c}")
            ax.add_patch(circ)
            if code:
                ax.text(j + 0.74, i + 0.5, code, ha="center", va="center",
                        fontsize=fontsize * 0.75, color=_text_color(color))

    level_handles = [Patch(facecolor=colr, edgecolor=INK, linewidth=0.5, label=f"{code}  {name}")
                     for name, (colr, code) in LEVEL_STYLE.items()]
    level_handles += [Patch(facecolor=_UNKNOWN[0], edgecolor=INK, label=f"?  {u}")
                      for u in sorted(unknown_levels)]
    stance_handles = [Line2D([], [], marker="o", linestyle="none", markersize=8,
                             markerfacecolor=colr, markeredgecolor=INK, markeredgewidth=0.5,
                             label=f"{code or ' '}  {name}")
                      for name, (colr, code) in STANCE_STYLE.items()]
    stance_handles += [Line2D([], [], marker="o", linestyle="none", markersize=8,
                              markerfacecolor=_UNKNOWN[0], markeredgecolor=INK,
                              label=f"?  {u}") for u in sorted(unknown_stances)]
    leg1 = ax.legend(handles=level_handles, title=f"{level_title} (square)", loc="upper left",
                     bbox_to_anchor=(1.02, 1.0), fontsize=fontsize * 0.9,
                     title_fontsize=fontsize, frameon=False, alignment="left")
    ax.add_artist(leg1)
    ax.legend(handles=stance_handles, title=f"{stance_title} (circle)", loc="lower left",
              bbox_to_anchor=(1.02, 0.0), fontsize=fontsize * 0.9, title_fontsize=fontsize,
              frameon=False, alignment="left")
    if title:
        ax.set_title(title, fontsize=fontsize + 1, fontweight="bold", loc="left")
    return fig
