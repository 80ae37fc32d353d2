"""Mixed-effects meta-regression (metafor's ``rma.uni`` with moderators).

The model is ``y_i = x_i' beta + u_i + e_i`` with ``u_i ~ N(0, tau2)`` and
``e_i ~ N(0, v_i)`` (Raudenbush 2009; Viechtbauer 2005).  ``tau2`` is the residual
heterogeneity, estimated by one of the estimators of :data:`METHODS`, each in its
meta-regression form; ``beta`` is then the weighted least-squares solution with weights
``1 / (v_i + tau2)``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import linalg, optimize, stats

from evidence.errors import ArgumentError, ConvergenceWarning
from evidence.meta.fit import DEFAULT_CONTROL

__all__ = ["METHODS", "TESTS", "MetaRegResult", "metareg"]

#: Estimators of the (residual) heterogeneity variance accepted by :func:`metareg`.
METHODS = ("FE", "EE", "DL", "REML", "ML", "PM", "HE", "SJ", "HS", "EB")
#: Tests for the coefficients: normal (``"z"``) or Knapp-Hartung (``"knha"``).
TESTS = ("z", "knha")



# --------------------------------------------------------------------------------------------
# argument checking (shared by the modules of evidence.meta around a fit)
# --------------------------------------------------------------------------------------------
def _check_method(method: str) -> str:
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise ArgumentError(f"method {method!r} is not one of {', '.join(METHODS)}")
    return method.upper()


def _check_test(test: str) -> str:
    if not isinstance(test, str) or test.lower() not in TESTS:
        raise ArgumentError(f"test {test!r} is not one of {', '.join(TESTS)}")
    return test.lower()


def _check_level(level: float) -> float:
    """Confidence level as a fraction; metafor-style percentages (95) are accepted."""
    level = float(level)
    if 1.0 < level < 100.0:
        level = level / 100.0
    if not 0.0 < level < 1.0:
        raise ArgumentError(f"level {level!r} must be in (0, 1), e.g. 0.95")
    return level


def _check_yi_vi(yi, vi, *, min_k: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Validate and return ``yi`` and ``vi`` as 1-D float arrays."""
    y = np.asarray(yi, dtype=float)
    v = np.asarray(vi, dtype=float)
    if y.ndim != 1:
        raise ArgumentError(f"yi must be one-dimensional, got shape {y.shape}")
    if v.ndim != 1:
        raise ArgumentError(f"vi must be one-dimensional, got shape {v.shape}")
    if y.shape != v.shape:
        raise ArgumentError(f"yi and vi must have the same length, got {y.size} and {v.size}")
    if y.size < min_k:
        raise ArgumentError(f"yi must hold at least {min_k} studies, got {y.size}")
    if not np.all(np.isfinite(y)):
        raise ArgumentError("yi must be finite (no NaN or infinite values)")
    if not np.all(np.isfinite(v)) or np.any(v < 0):
        raise ArgumentError("vi must be finite and non-negative")
    return y, v


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
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise ArgumentError(
            f"mods: the model matrix ({', '.join(names)}) is rank deficient "
            "(collinear or constant moderators)"
        )
    return X, names


# --------------------------------------------------------------------------------------------
# the numerical core
# --------------------------------------------------------------------------------------------
@dataclass
class _WLS:
    """Weighted least squares pieces for weights ``w`` (mutable scratch, private)."""

    w: np.ndarray
    A: np.ndarray  # (X'WX)^-1
    b: np.ndarray
    resid: np.ndarray
    rss: float  # y'Py = sum w r^2
    tr_p: float  # trace(P)


def _wls(y: np.ndarray, X: np.ndarray, w: np.ndarray) -> _WLS:
    # QR of W^(1/2) X rather than the normal equations: moderators such as calendar years
    # make X'WX ill-conditioned, and QR keeps the coefficients accurate to ~1e-14
    sw = np.sqrt(w)
    Q, R = np.linalg.qr(X * sw[:, None])
    Rinv = linalg.solve_triangular(R, np.eye(R.shape[0]))
    A = Rinv @ Rinv.T
    b = Rinv @ (Q.T @ (sw * y))
    r = y - X @ b
    rss = float(np.sum(w * r * r))
    tr_p = float(np.sum(w) - np.sum(w * np.sum(Q * Q, axis=1)))  # tr(W) - tr(W H)
    return _WLS(w=w, A=A, b=b, resid=r, rss=rss, tr_p=tr_p)


