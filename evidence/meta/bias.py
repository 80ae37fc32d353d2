"""Small-study effects and publication bias: Egger's regression test and trim-and-fill."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from evidence.errors import ArgumentError, ConvergenceError, DegenerateFitWarning
from evidence.effects._frozen import FrozenResult, copied_on_read
from evidence.meta._validate import check_level, check_method, check_test, check_yi_vi
from evidence.meta.metareg import MetaRegResult, metareg

__all__ = ["EggerResult", "TrimFillResult", "egger_test", "trimfill"]

_PREDICTORS = ("sei", "vi", "ni", "ninv", "sqrtni", "sqrtninv")
_MODELS = ("rma", "lm")
_SIDES = ("left", "right")
_TRIMFILL_ESTIMATORS = ("L0", "R0")
_TRIMFILL_MAXITER = 100


@dataclass(frozen=True, slots=True, eq=False)
class EggerResult(FrozenResult):
    """Regression test for funnel-plot asymmetry (see :func:`egger_test`).

    Immutable (scalars and a :class:`MetaRegResult`, itself immutable).

    Attributes
    ----------
    stat : float
        z (``model="rma"`` with ``test="z"``) or t statistic of the predictor's coefficient.
    pvalue : float
        Two-sided p-value of ``stat``.
    df : float
        Degrees of freedom of the t test (``k - 2``); NaN for a z test.
    estimate, ci_low, ci_high : float
        The limit estimate (the intercept: the effect expected for a study with predictor 0,
        e.g. infinite precision) and its confidence interval; NaN for predictors ``"ni"`` and
        ``"sqrtni"``, where the intercept is no limit estimate.
    slope : float
        The predictor's coefficient.
    model, predictor, method, test : str
        What was fitted.
    fit : MetaRegResult
        The underlying regression.
    """

    stat: float
    pvalue: float
    df: float
    estimate: float
    ci_low: float
    ci_high: float
    slope: float
    model: str
    predictor: str
    method: str
    test: str
    fit: MetaRegResult = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        """One-row frame of the test."""
        return pd.DataFrame(
            [{
                "model": self.model, "predictor": self.predictor, "stat": self.stat,
                "df": self.df, "pvalue": self.pvalue, "slope": self.slope,
                "estimate": self.estimate, "ci_low": self.ci_low, "ci_high": self.ci_high,
            }]
        )

    def summary(self) -> str:
        """Plain-text summary, in the spirit of metafor's print method for regtest."""
        kind = "weighted regression, multiplicative dispersion" if self.model == "lm" else (
            f"meta-regression ({self.method})"
        )
        name = "t" if np.isfinite(self.df) else "z"
        dfs = f"(df = {self.df:g})" if np.isfinite(self.df) else ""
        return "\n".join([
            f"Regression test for funnel plot asymmetry ({kind}; predictor: {self.predictor})",
            f"test for funnel plot asymmetry: {name}{dfs} = {self.stat:.4f}, p = {self.pvalue:.4g}",
            f"limit estimate: {self.estimate:.4f} (CI: {self.ci_low:.4f}, {self.ci_high:.4f})",
        ])


