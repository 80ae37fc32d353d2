"""Effect sizes and their sampling variances, as R metafor's ``escalc()`` computes them.

Measure names, argument names and sign conventions follow metafor 3.8-1 so that R users are
at home: ``m1i``/``sd1i``/``n1i`` describe group 1 (or, for pre-post measures, the second
measurement), ``m2i``/``sd2i``/``n2i`` group 2 (or the first measurement), ``ai``/``bi``/``ci``/
``di`` the cells of a 2x2 table, ``ri`` a correlation and ``ni`` a sample size. Every measure
is ``group 1 minus group 2`` (or ``log(group 1 / group 2)``).

Rows that cannot be computed (a missing input, a sample size too small, a division by zero)
get ``NaN`` for ``yi`` and ``vi`` and a ``reason`` saying why; they never raise. Bad
*arguments* (an unknown measure, an assumption that is not stated, arrays of different
lengths) raise :class:`evidence.errors.ArgumentError`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from evidence.errors import ArgumentError
from evidence.vocabulary import MEASURES as _MEASURE_NAMES
from evidence.vocabulary import PRE_POST_MEASURES, TWO_BY_TWO_MEASURES, parse_level

__all__ = [
    "MEASURES",
    "escalc",
    "correlation_sensitivity",
    "hedges_correction",
]

_MEASURE_INFO: dict[str, tuple[str, tuple[str, ...]]] = {
    "MD": ("raw mean difference", ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i")),
    "SMD": ("standardized mean difference (Hedges' g)", ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i")),
    "SMDH": (
        "standardized mean difference, heteroscedastic SDs (Bonett 2008)",
        ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"),
    ),
    "ROM": ("log ratio of means", ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i")),
    "OR": ("log odds ratio", ("ai", "bi", "ci", "di")),
    "RR": ("log risk ratio", ("ai", "bi", "ci", "di")),
    "RD": ("risk difference", ("ai", "bi", "ci", "di")),
    "COR": ("raw correlation coefficient", ("ri", "ni")),
    "ZCOR": ("Fisher's r-to-z transformed correlation", ("ri", "ni")),
    "MC": ("raw mean change", ("m1i", "m2i", "sd1i", "sd2i", "ni", "ri")),
    "SMCC": (
        "standardized mean change, change-score standardization (Gibbons et al. 1993)",
        ("m1i", "m2i", "sd1i", "sd2i", "ni", "ri"),
    ),
    "SMCR": (
        "standardized mean change, raw-score standardization (Becker 1988)",
        ("m1i", "m2i", "sd1i", "ni", "ri"),
    ),
}
#: measure -> (short description, required arguments), keyed (and ordered) by
#: :data:`evidence.vocabulary.MEASURES`
MEASURES: dict[str, tuple[str, tuple[str, ...]]] = {m: _MEASURE_INFO[m] for m in _MEASURE_NAMES}

_VTYPES: dict[str, tuple[str, ...]] = {
    "MD": ("LS", "HO"),
    "SMD": ("LS", "UB"),
}
_TWO_BY_TWO = TWO_BY_TWO_MEASURES
_PRE_POST = PRE_POST_MEASURES
_TO = ("only0", "all", "if0all", "none")
_ARGS = ("ai", "bi", "ci", "di", "n1i", "n2i", "m1i", "m2i", "sd1i", "sd2i", "ri", "ni")


def hedges_correction(m: Any) -> np.ndarray:
    """Exact small-sample bias correction factor of a standardized mean difference.

    Parameters
    ----------
    m : array_like
        Degrees of freedom (``n1 + n2 - 2`` for two groups, ``n - 1`` for a mean change).

    Returns
    -------
    numpy.ndarray
        ``J(m)``; ``NaN`` where ``m <= 1``.

    Notes
    -----
    .. math:: J(m) = \\frac{\\Gamma(m/2)}{\\sqrt{m/2}\\,\\Gamma((m-1)/2)}

    computed on the log scale; ``J(m) ~ 1 - 3 / (4m - 1)``.

    References
    ----------
    Hedges, L. V. (1981). Distribution theory for Glass's estimator of effect size and related
    estimators. Journal of Educational Statistics, 6(2), 107-128.
    https://doi.org/10.3102/10769986006002107

    Examples
    --------
    >>> float(hedges_correction(18).round(6))
    0.957646
    """
    m = np.asarray(m, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.exp(special.gammaln(m / 2) - 0.5 * np.log(m / 2) - special.gammaln((m - 1) / 2))
    return np.where(m > 1, out, np.nan)


# --------------------------------------------------------------------------------------------
# argument handling


def _resolve(
    name: str, value: Any, data: pd.DataFrame | None, k: int | None
) -> np.ndarray | None:
    """Turn one argument into a float array (or None when not given)."""
    if value is None:
        return None
    if isinstance(value, str):
        if data is None:
            raise ArgumentError(
                f"{name}={value!r} names a column, but no data frame was given "
                "(pass data=... or give an array)"
            )
        if value not in data.columns:
            cols = ", ".join(map(str, data.columns))
            raise ArgumentError(f"{name}={value!r} is not a column of data; columns are: {cols}")
        value = data[value]
    try:
        arr = np.ravel(np.asarray(value, dtype=float))
    except (TypeError, ValueError):  # pd.NA, None, numeric strings: coerce
        raw = pd.Series(np.ravel(np.asarray(value, dtype=object)))
        ser = pd.to_numeric(raw, errors="coerce")
        bad = (ser.isna() & raw.notna()).to_numpy()
        if bad.any():  # a value that is there but is not a number ("O.8", "0,2")
            shown = ", ".join(repr(v) for v in raw[bad].iloc[:3])
            raise ArgumentError(f"{name} has values that are not numbers at position(s) "
                                f"{', '.join(map(str, np.flatnonzero(bad)[:5]))} ({shown}); "
                                "missing values may be None or NaN") from None
        arr = ser.to_numpy(dtype=float, na_value=np.nan)
    if np.ndim(value) == 0:
        return arr  # scalar: length 1, broadcast later
    if k is not None and arr.size != k:
        raise ArgumentError(f"{name} has length {arr.size}, but data has {k} rows")
    return arr


def _broadcast(arrays: Mapping[str, np.ndarray], k: int | None,
               scalars: set[str] | frozenset[str] = frozenset()
               ) -> tuple[dict[str, np.ndarray], int]:
    """Broadcast the arguments to one length. Only true scalars (``ri=0.5``, names in
    ``scalars``) are recycled; an array of length 1 beside longer arrays is a mismatch
    (``m1i=[10.0]`` with three studies raises, it is not silently reused for all three)."""
    lengths = {n: a.size for n, a in arrays.items() if n not in scalars}
    sizes = set(lengths.values())
    if k is not None:
        sizes.add(k)
    if len(sizes) > 1:
        detail = ", ".join(f"{n}: {s}" for n, s in lengths.items())
        if k is not None:
            detail += f"; data: {k} rows"
        raise ArgumentError(f"arguments have mismatched lengths ({detail}); only scalars "
                            "are recycled")
    if 0 in sizes:
        raise ArgumentError("the arguments are empty: need at least one study")
    n = sizes.pop() if sizes else 1
    return {name: np.broadcast_to(a, (n,)).astype(float) for name, a in arrays.items()}, n


class _Reasons:
    """Collect the first reason a row cannot be computed (vectorised).

    Rows failing a validity check are forced to NaN in both ``yi`` and ``vi``; rows with a
    missing input keep whatever the formulas still give (as metafor: a missing mean leaves
    ``vi`` of MD computable), and get their reason either way.
    """

    def __init__(self, k: int):
        self.text = np.full(k, None, dtype=object)
        self.has = np.zeros(k, dtype=bool)
        self.force = np.zeros(k, dtype=bool)

    def add(self, mask: np.ndarray, message: str | np.ndarray, force: bool = True) -> None:
        mask = np.asarray(mask, dtype=bool) & ~self.has
        if not mask.any():
            return
        self.text[mask] = message[mask] if isinstance(message, np.ndarray) else message
        self.has |= mask
        if force:
            self.force |= mask

    def missing(self, x: dict[str, np.ndarray], names: Sequence[str]) -> None:
        miss = {name: np.isnan(x[name]) for name in names}
        rows = np.flatnonzero(np.logical_or.reduce(list(miss.values())))
        if rows.size == 0:
            return
        joined = np.full(rows.size, "", dtype=object)
        for name in names:  # a handful of argument names, not rows
            m = miss[name][rows]
            joined[m] = np.where(joined[m] == "", name, joined[m] + ", " + name)
        text = np.full(self.text.size, None, dtype=object)
        text[rows] = joined + " missing"
        mask = np.zeros(self.text.size, dtype=bool)
        mask[rows] = True
        self.add(mask, text, force=False)

    @property
    def ok(self) -> np.ndarray:
        return ~self.has


# --------------------------------------------------------------------------------------------
# the measures (each: x -> (yi, vi), with reasons for rows that fail)


def _two_group_checks(x: dict[str, np.ndarray], why: _Reasons) -> None:
    for g in ("1", "2"):
        why.add(x[f"n{g}i"] <= 0, f"n{g}i <= 0")
        why.add(x[f"sd{g}i"] < 0, f"sd{g}i < 0")


def _md(x, why, vtype):
    _two_group_checks(x, why)
    n1, n2, s1, s2 = x["n1i"], x["n2i"], x["sd1i"], x["sd2i"]
    yi = x["m1i"] - x["m2i"]
    if vtype == "HO":
        why.add(n1 + n2 - 2 <= 0, "n1i + n2i - 2 <= 0")
        sp2 = ((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / (n1 + n2 - 2)
        vi = sp2 * (1 / n1 + 1 / n2)
    else:
        vi = s1**2 / n1 + s2**2 / n2
    return yi, vi


def _smd(x, why, vtype):
    _two_group_checks(x, why)
    n1, n2, s1, s2 = x["n1i"], x["n2i"], x["sd1i"], x["sd2i"]
    m = n1 + n2 - 2
    why.add(m <= 1, "n1i + n2i - 2 <= 1")
    cm = hedges_correction(m)
    sp = np.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / m)
    why.add(sp == 0, "pooled SD is 0")
    yi = cm * (x["m1i"] - x["m2i"]) / sp
    if vtype == "UB":
        vi = 1 / n1 + 1 / n2 + (1 - (m - 2) / (m * cm**2)) * yi**2
    else:
        vi = 1 / n1 + 1 / n2 + yi**2 / (2 * (n1 + n2))
    return yi, vi


def _smdh(x, why, vtype):
    _two_group_checks(x, why)
    n1, n2, s1, s2 = x["n1i"], x["n2i"], x["sd1i"], x["sd2i"]
    why.add((n1 <= 1) | (n2 <= 1), "n1i <= 1 or n2i <= 1")
    cm = hedges_correction(n1 + n2 - 2)
    avg_var = (s1**2 + s2**2) / 2
    why.add(avg_var == 0, "sd1i and sd2i are 0")
    yi = cm * (x["m1i"] - x["m2i"]) / np.sqrt(avg_var)
    vi = cm**2 * (
        yi**2 * (s1**4 / (n1 - 1) + s2**4 / (n2 - 1)) / (8 * avg_var**2)
        + (s1**2 / (n1 - 1) + s2**2 / (n2 - 1)) / avg_var
    )
    return yi, vi


def _rom(x, why, vtype):
    _two_group_checks(x, why)
    m1, m2 = x["m1i"], x["m2i"]
    why.add((m1 == 0) | (m2 == 0) | (np.sign(m1) != np.sign(m2)),
            "m1i and m2i must be non-zero and of the same sign")
    yi = np.log(m1 / m2)
    vi = x["sd1i"] ** 2 / (x["n1i"] * m1**2) + x["sd2i"] ** 2 / (x["n2i"] * m2**2)
    return yi, vi


def zero_cell_shift(a, b, c, d, add: float, to: str, valid=None) -> np.ndarray:
    """The amount added to every cell of each 2x2 table (metafor's ``add`` and ``to``).

    ``to="only0"``: ``add`` for tables with a zero cell; ``"all"``: for every table;
    ``"if0all"``: for every table if any ``valid`` table (default: all) has a zero cell;
    ``"none"``: never. Shared by :func:`escalc` and the Mantel-Haenszel / Peto methods
    (:mod:`evidence.meta.mh`), so the rule is written once.

    >>> zero_cell_shift(np.array([0., 2.]), np.array([5., 3.]), np.array([1., 1.]),
    ...                 np.array([4., 4.]), 0.5, "only0").tolist()
    [0.5, 0.0]
    """
    zero = (a == 0) | (b == 0) | (c == 0) | (d == 0)
    if to == "all":
        return np.full(a.size, float(add))
    if to == "only0":
        return np.where(zero, float(add), 0.0)
    if to == "if0all":
        ok = np.ones(a.size, dtype=bool) if valid is None else valid
        return np.full(a.size, float(add) if np.any(zero & ok) else 0.0)
    return np.zeros(a.size)


def _two_by_two(measure, x, why, add, to, drop00):
    a, b, c, d = (x[n].copy() for n in ("ai", "bi", "ci", "di"))
    for name, v in (("ai", a), ("bi", b), ("ci", c), ("di", d)):
        why.add(v < 0, f"{name} < 0")
    why.add((a + b == 0) | (c + d == 0), "a group has no participants (n1i or n2i is 0)")
    if drop00:
        why.add(((a == 0) & (c == 0)) | ((b == 0) & (d == 0)),
                "no events (or only events) in both groups (drop00=True)")
    shift = zero_cell_shift(a, b, c, d, add, to, why.ok)
    a, b, c, d = a + shift, b + shift, c + shift, d + shift
    n1, n2 = a + b, c + d
    if measure == "OR":
        yi = np.log(a * d / (b * c))
        vi = 1 / a + 1 / b + 1 / c + 1 / d
    elif measure == "RR":
        yi = np.log(a / n1) - np.log(c / n2)
        vi = 1 / a - 1 / n1 + 1 / c - 1 / n2
    else:  # RD
        p1, p2 = a / n1, c / n2
        yi = p1 - p2
        vi = p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
    return yi, vi, shift > 0


def _cor(measure, x, why):
    r, n = x["ri"], x["ni"]
    why.add(np.abs(r) > 1, "ri outside [-1, 1]")
    if measure == "COR":
        why.add(n <= 1, "ni <= 1")
        return r, (1 - r**2) ** 2 / (n - 1)
    why.add(n <= 3, "ni <= 3")
    why.add(np.abs(r) == 1, "ri is -1 or 1 (Fisher z infinite)")
    return np.arctanh(r), 1 / (n - 3)


def _pre_post(measure, x, why):
    n, r = x["ni"], x["ri"]
    why.add(np.abs(r) > 1, "ri outside [-1, 1]")
    why.add(n <= 0, "ni <= 0")
    why.add(x["sd1i"] < 0, "sd1i < 0")
    diff = x["m1i"] - x["m2i"]
    if measure == "SMCR":
        why.add(n <= 2, "ni <= 2")
        why.add(x["sd1i"] == 0, "sd1i is 0")
        yi = hedges_correction(n - 1) * diff / x["sd1i"]
        return yi, 2 * (1 - r) / n + yi**2 / (2 * n)
    s1, s2 = x["sd1i"], x["sd2i"]
    why.add(s2 < 0, "sd2i < 0")
    var_change = s1**2 + s2**2 - 2 * r * s1 * s2
    if measure == "MC":
        return diff, var_change / n
    why.add(n <= 2, "ni <= 2")
    why.add(var_change <= 0, "SD of the change scores is 0")
    yi = hedges_correction(n - 1) * diff / np.sqrt(var_change)
    return yi, 1 / n + yi**2 / (2 * n)


# --------------------------------------------------------------------------------------------


def escalc(
    measure: str,
    data: pd.DataFrame | None = None,
    *,
    ai: Any = None,
    bi: Any = None,
    ci: Any = None,
    di: Any = None,
    n1i: Any = None,
    n2i: Any = None,
    m1i: Any = None,
    m2i: Any = None,
    sd1i: Any = None,
    sd2i: Any = None,
    ri: Any = None,
    ni: Any = None,
    add: float = 0.5,
    to: str = "only0",
    drop00: bool = False,
    vtype: str = "LS",
    var_names: tuple[str, str] = ("yi", "vi"),
    reason_name: str = "reason",
) -> pd.DataFrame:
    """Compute effect sizes ``yi`` and sampling variances ``vi`` as metafor's ``escalc()``.

    Parameters
    ----------
    measure : str
        One of ``MD, SMD, SMDH, ROM, OR, RR, RD, COR, ZCOR, MC, SMCC, SMCR``.
    data : pandas.DataFrame, optional
        When given, string arguments name its columns (``m1i="m_post"``) and the result is a
        copy of it with the new columns. Without it, pass arrays (or scalars to broadcast).
    ai, bi, ci, di : column name or array_like
        2x2 table cells (group 1 events, group 1 non-events, group 2 events, group 2
        non-events). ``bi``/``di`` may be replaced by the group sizes ``n1i``/``n2i``.
    n1i, n2i, m1i, m2i, sd1i, sd2i : column name or array_like
        Group sizes, means and standard deviations. For the pre-post measures ``MC``, ``SMCC``
        and ``SMCR``, ``m1i`` is the *second* (post) mean and ``m2i`` the *first* (pre) mean, so
        a positive ``yi`` is an increase. ``SMCR`` standardizes by ``sd1i``, which, as in
        metafor, should be the SD you want to standardize by, usually the pre-test SD
        (``sd1i="sd_pre"``); ``MC`` and ``SMCC`` are symmetric in ``sd1i`` and ``sd2i``.
    ri : column name, array_like or float
        Correlation. For ``COR``/``ZCOR`` the observed correlations; for ``MC``, ``SMCC`` and
        ``SMCR`` the correlation between the two measurements, which must be stated
        explicitly (there is no default; see :func:`correlation_sensitivity`).
    ni : column name or array_like
        Sample size (``COR``, ``ZCOR`` and the pre-post measures).
    add, to, drop00 :
        Zero-cell handling for ``OR``, ``RR`` and ``RD`` as in metafor: with ``to="only0"``
        (default) ``add`` (default 1/2) is added to every cell of tables with a zero cell;
        ``"all"`` adds to every table, ``"if0all"`` to every table if any has a zero cell,
        ``"none"`` never. ``drop00=True`` gives ``NaN`` for tables with no events (or only
        events) in both groups. The index labels of corrected rows are recorded in
        ``result.attrs["escalc"]["corrected_rows"]``.
    vtype : str
        Variance type: ``"LS"`` (default, large sample) for every measure; also ``"HO"``
        (homoscedastic) for ``MD`` and ``"UB"`` (unbiased) for ``SMD``.
    var_names : (str, str)
        Names of the effect-size and variance columns.
    reason_name : str
        Name of the column saying why a row is ``NaN``, or why its ``vi`` is 0 (``COR`` with
        ``ri`` = +-1: metafor's ``yi = ri``, ``vi = 0`` are kept, with the reason that
        inverse-variance pooling cannot use them); ``None`` for other computed rows.

    Returns
    -------
    pandas.DataFrame
        A copy of ``data`` (or a new frame holding the array arguments) with columns ``yi``,
        ``vi`` and ``reason``. ``result.attrs["escalc"]`` records the measure and settings,
        including an assumed scalar ``ri``.

    Raises
    ------
    ArgumentError
        Unknown measure, ``to`` or ``vtype``; a required argument not given (for the pre-post
        measures a missing ``ri`` is never defaulted); arrays of different lengths (only
        scalars are recycled: a one-element list beside longer arrays raises); empty
        arrays; values that are not numbers (``"O.8"``; missing values are None or NaN and
        give a reason instead); a column name that is not in ``data``.

    Notes
    -----
    With :math:`J(m)=\\Gamma(m/2)/(\\sqrt{m/2}\\,\\Gamma((m-1)/2))` (Hedges 1981):

    - ``MD``: :math:`y = \\bar x_1-\\bar x_2`, :math:`v = s_1^2/n_1 + s_2^2/n_2`
      (``HO``: :math:`s_p^2(1/n_1+1/n_2)`).
    - ``SMD``: :math:`y = J(n_1+n_2-2)(\\bar x_1-\\bar x_2)/s_p`,
      :math:`s_p^2 = ((n_1-1)s_1^2+(n_2-1)s_2^2)/(n_1+n_2-2)`,
      :math:`v = 1/n_1+1/n_2+y^2/(2(n_1+n_2))` (Hedges 1982, eq. 8);
      ``UB``: :math:`v = 1/n_1+1/n_2+(1-(m-2)/(mJ^2))y^2` (Hedges 1983, eq. 9).
    - ``SMDH``: :math:`\\bar s^2=(s_1^2+s_2^2)/2`, :math:`y = J(n_1+n_2-2)(\\bar x_1-\\bar x_2)/\\bar s`,
      :math:`v = J^2[y^2(s_1^4/(n_1-1)+s_2^4/(n_2-1))/(8\\bar s^4)+(s_1^2/(n_1-1)+s_2^2/(n_2-1))/\\bar s^2]`
      (Bonett 2008, 2009).
    - ``ROM``: :math:`y=\\log(\\bar x_1/\\bar x_2)`,
      :math:`v = s_1^2/(n_1\\bar x_1^2)+s_2^2/(n_2\\bar x_2^2)` (Hedges et al. 1999).
    - ``OR``: :math:`\\log(ad/(bc))`, :math:`v=1/a+1/b+1/c+1/d`; ``RR``:
      :math:`\\log(a/n_1)-\\log(c/n_2)`, :math:`v=1/a-1/n_1+1/c-1/n_2`; ``RD``:
      :math:`p_1-p_2`, :math:`v=p_1(1-p_1)/n_1+p_2(1-p_2)/n_2` (after the zero-cell correction).
    - ``COR``: :math:`y=r`, :math:`v=(1-r^2)^2/(n-1)`; ``ZCOR``: :math:`y=\\operatorname{atanh} r`,
      :math:`v=1/(n-3)`.
    - ``MC``: :math:`y=\\bar x_1-\\bar x_2`, :math:`v=(s_1^2+s_2^2-2rs_1s_2)/n`.
    - ``SMCC``: :math:`s_d^2=s_1^2+s_2^2-2rs_1s_2`, :math:`y=J(n-1)(\\bar x_1-\\bar x_2)/s_d`,
      :math:`v=1/n+y^2/(2n)` (Gibbons et al. 1993).
    - ``SMCR``: :math:`y=J(n-1)(\\bar x_1-\\bar x_2)/s_1`, :math:`v=2(1-r)/n+y^2/(2n)`
      (Becker 1988; Morris 2000, 2008).

    Non-finite results (a division by zero, an overflow) become ``NaN``, as in metafor, and
    infinite inputs give ``NaN`` with the reason ``"<argument> is infinite"``. A row with a missing
    input keeps what can still be computed (metafor: ``MD`` with ``m1i`` missing still has
    ``vi``); a row failing a validity check (``n1i <= 0``, ``|ri| > 1``, ...) is ``NaN`` in
    both, where metafor would stop with an error for the whole call.

    References
    ----------
    Viechtbauer, W. (2010). Conducting meta-analyses in R with the metafor package. Journal of
    Statistical Software, 36(3), 1-48. https://doi.org/10.18637/jss.v036.i03 (escalc, 3.8-1).
    Hedges, L. V. (1981, 1982, 1983); Bonett, D. G. (2008, 2009); Hedges, Gurevitch & Curtis
    (1999); Becker, B. J. (1988). Synthesizing standardized mean-change measures. BJMSP 41,
    257-278; Gibbons, Hedeker & Davis (1993). JES 18, 271-279; Morris, S. B. (2008).
    Estimating effect sizes from pretest-posttest-control group designs. ORM 11, 364-386.

    Examples
    --------
    >>> out = escalc("SMD", m1i=[10.0], sd1i=[2.0], n1i=[11], m2i=[15.0], sd2i=[3.0], n2i=[9])
    >>> out[["yi", "vi"]].round(4).to_dict("records")
    [{'yi': -1.9196, 'vi': 0.2941}]
    """
    key = str(measure).upper() if isinstance(measure, str) else measure
    if key not in MEASURES:
        raise ArgumentError(f"measure {measure!r} is not one of {', '.join(MEASURES)}")
    measure = key
    if to not in _TO:
        raise ArgumentError(f"to {to!r} is not one of {', '.join(_TO)}")
    vtypes = _VTYPES.get(measure, ("LS",))
    if vtype not in vtypes:
        raise ArgumentError(
            f"vtype {vtype!r} is not available for measure {measure}; use one of {', '.join(vtypes)}"
        )
    if add is None or not np.isfinite(add) or add < 0:
        raise ArgumentError(f"add must be a non-negative number, got {add!r}")
    if len(var_names) != 2:
        raise ArgumentError(f"var_names must name two columns, got {var_names!r}")
    if data is not None and not isinstance(data, pd.DataFrame):
        raise ArgumentError(f"data must be a pandas DataFrame or None, got {type(data).__name__}")

    given = dict(ai=ai, bi=bi, ci=ci, di=di, n1i=n1i, n2i=n2i, m1i=m1i, m2i=m2i,
                 sd1i=sd1i, sd2i=sd2i, ri=ri, ni=ni)
    needed = list(MEASURES[measure][1])
    if measure in _TWO_BY_TWO:
        # bi/di may be given as group sizes n1i/n2i, as in metafor
        for cell, total in (("bi", "n1i"), ("di", "n2i")):
            if given[cell] is None and given[total] is not None:
                needed[needed.index(cell)] = total
    if measure in _PRE_POST and given["ri"] is None:
        raise ArgumentError(
            f"measure {measure} needs ri, the correlation between the two measurements "
            "(pre and post); it has no default and must be stated explicitly, e.g. ri=0.5 or "
            "ri='r_prepost' (a column). Use correlation_sensitivity() to show how results "
            "depend on it."
        )
    absent = [n for n in needed if given[n] is None]
    if absent:
        raise ArgumentError(
            f"measure {measure} needs {', '.join(needed)}; not given: {', '.join(absent)}"
        )
    if measure in _PRE_POST and not isinstance(ri, str) and np.ndim(ri) == 0:
        r0 = float(ri)
        if not -1 <= r0 <= 1:
            raise ArgumentError(f"ri must lie in [-1, 1], got {ri!r}")

    k = None if data is None else len(data)
    raw = {n: _resolve(n, given[n], data, k) for n in needed}
    scalars = {n for n in needed if not isinstance(given[n], str) and np.ndim(given[n]) == 0}
    x, k = _broadcast(raw, k, scalars)
    why = _Reasons(k)
    why.missing(x, needed)
    for name in needed:  # a handful of argument names, not rows
        why.add(np.isinf(x[name]), f"{name} is infinite")
    if measure in _TWO_BY_TWO:
        if "bi" not in x:
            x["bi"] = x["n1i"] - x["ai"]
            why.add(x["bi"] < 0, "ai > n1i")
        if "di" not in x:
            x["di"] = x["n2i"] - x["ci"]
            why.add(x["di"] < 0, "ci > n2i")

    with np.errstate(all="ignore"):
        if measure == "MD":
            yi, vi = _md(x, why, vtype)
        elif measure == "SMD":
            yi, vi = _smd(x, why, vtype)
        elif measure == "SMDH":
            yi, vi = _smdh(x, why, vtype)
        elif measure == "ROM":
            yi, vi = _rom(x, why, vtype)
        elif measure in _TWO_BY_TWO:
            yi, vi, corrected = _two_by_two(measure, x, why, add, to, drop00)
        elif measure in ("COR", "ZCOR"):
            yi, vi = _cor(measure, x, why)
        else:
            yi, vi = _pre_post(measure, x, why)
        yi = np.broadcast_to(np.asarray(yi, dtype=float), (k,)).copy()
        vi = np.broadcast_to(np.asarray(vi, dtype=float), (k,)).copy()
    why.add(~np.isfinite(yi) | ~np.isfinite(vi),
            "not computable (a division by zero, or a value beyond the float64 range)",
            force=False)
    # computed, but with a zero sampling variance (metafor's value, kept): say why, since
    # inverse-variance pooling (meta) cannot use such a row
    zero_text = {"COR": "vi = 0 because ri is -1 or 1"}.get(measure, "vi = 0 (the inputs imply "
                                                           "no sampling variance)")
    why.add((vi == 0) & np.isfinite(yi), zero_text + "; meta() needs vi > 0", force=False)
    yi[why.force | ~np.isfinite(yi)] = np.nan  # +-Inf -> NaN, as metafor recodes to NA
    vi[why.force | ~np.isfinite(vi)] = np.nan

    if data is not None:
        out = data.copy()
    else:
        out = pd.DataFrame({n: x[n] for n in needed})
    yname, vname = var_names
    out[yname] = yi
    out[vname] = vi
    out[reason_name] = pd.Series(why.text, index=out.index, dtype=object)
    settings: dict[str, Any] = {"measure": measure, "vtype": vtype}
    if measure in _TWO_BY_TWO:
        settings.update(add=add, to=to, drop00=drop00,
                        corrected_rows=list(out.index[corrected & why.ok]))
    if "ri" in needed:
        settings["ri"] = ri if isinstance(ri, str) or np.ndim(ri) == 0 else "array"
    out.attrs = {**out.attrs, "escalc": settings}
    return out


def correlation_sensitivity(
    measure: str,
    data: pd.DataFrame | None = None,
    ri: Sequence[float] = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8),
    pool: Callable[[np.ndarray, np.ndarray], Mapping[str, float]] | None = None,
    *,
    level: float = 0.95,
    **cols: Any,
) -> pd.DataFrame:
    """Recompute a pre-post effect size over a range of assumed pre-post correlations.

    Parameters
    ----------
    measure : str
        A measure that depends on the pre-post correlation: ``MC``, ``SMCC`` or ``SMCR``.
    data : pandas.DataFrame, optional
        As in :func:`escalc`.
    ri : sequence of float
        The assumed correlations (each in [-1, 1]).
    pool : callable, optional
        ``pool(yi, vi) -> dict`` called once per assumed correlation with the computable rows;
        its items are added as columns ``pooled_<key>`` (the same value on every row of that
        correlation). Pooling is the caller's business (e.g. ``evidence.meta``).
    level : float
        Confidence level of each row's normal interval (default 0.95; 95 also accepted).
    **cols
        The other :func:`escalc` arguments (``m1i="m_post"``, ``ni=...``, ``vtype=...``).

    Returns
    -------
    pandas.DataFrame
        Tidy: one row per (assumed ``ri``, input row) with columns ``ri``, ``row`` (the index
        label of ``data``, or the position), ``yi``, ``vi``, ``ci_low``, ``ci_high``,
        ``reason`` (and ``pooled_*`` when ``pool`` is given).

    Notes
    -----
    :math:`y \\pm z_{1-\\alpha/2}\\sqrt{v}`. The data are stacked once for all correlations and
    :func:`escalc` is evaluated a single time (vectorised over correlations and rows).

    References
    ----------
    Morris, S. B. (2008). Estimating effect sizes from pretest-posttest-control group designs.
    Organizational Research Methods, 11(2), 364-386. https://doi.org/10.1177/1094428106291059

    Examples
    --------
    >>> t = correlation_sensitivity("SMCR", m1i=[38.5], m2i=[30.6], sd1i=[15.0], ni=[20],
    ...                             ri=(0.3, 0.7))
    >>> t[["ri", "yi", "vi"]].round(4).to_dict("records")
    [{'ri': 0.3, 'yi': 0.5056, 'vi': 0.0764}, {'ri': 0.7, 'yi': 0.5056, 'vi': 0.0364}]
    """
    key = str(measure).upper()
    if key not in _PRE_POST:
        raise ArgumentError(
            f"measure {measure!r} does not depend on a pre-post correlation; "
            f"use one of {', '.join(_PRE_POST)}"
        )
    if "ri" in cols:
        raise ArgumentError("give the assumed correlations as ri=(...), not in the column arguments")
    grid = np.atleast_1d(np.asarray(ri, dtype=float))
    if grid.ndim != 1 or grid.size == 0 or np.any(~np.isfinite(grid)) or np.any(np.abs(grid) > 1):
        raise ArgumentError(f"ri must be a non-empty sequence of correlations in [-1, 1], got {ri!r}")
    level = parse_level(level)
    col_args = {n: v for n, v in cols.items() if n in _ARGS}
    other = {n: v for n, v in cols.items() if n not in _ARGS}

    # resolve columns once, then stack the rows len(grid) times
    k = None if data is None else len(data)
    resolved = {n: _resolve(n, v, data, k) for n, v in col_args.items() if v is not None}
    scalars = {n for n, v in col_args.items()
               if v is not None and not isinstance(v, str) and np.ndim(v) == 0}
    arrays, k = _broadcast(resolved, k, scalars)
    rows = data.index.to_numpy() if data is not None else np.arange(k)
    m = grid.size
    stacked = {n: np.tile(a, m) for n, a in arrays.items()}
    r_long = np.repeat(grid, k)
    res = escalc(key, **stacked, ri=r_long, **other)
    yname, vname = other.get("var_names", ("yi", "vi"))
    rname = other.get("reason_name", "reason")
    z = stats.norm.ppf(0.5 + level / 2)
    yi = res[yname].to_numpy()
    vi = res[vname].to_numpy()
    se = np.sqrt(vi)
    out = pd.DataFrame(
        {
            "ri": r_long,
            "row": np.tile(rows, m),
            "yi": yi,
            "vi": vi,
            "ci_low": yi - z * se,
            "ci_high": yi + z * se,
            "reason": res[rname].to_numpy(),
        }
    )
    if pool is not None:
        pooled: list[Mapping[str, float]] = []
        for j in range(m):  # one call per assumed correlation (a handful), not per study
            sl = slice(j * k, (j + 1) * k)
            ok = np.isfinite(yi[sl]) & np.isfinite(vi[sl])
            pooled.append(dict(pool(yi[sl][ok], vi[sl][ok])))
        keys = list(dict.fromkeys(kk for p in pooled for kk in p))
        for kk in keys:
            vals = np.array([p.get(kk, np.nan) for p in pooled], dtype=object)
            out[f"pooled_{kk}"] = np.repeat(vals, k)
    out.attrs = {"correlation_sensitivity": {"measure": key, "ri": tuple(grid.tolist()),
                                             "level": level}}
    return out
