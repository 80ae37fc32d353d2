"""Cluster-robust (sandwich) inference with the CR2 small-sample correction.

For a fit by weighted least squares ``b = (X'WX)^-1 X'W y`` with the model's working
covariance ``Phi`` and weights ``W = Phi^-1`` (the marginal covariance of :func:`meta_mv`, or
``diag(vi + tau2)`` of :func:`meta` / :func:`metareg`), the CR2 estimator of ``var(b)`` and
Satterthwaite degrees of freedom for each coefficient (Pustejovsky & Tipton 2018), as R
clubSandwich's ``coef_test(fit, vcov = "CR2")`` and metafor's
``robust(fit, cluster, clubSandwich = TRUE)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import linalg, stats

from evidence.effects._frozen import FrozenResult, copied_on_read
from evidence.errors import ArgumentError

from ._validate import check_level
from .metareg import MetaRegResult, _formula_matrix, _moderator_matrix
from .multilevel import MetaMVResult, coefficient_column
from .results import MetaResult

__all__ = ["ADJUSTMENTS", "RobustResult", "robust"]

#: Small-sample adjustments of :func:`robust`.
ADJUSTMENTS = ("CR2",)

#: The fit's coefficients are recomputed from the data given to :func:`robust` for a meta or
#: metareg result; they must agree with the result to this relative tolerance, or the data are
#: not those of the fit (the refit is the same weighted least squares, so rounding only).
_SAME_FIT_RTOL = 1e-8

#: Eigenvalues of the CR2 adjustment's inner matrix below this fraction of the largest are
#: taken as 0 (a generalised inverse square root): they are exact zeros in theory (a cluster
#: that determines a coefficient alone) and rounding noise of ~1e-16 in practice.
_EIG_RTOL = 1e-12


@copied_on_read("coefficients", "vcov")
@dataclass(frozen=True, slots=True, eq=False)
class RobustResult(FrozenResult):
    """Cluster-robust tests of the coefficients of a fit (see :func:`robust`).

    Attributes
    ----------
    k, p, n_clusters : int
        Effects, coefficients and clusters.
    coefficients : pandas.DataFrame
        By term: ``estimate`` (the fit's), robust ``se``, ``stat`` (t), Satterthwaite ``df``,
        ``pvalue``, ``ci_low``, ``ci_high``.
    vcov : pandas.DataFrame
        The CR2 variance-covariance matrix.
    adjust, level, model
        The small-sample adjustment, confidence level, and the kind of fit ("meta",
        "metareg" or "meta_mv").
    """

    k: int
    p: int
    n_clusters: int
    coefficients: pd.DataFrame
    vcov: pd.DataFrame
    adjust: str
    level: float
    model: str

    def _col(self, name):
        col = self.coefficients[name]
        return float(col.iloc[0]) if self.p == 1 else col

    @property
    def estimate(self):
        return self._col("estimate")

    @property
    def se(self):
        """Robust standard error(s): a float for one coefficient, else a Series by term."""
        return self._col("se")

    df = coefficient_column("df", "Satterthwaite degrees of freedom")
    stat = coefficient_column("stat", "Test statistic(s)")
    pvalue = coefficient_column("pvalue", "p-value(s)")
    ci_low = coefficient_column("ci_low", "Lower confidence limit(s)")
    ci_high = coefficient_column("ci_high", "Upper confidence limit(s)")

    def to_frame(self) -> pd.DataFrame:
        """The coefficient table (a copy)."""
        return self.coefficients

    def wald_test(self, terms=None):
        """A joint test of several coefficients (the approximate Hotelling T^2 test, HTZ).

        Not implemented: raises ArgumentError rather than giving a naive chi-square test whose
        size is badly off with few clusters.
        """
        raise ArgumentError("the approximate Hotelling (HTZ) test of several coefficients is "
                            "not implemented yet; test single coefficients (coefficients), or "
                            "use clubSandwich::Wald_test(fit, constraints, vcov = 'CR2') in R")

    def summary(self) -> str:
        lines = [f"Cluster-robust inference ({self.adjust}, Satterthwaite df; "
                 f"{self.n_clusters} clusters, k = {self.k})", ""]
        lines.append(self.coefficients.to_string(float_format=lambda x: f"{x:.4f}"))
        return "\n".join(lines)


def _cluster_codes(cluster, data, k: int) -> np.ndarray:
    if isinstance(cluster, str):
        if data is None:
            raise ArgumentError(f"cluster={cluster!r} names a column, so data= is required")
        if cluster not in data:
            raise ArgumentError(f"cluster: column {cluster!r} is not in data")
        cluster = data[cluster]
    s = pd.Series(np.asarray(cluster))
    if s.shape[0] != k:
        raise ArgumentError(f"cluster has {s.shape[0]} values but the fit has {k} effects")
    if s.isna().any():
        raise ArgumentError("cluster has missing values")
    return pd.factorize(s, sort=True)[0]


def _working_blocks(result, yi, vi, mods, data):
    """(y, X, b, [(rows, Phi_block)], kind) of the fit."""
    if isinstance(result, MetaMVResult):
        md = result.model_data
        blocks = []
        Ms = md.blocks.stack(np.asarray(md.sigma2))
        for g, M in zip(md.blocks.groups, Ms):
            blocks.extend(zip(g.idx, M))
        b = result.coefficients["estimate"].to_numpy()
        return np.asarray(md.y), np.asarray(md.X), b, blocks, "meta_mv"
    if isinstance(result, (MetaResult, MetaRegResult)):
        kind = "meta" if isinstance(result, MetaResult) else "metareg"
        if yi is None or vi is None:
            raise ArgumentError(f"a {kind} result does not keep its data: pass the yi and vi "
                                f"it was fitted to{' (and mods)' if kind == 'metareg' else ''}")
        y = np.asarray(yi, dtype=float)
        v = np.asarray(vi, dtype=float)
        if y.ndim != 1 or y.shape != v.shape:
            raise ArgumentError("yi and vi must be 1-D arrays of the same length")
        if kind == "meta":
            X = np.ones((y.size, 1))
            b = np.array([result.estimate])
        else:
            intercept = "intrcpt" in result.terms
            m = mods
            if isinstance(m, str):
                m, intercept = _formula_matrix(m, data, y.size)
            X, names = _moderator_matrix(m, y.size, intercept)
            if names != result.terms:
                raise ArgumentError(f"mods give the terms {names}, but the fit has "
                                    f"{result.terms}")
            b = result.coefficients["estimate"].to_numpy()
        if y.size != result.k:
            raise ArgumentError(f"yi has {y.size} effects but the fit has k = {result.k}")
        phi = v + float(result.tau2)
        if np.any(phi <= 0):
            raise ArgumentError("vi + tau2 must be > 0 for every effect")
        blocks = [(np.array([i]), np.array([[phi[i]]])) for i in range(y.size)]
        return y, X, b, blocks, kind
    raise ArgumentError(f"robust works on meta, metareg and meta_mv results, got "
                        f"{type(result).__name__}")


def robust(result, cluster, adjust: str = "CR2", *, yi=None, vi=None, mods=None, data=None,
           level=None) -> RobustResult:
    """Cluster-robust standard errors (CR2) and Satterthwaite t tests of a fit's coefficients.

    Parameters
    ----------
    result : MetaMVResult, MetaResult or MetaRegResult
        The fitted model; its weights are the working model (``M^-1`` of a multilevel fit,
        ``1/(vi + tau2)`` of a univariate one).
    cluster : array_like or str
        The cluster of each effect (a column of ``data`` by name). For a multilevel fit each
        cluster must hold whole blocks of the model (the outermost level, or coarser).
    adjust : {"CR2"}
        The small-sample adjustment (bias-reduced linearisation).
    yi, vi, mods, data
        For meta and metareg results, which do not keep their data: what they were fitted to.
    level : float, optional
        Confidence level (default: the fit's).

    Returns
    -------
    RobustResult

    Notes
    -----
    With ``B = (X'WX)^-1``, residuals ``e = y - Xb`` and, per cluster ``j``,
    ``A_j = D_j' (D_j (Phi_j - X_j B X_j') D_j')^{-1/2} D_j`` (``D_j' D_j = Phi_j``), the
    estimator is ``V_CR2 = B [sum_j X_j' W_j A_j e_j e_j' A_j W_j X_j] B``; it is unbiased
    when the working model is right. For coefficient ``c`` the Satterthwaite df are
    ``(tr Omega)^2 / ||Omega||_F^2`` with ``Omega_ij = g_i' Phi g_j``,
    ``g_j = (I - H)_j' A_j W_j X_j B c`` (the terms of ``c'V_CR2 c = sum_j (g_j'y)^2``), which
    under ``W = Phi^-1`` is ``diag(a_j' Phi_j a_j) - Q'BQ``, ``a_j = A_j W_j X_j B c``,
    ``Q = [X_j' a_j]_j``. Tests are t(df); CIs ``b -/+ t_{df} se``.

    Edge cases: one cluster raises ArgumentError (no between-cluster variation to estimate
    from); a cluster that alone determines a coefficient makes its inner matrix singular,
    handled by a generalised inverse square root as in Pustejovsky & Tipton (2018).

    References
    ----------
    Pustejovsky JE, Tipton E (2018). Small-sample methods for cluster-robust variance
    estimation and hypothesis testing in fixed effects models. J Bus Econ Stat 36:672-683.
    doi:10.1080/07350015.2016.1247004
    Tipton E (2015). Small sample adjustments for robust variance estimation with
    meta-regression. Psychol Methods 20:375-393. doi:10.1037/met0000011
    Bell RM, McCaffrey DF (2002). Bias reduction in standard errors for linear regression
    with multi-stage samples. Surv Methodol 28:169-181.

    Examples
    --------
    >>> import pandas as pd
    >>> import evidence as ev
    >>> df = pd.DataFrame({"study": [1, 1, 2, 2, 3, 3, 4, 4],
    ...                    "yi": [0.1, 0.3, 0.5, 0.2, -0.1, 0.0, 0.4, 0.6],
    ...                    "vi": [0.02, 0.03, 0.02, 0.04, 0.03, 0.02, 0.05, 0.03]})
    >>> df["esid"] = range(8)
    >>> fit = ev.meta_mv("yi", "vi", data=df, random="study/esid", sigma2_ci=False)
    >>> rb = ev.robust(fit, cluster=df["study"])
    >>> rb.n_clusters
    4
    """
    if not isinstance(adjust, str) or adjust.upper() not in ADJUSTMENTS:
        raise ArgumentError(f"adjust {adjust!r} is not one of {', '.join(ADJUSTMENTS)}")
    adjust = adjust.upper()
    level = check_level(level if level is not None else result.level)
    y, X, b_fit, blocks, kind = _working_blocks(result, yi, vi, mods, data)
    k, p = X.shape
    cl = _cluster_codes(cluster, data, k)
    n_clusters = int(cl.max()) + 1
    if n_clusters < 2:
        raise ArgumentError("cluster-robust inference needs at least 2 clusters, got 1")
    # clusters must hold whole blocks of the working covariance
    members: list[list] = [[] for _ in range(n_clusters)]
    for rows, Phi in blocks:
        c = np.unique(cl[rows])
        if c.size != 1:
            raise ArgumentError(
                "cluster splits effects that the model correlates (rows "
                f"{', '.join(map(str, rows[:5]))} fall in different clusters): cluster by the "
                "outermost random effect or a coarser grouping")
        members[int(c[0])].append((rows, Phi))
    clusters = []
    A = np.zeros((p, p))
    c_ = np.zeros(p)
    for mem in members:
        rows = np.concatenate([r for r, _ in mem])
        Phi = linalg.block_diag(*[m for _, m in mem])
        W = np.linalg.inv(Phi)
        W = 0.5 * (W + W.T)
        Xj, yj = X[rows], y[rows]
        WX = W @ Xj
        A += Xj.T @ WX
        c_ += WX.T @ yj
        clusters.append((rows, Phi, W, Xj, yj, WX))
    B = np.linalg.inv(A)
    B = 0.5 * (B + B.T)
    b = B @ c_
    if kind != "meta_mv" and not np.allclose(b, b_fit, rtol=_SAME_FIT_RTOL,
                                             atol=_SAME_FIT_RTOL * np.max(np.abs(b_fit))):
        raise ArgumentError(f"the yi/vi given do not reproduce the fit's coefficients "
                            f"({b_fit} vs {b}): pass the data the {kind} result was fitted to")
    meat = np.zeros((p, p))
    F_all = []
    for rows, Phi, W, Xj, yj, WX in clusters:
        e = yj - Xj @ b
        S = Phi - Xj @ B @ Xj.T
        D = np.linalg.cholesky(Phi).T  # D'D = Phi
        inner = D @ S @ D.T
        lam, Q = np.linalg.eigh(0.5 * (inner + inner.T))
        keep = lam > _EIG_RTOL * max(float(lam.max()), 0.0)
        inv_sqrt = (Q[:, keep] / np.sqrt(lam[keep])) @ Q[:, keep].T
        Aj = D.T @ inv_sqrt @ D
        u = WX.T @ (Aj @ e)
        meat += np.outer(u, u)
        F_all.append((Aj @ WX @ B, Phi, Xj))  # columns: a_j for each coefficient
    vcr = B @ meat @ B
    vcr = (vcr + vcr.T) / 2.0
    se = np.sqrt(np.diag(vcr))
    dfs = np.empty(p)
    for m in range(p):
        d = np.array([float(F[:, m] @ Phi @ F[:, m]) for F, Phi, _ in F_all])
        Qm = np.column_stack([Xj.T @ F[:, m] for F, _, Xj in F_all])  # p x J
        omega = np.diag(d) - Qm.T @ B @ Qm
        dfs[m] = float(np.trace(omega) ** 2 / np.sum(omega * omega))
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = b_fit / se
    pval = 2.0 * stats.t.sf(np.abs(stat), dfs)
    crit = stats.t.isf((1.0 - level) / 2.0, dfs)
    names = (list(result.coefficients.index) if not isinstance(result, MetaResult)
             else ["intrcpt"])
    coefs = pd.DataFrame({"estimate": b_fit, "se": se, "stat": stat, "df": dfs,
                          "pvalue": pval, "ci_low": b_fit - crit * se,
                          "ci_high": b_fit + crit * se},
                         index=pd.Index(names, name="term"))
    return RobustResult(k=k, p=p, n_clusters=n_clusters, coefficients=coefs,
                        vcov=pd.DataFrame(vcr, index=names, columns=names), adjust=adjust,
                        level=level, model=kind)
