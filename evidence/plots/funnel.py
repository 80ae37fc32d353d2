"""Contour-enhanced funnel plot, with the studies added by trim-and-fill if given."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ArgumentError
from ._common import ACCENT, FILLED, INK, get, is_missing, log_ratio_axis, new_figure

__all__ = ["funnel"]

_SHADES = ("#ffffff", "#c6c6c6", "#dedede", "#f2f2f2")


def _filled_frame(filled: Any) -> pd.DataFrame | None:
    if filled is None:
        return None
    frame = filled if isinstance(filled, pd.DataFrame) else get(filled, "filled")
    if not isinstance(frame, pd.DataFrame) or not {"yi", "vi"} <= set(frame.columns):
        raise ArgumentError("filled must be a DataFrame with columns yi, vi or a trim-and-fill "
                            "result with such a 'filled' frame")
    return frame



def _threshold(alpha: float) -> str:
    """A significance level as the captions print it: two decimals (0.10, 0.05, 0.01), more
    only when two would change it (0.001)."""
    text = f"{alpha:.2f}"
    return text if abs(float(text) - alpha) < 1e-9 else f"{alpha:.3g}"

def funnel(
    yi: Any,
    vi: Any,
    result: Any = None,
    contours: Sequence[float] = (0.9, 0.95, 0.99),
    filled: Any = None,
    *,
    null: float = 0.0,
    measure: str = "Effect size",
    level: float = 0.95,
    title: str | None = None,
    figsize: tuple[float, float] = (6.5, 3.8),
    fontsize: float = 8,
    transform: str | None = None,
):
    """Draw a contour-enhanced funnel plot (effect size against standard error).

    Parameters
    ----------
    yi, vi : array_like
        Effect sizes and sampling variances (analysis scale, e.g. log risk ratios).
    result : MetaResult-like, optional
        Its ``estimate`` is drawn as a vertical line with the pseudo confidence region
        ``estimate +- z * se`` (z of ``level``).
    contours : sequence of float
        Confidence levels of the significance contours, centred on ``null``: the shaded
        bands show where a study's two-sided p-value (Wald test against ``null``) falls
        between ``1 - level`` values.
    filled : DataFrame (``yi``, ``vi``) or trim-and-fill result, optional
        Studies imputed by trim-and-fill, drawn as open circles; a trim-and-fill result's
        ``estimate`` is drawn as a dashed line.
    null : float
        The effect of no difference in analysis scale (0 for differences and log ratios).
    measure, title, figsize, fontsize :
        Axis label, title and layout.
    transform : {None, "exp"}
        ``"exp"``: ``yi`` are log ratios; the axis stays in log units but its ticks sit at
        natural-scale ratios (0.1, 0.2, 0.5, 1, 2, ...) labelled as such, and the label reads
        "<measure> (log scale)". Otherwise the ticks and the label are in ``measure`` units.

    Returns
    -------
    matplotlib.figure.Figure
        Artists carry ids: ``studies``, ``filled-studies``, ``contour-<level>``,
        ``pooled-line``, ``filled-line``.

    Notes
    -----
    The contour for level :math:`c` is the pair of lines
    :math:`y = \\text{null} \\pm z_{(1+c)/2}\\,\\mathrm{SE}`; the y axis (SE) runs from 0 at
    the top downwards. Shading follows Peters et al. (2008).

    References
    ----------
    Peters JL, Sutton AJ, Jones DR, Abrams KR, Rushton L. Contour-enhanced meta-analysis
    funnel plots help distinguish publication bias from other causes of asymmetry. J Clin
    Epidemiol 2008;61:991-996. doi:10.1016/j.jclinepi.2007.11.010

    Examples
    --------
    >>> from evidence.plots import funnel
    >>> fig = funnel([-0.5, -0.2, 0.1], [0.04, 0.02, 0.09])
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch, Polygon
    from scipy.stats import norm

    y = np.asarray(yi, dtype=float).ravel()
    v = np.asarray(vi, dtype=float).ravel()
    if y.shape != v.shape:
        raise ArgumentError(f"yi and vi must have the same length, got {y.size} and {v.size}")
    levels = sorted(float(c) for c in contours)
    if any(not 0 < c < 1 for c in levels) or len(levels) > 3:
        raise ArgumentError(f"contours must be up to three levels in (0, 1), got {contours!r}")
    ok = np.isfinite(y) & np.isfinite(v) & (v > 0)
    y, se = y[ok], np.sqrt(v[ok])
    fill = _filled_frame(filled)
    fy = fse = np.array([])
    if fill is not None and len(fill):
        fy = fill["yi"].to_numpy(dtype=float)
        fse = np.sqrt(fill["vi"].to_numpy(dtype=float))

    se_max = max([*se, *fse, 1e-12]) * 1.08
    zs = [float(norm.ppf(0.5 + c / 2)) for c in levels]
    est = get(result, "estimate")
    z_level = float(norm.ppf(0.5 + (level if level < 1 else level / 100) / 2))
    xs = [*y, *fy, null + (zs[-1] if zs else 2.0) * se_max, null - (zs[-1] if zs else 2.0) * se_max]
    if not is_missing(est):
        xs += [est - z_level * se_max, est + z_level * se_max]
    pad = 0.05 * (max(xs) - min(xs) or 1.0)
    xlo, xhi = min(xs) - pad, max(xs) + pad

    fig = new_figure(figsize)
    ax = fig.add_subplot()
    handles = []
    # shaded bands, widest first; the background is the most significant band
    ax.add_patch(Polygon([(xlo, 0), (xhi, 0), (xhi, se_max), (xlo, se_max)],
                         facecolor=_SHADES[len(levels)], edgecolor="none", zorder=0))
    labels_p = [_threshold(1 - c) for c in levels]
    for i in range(len(levels) - 1, -1, -1):
        z = zs[i]
        poly = Polygon([(null, 0), (null - z * se_max, se_max), (null + z * se_max, se_max)],
                       facecolor=_SHADES[i], edgecolor="#9a9a9a", linewidth=0.5, zorder=1)
        poly.set_gid(f"contour-{levels[i]:g}")
        ax.add_patch(poly)
    handles.append(Patch(facecolor=_SHADES[0], edgecolor="#9a9a9a",
                         label=f"p > {labels_p[0]}" if levels else "all"))
    for i in range(1, len(levels)):
        handles.append(Patch(facecolor=_SHADES[i], edgecolor="#9a9a9a",
                             label=f"{labels_p[i]} < p < {labels_p[i - 1]}"))
    if levels:
        handles.append(Patch(facecolor=_SHADES[len(levels)], edgecolor="#9a9a9a",
                             label=f"p < {labels_p[-1]}"))

    if not is_missing(est):
        line = ax.axvline(est, color=INK, linewidth=1.0, zorder=2)
        line.set_gid("pooled-line")
        for sign in (-1, 1):
            ax.plot([est, est + sign * z_level * se_max], [0, se_max], color=INK,
                    linewidth=0.8, linestyle=(0, (4, 3)), zorder=2)
        handles.append(Line2D([], [], color=INK, linewidth=1.0, label="pooled estimate"))
    pts = ax.scatter(y, se, s=22, color=ACCENT, edgecolor="white", linewidth=0.5, zorder=4,
                     label="studies")
    pts.set_gid("studies")
    handles.append(pts)
    if fy.size:
        fp = ax.scatter(fy, fse, s=22, facecolor="white", edgecolor=FILLED, linewidth=1.0,
                        zorder=4, label="imputed (trim-and-fill)")
        fp.set_gid("filled-studies")
        handles.append(fp)
        f_est = get(filled, "estimate") if not isinstance(filled, pd.DataFrame) else None
        if not is_missing(f_est):
            fl = ax.axvline(f_est, color=FILLED, linewidth=1.0, linestyle=(0, (2, 2)), zorder=2)
            fl.set_gid("filled-line")
            handles.append(Line2D([], [], color=FILLED, linestyle=(0, (2, 2)),
                                  label="estimate after filling"))

    ax.set_xlim(xlo, xhi)
    ax.set_ylim(se_max, 0)
    if transform == "exp":
        xlabel = log_ratio_axis(ax, xlo, xhi, measure)
    else:
        xlabel = measure
    ax.set_xlabel(xlabel, fontsize=fontsize, parse_math=False)
    ax.set_ylabel("Standard error", fontsize=fontsize)
    ax.tick_params(labelsize=fontsize)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(handles=handles, fontsize=fontsize, frameon=False,
              loc="upper left", bbox_to_anchor=(1.01, 1.0))
    if title:
        ax.set_title(title, fontsize=fontsize + 1, fontweight="bold", loc="left",
                     parse_math=False)
    return fig