def _score_parts(y, v, X, tau2):
    """y'PPy, tr(P), tr(PP), sum w, sum w^2 at ``tau2`` without forming the k x k matrix P."""
    w = 1.0 / (v + tau2)
    f = _wls(y, X, w)
    wr = w * f.resid
    ypPy = float(wr @ wr)  # Py = W r
    WX = X * w[:, None]
    W2X = X * (w * w)[:, None]
    B = f.A @ (X.T @ W2X)  # A X'W^2X
    tr_pp = float(np.sum(w * w) - 2.0 * np.sum(f.A * (WX.T @ W2X)) + np.sum(B * B.T))
    return ypPy, f, tr_pp, w


def _tau2_fisher(y, v, X, method: str, tau2: float, con: dict) -> tuple[float, int, bool]:
    """Fisher scoring for ML and REML from ``tau2`` with step halving (Viechtbauer 2005).

    Steps that would make ``tau2`` negative are halved (so it stays at 0 from 0); iteration
    stops when the absolute change is at most ``con["threshold"]``, as metafor.
    """
    threshold, maxiter = float(con["threshold"]), int(con["maxiter"])
    for it in range(1, maxiter + 1):
        ypPy, f, tr_pp, w = _score_parts(y, v, X, tau2)
        if method == "REML":
            adj = (ypPy - f.tr_p) / tr_pp
        else:  # ML
            adj = (ypPy - np.sum(w)) / np.sum(w * w)
        if not np.isfinite(adj):
            return tau2, it, False
        if tau2 == 0.0 and adj < 0.0:
            adj = 0.0
        while tau2 + adj < 0.0:
            adj *= 0.5
        new = tau2 + adj
        change = abs(new - tau2)
        tau2 = new
        if change <= threshold:
            return tau2, it, True
    return tau2, maxiter, False


def _loglik(y, v, X, tau2: float, method: str) -> float:
    """ML or REML log likelihood up to a constant that does not depend on tau2."""
    w = 1.0 / (v + tau2)
    f = _wls(y, X, w)
    ll = -0.5 * float(np.sum(np.log(v + tau2))) - 0.5 * f.rss
    if method == "REML":
        ll -= 0.5 * float(np.linalg.slogdet(X.T @ (X * w[:, None]))[1])
    return ll


def _tau2_pm(y, v, X, k: int, p: int) -> float:
    """Paule-Mandel: root of the generalised Q, y'P(tau2)y = k - p, truncated at 0."""

    def g(t):
        return _wls(y, X, 1.0 / (v + t)).rss - (k - p)

    if g(0.0) <= 0.0:
        return 0.0
    hi = max(1.0, 10.0 * float(np.var(y)))
    while g(hi) > 0.0:
        hi *= 10.0
        if hi > 1e300:
            raise ArgumentError("the Paule-Mandel equation has no finite root for these data")
    return float(optimize.brentq(g, 0.0, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=500))


def _tau2_he(y, v, X, k: int, p: int) -> float:
    """Hedges (1983) method-of-moments estimator from the OLS residuals."""
    A = np.linalg.inv(X.T @ X)
    h = np.einsum("ij,jk,ik->i", X, A, X)  # diagonal of the OLS hat matrix
    r = y - X @ (A @ (X.T @ y))
    tr_pv = float(np.sum(v * (1.0 - h)))
    return (float(r @ r) - tr_pv) / (k - p)


def _control(control) -> dict:
    """metafor-style convergence settings (the keys of evidence.meta.fit.DEFAULT_CONTROL)."""
    con = dict(DEFAULT_CONTROL)
    if control is None:
        return con
    if not isinstance(control, Mapping):
        raise ArgumentError(f"control must be a dict with keys {', '.join(DEFAULT_CONTROL)}")
    unknown = sorted(map(str, set(control) - set(DEFAULT_CONTROL)))
    if unknown:
        raise ArgumentError(
            f"control key(s) {', '.join(unknown)} not among {', '.join(DEFAULT_CONTROL)}"
        )
    con.update(control)
    if not float(con["threshold"]) > 0 or int(con["maxiter"]) < 1:
        raise ArgumentError("control['threshold'] must be > 0 and control['maxiter'] >= 1")
    return con


