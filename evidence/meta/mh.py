"""Cochran's methods for 2x2 tables: Mantel-Haenszel (:func:`meta_mh`) and Peto's one-step
odds ratio (:func:`meta_peto`), as R metafor's ``rma.mh`` and ``rma.peto``.

Both pool the tables' counts directly (no zero-cell correction is needed for the pooled
estimate); the study-level effects that the heterogeneity statistics and forest plots need
are computed with metafor's ``add``/``to``/``drop00`` rules (:func:`evidence.escalc`). They are
the Cochrane Handbook's (and RevMan's) default fixed-effect methods for dichotomous outcomes.

References
----------
Mantel N, Haenszel W (1959). Statistical aspects of the analysis of data from retrospective
studies of disease. J Natl Cancer Inst 22:719-748. doi:10.1093/jnci/22.4.719
Robins J, Breslow N, Greenland S (1986). Estimators of the Mantel-Haenszel variance
consistent in both sparse data and large-strata limiting models. Biometrics 42:311-323.
doi:10.2307/2531052
Greenland S, Robins JM (1985). Estimation of a common effect parameter from sparse follow-up
data. Biometrics 41:55-68. doi:10.2307/2530643
Sato T, Greenland S, Robins JM (1989). On the variance estimator for the Mantel-Haenszel risk
difference. Biometrics 45:1323-1324.
Cochran WG (1954). Some methods for strengthening the common chi^2 tests. Biometrics
10:417-451. doi:10.2307/3001616
Breslow NE, Day NE (1980). Statistical Methods in Cancer Research I, section 4.4. IARC.
Tarone RE (1985). On heterogeneity tests based on efficient scores. Biometrika 72:91-95.
doi:10.1093/biomet/72.1.91
Yusuf S, Peto R, Lewis J, Collins R, Sleight P (1985). Beta blockade during and after
myocardial infarction: an overview of the randomized trials. Prog Cardiovasc Dis
27:335-371. doi:10.1016/s0033-0620(85)80003-7
Deeks JJ, Higgins JPT, Altman DG (2022). Chapter 10: Analysing data and undertaking
meta-analyses, section 10.4. Cochrane Handbook for Systematic Reviews of Interventions 6.3.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from evidence.effects._frozen import readonly
from evidence.effects.escalc import escalc, zero_cell_shift
from evidence.errors import ArgumentError, EvidenceWarning
from evidence.vocabulary import TABLE_METHODS

from ._validate import as_1d, check_level, positions
from .results import SCALAR_FIELDS, MetaResult, _f, _p, _pct

__all__ = ["meta_mh", "meta_peto", "MHResult", "PetoResult", "MH_MEASURES", "MH_FIELDS",
           "PETO_FIELDS"]

#: Effect measures of :func:`meta_mh` (log odds ratio, log risk ratio, risk difference).
MH_MEASURES = TABLE_METHODS["MH"]
_TO = ("only0", "all", "if0all", "none")
_MEASURE_WORDS = {"OR": "odds ratio", "RR": "risk ratio", "RD": "risk difference"}

#: Fields of both results beyond :data:`~evidence.meta.SCALAR_FIELDS`, in ``to_frame()`` order.
_TABLE_FIELDS = ("measure", "k_yi", "k_dropped", "add", "to", "drop00")
#: Scalar fields of :class:`MHResult` (``to_frame()`` columns, in order).
MH_FIELDS = SCALAR_FIELDS + _TABLE_FIELDS + (
    "cmh", "cmh_pvalue", "cmh_cochran", "cmh_cochran_pvalue", "breslow_day",
    "breslow_day_pvalue", "tarone", "tarone_pvalue", "tarone_df", "correct")
#: Scalar fields of :class:`PetoResult` (``to_frame()`` columns, in order).
PETO_FIELDS = SCALAR_FIELDS + _TABLE_FIELDS


# ---------------------------------------------------------------------------------------
# results


@dataclass(frozen=True, slots=True, eq=False)
class _TableResult(MetaResult):
    """Fields shared by the Mantel-Haenszel and Peto results (see :class:`MHResult`)."""

    measure: str
    k_yi: int
    k_dropped: int
    add: float
    to: str
    drop00: bool
    yi: np.ndarray = field(repr=False, compare=False)
    vi: np.ndarray = field(repr=False, compare=False)
    excluded: tuple = field(repr=False)

    def __post_init__(self):
        MetaResult.__post_init__(self)
        object.__setattr__(self, "yi", readonly(self.yi, float))
        object.__setattr__(self, "vi", readonly(self.vi, float))
        object.__setattr__(self, "excluded", tuple((int(i), str(r)) for i, r in self.excluded))

    _FIELDS = PETO_FIELDS

    def to_dict(self) -> dict:
        """The scalar fields as a dict (no arrays)."""
        return {name: getattr(self, name) for name in self._FIELDS}

    def to_frame(self) -> pd.DataFrame:
        """One-row DataFrame of the scalar fields (the columns of ``MetaResult.to_frame()``
        first, then the fields of this method)."""
        return pd.DataFrame([self.to_dict()], columns=list(self._FIELDS))

    @property
    def model(self) -> str:
        """Always ``"fixed"``: both methods assume one common effect."""
        return "fixed"

    @property
    def k_total(self) -> int:
        """Tables given (``k`` used plus ``k_dropped`` omitted for missing counts)."""
        return self.k + self.k_dropped

    def _title(self) -> str:
        return (f"{self._method_words()} fixed-effect model "
                f"({_MEASURE_WORDS[self.measure]}), k = {self.k}")

    def _method_words(self) -> str:
        return "Mantel-Haenszel" if self.method == "MH" else "Peto"

    def _lines(self) -> list[str]:
        lvl = _pct(self.level)
        scale = " (log scale)" if self.measure in ("OR", "RR") else ""
        out = [self._title()]
        if self.k_yi != self.k:
            out.append(f"study-level effects (heterogeneity): k = {self.k_yi}")
        out.append(f"I^2 = {_f(self.i2, 2)}%, H^2 = {_f(self.h2)}")
        out.append(f"Q({self.q_df}) = {_f(self.q)}, {_pt(self.q_pvalue)}")
        out.append(f"estimate{scale} = {_f(self.estimate)}, se = {_f(self.se)}, "
                   f"z = {_f(self.stat)}, {_pt(self.pvalue)}, "
                   f"{lvl}% CI [{_f(self.ci_low)}, {_f(self.ci_high)}]")
        if scale:
            out.append(f"{_MEASURE_WORDS[self.measure]} = {_f(math.exp(self.estimate))}, "
                       f"{lvl}% CI [{_f(math.exp(self.ci_low))}, {_f(math.exp(self.ci_high))}]")
        return out

    def __str__(self) -> str:
        return "\n".join(self._lines())

    def summary(self) -> str:
        """Multi-line text summary in the spirit of metafor's ``print(rma.mh(...))``."""
        lines = self._lines()
        for pos, reason in self.excluded:
            lines.append(f"table {pos}: {reason}")
        return "\n".join(lines)


