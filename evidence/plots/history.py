"""History of a living review: the pooled estimate and its CI per release (issue 16, item 5).

A cumulative forest by release: one row per release, oldest at the top, each the estimate
and confidence interval that release recorded (its ``release.json``). The figure draws what
it is given and computes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import ArgumentError
from ._common import ACCENT, GREY, INK, TEXT_KW, fmt, is_missing, log_ratio_axis, new_figure

__all__ = ["release_history"]


def release_history(
    releases: Sequence[Mapping[str, Any]],
    *,
    measure: str = "Estimate",
    transform: str | None = None,
    null: float = 0.0,
    ci_label: str = "95% CI",
    title: str | None = None,
    fontsize: float = 8,
    width: float = 6.5,
):
    """Draw the pooled estimate and its CI for each release of a living review.

    Parameters
    ----------
    releases : sequence of mappings
        One per release, in release order, each with ``label`` (e.g. ``"Release 2"``), ``k``,
        ``estimate``, ``ci_low`` and ``ci_high`` on the analysis scale (log ratios for ratio
        measures), and optionally ``note`` (e.g. the search date), printed beside the label.
        A release without an estimate is drawn as its label and "not pooled".
    measure : str
        The axis label (e.g. "Risk ratio").
    transform : {None, "exp"}
        ``"exp"``: the values are log ratios; the axis stays in log units with ticks at
        natural-scale ratios, labelled "<measure> (log scale)", and the printed values are
        ratios.
    null : float
        The null effect on the analysis scale (a vertical reference line).
    ci_label : str
        What the intervals are, for the column header (e.g. "95% CI").
    title, fontsize, width :
        Layout.

    Returns
    -------
    matplotlib.figure.Figure
        Artists carry ids: ``release-<i>`` (each interval and point), ``null-line``.

    Examples
    --------
    >>> from evidence.plots.history import release_history
    >>> fig = release_history([{"label": "Release 1", "k": 3, "estimate": -0.4,
    ...                         "ci_low": -0.9, "ci_high": 0.1}], measure="Risk ratio",
    ...                       transform="exp")
    """
    rows = list(releases)
    if not rows:
        raise ArgumentError("release_history needs at least one release")
    for i, r in enumerate(rows):
        missing = [c for c in ("label", "k", "estimate", "ci_low", "ci_high") if c not in r]
        if missing:
            raise ArgumentError(f"release {i}: no {missing[0]!r} (each release needs label, k, "
                                "estimate, ci_low, ci_high)")
    if transform not in (None, "identity", "exp"):
        raise ArgumentError(f"transform {transform!r} is not one of None, identity, exp")
    log = transform == "exp"
    shown = (lambda v: float(np.exp(v)) if log else float(v))

    n = len(rows)
    fig = new_figure((width, 0.8 + 0.32 * n))
    gs = fig.add_gridspec(1, 3, width_ratios=(2.4, 3.2, 1.9), wspace=0.05)
    ax_lab, ax, ax_val = (fig.add_subplot(gs[0, j]) for j in range(3))
    ys = np.arange(n)[::-1]
    vals = [v for r in rows for v in (r["ci_low"], r["ci_high"], r["estimate"])
            if not is_missing(v)] + [null]
    lo, hi = min(vals), max(vals)
    pad = 0.08 * (hi - lo or 1.0)
    for i, (r, y) in enumerate(zip(rows, ys)):
        note = f" ({r['note']})" if r.get("note") else ""
        ax_lab.text(0, y, f"{r['label']}{note}", va="center", ha="left", fontsize=fontsize,
                    color=INK, **TEXT_KW)
        if is_missing(r["estimate"]):
            ax_val.text(0, y, f"{r['k']}   not pooled", va="center", fontsize=fontsize,
                        color=GREY, **TEXT_KW)
            continue
        line = ax.plot([r["ci_low"], r["ci_high"]], [y, y], color=INK, linewidth=1.0,
                       solid_capstyle="butt")[0]
        line.set_gid(f"release-{i}-ci")
        point = ax.plot([r["estimate"]], [y], marker="D", markersize=5,
                        color=ACCENT if i == n - 1 else INK, linestyle="none")[0]
        point.set_gid(f"release-{i}")
        ax_val.text(0, y, str(r["k"]), va="center", ha="left", fontsize=fontsize,
                    color=INK, **TEXT_KW)
        ax_val.text(0.2, y, f"{fmt(shown(r['estimate']))} [{fmt(shown(r['ci_low']))}, "
                            f"{fmt(shown(r['ci_high']))}]",
                    va="center", ha="left", fontsize=fontsize, color=INK, **TEXT_KW)
    head_y = n - 0.25
    ax_lab.text(0, head_y, "Release", va="center", fontsize=fontsize, fontweight="bold",
                color=INK, **TEXT_KW)
    for x, text in ((0, "k"), (0.2, f"{measure} [{ci_label}]")):
        ax_val.text(x, head_y, text, va="center", fontsize=fontsize, fontweight="bold",
                    color=INK, **TEXT_KW)
    ref = ax.axvline(null, color=GREY, linewidth=0.7, linestyle=(0, (3, 2)))
    ref.set_gid("null-line")
    ax.set_xlim(lo - pad, hi + pad)
    for a in (ax_lab, ax, ax_val):
        a.set_ylim(-0.7, n + 0.1)
        a.set_yticks([])
    for a in (ax_lab, ax_val):
        a.set_xlim(0, 1)
        a.set_xticks([])
        a.axis("off")
    if log:
        xlabel = log_ratio_axis(ax, lo - pad, hi + pad, measure)
    else:
        xlabel = measure
    ax.set_xlabel(xlabel, fontsize=fontsize, parse_math=False)
    ax.tick_params(labelsize=fontsize)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    if title:
        ax_lab.set_title(title, fontsize=fontsize + 1, fontweight="bold", loc="left",
                         parse_math=False)
    fig.subplots_adjust(left=0.02, right=0.99, top=0.98 if not title else 0.86,
                        bottom=0.45 / (0.8 + 0.32 * n))
    return fig
