"""Fit fixed- and random-effects meta-analyses: one (:func:`meta`) or many at once
(:func:`meta_batch`), with identical numbers from the same vectorised code path.

References
----------
Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. J Stat Softw
36(3). doi:10.18637/jss.v036.i03
Hartung J, Knapp G (2001). On tests of the overall treatment effect in meta-analysis with
normally distributed responses. Stat Med 20:1771-1782. doi:10.1002/sim.791
Sidik K, Jonkman JN (2002). A simple confidence interval for meta-analysis. Stat Med
21:3153-3159. doi:10.1002/sim.1262
Higgins JPT, Thompson SG (2002). Quantifying heterogeneity in a meta-analysis. Stat Med
21:1539-1558. doi:10.1002/sim.1186
Riley RD, Higgins JPT, Deeks JJ (2011). Interpretation of random effects meta-analyses.
BMJ 342:d549. doi:10.1136/bmj.d549
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import ArgumentError, ConvergenceWarning, EvidenceWarning
from ..vocabulary import FIXED_METHODS, METHODS, TESTS
from ._validate import as_1d as _as_1d
from ._validate import by_columns
from ._validate import check_control as _check_control
from ._validate import check_level as _check_level
from ._validate import check_method as _check_method
from ._validate import check_test as _check_test
from ._validate import positions as _positions
from .estimators import (DEFAULT_CONTROL, Block, Groups, InterceptDesign, _fit_tau2_raw,
                         _inside_safe_range, chi2_sf, norm_isf, norm_sf, qprofile_ci,
                         scale_exponents, t_isf, t_sf)
from ..effects._frozen import Deferred, readonly
from .results import SCALAR_FIELDS, MetaResult, _assemble

__all__ = ["meta", "meta_batch", "METHODS", "TESTS", "DEFAULT_CONTROL", "DEFAULT_MAX_MEMORY"]


# ---------------------------------------------------------------------------------------
# the vectorised core, in parts: the fit itself (tau^2, estimate, se) and, each paid only
# when asked, the summary statistics, the Q-profile interval of tau^2 and the weights

#: outputs computed with the fit itself (always)
_CORE_FIELDS = ("k", "estimate", "se", "tau2", "tau", "q_df", "df", "test",
                "converged", "iterations")
#: outputs of :func:`_summary` (tests, CI, Q, I^2, H^2, prediction interval): a few passes
_SUMMARY_FIELDS = ("ci_low", "ci_high", "stat", "pvalue", "q", "q_pvalue", "i2", "h2",
                   "pi_low", "pi_high")
#: outputs of :func:`_tau2_interval` (Q-profile root finding: the dearest part)
_TAU2_CI_FIELDS = ("tau2_ci_low", "tau2_ci_high")
_ALL_OUTPUTS = frozenset(_SUMMARY_FIELDS + _TAU2_CI_FIELDS + ("se_tau2",))

#: data with |yi| above 2^_TAME_LOG2 (or any group rescaled) are fitted eagerly with the
#: float64 range check of every output; below it (and at unit scale: weights within
#: 2^+-100, see ``scale_exponents``) no output can overflow, so outputs may be deferred
_TAME_LOG2 = 800


class _Fit:
    """The state of a fit after :func:`_core`: everything the deferred parts need.

    Arrays are at the (possibly rescaled) working scale; ``m`` are the power-of-two
    exponents to scale back with (see :func:`scale_exponents`).
    """

    __slots__ = ("g", "y", "v", "m", "rescaled", "counts", "k", "method", "test", "alpha",
                 "fixed", "multi", "tau2", "se_tau2", "conv", "iters", "w", "s1", "est", "vb",
                 "se", "knha", "df", "tame")


def _core(y, v, counts, method, test, alpha, con, se_tau2=True, on_retry=None,
          extremes=None) -> _Fit:
    """tau^2, the pooled estimate and its se for every group: rows sorted by group (1-D
    y, v: segments, :class:`Groups`) or groups of one size as columns ((k, G) y, v:
    :class:`Block`). ``extremes``: (min y, max y, min v, max v) as floats, if known."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        return _core_fit(y, v, counts, method, test, alpha, con, se_tau2, on_retry, extremes)


def _core_fit(y, v, counts, method, test, alpha, con, want_se, on_retry, extremes) -> _Fit:
    f = _Fit()
    G = counts.size
    if y.ndim == 2:
        g = Block(y.shape[0], y.shape[1])
    else:
        g = Groups.single(y.size) if G == 1 else Groups(counts)
    k = counts.astype(float)
    # data far from unit scale are fitted at unit scale (exact: powers of two), see
    # scale_exponents; the results are scaled back at the end. The global extremes once:
    # the first fast exit of scale_exponents (inlined) and the tame check
    if extremes is None:
        extremes = float(y.min()), float(y.max()), float(v.min()), float(v.max())
    ymin, ymax = extremes[0], extremes[1]
    if _inside_safe_range(extremes):
        m, rescaled = np.zeros(G, dtype=np.int64), False
    else:
        m = scale_exponents(g, y, v, extremes=extremes)
        rescaled = bool(m.any())
    if rescaled:
        mr = g.rows(m)
        y = np.ldexp(y, -mr)
        v = np.ldexp(v, -2 * mr)
    fixed = method in FIXED_METHODS
    multi = counts >= 2

    if multi.all():
        # the estimator's own (fresh, writable) arrays: no read-only Tau2Fit copies
        fit = _fit_tau2_raw(method, InterceptDesign(g), y, v, con, stacklevel=6,
                            se=want_se, on_retry=on_retry)
        tau2, se_tau2, conv, iters = fit.tau2, fit.se_tau2, fit.converged, fit.iterations
    else:
        tau2 = np.zeros(G)
        se_tau2 = np.full(G, np.nan)
        conv = np.ones(G, dtype=bool)
        iters = np.zeros(G, dtype=np.int64)
        if multi.any():
            sg, rows = g.subset(multi)
            fit = _fit_tau2_raw(method, InterceptDesign(sg), y[rows], v[rows], con,
                                stacklevel=6, se=want_se, on_retry=on_retry)
            tau2[multi] = fit.tau2
            se_tau2[multi] = fit.se_tau2
            conv[multi] = fit.converged
            iters[multi] = fit.iterations

    # pooled estimate with weights 1 / (v + tau2)
    w = v + g.expand(tau2)
    np.divide(1.0, w, out=w)  # 1 / (v + tau2), in place
    s1 = g.sum(w)
    est = g.sum(w * y) / s1
    vb = 1.0 / s1
    knha = (test == "knha") & multi  # k = 1: metafor falls back to z
    if test == "knha":
        df = np.where(knha, k - 1.0, np.nan)
    else:
        df = np.empty(G)
        df.fill(np.nan)
    if test == "knha":
        r = y - g.expand(est)
        rss = g.sum(w * r * r)
        s2w = np.where(rss <= np.finfo(float).eps, 0.0, rss / (k - 1.0))
        vb = np.where(knha, s2w * vb, vb)
    se = np.sqrt(vb)
    if not conv.all():  # groups whose iterative estimator failed: no results
        bad = ~conv
        est[bad] = np.nan
        se[bad] = np.nan
    f.g, f.y, f.v, f.m, f.rescaled, f.counts, f.k = g, y, v, m, rescaled, counts, k
    f.method, f.test, f.alpha, f.fixed, f.multi = method, test, alpha, fixed, multi
    f.tau2, f.se_tau2, f.conv, f.iters = tau2, se_tau2, conv, iters
    f.w, f.s1, f.est, f.vb, f.se, f.knha, f.df = w, s1, est, vb, se, knha, df
    f.tame = not rescaled and max(ymax, -ymin) <= 2.0**_TAME_LOG2  # y as given here
    return f