@dataclass(frozen=True, slots=True, eq=False)
class MHResult(_TableResult):
    """A Mantel-Haenszel meta-analysis of 2x2 tables (metafor's ``rma.mh``).

    Immutable; the fields of :class:`~evidence.meta.MetaResult` keep their meaning, with
    ``method = "MH"``, ``test = "z"``, ``tau2 = 0`` and no prediction interval (NaN), so a
    result can go wherever a fixed-effect :func:`~evidence.meta.meta` result goes
    (``to_frame()``, :func:`~evidence.meta.transform.back_transform`, forest plots).

    Attributes
    ----------
    k
        tables in the analysis (metafor's ``k``): every table given with complete counts,
        double-zero tables included (they contribute nothing to the estimate).
    estimate, se, stat, pvalue, ci_low, ci_high
        the Mantel-Haenszel estimate (log OR,
        log RR, or RD), its Robins-Breslow-Greenland (OR), Greenland-Robins (RR) or
        Sato-Greenland-Robins (RD) standard error, z test and CI at ``level``.
    q, q_df, q_pvalue, i2, h2
        Cochran's Q of the study-level effects ``yi`` around the MH
        estimate (weights 1/vi), ``q_df = k_yi - 1``; I^2 = max(0, 100 (Q - df)/Q),
        H^2 = Q/df (Q = 0, p = 1, I^2 = 0, H^2 = 1 when k_yi <= 1), as metafor.
    measure
        "OR", "RR" or "RD".
    k_yi
        tables with a study-level effect (metafor's ``k.yi``; drop00 and ``to="none"``
        leave some out). k_dropped : tables omitted for missing counts.
    add, to, drop00
        the zero-cell rules of the study-level effects (not of the estimate).
    yi, vi
        study-level effects and variances in input order over all tables given (NaN
        where there is none), from :func:`evidence.escalc` with ``add``, ``to``, ``drop00``.
    weights
        Mantel-Haenszel weights as fractions summing to 1, in input order over all
        tables given (0 for omitted tables and tables that contribute nothing).
    excluded
        ``(position, reason)`` for each table omitted or without a study-level effect.
    cmh, cmh_pvalue
        Cochran-Mantel-Haenszel test (metafor's ``MH``; OR only, else NaN).
    cmh_cochran, cmh_cochran_pvalue
        Cochran's (1954) version of it (metafor's ``CO``).
    breslow_day, breslow_day_pvalue, tarone, tarone_pvalue, tarone_df : Breslow-Day test and
        Tarone's corrected version (metafor's ``BD``, ``TA``; OR only), ``tarone_df`` = tables
        with all margins positive minus 1 (p-value NaN when 0).
    correct
        whether the CMH tests use the continuity correction.
    """

    cmh: float = math.nan
    cmh_pvalue: float = math.nan
    cmh_cochran: float = math.nan
    cmh_cochran_pvalue: float = math.nan
    breslow_day: float = math.nan
    breslow_day_pvalue: float = math.nan
    tarone: float = math.nan
    tarone_pvalue: float = math.nan
    tarone_df: int | None = None
    correct: bool = True

    _FIELDS = MH_FIELDS

    def _lines(self) -> list[str]:
        out = _TableResult._lines(self)
        if self.measure == "OR":
            out.append(f"Cochran-Mantel-Haenszel test: CMH = {_f(self.cmh)}, df = 1, "
                       f"{_pt(self.cmh_pvalue)}")
            out.append(f"Tarone's test for heterogeneity: X^2 = {_f(self.tarone)}, "
                       f"df = {self.tarone_df}, {_pt(self.tarone_pvalue)}")
        return out


