"""Shared helpers of the figure modules: lazy matplotlib access, number formatting.

matplotlib is imported inside functions only, so ``import evidence`` stays light and never
touches a display. Figures are drawn off-screen: unless the user has already imported
``matplotlib.pyplot`` or set ``MPLBACKEND``, the Agg backend is selected.
"""

from __future__ import annotations

import math
import os
import sys
from typing import Any

__all__: list[str] = []  # private helpers

#: Colours shared by the figures (colour-blind-safe Okabe-Ito hues plus greys).
INK = "#222222"
GREY = "#595959"  # 7:1 on white (WCAG AA needs 4.5:1 for text)
LIGHT = "#d9d9d9"
ACCENT = "#0072B2"
SUMMARY = "#222222"
FILLED = "#D55E00"


def pyplot():
    """Return ``matplotlib.pyplot``, selecting the Agg backend if nothing chose one."""
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


FONT = "DejaVu Sans"
#: Text drawn from records is never parsed as mathtext: a "$" stays a dollar sign.
TEXT_KW = {"parse_math": False, "fontfamily": FONT}


def new_figure(figsize: tuple[float, float]):
    """A figure with an Agg canvas that pyplot does not track (no global state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, facecolor="white")
    FigureCanvasAgg(fig)
    return fig


def get(obj: Any, name: str, default: Any = None) -> Any:
    """Attribute ``name`` of a result object, or key ``name`` of a mapping."""
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def is_missing(x: Any) -> bool:
    if x is None:
        return True
    try:
        return math.isnan(float(x))
    except (TypeError, ValueError):
        return False


def fmt(x: Any, decimals: int = 2) -> str:
    """A number with fixed decimals; missing values print as ``NA``."""
    if is_missing(x):
        return "NA"
    from ..formatting import number

    return number(float(x), decimals)  # Unicode minus, as every output prints numbers


def fmt_p(p: Any) -> str:
    """``p = 0.012`` or ``p < 0.001`` (:func:`evidence.formatting.p_text`, as every output)."""
    from ..formatting import p_text

    return p_text(p, "plain")


def fmt_count(x: Any) -> str:
    if is_missing(x):
        return ""
    x = float(x)
    return f"{int(x)}" if x == int(x) else f"{x:g}"


def require_frame(obj: Any, columns, name: str):
    """``obj`` as a frame with ``columns`` (index reset), or an ArgumentError naming what is
    missing."""
    import pandas as pd

    from ..errors import ArgumentError

    if not isinstance(obj, pd.DataFrame):
        raise ArgumentError(f"{name} must be a pandas DataFrame with columns "
                            f"{', '.join(columns)}; got {type(obj).__name__}")
    missing = [c for c in columns if c not in obj.columns]
    if missing:
        raise ArgumentError(f"{name} is missing column(s) {', '.join(missing)}; needed: "
                            f"{', '.join(columns)}")
    return obj.reset_index(drop=True)


def log_ratio_axis(ax, lo: float, hi: float, measure: str) -> str:
    """Ticks of a ratio shown on a log axis from ``lo`` to ``hi`` (log scale): nice ratios
    as labels, no minor ticks. Returns the axis label."""
    import numpy as np
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    from .forest import _nice_log_ticks

    ticks = _nice_log_ticks(float(np.exp(lo)), float(np.exp(hi)))
    ax.xaxis.set_major_locator(FixedLocator(np.log(ticks)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{np.exp(v):.3g}"))
    ax.xaxis.set_minor_locator(NullLocator())
    return f"{measure} (log scale)"