def _summary(f: _Fit) -> dict:
    """Test, CI, Cochran's Q, I^2, H^2 and the prediction interval (working scale)."""
    g, y, v, k, multi, knha, alpha = f.g, f.y, f.v, f.k, f.multi, f.knha, f.alpha
    G = f.counts.size
    est, se, vb, tau2 = f.est, f.se, f.vb, f.tau2
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        stat = est / se
        crit_z = norm_isf(alpha / 2.0)
        if np.any(knha):
            dft = np.where(knha, f.df, 1.0)
            udf, inv = np.unique(dft, return_inverse=True)  # t quantiles per distinct df
            crit = np.where(knha, t_isf(alpha / 2.0, udf)[inv], crit_z)
            pvalue = np.where(knha, 2.0 * t_sf(np.abs(stat), dft), 2.0 * norm_sf(np.abs(stat)))
        else:
            crit = np.full(G, crit_z)
            pvalue = 2.0 * norm_sf(np.abs(stat))
        ci_low = est - crit * se
        ci_high = est + crit * se

        # heterogeneity: Cochran's Q with weights 1 / v
        w0 = 1.0 / v
        s1_0 = g.sum(w0)
        mu0 = g.sum(w0 * y) / s1_0
        r0 = y - g.expand(mu0)
        q = np.maximum(0.0, g.sum(w0 * r0 * r0))
        q = np.where(multi, q, 0.0)
        q_p = np.where(multi, chi2_sf(q, np.maximum(f.counts - 1, 1)), 1.0)
        if f.fixed:
            i2 = np.maximum(0.0, 100.0 * (q - (k - 1.0)) / q)
            h2 = q / (k - 1.0)
        else:
            tr_p = s1_0 - g.sum(w0 * w0) / s1_0
            vt = (k - 1.0) / tr_p
            i2 = np.minimum(100.0, 100.0 * tau2 / (vt + tau2))  # rounding may pass 100
            h2 = tau2 / vt + 1.0
        i2 = np.where(multi, i2, 0.0)
        h2 = np.where(multi, h2, 1.0)

        # prediction interval (metafor's predict(): none for FE/EE models)
        if f.fixed:
            pi_low = np.full(G, np.nan)
            pi_high = np.full(G, np.nan)
        else:
            half = crit * np.sqrt(vb + tau2)
            pi_low, pi_high = est - half, est + half
    bad = ~f.conv
    if np.any(bad):
        for a in (stat, pvalue, ci_low, ci_high, i2, h2, pi_low, pi_high):
            a[bad] = np.nan
    return dict(ci_low=ci_low, ci_high=ci_high, stat=stat, pvalue=pvalue, q=q, q_pvalue=q_p,
                i2=i2, h2=h2, pi_low=pi_low, pi_high=pi_high)


def _tau2_interval(f: _Fit) -> dict:
    """Q-profile CI of tau^2 (working scale); NaN for FE/EE, k = 1 and failed fits."""
    G = f.counts.size
    lo_all = np.full(G, np.nan)
    hi_all = np.full(G, np.nan)
    if f.fixed:
        return dict(tau2_ci_low=lo_all, tau2_ci_high=hi_all)
    ok = f.multi & f.conv
    if np.any(ok):
        if np.all(ok):
            cg, cy, cv = f.g, f.y, f.v
        else:
            cg, rows = f.g.subset(ok)
            cy, cv = f.y[rows], f.v[rows]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
            lo, hi = qprofile_ci(InterceptDesign(cg), cy, cv, f.tau2[ok], f.alpha)
        lo_all[ok] = lo
        hi_all[ok] = hi
    return dict(tau2_ci_low=lo_all, tau2_ci_high=hi_all)


