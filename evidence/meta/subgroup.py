"""Subgroup analysis: pooled estimates per subgroup and the test for subgroup differences."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from evidence.errors import ArgumentError
from evidence.effects._frozen import FrozenResult, copied_on_read, readonly
from evidence.meta._validate import check_level, check_method, check_test, check_yi_vi
from evidence.meta.metareg import MetaRegResult, metareg

__all__ = ["SubgroupResult", "subgroup"]

_TAU2_MODES = ("separate", "common")
_GROUP_COLUMNS = ["group", "k", "estimate", "se", "stat", "pvalue", "ci_low", "ci_high",
                  "tau2", "i2", "h2", "q", "q_df", "q_pvalue"]


@copied_on_read("groups")
@dataclass(frozen=True, slots=True, eq=False)
class SubgroupResult(FrozenResult):
    """Subgroup analysis (see :func:`subgroup`).

    Immutable: fields cannot be rebound and ``groups`` hands out a copy.

    Attributes
    ----------
    groups : pandas.DataFrame
        One row per subgroup (in level order): ``group``, ``k``, ``estimate``, ``se``,
        ``stat``, ``pvalue``, ``ci_low``, ``ci_high``, ``tau2``, ``i2``, ``h2`` and the
        within-subgroup Cochran ``q``, ``q_df``, ``q_pvalue``. With ``tau2="common"`` the
        estimates come from the mixed model (common tau2, the ``tau2`` column repeats it)
        and ``i2``/``h2`` are NaN per group (see the model-level ``i2``).
    q_between, q_between_df, q_between_pvalue : float, int, float
        Test for subgroup differences. ``separate``: Cochran's Q of a fixed-effect
        meta-analysis of the subgroup estimates with their standard errors (chi-square,
        G - 1 df). ``common``: the omnibus moderator test QM of the meta-regression on the
        group factor (an F statistic with ``(G - 1, k - G)`` df for ``test="knha"``, then
        ``q_between_df2`` is ``k - G``).
    tau2 : float
        The common (residual) tau2 for ``tau2="common"``; NaN for ``"separate"``.
    qe, qe_df, qe_pvalue, i2 : float
        Residual heterogeneity test and residual I² of the common-tau2 model (NaN for
        ``"separate"``).
    tau2_mode, method, test, level
        The settings used.
    model : MetaRegResult or None
        The meta-regression behind ``tau2="common"``.
    study_weights : numpy.ndarray
        Weight (percent) of each study, in input order, within its own subgroup's fit:
        ``1 / (vi + tau2_g)`` normalised to 100 within each subgroup (``tau2_g`` the
        subgroup's tau2, or the common tau2). Sums to 100 within every subgroup.
    """

    groups: pd.DataFrame
    q_between: float
    q_between_df: int
    q_between_pvalue: float
    q_between_df2: float
    tau2: float
    qe: float
    qe_df: float
    qe_pvalue: float
    i2: float
    tau2_mode: str
    method: str
    test: str
    level: float
    model: MetaRegResult | None = field(default=None, repr=False)
    study_weights: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self):
        if self.study_weights is not None:
            object.__setattr__(self, "study_weights", readonly(self.study_weights, float))

    def to_frame(self) -> pd.DataFrame:
        """The per-subgroup table (a copy)."""
        return self.groups

    def summary(self) -> str:
        """Plain-text summary."""
        head = (f"Subgroup analysis ({self.tau2_mode} tau^2; estimator {self.method}; "
                f"test {self.test})")
        if self.test == "knha" and self.tau2_mode == "common":
            between = (f"Test for subgroup differences: F(df1 = {self.q_between_df}, "
                       f"df2 = {self.q_between_df2:g}) = {self.q_between:.4f}, "
                       f"p = {self.q_between_pvalue:.4g}")
        else:
            between = (f"Test for subgroup differences: Q(df = {self.q_between_df}) = "
                       f"{self.q_between:.4f}, p = {self.q_between_pvalue:.4g}")
        cols = ["group", "k", "estimate", "se", "ci_low", "ci_high", "tau2", "i2"]
        table = self.groups[cols].to_string(index=False, float_format=lambda x: f"{x:.4f}")
        lines = [head, "", table, "", between]
        if self.tau2_mode == "common":
            lines.append(f"Common tau^2: {self.tau2:.4f}; residual I^2: {self.i2:.2f}%")
        return "\n".join(lines)


def _within_q(y, v, codes, n_groups):
    """Cochran's Q (weights 1/vi) within each group, vectorised with bincount."""
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        return _within_q_sums(y, v, codes, n_groups)


def _within_q_sums(y, v, codes, n_groups):
    # from the residuals about each group's weighted mean (not sum(w y^2) - (sum w y)^2 /
    # sum w, which subtracts huge quantities and overflows for large yi); the weights are
    # taken relative to the smallest vi of the group, so 1/vi cannot overflow
    vmin = np.full(n_groups, np.inf)
    np.minimum.at(vmin, codes, v)
    w = vmin[codes] / v
    sw = np.bincount(codes, w, n_groups)
    mean = np.bincount(codes, w * y, n_groups) / sw
    r = y - mean[codes]
    k = np.bincount(codes, minlength=n_groups)
    q = np.bincount(codes, (r / np.sqrt(v)) ** 2, n_groups)
    q_df = k - 1
    with np.errstate(invalid="ignore"):
        q_p = np.where(q_df > 0, stats.chi2.sf(q, np.maximum(q_df, 1)), np.nan)
    return k, q, q_df, q_p


def _within_weights(v, codes, tau2_by_group):
    """Percent weight of each study within its subgroup: 1/(vi + tau2_g), summing to 100."""
    t = np.nan_to_num(np.asarray(tau2_by_group, float)[codes], nan=0.0)
    u = v + t
    umin = np.full(len(tau2_by_group), np.inf)
    np.minimum.at(umin, codes, u)
    w = umin[codes] / u  # 1/(vi + tau2_g) relative to the group's largest: no overflow
    tot = np.bincount(codes, weights=w, minlength=len(tau2_by_group))
    out = 100.0 * w / tot[codes]
    out.setflags(write=False)
    return out


def subgroup(yi, vi, groups, method: str = "REML", tau2: str = "separate", test: str = "z",
             level: float = 0.95) -> SubgroupResult:
    """Pool each subgroup and test whether the subgroups differ.

    Parameters
    ----------
    yi, vi : array_like
        Effect sizes and sampling variances.
    groups : array_like
        Subgroup of each study (any hashable values; a pandas Categorical keeps its level
        order, otherwise levels are sorted as R's ``factor()``).
    method : str
        tau2 estimator (as :func:`evidence.meta.fit.meta`).
    tau2 : {"separate", "common"}
        ``"separate"``: an independent meta-analysis per subgroup, then a fixed-effect
        meta-analysis of the subgroup estimates; ``"common"``: one mixed-effects
        meta-regression on the group factor (a single tau2 shared by all subgroups), as
        metafor's ``rma(yi, vi, mods = ~ factor(group))``.
    test : {"z", "knha"}
    level : float

    Returns
    -------
    SubgroupResult

    Notes
    -----
    Separate: with subgroup estimates ``b_g`` and standard errors ``s_g``,
    ``Q_between = sum_g (b_g - b)^2 / s_g^2``, ``b = sum(b_g/s_g^2) / sum(1/s_g^2)``,
    referred to chi-square with ``G - 1`` df (Borenstein et al. 2009, ch. 19).
    Common: ``Q_M = b_m' var(b_m)^{-1} b_m`` over the ``G - 1`` group contrasts of the
    mixed-effects model (Viechtbauer 2010); the group estimates are the coefficients of the
    same model without intercept.

    Edge cases: fewer than 2 distinct groups, missing group labels, and the inputs that
    :func:`evidence.meta.fit.meta` rejects raise ArgumentError; single-study subgroups are
    pooled as meta does with k = 1 (``separate``); ``common`` with as many subgroups as
    studies raises ArgumentError for random-effects methods (tau² cannot be estimated;
    metafor stops too). Q statistics are computed from residuals and relative weights, so
    data at any scale that float64 holds give the unit-scale answer (scaled).

    References
    ----------
    Borenstein M, Hedges LV, Higgins JPT, Rothstein HR (2009). Introduction to
    Meta-Analysis, chapter 19. Wiley.
    Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package.
    J Stat Softw 36(3). doi:10.18637/jss.v036.i03

    Examples
    --------
    >>> import numpy as np
    >>> yi = np.array([0.1, 0.2, 0.15, 0.6, 0.7, 0.65])
    >>> vi = np.full(6, 0.02)
    >>> sg = subgroup(yi, vi, ["a", "a", "a", "b", "b", "b"], method="DL", tau2="common")
    >>> sg.q_between_df
    1
    """
    method = check_method(method)
    test = check_test(test)
    level = check_level(level)
    if tau2 not in _TAU2_MODES:
        raise ArgumentError(f"tau2 {tau2!r} is not one of {', '.join(_TAU2_MODES)}")
    y, v = check_yi_vi(yi, vi)
    g = groups if isinstance(groups, pd.Categorical) else pd.Categorical(
        pd.Series(groups).to_numpy() if not isinstance(groups, pd.Series) else groups
    )
    if len(g) != y.size:
        raise ArgumentError(f"groups must have one entry per study ({y.size}), got {len(g)}")
    if np.any(g.codes < 0):
        raise ArgumentError("groups must not contain missing values")
    g = g.remove_unused_categories()
    levels = list(g.categories)
    codes = np.asarray(g.codes, dtype=np.int64)
    n_groups = len(levels)
    if n_groups < 2:
        raise ArgumentError(f"groups must have at least 2 distinct values, got {levels}")
    k_g, q_g, qdf_g, qp_g = _within_q(y, v, codes, n_groups)

    if tau2 == "separate":
        from evidence.meta.fit import meta_batch

        order = np.argsort(codes, kind="stable")
        long = pd.DataFrame({"group": codes[order], "yi": y[order], "vi": v[order]})
        fits = meta_batch(long, yi="yi", vi="vi", by="group", method=method, test=test,
                          level=level)
        if "group" in fits.columns:
            fits = fits.set_index("group")
        fits = fits.reindex(np.arange(n_groups))
        table = pd.DataFrame({c: fits[c].to_numpy() for c in _GROUP_COLUMNS[2:]
                              if c in fits.columns})
        table.insert(0, "k", k_g)
        table.insert(0, "group", levels)
        est = table["estimate"].to_numpy(float)
        se = table["se"].to_numpy(float)
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):
            w = (np.min(se) / se) ** 2  # 1/se^2 relative to the largest: no overflow
            mean = np.sum(w * est) / np.sum(w)
            q_between = float(np.sum(((est - mean) / se) ** 2))
        q_df = n_groups - 1
        q_p = float(stats.chi2.sf(q_between, q_df))
        return SubgroupResult(
            groups=table[[c for c in _GROUP_COLUMNS if c in table.columns]],
            q_between=q_between, q_between_df=q_df, q_between_pvalue=q_p,
            q_between_df2=np.nan, tau2=np.nan, qe=np.nan, qe_df=np.nan, qe_pvalue=np.nan,
            i2=np.nan, tau2_mode=tau2, method=method, test=test, level=level, model=None,
            study_weights=_within_weights(v, codes, table["tau2"].to_numpy(float)),
        )

    # common tau2: one mixed-effects meta-regression on the group factor
    if y.size == n_groups and method not in ("FE", "EE"):
        raise ArgumentError(
            f"tau2='common' needs more studies ({y.size}) than subgroups ({n_groups}) to "
            f"estimate the common tau^2 by {method} (metafor stops too); use tau2='separate' "
            "or method='FE'"
        )
    dummies = pd.DataFrame({
        f"group{lvl}": (codes == j).astype(float) for j, lvl in enumerate(levels)
    })
    model = metareg(y, v, dummies.iloc[:, 1:], method=method, test=test, level=level)
    cells = metareg(y, v, dummies, method=method, test=test, level=level, intercept=False)
    c = cells.coefficients
    table = pd.DataFrame({
        "group": levels,
        "k": k_g,
        "estimate": c["estimate"].to_numpy(),
        "se": c["se"].to_numpy(),
        "stat": c["stat"].to_numpy(),
        "pvalue": c["pvalue"].to_numpy(),
        "ci_low": c["ci_low"].to_numpy(),
        "ci_high": c["ci_high"].to_numpy(),
        "tau2": np.full(n_groups, model.tau2),
        "i2": np.full(n_groups, np.nan),
        "h2": np.full(n_groups, np.nan),
        "q": q_g,
        "q_df": qdf_g,
        "q_pvalue": qp_g,
    })
    return SubgroupResult(
        groups=table,
        q_between=model.qm, q_between_df=model.qm_df, q_between_pvalue=model.qm_pvalue,
        q_between_df2=model.qm_df2, tau2=model.tau2, qe=model.qe, qe_df=model.qe_df,
        qe_pvalue=model.qe_pvalue, i2=model.i2, tau2_mode=tau2, method=method, test=test,
        level=level, model=model,
        study_weights=_within_weights(v, codes, np.full(n_groups, model.tau2)),
    )
