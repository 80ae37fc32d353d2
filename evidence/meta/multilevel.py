"""Multilevel (dependent effect sizes) meta-analysis: metafor's ``rma.mv`` with random intercepts.

The model is ``y = X beta + sum_l Z_l u_l + e`` with ``u_l ~ N(0, sigma2_l I)`` (one random
intercept per level of component ``l``) and ``e ~ N(0, V)``, ``V`` the known sampling
covariance matrix; the marginal covariance is ``M = V + sum_l sigma2_l Z_l Z_l'``. Nested
components (``"district/school"``: an intercept for each district and one for each school
within its district, any depth) and crossed ones (``["study", "outcome"]``) are both random
intercepts and fitted by the same code. ``M`` is block-diagonal by its connected components
(the outermost clusters of a nested design), so the fit works block by block
(:mod:`evidence.meta._blocks`).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, sparse, stats

from evidence.effects._frozen import FrozenResult, copied_on_read, readonly
from evidence.effects.vcalc import SamplingCovariance
from evidence.errors import ArgumentError, ConvergenceWarning, DegenerateFitWarning

from ._blocks import Blocks, build_blocks
from ._validate import check_level
from .metareg import _formula_matrix, _moderator_matrix

__all__ = ["MV_METHODS", "MV_TESTS", "MetaMVResult", "meta_mv", "rho_sensitivity"]

#: Estimators of the variance components of :func:`meta_mv`.
MV_METHODS = ("REML", "ML")
#: Tests of the coefficients: normal, or t with k - p degrees of freedom (metafor's test="t").
MV_TESTS = ("z", "t")

#: Convergence of the Fisher scoring of the variance components: stop when no component
#: moves by more than this (relative to max(1, sigma2)). The score is then ~1e-12, where
#: metafor's optimisers (nlminb, optim, nlm, bobyqa at their tightest settings) stop with
#: scores of ~1e-6 and disagree with each other by ~5e-9 in sigma2 on
#: dat.konstantopoulos2011: they maximise a log-likelihood that is flat to 1e-14 there.
_THRESHOLD = 1e-14
_MAXITER = 1000
_LOG2PI = math.log(2.0 * math.pi)


# --------------------------------------------------------------------------------------------
# input
# --------------------------------------------------------------------------------------------
def _parse_random(random) -> list[tuple[str, tuple[str, ...]]]:
    """``"a/b"`` or ``["a/b", "c"]`` (or metafor's ``"~ 1 | a/b"``) -> components."""
    if random is None:
        raise ArgumentError("random= is required (e.g. random='study/esid'); without random "
                            "effects use ev.meta or ev.metareg")
    terms = [random] if isinstance(random, str) else list(random)
    if not terms:
        raise ArgumentError("random= names no random effect")
    comps: list[tuple[str, tuple[str, ...]]] = []
    for term in terms:
        if not isinstance(term, str):
            raise ArgumentError(f"random terms must be strings such as 'study/esid', got {term!r}")
        t = term.strip()
        if t.startswith("~"):
            t = t[1:].strip()
        if "|" in t:
            lhs, t = t.split("|", 1)
            if lhs.strip() != "1":
                raise ArgumentError(
                    f"random term {term!r}: only random intercepts ('~ 1 | cluster') are "
                    "implemented; random slopes and structured (inner | outer) terms such as "
                    "CS, UN or AR are not (not implemented)")
        parts = [s.strip() for s in t.split("/")]
        if any(not s or any(ch in s for ch in "+*:()|~ ") for s in parts):
            raise ArgumentError(
                f"random term {term!r} is not understood: give column names separated by '/' "
                "for nesting ('district/school'), and a list for crossed effects "
                "(['study', 'outcome'])")
        for depth in range(1, len(parts) + 1):
            name = "/".join(parts[:depth])
            if any(name == c[0] for c in comps):
                raise ArgumentError(f"random: component {name!r} is given twice")
            comps.append((name, tuple(parts[:depth])))
    return comps


def _level_codes(comps, data, k: int) -> tuple[list[np.ndarray], list[int]]:
    if data is None:
        raise ArgumentError("random= names columns, so data= (a DataFrame) is required")
    if len(data) != k:
        raise ArgumentError(f"data has {len(data)} rows but yi has {k}")
    codes, n_levels = [], []
    for name, cols in comps:
        for c in cols:
            if c not in data:
                raise ArgumentError(f"random: column {c!r} is not in data (columns: "
                                    f"{', '.join(map(str, data.columns))})")
            if data[c].isna().any():
                raise ArgumentError(f"random: column {c!r} has missing values")
        frame = data[list(cols)].reset_index(drop=True)
        code = frame.groupby(list(cols), sort=True).ngroup().to_numpy(dtype=np.int64)
        codes.append(code)
        n_levels.append(int(code.max()) + 1)
    return codes, n_levels


def _column(x, data, name: str):
    if isinstance(x, str):
        if data is None:
            raise ArgumentError(f"{name}={x!r} names a column, so data= is required")
        if x not in data:
            raise ArgumentError(f"{name}: column {x!r} is not in data")
        return data[x].to_numpy()
    return x


def _sampling_matrix(V, data, k: int):
    """V as a scipy sparse matrix (k x k), and the rho it records."""
    rho = None
    if isinstance(V, SamplingCovariance):
        rho = V.rho
        Vs = V.tocsr()
    elif sparse.issparse(V):
        Vs = sparse.csr_matrix(V, dtype=float)
    else:
        V = _column(V, data, "V")
        try:
            a = np.asarray(V, dtype=float)
        except (TypeError, ValueError):
            raise ArgumentError("V must be sampling variances (1-D) or a k x k covariance "
                                "matrix of numbers") from None
        if a.ndim == 1:
            if a.size != k:
                raise ArgumentError(f"V has {a.size} variances but yi has {k}")
            Vs = sparse.diags(a).tocsr()
        elif a.ndim == 2:
            Vs = sparse.csr_matrix(a)
        else:
            raise ArgumentError(f"V must be 1-D or 2-D, got shape {a.shape}")
    if Vs.shape != (k, k):
        raise ArgumentError(f"V must be {k} x {k} (one row per effect), got {Vs.shape}")
    data_ = Vs.data
    if not np.all(np.isfinite(data_)):
        raise ArgumentError("V contains NaN or infinite values")
    if abs(Vs - Vs.T).max() > 1e-12 * max(1.0, abs(Vs).max()) if Vs.nnz else False:
        raise ArgumentError("V must be symmetric")
    diag = Vs.diagonal()
    if np.any(diag < 0):
        raise ArgumentError(f"V has negative variances at position(s) "
                            f"{', '.join(map(str, np.flatnonzero(diag < 0)[:5]))}")
    return Vs, rho


# --------------------------------------------------------------------------------------------
# the likelihood, its score and Fisher information, block by block
# --------------------------------------------------------------------------------------------
@dataclass
class _Eval:
    ll: float
    b: np.ndarray
    A: np.ndarray  # X' M^-1 X
    score: np.ndarray | None = None
    info: np.ndarray | None = None


def _evaluate(bl: Blocks, sigma2: np.ndarray, method: str, derivs: bool,
              logdet_xtx: float) -> _Eval:
    """Restricted or full log-likelihood at ``sigma2`` (beta profiled out), with score and
    expected information of ``sigma2`` if ``derivs``. Raises LinAlgError if M is singular."""
    p, L = bl.p, bl.L
    Ms = bl.stack(sigma2)
    logdet = 0.0
    A = np.zeros((p, p))
    c = np.zeros(p)
    parts = []
    for g, M in zip(bl.groups, Ms):
        Lc = np.linalg.cholesky(M)
        logdet += 2.0 * float(np.sum(np.log(np.diagonal(Lc, axis1=1, axis2=2))))
        K = np.linalg.inv(M)
        K = 0.5 * (K + np.swapaxes(K, 1, 2))
        U = K @ g.X  # (nb, s, p)
        A += np.einsum("bsp,bsq->pq", g.X, U)
        c += np.einsum("bsp,bs->p", U, g.y)
        parts.append((K, U))
    A = 0.5 * (A + A.T)
    b = np.linalg.solve(A, c)
    rss = 0.0
    prs = []
    for g, (K, U) in zip(bl.groups, parts):
        r = g.y - g.X @ b
        pr = np.einsum("bst,bt->bs", K, r)
        rss += float(np.sum(r * pr))
        prs.append(pr)
    k = bl.k
    if method == "ML":
        ll = -0.5 * (k * _LOG2PI + logdet + rss)
    else:
        sign, logdet_a = np.linalg.slogdet(A)
        ll = -0.5 * ((k - p) * _LOG2PI + logdet + logdet_a + rss) + 0.5 * logdet_xtx
    ev = _Eval(ll=float(ll), b=b, A=A)
    if not derivs:
        return ev
    tr = np.zeros(L)
    quad = np.zeros(L)
    T1 = np.zeros((L, L))
    C = np.zeros((L, p, p))
    D = np.zeros((L, L, p, p))
    for g, (K, U), pr in zip(bl.groups, parts, prs):
        KG = [K @ g.G[l] for l in range(L)]
        GU = [g.G[l] @ U for l in range(L)]
        for l in range(L):
            tr[l] += float(np.sum(K * g.G[l]))
            quad[l] += float(np.einsum("bs,bst,bt->", pr, g.G[l], pr))
            if method == "REML":
                C[l] += np.einsum("bsp,bsq->pq", U, GU[l])
            for m in range(l, L):
                T1[l, m] += float(np.sum(KG[l] * np.swapaxes(KG[m], 1, 2)))
                if method == "REML":
                    D[l, m] += np.einsum("bsp,bsq->pq", GU[l], K @ GU[m])
    if method == "REML":
        Ainv = np.linalg.inv(A)
        tr = tr - np.array([np.sum(Ainv * C[l].T) for l in range(L)])
        info = np.zeros((L, L))
        for l in range(L):
            for m in range(l, L):
                info[l, m] = 0.5 * (T1[l, m] - 2.0 * np.sum(Ainv * D[l, m].T)
                                    + np.sum((Ainv @ C[l]) * (Ainv @ C[m]).T))
    else:
        info = 0.5 * T1
    info = np.triu(info) + np.triu(info, 1).T
    ev.score = -0.5 * (tr - quad)
    ev.info = info
    return ev


def _safe_eval(bl, s, method, derivs, ldx):
    try:
        with np.errstate(all="ignore"):
            ev = _evaluate(bl, s, method, derivs, ldx)
    except np.linalg.LinAlgError:
        return None
    if not np.isfinite(ev.ll):
        return None
    return ev


def _fit_sigma2(bl: Blocks, method: str, start: np.ndarray, ldx: float,
                fixed: np.ndarray | None = None, maxiter: int = _MAXITER):
    """Fisher scoring on sigma2 >= 0 (active set at 0, step halving on the likelihood).

    Returns (sigma2, eval, converged, iterations)."""
    s = np.array(start, dtype=float)
    fixed = np.zeros(bl.L, bool) if fixed is None else fixed
    ev = _safe_eval(bl, s, method, True, ldx)
    if ev is None:
        raise np.linalg.LinAlgError("the marginal covariance is singular at the start values")
    for it in range(1, maxiter + 1):
        free = ~fixed & ~((s <= 0.0) & (ev.score <= 0.0))
        if not free.any():
            return s, ev, True, it - 1
        F = ev.info[np.ix_(free, free)]
        g = ev.score[free]
        try:
            step = np.linalg.solve(F, g)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(F, g, rcond=None)[0]
        t = 1.0
        while True:
            new = s.copy()
            new[free] = np.maximum(s[free] + t * step, 0.0)
            ev_new = _safe_eval(bl, new, method, True, ldx)
            if ev_new is not None and ev_new.ll >= ev.ll - 1e-15 * abs(ev.ll):
                break
            t *= 0.5
            if t < 1e-12:
                return s, ev, bool(np.max(np.abs(ev.score[free])) < 1e-8), it
        change = float(np.max(np.abs(new - s)))
        s, ev = new, ev_new
        if change <= _THRESHOLD * max(1.0, float(np.max(s))):
            return s, ev, True, it
    return s, ev, False, maxiter


def _start_values(bl: Blocks, Vdiag: np.ndarray, y, X) -> np.ndarray:
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    r = y - X @ beta
    total = float(np.sum(r * r) / max(bl.k - bl.p, 1))
    s0 = max(total - float(np.mean(Vdiag)), 0.01 * total, 1e-4 * float(np.mean(Vdiag)), 1e-8)
    return np.full(bl.L, s0 / bl.L)


# --------------------------------------------------------------------------------------------
# profile-likelihood confidence intervals of the variance components
# --------------------------------------------------------------------------------------------
def _profile_ci(bl, method, sigma2, ll_max, ldx, level, y_var, held):
    """For each component: the values where 2 (ll_max - profile ll) equals chi2_1(level)."""
    crit = float(stats.chi2.isf(1.0 - level, 1))
    L = bl.L
    lows, highs = np.full(L, np.nan), np.full(L, np.nan)
    if L == 0:
        return lows, highs
    for l in range(L):
        if held[l]:
            continue
        fixed = held.copy()
        fixed[l] = True

        def excess(val, l=l, fixed=fixed):
            start = sigma2.copy()
            start[l] = val
            others = start.copy()
            for j in range(L):
                if not fixed[j] and others[j] <= 0.0:
                    others[j] = 1e-4 * max(y_var, 1e-8)
            try:
                _, ev, _, _ = _fit_sigma2(bl, method, others, ldx, fixed=fixed)
            except np.linalg.LinAlgError:
                return np.nan
            return 2.0 * (ll_max - ev.ll) - crit

        # lower bound
        if sigma2[l] <= 0.0:
            lows[l] = 0.0
        else:
            e0 = excess(0.0)
            if not np.isfinite(e0) or e0 <= 0.0:
                lows[l] = 0.0
            else:
                lows[l] = optimize.brentq(excess, 0.0, sigma2[l], xtol=1e-14, rtol=1e-13,
                                          maxiter=500)
        # upper bound: expand the bracket until the excess turns positive
        lo = sigma2[l]
        hi = max(sigma2[l] * 2.0, 0.01 * max(y_var, 1e-8))
        found = False
        for _ in range(60):
            e = excess(hi)
            if np.isfinite(e) and e > 0.0:
                found = True
                break
            lo, hi = hi, hi * 2.0
        if found:
            highs[l] = optimize.brentq(excess, lo, hi, xtol=1e-14, rtol=1e-13, maxiter=500)
    return lows, highs


# --------------------------------------------------------------------------------------------
# the result
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _ModelData:
    """What :func:`evidence.meta.robust.robust` needs of a fit (private, not compared)."""

    y: np.ndarray
    X: np.ndarray
    blocks: Blocks
    sigma2: np.ndarray


def coefficient_column(name: str, doc: str):
    """A read-only property: column ``name`` of the coefficient table, through ``_col``
    (a float for a model with one coefficient, a Series by term otherwise)."""
    return property(lambda self: self._col(name), doc=f"{doc}: a float for one coefficient, "
                                                      "else a Series by term.")


@copied_on_read("coefficients", "vcov")
@dataclass(frozen=True, slots=True, eq=False)
class MetaMVResult(FrozenResult):
    """A fitted multilevel meta-analysis or meta-regression (see :func:`meta_mv`).

    Attributes
    ----------
    k, p : int
        Number of effect sizes and of coefficients.
    coefficients : pandas.DataFrame
        Indexed by term (``"intrcpt"`` first); columns ``estimate``, ``se``, ``stat``,
        ``pvalue``, ``ci_low``, ``ci_high``.
    vcov : pandas.DataFrame
        Model-based variance-covariance matrix of the coefficients.
    sigma2 : numpy.ndarray
        Variance components, in the order of ``random`` (metafor's ``sigma2``).
    sigma2_names : tuple of str
        Their names as metafor gives them (``"district"``, ``"district/school"``).
    n_levels : tuple of int
        Number of levels of each component.
    sigma2_ci_low, sigma2_ci_high : numpy.ndarray
        Profile-likelihood confidence intervals of the components at ``level`` (NaN when not
        requested, or an upper bound beyond the search range).
    qe, qe_df, qe_pvalue : float, int, float
        Test of residual heterogeneity ``r' V^-1 r`` of the fixed-effects fit (k - p df).
    qm, qm_df, qm_pvalue : float, int, float
        Wald test that the non-intercept coefficients are 0 (chi-square, or F with
        ``(qm_df, k - p)`` for ``test="t"``); NaN without moderators.
    loglik, deviance, aic, bic, aicc : float
        Fit statistics as metafor's ``fitstats`` (restricted likelihood for REML).
    pi_low, pi_high : float
        Prediction interval of a new effect (intercept-only models:
        ``estimate -/+ crit sqrt(se^2 + sum(sigma2))``; NaN with moderators).
    df : int or None
        ``k - p`` for ``test="t"``, None for z.
    method, test, level, converged, iterations, rho
        The estimator, test, confidence level; convergence; ``rho`` recorded from a ``V``
        built by :func:`evidence.vcalc` (None otherwise).
    """

    k: int
    p: int
    coefficients: pd.DataFrame
    vcov: pd.DataFrame
    sigma2: np.ndarray
    sigma2_names: tuple
    n_levels: tuple
    sigma2_ci_low: np.ndarray
    sigma2_ci_high: np.ndarray
    qe: float
    qe_df: int
    qe_pvalue: float
    qm: float
    qm_df: int
    qm_pvalue: float
    loglik: float
    deviance: float
    aic: float
    bic: float
    aicc: float
    pi_low: float
    pi_high: float
    df: int | None
    method: str
    test: str
    level: float
    converged: bool
    iterations: int
    rho: float | None
    model_data: _ModelData = field(repr=False, compare=False)

    def __post_init__(self):
        for name in ("sigma2", "sigma2_ci_low", "sigma2_ci_high"):
            object.__setattr__(self, name, readonly(getattr(self, name), float))

    # -- metafor-style accessors ----------------------------------------------------------
    @property
    def terms(self) -> list[str]:
        return list(self.coefficients.index)

    def _intercept_only(self) -> bool:
        return self.terms == ["intrcpt"]

    def _col(self, name):
        col = self.coefficients[name]
        return float(col.iloc[0]) if self._intercept_only() else col

    @property
    def estimate(self) -> float:
        """The pooled estimate (models without moderators; with moderators use
        ``coefficients``)."""
        if not self._intercept_only():
            raise AttributeError("a model with moderators has coefficients, not one estimate: "
                                 "use .coefficients")
        return self._col("estimate")

    @property
    def se(self):
        """Standard error(s): a float without moderators, a Series by term with them."""
        return self._col("se")

    stat = coefficient_column("stat", "Test statistic(s)")
    pvalue = coefficient_column("pvalue", "p-value(s)")
    ci_low = coefficient_column("ci_low", "Lower confidence limit(s)")
    ci_high = coefficient_column("ci_high", "Upper confidence limit(s)")

    def variance_components(self) -> pd.DataFrame:
        """One row per component: ``sigma2``, ``sigma``, ``n_levels``, the profile CI."""
        return pd.DataFrame(
            {"sigma2": self.sigma2, "sigma": np.sqrt(self.sigma2),
             "n_levels": list(self.n_levels), "ci_low": self.sigma2_ci_low,
             "ci_high": self.sigma2_ci_high},
            index=pd.Index(list(self.sigma2_names), name="component"))

    def to_frame(self) -> pd.DataFrame:
        """The coefficient table (a copy), one row per term."""
        return self.coefficients

    def summary(self) -> str:
        lines = [f"Multivariate meta-analysis model (k = {self.k}; method: {self.method})", ""]
        lines.append(f"logLik = {self.loglik:.4f}, deviance = {self.deviance:.4f}, "
                     f"AIC = {self.aic:.4f}, BIC = {self.bic:.4f}, AICc = {self.aicc:.4f}")
        lines.append("")
        lines.append("Variance components:")
        lines.append(self.variance_components().to_string(float_format=lambda x: f"{x:.4f}"))
        lines.append("")
        lines.append(f"Test for residual heterogeneity: QE(df = {self.qe_df}) = {self.qe:.4f}, "
                     f"p = {self.qe_pvalue:.4g}")
        if self.qm_df:
            lines.append(f"Test of moderators: QM(df = {self.qm_df}) = {self.qm:.4f}, "
                         f"p = {self.qm_pvalue:.4g}")
        if self.rho is not None:
            lines.append(f"V assumes a within-cluster correlation rho = {self.rho:g}")
        lines.append("")
        lines.append(self.coefficients.to_string(float_format=lambda x: f"{x:.4f}"))
        if self._intercept_only():
            lines.append(f"Prediction interval: [{self.pi_low:.4f}, {self.pi_high:.4f}]")
        if not self.converged:
            lines.append("WARNING: the variance components did not converge.")
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# public
# --------------------------------------------------------------------------------------------
def meta_mv(yi, V, data=None, random=None, mods=None, method: str = "REML", test: str = "z",
            level: float = 0.95, intercept: bool = True, sigma2=None, sigma2_ci: bool = True
            ) -> MetaMVResult:
    """Fit a multilevel meta-analysis (metafor's ``rma.mv`` with random intercepts).

    Parameters
    ----------
    yi : array_like or str
        Effect sizes (or a column of ``data``).
    V : array_like, str, scipy.sparse matrix or SamplingCovariance
        Sampling variances (1-D, or a column name) or the k x k sampling covariance matrix
        (dense, sparse, or from :func:`evidence.vcalc`, whose ``rho`` is recorded).
    data : pandas.DataFrame
        Frame holding the columns named by ``random`` (and by a formula ``mods``).
    random : str or list of str
        Random intercepts. ``"district/school"`` nests (an intercept per district and per
        school within district, any depth: ``"a/b/c"``); a list gives crossed components
        (``["study/esid", "outcome"]``). metafor's ``"~ 1 | district/school"`` is accepted.
        Components are named as metafor (``"district"``, ``"district/school"``).
    mods : str, DataFrame, mapping or array_like, optional
        Moderators, as :func:`evidence.metareg` (a formula string such as ``"~ year"`` needs
        ``data``).
    method : {"REML", "ML"}
    test : {"z", "t"}
        Normal tests, or t tests with ``k - p`` df (metafor's ``test="t"``).
    level : float
        Confidence level (0.95 or 95).
    intercept : bool
        Add an intercept (default True).
    sigma2 : sequence of float, optional
        Fix variance components at given values (metafor's ``sigma2=``): one entry per
        component, ``None`` or NaN for those to estimate.
    sigma2_ci : bool
        Compute profile-likelihood CIs of the variance components (several refits; default
        True).

    Returns
    -------
    MetaMVResult

    Notes
    -----
    With ``M = V + sum_l sigma2_l Z_l Z_l'``, ``b = (X'M^-1X)^-1 X'M^-1 y`` and
    ``var(b) = (X'M^-1X)^-1``. The log-likelihood with ``beta`` profiled out is
    ``-1/2 (k log 2 pi + log|M| + r'M^-1 r)`` (ML); REML adds ``log|X'M^-1X| - log|X'X|``
    and counts ``k - p`` observations. The variance components maximise it subject to
    ``sigma2 >= 0`` by Fisher scoring, with score
    ``-1/2 (tr(P G_l) - y'P G_l P y)`` and information ``1/2 tr(P G_l P G_m)``
    (``P = M^-1 - M^-1 X (X'M^-1 X)^-1 X'M^-1`` for REML, ``M^-1`` for ML;
    ``G_l = Z_l Z_l'``) (Harville 1977). A component at the boundary is exactly 0 (metafor's
    optimiser stops at a small positive value instead). The profile CI of ``sigma2_l``
    solves ``2 (ll_max - max_{others} ll(sigma2_l)) = chi2_1(level)``.

    ``M`` is block-diagonal by the connected components of the random effects and ``V``
    (the outermost clusters of a nested design); every computation runs block by block,
    batched over blocks of equal size, so the cost is ``O(sum n_i^3)``.

    Edge cases: a component whose every level has one member is confounded with another
    component or with ``V`` only through its variance (it is estimable, as metafor); one
    cluster is allowed for the fit (not for :func:`evidence.robust`). A ``V`` that is not
    positive definite makes ``QE`` NaN (with a warning); an ``M`` that is singular at the
    fitted values raises ArgumentError.

    References
    ----------
    Konstantopoulos S (2011). Fixed effects and variance components estimation in
    three-level meta-analysis. Res Synth Methods 2:61-76. doi:10.1002/jrsm.35
    Harville DA (1977). Maximum likelihood approaches to variance component estimation and to
    related problems. J Am Stat Assoc 72:320-338.
    Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. J Stat
    Softw 36(3). doi:10.18637/jss.v036.i03

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"study": [1, 1, 2, 2, 3, 3, 4, 4],
    ...                    "yi": [0.1, 0.3, 0.5, 0.2, -0.1, 0.0, 0.4, 0.6],
    ...                    "vi": [0.02, 0.03, 0.02, 0.04, 0.03, 0.02, 0.05, 0.03]})
    >>> df["esid"] = range(8)
    >>> fit = meta_mv("yi", "vi", data=df, random="study/esid", sigma2_ci=False)
    >>> fit.sigma2_names
    ('study', 'study/esid')
    """
    if not isinstance(method, str) or method.upper() not in MV_METHODS:
        raise ArgumentError(f"method {method!r} is not one of {', '.join(MV_METHODS)}")
    method = method.upper()
    if not isinstance(test, str) or test.lower() not in MV_TESTS:
        raise ArgumentError(f"test {test!r} is not one of {', '.join(MV_TESTS)}")
    test = test.lower()
    level = check_level(level)
    try:
        y = np.asarray(_column(yi, data, "yi"), dtype=float)
    except (TypeError, ValueError):
        raise ArgumentError("yi must be a 1-D array of numbers") from None
    if y.ndim != 1 or y.size == 0:
        raise ArgumentError("yi must be a non-empty 1-D array")
    if not np.all(np.isfinite(y)):
        raise ArgumentError("yi contains NaN or infinite values; drop those effects first")
    k = y.size
    Vs, rho = _sampling_matrix(V, data, k)
    comps = _parse_random(random)
    codes, n_levels = _level_codes(comps, data, k)
    if isinstance(mods, str):
        mods, intercept = _formula_matrix(mods, data, k)
    X, names = _moderator_matrix(mods, k, intercept)
    p = X.shape[1]
    if k - p < 1:
        raise ArgumentError(f"the model has {p} coefficients but only {k} effects: no residual "
                            "degrees of freedom to estimate variance components")
    bl = build_blocks(y, X, Vs, codes)
    ldx = float(np.linalg.slogdet(X.T @ X)[1])
    Vdiag = Vs.diagonal()
    start = _start_values(bl, Vdiag, y, X)
    fixed = np.zeros(bl.L, bool)
    if sigma2 is not None:
        given = np.array([np.nan if s_ is None else float(s_) for s_ in sigma2], dtype=float)
        if given.shape != (bl.L,):
            raise ArgumentError(f"sigma2 must have one entry per component ({bl.L}: "
                                f"{', '.join(c[0] for c in comps)}), got {given.size}")
        fixed = np.isfinite(given)
        if np.any(given[fixed] < 0):
            raise ArgumentError("fixed sigma2 values must be >= 0")
        start[fixed] = given[fixed]
    single = np.array([n == 1 for n in n_levels]) & ~fixed
    if single.any():  # as metafor: a one-level component is not identifiable; fixed at 0
        warnings.warn(f"random component(s) {', '.join(comps[l][0] for l in np.flatnonzero(single))}"
                      " have a single level: their sigma2 is not identifiable and is fixed to "
                      "0 (as metafor)", DegenerateFitWarning, stacklevel=2)
        fixed = fixed | single
        start[single] = 0.0
    try:
        sigma2, ev, converged, iters = _fit_sigma2(bl, method, start, ldx, fixed=fixed)
    except np.linalg.LinAlgError:
        raise ArgumentError("the marginal covariance V + sum sigma2 Z Z' is singular: V is not "
                            "positive definite and the random effects do not make it so") from None
    if not converged:
        warnings.warn(f"the {method} estimates of the variance components did not converge "
                      f"in {_MAXITER} iterations", ConvergenceWarning, stacklevel=2)
    # final quantities at the estimate
    with np.errstate(all="ignore"):
        ev = _evaluate(bl, sigma2, method, False, ldx)
    vb = np.linalg.inv(ev.A)
    vb = 0.5 * (vb + vb.T)
    b = ev.b
    se = np.sqrt(np.diag(vb))
    stat = b / se
    df = k - p if test == "t" else None
    alpha = 1.0 - level
    if test == "t":
        pval = 2.0 * stats.t.sf(np.abs(stat), df)
        crit = float(stats.t.isf(alpha / 2.0, df))
    else:
        pval = 2.0 * stats.norm.sf(np.abs(stat))
        crit = float(stats.norm.isf(alpha / 2.0))
    coefs = pd.DataFrame({"estimate": b, "se": se, "stat": stat, "pvalue": pval,
                          "ci_low": b - crit * se, "ci_high": b + crit * se},
                         index=pd.Index(names, name="term"))
    # QM over the non-intercept terms
    btt = [j for j, n in enumerate(names) if not (intercept and j == 0)]
    if btt:
        bb = b[btt]
        qm = float(bb @ np.linalg.solve(vb[np.ix_(btt, btt)], bb))
        qm_df = len(btt)
        if test == "t":
            qm = qm / qm_df
            qm_p = float(stats.f.sf(qm, qm_df, k - p))
        else:
            qm_p = float(stats.chi2.sf(qm, qm_df))
    else:
        qm, qm_df, qm_p = np.nan, 0, np.nan
    # QE: the fixed-effects fit with weights V^-1
    qe = _qe(bl)
    qe_df = k - p
    qe_p = float(stats.chi2.sf(qe, qe_df)) if np.isfinite(qe) else np.nan
    # fit statistics as metafor's fitstats
    n_par = p + int(np.sum(~fixed))
    n_obs = k - p if method == "REML" else k
    ll = ev.ll
    if method == "ML":
        ll_sat = _ll_saturated(bl)
        deviance = -2.0 * (ll - ll_sat) if np.isfinite(ll_sat) else np.nan
    else:
        deviance = -2.0 * ll
    aic = -2.0 * ll + 2.0 * n_par
    bic = -2.0 * ll + n_par * math.log(n_obs)
    m_ = max(n_obs, n_par + 2)
    aicc = -2.0 * ll + 2.0 * n_par * m_ / (m_ - n_par - 1)
    if p == 1 and intercept:
        pi_se = math.sqrt(se[0] ** 2 + float(np.sum(sigma2)))
        pi_low, pi_high = b[0] - crit * pi_se, b[0] + crit * pi_se
    else:
        pi_low = pi_high = np.nan
    if sigma2_ci:
        y_var = float(np.var(y)) if k > 1 else float(np.mean(Vdiag))
        ci_low, ci_high = _profile_ci(bl, method, sigma2, ll, ldx, level, y_var, fixed)
    else:
        ci_low = ci_high = np.full(bl.L, np.nan)
    return MetaMVResult(
        k=k, p=p, coefficients=coefs, vcov=pd.DataFrame(vb, index=names, columns=names),
        sigma2=sigma2, sigma2_names=tuple(c[0] for c in comps), n_levels=tuple(n_levels),
        sigma2_ci_low=ci_low, sigma2_ci_high=ci_high, qe=qe, qe_df=qe_df, qe_pvalue=qe_p,
        qm=qm, qm_df=qm_df, qm_pvalue=qm_p, loglik=ll, deviance=deviance, aic=aic, bic=bic,
        aicc=aicc, pi_low=float(pi_low), pi_high=float(pi_high), df=df, method=method,
        test=test, level=level, converged=bool(converged), iterations=int(iters), rho=rho,
        model_data=_ModelData(y=readonly(y), X=readonly(X), blocks=bl, sigma2=readonly(sigma2)),
    )


def _qe(bl: Blocks) -> float:
    """``r' V^-1 r`` of the fit with weights ``V^-1``; NaN (with a warning) if V is singular."""
    p = bl.p
    A = np.zeros((p, p))
    c = np.zeros(p)
    parts = []
    try:
        for g in bl.groups:
            np.linalg.cholesky(g.V)
            K = np.linalg.inv(g.V)
            U = K @ g.X
            A += np.einsum("bsp,bsq->pq", g.X, U)
            c += np.einsum("bsp,bs->p", U, g.y)
            parts.append(K)
        b = np.linalg.solve(A, c)
    except np.linalg.LinAlgError:
        warnings.warn("V is not positive definite, so the test for residual heterogeneity QE "
                      "(weights V^-1) is NaN", DegenerateFitWarning, stacklevel=3)
        return np.nan
    q = 0.0
    for g, K in zip(bl.groups, parts):
        r = g.y - g.X @ b
        q += float(np.einsum("bs,bst,bt->", r, K, r))
    return q


def _ll_saturated(bl: Blocks) -> float:
    """ML log-likelihood of the saturated model (each effect its own mean, covariance V)."""
    logdet = 0.0
    for g in bl.groups:
        sign, ld = np.linalg.slogdet(g.V)
        if np.any(sign <= 0):
            return np.nan
        logdet += float(np.sum(ld))
    return -0.5 * (bl.k * _LOG2PI + logdet)


def rho_sensitivity(yi, vi, cluster, rhos, *, obs=None, data=None, random=None, mods=None,
                    method: str = "REML", test: str = "z", level: float = 0.95,
                    robust_adjust: str | None = "CR2") -> pd.DataFrame:
    """Refit :func:`meta_mv` with ``V = vcalc(vi, cluster, obs, rho)`` for each assumed rho.

    Returns one row per rho and term: ``rho``, ``term``, ``estimate``, ``se``, ``ci_low``,
    ``ci_high``, ``pvalue``, one ``sigma2_<component>`` column per variance component, and
    (unless ``robust_adjust`` is None) the cluster-robust ``robust_se``, ``robust_df`` and
    ``robust_pvalue`` clustered by ``cluster``. The assumed correlation is rarely reported;
    this table shows how much the answer depends on it.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"study": [1, 1, 2, 2, 3, 3, 4, 4],
    ...                    "yi": [0.1, 0.3, 0.5, 0.2, -0.1, 0.0, 0.4, 0.6],
    ...                    "vi": [0.02, 0.03, 0.02, 0.04, 0.03, 0.02, 0.05, 0.03]})
    >>> df["esid"] = range(8)
    >>> tbl = rho_sensitivity("yi", "vi", "study", [0.2, 0.8], data=df, random="study/esid")
    >>> tbl["rho"].tolist()
    [0.2, 0.8]
    """
    from evidence.effects.vcalc import vcalc

    from .robust import robust

    rows = []
    cl = _column(cluster, data, "cluster")
    for rho in rhos:
        V = vcalc(vi, cl, obs if not isinstance(obs, str) else _column(obs, data, "obs"),
                  rho=rho, data=data)
        fit = meta_mv(yi, V, data=data, random=random, mods=mods, method=method, test=test,
                      level=level, sigma2_ci=False)
        coefs = fit.coefficients
        rb = robust(fit, cluster=cl, adjust=robust_adjust) if robust_adjust else None
        for j, term in enumerate(coefs.index):
            row = {"rho": float(rho), "term": term}
            row.update({c: float(coefs.loc[term, c])
                        for c in ("estimate", "se", "ci_low", "ci_high", "pvalue")})
            for name, s in zip(fit.sigma2_names, fit.sigma2):
                row[f"sigma2_{name}"] = float(s)
            if rb is not None:
                row["robust_se"] = float(rb.coefficients["se"].iloc[j])
                row["robust_df"] = float(rb.coefficients["df"].iloc[j])
                row["robust_pvalue"] = float(rb.coefficients["pvalue"].iloc[j])
            rows.append(row)
    return pd.DataFrame(rows)