@dataclass(frozen=True, slots=True, eq=False)
class PetoResult(_TableResult):
    """Peto's one-step odds ratio meta-analysis of 2x2 tables (metafor's ``rma.peto``).

    Fields as :class:`MHResult` without the CMH and Tarone tests; ``method = "Peto"``,
    ``measure = "OR"``. ``q`` is Peto's heterogeneity statistic
    ``sum((O - E)^2 / V) - (sum(O - E))^2 / sum(V)`` of the uncorrected tables (metafor's
    ``QE``: ``add``/``to`` do not change it), with ``q_df = k_yi - 1``; ``yi``, ``vi`` are
    the study-level Peto log odds ratios ``(O - E) / V`` and ``1 / V`` of the corrected
    tables (escalc's "PETO" in metafor); ``weights`` are ``V / sum(V)``.
    """


# ---------------------------------------------------------------------------------------
# input


def _counts(name: str, x) -> np.ndarray | None:
    if x is None:
        return None
    if isinstance(x, (pd.Series, pd.Index)):
        x = x.to_numpy(dtype=float, na_value=np.nan)
    return as_1d(x, name)


def _tables(ai, bi, ci, di, n1i, n2i):
    """Validated counts as float arrays (a, b, c, d) and the mask of missing tables."""
    for cell, total, grp in (("bi", "n1i", "1"), ("di", "n2i", "2")):
        given = {"bi": bi, "n1i": n1i, "di": di, "n2i": n2i}
        if given[cell] is None and given[total] is None:
            raise ArgumentError(f"give {cell} (non-events of group {grp}) or {total} (size of "
                                f"group {grp})")
        if given[cell] is not None and given[total] is not None:
            raise ArgumentError(f"give {cell} or {total}, not both")
    if ai is None or ci is None:
        raise ArgumentError("ai and ci (the events of groups 1 and 2) are required")
    arrays = {"ai": _counts("ai", ai), "ci": _counts("ci", ci)}
    arrays["bi" if bi is not None else "n1i"] = _counts("bi" if bi is not None else "n1i",
                                                        bi if bi is not None else n1i)
    arrays["di" if di is not None else "n2i"] = _counts("di" if di is not None else "n2i",
                                                        di if di is not None else n2i)
    sizes = {n: a.size for n, a in arrays.items()}
    if len(set(sizes.values())) > 1:
        raise ArgumentError("the counts have different lengths ("
                            + ", ".join(f"{n}: {s}" for n, s in sizes.items()) + ")")
    if next(iter(sizes.values())) == 0:
        raise ArgumentError("the counts are empty: need at least one 2x2 table")
    missing = np.zeros(next(iter(sizes.values())), dtype=bool)
    for name, a in arrays.items():
        if np.any(np.isinf(a)):
            raise ArgumentError(f"{name} has infinite values at position(s) "
                                f"{positions(np.isinf(a))}")
        missing |= np.isnan(a)
    for name, a in arrays.items():
        ok = ~missing
        if np.any(ok & (a < 0)):
            raise ArgumentError(f"{name} must be counts >= 0; negative at position(s) "
                                f"{positions(ok & (a < 0))} ({a[ok & (a < 0)][0]:g})")
        frac = ok & (a != np.floor(a))
        if np.any(frac):
            raise ArgumentError(f"{name} must be whole counts; not an integer at position(s) "
                                f"{positions(frac)} ({a[frac][0]:g})")
    a, c = arrays["ai"], arrays["ci"]
    if "bi" in arrays:
        b = arrays["bi"]
    else:
        b = arrays["n1i"] - a
        bad = ~missing & (b < 0)
        if np.any(bad):
            raise ArgumentError(f"ai > n1i (more events than participants in group 1) at "
                                f"position(s) {positions(bad)}")
    if "di" in arrays:
        d = arrays["di"]
    else:
        d = arrays["n2i"] - c
        bad = ~missing & (d < 0)
        if np.any(bad):
            raise ArgumentError(f"ci > n2i (more events than participants in group 2) at "
                                f"position(s) {positions(bad)}")
    empty = ~missing & ((a + b == 0) | (c + d == 0))
    if np.any(empty):
        raise ArgumentError(f"a group has no participants (n1i or n2i is 0) in the table(s) at "
                            f"position(s) {positions(empty)}; a 2x2 table needs both groups")
    return a, b, c, d, missing


