"""Conversions of reported statistics into the means, SDs and SEs that effect sizes need.

Every function is vectorised (numpy arrays or scalars in) and returns a :class:`Converted`
record: the values (``.value``, or ``np.asarray(result)``), what they are, the method, the
formula and the reference, plus the inputs, so a caller can record provenance such as
"sd derived from SE (n=10)" (:meth:`Converted.describe`). The median/quartile/range
conversions return a :class:`MeanSD` pair that unpacks as ``mean, sd = ...``.

Invalid rows (a missing input, ``n`` too small, quantiles out of order) give ``NaN``;
bad arguments (unknown method or distribution) raise :class:`evidence.errors.ArgumentError`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from evidence.effects._frozen import FrozenResult, copied_on_read, readonly
from evidence.errors import ArgumentError

__all__ = [
    "Converted",
    "MeanSD",
    "sd_from_se",
    "se_from_sd",
    "se_from_ci",
    "se_from_p",
    "se_from_t",
    "mean_sd_from_median_iqr",
    "mean_sd_from_median_range",
    "mean_sd_from_five_number",
    "change_sd",
    "implied_correlation",
]

_DISTS = ("z", "t")


@copied_on_read("inputs")
@dataclass(frozen=True, slots=True, eq=False)
class Converted(FrozenResult):
    """The result of one conversion, with its provenance.

    Immutable: ``value`` and the arrays of ``inputs`` are read-only copies, and ``inputs``
    hands out a new dict each time.

    Attributes
    ----------
    value : numpy.ndarray
        The converted values (``NaN`` where the conversion is not possible).
    quantity : str
        What ``value`` is: ``"sd"``, ``"se"``, ``"mean"``, ``"correlation"``.
    method : str
        The conversion applied, e.g. ``"sd_from_se"`` or ``"wan2014"``.
    formula : str
        The formula, in plain text.
    reference : str
        Where the formula comes from.
    inputs : Mapping[str, numpy.ndarray]
        The inputs the values were computed from (for provenance).
    template : str
        ``str.format`` template used by :meth:`describe`, filled with the inputs of a row.
    """

    value: np.ndarray
    quantity: str
    method: str
    formula: str
    reference: str
    inputs: Mapping[str, np.ndarray] = field(default_factory=dict)
    template: str = ""

    def __post_init__(self):
        object.__setattr__(self, "value", readonly(self.value))
        object.__setattr__(self, "inputs", {n: readonly(v) for n, v in self.inputs.items()})

    def __array__(self, dtype=None, copy=None):
        if copy:
            return np.array(self.value, dtype=dtype, copy=True)
        return np.asarray(self.value, dtype=dtype)

    def __len__(self) -> int:
        return int(np.size(self.value))

    def describe(self) -> list[str]:
        """One provenance note per value, e.g. ``"sd derived from SE (n=10)"``."""
        k = len(self)
        cols = {n: np.broadcast_to(np.asarray(v), (k,)) for n, v in self.inputs.items()}
        tmpl = self.template or f"{self.quantity} by {self.method}"
        return [tmpl.format(**{n: _fmt(c[i]) for n, c in cols.items()}) for i in range(k)]


@dataclass(frozen=True, slots=True, eq=False)
class MeanSD(FrozenResult):
    """A mean and an SD estimated together (unpacks as ``mean, sd = result``); immutable."""

    mean: Converted
    sd: Converted

    def __iter__(self) -> Iterator[Converted]:
        return iter((self.mean, self.sd))


def _fmt(x: Any) -> str:
    if isinstance(x, (float, np.floating)):
        return f"{x:g}"
    return str(x)


def _arr(x: Any, name: str) -> np.ndarray:
    try:
        return np.asarray(x, dtype=float)
    except (TypeError, ValueError) as err:
        raise ArgumentError(f"{name} must be numeric, got {x!r}") from err


def _check_dist(dist: str) -> None:
    if dist not in _DISTS:
        raise ArgumentError(f"dist {dist!r} is not one of {', '.join(_DISTS)}")


def _critical(p_upper: np.ndarray, dist: str, n: Any, df: Any) -> np.ndarray:
    """Quantile of the normal (dist='z') or t (dist='t', df = n - 1 unless df given)."""
    _check_dist(dist)
    if dist == "z":
        return stats.norm.ppf(p_upper)
    if df is None:
        if n is None:
            raise ArgumentError("dist='t' needs the sample size n (df = n - 1) or df")
        df = _arr(n, "n") - 1
    df = _arr(df, "df")
    with np.errstate(invalid="ignore"):
        return np.where(df > 0, stats.t.ppf(p_upper, np.where(df > 0, df, 1)), np.nan)


def sd_from_se(se: Any, n: Any) -> Converted:
    """Standard deviation from the standard error of a mean.

    Notes
    -----
    :math:`SD = SE\\sqrt{n}`.

    References
    ----------
    Higgins, J. P. T. et al. (eds) (2023). Cochrane Handbook for Systematic Reviews of
    Interventions, version 6.4, section 6.5.2.2.

    Examples
    --------
    >>> sd_from_se(0.5, 16).value
    array(2.)
    """
    se, n = _arr(se, "se"), _arr(n, "n")
    with np.errstate(invalid="ignore"):
        value = np.where((n > 0) & (se >= 0), se * np.sqrt(np.where(n > 0, n, np.nan)), np.nan)
    return Converted(value, "sd", "sd_from_se", "sd = se * sqrt(n)",
                     "Cochrane Handbook 6.5.2.2", {"se": se, "n": n},
                     "sd derived from SE (se={se}, n={n})")


def se_from_sd(sd: Any, n: Any) -> Converted:
    """Standard error of a mean from the standard deviation.

    Notes
    -----
    :math:`SE = SD/\\sqrt{n}`.

    References
    ----------
    Cochrane Handbook for Systematic Reviews of Interventions, version 6.4, section 6.5.2.2.

    Examples
    --------
    >>> se_from_sd(2.0, 16).value
    array(0.5)
    """
    sd, n = _arr(sd, "sd"), _arr(n, "n")
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.where((n > 0) & (sd >= 0), sd / np.sqrt(np.where(n > 0, n, np.nan)), np.nan)
    return Converted(value, "se", "se_from_sd", "se = sd / sqrt(n)",
                     "Cochrane Handbook 6.5.2.2", {"sd": sd, "n": n},
                     "se derived from SD (sd={sd}, n={n})")


def se_from_ci(
    low: Any, high: Any, level: float = 0.95, n: Any = None, dist: str = "z", *,
    df: Any = None, log: bool = False,
) -> Converted:
    """Standard error of an estimate from its confidence interval.

    Parameters
    ----------
    low, high : array_like
        The confidence limits.
    level : float
        Confidence level of the interval (0.95 for a 95% CI).
    n : array_like, optional
        Sample size; needed for ``dist="t"`` (``df = n - 1``; pass ``df`` for other designs,
        e.g. ``n1 + n2 - 2`` for a two-group mean difference).
    dist : {"z", "t"}
        Whether the interval was built with a normal or a t quantile.
    log : bool
        Take logs of the limits first (ratio measures such as OR, RR, HR: the SE is then the
        SE of the log ratio).

    Notes
    -----
    :math:`SE = (high - low) / (2 q)`, :math:`q = \\Phi^{-1}(1-\\alpha/2)` or
    :math:`t_{1-\\alpha/2,\\,df}`.

    References
    ----------
    Cochrane Handbook for Systematic Reviews of Interventions, version 6.4, sections 6.3.1 and
    6.5.2.2 (e.g. a 95% CI is 3.92 SEs wide).

    Examples
    --------
    >>> float(se_from_ci(1.0, 4.92).value.round(4))
    1.0
    """
    if not 0 < level < 1:
        raise ArgumentError(f"level must lie in (0, 1), got {level!r}")
    low, high = _arr(low, "low"), _arr(high, "high")
    q = _critical(np.asarray(0.5 + level / 2), dist, n, df)
    with np.errstate(invalid="ignore", divide="ignore"):
        lo, hi = (np.log(low), np.log(high)) if log else (low, high)
        value = np.where(hi >= lo, (hi - lo) / (2 * q), np.nan)
    scale = "log " if log else ""
    inputs = {"low": low, "high": high}
    if n is not None:
        inputs["n"] = _arr(n, "n")
    return Converted(value, "se", "se_from_ci",
                     f"se = ({scale}high - {scale}low) / (2 * {dist}_(1-alpha/2))",
                     "Cochrane Handbook 6.3.1, 6.5.2.2", inputs,
                     f"se derived from {level:.0%} CI ({{low}} to {{high}}, {dist})")


def se_from_p(estimate: Any, p: Any, n: Any = None, dist: str = "z", *, df: Any = None) -> Converted:
    """Standard error of an estimate from its two-sided p-value.

    Notes
    -----
    :math:`SE = |estimate| / q`, :math:`q = \\Phi^{-1}(1 - p/2)` or :math:`t_{1-p/2,\\,df}`
    (``df = n - 1`` unless given). Exact p-values only: "p < 0.05" cannot be converted.

    References
    ----------
    Cochrane Handbook for Systematic Reviews of Interventions, version 6.4, section 6.3.2.
    Altman, D. G. & Bland, J. M. (2011). How to obtain the confidence interval from a P value.
    BMJ, 343, d2090. https://doi.org/10.1136/bmj.d2090

    Examples
    --------
    >>> float(se_from_p(1.96, 0.05).value.round(4))
    1.0
    """
    estimate, p = _arr(estimate, "estimate"), _arr(p, "p")
    with np.errstate(invalid="ignore", divide="ignore"):
        q = _critical(1 - p / 2, dist, n, df)
        value = np.where((p > 0) & (p < 1), np.abs(estimate) / q, np.nan)
    inputs = {"estimate": estimate, "p": p}
    if n is not None:
        inputs["n"] = _arr(n, "n")
    return Converted(value, "se", "se_from_p", f"se = |estimate| / {dist}_(1-p/2)",
                     "Cochrane Handbook 6.3.2; Altman & Bland 2011", inputs,
                     f"se derived from estimate {{estimate}} and p={{p}} ({dist})")


def se_from_t(estimate: Any, t: Any) -> Converted:
    """Standard error of an estimate from its t (or z) statistic.

    Notes
    -----
    :math:`SE = |estimate / t|`.

    References
    ----------
    Cochrane Handbook for Systematic Reviews of Interventions, version 6.4, section 6.3.2.

    Examples
    --------
    >>> se_from_t(3.0, 2.0).value
    array(1.5)
    """
    estimate, t = _arr(estimate, "estimate"), _arr(t, "t")
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.where(t != 0, np.abs(estimate / t), np.nan)
    return Converted(value, "se", "se_from_t", "se = |estimate / t|",
                     "Cochrane Handbook 6.3.2", {"estimate": estimate, "t": t},
                     "se derived from estimate {estimate} and t={t}")


# ---- median, quartiles, range --------------------------------------------------------------


def _xi(n: np.ndarray) -> np.ndarray:
    """2 * Phi^-1((n - 0.375) / (n + 0.25)): expected range of n standard normals (Wan eq. 9)."""
    return 2 * stats.norm.ppf((n - 0.375) / (n + 0.25))


def _eta(n: np.ndarray) -> np.ndarray:
    """2 * Phi^-1((0.75n - 0.125) / (n + 0.25)): expected IQR of n standard normals (Wan eq. 16)."""
    return 2 * stats.norm.ppf((0.75 * n - 0.125) / (n + 0.25))


def _ordered(*cols: np.ndarray) -> np.ndarray:
    ok = np.ones(np.broadcast(*cols).shape, dtype=bool)
    for lo, hi in zip(cols[:-1], cols[1:], strict=True):
        ok &= lo <= hi
    return ok


_METHODS = ("luo/wan/shi", "wan")
_REF_WAN = ("Wan, X., Wang, W., Liu, J. & Tong, T. (2014). BMC Med Res Methodol 14, 135. "
            "https://doi.org/10.1186/1471-2288-14-135")
_REF_LUO = ("Luo, D., Wan, X., Liu, J. & Tong, T. (2018). Stat Methods Med Res 27(6), 1785-1805. "
            "https://doi.org/10.1177/0962280216669183")
_REF_SHI = ("Shi, J., Luo, D., Weng, H., Zeng, X.-T., Lin, L., Chu, H. & Tong, T. (2020). "
            "Res Synth Methods 11(5), 641-654. https://doi.org/10.1002/jrsm.1429")


def _method(method: str) -> str:
    m = "luo/wan/shi" if method == "default" else method
    if m not in _METHODS:
        raise ArgumentError(f"method {method!r} is not one of default, {', '.join(_METHODS)}")
    return m


def mean_sd_from_median_iqr(q1: Any, median: Any, q3: Any, n: Any,
                            method: str = "luo/wan/shi") -> MeanSD:
    """Mean and SD from the median, first and third quartiles and sample size (scenario C2/S2).

    Parameters
    ----------
    q1, median, q3, n : array_like
    method : {"luo/wan/shi", "default", "wan"}
        ``"luo/wan/shi"`` (= metafor's ``conv.fivenum`` default): mean by Luo et al. (2018,
        eq. 11), SD by Wan et al. (2014, eq. 16). ``"wan"``: mean by Wan et al. (2014, eq. 14).

    Notes
    -----
    Luo: :math:`\\bar x = (0.7 + 0.39/n)(q_1+q_3)/2 + (0.3 - 0.39/n)m`.
    Wan mean: :math:`(q_1+m+q_3)/3`.
    SD: :math:`(q_3-q_1)/\\eta(n)`, :math:`\\eta(n) = 2\\Phi^{-1}((0.75n-0.125)/(n+0.25))`.
    Assumes roughly normal data; ``NaN`` where ``n < 5`` (as conv.fivenum) or the quantiles are
    out of order.

    References
    ----------
    Wan et al. (2014), BMC Med Res Methodol 14:135; Luo et al. (2018), Stat Methods Med Res
    27(6):1785-1805.

    Examples
    --------
    >>> mean, sd = mean_sd_from_median_iqr(4, 6, 10, 20)
    >>> round(float(mean.value), 4), round(float(sd.value), 4)
    (6.7195, 4.7871)
    """
    m = _method(method)
    q1, med, q3, n = (_arr(v, k) for k, v in (("q1", q1), ("median", median), ("q3", q3), ("n", n)))
    ok = _ordered(q1, med, q3) & (n >= 5)
    with np.errstate(invalid="ignore", divide="ignore"):
        if m == "wan":
            mean = (q1 + med + q3) / 3
            mref, mform, mname = _REF_WAN, "(q1 + m + q3) / 3", "wan2014"
        else:
            mean = (0.7 + 0.39 / n) * (q1 + q3) / 2 + (0.3 - 0.39 / n) * med
            mref, mform, mname = _REF_LUO, "(0.7 + 0.39/n)(q1 + q3)/2 + (0.3 - 0.39/n) m", "luo2018"
        sd = (q3 - q1) / _eta(n)
    inputs = {"q1": q1, "median": med, "q3": q3, "n": n}
    tail = " (q1={q1}, median={median}, q3={q3}, n={n})"
    return MeanSD(
        Converted(np.where(ok, mean, np.nan), "mean", mname, mform, mref, inputs,
                  f"mean estimated from median and IQR by {mname}" + tail),
        Converted(np.where(ok, sd, np.nan), "sd", "wan2014",
                  "(q3 - q1) / (2 qnorm((0.75n - 0.125)/(n + 0.25)))", _REF_WAN, inputs,
                  "sd estimated from IQR by wan2014" + tail),
    )


def mean_sd_from_median_range(minimum: Any, median: Any, maximum: Any, n: Any,
                              method: str = "luo/wan/shi") -> MeanSD:
    """Mean and SD from the median, minimum, maximum and sample size (scenario C1/S1).

    Parameters
    ----------
    minimum, median, maximum, n : array_like
    method : {"luo/wan/shi", "default", "wan"}
        ``"luo/wan/shi"``: mean by Luo et al. (2018, eq. 7), SD by Wan et al. (2014, eq. 9).
        ``"wan"``: mean by Wan et al. (2014): Hozo et al. (2005) without its 1/n term.

    Notes
    -----
    Luo: :math:`\\bar x = w(a+b)/2 + (1-w)m`, :math:`w = 4/(4+n^{0.75})`.
    Wan mean: :math:`(a+2m+b)/4`.
    SD: :math:`(b-a)/\\xi(n)`, :math:`\\xi(n) = 2\\Phi^{-1}((n-0.375)/(n+0.25))`.
    ``NaN`` where ``n < 5`` or the values are out of order.

    References
    ----------
    Wan et al. (2014), BMC Med Res Methodol 14:135; Luo et al. (2018), Stat Methods Med Res
    27(6):1785-1805.

    Examples
    --------
    >>> mean, sd = mean_sd_from_median_range(1, 4, 10, 30)
    >>> round(float(mean.value), 6), round(float(sd.value), 6)
    (4.356748, 2.205578)
    """
    m = _method(method)
    a, med, b, n = (_arr(v, k) for k, v in (("minimum", minimum), ("median", median),
                                             ("maximum", maximum), ("n", n)))
    ok = _ordered(a, med, b) & (n >= 5)
    with np.errstate(invalid="ignore", divide="ignore"):
        if m == "wan":
            mean = (a + 2 * med + b) / 4
            mref, mform, mname = _REF_WAN, "(a + 2m + b) / 4", "wan2014"
        else:
            w = 4 / (4 + n**0.75)
            mean = w * (a + b) / 2 + (1 - w) * med
            mref, mform, mname = _REF_LUO, "w (a + b)/2 + (1 - w) m, w = 4 / (4 + n^0.75)", "luo2018"
        sd = (b - a) / _xi(n)
    inputs = {"minimum": a, "median": med, "maximum": b, "n": n}
    tail = " (min={minimum}, median={median}, max={maximum}, n={n})"
    return MeanSD(
        Converted(np.where(ok, mean, np.nan), "mean", mname, mform, mref, inputs,
                  f"mean estimated from median and range by {mname}" + tail),
        Converted(np.where(ok, sd, np.nan), "sd", "wan2014",
                  "(b - a) / (2 qnorm((n - 0.375)/(n + 0.25)))", _REF_WAN, inputs,
                  "sd estimated from range by wan2014" + tail),
    )


def mean_sd_from_five_number(minimum: Any, q1: Any, median: Any, q3: Any, maximum: Any, n: Any,
                             method: str = "luo/wan/shi") -> MeanSD:
    """Mean and SD from the five-number summary and sample size (scenario C3/S3).

    Parameters
    ----------
    minimum, q1, median, q3, maximum, n : array_like
    method : {"luo/wan/shi", "default", "wan"}
        ``"luo/wan/shi"``: mean by Luo et al. (2018, eq. 15), SD by Shi et al. (2020, eq. 10).
        ``"wan"``: mean and SD by Wan et al. (2014, scenario C3).

    Notes
    -----
    Luo: :math:`\\bar x = w_1(a+b)/2 + w_2(q_1+q_3)/2 + (1-w_1-w_2)m`,
    :math:`w_1 = 2.2/(2.2+n^{0.75})`, :math:`w_2 = 0.7 - 0.72/n^{0.55}`.
    Shi: :math:`SD = w(b-a)/\\xi(n) + (1-w)(q_3-q_1)/\\eta(n)`,
    :math:`w = 1/(1+0.07n^{0.6})`.
    Wan: :math:`\\bar x = (a+2q_1+2m+2q_3+b)/8`,
    :math:`SD = (b-a)/(2\\xi(n)) + (q_3-q_1)/(2\\eta(n))`.
    ``NaN`` where ``n < 5`` or the values are out of order.

    References
    ----------
    Luo et al. (2018), Stat Methods Med Res 27(6):1785-1805; Shi et al. (2020), Res Synth
    Methods 11(5):641-654; Wan et al. (2014), BMC Med Res Methodol 14:135.

    Examples
    --------
    >>> mean, sd = mean_sd_from_five_number(2, 4, 6, 10, 14, 20)
    >>> round(float(mean.value), 4), round(float(sd.value), 4)
    (6.9388, 3.6794)
    """
    m = _method(method)
    a, q1, med, q3, b, n = (_arr(v, k) for k, v in (
        ("minimum", minimum), ("q1", q1), ("median", median), ("q3", q3), ("maximum", maximum),
        ("n", n)))
    ok = _ordered(a, q1, med, q3, b) & (n >= 5)
    with np.errstate(invalid="ignore", divide="ignore"):
        if m == "wan":
            mean = (a + 2 * q1 + 2 * med + 2 * q3 + b) / 8
            sd = (b - a) / (2 * _xi(n)) + (q3 - q1) / (2 * _eta(n))
            mref, mform, mname = _REF_WAN, "(a + 2 q1 + 2 m + 2 q3 + b) / 8", "wan2014"
            sref, sform, sname = _REF_WAN, "(b - a)/(2 xi(n)) + (q3 - q1)/(2 eta(n))", "wan2014"
        else:
            w1 = 2.2 / (2.2 + n**0.75)
            w2 = 0.7 - 0.72 / n**0.55
            mean = w1 * (a + b) / 2 + w2 * (q1 + q3) / 2 + (1 - w1 - w2) * med
            w = 1 / (1 + 0.07 * n**0.6)
            sd = w * (b - a) / _xi(n) + (1 - w) * (q3 - q1) / _eta(n)
            mref, mform, mname = (_REF_LUO, "w1 (a + b)/2 + w2 (q1 + q3)/2 + (1 - w1 - w2) m, "
                                  "w1 = 2.2/(2.2 + n^0.75), w2 = 0.7 - 0.72/n^0.55", "luo2018")
            sref, sform, sname = (_REF_SHI, "w (b - a)/xi(n) + (1 - w)(q3 - q1)/eta(n), "
                                  "w = 1/(1 + 0.07 n^0.6)", "shi2020")
    inputs = {"minimum": a, "q1": q1, "median": med, "q3": q3, "maximum": b, "n": n}
    tail = " (min={minimum}, q1={q1}, median={median}, q3={q3}, max={maximum}, n={n})"
    return MeanSD(
        Converted(np.where(ok, mean, np.nan), "mean", mname, mform, mref, inputs,
                  f"mean estimated from five-number summary by {mname}" + tail),
        Converted(np.where(ok, sd, np.nan), "sd", sname, sform, sref, inputs,
                  f"sd estimated from five-number summary by {sname}" + tail),
    )


# ---- change scores --------------------------------------------------------------------------


def change_sd(sd_pre: Any, sd_post: Any, r: Any) -> Converted:
    """SD of change scores from the pre and post SDs and their correlation.

    Parameters
    ----------
    sd_pre, sd_post : array_like
    r : array_like
        Pre-post correlation; an assumption unless reported, so it has no default.

    Notes
    -----
    :math:`SD_{change} = \\sqrt{SD_{pre}^2 + SD_{post}^2 - 2\\,r\\,SD_{pre}SD_{post}}`.

    References
    ----------
    Cochrane Handbook for Systematic Reviews of Interventions, version 6.4, section 6.5.2.8.
    Follmann, D., Elliott, P., Suh, I. & Cutler, J. (1992). Variance imputation for overviews of
    clinical trials with continuous response. J Clin Epidemiol 45(7), 769-773.

    Examples
    --------
    >>> float(change_sd(3.0, 4.0, 0.0).value)
    5.0
    """
    s1, s2, r = _arr(sd_pre, "sd_pre"), _arr(sd_post, "sd_post"), _arr(r, "r")
    with np.errstate(invalid="ignore"):
        var = s1**2 + s2**2 - 2 * r * s1 * s2
        ok = (s1 >= 0) & (s2 >= 0) & (np.abs(r) <= 1) & (var >= 0)
        value = np.where(ok, np.sqrt(np.where(ok, var, np.nan)), np.nan)
    return Converted(value, "sd", "change_sd",
                     "sqrt(sd_pre^2 + sd_post^2 - 2 r sd_pre sd_post)",
                     "Cochrane Handbook 6.5.2.8; Follmann et al. 1992",
                     {"sd_pre": s1, "sd_post": s2, "r": r},
                     "change SD derived from pre/post SDs ({sd_pre}, {sd_post}) with r={r}")


def implied_correlation(sd_pre: Any, sd_post: Any, sd_change: Any) -> Converted:
    """Pre-post correlation implied by the pre, post and change-score SDs.

    Notes
    -----
    :math:`r = (SD_{pre}^2 + SD_{post}^2 - SD_{change}^2) / (2\\,SD_{pre}SD_{post})`.
    ``NaN`` where the three SDs are inconsistent (``|r| > 1``) or an SD is not positive.

    References
    ----------
    Cochrane Handbook for Systematic Reviews of Interventions, version 6.4, section 6.5.2.8.

    Examples
    --------
    >>> float(implied_correlation(3.0, 4.0, 5.0).value)
    0.0
    """
    s1, s2, sc = _arr(sd_pre, "sd_pre"), _arr(sd_post, "sd_post"), _arr(sd_change, "sd_change")
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (s1**2 + s2**2 - sc**2) / (2 * s1 * s2)
        ok = (s1 > 0) & (s2 > 0) & (sc >= 0) & (np.abs(r) <= 1)
    return Converted(np.where(ok, r, np.nan), "correlation", "implied_correlation",
                     "(sd_pre^2 + sd_post^2 - sd_change^2) / (2 sd_pre sd_post)",
                     "Cochrane Handbook 6.5.2.8",
                     {"sd_pre": s1, "sd_post": s2, "sd_change": sc},
                     "correlation implied by SDs pre={sd_pre}, post={sd_post}, change={sd_change}")
