"""Trial sequential monitoring figure: the cumulative Z of each release against the
alpha-spending boundaries and the required information size (issue 16, item 4).

The figure draws what it is given (the looks of a sequential analysis as the release layer
recorded them) and computes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import ArgumentError
from ._common import ACCENT, FILLED, GREY, INK, TEXT_KW, fmt, new_figure

__all__ = ["sequential_monitoring"]


def sequential_monitoring(
    looks: Sequence[Mapping[str, Any]],
    *,
    required: float,
    conventional: float,
    unit: str = "participants",
    title: str | None = None,
    fontsize: float = 8,
    width: float = 6.5,
):
    """Draw the cumulative Z per look against symmetric sequential boundaries.

    Parameters
    ----------
    looks : sequence of mappings
        In order, each with ``label`` (e.g. ``"Release 2"``), ``information`` (accrued, in
        ``unit``), ``z`` (cumulative Z) and ``boundary`` (the boundary on |Z| at that look;
        None past the required information size, ``inf`` where nothing was spent).
    required : float
        The required information size (a vertical line).
    conventional : float
        The conventional two-sided critical value (e.g. 1.96), drawn as dashed lines.
    unit : str
        What the information counts, for the x axis.

    Returns
    -------
    matplotlib.figure.Figure
        Artists carry ids: ``z-curve``, ``boundary-upper``, ``boundary-lower``,
        ``conventional``, ``required``.

    Examples
    --------
    >>> from evidence.plots.sequential import sequential_monitoring
    >>> fig = sequential_monitoring([{"label": "Release 1", "information": 500, "z": 1.5,
    ...                               "boundary": 4.33}], required=2000, conventional=1.96)
    """
    rows = list(looks)
    if not rows:
        raise ArgumentError("sequential_monitoring needs at least one look")
    for i, r in enumerate(rows):
        missing = [c for c in ("label", "information", "z", "boundary") if c not in r]
        if missing:
            raise ArgumentError(f"look {i}: no {missing[0]!r} (each look needs label, "
                                "information, z, boundary)")
    for name, v in (("required", required), ("conventional", conventional)):
        if not (isinstance(v, (int, float)) and np.isfinite(v) and v > 0):
            raise ArgumentError(f"{name} must be a positive number; got {v!r}")
    x = np.array([float(r["information"]) for r in rows])
    z = np.array([float(r["z"]) for r in rows])
    b = np.array([np.nan if r["boundary"] is None else float(r["boundary"]) for r in rows])
    finite = b[np.isfinite(b)]
    top = max(6.0, 1.25 * float(np.max(np.abs(z))), 1.25 * conventional)
    if finite.size:
        top = max(top, min(float(finite.max()) * 1.08, 10.0))
    xmax = 1.08 * max(float(required), float(x.max()))

    fig = new_figure((width, 3.4))
    ax = fig.add_subplot(1, 1, 1)
    ax.axhline(0, color=GREY, linewidth=0.5)
    for sign, gid in ((1, "conventional"), (-1, "conventional-lower")):
        ax.axhline(sign * conventional, color=GREY, linewidth=0.8,
                   linestyle=(0, (4, 2))).set_gid(gid)
    ax.axvline(float(required), color=INK, linewidth=0.8,
               linestyle=(0, (1, 1.5))).set_gid("required")
    ax.text(float(required), top * 0.97, " required information size", fontsize=fontsize - 1,
            color=INK, va="top", ha="left" if required < 0.75 * xmax else "right", **TEXT_KW)
    show = np.isfinite(b)
    clipped = show & (b > top)
    bb = np.where(clipped, top, b)
    for sign, gid in ((1, "boundary-upper"), (-1, "boundary-lower")):
        ax.plot(x[show], sign * bb[show], color=FILLED, linewidth=1.2, marker="s",
                markersize=3.5)[0].set_gid(gid)
        for xi, bi in zip(x[clipped], b[clipped]):
            # a boundary above the axis: its value printed beside the point at the edge
            ax.annotate(f"{'+' if sign > 0 else '−'}{fmt(bi)} (off the axis)", (xi, sign * top),
                        textcoords="offset points", xytext=(6, -8 if sign > 0 else 2),
                        fontsize=fontsize - 1.5, color=FILLED, **TEXT_KW)
    ax.plot(np.concatenate([[0.0], x]), np.concatenate([[0.0], z]), color=ACCENT,
            linewidth=1.4, marker="o", markersize=4)[0].set_gid("z-curve")
    for xi, zi, r in zip(x, z, rows):
        ax.annotate(str(r["label"]), (xi, zi), textcoords="offset points",
                    # away from the boundary the Z heads for
                    xytext=(4, -11 if zi >= 0 else 6), fontsize=fontsize - 1, color=INK,
                    **TEXT_KW)
    from matplotlib.ticker import FuncFormatter

    ax.set_xlim(0, xmax)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if xmax >= 100
                                               else f"{v:g}"))
    ax.set_ylim(-top, top)
    ax.set_xlabel(f"Accrued information ({unit})", fontsize=fontsize, parse_math=False)
    ax.set_ylabel("Cumulative Z", fontsize=fontsize, parse_math=False)
    ax.tick_params(labelsize=fontsize)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    handles = [ax.get_lines()[i] for i in (-1,)]
    from matplotlib.lines import Line2D
    handles += [Line2D([], [], color=FILLED, marker="s", markersize=3.5, linewidth=1.2),
                Line2D([], [], color=GREY, linewidth=0.8, linestyle=(0, (4, 2)))]
    ax.legend(handles, ["Cumulative Z", "Sequential boundary", "Conventional boundary"],
              fontsize=fontsize - 1, frameon=False, loc="lower right", ncol=3,
              bbox_to_anchor=(1.0, 1.0))
    if title:
        ax.set_title(title, fontsize=fontsize + 1, fontweight="bold", loc="left",
                     parse_math=False, pad=18)
    fig.subplots_adjust(left=0.1, right=0.98, top=0.88, bottom=0.15)
    return fig