def _check_options(add, to, drop00, level):
    if isinstance(add, bool) or not isinstance(add, (int, float, np.number)) \
            or not math.isfinite(add) or add < 0:
        raise ArgumentError(f"add must be a non-negative number, got {add!r}")
    if to not in _TO:
        raise ArgumentError(f"to {to!r} is not one of {', '.join(_TO)}")
    if not isinstance(drop00, (bool, np.bool_)):
        raise ArgumentError(f"drop00 must be True or False, got {drop00!r}")
    return float(add), to, bool(drop00), check_level(level)


def _omitted(missing: np.ndarray) -> list[tuple[int, str]]:
    if np.any(missing):
        warnings.warn(f"table(s) at position(s) {positions(missing)} have missing counts and "
                      "were omitted (as metafor does)", EvidenceWarning, stacklevel=3)
    return [(int(i), "counts missing: table omitted") for i in np.flatnonzero(missing)]


def _expand(values: np.ndarray, used: np.ndarray, fill: float) -> np.ndarray:
    out = np.full(used.size, fill)
    out[used] = values
    return out


def _heterogeneity(q: float, k_yi: int):
    """Q's df, p-value, I^2 and H^2 as metafor's rma.mh / rma.peto (fixed-effect forms)."""
    if k_yi <= 1:
        return max(k_yi - 1, 0), 0.0, 1.0, 0.0, 1.0
    df = k_yi - 1
    q = max(q, 0.0)
    i2 = 0.0 if q <= 0 else max(0.0, 100.0 * (q - df) / q)
    return df, q, float(stats.chi2.sf(q, df)), i2, q / df


def _pt(p) -> str:
    """A p-value in a line of text: ``p = 0.0587``, ``p < .0001``."""
    text = _p(p)
    return f"p {text[0]} {text[1:]}" if text.startswith("<") else f"p = {text}"


def _z_fields(est: float, se: float, level: float) -> dict:
    crit = float(stats.norm.isf((1.0 - level) / 2.0))
    z = est / se
    return dict(estimate=est, se=se, stat=z, pvalue=float(2.0 * stats.norm.sf(abs(z))),
                ci_low=est - crit * se, ci_high=est + crit * se)