def egger_test(
    yi,
    vi,
    model: str = "rma",
    predictor: str = "sei",
    method: str = "REML",
    test: str = "z",
    ni=None,
    level: float = 0.95,
) -> EggerResult:
    """Egger's regression test for funnel-plot asymmetry, as metafor's ``regtest()``.

    Parameters
    ----------
    yi, vi : array_like
        Effect sizes and sampling variances.
    model : {"rma", "lm"}
        ``"rma"`` (metafor's default): mixed-effects meta-regression of ``yi`` on the
        predictor with ``method`` and ``test``; ``"lm"``: weighted least squares with weights
        ``1/vi`` and a multiplicative dispersion parameter (Egger et al. 1997), t test.
    predictor : {"sei", "vi", "ni", "ninv", "sqrtni", "sqrtninv"}
        Standard error (default), variance, sample size, its inverse, root or inverse root.
    method : str
        tau2 estimator for ``model="rma"`` (ignored for ``"lm"``).
    test : {"z", "knha"}
        Test for ``model="rma"`` (``"lm"`` always uses t with ``k - 2`` df).
    ni : array_like, optional
        Sample sizes, needed for the ``n``-based predictors.
    level : float
        Confidence level of the limit estimate's interval.

    Returns
    -------
    EggerResult

    Notes
    -----
    The model is ``y_i = b0 + b1 x_i (+ u_i) + e_i`` with ``x_i`` the predictor; the test is
    the Wald test of ``b1 = 0``. With ``model="lm"`` the coefficients are the WLS solution
    with weights ``1/v_i`` and ``var(b) = s^2 (X'WX)^{-1}``, ``s^2 = sum w_i r_i^2/(k - 2)``,
    which is Egger's original regression of ``y_i / se_i`` on ``1 / se_i``.

    Edge cases: fewer than 3 studies, NaN, inf, vi <= 0, non-numbers, different lengths
    raise ArgumentError; equal effects with ``model="lm"`` (or ``test="knha"``) give NaN
    ``stat``/``pvalue`` with a :class:`~evidence.errors.DegenerateFitWarning` (a perfect
    fit, nothing to test); data far from unit scale give the scale-free statistics of unit
    scale (see :func:`evidence.meta.fit.meta`).

    References
    ----------
    Egger M, Davey Smith G, Schneider M, Minder C (1997). Bias in meta-analysis detected by a
    simple, graphical test. BMJ 315:629-634. doi:10.1136/bmj.315.7109.629
    Sterne JAC, Egger M (2005). Regression methods to detect publication and other bias in
    meta-analysis. In Rothstein HR et al. (eds), Publication Bias in Meta-Analysis, 99-110.

    Examples
    --------
    >>> import numpy as np
    >>> vi = np.linspace(0.01, 0.2, 10)
    >>> yi = 0.3 + 1.5 * np.sqrt(vi)
    >>> round(egger_test(yi + np.sin(np.arange(10)) / 50, vi, model="lm").slope, 1)
    1.5
    """
    if model not in _MODELS:
        raise ArgumentError(f"model {model!r} is not one of {', '.join(_MODELS)}")
    if predictor not in _PREDICTORS:
        raise ArgumentError(f"predictor {predictor!r} is not one of {', '.join(_PREDICTORS)}")
    method = check_method(method)
    test = check_test(test)
    level = check_level(level)
    y, v = check_yi_vi(yi, vi, min_k=3)
    if predictor in ("sei", "vi"):
        x = np.sqrt(v) if predictor == "sei" else v.copy()
    else:
        if ni is None:
            raise ArgumentError(f"ni is required for predictor {predictor!r}")
        n = np.asarray(ni, dtype=float)
        if n.shape != y.shape or np.any(~np.isfinite(n)) or np.any(n <= 0):
            raise ArgumentError("ni must hold one positive sample size per study")
        x = {"ni": n, "ninv": 1.0 / n, "sqrtni": np.sqrt(n), "sqrtninv": 1.0 / np.sqrt(n)}[predictor]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if model == "lm":
            fit = metareg(y, v, {predictor: x}, method="FE", test="knha", level=level)
        else:
            fit = metareg(y, v, {predictor: x}, method=method, test=test, level=level)
    for w in caught:  # pass on everything but the perfect-fit warning, restated below
        if not issubclass(w.category, DegenerateFitWarning):
            warnings.warn(w.message, w.category, stacklevel=2)
    c = fit.coefficients
    df = float(fit.k - fit.p) if fit.test == "knha" else np.nan
    limit = predictor in ("sei", "vi", "ninv", "sqrtninv")
    stat, pvalue = float(c["stat"].iloc[1]), float(c["pvalue"].iloc[1])
    if fit.test == "knha" and fit.s2w == 0.0:
        warnings.warn(
            "the regression fits the effects exactly (all residuals 0, e.g. equal effects): "
            "funnel-plot asymmetry cannot be tested, so stat and pvalue are NaN (the t "
            "statistic is 0/0; metafor's regtest reports rounding noise here)",
            DegenerateFitWarning, stacklevel=2)
        stat, pvalue = np.nan, np.nan
    return EggerResult(
        stat=stat,
        pvalue=pvalue,
        df=df,
        estimate=float(c["estimate"].iloc[0]) if limit else np.nan,
        ci_low=float(c["ci_low"].iloc[0]) if limit else np.nan,
        ci_high=float(c["ci_high"].iloc[0]) if limit else np.nan,
        slope=float(c["estimate"].iloc[1]),
        model=model,
        predictor=predictor,
        method="FE" if model == "lm" else method,
        test="knha" if model == "lm" else test,
        fit=fit,
    )


