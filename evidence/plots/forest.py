"""Forest plots drawn with matplotlib directly (metafor ``forest()`` / RevMan layout).

The ``forestplot`` package was dropped: it sets a monospaced table, pads columns in pixels,
sizes all markers alike and has no diamonds, prediction intervals or subgroup subtotals, so
most of the figure was being redrawn over it anyway. Here every column is measured with the
renderer and given the width its widest text needs; long labels wrap at word boundaries
(never cut). Text is DejaVu Sans at >= 7 pt on a figure <= 7 in (178 mm) wide, drawn with
``parse_math=False`` so record text with ``$`` prints literally.

The figure draws what it is given; it computes no statistic. Only the display transform
(``transform="exp"`` for log ratios) is applied to the numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ArgumentError
from ._common import (ACCENT, FONT, INK, SUMMARY, TEXT_KW, fmt, fmt_p, get, is_missing,
                      new_figure, require_frame)

__all__ = ["forest", "FOREST_COLUMNS", "TRANSFORMS"]

#: Columns ``rows`` must have (``weight`` in percent may be NaN for unweighted rows).
FOREST_COLUMNS = ("label", "yi", "ci_low", "ci_high", "weight")
#: Display transforms: ``None``/``"identity"`` (as is), ``"exp"`` (log ratios shown as
#: ratios, log axis), ``"tanh"`` (Fisher z shown as correlations).
TRANSFORMS = (None, "identity", "exp", "tanh")

_NOT_POOLABLE = "not poolable"


def _check_rows(rows: Any) -> pd.DataFrame:
    return require_frame(rows, FOREST_COLUMNS, "rows")


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


def forest_xlim(values: Sequence[float], transform: str | None) -> tuple[float, float]:
    """The x range :func:`forest` draws for these display-scale values: from the smallest to
    the largest (and the null line), with 5% of the span beside each end (on the log scale
    for ``transform="exp"``). Several panels drawn with one ``xlim`` share their axis."""
    if values:
        lo_v, hi_v = min(values), max(values)
    else:
        lo_v, hi_v = (0.5, 2.0) if transform == "exp" else (-1.0, 1.0)
    null = 1.0 if transform == "exp" else 0.0
    lo_v, hi_v = min(lo_v, null), max(hi_v, null)
    if transform == "exp":
        span = np.log(hi_v / lo_v) or 1.0
        return (lo_v * np.exp(-0.05 * span), hi_v * np.exp(0.05 * span))
    span = (hi_v - lo_v) or 1.0
    return (lo_v - 0.05 * span, hi_v + 0.05 * span)


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
    fontsize: float = 7.5,
    width: float = 7.0,
    row_height: float = 0.17,
    overall_test: bool = True,
    group_title: str | None = None,
    weights_note: str | None = None,
    rob: pd.DataFrame | None = None,
    rob_domains: Sequence[str] | Mapping[str, str] | None = None,
    rob_tool: str = "rob2",
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
    rob : pandas.DataFrame, optional
        Risk-of-bias judgements as :func:`evidence.plots.traffic_light` takes them (columns
        ``study``, ``domain``, ``judgement``; the overall one with domain ``"Overall"``), with
        ``study`` matching the ``label`` of the rows. Adds one narrow column per domain (D1,
        D2, ..., then Overall) right of the weights, a circle and glyph per study, and the
        key under the figure (as RevMan does). A study without any row in ``rob`` shows no
        cells; a missing domain of an assessed study shows "not assessed". Without ``rob``
        the figure is exactly as before.
    rob_domains : sequence, or mapping domain -> name, optional
        Order of the risk-of-bias columns; a mapping also gives the names the key prints
        ("D1: Randomisation process").
    rob_tool : {"rob2", "robins-i", "robins-i-v2"}
        The judgement scale of ``rob``.

    Returns
    -------
    matplotlib.figure.Figure
        Artists carry ids for inspection: ``study-squares`` (the weighted squares),
        ``pooled-diamond``, ``subgroup-diamond``, ``prediction-interval``,
        ``null-line``; with ``rob``, the cells ``rob-<i>-<j>-cell`` / ``-glyph`` (``i``-th
        assessed row, ``j``-th domain) and the key as :func:`evidence.plots.traffic_light`.

    Raises
    ------
    ArgumentError
        ``rows`` lacks a column, ``transform`` is unknown, ``subgroups`` without
        ``group_col`` in ``rows``; ``rob`` has an unknown judgement.

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
    rob_cols = None
    if rob is not None:
        from .rob import _RobColumns

        rob_cols = _RobColumns(rob, rob_tool, rob_domains, fontsize)
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
            add("group", f"{group_title}: {g}" if group_title else str(g))
            in_g = rows[rows[group_col] == g]
            for _, r in in_g.iterrows():
                add_study(r)
            wsum = pd.to_numeric(in_g["weight"], errors="coerce")
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
                    weight=(f"{float(wsum.sum()):.1f}%" if wsum.notna().any() else ""),
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
        ov = _overall_text(pooled) if overall_test else ""
        if ov:
            add("note", ov)
    if subgroups is not None:
        between = _between_text(subgroups)
        if between:
            add("note", between)
    while display and display[-1]["kind"] == "spacer":
        display.pop()
    if not display:
        raise ArgumentError("nothing to draw: rows, not_poolable and pooled are all empty")

    values = [v for d in display for v in (d["est"], d["lo"], d["hi"]) if not is_missing(v)]
    if transform == "exp":
        values = [v for v in values if v > 0]
    if xlim is None:
        xlim = forest_xlim(values, transform)
    return _draw(display, transform, xlim, xticks, measure, favours, title, fontsize, width,
                 row_height, list(extra.values()), list(extra), study_header,
                 f"{measure} [{_level_pct(pooled)} CI]", weights_note, rob_cols)


def _overall_text(pooled: Any) -> str:
    stat, p = get(pooled, "stat"), get(pooled, "pvalue")
    if is_missing(stat) or is_missing(p):
        return ""
    test = str(get(pooled, "test", "z") or "z")
    name = "t" if test.lower() in ("t", "knha") else "z"
    df = get(pooled, "df")
    dfs = f"({int(df)})" if name == "t" and not is_missing(df) else ""
    return f"Test for overall effect: {name}{dfs} = {fmt(stat, 2)}, {fmt_p(p)}"


def _wrap(text: str, width_in: float, fontsize: float, measure) -> list[str]:
    """Split ``text`` at spaces into lines no wider than ``width_in`` (a word is never cut)."""
    words = text.split(" ")
    lines, cur = [], ""
    for w in words:
        cand = f"{cur} {w}" if cur else w
        if cur and measure(cand, fontsize) > width_in:
            lines.append(cur)
            cur = w
        else:
            cur = cand
    lines.append(cur)
    return lines


def _draw(display, transform, xlim, xticks, measure, favours, title, fontsize, width,
          row_height, extra_headers, extra_keys, study_header, est_header, weights_note,
          rob_cols=None):
    from matplotlib.lines import Line2D
    from matplotlib.patches import Polygon
    from matplotlib.textpath import TextPath
    from matplotlib.font_manager import FontProperties
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    props = {w: FontProperties(family=FONT, weight=w) for w in ("normal", "bold")}

    def tw(text: str, size: float, weight: str = "normal") -> float:
        """Width of ``text`` in inches at ``size`` points (font metrics, no renderer)."""
        if not text:
            return 0.0
        widest = 0.0
        for line in text.split("\n"):
            if line:
                # right edge of the outline: the largest vertex x (TrueType glyphs have
                # on-curve points at their extrema), 40x faster than Path.get_extents()
                verts = TextPath((0, 0), line, size=size, prop=props[weight]).vertices
                if len(verts):
                    widest = max(widest, float(verts[:, 0].max()) / 72.0)
        return widest

    gap = 0.12  # inches between columns
    has_weights = any(d["weight"] for d in display)
    bold = lambda d: d["kind"] in ("group", "pooled", "subtotal")  # noqa: E731
    # widths of the fixed columns, from their widest text
    x_cols = [max([tw(h, fontsize, "bold") for h in h_.split("\n")]
                  + [tw(d["extras"].get(k, ""), fontsize) for d in display])
              for h_, k in zip(extra_headers, extra_keys)]
    if tw(est_header, fontsize, "bold") > 1.5:  # a long measure name: CI level under it
        est_header = "\n".join(est_header.rsplit(" [", 1)[0:1]
                               + ["[" + est_header.rsplit(" [", 1)[1]]) \
            if " [" in est_header else est_header
    est_w = max([tw(est_header, fontsize, "bold")]
                + [tw(d["text"], fontsize, "bold" if bold(d) else "normal") for d in display
                   if d["kind"] != "not_poolable"])
    w_w = max([tw("Weight", fontsize, "bold")] + [tw(d["weight"], fontsize) for d in display]) \
        if has_weights else 0.0
    label_natural = max([tw(study_header, fontsize, "bold")]
                        + [tw(d["label"], fontsize, "bold" if bold(d) else "normal")
                           for d in display if d["kind"] not in ("note", "spacer")])
    plot_min = 1.6
    fixed = sum(x_cols) + gap * (len(x_cols) + 2) + est_w + (w_w + gap if has_weights else 0)
    if rob_cols is not None:
        fixed += rob_cols.width + gap
    label_w = min(label_natural, max(width - fixed - plot_min - 0.1, 1.2))
    plot_w = max(width - fixed - label_w - 0.1, plot_min)
    if label_w + fixed + plot_w + 0.1 > width:  # very wide text columns: the plot yields
        plot_w = max(width - label_w - fixed - 0.1, 0.8)
    total_w = label_w + fixed + plot_w + 0.1
    # reasons of rows that cannot be pooled run over the plot and estimate columns
    reason_w = plot_w + gap + est_w
    # each row's lines
    for d in display:
        wt = "bold" if bold(d) else "normal"
        if d["kind"] == "note":
            d["lines"] = _wrap(d["label"], total_w - 0.1, fontsize, tw)
        elif d["kind"] == "spacer":
            d["lines"] = [""]
        else:
            # rows without per-arm cells may run over those columns
            room = label_w if d["kind"] in ("study", "not_poolable") \
                else label_w + sum(x_cols) + gap * len(x_cols)
            d["lines"] = _wrap(d["label"], room, fontsize, lambda t_, s_: tw(t_, s_, wt))
            if d["kind"] == "not_poolable":
                d["reason_lines"] = _wrap(d["text"], reason_w, fontsize, tw)
                d["nlines"] = max(len(d["lines"]), len(d["reason_lines"]))
        d.setdefault("nlines", len(d["lines"]))
        if d["kind"] == "spacer":
            d["nlines"] = 0.5
    line_h = fontsize * 1.25 / 72.0
    rows_h = sum(max(row_height, line_h * d["nlines"] + 0.04) for d in display)
    n_title = len(_wrap(title, total_w - 0.1, fontsize + 1,
                        lambda t_, s_: tw(t_, s_, "bold"))) if title else 0
    n_head = 1 + max([h_.count("\n") for h_ in [*extra_headers, est_header]])
    top_h = line_h * (0.6 + 1.1 * n_head + 1.3 * n_title) + 0.05
    bottom_h = line_h * (5.2 if favours else 3.4)
    height = rows_h + top_h + bottom_h
    if rob_cols is not None:  # the risk-of-bias key under the axis (and above a weights note)
        rob_footer = rob_cols.footer(total_w - 0.1, [d["label"] for d in display
                                                     if d["kind"] in ("study", "not_poolable")])
        rob_top = height + 0.05
        height += rob_footer[2] + 0.05
        if weights_note:
            note_h = (0.02 * height + line_h * 1.3) / 0.98
            height += note_h
        bottom_h = height - rows_h - top_h
    fig = new_figure((total_w, height))
    # the forest's axes: x in display units, y in inches from the top of the rows
    x0 = 0.05 + label_w + gap + sum(x_cols) + gap * len(x_cols)
    ax = fig.add_axes((x0 / total_w, bottom_h / height, plot_w / total_w, rows_h / height))
    ax.set_ylim(rows_h, 0)
    ax.set_xlim(*xlim)
    if transform == "exp":
        ax.set_xscale("log")
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.yaxis.set_major_locator(NullLocator())
    ax.yaxis.set_minor_locator(NullLocator())
    from matplotlib.transforms import blended_transform_factory
    tr = blended_transform_factory(fig.dpi_scale_trans, ax.transData)  # x in inches

    def text(x, y, s_, ha="left", weight="normal", style="normal", color=INK, va="center",
             gid=None):
        art = fig.text(x, y, s_, transform=tr, ha=ha, va=va, fontsize=fontsize,
                       fontweight=weight, fontstyle=style, color=color, **TEXT_KW)
        if gid:
            art.set_gid(gid)
        return art

    # column x positions (inches, left edges; numbers right-aligned at the right edge)
    xs, x = [], 0.05 + label_w + gap
    for w_ in x_cols:
        xs.append(x + w_)
        x += w_ + gap
    x_est = x0 + plot_w + gap
    x_w = x_est + est_w + gap + w_w
    # headers, above the rows
    yh = -line_h * 0.7
    text(0.05, yh, study_header, weight="bold", va="bottom")
    for h_, xr in zip(extra_headers, xs):
        text(xr, yh, h_, ha="right", weight="bold", va="bottom")
    text(x_est, yh, est_header, weight="bold", va="bottom")
    if has_weights:
        text(x_w, yh, "Weight", ha="right", weight="bold", va="bottom")
    if title:
        t_lines = _wrap(title, total_w - 0.1, fontsize + 1, lambda t_, s_: tw(t_, s_, "bold"))
        text(0.05, yh - line_h * 1.15 * n_head,
             "\n".join(t_lines), weight="bold", va="bottom").set_fontsize(fontsize + 1)

    weights = [float(d["weight"].rstrip("%")) for d in display
               if d["kind"] == "study" and d["weight"]]
    wmax = max(weights) if weights else np.nan
    pts_per_in = 72.0
    y = 0.0
    sq_x, sq_y, sq_s = [], [], []
    half_h = min(row_height, line_h) * 0.45
    for d in display:
        h = max(row_height, line_h * d["nlines"] + 0.04)
        yc = y + line_h * 0.5 + 0.02 if d["nlines"] > 1 else y + h / 2
        kind = d["kind"]
        if kind == "note":
            text(0.05, yc, "\n".join(d["lines"]), style="italic", va="top" if d["nlines"] > 1
                 else "center", gid="forest-note").set_y(y + 0.02 if d["nlines"] > 1 else yc)
        elif kind != "spacer":
            lab = text(0.05, y + 0.02 if d["nlines"] > 1 else yc, "\n".join(d["lines"]),
                       weight="bold" if bold(d) else "normal",
                       va="top" if d["nlines"] > 1 else "center", gid="forest-label")
            lab.set_linespacing(1.1)
            for k_, xr in zip(extra_keys, xs):
                v = d["extras"].get(k_, "")
                if v:
                    text(xr, yc, v, ha="right")
            if kind == "not_poolable":
                text(x0, y + 0.02 if d["nlines"] > 1 else yc, "\n".join(d["reason_lines"]),
                     va="top" if d["nlines"] > 1 else "center", gid="not-poolable-reason"
                     ).set_bbox({"facecolor": "white", "edgecolor": "none", "pad": 0.5})
            elif d["text"]:
                text(x_est, yc, d["text"], weight="bold" if bold(d) else "normal")
            if d["weight"]:
                text(x_w, yc, d["weight"], ha="right", weight="bold" if bold(d) else "normal")
            if kind == "study" and not is_missing(d["est"]):
                ax.add_line(Line2D([d["lo"], d["hi"]], [yc, yc], color=INK, linewidth=0.8,
                                   zorder=2))
                w_ = float(d["weight"].rstrip("%")) if d["weight"] else np.nan
                side = (0.12 * np.sqrt(w_ / wmax)) if np.isfinite(w_) and np.isfinite(wmax) \
                    else 0.06  # inches; the square's area is proportional to the weight
                sq_x.append(d["est"])
                sq_y.append(yc)
                sq_s.append((side * pts_per_in) ** 2)
            elif d["overlay"] in ("pooled-diamond", "subgroup-diamond") \
                    and not is_missing(d["est"]):
                color = SUMMARY if d["overlay"] == "pooled-diamond" else ACCENT
                poly = Polygon([(d["lo"], yc), (d["est"], yc - half_h), (d["hi"], yc),
                                (d["est"], yc + half_h)], closed=True, facecolor=color,
                               edgecolor=color, linewidth=0.8, zorder=3)
                poly.set_gid(d["overlay"])
                ax.add_patch(poly)
            elif d["overlay"] and d["overlay"].endswith("prediction-interval"):
                line = Line2D([d["lo"], d["hi"]], [yc, yc], color=SUMMARY, linewidth=1.2,
                              solid_capstyle="butt", zorder=3)
                line.set_gid(d["overlay"])
                ax.add_line(line)
                for xe in (d["lo"], d["hi"]):
                    ax.add_line(Line2D([xe, xe], [yc - 0.04, yc + 0.04], color=SUMMARY,
                                       linewidth=1.2, zorder=3))
        y += h
    if sq_x:
        ax.scatter(sq_x, sq_y, s=sq_s, marker="s", color=ACCENT, zorder=3, linewidths=0,
                   gid="study-squares")
    null = 1.0 if transform == "exp" else 0.0
    if xlim[0] < null < xlim[1]:
        ax.axvline(null, color=INK, linewidth=0.7, zorder=1, gid="null-line")
    ax.xaxis.set_minor_locator(NullLocator())
    if transform == "exp":
        ticks = list(xticks) if xticks is not None else _nice_log_ticks(*xlim)
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        xlabel = f"{measure} (log scale)"
    else:
        if xticks is not None:
            ax.xaxis.set_major_locator(FixedLocator(list(xticks)))
        xlabel = measure
    ax.tick_params(axis="x", labelsize=fontsize, colors=INK)
    for lab in ax.get_xticklabels():
        lab.set_fontfamily(FONT)
    ax.set_xlabel(xlabel, fontsize=fontsize, fontfamily=FONT, color=INK, parse_math=False)
    if favours:
        trans = blended_transform_factory(ax.transData, ax.transAxes)
        drop = -(fontsize * 3.4 + 6)
        for side, txt, ha in ((-1, f"\u2190 {favours[0]}", "right"),
                              (1, f"{favours[1]} \u2192", "left")):
            ax.annotate(txt, xy=(null, 0), xycoords=trans, xytext=(side * 4, drop),
                        textcoords="offset points", ha=ha, va="top", fontsize=fontsize,
                        color=INK, gid="favours-label", **TEXT_KW)
    if rob_cols is not None:
        _rob_columns(fig, tr, rob_cols, display, rows_h, row_height, line_h, fontsize,
                     (x_w if has_weights else x_est + est_w) + gap, yh, rob_top, rob_footer)
    if weights_note:
        fig.text(0.05 / total_w, 0.02, weights_note, fontsize=fontsize, color=INK,
                 ha="left", va="bottom", **TEXT_KW)
    return fig


def _rob_columns(fig, tr, rob_cols, display, rows_h, row_height, line_h, fontsize, x0, yh,
                 footer_top, footer):
    """The risk-of-bias columns right of the weights, and their key under the figure."""
    from .rob import OVERALL, _cell, _draw_footer, _top_down

    xs = rob_cols.xs(x0)
    for x, code in zip(xs, rob_cols.codes):
        fig.text(x, yh, code, transform=tr, ha="center", va="bottom", fontsize=fontsize,
                 fontweight="bold", color=INK, gid="rob-header", **TEXT_KW)
    y, i, y_end = 0.0, 0, 0.0
    for d in display:
        h = max(row_height, line_h * d["nlines"] + 0.04)
        judged = rob_cols.row(d["label"]) if d["kind"] in ("study", "not_poolable") else None
        if judged is not None:
            yc = y + line_h * 0.5 + 0.02 if d["nlines"] > 1 else y + h / 2
            for j, (x, label) in enumerate(zip(xs, judged)):
                _cell(fig, tr, x, yc, rob_cols.radius, label, fontsize, f"rob-{i}-{j}")
            i += 1
            y_end = y + h
        y += h
    if OVERALL in rob_cols.domains and y_end > 0:  # the overall column on a shaded band
        from matplotlib.patches import Rectangle

        w = rob_cols.widths[-1]
        band = Rectangle((xs[-1] - w / 2, 0), w, y_end, transform=tr, facecolor="#f0f0f0",
                         edgecolor="none", zorder=0.5)
        band.set_gid("rob-overall-band")
        fig.add_artist(band)
    caption, key, _ = footer
    _draw_footer(fig, _top_down(fig), 0.05, footer_top, caption, key, fontsize,
                 rob_cols.radius)