def _fixed_fields(level: float) -> dict:
    nan = math.nan
    return dict(tau2=0.0, tau=0.0, se_tau2=nan, tau2_ci_low=nan, tau2_ci_high=nan,
                pi_low=nan, pi_high=nan, df=None, test="z", level=level, converged=True,
                iterations=0)


def _no_effect_reasons(reason: np.ndarray, used: np.ndarray, has_yi: np.ndarray,
                       method: str) -> list[tuple[int, str]]:
    pos = np.flatnonzero(used)[~has_yi]
    why = reason[~has_yi]
    return [(int(p), f"no study-level effect ({r}); still part of the {method} estimate")
            for p, r in zip(pos, why)]


# ---------------------------------------------------------------------------------------
# Mantel-Haenszel


def _mh_estimate(measure, a, b, c, d):
    """MH estimate and its variance (log scale for OR/RR); weights (unnormalised)."""
    n1, n2 = a + b, c + d
    n = n1 + n2
    if measure == "OR":
        r, s = a * d / n, b * c / n
        sr, ss = r.sum(), s.sum()
        if sr == 0 or ss == 0:
            raise ArgumentError(
                "the Mantel-Haenszel odds ratio is not estimable: "
                + ("no table has events in group 1 together with non-events in group 2 "
                   "(sum of a*d/n is 0)" if sr == 0 else
                   "no table has non-events in group 1 together with events in group 2 "
                   "(sum of b*c/n is 0)"))
        p, q = (a + d) / n, (b + c) / n
        var = ((p * r).sum() / (2 * sr**2) + (p * s + q * r).sum() / (2 * sr * ss)
               + (q * s).sum() / (2 * ss**2))
        return math.log(sr / ss), float(var), s
    if measure == "RR":
        r, s = a * n2 / n, c * n1 / n
        sr, ss = r.sum(), s.sum()
        if sr == 0 or ss == 0:
            raise ArgumentError(
                "the Mantel-Haenszel risk ratio is not estimable: no events in group "
                f"{1 if sr == 0 else 2} of any table")
        var = ((n1 * n2 * (a + c) - a * c * n) / n**2).sum() / (sr * ss)
        return math.log(sr / ss), float(var), s
    w = n1 * n2 / n
    sw = w.sum()
    est = ((a * n2 - c * n1) / n).sum() / sw
    p = (n1**2 * c - n2**2 * a + n1 * n2 * (n2 - n1) / 2) / n**2
    q = (a * (n2 - c) + c * (n1 - a)) / (2 * n)
    var = (est * p.sum() + q.sum()) / sw**2
    return float(est), float(var), w


def _cmh_tests(a, b, c, d, correct: bool):
    """CMH statistic (n^2 (n - 1) variance, metafor's MH) and Cochran's (n^3, metafor's CO)."""
    n1, n2 = a + b, c + d
    m1, m2 = a + c, b + d
    n = n1 + n2
    dev = abs(a.sum() - (n1 * m1 / n).sum()) - (0.5 if correct else 0.0)
    num = dev**2
    prod = n1 * n2 * m1 * m2
    with np.errstate(divide="ignore", invalid="ignore"):
        cmh = num / (prod / (n**2 * (n - 1))).sum()
        cochran = num / (prod / n**3).sum()
    return float(cmh), float(cochran)


def _breslow_day(a, b, c, d, psi: float):
    """Breslow-Day statistic, Tarone's corrected version and their df, at the MH odds ratio.

    The expected cell A of each table with positive margins solves
    ``A (n2 - m1 + A) = psi (n1 - A)(m1 - A)`` within ``[max(0, m1 - n2), min(n1, m1)]``.
    """
    n1, n2 = a + b, c + d
    m1, m2 = a + c, b + d
    pos = (m1 > 0) & (m2 > 0)
    k_pos = int(pos.sum())
    if k_pos == 0 or not (0 < psi < math.inf):
        return math.nan, math.nan, k_pos
    a, n1, n2, m1 = a[pos], n1[pos], n2[pos], m1[pos]
    qa = 1.0 - psi
    qb = n2 - m1 + psi * (n1 + m1)
    qc = -psi * n1 * m1
    disc = np.sqrt(np.maximum(qb * qb - 4.0 * qa * qc, 0.0))
    qq = -0.5 * (qb + np.where(qb >= 0, disc, -disc))
    with np.errstate(divide="ignore", invalid="ignore"):
        r1 = qq / qa
        r2 = qc / qq
    lo, hi = np.maximum(0.0, m1 - n2), np.minimum(n1, m1)

    def outside(r):
        return np.where(np.isfinite(r), np.maximum(lo - r, 0) + np.maximum(r - hi, 0), np.inf)

    expected = np.where(outside(r2) <= outside(r1), r2, r1)
    var = 1.0 / (1.0 / expected + 1.0 / (n1 - expected) + 1.0 / (m1 - expected)
                 + 1.0 / (n2 - m1 + expected))
    bd = float(((a - expected) ** 2 / var).sum())
    ta = bd - float((a.sum() - expected.sum()) ** 2 / var.sum())
    return bd, ta, k_pos


