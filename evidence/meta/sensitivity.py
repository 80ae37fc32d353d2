"""Sensitivity analyses around a meta-analysis: leave-one-out, influence, cumulative.

Every analysis here fits many meta-analyses of subsets of the same studies. The subsets are
stacked into one long table with a subset id and pooled in one call to
:func:`evidence.meta.fit.meta_batch`, which fits all groups at once, so there is no Python
loop over studies.

Edge cases: ``leave_one_out`` needs k >= 2, ``influence`` k >= 3 (ArgumentError otherwise);
``cumulative`` accepts k = 1. NaN, inf, vi <= 0, non-numbers, different lengths and empty
input raise ArgumentError; equal effects and k = 2 give metafor's numbers
(``tests/reference/edges.json``); data far from unit scale give the unit-scale answer,
scaled (see :func:`evidence.meta.fit.meta`; the influence measures are computed from ratios,
so nothing is squared out of range).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from evidence.errors import ArgumentError
from evidence.meta._validate import check_level, check_method, check_test, check_yi_vi

__all__ = ["leave_one_out", "influence", "cumulative"]

_LOO_COLUMNS = ["estimate", "se", "stat", "pvalue", "ci_low", "ci_high", "q", "q_pvalue",
                "tau2", "i2", "h2"]
_CUMUL_COLUMNS = ["k", "estimate", "se", "stat", "pvalue", "ci_low", "ci_high", "q",
                  "q_pvalue", "tau2", "i2", "h2"]


def _fit_subsets(y, v, sets, method, test, level) -> pd.DataFrame:
    """Pool each subset of studies; ``sets`` is a boolean (n_sets, k) membership matrix.

    Returns the :func:`meta_batch` frame with one row per subset, in subset order.
    """
    from evidence.meta.fit import meta_batch

    n_sets, _ = sets.shape
    set_id, study = np.nonzero(sets)  # row-major: grouped by set, studies in input order
    long = pd.DataFrame({"set": set_id, "yi": y[study], "vi": v[study]})
    out = meta_batch(long, yi="yi", vi="vi", by="set", method=method, test=test, level=level)
    if "set" in out.columns:
        out = out.set_index("set")
    return out.reindex(np.arange(n_sets))


def _loo_frame(y, v, method, test, level) -> pd.DataFrame:
    k = y.size
    sets = ~np.eye(k, dtype=bool)
    return _fit_subsets(y, v, sets, method, test, level)


def leave_one_out(yi, vi, method: str = "REML", test: str = "z", level: float = 0.95,
                  labels=None) -> pd.DataFrame:
    """Leave-one-out meta-analyses, as metafor's ``leave1out()``.

    Parameters
    ----------
    yi, vi : array_like
        Effect sizes and sampling variances (k >= 2).
    method, test, level
        As :func:`evidence.meta.fit.meta`.
    labels : array_like, optional
        Study labels for the index (default ``0 .. k-1``).

    Returns
    -------
    pandas.DataFrame
        Row ``i`` is the meta-analysis without study ``i``: ``estimate``, ``se``, ``stat``,
        ``pvalue``, ``ci_low``, ``ci_high``, ``q``, ``q_pvalue``, ``tau2``, ``i2``, ``h2``.

    Notes
    -----
    Each row is ``meta(yi[-i], vi[-i], method, test)``; all ``k`` fits are done in one
    batch.

    References
    ----------
    Viechtbauer W, Cheung MW-L (2010). Outlier and influence diagnostics for meta-analysis.
    Res Synth Methods 1:112-125. doi:10.1002/jrsm.11

    Examples
    --------
    >>> import numpy as np
    >>> loo = leave_one_out(np.array([0.1, 0.3, 0.35, 0.6]), np.array([0.01, 0.02, 0.015, 0.03]))
    >>> loo.shape[0]
    4
    """
    method = check_method(method)
    test = check_test(test)
    level = check_level(level)
    y, v = check_yi_vi(yi, vi, min_k=2)
    out = _loo_frame(y, v, method, test, level)[_LOO_COLUMNS].reset_index(drop=True)
    out.index = _labels(labels, y.size)
    return out


def _labels(labels, k):
    if labels is None:
        return pd.RangeIndex(k, name="omitted")
    idx = pd.Index(list(labels), name="omitted")
    if len(idx) != k:
        raise ArgumentError(f"labels must have one entry per study ({k}), got {len(idx)}")
    return idx


def influence(yi, vi, method: str = "REML", labels=None) -> pd.DataFrame:
    """Outlier and influence diagnostics, as metafor's ``influence.rma.uni()``.

    Parameters
    ----------
    yi, vi : array_like
        Effect sizes and sampling variances (k >= 3).
    method : str
        tau2 estimator (as :func:`evidence.meta.fit.meta`); tests are z tests.
    labels : array_like, optional
        Study labels for the index.

    Returns
    -------
    pandas.DataFrame
        One row per study: ``rstudent``, ``dffits``, ``cooks``, ``cov_r``, ``tau2_del``,
        ``qe_del``, ``hat``, ``weight`` (fraction), ``dfbetas`` and ``influential``.

    Notes
    -----
    With ``b``, ``var(b)`` from the full fit, ``w_i = 1/(v_i + tau2)`` and ``b_(-i)``,
    ``var(b_(-i))``, ``tau2_(-i)``, ``QE_(-i)`` from the fit without study ``i``:

    * hat value ``h_i = w_i / sum(w)`` (the weight, as a fraction);
    * externally standardised residual
      ``(y_i - b_(-i)) / sqrt(v_i + tau2_(-i) + var(b_(-i)))``;
    * DFFITS ``(b - b_(-i)) / sqrt(h_i (tau2_(-i) + v_i))``;
    * Cook's distance ``(b - b_(-i))^2 / var(b)``;
    * covariance ratio ``var(b_(-i)) / var(b)``;
    * DFBETAS ``(b - b_(-i)) / sqrt(1 / sum_j 1/(v_j + tau2_(-i)))`` (all ``k`` studies
      weighted with the leave-one-out tau2).

    A study is flagged ``influential`` (metafor's rule, with ``p = 1`` coefficient) when
    ``|DFFITS| > 3 sqrt(p/(k-p))``, or the chi-square(p) CDF of Cook's distance exceeds 0.5,
    or ``h_i > 3 p/k``, or ``|DFBETAS| > 1``.

    References
    ----------
    Viechtbauer W, Cheung MW-L (2010). Outlier and influence diagnostics for meta-analysis.
    Res Synth Methods 1:112-125. doi:10.1002/jrsm.11
    Belsley DA, Kuh E, Welsch RE (1980). Regression Diagnostics. Wiley.

    Examples
    --------
    >>> import numpy as np
    >>> inf = influence(np.array([0.1, 0.3, 0.35, 0.6, 1.5]),
    ...                 np.array([0.01, 0.02, 0.015, 0.03, 0.02]), method="DL")
    >>> list(inf.columns[:3])
    ['rstudent', 'dffits', 'cooks']
    """
    from evidence.meta.fit import meta

    method = check_method(method)
    y, v = check_yi_vi(yi, vi, min_k=3)
    k, p = y.size, 1
    full = meta(y, v, method=method, test="z")
    loo = _loo_frame(y, v, method, "z", 0.95)
    b = float(full.estimate)
    se = float(full.se)
    tau2 = float(full.tau2) if np.isfinite(full.tau2) else 0.0
    # written with ratios (weights relative to the largest, (x / se)^2 rather than x^2 / se^2)
    # so that data at a 1e-300 or 1e300 scale neither overflow nor underflow
    u = v + tau2
    w = np.min(u) / u
    hat = w / w.sum()
    b_del = loo["estimate"].to_numpy(float)
    se_del = loo["se"].to_numpy(float)
    tau2_del = loo["tau2"].to_numpy(float)
    tau2_del = np.where(np.isfinite(tau2_del), tau2_del, 0.0)
    diff = b - b_del
    rstudent = (y - b_del) / np.sqrt(v + tau2_del + se_del * se_del)
    dffits = diff / np.sqrt(hat * (tau2_del + v))
    cooks = (diff / se) ** 2
    cov_r = (se_del / se) ** 2
    # var(b) with all k studies but the leave-one-out tau2: (k x k) outer sum
    u_all = v[None, :] + tau2_del[:, None]
    u_min = np.min(u_all, axis=1)
    vb_all = u_min / np.sum(u_min[:, None] / u_all, axis=1)
    dfbetas = diff / np.sqrt(vb_all)
    influential = (
        (np.abs(dffits) > 3.0 * np.sqrt(p / (k - p)))
        | (stats.chi2.cdf(cooks, p) > 0.5)
        | (hat > 3.0 * p / k)
        | (np.abs(dfbetas) > 1.0)
    )
    out = pd.DataFrame({
        "rstudent": rstudent,
        "dffits": dffits,
        "cooks": cooks,
        "cov_r": cov_r,
        "tau2_del": tau2_del,
        "qe_del": loo["q"].to_numpy(float),
        "hat": hat,
        "weight": hat,
        "dfbetas": dfbetas,
        "influential": influential,
    })
    out.index = _labels(labels, k).rename("study")
    return out


def cumulative(yi, vi, order=None, method: str = "REML", test: str = "z", level: float = 0.95,
               labels=None) -> pd.DataFrame:
    """Cumulative meta-analysis, as metafor's ``cumul()``.

    Parameters
    ----------
    yi, vi : array_like
        Effect sizes and sampling variances.
    order : array_like, optional
        Sort key per study (e.g. publication year); studies are added in increasing order,
        ties kept in input order (stable sort). Default: input order.
    method, test, level
        As :func:`evidence.meta.fit.meta`.
    labels : array_like, optional
        Study labels; the index of the result is the label of the study added at that step.

    Returns
    -------
    pandas.DataFrame
        Row ``j`` pools the first ``j + 1`` studies in the given order: ``k``, ``estimate``,
        ``se``, ``stat``, ``pvalue``, ``ci_low``, ``ci_high``, ``q``, ``q_pvalue``, ``tau2``,
        ``i2``, ``h2``, plus ``order`` (the sort key, when given).

    Notes
    -----
    Row ``j`` is ``meta(yi[o[:j+1]], vi[o[:j+1]])`` with ``o`` the stable ordering; all fits
    are done in one batch.

    References
    ----------
    Lau J, Antman EM, Jimenez-Silva J, Kupelnick B, Mosteller F, Chalmers TC (1992).
    Cumulative meta-analysis of therapeutic trials for myocardial infarction.
    N Engl J Med 327:248-254. doi:10.1056/NEJM199207233270406

    Examples
    --------
    >>> import numpy as np
    >>> cm = cumulative(np.array([0.1, 0.3, 0.35]), np.array([0.01, 0.02, 0.015]),
    ...                 order=[2001, 1999, 2005], method="FE")
    >>> list(cm["k"])
    [1, 2, 3]
    """
    method = check_method(method)
    test = check_test(test)
    level = check_level(level)
    y, v = check_yi_vi(yi, vi, min_k=1)
    k = y.size
    if order is None:
        o = np.arange(k)
        key = None
    else:
        key = np.asarray(order)
        if key.shape != (k,):
            raise ArgumentError(f"order must have one entry per study ({k}), got shape {key.shape}")
        o = np.argsort(key, kind="stable")
    ys, vs = y[o], v[o]
    sets = np.tri(k, dtype=bool)  # row j: the first j + 1 studies
    out = _fit_subsets(ys, vs, sets, method, test, level)
    out = out[[c for c in _CUMUL_COLUMNS if c in out.columns]].reset_index(drop=True)
    out["k"] = np.arange(1, k + 1)
    if key is not None:
        out.insert(0, "order", key[o])
    lab = _labels(labels, k)
    out.index = pd.Index(np.asarray(lab)[o], name="added")
    return out
