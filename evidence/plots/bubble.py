"""Bubble plot of a one-moderator meta-regression: moderator against effect, area by weight.

The fitted line is drawn from the intercept and slope the engine estimated
(``MetaRegResult.coefficients``); nothing is refitted here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ArgumentError
from ._common import ACCENT, INK, TEXT_KW, new_figure

__all__ = ["bubble"]


def bubble(x: Any, yi: Any, weights: Any, result: Any, *, moderator: str,
           xlabel: str | None = None, measure: str = "Effect size",
           transform: str | None = None, labels: list[str] | None = None,
           figsize: tuple[float, float] = (6.0, 3.8), fontsize: float = 8):
    """Draw study effects ``yi`` against moderator values ``x``, bubble area ∝ ``weights``.

    ``result`` is a :class:`evidence.meta.metareg.MetaRegResult` of ``yi`` on ``moderator``
    (one moderator, with intercept): its line ``intrcpt + b * x`` is drawn over the range of
    ``x``. With ``transform="exp"`` the y axis is in log units with ticks at natural-scale
    ratios. Returns a matplotlib Figure (artists ``bubbles`` and ``metareg-line``).
    """
    x = np.asarray(x, float).ravel()
    y = np.asarray(yi, float).ravel()
    w = np.asarray(weights, float).ravel()
    if not (x.size == y.size == w.size):
        raise ArgumentError(f"x, yi and weights must have one entry per study; got "
                            f"{x.size}, {y.size}, {w.size}")
    coef = result.coefficients
    if moderator not in coef.index or "intrcpt" not in coef.index or len(coef) != 2:
        raise ArgumentError(f"result must be a meta-regression on '{moderator}' with an "
                            f"intercept only; its terms are {', '.join(coef.index)}")
    b0, b1 = float(coef.loc["intrcpt", "estimate"]), float(coef.loc[moderator, "estimate"])
    fig = new_figure(figsize)
    ax = fig.add_subplot()
    ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(w)
    area = 400.0 * w[ok] / np.nanmax(w[ok]) if ok.any() else []
    pts = ax.scatter(x[ok], y[ok], s=area, facecolor=ACCENT, alpha=0.55, edgecolor=INK,
                     linewidth=0.6, zorder=3)
    pts.set_gid("bubbles")
    if ok.any():
        gx = np.linspace(np.min(x[ok]), np.max(x[ok]), 50)
        (line,) = ax.plot(gx, b0 + b1 * gx, color=INK, linewidth=1.2, zorder=4)
        line.set_gid("metareg-line")
    ax.axhline(0.0, color=INK, linewidth=0.6, linestyle=(0, (4, 3)), zorder=1)
    if transform == "exp":
        from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

        from .forest import _nice_log_ticks

        lo, hi = ax.get_ylim()
        ticks = _nice_log_ticks(float(np.exp(lo)), float(np.exp(hi)))
        ax.yaxis.set_major_locator(FixedLocator(np.log(ticks)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{np.exp(v):.3g}"))
        ax.yaxis.set_minor_locator(NullLocator())
        ax.set_ylim(lo, hi)
        ylabel = f"{measure} (log scale)"
    else:
        ylabel = measure
    xlabel = xlabel or moderator
    ax.set_xlabel(xlabel[:1].upper() + xlabel[1:], fontsize=fontsize, color=INK, **TEXT_KW)
    ax.set_ylabel(ylabel, fontsize=fontsize, color=INK, **TEXT_KW)
    ax.tick_params(labelsize=fontsize, colors=INK)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    return fig