def meta_mh(ai, bi=None, ci=None, di=None, *, n1i=None, n2i=None, measure: str = "OR",
            add: float = 0.5, to: str = "only0", drop00: bool = True, correct: bool = True,
            level: float = 0.95) -> MHResult:
    """Mantel-Haenszel fixed-effect meta-analysis of 2x2 tables (metafor's ``rma.mh``).

    Parameters
    ----------
    ai, bi, ci, di : array-like, shape (k,)
        Cell counts: events and non-events of group 1 (``ai``, ``bi``) and of group 2
        (``ci``, ``di``); whole numbers >= 0. ``bi``/``di`` may be replaced by the group
        sizes ``n1i``/``n2i`` (as in :func:`evidence.escalc`). Tables with a missing count
        (NaN, None) are omitted and reported (``k_dropped``, ``excluded``), as metafor does.
    measure : {"OR", "RR", "RD"}, default "OR"
        Log odds ratio, log risk ratio or risk difference (group 1 vs group 2).
    add, to, drop00 : default 1/2, "only0", True
        Zero-cell handling of the *study-level* effects only (used for Q, I^2, H^2 and the
        forest plot), as in :func:`evidence.escalc`; the MH estimate uses the counts as
        they are. metafor's two-value form (a correction for the MH step too) is not offered.
    correct : bool, default True
        Continuity correction of the Cochran-Mantel-Haenszel tests.
    level : float, default 0.95
        Confidence level (0.95 or 95).

    Returns
    -------
    MHResult

    Raises
    ------
    ArgumentError
        Unknown measure or ``to``; counts that are negative, not whole numbers, infinite,
        of different lengths or empty; ``ai > n1i``; a group with no participants; every
        table double-zero; an MH estimate that is not estimable (e.g. OR with no events in
        group 1 of any table: metafor returns NA).

    Notes
    -----
    Per table, ``n_i = a_i + b_i + c_i + d_i`` (Mantel & Haenszel 1959):

    * OR: ``R_i = a_i d_i / n_i``, ``S_i = b_i c_i / n_i``, ``OR_MH = sum R / sum S``; with
      ``P_i = (a_i + d_i)/n_i``, ``Q_i = (b_i + c_i)/n_i`` the Robins-Breslow-Greenland
      variance ``var(log OR_MH) = sum(P R)/(2 (sum R)^2) + sum(P S + Q R)/(2 sum R sum S)
      + sum(Q S)/(2 (sum S)^2)``; weights ``S_i``.
    * RR: ``R_i = a_i n2_i / n_i``, ``S_i = c_i n1_i / n_i``, ``RR_MH = sum R / sum S``,
      Greenland-Robins ``var(log RR_MH) = sum((n1 n2 (a + c) - a c n)/n^2) /
      (sum R sum S)``; weights ``S_i``.
    * RD: ``w_i = n1_i n2_i / n_i``, ``RD_MH = sum((a n2 - c n1)/n) / sum w``, with the
      Sato-Greenland-Robins variance ``(RD_MH sum P' + sum Q') / (sum w)^2``,
      ``P'_i = (n1^2 c - n2^2 a + n1 n2 (n2 - n1)/2)/n^2``,
      ``Q'_i = (a (n2 - c) + c (n1 - a))/(2 n)``; weights ``w_i``.
    * Q = sum((y_i - theta_MH)^2 / v_i) over the study-level effects (escalc with ``add``,
      ``to``, ``drop00``), k_yi - 1 df; I^2 = max(0, 100 (Q - df)/Q), H^2 = Q/df.
    * OR only: CMH = (|sum a - sum E(a)| - 1/2)^2 / sum V(a), ``E(a) = n1 m1 / n``,
      ``V(a) = n1 n2 m1 m2 / (n^2 (n - 1))`` (1 df; metafor's ``MH``; ``cmh_cochran`` uses
      ``n^3`` in place of ``n^2 (n - 1)``, metafor's ``CO``); Breslow-Day and Tarone's test
      at OR_MH over the tables with all margins positive (Tarone 1985).

    Edge cases: k = 1 gives the table's MH estimate with Q = 0 (p = 1), I^2 = 0, H^2 = 1;
    double-zero tables stay in ``k`` (they add nothing to sums R and S) but have no
    study-level effect under ``drop00`` and are listed in ``excluded``.

    Examples
    --------
    >>> res = meta_mh([4, 6, 3], [119, 300, 228], [11, 29, 11], [128, 274, 209])
    >>> round(res.estimate, 4), res.k
    (-1.4135, 3)
    """
    key = measure.upper() if isinstance(measure, str) else measure
    if key not in MH_MEASURES:
        raise ArgumentError(f"measure {measure!r} is not one of {', '.join(MH_MEASURES)} "
                            "(Mantel-Haenszel)")
    if not isinstance(correct, (bool, np.bool_)):
        raise ArgumentError(f"correct must be True or False, got {correct!r}")
    add, to, drop00, level = _check_options(add, to, drop00, level)
    a_all, b_all, c_all, d_all, missing = _tables(ai, bi, ci, di, n1i, n2i)
    used = ~missing
    a, b, c, d = a_all[used], b_all[used], c_all[used], d_all[used]
    excluded = _omitted(missing)
    dz = ((a == 0) & (c == 0)) | ((b == 0) & (d == 0))
    if np.all(dz):
        raise ArgumentError("every table has no events (or only events) in both groups: "
                            "the Mantel-Haenszel estimate is not estimable")

    with np.errstate(divide="ignore", invalid="ignore"):
        est, var, w = _mh_estimate(key, a, b, c, d)
        es = escalc(key, ai=a, bi=b, ci=c, di=d, add=add, to=to, drop00=drop00)
    yi, vi = es["yi"].to_numpy(), es["vi"].to_numpy()
    has_yi = np.isfinite(yi) & np.isfinite(vi) & (vi > 0)
    k_yi = int(has_yi.sum())
    q = float(((yi[has_yi] - est) ** 2 / vi[has_yi]).sum())
    q_df, q, q_p, i2, h2 = _heterogeneity(q, k_yi)
    excluded += _no_effect_reasons(es["reason"].to_numpy(dtype=object), used, has_yi, "MH")
    excluded.sort()

    tests = {}
    if key == "OR":
        cmh, cochran = _cmh_tests(a, b, c, d, correct)
        bd, ta, k_pos = _breslow_day(a, b, c, d, math.exp(est))
        tdf = k_pos - 1
        tests = dict(cmh=cmh, cmh_pvalue=float(stats.chi2.sf(cmh, 1)), cmh_cochran=cochran,
                     cmh_cochran_pvalue=float(stats.chi2.sf(cochran, 1)), breslow_day=bd,
                     breslow_day_pvalue=float(stats.chi2.sf(bd, tdf)) if tdf >= 1 else math.nan,
                     tarone=ta,
                     tarone_pvalue=float(stats.chi2.sf(ta, tdf)) if tdf >= 1 else math.nan,
                     tarone_df=max(tdf, 0))
    return MHResult(
        k=int(a.size), **_z_fields(est, math.sqrt(var), level), **_fixed_fields(level),
        i2=i2, h2=h2, q=q, q_df=q_df, q_pvalue=q_p, method="MH",
        weights=_expand(w / w.sum(), used, 0.0),
        measure=key, k_yi=k_yi, k_dropped=int(missing.sum()), add=add, to=to, drop00=drop00,
        yi=_expand(yi, used, np.nan), vi=_expand(vi, used, np.nan), excluded=tuple(excluded),
        correct=bool(correct), **tests,
    )