# --------------------------------------------------------------------------------------------
# trim and fill
# --------------------------------------------------------------------------------------------
@copied_on_read("filled")
@dataclass(frozen=True, slots=True, eq=False)
class TrimFillResult(FrozenResult):
    """Trim-and-fill analysis (see :func:`trimfill`).

    Immutable: fields cannot be rebound and ``filled`` hands out a copy.

    Attributes
    ----------
    k0 : int
        Estimated number of missing studies.
    se_k0 : float
        Standard error of ``k0`` as metafor reports it.
    side : str
        Side of the funnel plot on which studies were imputed (``"left"``/``"right"``).
    estimator : str
        ``"L0"`` or ``"R0"``.
    estimate, se, ci_low, ci_high, pvalue, tau2 : float
        Pooled result of the filled data (observed plus imputed studies).
    filled : pandas.DataFrame
        The imputed studies (columns ``yi``, ``vi``), empty when ``k0`` is 0.
    result : MetaResult
        :func:`evidence.meta.fit.meta` of the filled data.
    """

    k0: int
    se_k0: float
    side: str
    estimator: str
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    pvalue: float
    tau2: float
    filled: pd.DataFrame = field(repr=False)
    result: object = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        """One-row frame of the filled analysis."""
        return pd.DataFrame(
            [{
                "k0": self.k0, "se_k0": self.se_k0, "side": self.side,
                "estimator": self.estimator, "estimate": self.estimate, "se": self.se,
                "ci_low": self.ci_low, "ci_high": self.ci_high, "pvalue": self.pvalue,
                "tau2": self.tau2,
            }]
        )

    def summary(self) -> str:
        """Plain-text summary."""
        return (
            f"Estimated number of missing studies on the {self.side} side: {self.k0} "
            f"(SE = {self.se_k0:.4f}; estimator {self.estimator})\n"
            f"Filled estimate: {self.estimate:.4f} (SE {self.se:.4f}; "
            f"CI {self.ci_low:.4f}, {self.ci_high:.4f}); tau^2 = {self.tau2:.4f}"
        )


def _rank_first(a: np.ndarray) -> np.ndarray:
    """Ranks 1..k, ties broken by position (R's ``rank(ties.method="first")``)."""
    order = np.argsort(a, kind="stable")
    ranks = np.empty(a.size, dtype=float)
    ranks[order] = np.arange(1, a.size + 1)
    return ranks


