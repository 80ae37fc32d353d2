"""Cluster-robust (sandwich) inference with the CR2 small-sample correction.

For a fit by weighted least squares ``b = (X'WX)^-1 X'W y`` with the model's working
covariance ``Phi`` and weights ``W = Phi^-1`` (the marginal covariance of :func:`meta_mv`, or
``diag(vi + tau2)`` of :func:`meta` / :func:`metareg`), the CR2 estimator of ``var(b)`` and
Satterthwaite degrees of freedom for each coefficient (Pustejovsky & Tipton 2018), as R
clubSandwich's ``coef_test(fit, vcov = "CR2")`` and metafor's
``robust(fit, cluster, clubSandwich = TRUE)``; joint tests of several coefficients by the
approximate Hotelling T^2 test (HTZ) of Tipton & Pustejovsky (2015), as clubSandwich's
``Wald_test(fit, constrain_zero(...), vcov = "CR2", test = "HTZ")``
(:meth:`RobustResult.wald_test`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import linalg, stats

from evidence.effects._frozen import FrozenResult, copied_on_read, readonly
from evidence.errors import ArgumentError

from ._validate import check_level
from .metareg import MetaRegResult, _formula_matrix, _moderator_matrix
from .multilevel import MetaMVResult, coefficient_column
from .results import MetaResult

__all__ = ["ADJUSTMENTS", "WALD_TESTS", "RobustResult", "WaldTestResult", "robust"]

#: Small-sample adjustments of :func:`robust`.
ADJUSTMENTS = ("CR2",)

#: Tests of :meth:`RobustResult.wald_test` (clubSandwich's names): the approximate Hotelling
#: T^2 test with the small-sample correction, and the naive chi-square and F references.
WALD_TESTS = ("HTZ", "chi-sq", "Naive-F", "Naive-Fp")

#: The fit's coefficients are recomputed from the data given to :func:`robust` for a meta or
#: metareg result; they must agree with the result to this relative tolerance, or the data are
#: not those of the fit (the refit is the same weighted least squares, so rounding only).
_SAME_FIT_RTOL = 1e-8

#: Eigenvalues of the CR2 adjustment's inner matrix below this fraction of the largest are
#: taken as 0 (a generalised inverse square root): they are exact zeros in theory (a cluster
#: that determines a coefficient alone) and rounding noise of ~1e-16 in practice.
_EIG_RTOL = 1e-12


@dataclass(frozen=True, slots=True, eq=False)
class WaldTestResult(FrozenResult):
    """A cluster-robust joint test that several coefficients are 0 (see
    :meth:`RobustResult.wald_test`).

    Attributes
    ----------
    test : str
        "HTZ", "chi-sq", "Naive-F" or "Naive-Fp".
    terms : tuple of str
        The coefficients tested (all equal to 0 under the null).
    statistic : float
        The F statistic: ``delta * Q / q`` for HTZ, ``Q / q`` otherwise (clubSandwich's
        ``Fstat``), where ``Q`` is :attr:`wald_statistic`.
    df_num : int
        Numerator degrees of freedom ``q`` (the number of terms).
    df_denom : float
        Denominator degrees of freedom: ``eta - q + 1`` for HTZ, ``inf`` for chi-sq, ``J - 1``
        for Naive-F and ``J - p`` for Naive-Fp (``J`` clusters, ``p`` coefficients).
    pvalue : float
        ``P(F(df_num, df_denom) > statistic)`` (chi-sq: ``P(chi2(q) > Q)``); NaN when
        ``df_denom <= 0`` (HTZ with ``eta <= q - 1``: the statistic is then 0, as in
        clubSandwich, and the test is not available).
    wald_statistic : float
        ``Q = (C b)' (C V_CR2 C')^-1 (C b)``, the robust Wald (Hotelling T^2) statistic.
    delta : float
        The HTZ scale ``max(0, (eta - q + 1) / eta)`` (1 for the other tests).
    eta : float
        The HTZ degrees of freedom ``eta`` of the approximating Wishart (NaN for the others).
    n_clusters : int
        Clusters ``J``.
    """

    test: str
    terms: tuple
    statistic: float
    df_num: int
    df_denom: float
    pvalue: float
    wald_statistic: float
    delta: float
    eta: float
    n_clusters: int

    def to_frame(self) -> pd.DataFrame:
        """One row, indexed by the test: terms, statistic, df_num, df_denom, pvalue."""
        return pd.DataFrame({"terms": [", ".join(self.terms)], "statistic": [self.statistic],
                             "df_num": [self.df_num], "df_denom": [self.df_denom],
                             "pvalue": [self.pvalue]},
                            index=pd.Index([self.test], name="test"))

    def __repr__(self) -> str:
        ref = (f"chi2({self.df_num}) = {self.wald_statistic:.4g}" if self.test == "chi-sq"
               else f"F({self.df_num}, {self.df_denom:.4g}) = {self.statistic:.4g}")
        return (f"WaldTestResult({self.test}: {ref}, p = {self.pvalue:.4g}; "
                f"terms {', '.join(self.terms)}; {self.n_clusters} clusters)")


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
    bread : numpy.ndarray
        ``B = (X'WX)^-1``, the model-based covariance of the coefficients (p x p).
    cluster_gram, cluster_cross : numpy.ndarray
        Per cluster ``j`` (J x p x p): ``F_j' Phi_j F_j`` and ``X_j' F_j`` with
        ``F_j = A_j W_j X_j B``: what the degrees of freedom of any linear combination of the
        coefficients are computed from (:meth:`wald_test`); read-only.
    """

    k: int
    p: int
    n_clusters: int
    coefficients: pd.DataFrame
    vcov: pd.DataFrame
    adjust: str
    level: float
    model: str
    bread: np.ndarray = field(repr=False)
    cluster_gram: np.ndarray = field(repr=False)
    cluster_cross: np.ndarray = field(repr=False)

    def __post_init__(self):
        for name in ("bread", "cluster_gram", "cluster_cross"):
            object.__setattr__(self, name, readonly(getattr(self, name), float))

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

    def _term_indices(self, terms) -> list[int]:
        names = list(self.coefficients.index)
        if terms is None:
            idx = [i for i, n in enumerate(names) if n != "intrcpt"]
            if not idx:
                raise ArgumentError("the model has only an intercept, so there is no term to "
                                    "test by default; pass terms=['intrcpt'] to test it")
            return idx
        if isinstance(terms, (str, int, np.integer)):
            terms = [terms]
        idx = []
        for t in terms:
            if isinstance(t, str):
                if t not in names:
                    raise ArgumentError(f"term {t!r} is not a coefficient of the fit; the "
                                        f"terms are {', '.join(names)}")
                idx.append(names.index(t))
            elif isinstance(t, (int, np.integer)) and not isinstance(t, (bool, np.bool_)):
                if not 0 <= int(t) < len(names):
                    raise ArgumentError(f"term index {int(t)} is out of range: the fit has "
                                        f"{len(names)} coefficients ({', '.join(names)}), "
                                        f"indexed from 0")
                idx.append(int(t))
            else:
                raise ArgumentError(f"terms must be names or 0-based indices of coefficients, "
                                    f"got {t!r}")
        if not idx:
            raise ArgumentError("terms is empty: name at least one coefficient to test")
        if len(set(idx)) != len(idx):
            dup = sorted({names[i] for i in idx if idx.count(i) > 1})
            raise ArgumentError(f"terms names {', '.join(dup)} more than once")
        return idx

    def wald_test(self, terms=None, test: str = "HTZ") -> WaldTestResult:
        """Cluster-robust joint test that the coefficients ``terms`` are all 0.

        The approximate Hotelling T^2 test (HTZ) with the small-sample correction of Tipton &
        Pustejovsky (2015), as R clubSandwich's
        ``Wald_test(fit, constraints = constrain_zero(terms), vcov = "CR2", test = "HTZ")``.

        Parameters
        ----------
        terms : str, int or sequence of them, optional
            Coefficients by name (``"deltypeovert"``) or 0-based index. Default: every
            coefficient except the intercept ``intrcpt`` (clubSandwich's
            ``constrain_zero(2:p)`` for a model with an intercept); all of them for a model
            without one. An intercept-only model has nothing to test by default.
        test : {"HTZ", "chi-sq", "Naive-F", "Naive-Fp"}
            HTZ (the default and the one to use with few clusters), or the naive references
            of clubSandwich: ``Q`` against chi2(q), ``Q/q`` against F(q, J-1) or F(q, J-p).

        Returns
        -------
        WaldTestResult

        Notes
        -----
        For ``C`` the q x p matrix selecting the terms, ``Q = (Cb)' (C V_CR2 C')^-1 (Cb)``.
        ``C V_CR2 C' = sum_j G_j' e e' G_j``, with the q columns of
        ``G_j = (I - H)_j' A_j W_j X_j B C'``, is approximated by a Wishart(eta, Omega)/eta,
        ``Omega = E(C V_CR2 C') = sum_j G_j' Phi G_j``, with eta matching the total variance
        of ``Omega^-1/2 C V_CR2 C' Omega^-1/2`` under the working model (normal errors)::

            eta = q (q + 1) / sum_{i,j} [ tr(P_ij)^2 + tr(P_ij P_ij) ],
            P_ij = Omega^-1/2 G_i' Phi G_j Omega^-1/2,

        where, under ``W = Phi^-1``, ``G_i' Phi G_j = delta_ij C F_j' Phi_j F_j C'
        - C F_i' X_i B X_j' F_j C'`` (``F_j = A_j W_j X_j B``); the double sum is evaluated
        in closed form over clusters (cost linear in J). Then
        ``F = (eta - q + 1) / (eta q) Q`` is referred to F(q, eta - q + 1). With q = 1 this
        is the square of the Satterthwaite t test of :attr:`coefficients` (same df). When
        ``eta <= q - 1`` (more terms than the clusters can inform) there is no test: the
        p-value is NaN (clubSandwich: NA).

        References
        ----------
        Tipton E, Pustejovsky JE (2015). Small-sample adjustments for tests of moderators and
        model fit using robust variance estimation in meta-regression. J Educ Behav Stat
        40:604-634. doi:10.3102/1076998615606099
        Pustejovsky JE, Tipton E (2018). Small-sample methods for cluster-robust variance
        estimation and hypothesis testing in fixed effects models. J Bus Econ Stat
        36:672-683. doi:10.1080/07350015.2016.1247004

        Examples
        --------
        >>> import pandas as pd
        >>> import evidence as ev
        >>> df = pd.DataFrame({"study": [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6],
        ...                    "yi": [0.1, 0.3, 0.5, 0.2, -0.1, 0.0, 0.4, 0.6, 0.2, 0.1,
        ...                           0.3, 0.5],
        ...                    "vi": [0.02, 0.03, 0.02, 0.04, 0.03, 0.02, 0.05, 0.03, 0.02,
        ...                           0.04, 0.03, 0.02],
        ...                    "dose": ["lo", "hi", "mid", "lo", "hi", "mid",
        ...                             "lo", "hi", "mid", "lo", "hi", "mid"]})
        >>> df["esid"] = range(12)
        >>> fit = ev.meta_mv("yi", "vi", data=df, random="study/esid", mods="~ C(dose)",
        ...                  sigma2_ci=False)
        >>> ev.robust(fit, cluster=df["study"]).wald_test()  # doselo = dosemid = 0
        WaldTestResult(HTZ: F(2, 2.726) = 3.722, p = 0.1662; terms doselo, dosemid; 6 clusters)

        (clubSandwich, at the same sigma2: F = 3.72, df 2 and 2.73, p = 0.1662.)
        """
        if not isinstance(test, str) or test.lower() not in {t.lower() for t in WALD_TESTS}:
            raise ArgumentError(f"test {test!r} is not one of {', '.join(WALD_TESTS)}")
        test = next(t for t in WALD_TESTS if t.lower() == test.lower())
        idx = self._term_indices(terms)
        names = list(self.coefficients.index)
        q = len(idx)
        b = self.coefficients["estimate"].to_numpy()[idx]
        V = self.vcov.to_numpy()[np.ix_(idx, idx)]
        try:
            Q = float(b @ np.linalg.solve(V, b))
        except np.linalg.LinAlgError:
            raise ArgumentError(f"the robust covariance of {', '.join(names[i] for i in idx)} "
                                "is singular (a cluster alone determines them?): the joint "
                                "test is not defined") from None
        J = self.n_clusters
        eta, delta = math.nan, 1.0
        if test == "HTZ":
            eta = _htz_eta(self.bread, self.cluster_gram[:, idx][:, :, idx],
                           self.cluster_cross[:, :, idx])
            df_denom = eta - q + 1.0
            delta = max(0.0, df_denom / eta)  # eta < q - 1: no test (clubSandwich: 0, NA)
        else:
            df_denom = {"chi-sq": math.inf, "Naive-F": float(J - 1),
                        "Naive-Fp": float(J - self.p)}[test]
        statistic = delta * Q / q
        if test == "chi-sq":
            pvalue = float(stats.chi2.sf(Q, q))
        elif df_denom > 0 and np.isfinite(statistic):
            pvalue = float(stats.f.sf(statistic, q, df_denom))
        else:
            pvalue = math.nan
        return WaldTestResult(test=test, terms=tuple(names[i] for i in idx),
                              statistic=float(statistic), df_num=q, df_denom=float(df_denom),
                              pvalue=pvalue, wald_statistic=Q, delta=float(delta),
                              eta=float(eta), n_clusters=J)

    def summary(self) -> str:
        lines = [f"Cluster-robust inference ({self.adjust}, Satterthwaite df; "
                 f"{self.n_clusters} clusters, k = {self.k})", ""]
        lines.append(self.coefficients.to_string(float_format=lambda x: f"{x:.4f}"))
        return "\n".join(lines)