def _weights(f: _Fit) -> np.ndarray:
    """Study weights as fractions of their group's total (NaN in failed groups)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        weights = f.w / f.g.expand(f.s1)
    bad = ~f.conv
    if np.any(bad):
        weights = np.where(f.g.rows(bad), np.nan, weights)
    return weights


_SCALE_1 = ("estimate", "se", "ci_low", "ci_high", "pi_low", "pi_high")
_SCALE_2 = ("tau2", "se_tau2", "tau2_ci_low", "tau2_ci_high")


def _scale_back(f: _Fit, out: dict) -> dict:
    """Results of a rescaled fit in the units of the data (estimate etc. by 2^m, tau^2 by
    4^m); the identity for data fitted as given."""
    if f.rescaled:
        for name in _SCALE_1:
            if name in out:
                out[name] = np.ldexp(out[name], f.m)
        for name in _SCALE_2:
            if name in out:
                out[name] = np.ldexp(out[name], 2 * f.m)
    if "tau2" in out:
        out["tau"] = np.sqrt(out["tau2"])
    return out


def _fit_groups(y, v, counts, method, test, alpha, con, want=_ALL_OUTPUTS, where=None,
                on_retry=None, extremes=None):
    """Fit every group. Rows of y, v are sorted by group; counts > 0.

    ``want``: the names of the outputs beyond :data:`_CORE_FIELDS` to compute (the
    summary and the tau^2 CI are each computed only if one of their names is asked for;
    data outside the tame range compute everything, to check the float64 range of every
    output). ``where``: group positions for error messages (default 0..G-1).

    Returns a dict of per-group arrays and the :class:`_Fit` state (for the weights).
    """
    f = _core(y, v, counts, method, test, alpha, con, se_tau2="se_tau2" in want,
              on_retry=on_retry, extremes=extremes)
    if not f.tame:
        want = _ALL_OUTPUTS
    out = dict(k=counts, estimate=f.est, se=f.se, tau2=f.tau2, se_tau2=f.se_tau2,
               q_df=counts - 1, df=f.df, converged=f.conv, iterations=f.iters)
    if not want.isdisjoint(_SUMMARY_FIELDS):
        out.update(_summary(f))
    if not want.isdisjoint(_TAU2_CI_FIELDS):
        out.update(_tau2_interval(f))
    if not f.tame:
        _check_range(f, out, where)
    return _scale_back(f, out), f


def _check_range(f: _Fit, out: dict, where=None):
    """Raise ArgumentError where a fit overflowed float64 (never return such a result).

    Called on the (possibly rescaled) fit before scaling back: a statistic that is infinite
    or NaN there although the estimator converged means the data cannot be represented,
    e.g. effects that differ by ~1e200 standard errors (Q > 1.8e308). The location and
    variance results are also checked after scaling back by 2^m and 4^m.
    """
    m, conv, multi = f.m, f.conv, f.multi
    q, est, se, tau2 = out["q"], out["estimate"], out["se"], out["tau2"]
    ci_low, ci_high = out["ci_low"], out["ci_high"]
    with np.errstate(over="ignore", invalid="ignore"):
        bad = ~np.isfinite(q)
        ok = conv & ~bad
        back = [np.ldexp(est, m), np.ldexp(se, m), np.ldexp(ci_low, m), np.ldexp(ci_high, m),
                np.ldexp(tau2, 2 * m)]
        for a in [est, se, ci_low, ci_high, tau2, out["i2"], out["h2"], *back]:
            bad |= ok & ~np.isfinite(a)
        if not f.fixed:
            re = ok & multi
            lo, hi = out["tau2_ci_low"], out["tau2_ci_high"]
            pl, ph = out["pi_low"], out["pi_high"]
            for a in (lo, hi, pl, ph, np.ldexp(hi, 2 * m), np.ldexp(pl, m), np.ldexp(ph, m)):
                bad |= re & ~np.isfinite(a)
    if not np.any(bad):
        return
    g = f.g
    rows = g.rows(bad)
    yb = np.ldexp(f.y, g.rows(m))[rows]
    vb = np.ldexp(f.v, 2 * g.rows(m))[rows]
    if g.n_groups == 1 and where is None:
        place = "the data"
    else:
        pos = np.flatnonzero(bad) if where is None else np.asarray(where)[bad]
        shown = ", ".join(str(p) for p in pos[:5]) + (", ..." if pos.size > 5 else "")
        place = f"group(s) at position(s) {shown}"
    raise ArgumentError(
        f"{place} exceed the float64 range of a meta-analysis: Cochran's Q, tau^2 or the "
        f"estimate overflows (yi from {yb.min():.3g} to {yb.max():.3g}, vi from "
        f"{vb.min():.3g} to {vb.max():.3g}). Effects that differ by more than ~1e150 "
        "standard errors, or a tau^2 above ~1.8e308, cannot be represented; check the "
        "units of yi and vi."
    )


def _warn_common(method, test, counts, conv, where=""):
    if test == "knha" and method in FIXED_METHODS and np.any(counts >= 2):
        warnings.warn(
            f"the Knapp-Hartung test is not meant for {method} models (metafor warns too)",
            EvidenceWarning, stacklevel=3,
        )
    if test == "knha" and np.any(counts == 1):
        n1 = int(np.sum(counts == 1))
        msg = ("test='knha' needs k >= 2; using test='z' since k = 1" if counts.size == 1
               else f"test='knha' needs k >= 2; using test='z' for the {n1} group(s) with k = 1")
        warnings.warn(msg, EvidenceWarning, stacklevel=3)
    if not conv.all():
        nbad = int(np.sum(~conv))
        warnings.warn(
            f"the {method} estimator of tau^2 did not converge{where} "
            f"({nbad} fit{'s' if nbad != 1 else ''}); results set to NaN. "
            "Try control={'stepadj': 0.5}, a larger control['maxiter'], or another method.",
            ConvergenceWarning, stacklevel=3,
        )


def _plain_values(df: pd.DataFrame, name) -> np.ndarray | None:
    """The values of column ``name`` as a read-only numpy array when they are plain numpy
    numbers (kinds i, u, f, b), else None; read through pandas' ``_get_column_array``
    without building a Series (``df[name]`` costs ~9 µs in pandas 3, x3 per small batch).
    None too where pandas has no such method or the name is not one column."""
    getter = getattr(df, "_get_column_array", None)
    if getter is None:
        return None
    try:
        loc = df.columns.get_loc(name)
    except (KeyError, TypeError):
        return None
    if not isinstance(loc, (int, np.integer)):
        return None
    arr = getter(loc)
    if type(arr) is not np.ndarray or arr.dtype.kind not in "iufb":
        return None
    arr = arr.view()
    arr.flags.writeable = False  # never a way to write into the caller's frame
    return arr


def _numeric_column(df: pd.DataFrame, column, name: str) -> np.ndarray:
    """A column as floats: missing values (None, NaN, pd.NA) become NaN (rows dropped and
    counted in ``k_dropped``); anything else that is not a number raises ArgumentError, as
    :func:`meta` does, rather than being dropped silently."""
    plain = _plain_values(df, column)
    if plain is not None:
        return plain if plain.dtype == np.float64 else plain.astype(float)
    col = df[column]
    label = column
    if isinstance(col.dtype, np.dtype) and col.dtype.kind in "fiub":  # plain numpy numbers
        return col.to_numpy(dtype=float)
    num = pd.to_numeric(col, errors="coerce")
    bad = (num.isna() & col.notna()).to_numpy()
    if np.any(bad):
        shown = ", ".join(repr(x) for x in col[bad].iloc[:3])
        raise ArgumentError(
            f"{name} column {label!r} has values that are not numbers at row(s) "
            f"{_positions(bad)} ({shown}); fix them, or set them to NaN to drop those rows"
        )
    return num.to_numpy(dtype=float, na_value=np.nan)


# ---------------------------------------------------------------------------------------
# public functions


def meta(yi, vi, method: str = "REML", test: str = "z", level: float = 0.95,
         control: Mapping | None = None) -> MetaResult:
    """Fixed- or random-effects meta-analysis of k effect sizes (metafor's ``rma.uni``).

    Parameters
    ----------
    yi : array-like, shape (k,)
        Effect sizes (e.g. from :func:`evidence.escalc`).
    vi : array-like, shape (k,)
        Their sampling variances, all > 0.
    method : str, default "REML"
        Estimator of tau^2: "FE" (alias "EE": fixed/equal effects, tau^2 = 0), "DL"
        (DerSimonian-Laird), "REML", "ML", "PM" (Paule-Mandel), "HE" (Hedges), "SJ"
        (Sidik-Jonkman), "HS" (Hunter-Schmidt), "EB" (empirical Bayes). Case-insensitive.
    test : {"z", "knha"}, default "z"
        Normal-theory test and CI, or the Hartung-Knapp-Sidik-Jonkman adjustment (t
        distribution with k - 1 df). With k = 1, "z" is used (as metafor does).
    level : float, default 0.95
        Confidence level, as a fraction (0.95) or in percent (95).
    control : dict, optional
        Convergence settings, see :data:`DEFAULT_CONTROL`.

    Returns
    -------
    MetaResult
        tau^2, estimate and se are computed by the call; the SE of tau^2, the CI and test,
        Q, I^2, H^2 and the prediction interval, the Q-profile tau^2 interval and the
        weights are computed on the first read of one of their fields (the same code and numbers as an eager
        computation, from a private copy of the data; see
        :data:`evidence.meta.results.DEFERRED_FIELDS`). Data far from unit scale (rescaled,
        see below) are computed eagerly, so that every output is range-checked here.

    Raises
    ------
    ArgumentError
        Unknown method/test, bad level, mismatched lengths, empty input, values that are
        not numbers, NaN or infinite values, sampling variances <= 0, or data whose Q or
        tau^2 exceed the float64 range.

    Warns
    -----
    ConvergenceWarning
        If an iterative estimator does not converge (the result is then NaN).

    Notes
    -----
    With ``w_i = 1 / (v_i + tau^2)`` (tau^2 = 0 for FE/EE):

    * estimate = sum(w_i y_i) / sum(w_i), se = sqrt(1 / sum(w_i));
    * knha: se is multiplied by sqrt(s2w), ``s2w = sum(w_i (y_i - estimate)^2) / (k - 1)``
      (not truncated at 1; set to 0 when the residual sum is below machine epsilon), and
      t(k - 1) quantiles replace normal ones (Hartung & Knapp 2001; Sidik & Jonkman 2002);
    * Q = sum((y_i - mu_FE)^2 / v_i) with k - 1 df;
    * RE models: I^2 = 100 tau^2 / (tau^2 + s^2), H^2 = (tau^2 + s^2) / s^2 with the
      typical within-study variance s^2 = (k - 1) sum(1/v_i) / ((sum 1/v_i)^2 - sum 1/v_i^2)
      (Higgins & Thompson 2002); FE/EE: I^2 = max(0, 100 (Q - (k-1)) / Q), H^2 = Q / (k-1);
    * prediction interval: estimate +- crit sqrt(se^2 + tau^2) (Riley et al. 2011), crit
      from z or t(k - 1); NaN for FE/EE models, as metafor's ``predict()``;
    * tau^2 CI by the Q-profile method (Viechtbauer 2007); NaN for FE/EE and k = 1.

    k = 1 gives tau^2 = 0, Q = 0 (p = 1), I^2 = 0, H^2 = 1 as metafor does.

    Edge cases (each tested in ``tests/test_numeric_edges.py``):

    ========================== =========================================================
    k = 1                      estimate = yi, se = sqrt(vi), tau^2 = 0, Q = 0 (p = 1),
                               I^2 = 0, H^2 = 1, tau^2 CI NaN (metafor); ``knha`` uses z,
                               with an :class:`~evidence.errors.EvidenceWarning`
    k = 2, equal effects       metafor's numbers (equal effects: Q = 0, tau^2 = 0,
                               I^2 = 0; FE/EE H^2 = Q/(k-1) = 0 as metafor)
    vi = 0, vi < 0             ArgumentError (inverse-variance weights need vi > 0)
    NaN, inf, non-numbers      ArgumentError naming the positions
    empty, different lengths   ArgumentError
    far from unit scale        same numbers as at unit scale, scaled (see below)
    beyond float64             ArgumentError (see below)
    ========================== =========================================================

    Scale: when a vi or the squared spread of yi lies outside [2^-100, 2^100], the fit runs
    on ``yi / 2^m``, ``vi / 4^m`` (:func:`evidence.meta.estimators.scale_exponents`), which
    is exact in floating point, and the results are scaled back (estimate, se, CI, PI by
    2^m; tau^2, its SE and CI by 4^m); ``control["threshold"]`` then applies to
    ``tau^2 / 4^m``. Inside that range (all ordinary data) nothing is rescaled, so metafor's
    absolute settings keep their meaning. No third power of a weight is formed, so tau^2 up
    to ~1e300 times the vi still works (vi = 1e-300 with effects ~0.1: H^2 ~ 1e298).
    Results that float64 cannot hold raise ArgumentError rather than returning inf or NaN:
    Q above ~1.8e308 (effects that differ by more than ~1e154 standard errors, e.g. yi ~
    1e200 with vi ~ 1) or tau^2 above ~1.8e308 (yi spread over more than ~1e154).
    Rescaling cannot rescue those: Q is scale-free and tau^2 has the units of yi^2.

    Examples
    --------
    >>> from evidence.meta.fit import meta
    >>> res = meta([0.1, 0.3, 0.35, 0.6], [0.01, 0.02, 0.015, 0.03], method="DL")
    >>> round(res.estimate, 4), res.k
    (0.3089, 4)
    """
    method = _check_method(method)
    test = _check_test(test)
    alpha = 1.0 - _check_level(level)
    con = _check_control(control)
    y = _as_1d(yi, "yi")
    v = _as_1d(vi, "vi")
    if y.size != v.size:
        raise ArgumentError(f"yi and vi must have the same length, got {y.size} and {v.size}")
    if y.size == 0:
        raise ArgumentError("yi is empty: need at least one study")
    # one pass each when all is well (a NaN or inf makes a minimum or maximum non-finite);
    # the detailed checks below name the positions. The extremes serve the fit too
    extremes = float(y.min()), float(y.max()), float(v.min()), float(v.max())
    if not (math.isfinite(extremes[0]) and math.isfinite(extremes[1])
            and math.isfinite(extremes[3]) and extremes[2] > 0):
        _check_values(y, v)
    counts = np.array([y.size])
    if (method in _LEAN_METHODS and test == "z" and y.size >= 2
            and _inside_safe_range(extremes)
            and max(extremes[1], -extremes[0]) <= 2.0**_TAME_LOG2):
        return _meta_lean(y, v, yi, vi, counts, method, alpha, con, extremes)
    out, f = _fit_groups(y, v, counts, method, test, alpha, con, want=frozenset(),
                         extremes=extremes)
    if not f.tame:  # everything eagerly, se_tau2 included (rare: data far from unit scale)
        out, f = _fit_groups(y, v, counts, method, test, alpha, con,
                             on_retry=lambda *how: None)
    _warn_common(method, test, counts, f.conv)
    used_test = "knha" if f.knha[0] else "z"
    if f.tame:
        # the summary, the tau^2 interval and the weights are computed on first read, from
        # a private copy of the data (never a view of the caller's arrays)
        if f.y is yi or f.y.base is not None:
            f.y = f.y.copy()
        if f.v is vi or f.v.base is not None:
            f.v = f.v.copy()
        summary = Deferred(lambda: _first(_summary(f)))
        # the SE of tau^2: the estimator again, with its SE (deterministic: the same tau^2)
        se_part = Deferred(lambda: {"se_tau2": float(_core(
            f.y, f.v, counts, method, test, alpha, con, se_tau2=True,
            on_retry=lambda *how: None).se_tau2[0])})
        interval = Deferred(lambda: _first(_tau2_interval(f)))
        weights = Deferred(lambda: {"weights": readonly(_weights(f), float)})
        late = dict.fromkeys(_SUMMARY_FIELDS, summary)
        late.update(dict.fromkeys(_TAU2_CI_FIELDS, interval))
        late["se_tau2"] = se_part
    else:  # computed eagerly (and range-checked) by _fit_groups
        late = _first({name: out[name]
                       for name in _SUMMARY_FIELDS + _TAU2_CI_FIELDS + ("se_tau2",)})
        weights = _weights(f)
    return MetaResult(
        k=int(y.size),
        estimate=float(out["estimate"][0]),
        se=float(out["se"][0]),
        tau2=float(out["tau2"][0]),
        tau=float(out["tau"][0]),
        q_df=int(out["q_df"][0]),
        df=int(out["df"][0]) if used_test == "knha" else None,
        method=method,
        test=used_test,
        level=1.0 - alpha,
        converged=bool(out["converged"][0]),
        iterations=int(out["iterations"][0]),
        weights=weights,
        **late,
    )


#: estimators :func:`meta` fits through :func:`_meta_lean` (closed forms of one group)
_LEAN_METHODS = frozenset({"FE", "EE", "DL", "HS"})
_START0 = np.zeros(1, dtype=np.int64)  # the one segment of a single group


def _meta_lean(y, v, yi, vi, counts, method, alpha, con, extremes) -> MetaResult:
    """:func:`meta` for one group of k >= 2 tame studies (data inside the safe range: no
    rescaling, no range check), a closed-form estimator (FE/EE, DL, HS) and the z test:
    tau^2, the estimate and its se with the operations of the vectorised path
    (``_core_fit`` and ``_dl``/``_hs`` on one :class:`Groups` segment: sums are the same
    ``np.add.reduceat``, per-group values Python floats instead of length-1 arrays: the same
    IEEE operations, bit-identical numbers) without its objects, arrays of results and
    error-state changes. The deferred fields run the vectorised path itself (once, shared)
    on a private copy of the data, so every field reads what :func:`_fit_groups` gives."""
    reduceat = np.add.reduceat
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        if method == "FE" or method == "EE":
            tau2 = 0.0
        else:
            w = 1.0 / v  # d.wls(y, 1 / v), then trace_p and _rss (estimators._dl, _hs)
            s1 = reduceat(w, _START0)[0]
            mu = reduceat(w * y, _START0)[0] / s1
            wrr = w * (y - mu)
            wrr *= y - mu
            rss = reduceat(wrr, _START0)[0]
            kf = float(y.size)
            if method == "DL":
                np.multiply(w, w, out=wrr)
                raw = (rss - (kf - 1.0)) / (s1 - reduceat(wrr, _START0)[0] / s1)
            else:  # HS
                raw = (rss - kf) / s1
            tau2 = 0.0 if raw <= 0.0 else float(raw)  # np.maximum(0.0, raw): NaN stays
        w = v + tau2  # the pooled estimate, as _core_fit
        np.divide(1.0, w, out=w)
        s1 = reduceat(w, _START0)[0]
        est = float(reduceat(w * y, _START0)[0] / s1)
        se = math.sqrt(1.0 / s1)
    # the deferred parts: the vectorised fit of a private copy of the data, once
    yc = y.copy() if (y is yi or y.base is not None) else y
    vc = v.copy() if (v is vi or v.base is not None) else v
    state = []

    def fit():
        if not state:
            state.append(_core(yc, vc, counts, method, "z", alpha, con, se_tau2=False,
                               extremes=extremes))
        return state[0]

    summary = Deferred(lambda: _first(_summary(fit())))
    se_part = Deferred(lambda: {"se_tau2": float(_core(
        yc, vc, counts, method, "z", alpha, con, se_tau2=True,
        on_retry=lambda *how: None).se_tau2[0])})
    interval = Deferred(lambda: _first(_tau2_interval(fit())))
    weights = Deferred(lambda: {"weights": readonly(_weights(fit()), float)})
    k = int(y.size)
    # MetaResult(...) field by field in SCALAR_FIELDS order, then weights
    return _assemble(k, est, se, summary, summary, summary, summary, tau2, math.sqrt(tau2),
                     se_part, interval, interval, summary, summary, summary, k - 1, summary,
                     summary, summary, None, method, "z", 1.0 - alpha, True, 0, weights)


def _first(arrays: dict) -> dict:
    """The first (only) element of each per-group array, as a Python float."""
    return {name: float(a[0]) for name, a in arrays.items()}


def _check_values(y, v):
    """ArgumentError naming the positions of NaN, infinite or non-positive values."""
    for name, a in (("yi", y), ("vi", v)):
        if np.any(np.isnan(a)):
            raise ArgumentError(
                f"{name} contains NaN at position(s) {_positions(np.isnan(a))}; drop those "
                "studies first (meta_batch drops them and reports k)"
            )
        if np.any(np.isinf(a)):
            raise ArgumentError(f"{name} contains infinite values at position(s) "
                                f"{_positions(np.isinf(a))}")
    if np.any(v <= 0):
        raise ArgumentError(
            f"vi must be > 0 (sampling variances); got {v[v <= 0][0]!r} at position(s) "
            f"{_positions(v <= 0)}"
        )


#: tau^2 estimators without iterations (closed forms)
_CLOSED_FORM = frozenset({"FE", "EE", "DL", "HE", "HS", "SJ"})
#: most study rows of a chunk of a closed-form fit: temporaries of 32,768 rows (256 kB)
#: stay in cache and are reused by malloc; a fresh 5 MB temporary (a chunk of 83,886
#: groups of 8) costs ~2-4x its arithmetic in page faults (DL, G = 10^5, k = 8: 38 ms in
#: one chunk, 20 ms in chunks of 32,768 rows; 8,192 rows: 26 ms, per-chunk overhead)
_CACHE_ROWS = 32_768

#: Default working-memory budget of :func:`meta_batch` in bytes (256 MiB): the groups are
#: fitted in chunks whose temporary arrays stay below it (see ``max_memory``).
DEFAULT_MAX_MEMORY = 256 * 2**20

#: Peak working memory of a fit per study row (bytes), to size the chunks of
#: :func:`meta_batch`: the tracemalloc peak of a chunk's fits with every output (REML,
#: knha) is 276 B per row for k = 1, 133 B for k = 8, 71 B for k = 1000; 400 leaves room.
_BYTES_PER_ROW = 400


def meta_batch(df: pd.DataFrame, yi: str = "yi", vi: str = "vi",
               by: str | Sequence[str] | None = None, method: str = "REML",
               test: str = "z", level: float = 0.95,
               control: Mapping | None = None, *,
               columns: Sequence[str] | None = None,
               max_memory: int | None = None,
               progress: Callable[[int, int], object] | None = None,
               warn: bool = True) -> pd.DataFrame:
    """Fit one meta-analysis per group of ``df``, all groups at once (vectorised).

    Parameters
    ----------
    df : DataFrame with one row per study.
    yi, vi : column names of the effect sizes and sampling variances.
    by : column name(s) defining the groups; None fits the whole frame as one group.
    method, test, level, control : as in :func:`meta`.
    columns : sequence of str, optional
        The result columns wanted, among :data:`evidence.meta.SCALAR_FIELDS` (default: all).
        Only their cost is paid: without any of ``ci_low, ci_high, stat, pvalue, q,
        q_pvalue, i2, h2, pi_low, pi_high`` the summary pass is skipped, and without
        ``tau2_ci_low``/``tau2_ci_high`` the Q-profile root finding (the dearest part of a
        random-effects fit) is skipped. The numbers of a column are the same whichever
        other columns are asked for. The key columns, ``k`` and ``k_dropped`` are always
        returned.
    max_memory : int, optional
        Budget in bytes for the working memory of the fit (default
        :data:`DEFAULT_MAX_MEMORY`, 256 MiB). Groups are fitted in consecutive chunks of
        at most ``max_memory / 400`` study rows (and at most 32,768 for the closed-form
        estimators FE, EE, DL, HE, HS, SJ without the tau^2 interval: chunks that stay in
        cache; a group is never split: a single larger group is one chunk), so the
        temporaries stay under the budget whatever the number
        of groups; the input frame, the grouping (16 bytes per row unless ``df`` is
        already sorted by numeric ``by`` columns) and the result frame (~8 bytes per column
        per group) come on top. Chunking does not change any number.
    progress : callable, optional
        Called as ``progress(groups_done, groups_total)`` after each chunk (e.g. to drive
        a progress bar: :func:`evidence.progress.rich_progress` gives one that shows only
        on a terminal). The numeric core does no I/O itself.
    warn : bool
        False: no warnings (k = 1 under knha, retries, non-convergence); the caller reads the
        ``test`` and ``converged`` columns instead. For fits in worker threads, where
        ``warnings.catch_warnings`` is not thread-safe (Dask: :mod:`evidence.distributed`).

    Returns
    -------
    DataFrame
        One row per group (sorted by the group keys), with the key columns, ``k`` (studies
        used), ``k_dropped`` (rows dropped because yi or vi is NaN) and the scalar fields of
        :class:`MetaResult` (:data:`evidence.meta.SCALAR_FIELDS`, or those of ``columns``),
        named as its attributes. ``df`` is NaN where the z test was used. Groups whose rows
        are all NaN have k = 0 and NaN results.

    Raises
    ------
    ArgumentError
        Unknown column, method, test or level; an empty ``df``; values in the yi or vi
        column that are not numbers (``"0,2"``; missing values are dropped, not raised);
        infinite values or vi <= 0 in rows that would be used; data beyond the float64
        range (see :func:`meta`); unknown ``columns``; ``max_memory`` not a positive
        number; ``progress`` not callable.

    Notes
    -----
    No Python loop over groups: group sums are segment reductions over the group-sorted
    rows, and the iterative estimators (Fisher scoring, Q-profile root finding) update all
    unconverged groups of a chunk together. The numbers equal :func:`meta` on each group.
    A ``df`` already sorted by numeric ``by`` columns is grouped in one pass without
    ``groupby`` (the same groups in the same order).

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"g": ["a"] * 3 + ["b"] * 3, "yi": [0.1, 0.3, 0.5, 1.0, 0.8, 1.4],
    ...                   "vi": [0.02, 0.03, 0.04, 0.05, 0.02, 0.06]})
    >>> meta_batch(d, by="g", method="DL")[["g", "k", "estimate"]].round(4)
       g  k  estimate
    0  a  3    0.2669
    1  b  3    1.0237
    >>> meta_batch(d, by="g", method="DL", columns=["estimate", "tau2"]).columns.tolist()
    ['g', 'k', 'k_dropped', 'estimate', 'tau2']
    """
    method = _check_method(method)
    test = _check_test(test)
    alpha = 1.0 - _check_level(level)
    con = _check_control(control)
    wanted = _check_columns(columns)
    budget = _check_budget(max_memory)
    if progress is not None and not callable(progress):
        raise ArgumentError(f"progress must be a callable (done, total), got "
                            f"{type(progress).__name__}")
    if not isinstance(df, pd.DataFrame):
        raise ArgumentError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    by_cols = by_columns(by)
    for name, col in [("yi", yi), ("vi", vi)] + [("by", c) for c in by_cols]:
        if col not in df.columns:
            raise ArgumentError(
                f"{name} column {col!r} is not in df; columns are {', '.join(map(str, df.columns))}"
            )
    if len(df) == 0 and not by_cols:
        # with ``by``, no rows are no groups: an empty result (a Dask partition may be empty)
        raise ArgumentError("df has no rows: need at least one study")
    y_all = _numeric_column(df, yi, "yi")
    v_all = _numeric_column(df, vi, "vi")

    keys, total, order = _grouping(df, by_cols)
    n_groups = total.size

    keep = None  # rows used (None: all)
    # the extremes of all rows, once: NaN or inf make one of them non-finite (then the
    # detailed checks below), and data well inside the safe range let every chunk skip its
    # own scale check (a chunk's extremes lie within these: the same decision)
    extremes = None
    if len(v_all):
        extremes = (float(y_all.min()), float(y_all.max()), float(v_all.min()),
                    float(v_all.max()))
    if extremes is not None and not (math.isfinite(extremes[0])
                                     and math.isfinite(extremes[1])
                                     and math.isfinite(extremes[3]) and extremes[2] > 0):
        extremes = None
        keep = ~(np.isnan(y_all) | np.isnan(v_all))
        for name, col, a in (("yi", yi, y_all), ("vi", vi, v_all)):
            bad = keep & np.isinf(a)
            if np.any(bad):
                raise ArgumentError(
                    f"{name} column {col!r} has infinite values at row(s) {_positions(bad)}"
                )
        badv = keep & (v_all <= 0)
        if np.any(badv):
            raise ArgumentError(
                f"vi column {vi!r} must be > 0 (sampling variances); row(s) "
                f"{_positions(badv)} are <= 0"
            )
        if np.all(keep):
            keep = None

    names = [name for name in SCALAR_FIELDS if name in wanted]
    if extremes is not None and not _inside_safe_range(extremes):
        extremes = None  # each chunk decides on its own rows
    res_names = [name for name in names if name not in
                 ("method", "test", "level", "k", "q_df", "converged", "iterations")]
    res: dict = {}  # filled at the first fit (NaN where no fit: groups of k = 0)
    test_col = np.full(n_groups, test, dtype=object) if "test" in wanted else None
    conv = np.ones(n_groups, dtype=bool)
    iters = np.zeros(n_groups, dtype=np.int64)
    counts_all = np.zeros(n_groups, dtype=np.int64)

    # consecutive chunks of groups, each of at most `chunk_rows` rows (or one group)
    bounds = np.zeros(n_groups + 1, dtype=np.int64)
    np.cumsum(total, out=bounds[1:])
    chunk_rows = max(1, budget // _BYTES_PER_ROW)
    if method in _CLOSED_FORM and wanted.isdisjoint(_TAU2_CI_FIELDS):
        # no iteration at all: chunks of a few thousand groups keep every temporary in
        # cache and in malloc's free lists (see _CACHE_ROWS); iterative fits keep large
        # chunks, so that their last few slow groups iterate together
        chunk_rows = min(chunk_rows, _CACHE_ROWS)
    retried: list = []
    g0 = 0
    if progress is not None:
        progress(0, n_groups)
    while g0 < n_groups:
        g1 = int(np.searchsorted(bounds, bounds[g0] + chunk_rows, side="right")) - 1
        g1 = min(max(g1, g0 + 1), n_groups)
        r0, r1 = int(bounds[g0]), int(bounds[g1])
        rows = slice(r0, r1) if order is None else order[r0:r1]
        y, v = y_all[rows], v_all[rows]
        cnt = total[g0:g1]
        if keep is not None:
            kc = keep[rows]
            y, v = y[kc], v[kc]
            cs = np.zeros(kc.size + 1, dtype=np.int64)
            np.cumsum(kc, out=cs[1:])
            cnt = cs[bounds[g0 + 1:g1 + 1] - r0] - cs[bounds[g0:g1] - r0]
        counts_all[g0:g1] = cnt
        for pos, yb, vb, cb in _blocks(y, v, cnt):
            out, f = _fit_groups(yb, vb, cb, method, test, alpha, con, want=wanted,
                                 where=None if n_groups == 1 else g0 + pos,
                                 on_retry=lambda n, *how: retried.append((n, *how)),
                                 extremes=extremes)
            pos = g0 + pos
            if pos.size == n_groups:  # one fit of every group, in order: its own arrays
                res = {name: out[name] for name in res_names}
            else:
                for name in res_names:
                    if name not in res:
                        res[name] = np.full(n_groups, np.nan)
                    res[name][pos] = out[name]
            if test_col is not None and test == "knha":
                test_col[pos] = np.where(f.knha, "knha", "z")
            conv[pos] = out["converged"]
            iters[pos] = out["iterations"]
            del yb, vb, f
        del y, v
        g0 = g1
        if progress is not None:
            progress(g0, n_groups)

    if retried and warn:
        n_fixed = sum(r[0] for r in retried)
        warnings.warn(
            f"{n_fixed} group(s) converged only after retrying with "
            f"stepadj={retried[0][1]:g} and maxiter={retried[0][2]} (Fisher scoring "
            "oscillated); pass control={'retry': False} to get NaN for such groups instead",
            EvidenceWarning, stacklevel=2)
    nonempty = counts_all > 0
    if np.any(nonempty) and warn:
        _warn_common(method, test, counts_all[nonempty], conv[nonempty], " in some groups")

    # one constructor call without copies (column by column insertion costs ~30 µs each)
    data = dict(keys)
    data["k"] = counts_all
    data["k_dropped"] = total - counts_all
    for name in names:
        if name == "k":
            continue
        if name == "method":
            data[name] = np.full(n_groups, method, dtype=object)
        elif name == "test":
            data[name] = test_col
        elif name == "level":
            data[name] = np.full(n_groups, 1.0 - alpha)
        elif name == "q_df":
            data[name] = np.where(nonempty, counts_all - 1, 0)
        elif name == "converged":
            data[name] = conv
        elif name == "iterations":
            data[name] = iters
        else:
            data[name] = res.pop(name) if name in res else np.full(n_groups, np.nan)
    return _result_frame(data, n_groups)


#: batches of up to this many groups build their result frame through pandas' array
#: constructor (it consolidates the columns into one block per dtype: a copy, cheap here)
_FAST_FRAME_MAX_ROWS = 65_536


@functools.lru_cache(maxsize=64)
def _column_index(names: tuple) -> pd.Index:
    return pd.Index(list(names))


def _result_frame(data: dict, n_rows: int) -> pd.DataFrame:
    """``pd.DataFrame(data, index=RangeIndex(n_rows))``, the same frame for less.

    ``pd.DataFrame(dict)`` spends ~70 µs per call (of a DL batch of 1,000 groups that takes
    ~0.2 ms in all) inferring and checking each column and building the column index of
    strings; for plain numpy columns of the right length (as here) pandas'
    ``DataFrame._from_arrays`` without the checks, with a cached column index (copied: a
    caller may rename it), gives an equal frame in ~20 µs. Anything else (strings, a
    categorical key, Series) and large results go through the public constructor, which
    does not copy.
    """
    index = pd.RangeIndex(n_rows)
    if n_rows <= _FAST_FRAME_MAX_ROWS and all(
            type(a) is np.ndarray and a.dtype.kind in "biuf" for a in data.values()):
        try:
            return pd.DataFrame._from_arrays(list(data.values()),
                                             columns=_column_index(tuple(data)).copy(),
                                             index=index, verify_integrity=False)
        except (AttributeError, TypeError):  # a pandas without it: the public way
            pass
    return pd.DataFrame(data, index=index, copy=False)


#: groups of up to this many studies are fitted as :class:`Block` columns (one per
#: distinct k: vectorised passes over the groups); larger ones as segments (reductions
#: within each group), which cost less when a group is long
_BLOCK_MAX_K = 32
#: ... when at least this many groups share that k (a Block costs a fixed ~0.1 ms of
#: Python per fit; below this the one segment fit of the rest is cheaper)
_BLOCK_MIN_GROUPS = 512


def _blocks(y, v, counts):
    """Split group-sorted rows into the fits of one chunk: (group positions, y, v,
    counts) with (k, G_k) arrays for each size k <= _BLOCK_MAX_K shared by at least
    _BLOCK_MIN_GROUPS groups, and 1-D segments for the other groups. Empty groups are left out. The numbers do not depend on the split
    (a Block adds in the order of the segment reductions)."""
    kmin, kmax = int(counts.min()), int(counts.max())
    if kmin == kmax and 0 < kmin <= _BLOCK_MAX_K and counts.size >= _BLOCK_MIN_GROUPS:
        # one size (e.g. a simulation study): the block is the transpose of the rows
        yield (np.arange(counts.size), np.ascontiguousarray(y.reshape(-1, kmin).T),
               np.ascontiguousarray(v.reshape(-1, kmin).T), counts)
        return
    starts = np.zeros(counts.size, dtype=np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    small = (counts > 0) & (counts <= _BLOCK_MAX_K)
    sizes, n_of = np.unique(counts[small], return_counts=True)
    large = counts > 0
    for k in sizes[n_of >= _BLOCK_MIN_GROUPS]:
        pos = np.flatnonzero(counts == k)
        large[pos] = False
        idx = starts[pos][None, :] + np.arange(k)[:, None]
        yield pos, y[idx], v[idx], counts[pos]
    if np.any(large):
        pos = np.flatnonzero(large)
        rows = np.repeat(large, counts)
        yield pos, y[rows], v[rows], counts[pos]


def _check_columns(columns) -> frozenset:
    if columns is None:
        return frozenset(SCALAR_FIELDS)
    if isinstance(columns, str):
        columns = [columns]
    try:
        wanted = frozenset(columns)
    except TypeError:
        raise ArgumentError("columns must be a list of names of SCALAR_FIELDS") from None
    unknown = wanted - set(SCALAR_FIELDS)
    if unknown:
        raise ArgumentError(f"columns {', '.join(sorted(map(repr, unknown)))} not among "
                            f"{', '.join(SCALAR_FIELDS)}")
    return wanted


def _check_budget(max_memory) -> int:
    if max_memory is None:
        return DEFAULT_MAX_MEMORY
    try:
        budget = float(max_memory)
    except (TypeError, ValueError):
        budget = math.nan
    if not (budget > 0 and math.isfinite(budget)) or isinstance(max_memory, bool):
        raise ArgumentError(f"max_memory must be a positive number of bytes, got "
                            f"{max_memory!r}")
    return int(budget)


def _grouping(df: pd.DataFrame, by_cols: list[str]):
    """The groups of ``df``: (key columns by name, sorted as groupby(sort=True), rows per
    group, row order that sorts the rows by group or None if they already are).

    The key columns are arrays (or Series of the groupby path, which keep extension dtypes
    such as categoricals); the result frame is built from them once (a keys DataFrame
    built here and taken apart again cost ~0.1 ms per call, most of a small batch)."""
    n = len(df)
    if not by_cols:
        return {}, np.array([n], dtype=np.int64), None
    arrays = [_plain_values(df, c) for c in by_cols]
    if n and all(a is not None for a in arrays):  # plain numpy numbers (no rows: groupby)
        # already sorted (lexicographically, NaN-free)? then the groups are the runs
        if all(a.dtype.kind != "f" or not np.isnan(a).any() for a in arrays):
            decided = np.zeros(max(n - 1, 0), dtype=bool)
            ordered = True
            for i, a in enumerate(arrays):
                lo, hi = a[:-1], a[1:]
                down = hi < lo
                if i:  # for the first key nothing is decided yet
                    down &= ~decided
                if down.any():
                    ordered = False
                    break
                decided |= hi != lo
            if ordered:
                starts = np.concatenate([[0], np.flatnonzero(decided) + 1])
                total = np.diff(np.append(starts, n))
                keys = {c: a[starts] for c, a in zip(by_cols, arrays)}
                return keys, total, None
    grouped = df.groupby(by_cols, sort=True, dropna=False, observed=True)
    codes = grouped.ngroup().to_numpy()
    frame = grouped.size().index.to_frame(index=False)
    keys = {c: frame[c] for c in frame.columns}
    total = np.bincount(codes, minlength=len(frame))
    return keys, total, np.argsort(codes, kind="stable")