def trimfill(
    yi,
    vi,
    method: str = "REML",
    side: str | None = None,
    estimator: str = "L0",
    test: str = "z",
    level: float = 0.95,
    control=None,
) -> TrimFillResult:
    """Duval & Tweedie's trim-and-fill method, as metafor's ``trimfill()``.

    Parameters
    ----------
    yi, vi : array_like
        Effect sizes and sampling variances.
    method : str
        tau2 estimator used for every fit (trimmed and filled), as in the model passed to
        metafor's ``trimfill``.
    side : {"left", "right"}, optional
        Side on which studies are missing. By default chosen from the sign of the slope of a
        meta-regression of ``yi`` on ``sqrt(vi)`` (same method): negative slope -> ``"right"``,
        otherwise ``"left"``.
    estimator : {"L0", "R0"}
        Estimator of the number of missing studies.
    test, level
        Passed to the fit of the filled data.
    control : dict, optional
        Convergence settings of every fit (see :data:`evidence.meta.fit.DEFAULT_CONTROL`).
        metafor's ``trimfill`` refits with metafor's default settings whatever the model's
        own; pass ``control={"threshold": 1e-5, "maxiter": 100}`` to reproduce its ML/REML/EB
        numbers to the last digit (the default here returns the converged solution; the two
        differ by about 1e-6).

    Returns
    -------
    TrimFillResult

    Notes
    -----
    The data are flipped (``-yi``) when ``side="right"`` and sorted. Iteratively: pool the
    ``k - k0`` smallest effects, centre all ``k`` effects at that estimate, rank their
    absolute values and sum the ranks of the positive ones (``S_r``); then
    ``L0 = (4 S_r - k(k+1)) / (2k - 1)``, or ``R0 = gamma - 1`` with ``gamma`` the run of
    positive ranks at the top; ``k0 = max(0, round(.))``; repeat until ``k0`` is unchanged.
    The ``k0`` largest effects are mirrored about the last trimmed estimate
    (``2 b - y_j``, same ``v_j``) and the filled data are pooled.

    Edge cases: fewer than 3 studies and the inputs :func:`evidence.meta.fit.meta` rejects
    raise ArgumentError. Equal effects give ``k0 = 0`` and the pooled effect (metafor 3.8-1
    stops there, "Trim and fill algorithm did not converge", because its centred effects
    are rounding noise whose ranks change every iteration).

    References
    ----------
    Duval S, Tweedie R (2000). Trim and fill: a simple funnel-plot-based method of testing and
    adjusting for publication bias in meta-analysis. Biometrics 56:455-463.
    doi:10.1111/j.0006-341X.2000.00455.x
    Duval S, Tweedie R (2000). A nonparametric "trim and fill" method of accounting for
    publication bias in meta-analysis. J Am Stat Assoc 95:89-98.

    Examples
    --------
    >>> import numpy as np
    >>> vi = np.linspace(0.01, 0.3, 12)
    >>> yi = 0.2 + np.sqrt(vi) * np.linspace(0.0, 2.0, 12)   # small studies show larger effects
    >>> tf = trimfill(yi, vi, method="FE")
    >>> tf.side, tf.k0
    ('left', 6)
    """
    from evidence.meta.fit import meta

    method = check_method(method)
    test = check_test(test)
    level = check_level(level)
    if estimator not in _TRIMFILL_ESTIMATORS:
        raise ArgumentError(
            f"estimator {estimator!r} is not one of {', '.join(_TRIMFILL_ESTIMATORS)}"
        )
    if side is not None and side not in _SIDES:
        raise ArgumentError(f"side {side!r} is not one of {', '.join(_SIDES)} (or None)")
    y0, v0 = check_yi_vi(yi, vi, min_k=3)
    k = y0.size
    if side is None:
        slope = metareg(y0, v0, {"sei": np.sqrt(v0)}, method=method,
                        control=control).coefficients["estimate"].iloc[1]
        side = "right" if slope < 0 else "left"
    sign = -1.0 if side == "right" else 1.0
    order = np.argsort(sign * y0, kind="stable")
    y = sign * y0[order]
    v = v0[order]

    k0, k0_prev, se_k0, b = 0, -1, np.nan, np.nan
    for _ in range(_TRIMFILL_MAXITER):
        if k0 == k0_prev:
            break
        k0_prev = k0
        kt = k - k0
        b = float(meta(y[:kt], v[:kt], method=method, control=control).estimate)
        centred = y - b
        signed = np.sign(centred) * _rank_first(np.abs(centred))
        if estimator == "R0":
            neg = -signed[signed < 0]
            raw = (k - (neg.max() if neg.size else 0.0)) - 1.0
            se_k0 = np.sqrt(2.0 * max(0.0, raw) + 2.0)
        else:
            s_r = float(signed[signed > 0].sum())
            raw = (4.0 * s_r - k * (k + 1)) / (2.0 * k - 1.0)
            var_sr = (
                k * (k + 1) * (2 * k + 1) + 10 * raw**3 + 27 * raw**2 + 17 * raw
                - 18 * k * raw**2 - 18 * k * raw + 6 * k**2 * raw
            ) / 24.0
            se_k0 = 4.0 * np.sqrt(var_sr) / (2.0 * k - 1.0) if var_sr >= 0 else np.nan
        k0 = int(max(0, np.round(raw)))
        se_k0 = max(0.0, se_k0) if np.isfinite(se_k0) else se_k0
        if k0 >= k:
            raise ConvergenceError(f"trim and fill estimated k0 = {k0} >= k = {k} missing studies")
    else:
        raise ConvergenceError(f"trim and fill did not converge in {_TRIMFILL_MAXITER} iterations")

    if k0 > 0:
        fill_y = sign * (2.0 * b - y[k - k0:])
        fill_v = v[k - k0:]
    else:
        fill_y = np.empty(0)
        fill_v = np.empty(0)
    filled = pd.DataFrame({"yi": fill_y, "vi": fill_v})
    res = meta(np.concatenate([y0, fill_y]), np.concatenate([v0, fill_v]),
               method=method, test=test, level=level, control=control)
    return TrimFillResult(
        k0=k0,
        se_k0=float(se_k0),
        side=side,
        estimator=estimator,
        estimate=float(res.estimate),
        se=float(res.se),
        ci_low=float(res.ci_low),
        ci_high=float(res.ci_high),
        pvalue=float(res.pvalue),
        tau2=float(res.tau2),
        filled=filled,
        result=res,
    )