def _estimate_tau2(y, v, X, method: str, con: dict | None = None) -> tuple[float, bool]:
    """Residual heterogeneity ``tau2``, truncated at 0, and whether it converged."""
    k, p = X.shape
    if method in ("FE", "EE"):
        return 0.0, True
    if k - p < 1:
        return 0.0, True
    if method == "DL":
        f = _wls(y, X, 1.0 / v)
        return max(0.0, (f.rss - (k - p)) / f.tr_p), True
    if method == "HS":
        w = 1.0 / v
        f = _wls(y, X, w)
        return max(0.0, (f.rss - k) / float(np.sum(w))), True
    if method == "HE":
        return max(0.0, _tau2_he(y, v, X, k, p)), True
    if method == "SJ":
        tau0 = float(np.var(y))  # var(yi) * (k - 1) / k, Sidik & Jonkman (2005)
        f = _wls(y, X, 1.0 / (v + tau0))
        return tau0 * f.rss / (k - p), True
    if method in ("PM", "EB"):
        return _tau2_pm(y, v, X, k, p), True
    # ML / REML: Fisher scoring from the Hedges estimate truncated at 0, as metafor
    con = _control(None) if con is None else con
    start = max(0.0, _tau2_he(y, v, X, k, p))
    tau2, _, ok = _tau2_fisher(y, v, X, method, start, con)
    if not ok:
        warnings.warn(
            f"{method} Fisher scoring did not converge in {int(con['maxiter'])} iterations; "
            "raise control['maxiter'] or loosen control['threshold']",
            ConvergenceWarning,
            stacklevel=3,
        )
    elif con["ll0check"] and tau2 > float(con["threshold"]):
        # metafor's ll0check: keep tau2 = 0 if the likelihood is larger there
        if _loglik(y, v, X, 0.0, method) - _loglik(y, v, X, tau2, method) > float(con["tol"]) \
                and np.all(v > 0):
            tau2 = 0.0
    return max(0.0, tau2), ok


@dataclass(frozen=True)
class _Fit:
    """Everything a mixed-effects fit yields (private; used across evidence.meta)."""

    k: int
    p: int
    b: np.ndarray
    vb: np.ndarray
    tau2: float
    qe: float
    qe_df: int
    qe_pvalue: float
    i2: float
    h2: float
    s2w: float
    weights: np.ndarray  # 1 / (vi + tau2)


def _fit(y: np.ndarray, v: np.ndarray, X: np.ndarray, method: str, test: str,
         con: dict | None = None) -> _Fit:
    k, p = X.shape
    tau2, _ = _estimate_tau2(y, v, X, method, con)
    if method not in ("FE", "EE") and tau2 == 0.0 and np.any(v <= 0):
        raise ArgumentError("vi must be > 0 when tau2 is 0 (a study would get infinite weight)")
    if method in ("FE", "EE") and np.any(v <= 0):
        raise ArgumentError(f"vi must be > 0 for method {method!r}")
    w = 1.0 / (v + tau2)
    f = _wls(y, X, w)
    vb = f.A
    s2w = 1.0
    if test == "knha":
        s2w = f.rss / (k - p) if k > p else np.nan
        vb = s2w * vb
    # residual heterogeneity test and I2/H2 from the fixed-effect (1/vi) fit
    qe_df = k - p
    if np.all(v > 0):
        fe = _wls(y, X, 1.0 / v)
        qe = fe.rss
        tr_p_fe = fe.tr_p
    else:
        qe, tr_p_fe = np.nan, np.nan
    qe_pvalue = float(stats.chi2.sf(qe, qe_df)) if qe_df > 0 else np.nan
    if qe_df <= 0:
        i2, h2 = np.nan, np.nan
    elif method in ("FE", "EE"):
        i2 = max(0.0, 100.0 * (qe - qe_df) / qe) if qe > 0 else 0.0
        h2 = qe / qe_df
    else:
        vt = qe_df / tr_p_fe
        i2 = 100.0 * tau2 / (vt + tau2)
        h2 = tau2 / vt + 1.0
    return _Fit(
        k=k, p=p, b=f.b, vb=vb, tau2=tau2, qe=float(qe), qe_df=qe_df, qe_pvalue=qe_pvalue,
        i2=float(i2), h2=float(h2), s2w=float(s2w), weights=w,
    )


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
    qm = float(bb @ np.linalg.solve(vb[np.ix_(idx, idx)], bb))
    if test == "knha":
        qm = qm / m
        pval = float(stats.f.sf(qm, m, df2)) if df2 > 0 else np.nan
    else:
        pval = float(stats.chi2.sf(qm, m))
    return qm, m, pval


