"""Mixed-effects meta-regression (metafor's ``rma.uni`` with moderators).

The model is ``y_i = x_i' beta + u_i + e_i`` with ``u_i ~ N(0, tau2)`` and
``e_i ~ N(0, v_i)`` (Raudenbush 2009; Viechtbauer 2005).  ``tau2`` is the residual
heterogeneity, estimated by one of the estimators of :data:`METHODS`, each in its
meta-regression form; ``beta`` is then the weighted least-squares solution with weights
``1 / (v_i + tau2)``.

The estimators are those of :mod:`evidence.meta.estimators` (the one registry that
:func:`evidence.meta.meta` uses too), run on the model matrix through
:class:`~evidence.meta.estimators.MatrixDesign`; ``meta`` is the intercept-only case.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from evidence.effects._frozen import FrozenResult, copied_on_read, readonly
from evidence.errors import ArgumentError, ConvergenceWarning, DegenerateFitWarning
from evidence.vocabulary import FIXED_METHODS, METHODS, TESTS

from ._validate import (check_control, check_level, check_method, check_test, check_yi_vi,
                        positions)
from .estimators import (SAFE_LOG2, Groups, InterceptDesign, MatrixDesign, fit_tau2,
                         scale_exponents)

__all__ = ["METHODS", "TESTS", "MetaRegResult", "metareg"]


def _moderator_matrix(mods, k: int, intercept: bool) -> tuple[np.ndarray, list[str]]:
    """Design matrix and term names from a DataFrame, Series, mapping or array."""
    if mods is None:
        cols: list[np.ndarray] = []
        names: list[str] = []
    else:
        if isinstance(mods, Mapping):
            mods = pd.DataFrame(dict(mods))
        if isinstance(mods, pd.Series):
            mods = mods.to_frame(name=mods.name if mods.name is not None else "x1")
        if isinstance(mods, pd.DataFrame):
            cols, names = [], []
            full_first = not intercept  # as R: without intercept, the first factor keeps all levels
            for name in mods.columns:
                col = mods[name]
                if pd.api.types.is_bool_dtype(col):
                    col = col.astype(float)
                if pd.api.types.is_numeric_dtype(col):
                    cols.append(np.asarray(col, dtype=float))
                    names.append(str(name))
                else:
                    # treatment (dummy) coding, first level is the reference, as R's factor()
                    cat = pd.Categorical(col)
                    if np.any(cat.codes < 0):
                        raise ArgumentError(f"mods column {name!r} has missing values")
                    first = 0 if full_first else 1
                    full_first = False
                    for j in range(first, len(cat.categories)):
                        cols.append((cat.codes == j).astype(float))
                        names.append(f"{name}{cat.categories[j]}")
        else:
            arr = np.asarray(mods, dtype=float)
            if arr.ndim == 1:
                arr = arr[:, None]
            if arr.ndim != 2:
                raise ArgumentError(f"mods must be a DataFrame or a 2-D array, got shape {arr.shape}")
            cols = [arr[:, j] for j in range(arr.shape[1])]
            names = [f"x{j + 1}" for j in range(arr.shape[1])]
        for name, col in zip(names, cols):
            if col.shape != (k,):
                raise ArgumentError(f"mods must have one row per study ({k}), got {col.shape[0]}")
            if not np.all(np.isfinite(col)):
                raise ArgumentError(f"mods column {name!r} must be finite")
    if intercept:
        cols = [np.ones(k), *cols]
        names = ["intrcpt", *names]
    if not cols:
        raise ArgumentError("the model has no terms: give mods or set intercept=True")
    X = np.column_stack(cols)
    if X.shape[1] > k:
        raise ArgumentError(f"the model has more coefficients ({X.shape[1]}) than studies ({k})")
    # rank of the column-normalised matrix: a moderator in large units (e.g. sqrt(vi) of data
    # at a 1e150 scale) is not collinear with the intercept for being large
    norms = np.sqrt(np.sum(X * X, axis=0))
    if np.linalg.matrix_rank(X / np.where(norms > 0, norms, 1.0)) < X.shape[1]:
        raise ArgumentError(
            f"mods: the model matrix ({', '.join(names)}) is rank deficient "
            "(collinear or constant moderators)"
        )
    return X, names


# --------------------------------------------------------------------------------------------
# the numerical core: tau2 from the shared estimator engine (evidence.meta.estimators) on the
# model matrix, then weighted least squares
# --------------------------------------------------------------------------------------------
class _OverflowSignal(Exception):
    """Raised inside the fit (on rescaled data); metareg turns it into ArgumentError."""


@dataclass(frozen=True, slots=True)
class _Fit:
    """Everything a mixed-effects fit yields (private)."""

    k: int
    p: int
    b: np.ndarray
    vb: np.ndarray
    tau2: float
    converged: bool
    qe: float
    qe_df: int
    qe_pvalue: float
    i2: float
    h2: float
    s2w: float
    weights: np.ndarray  # 1 / (vi + tau2)


def _residual_tau2(y, v, design, method: str, con: dict) -> tuple[float, bool]:
    """Residual heterogeneity from the shared engine; 0 for FE/EE and for k <= p."""
    k, p = int(design.k[0]), design.p
    if method in FIXED_METHODS or k - p < 1:
        return 0.0, True
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        return _residual_tau2_fit(y, v, design, method, con)


def _residual_tau2_fit(y, v, design, method: str, con: dict) -> tuple[float, bool]:
    if np.any(v <= 0) and method in ("DL", "HS", "PM"):
        raise ArgumentError(f"vi must be > 0 for method {method!r} (it weights by 1/vi)")
    fit = fit_tau2(method, design, y, v, con, stacklevel=5)
    return float(fit.tau2[0]), bool(fit.converged[0])


def _overflow(y, v) -> ArgumentError:
    return ArgumentError(
        "the data exceed the float64 range of a meta-regression: QE, a coefficient, its SE "
        f"or tau^2 overflows (yi from {y.min():.3g} to {y.max():.3g}, vi from {v.min():.3g} "
        f"to {v.max():.3g}); check the units of yi and vi"
    )


def _fit(y: np.ndarray, v: np.ndarray, X: np.ndarray, method: str, test: str,
         con: dict) -> _Fit:
    k, p = X.shape
    design = MatrixDesign(X)
    if np.all(v > 0):  # QE beyond float64: no estimator can give a finite answer
        fe0 = design.wls(y, 1.0 / v)
        if not np.isfinite(np.sum(fe0.w * fe0.r * fe0.r)):
            raise _OverflowSignal()
    tau2, converged = _residual_tau2(y, v, design, method, con)
    if not converged:
        warnings.warn(
            f"the {method} estimator of the residual tau^2 did not converge; results set to "
            "NaN. Try control={'stepadj': 0.5}, a larger control['maxiter'], or another method.",
            ConvergenceWarning, stacklevel=4,
        )
        nan = np.full(p, np.nan)
        return _Fit(k=k, p=p, b=nan, vb=np.full((p, p), np.nan), tau2=np.nan, converged=False,
                    qe=np.nan, qe_df=k - p, qe_pvalue=np.nan, i2=np.nan, h2=np.nan,
                    s2w=np.nan, weights=np.full(k, np.nan))
    if method not in FIXED_METHODS and tau2 == 0.0 and np.any(v <= 0):
        raise ArgumentError("vi must be > 0 when tau2 is 0 (a study would get infinite weight)")
    if method in FIXED_METHODS and np.any(v <= 0):
        raise ArgumentError(f"vi must be > 0 for method {method!r}")
    w = 1.0 / (v + tau2)
    f = design.wls(y, w)
    vb = f.vb
    s2w = 1.0
    if test == "knha":
        rss = float(np.sum(w * f.r * f.r))
        # as metafor (and meta): a residual sum below machine epsilon (a perfect fit) is 0
        s2w = (0.0 if rss <= np.finfo(float).eps else rss / (k - p)) if k > p else np.nan
        vb = s2w * vb
    # residual heterogeneity test and I2/H2 from the fixed-effect (1/vi) fit
    qe_df = k - p
    if np.all(v > 0):
        fe = design.wls(y, 1.0 / v)
        qe = float(np.sum(fe.w * fe.r * fe.r))
        tr_p_fe = float(design.trace_p(fe)[0])
    else:
        qe, tr_p_fe = np.nan, np.nan
    qe_pvalue = float(stats.chi2.sf(qe, qe_df)) if qe_df > 0 else 1.0
    if not np.isfinite(qe):
        i2, h2 = np.nan, np.nan
    elif qe_df <= 0:  # saturated fixed-effects model: metafor reports QE = 0, I2 = 0, H2 = 1
        qe, i2, h2 = 0.0, 0.0, 1.0
    elif method in FIXED_METHODS:
        i2 = max(0.0, 100.0 * (qe - qe_df) / qe) if qe > 0 else 0.0
        h2 = qe / qe_df
    else:
        vt = qe_df / tr_p_fe
        i2 = float(np.minimum(100.0, 100.0 * tau2 / (vt + tau2)))  # rounding may pass 100
        h2 = tau2 / vt + 1.0
    return _Fit(
        k=k, p=p, b=f.b, vb=vb, tau2=tau2, converged=True, qe=float(qe), qe_df=qe_df,
        qe_pvalue=qe_pvalue, i2=float(i2), h2=float(h2), s2w=float(s2w), weights=w,
    )


def _warn_degenerate(k, p, test, fit: _Fit, stat, v) -> None:
    """DegenerateFitWarning for every NaN (or infinite) statistic of a converged fit."""
    if not fit.converged:
        return  # ConvergenceWarning already given; everything is NaN
    msgs = []
    if k == p:
        msgs.append(
            f"the model is saturated (k = p = {k}): no residual degrees of freedom, so QE has "
            "0 df (QE = 0, p = 1, I^2 = 0, H^2 = 1, as metafor)"
            + ("; Knapp-Hartung tests need k > p, so se, stat, pvalue and the CIs are NaN"
               if test == "knha" else
               "; the z tests rest on the known vi alone (no check of the model is possible)")
        )
    if np.any(v == 0) and not np.isfinite(fit.qe):
        msgs.append(f"vi = 0 at position(s) {positions(v == 0)}: QE, its p-value, I^2 and H^2 "
                    "weight by 1/vi and are NaN")
    if k > p and test == "knha" and fit.s2w == 0.0:
        msgs.append("the residuals are all 0 (a perfect fit): the Knapp-Hartung scale factor "
                    "is 0, so the SEs are 0 and the statistics infinite, or NaN for a "
                    "coefficient that is exactly 0 (as metafor); QM is NaN (var(b) = 0)")
    elif k > p and np.any(np.isnan(stat)):
        msgs.append("a coefficient's standard error is 0 or not finite, so its statistic and "
                    "p-value are NaN")
    if msgs:
        warnings.warn("; ".join(msgs), DegenerateFitWarning, stacklevel=3)


def _wald(b, vb, test: str, df: float, level: float):
    """stat, p-value and CI of each coefficient."""
    se = np.sqrt(np.diag(vb))
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = b / se
    alpha = 1.0 - level
    if test == "knha":
        if df > 0:
            pval = 2.0 * stats.t.sf(np.abs(stat), df)
            crit = stats.t.isf(alpha / 2.0, df)
        else:
            pval = np.full_like(b, np.nan)
            crit = np.nan
    else:
        pval = 2.0 * stats.norm.sf(np.abs(stat))
        crit = stats.norm.isf(alpha / 2.0)
    return se, stat, pval, b - crit * se, b + crit * se


def _omnibus(b, vb, idx, test: str, df2: float):
    """QM: Wald test that the coefficients ``idx`` are all 0 (chi2, or F for knha)."""
    m = len(idx)
    if m == 0:
        return np.nan, 0, np.nan
    bb = b[idx]
    vbb = vb[np.ix_(idx, idx)]
    if not np.all(np.isfinite(vbb)):
        return np.nan, m, np.nan
    try:
        qm = float(bb @ np.linalg.solve(vbb, bb))
    except np.linalg.LinAlgError:  # var(b) singular (a perfect Knapp-Hartung fit: s2w = 0)
        return np.nan, m, np.nan
    if test == "knha":
        qm = qm / m
        pval = float(stats.f.sf(qm, m, df2)) if df2 > 0 else np.nan
    else:
        pval = float(stats.chi2.sf(qm, m))
    return qm, m, pval


def _pseudo_r2(y, v, X, method: str, fit: _Fit, con: dict) -> float:
    """metafor's R² (percent): relative reduction of tau2, or adjusted weighted R² for FE/EE."""
    k, p = X.shape
    if method in FIXED_METHODS:
        if np.all(y == y[0]) or k - p <= 0:
            return 0.0
        w = 1.0 / v
        tss = float(np.sum(w * (y - np.sum(w * y) / np.sum(w)) ** 2))
        adj = 1.0 - (fit.qe / tss) * (k - 1) / (k - p)
        return max(0.0, 100.0 * adj)
    tau2_re, _ = _residual_tau2(y, v, InterceptDesign(Groups(np.array([k]))), method, con)
    if not (np.isfinite(tau2_re) and np.isfinite(fit.tau2)):
        return np.nan
    if tau2_re == 0.0:
        return 0.0
    return max(0.0, 100.0 * (tau2_re - fit.tau2) / tau2_re)


