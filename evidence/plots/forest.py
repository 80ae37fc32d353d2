"""Forest plots: study rows drawn by the ``forestplot`` package, summaries added on its axes.

``forestplot`` (PyPI, 0.4.x) draws the study rows: the label column, the estimate and CI
text, extra table columns, the weight column, the CI whiskers and the markers. What it lacks
is drawn here with matplotlib on the same axes: squares sized by weight, the pooled diamond,
one diamond per subgroup with its heterogeneity line, the prediction interval, the line of no
effect at 1 for ratio measures, a log axis with back-transformed tick labels, and rows for
studies that cannot be pooled, which show their reason instead of a CI.

The figure draws what it is given; it computes no statistic. Only the display transform
(``transform="exp"`` for log ratios) is applied to the numbers.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ArgumentError
from ._common import ACCENT, GREY, INK, SUMMARY, fmt, fmt_p, get, is_missing, pyplot

__all__ = ["forest", "FOREST_COLUMNS", "TRANSFORMS"]

#: Columns ``rows`` must have (``weight`` in percent may be NaN for unweighted rows).
FOREST_COLUMNS = ("label", "yi", "ci_low", "ci_high", "weight")
#: Display transforms: ``None``/``"identity"`` (as is), ``"exp"`` (log ratios shown as
#: ratios, log axis), ``"tanh"`` (Fisher z shown as correlations).
TRANSFORMS = (None, "identity", "exp", "tanh")

_NOT_POOLABLE = "not poolable"
_PLACEHOLDER = "\x01{}\x01"  # unique labels of rows whose text is set after layout


def _import_forestplot():
    # forestplot calls warnings.filterwarnings("ignore") when imported, which would silence
    # every warning of the process; catch_warnings restores the filters afterwards.
    with warnings.catch_warnings():
        import forestplot
    return forestplot


def _check_rows(rows: Any) -> pd.DataFrame:
    if not isinstance(rows, pd.DataFrame):
        raise ArgumentError(f"rows must be a pandas DataFrame with columns "
                            f"{', '.join(FOREST_COLUMNS)}; got {type(rows).__name__}")
    missing = [c for c in FOREST_COLUMNS if c not in rows.columns]
    if missing:
        raise ArgumentError(f"rows is missing column(s) {', '.join(missing)}; needed: "
                            f"{', '.join(FOREST_COLUMNS)}")
    return rows.reset_index(drop=True)


def _not_poolable_frame(not_poolable: Any) -> pd.DataFrame:
    if not_poolable is None:
        return pd.DataFrame(columns=["label", "reason"])
    if isinstance(not_poolable, Mapping):
        return pd.DataFrame({"label": list(not_poolable.keys()),
                             "reason": list(not_poolable.values())})
    if isinstance(not_poolable, pd.DataFrame):
        missing = [c for c in ("label", "reason") if c not in not_poolable.columns]
        if missing:
            raise ArgumentError(f"not_poolable is missing column(s) {', '.join(missing)}; "
                                "needed: label, reason (and the group column with subgroups)")
        return not_poolable.reset_index(drop=True)
    raise ArgumentError("not_poolable must be a DataFrame (label, reason) or a mapping "
                        f"label -> reason; got {type(not_poolable).__name__}")


def _reason_text(reason: Any) -> str:
    text = "" if is_missing(reason) else str(reason).strip()
    if not text:
        return f"{_NOT_POOLABLE}: reason not given"
    return text if text.lower().startswith(_NOT_POOLABLE) else f"{_NOT_POOLABLE}: {text}"


def _extra(extra_columns: Any, rows: pd.DataFrame) -> dict[str, str]:
    if extra_columns is None:
        return {}
    if isinstance(extra_columns, str):
        extra_columns = [extra_columns]
    cols = (dict(extra_columns) if isinstance(extra_columns, Mapping)
            else {c: str(c) for c in extra_columns})
    missing = [c for c in cols if c not in rows.columns]
    if missing:
        raise ArgumentError(f"extra_columns names column(s) not in rows: {', '.join(missing)}; "
                            f"rows has: {', '.join(map(str, rows.columns))}")
    return cols


def _cell(x: Any) -> str:
    if is_missing(x):
        return ""
    if isinstance(x, (float, np.floating)) and float(x).is_integer():
        return str(int(x))
    return str(x)


def _level_pct(pooled: Any) -> str:
    level = get(pooled, "level", 0.95)
    level = 0.95 if is_missing(level) else float(level)
    pct = level * 100 if level <= 1 else level
    return f"{pct:g}%"


def _model_label(pooled: Any) -> str:
    method = str(get(pooled, "method", "") or "")
    k = get(pooled, "k")
    if method.upper() in ("FE", "EE"):
        kind = "Common-effect model" if method.upper() == "EE" else "Fixed-effect model"
    elif method:
        kind = f"Random-effects model ({method})"
    else:
        kind = "Pooled estimate"
    return f"{kind}, k = {k}" if k is not None and not is_missing(k) else kind


def _het_text(obj: Any, prefix: str = "Heterogeneity") -> str:
    parts = []
    tau2, i2 = get(obj, "tau2"), get(obj, "i2")
    q, q_df, q_p = get(obj, "q"), get(obj, "q_df"), get(obj, "q_pvalue")
    if not is_missing(tau2):
        parts.append(f"\u03c4\u00b2 = {fmt(tau2, 2)}")
    if not is_missing(i2):
        parts.append(f"I\u00b2 = {fmt(i2, 1)}%")
    if not is_missing(q):
        dfs = f"({int(q_df)})" if not is_missing(q_df) else ""
        parts.append(f"Q{dfs} = {fmt(q, 2)}, {fmt_p(q_p)}")
    elif not is_missing(q_p):
        parts.append(f"Q {fmt_p(q_p)}")
    return f"{prefix}: " + "; ".join(parts) if parts else ""


def _between_text(subgroups: Any) -> str:
    qb = get(subgroups, "q_between")
    if is_missing(qb):
        return ""
    df = get(subgroups, "q_between_df")
    dfs = f"({int(df)})" if not is_missing(df) else ""
    return (f"Test for subgroup differences: Q{dfs} = {fmt(qb, 2)}, "
            f"{fmt_p(get(subgroups, 'q_between_pvalue'))}")


def _subgroup_table(subgroups: Any) -> pd.DataFrame:
    table = subgroups if isinstance(subgroups, pd.DataFrame) else get(subgroups, "groups")
    if not isinstance(table, pd.DataFrame) or "group" not in table.columns:
        raise ArgumentError("subgroups must have a 'groups' DataFrame (or be one) with columns "
                            "group, k, estimate, ci_low, ci_high (tau2, i2, q_pvalue optional)")
    return table.reset_index(drop=True)


def _nice_log_ticks(lo: float, hi: float) -> list[float]:
    candidates = []
    for e in range(-4, 5):
        for m in (1, 2, 5):
            candidates.append(m * 10.0 ** e)
    ticks = [t for t in candidates if lo <= t <= hi]
    if len(ticks) > 7:
        ticks = [t for t in ticks if f"{t:g}".lstrip("0.").startswith(("1", "5"))]
    if len(ticks) > 7:
        ticks = [t for t in ticks if f"{t:g}".lstrip("0.").startswith("1")]
    if len(ticks) < 2:
        ticks = sorted({lo, 1.0, hi} if lo < 1 < hi else {lo, hi})
    return ticks


def forest(
    rows: pd.DataFrame,
    pooled: Any = None,
    subgroups: Any = None,
    *,
    measure: str = "Estimate",
    transform: str | None = None,
    extra_columns: Sequence[str] | Mapping[str, str] | None = None,
    not_poolable: pd.DataFrame | Mapping[str, str] | None = None,
    group_col: str = "group",
    decimals: int = 2,
    xlim: tuple[float, float] | None = None,
    xticks: Sequence[float] | None = None,
    favours: tuple[str, str] | None = None,
    study_header: str = "Study",
    title: str | None = None,
    fontsize: float = 9,
    width: float = 4.0,
    row_height: float = 0.24,
):
    """Draw a forest plot of study rows, with pooled and subgroup summaries.

    Parameters
    ----------
    rows : pandas.DataFrame
        One row per pooled study with columns ``label``, ``yi``, ``ci_low``, ``ci_high`` and
        ``weight`` (in percent, as the result object gives them; NaN shows no weight), in
        analysis scale (e.g. log risk ratios). With ``subgroups``, also ``group_col``.
    pooled : MetaResult-like, optional
        Anything with attributes (or keys) ``estimate, ci_low, ci_high, pi_low, pi_high, tau2,
        i2, q, q_df, q_pvalue, k, method, level``, e.g. :func:`evidence.meta.meta`'s result.
        Drawn as a diamond, the prediction interval as a line in the row under it, and a
        heterogeneity line.
    subgroups : SubgroupResult-like or DataFrame, optional
        ``groups`` frame with ``group, k, estimate, ci_low, ci_high`` (and optionally
        ``tau2, i2, q, q_df, q_pvalue, pi_low, pi_high``) plus ``q_between, q_between_df,
        q_between_pvalue`` (e.g. :func:`evidence.meta.subgroup.subgroup`'s result). Studies are
        listed under their group, each group closed by its diamond and heterogeneity line.
    measure : str
        Name of the effect measure for the column header and the x label ("Risk ratio").
    transform : {None, "identity", "exp", "tanh"}
        ``"exp"`` shows log ratios as ratios: numbers are exponentiated, the x axis is
        logarithmic with tick labels in ratio units, and the line of no effect is at 1.
        ``"tanh"`` shows Fisher-z values as correlations (linear axis).
    extra_columns : list of column names, or mapping column -> header, optional
        Further columns of ``rows`` shown as text left of the estimate column (e.g. ``n``).
    not_poolable : DataFrame (``label``, ``reason``[, group]) or mapping label -> reason
        Studies that cannot be pooled. Their row shows the reason (prefixed "not poolable: "
        unless it already says so) instead of an estimate and CI.
    group_col : str
        Column of ``rows`` (and ``not_poolable``) holding the subgroup.
    decimals : int
        Decimals of the numbers printed.
    xlim, xticks : optional
        Axis limits and ticks in display units (ratio units with ``transform="exp"``).
    favours : (str, str), optional
        Texts under the axis, left and right of the line of no effect.
    study_header, title, fontsize, width, row_height :
        Layout: the first column's header, a title, the font size, the width (inches) of the
        plotting region, the height of one row (inches).

    Returns
    -------
    matplotlib.figure.Figure
        Artists carry ids for inspection: ``study-squares`` (the weighted squares),
        ``pooled-diamond``, ``subgroup-diamond``, ``prediction-interval``,
        ``null-line``.

    Raises
    ------
    ArgumentError
        ``rows`` lacks a column, ``transform`` is unknown, ``subgroups`` without
        ``group_col`` in ``rows``.

    Notes
    -----
    Square areas are proportional to the weights (the largest weight gets the largest
    square); the diamond spans the confidence interval of the pooled estimate; the
    prediction interval is drawn as a line from ``pi_low`` to ``pi_high``. Nothing is
    estimated here: every number comes from ``rows``, ``pooled`` or ``subgroups``.

    References
    ----------
    Lewis S, Clarke M. Forest plots: trying to see the wood and the trees. BMJ
    2001;322:1479-1480. doi:10.1136/bmj.322.7300.1479

    Examples
    --------
    >>> import pandas as pd
    >>> from evidence.plots import forest
    >>> rows = pd.DataFrame({"label": ["A", "B"], "yi": [-0.5, -0.1],
    ...                      "ci_low": [-1.0, -0.4], "ci_high": [0.0, 0.2],
    ...                      "weight": [40.0, 60.0]})
    >>> fig = forest(rows, pooled={"estimate": -0.25, "ci_low": -0.5, "ci_high": 0.0,
    ...                            "k": 2, "method": "FE"}, measure="Log RR")
    """
    rows = _check_rows(rows)
    if transform not in TRANSFORMS:
        raise ArgumentError(f"transform {transform!r} is not one of None, 'identity', 'exp', "
                            "'tanh'")
    if transform == "identity":
        transform = None
    extra = _extra(extra_columns, rows)
    npool = _not_poolable_frame(not_poolable)
    tf = {"exp": np.exp, "tanh": np.tanh}.get(transform, lambda v: v)

    def t(v: Any) -> float:
        return np.nan if is_missing(v) else float(tf(float(v)))

    def est_text(est: Any, lo: Any, hi: Any) -> str:
        if is_missing(est):
            return ""
        return f"{fmt(t(est), decimals)} [{fmt(t(lo), decimals)}, {fmt(t(hi), decimals)}]"

    display: list[dict[str, Any]] = []

    def add(kind: str, label: str = "", est=np.nan, lo=np.nan, hi=np.nan, text: str = "",
            weight: str = "", extras: dict | None = None, overlay: str | None = None) -> None:
        display.append({"kind": kind, "label": label, "est": est, "lo": lo, "hi": hi,
                        "text": text, "weight": weight, "extras": extras or {},
                        "overlay": overlay})

    def add_study(r: pd.Series) -> None:
        w = r["weight"]
        add("study", str(r["label"]), t(r["yi"]), t(r["ci_low"]), t(r["ci_high"]),
            est_text(r["yi"], r["ci_low"], r["ci_high"]),
            "" if is_missing(w) else f"{float(w):.{max(decimals - 1, 1)}f}%",
            {c: _cell(r[c]) for c in extra})

    def add_not_poolable(r: pd.Series) -> None:
        add("not_poolable", str(r["label"]), text=_reason_text(r["reason"]),
            extras={c: _cell(r[c]) if c in r.index else "" for c in extra})

    if subgroups is not None:
        if group_col not in rows.columns:
            raise ArgumentError(f"subgroups needs column '{group_col}' (group_col) in rows; "
                                f"rows has: {', '.join(map(str, rows.columns))}")
        table = _subgroup_table(subgroups)
        order = [g for g in table["group"].tolist()]
        order += [g for g in pd.unique(rows[group_col]) if g not in order]
        for g in order:
            add("group", str(g))
            for _, r in rows[rows[group_col] == g].iterrows():
                add_study(r)
            if group_col in npool.columns:
                for _, r in npool[npool[group_col] == g].iterrows():
                    add_not_poolable(r)
            match = table[table["group"] == g]
            if len(match):
                s = match.iloc[0]
                k = s.get("k")
                label = f"Subtotal, k = {int(k)}" if not is_missing(k) else "Subtotal"
                add("subtotal", label, t(s["estimate"]), t(s["ci_low"]), t(s["ci_high"]),
                    est_text(s["estimate"], s["ci_low"], s["ci_high"]),
                    overlay="subgroup-diamond")
                pi_lo, pi_hi = s.get("pi_low", np.nan), s.get("pi_high", np.nan)
                if not (is_missing(pi_lo) or is_missing(pi_hi)):
                    add("pi", "Prediction interval", np.nan, t(pi_lo), t(pi_hi),
                        f"[{fmt(t(pi_lo), decimals)}, {fmt(t(pi_hi), decimals)}]",
                        overlay="subgroup-prediction-interval")
                het = _het_text(s)
                if het:
                    add("note", het)
            add("spacer")
        if group_col in npool.columns:
            rest = npool[~npool[group_col].isin(order)]
        else:
            rest = npool
        for _, r in rest.iterrows():
            add_not_poolable(r)
    else:
        for _, r in rows.iterrows():
            add_study(r)
        for _, r in npool.iterrows():
            add_not_poolable(r)

    if pooled is not None:
        if display and display[-1]["kind"] != "spacer":
            add("spacer")
        est, lo, hi = get(pooled, "estimate"), get(pooled, "ci_low"), get(pooled, "ci_high")
        add("pooled", _model_label(pooled), t(est), t(lo), t(hi), est_text(est, lo, hi),
            overlay="pooled-diamond")
        pi_lo, pi_hi = get(pooled, "pi_low"), get(pooled, "pi_high")
        if not (is_missing(pi_lo) or is_missing(pi_hi)):
            add("pi", "Prediction interval", np.nan, t(pi_lo), t(pi_hi),
                f"[{fmt(t(pi_lo), decimals)}, {fmt(t(pi_hi), decimals)}]",
                overlay="prediction-interval")
        het = _het_text(pooled)
        if het:
            add("note", het)
    if subgroups is not None:
        between = _between_text(subgroups)
        if between:
            add("note", between)
    while display and display[-1]["kind"] == "spacer":
        display.pop()
    if not display:
        raise ArgumentError("nothing to draw: rows, not_poolable and pooled are all empty")

    # -- the table handed to forestplot (labels must be unique: they are its y categories)
    seen: dict[str, int] = {}
    labels = []
    for i, d in enumerate(display):
        if d["kind"] in ("note", "spacer"):
            labels.append(_PLACEHOLDER.format(i))
            continue
        lab = d["label"]
        seen[lab] = seen.get(lab, 0) + 1
        labels.append(lab if seen[lab] == 1 else f"{lab} ({seen[lab]})")
    has_weights = any(d["weight"] for d in display)
    table = pd.DataFrame({
        "label": labels,
        "est": [d["est"] if d["kind"] == "study" else np.nan for d in display],
        "lo": [d["lo"] if d["kind"] == "study" else np.nan for d in display],
        "hi": [d["hi"] if d["kind"] == "study" else np.nan for d in display],
        "text": [d["text"] for d in display],
        "weight": [d["weight"] for d in display],
    })
    for c in extra:
        table[f"x_{c}"] = [d["extras"].get(c, "") for d in display]
    annote = [f"x_{c}" for c in extra] + ["text"]
    headers = list(extra.values()) + [f"{measure} [{_level_pct(pooled)} CI]"]

    n = len(display)
    ys = np.arange(n - 1, -1, -1, dtype=float)  # forestplot puts the first row at the top

    # -- limits in display units
    values = [v for d in display for v in (d["est"], d["lo"], d["hi"]) if not is_missing(v)]
    if transform == "exp":
        values = [v for v in values if v > 0]
    if xlim is None:
        if values:
            lo_v, hi_v = min(values), max(values)
        else:
            lo_v, hi_v = (0.5, 2.0) if transform == "exp" else (-1.0, 1.0)
        null = 1.0 if transform == "exp" else 0.0
        lo_v, hi_v = min(lo_v, null), max(hi_v, null)
        if transform == "exp":
            span = np.log(hi_v / lo_v) or 1.0
            xlim = (lo_v * np.exp(-0.05 * span), hi_v * np.exp(0.05 * span))
        else:
            span = (hi_v - lo_v) or 1.0
            xlim = (lo_v - 0.05 * span, hi_v + 0.05 * span)

    plt = pyplot()
    forestplot = _import_forestplot()
    if not values and len(table):
        # forestplot takes its axis range from the CI columns and fails when all are NaN
        # (every row not poolable).
        # forestplot also needs one finite marker: place it far outside the final x range,
        # where the axes clip it (the limits are set again in _finish)
        table = table.copy()
        first = table.index[0]
        outside = xlim[1] * 1e3 if transform == "exp" else xlim[1] + 1e3 * (xlim[1] - xlim[0])
        table.loc[first, ["est", "lo", "hi"]] = outside
    fig = plt.figure(figsize=(width, row_height * (n + 3.5)), facecolor="white")
    try:
        ax = fig.add_subplot()
        kwargs: dict[str, Any] = {}
        if has_weights:
            kwargs.update(rightannote=["weight"], right_annoteheaders=["Weight"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # forestplot's set_yticklabels
            forestplot.forestplot(
                table, estimate="est", varlabel="label", ll="lo", hl="hi",
                form_ci_report=False, ci_report=False, annote=annote, annoteheaders=headers,
                logscale=(transform == "exp"), xline=1.0 if transform == "exp" else 0.0,
                xlinestyle="-", xlinecolor=GREY, xlinewidth=0.8, flush=True, ax=ax,
                variable_header=study_header, fontsize=fontsize, xtick_size=fontsize,
                xlabel=None, markercolor=ACCENT, markeralpha=1.0, linecolor=INK, lw=1.0,
                table=False, xlim=xlim, **kwargs)
        _finish(fig, ax, display, ys, n, transform, xlim, xticks, measure, favours, title,
                fontsize, has_weights)
    finally:
        plt.close(fig)  # the figure lives on; pyplot just stops tracking it
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg(fig)  # closing detached the canvas; give it an off-screen one
    return fig


def _finish(fig, ax, display, ys, n, transform, xlim, xticks, measure, favours, title,
            fontsize, has_weights) -> None:
    from matplotlib.collections import PathCollection
    from matplotlib.lines import Line2D
    from matplotlib.patches import Polygon
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator
    from matplotlib.transforms import blended_transform_factory

    # squares sized by weight: forestplot's markers all have one size
    weights = np.array([float(d["weight"].rstrip("%")) if d["weight"] else np.nan
                        for d in display])
    squares = [c for c in ax.collections if isinstance(c, PathCollection)]
    wmax = np.nanmax(weights) if np.isfinite(weights).any() else np.nan
    for coll in squares:
        coll.set_gid("study-squares")
        if np.isfinite(wmax):
            offsets = np.ma.getdata(coll.get_offsets())
            # forestplot plots its reversed table plus a header row: match by y
            size_by_y = {float(y): w for y, w in zip(ys, weights)}
            sizes = []
            for y in offsets[:, 1]:
                w = size_by_y.get(float(y), np.nan)
                sizes.append(12.0 + 88.0 * (w / wmax) if np.isfinite(w) else 30.0)
            coll.set_sizes(np.asarray(sizes))
        else:
            coll.set_sizes([30.0])

    # diamonds and prediction intervals
    half = 0.32
    for d, y in zip(display, ys):
        if d["overlay"] in ("pooled-diamond", "subgroup-diamond") and not is_missing(d["est"]):
            color = SUMMARY if d["overlay"] == "pooled-diamond" else GREY
            poly = Polygon([(d["lo"], y), (d["est"], y + half), (d["hi"], y),
                            (d["est"], y - half)], closed=True, facecolor=color,
                           edgecolor=color, linewidth=0.8, zorder=3)
            poly.set_gid(d["overlay"])
            ax.add_patch(poly)
        elif d["overlay"] and d["overlay"].endswith("prediction-interval"):
            line = Line2D([d["lo"], d["hi"]], [y, y], color=SUMMARY, linewidth=1.2,
                          solid_capstyle="butt", zorder=3)
            line.set_gid(d["overlay"])
            ax.add_line(line)
            for x in (d["lo"], d["hi"]):
                cap = Line2D([x, x], [y - 0.15, y + 0.15], color=SUMMARY, linewidth=1.2,
                             zorder=3)
                cap.set_gid(d["overlay"] + "-cap")
                ax.add_line(cap)

    # forestplot pads the label column by its width in pixels where matplotlib expects
    # points; measure again (before the notes get their text: notes may run across columns)
    renderer = fig.canvas.get_renderer()
    widest = max((lab.get_window_extent(renderer=renderer).width
                  for lab in ax.get_yticklabels() if lab.get_text()), default=0.0)
    pad = widest * 72.0 / fig.dpi + 4.0
    ax.yaxis.set_tick_params(pad=pad)

    # label column: row kinds, notes that run across the table, spacers
    formatter = ax.yaxis.get_major_formatter()
    seq = list(getattr(formatter, "seq", []))
    tick_labels = ax.get_yticklabels()
    for d, y in zip(display, ys):
        i = int(round(y))
        if i >= len(seq):
            continue
        if d["kind"] == "note":
            seq[i] = d["label"]
        elif d["kind"] == "spacer":
            seq[i] = ""
    if seq:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # categorical locator, fixed labels
            ax.yaxis.set_major_formatter(type(formatter)(seq))
    for d, y in zip(display, ys):
        i = int(round(y))
        if i < len(tick_labels):
            lab = tick_labels[i]
            if d["kind"] in ("group", "pooled", "subtotal"):
                lab.set_fontweight("bold")
            elif d["kind"] == "note":
                lab.set_fontstyle("italic")
                lab.set_color("#444444")
            elif d["kind"] == "not_poolable":
                lab.set_color("#444444")

    # right-hand texts (weights): forestplot places them at data x; pin them to the axes
    right = blended_transform_factory(ax.transAxes, ax.transData)
    for text in ax.texts:
        text.set_transform(right)
        text.set_x(1.04)

    # the line of no effect, tagged
    for coll in ax.collections:
        if not isinstance(coll, PathCollection) and coll.get_gid() is None:
            segs = coll.get_segments() if hasattr(coll, "get_segments") else []
            if len(segs) == 1 and np.allclose(segs[0][:, 0], segs[0][0, 0]):
                coll.set_gid("null-line")

    # axes
    ax.set_xlim(*xlim)
    ax.set_ylim(-0.7, n + 0.6)
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    if transform == "exp":
        ticks = list(xticks) if xticks is not None else _nice_log_ticks(*xlim)
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        xlabel = f"{measure} (log scale)"
    else:
        if xticks is not None:
            ax.xaxis.set_major_locator(FixedLocator(list(xticks)))
        xlabel = measure
    ax.tick_params(axis="x", labelsize=fontsize)
    for lab in ax.get_xticklabels():
        lab.set_fontfamily("sans-serif")
    ax.set_xlabel(xlabel, fontsize=fontsize)
    if favours:
        null = 1.0 if transform == "exp" else 0.0
        trans = blended_transform_factory(ax.transData, ax.transAxes)
        drop = -(fontsize * 1.9 + 6)  # below the tick labels, in points
        for side, text, ha in ((-1, f"\u2190 {favours[0]}", "right"),
                               (1, f"{favours[1]} \u2192", "left")):
            ax.annotate(text, xy=(null, 0), xycoords=trans, xytext=(side * 4, drop),
                        textcoords="offset points", ha=ha, va="top",
                        fontsize=fontsize * 0.9, color=GREY)
        ax.xaxis.labelpad = fontsize * 1.6 + 4
    if title:
        ax.annotate(title, xy=(0, 1), xycoords="axes fraction", xytext=(-pad, fontsize * 1.2),
                    textcoords="offset points", ha="left", va="bottom",
                    fontsize=fontsize + 1, fontweight="bold")