def _htz_eta(B, gram, cross) -> float:
    """The HTZ degrees of freedom ``eta`` (see :meth:`RobustResult.wald_test`, Notes).

    ``gram`` (J x q x q) holds ``C F_j' Phi_j F_j C'``, ``cross`` (J x p x q) ``X_j' F_j C'``,
    so that ``G_i' Phi G_j = delta_ij gram_j - cross_i' B cross_j``. The sum over all pairs
    of clusters is expanded so that no J x J array is formed.
    """
    q = gram.shape[1]
    BU = np.einsum("ab,jbs->jas", B, cross)
    R_diag = np.einsum("jas,jat->jst", cross, BU)          # cross_j' B cross_j
    omega = (gram - R_diag).sum(axis=0)
    lam, vec = np.linalg.eigh(0.5 * (omega + omega.T))
    if lam.min() <= _EIG_RTOL * max(float(lam.max()), 0.0):
        return math.nan
    L = (vec / np.sqrt(lam)) @ vec.T                        # Omega^-1/2
    D = np.einsum("st,jtu,uv->jsv", L, gram, L)             # normalised gram_j
    U = np.einsum("jas,st->jat", cross, L)                  # normalised cross_j
    R = np.einsum("st,jtu,uv->jsv", L, R_diag, L)           # U_j' B U_j
    trD = np.einsum("jss->j", D)
    trR = np.einsum("jss->j", R)
    diag = (np.sum(trD ** 2) - 2.0 * np.sum(trD * trR)
            + np.einsum("jst,jts->", D, D) - 2.0 * np.einsum("jst,jts->", D, R))
    # N[s, t] = sum_j u_sj u_tj' (p x p, u_sj column s of U_j)
    N = np.einsum("jas,jbt->stab", U, U)
    BN = np.einsum("ab,stbc->stac", B, N)                   # B N_st
    # sum_ij tr(R_ij)^2 = sum_st tr(B N_st B N_ts); sum_ij tr(R_ij R_ij) = sum_st tr(B N_st B N_st)
    pair = np.einsum("stac,tsca->", BN, BN) + np.einsum("stac,stca->", BN, BN)
    total = diag + pair
    return float(q * (q + 1) / total) if total > 0 else math.nan


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
    ``Q = [X_j' a_j]_j``; the sums over the J x J entries are taken in closed form from
    per-cluster p x p matrices (the q = 1 case of :meth:`RobustResult.wald_test`'s eta).
    Tests are t(df); CIs ``b -/+ t_{df} se``. Joint tests of several coefficients:
    :meth:`RobustResult.wald_test` (HTZ).

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
    # per cluster F_j' Phi_j F_j and X_j' F_j: the df of any contrast (wald_test)
    gram = np.stack([F.T @ Phi @ F for F, Phi, _ in F_all])
    cross = np.stack([Xj.T @ F for F, _, Xj in F_all])
    se = np.sqrt(np.diag(vcr))
    # Satterthwaite df of coefficient m: the q = 1 case of the HTZ eta
    dfs = np.array([_htz_eta(B, gram[:, m:m + 1, m:m + 1], cross[:, :, m:m + 1])
                    for m in range(p)])
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
                        level=level, model=kind, bread=B, cluster_gram=gram,
                        cluster_cross=cross)