# --------------------------------------------------------------------------------------------
# public
# --------------------------------------------------------------------------------------------
@copied_on_read("coefficients", "vcov")
@dataclass(frozen=True, slots=True, eq=False)
class MetaRegResult(FrozenResult):
    """A fitted mixed-effects meta-regression (see :func:`metareg`).

    Immutable: fields cannot be rebound, ``coefficients`` and ``vcov`` hand out copies
    (changing one leaves the result as it was) and ``weights`` is a read-only array.

    Attributes
    ----------
    k, p : int
        Number of studies and of coefficients (including the intercept).
    coefficients : pandas.DataFrame
        Indexed by term (``"intrcpt"`` first when present); columns ``estimate``, ``se``,
        ``stat`` (z or t), ``pvalue``, ``ci_low``, ``ci_high``.
    vcov : pandas.DataFrame
        Variance-covariance matrix of the coefficients (term x term).
    tau2 : float
        Residual heterogeneity variance (0 for FE/EE).
    qm, qm_df, qm_df2, qm_pvalue : float, int, float, float
        Omnibus test that all non-intercept coefficients are 0: chi-square with ``qm_df``
        degrees of freedom for ``test="z"``; for ``test="knha"`` an F statistic with
        ``(qm_df, qm_df2 = k - p)`` degrees of freedom (``qm_df2`` is NaN for z).
    qe, qe_df, qe_pvalue : float, int, float
        Test for residual heterogeneity (weights ``1/vi``), chi-square with ``k - p`` df
        (with ``k = p``: QE = 0, p = 1, as metafor).
    r2 : float
        Pseudo-R² in percent, ``max(0, 100 (tau2_RE - tau2) / tau2_RE)`` with ``tau2_RE`` from
        the intercept-only model fitted by the same method (0 when ``tau2_RE`` is 0); for
        FE/EE models the adjusted R² of the weighted regression (weights ``1/vi``), as
        metafor; NaN for models without intercept or without moderators.
    i2, h2 : float
        Residual I² (percent) and H².
    s2w : float
        Knapp-Hartung scale factor (1 for ``test="z"``).
    weights : numpy.ndarray
        Study weights as fractions summing to 1 (``1/(vi + tau2)`` normalised).
    """

    k: int
    p: int
    coefficients: pd.DataFrame
    vcov: pd.DataFrame
    tau2: float
    qm: float
    qm_df: int
    qm_df2: float
    qm_pvalue: float
    qe: float
    qe_df: int
    qe_pvalue: float
    r2: float
    i2: float
    h2: float
    s2w: float
    method: str
    test: str
    level: float
    weights: np.ndarray = field(repr=False)

    def __post_init__(self):
        object.__setattr__(self, "weights", readonly(self.weights, float))

    @property
    def terms(self) -> list[str]:
        """The term names, in the order of the coefficients."""
        return list(self.coefficients.index)

    def to_frame(self) -> pd.DataFrame:
        """The coefficient table (a copy), one row per term."""
        return self.coefficients

    def summary(self) -> str:
        """A plain-text summary in the spirit of metafor's print method."""
        model = "Fixed-effects" if self.method in ("FE", "EE") else "Mixed-effects"
        lines = [f"{model} meta-regression (k = {self.k}; tau2 estimator: {self.method})", ""]
        if self.method not in ("FE", "EE"):
            lines.append(f"tau^2 (residual heterogeneity): {self.tau2:.4f}")
            lines.append(f"I^2 (residual): {self.i2:.2f}%   H^2: {self.h2:.2f}")
            if np.isfinite(self.r2):
                lines.append(f"R^2 (heterogeneity accounted for): {self.r2:.2f}%")
        lines.append(
            f"Test for residual heterogeneity: QE(df = {self.qe_df}) = {self.qe:.4f}, "
            f"p = {self.qe_pvalue:.4g}"
        )
        if self.test == "knha":
            lines.append(
                f"Test of moderators: F(df1 = {self.qm_df}, df2 = {self.qm_df2:g}) = "
                f"{self.qm:.4f}, p = {self.qm_pvalue:.4g}"
            )
        else:
            lines.append(
                f"Test of moderators: QM(df = {self.qm_df}) = {self.qm:.4f}, p = {self.qm_pvalue:.4g}"
            )
        lines.append("")
        lines.append(self.coefficients.to_string(float_format=lambda x: f"{x:.4f}"))
        return "\n".join(lines)