# ---------------------------------------------------------------------------------------
# Peto


def _peto_terms(a, b, c, d):
    """O - E and V of each table (hypergeometric mean and variance of a)."""
    n1, n2 = a + b, c + d
    m1, m2 = a + c, b + d
    n = n1 + n2
    return a - n1 * m1 / n, n1 * n2 * m1 * m2 / (n**2 * (n - 1))


def meta_peto(ai, bi=None, ci=None, di=None, *, n1i=None, n2i=None, add: float = 0.5,
              to: str = "only0", drop00: bool = True, level: float = 0.95) -> PetoResult:
    """Peto's one-step odds ratio meta-analysis of 2x2 tables (metafor's ``rma.peto``).

    Parameters
    ----------
    ai, bi, ci, di, n1i, n2i : as in :func:`meta_mh`.
    add, to, drop00 : default 1/2, "only0", True
        Zero-cell handling of the study-level Peto log odds ratios (``yi``, ``vi``, the
        forest plot and ``k_yi``) only; the pooled estimate and Q use the counts as they are.
    level : float, default 0.95

    Returns
    -------
    PetoResult

    Raises
    ------
    ArgumentError
        As :func:`meta_mh`; also when one of the two outcomes never occurs in any table
        (sum of V is 0), which metafor refuses too.

    Notes
    -----
    With ``O_i = a_i``, ``E_i = n1_i m1_i / n_i`` and ``V_i = n1_i n2_i m1_i m2_i /
    (n_i^2 (n_i - 1))`` (``m1 = a + c``, ``m2 = b + d``; Yusuf et al. 1985):
    ``log OR_Peto = sum(O - E) / sum V``, ``se = 1 / sqrt(sum V)``, weights ``V_i``;
    ``Q = sum((O - E)^2 / V) - (sum(O - E))^2 / sum V`` (tables with V = 0 add nothing) with
    ``k_yi - 1`` df; I^2 and H^2 as in :func:`meta_mh`. The study-level effects are
    ``(O - E) / V`` and ``1 / V`` of the tables after the ``add``/``to`` correction.

    Examples
    --------
    >>> res = meta_peto([4, 6, 3], [119, 300, 228], [11, 29, 11], [128, 274, 209])
    >>> round(res.estimate, 4), round(res.se, 4)
    (-1.2373, 0.2566)
    """
    add, to, drop00, level = _check_options(add, to, drop00, level)
    a_all, b_all, c_all, d_all, missing = _tables(ai, bi, ci, di, n1i, n2i)
    used = ~missing
    a, b, c, d = a_all[used], b_all[used], c_all[used], d_all[used]
    excluded = _omitted(missing)
    oe, v = _peto_terms(a, b, c, d)
    sv = float(v.sum())
    if sv == 0:
        raise ArgumentError("one of the two outcomes never occurs in any table (every table "
                            "has no events, or only events, in both groups): Peto's method "
                            "cannot be used")
    est = float(oe.sum() / sv)
    pos = v > 0
    q = float((oe[pos] ** 2 / v[pos]).sum() - oe.sum() ** 2 / sv)

    # study-level effects: Peto's log OR of the corrected tables
    dz = ((a == 0) & (c == 0)) | ((b == 0) & (d == 0))
    reason = np.full(a.size, None, dtype=object)
    if drop00:
        reason[dz] = "no events (or only events) in both groups (drop00=True)"
    valid = reason == None  # noqa: E711 (element-wise)
    shift = zero_cell_shift(a, b, c, d, add, to, valid)
    oe_c, v_c = _peto_terms(a + shift, b + shift, c + shift, d + shift)
    with np.errstate(divide="ignore", invalid="ignore"):
        yi = np.where(valid, oe_c / v_c, np.nan)
        vi = np.where(valid, 1.0 / v_c, np.nan)
    has_yi = np.isfinite(yi) & np.isfinite(vi)
    reason[~has_yi & valid] = "not computable: V = 0 (an outcome absent from the table)"
    k_yi = int(has_yi.sum())
    q_df, q, q_p, i2, h2 = _heterogeneity(q, k_yi)
    excluded += _no_effect_reasons(reason, used, has_yi, "Peto")
    excluded.sort()
    return PetoResult(
        k=int(a.size), **_z_fields(est, 1.0 / math.sqrt(sv), level), **_fixed_fields(level),
        i2=i2, h2=h2, q=q, q_df=q_df, q_pvalue=q_p, method="Peto",
        weights=_expand(v / sv, used, 0.0),
        measure="OR", k_yi=k_yi, k_dropped=int(missing.sum()), add=add, to=to, drop00=drop00,
        yi=_expand(yi, used, np.nan), vi=_expand(vi, used, np.nan), excluded=tuple(excluded),
    )