def _pseudo_r2(y, v, X, method: str, fit: _Fit, con: dict) -> float:
    """metafor's R² (percent): relative reduction of tau2, or adjusted weighted R² for FE/EE."""
    k, p = X.shape
    if method in ("FE", "EE"):
        if np.all(y == y[0]) or k - p <= 0:
            return 0.0
        w = 1.0 / v
        tss = float(np.sum(w * (y - np.sum(w * y) / np.sum(w)) ** 2))
        adj = 1.0 - (fit.qe / tss) * (k - 1) / (k - p)
        return max(0.0, 100.0 * adj)
    tau2_re, _ = _estimate_tau2(y, v, np.ones((k, 1)), method, con)
    if tau2_re == 0.0:
        return 0.0
    return max(0.0, 100.0 * (tau2_re - fit.tau2) / tau2_re)


# --------------------------------------------------------------------------------------------
# public
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MetaRegResult:
    """A fitted mixed-effects meta-regression (see :func:`metareg`).

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
        Test for residual heterogeneity (weights ``1/vi``), chi-square with ``k - p`` df.
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

    @property
    def terms(self) -> list[str]:
        """The term names, in the order of the coefficients."""
        return list(self.coefficients.index)

    def to_frame(self) -> pd.DataFrame:
        """The coefficient table (a copy), one row per term."""
        return self.coefficients.copy()

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
        Convergence settings for ML/REML, as :data:`evidence.meta.fit.DEFAULT_CONTROL`
        (``threshold``, ``maxiter``, ``ll0check``, ``tol``).
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
    * PM and EB: the root of ``y'P(tau2) y = k - p``;
    * ML and REML: Fisher scoring from the HE estimate with updates
      ``(y'PPy - sum w)/sum w^2`` (ML) and ``(y'PPy - tr P)/tr(PP)`` (REML).

    All are truncated at 0. ``QM = b_m' var(b_m)^{-1} b_m`` over the non-intercept terms
    (divided by ``m`` and referred to F(m, k - p) for Knapp-Hartung).  Residual I² and H²
    use the typical within-study variance ``(k - p) / tr(P_0)``.

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
    method = _check_method(method)
    test = _check_test(test)
    level = _check_level(level)
    y, v = _check_yi_vi(yi, vi)
    if isinstance(mods, str):
        mods, intercept = _formula_matrix(mods, data, y.size)
    X, names = _moderator_matrix(mods, y.size, intercept)
    k, p = X.shape
    con = _control(control)
    fit = _fit(y, v, X, method, test, con)
    df2 = float(k - p) if test == "knha" else np.nan
    se, stat, pval, lo, hi = _wald(fit.b, fit.vb, test, k - p, level)
    coefs = pd.DataFrame(
        {"estimate": fit.b, "se": se, "stat": stat, "pvalue": pval, "ci_low": lo, "ci_high": hi},
        index=pd.Index(names, name="term"),
    )
    btt = list(range(1, p)) if intercept else list(range(p))
    qm, qm_df, qm_p = _omnibus(fit.b, fit.vb, btt, test, k - p)
    r2 = _pseudo_r2(y, v, X, method, fit, con) if intercept and p > 1 else np.nan
    return MetaRegResult(
        k=k,
        p=p,
        coefficients=coefs,
        vcov=pd.DataFrame(fit.vb, index=names, columns=names),
        tau2=fit.tau2,
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