def _formula_matrix(formula: str, data, k: int):
    """Expand an R-style moderator formula with formulaic; return (frame, intercept)."""
    import re

    if data is None:
        raise ArgumentError("mods is a formula string, so data= (a DataFrame holding its "
                            "variables) is required")
    if len(data) != k:
        raise ArgumentError(f"data has {len(data)} rows but yi has {k}")
    from formulaic import model_matrix

    rhs = formula.split("~", 1)[-1]
    try:
        mm = model_matrix(rhs, data, na_action="raise")
    except Exception as exc:  # formulaic raises many types; name the formula
        raise ArgumentError(f"mods formula {formula!r} could not be expanded: {exc}") from exc
    cols = list(mm.columns)
    has_intercept = "Intercept" in cols

    def rname(c: str) -> str:  # C(alloc)[T.random] / alloc[T.random] / alloc[random]
        m = re.fullmatch(r"(?:C\()?([^()\[]+?)\)?\[(?:T\.)?(.+)\]", c)
        return f"{m.group(1)}{m.group(2)}" if m else c

    frame = pd.DataFrame({rname(c): np.asarray(mm[c], dtype=float)
                          for c in cols if c != "Intercept"})
    return frame, has_intercept


def metareg(
    yi,
    vi,
    mods=None,
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
    intercept: bool = True,
    control=None,
    data=None,
) -> MetaRegResult:
    """Fit a (mixed-effects) meta-regression.

    Parameters
    ----------
    yi, vi : array_like
        Observed effect sizes and their sampling variances, one per study.
    mods : pandas.DataFrame, Series, mapping or array_like, optional
        Moderators, one row per study. DataFrame column names become the term names;
        array columns are named ``x1, x2, ...``. Non-numeric columns are dummy-coded with
        the first (sorted) level as reference, terms named column + level, as R's
        ``factor()`` (without intercept the first such column keeps all its levels).
    method : str
        Estimator of the residual heterogeneity: ``"FE"``/``"EE"`` (none), ``"DL"``,
        ``"REML"``, ``"ML"``, ``"PM"``, ``"HE"``, ``"SJ"``, ``"HS"``, ``"EB"``.
    test : {"z", "knha"}
        Normal tests, or Knapp-Hartung t/F tests with ``k - p`` denominator df.
    level : float
        Confidence level of the coefficient CIs (0.95; 95 is also accepted).
    intercept : bool
        Add an intercept term ``"intrcpt"`` (default True).
    control : dict, optional
        Convergence settings for ML/REML/EB, as :data:`evidence.meta.fit.DEFAULT_CONTROL`
        (``threshold``, ``maxiter``, ``ll0check``, ``tol``, ``stepadj``, ``retry``). A fit
        that does not converge warns (``ConvergenceWarning``) and returns NaN.
    data : pandas.DataFrame, optional
        With a formula string as ``mods`` (``"~ ablat + C(alloc)"``, as R's
        ``mods = ~ ablat + factor(alloc)``), the frame the formula's names refer to. The
        formula is expanded by ``formulaic``; ``- 1`` (or ``0 +``) drops the intercept, and
        factor terms are named column + level as in metafor (``allocrandom``).

    Returns
    -------
    MetaRegResult

    Notes
    -----
    With ``W = diag(1/(v_i + tau2))`` the coefficients are ``b = (X'WX)^{-1} X'W y`` with
    ``var(b) = (X'WX)^{-1}``; for Knapp-Hartung this is multiplied by
    ``s2 = y'Py / (k - p)``, ``P = W - W X (X'WX)^{-1} X' W``. The residual heterogeneity
    estimators in their meta-regression forms (``P_0``, ``QE = y'P_0 y`` with weights
    ``1/v_i``):

    * DL: ``(QE - (k - p)) / tr(P_0)``; HS: ``(QE - k) / sum(1/v_i)``;
    * HE: ``(y'(I - H)y - tr((I - H)V)) / (k - p)``, ``H`` the OLS hat matrix;
    * SJ: ``tau0 * y'P y / (k - p)`` with ``tau0 = sum (y_i - ybar)^2 / k`` and ``P`` at
      ``tau0``;
    * PM: the root of ``y'P(tau2) y = k - p``;
    * ML, REML and EB: Fisher scoring from the HE estimate with updates
      ``(y'PPy - sum w)/sum w^2`` (ML), ``(y'PPy - tr P)/tr(PP)`` (REML) and
      ``(y'Py k/(k - p) - k)/sum w`` (EB, whose fixed point is the PM root).

    All are truncated at 0. ``QM = b_m' var(b_m)^{-1} b_m`` over the non-intercept terms
    (divided by ``m`` and referred to F(m, k - p) for Knapp-Hartung).  Residual I² and H²
    use the typical within-study variance ``(k - p) / tr(P_0)``.

    Edge cases (tested in ``tests/test_numeric_edges.py``):

    * k < p: ArgumentError. k = p (saturated, no residual df): random-effects methods raise
      ArgumentError, as metafor stops ("Number of parameters to be estimated is larger
      than the number of observations"); FE/EE fit and give metafor's QE = 0 (p = 1),
      I² = 0, H² = 1 and z tests that rest on the known vi alone, with a
      :class:`~evidence.errors.DegenerateFitWarning`; with ``test="knha"`` the tests are
      NaN (no df), and the warning says so.
    * vi = 0 is allowed for random-effects methods whose tau² comes out > 0 (as metafor);
      QE, I² and H² (weights 1/vi) are then NaN, with a DegenerateFitWarning. vi < 0, NaN,
      inf, non-numbers, different lengths, empty input: ArgumentError.
    * Knapp-Hartung with a residual sum below machine epsilon (a perfect fit): the scale
      factor is 0 (as metafor), so SEs are 0 and statistics infinite, with a
      DegenerateFitWarning.
    * Scale: as :func:`evidence.meta.fit.meta`, data far from unit scale are fitted on
      ``yi / 2^m``, ``vi / 4^m`` and moderator columns far from unit scale on ``x / 2^e``
      (exact), then scaled back; results beyond float64 (QE, a coefficient or tau² that
      overflows) raise ArgumentError.

    References
    ----------
    Viechtbauer W (2005). Bias and efficiency of meta-analytic variance estimators in the
    random-effects model. J Educ Behav Stat 30:261-293.
    Raudenbush SW (2009). Analyzing effect sizes: random-effects models. In Cooper H et al.
    (eds), The Handbook of Research Synthesis and Meta-Analysis, 2nd ed., 295-315.
    Knapp G, Hartung J (2003). Improved tests for a random effects meta-regression with a
    single covariate. Stat Med 22:2693-2710.
    Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package.
    J Stat Softw 36(3). doi:10.18637/jss.v036.i03

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> x = np.linspace(0, 1, 12)
    >>> vi = rng.uniform(0.02, 0.1, 12)
    >>> yi = 0.2 + 0.5 * x + rng.normal(0, np.sqrt(vi))
    >>> mr = metareg(yi, vi, {"x": x}, method="REML")
    >>> list(mr.coefficients.index)
    ['intrcpt', 'x']
    """
    method = check_method(method)
    test = check_test(test)
    level = check_level(level)
    y, v = check_yi_vi(yi, vi, positive=False)
    if isinstance(mods, str):
        mods, intercept = _formula_matrix(mods, data, y.size)
    X, names = _moderator_matrix(mods, y.size, intercept)
    k, p = X.shape
    con = check_control(control)
    if k == p and method not in FIXED_METHODS:
        raise ArgumentError(
            f"the model has as many coefficients ({p}) as studies ({k}): no residual degrees "
            f"of freedom, so the residual tau^2 ({method}) cannot be estimated (metafor stops "
            "too); use fewer moderators, or method='FE' for a fixed-effects fit"
        )
    # data far from unit scale are fitted at unit scale (exact: a power of two), then the
    # coefficients are scaled back by 2^m and tau2 and var(b) by 4^m
    m = int(scale_exponents(Groups(np.array([k])), y, v)[0])
    ys, vs = (np.ldexp(y, -m), np.ldexp(v, -2 * m)) if m else (y, v)
    # moderator columns far from unit scale (sqrt(vi) of such data, in Egger's test) are
    # rescaled by powers of two too: X' = X D, D = diag(2^-e), b = 2^m D b'
    with np.errstate(divide="ignore"):
        col_log2 = np.log2(np.max(np.abs(X), axis=0))
    e = np.where(np.isfinite(col_log2) & (np.abs(col_log2) > SAFE_LOG2),
                 np.rint(col_log2), 0).astype(np.int64)
    Xs = np.ldexp(X, -e[None, :]) if np.any(e) else X
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        try:
            fit = _fit(ys, vs, Xs, method, test, con)
        except _OverflowSignal:
            raise _overflow(y, v) from None
        df2 = float(k - p) if test == "knha" else np.nan
        se, stat, pval, lo, hi = _wald(fit.b, fit.vb, test, k - p, level)
        btt = list(range(1, p)) if intercept else list(range(p))
        qm, qm_df, qm_p = _omnibus(fit.b, fit.vb, btt, test, k - p)
        r2 = _pseudo_r2(ys, vs, Xs, method, fit, con) if intercept and p > 1 else np.nan
    _warn_degenerate(k, p, test, fit, stat, v)
    with np.errstate(over="ignore", invalid="ignore"):
        b, se, lo, hi = (np.ldexp(a, m - e) for a in (fit.b, se, lo, hi))
        vb = np.ldexp(fit.vb, 2 * m - e[:, None] - e[None, :])
        tau2 = float(np.ldexp(fit.tau2, 2 * m))
    if fit.converged and (not np.all(np.isfinite(b)) or np.any(np.isinf(se))
                          or np.isinf(fit.s2w) or not np.isfinite(tau2)):
        raise _overflow(y, v)
    coefs = pd.DataFrame(
        {"estimate": b, "se": se, "stat": stat, "pvalue": pval, "ci_low": lo, "ci_high": hi},
        index=pd.Index(names, name="term"),
    )
    return MetaRegResult(
        k=k,
        p=p,
        coefficients=coefs,
        vcov=pd.DataFrame(vb, index=names, columns=names),
        tau2=tau2,
        qm=qm,
        qm_df=qm_df,
        qm_df2=df2,
        qm_pvalue=qm_p,
        qe=fit.qe,
        qe_df=fit.qe_df,
        qe_pvalue=fit.qe_pvalue,
        r2=float(r2),
        i2=fit.i2,
        h2=fit.h2,
        s2w=fit.s2w,
        method=method,
        test=test,
        level=level,
        weights=fit.weights / fit.weights.sum(),
    )
