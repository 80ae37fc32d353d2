"""The result object of a univariate meta-analysis (:class:`MetaResult`)."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd

from evidence.effects._frozen import Deferred, FrozenResult, deferred_fields, readonly

__all__ = ["MetaResult", "SCALAR_FIELDS", "DEFERRED_FIELDS"]

#: The scalar attributes of :class:`MetaResult`, in column order of ``to_frame()`` and of
#: the frame returned by :func:`evidence.meta.meta_batch`.
SCALAR_FIELDS = (
    "k",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "stat",
    "pvalue",
    "tau2",
    "tau",
    "se_tau2",
    "tau2_ci_low",
    "tau2_ci_high",
    "i2",
    "h2",
    "q",
    "q_df",
    "q_pvalue",
    "pi_low",
    "pi_high",
    "df",
    "method",
    "test",
    "level",
    "converged",
    "iterations",
)


#: Fields :func:`evidence.meta.meta` may compute on first read (each group of them in one
#: go): the SE of tau^2, the summary statistics, the Q-profile interval of tau^2 and the
#: weights.
DEFERRED_FIELDS = ("se_tau2", "ci_low", "ci_high", "stat", "pvalue", "q", "q_pvalue", "i2",
                   "h2", "pi_low", "pi_high", "tau2_ci_low", "tau2_ci_high", "weights")


@deferred_fields(*DEFERRED_FIELDS)
@dataclass(frozen=True, slots=True, eq=False)
class MetaResult(FrozenResult):
    """A fitted fixed- or random-effects meta-analysis (intercept-only model).

    Immutable: fields cannot be rebound and ``weights`` is a read-only array (a copy of
    what was passed in). Two results are equal when their scalar fields are (NaN equal to
    NaN), so a result equals its pickled copy.

    Attributes
    ----------
    k
        number of studies used.
    estimate, se
        pooled effect and its standard error (Knapp-Hartung scaled if
        ``test == "knha"``).
    ci_low, ci_high
        confidence interval of the pooled effect at ``level``.
    stat, pvalue
        z (or t) statistic and its two-sided p-value.
    tau2, tau, se_tau2
        between-study variance, its square root, and its standard error as
        metafor reports it (NaN where metafor gives none: FE/EE, k = 1).
    tau2_ci_low, tau2_ci_high
        Q-profile confidence interval of tau^2 (NaN for FE/EE and
        k = 1).
    i2
        I^2 in percent.
    h2
        H^2.
    q, q_df, q_pvalue
        Cochran's Q test of heterogeneity (weights 1/v_i).
    pi_low, pi_high
        prediction interval (equal to the CI when tau^2 = 0 / FE/EE).
    df
        degrees of freedom of the t distribution (k - 1) for ``test="knha"``, None for z.
    method, test
        the estimator and test used.
    level
        confidence level (fraction).
    converged, iterations
        convergence of iterative estimators (True / 0 for closed forms).
    weights
        weights of the studies as fractions summing to 1 (in input order).

    Notes
    -----
    :func:`evidence.meta.meta` defers the fields of :data:`DEFERRED_FIELDS` (the SE of
    tau^2; CI, test, Q, I^2, H^2, prediction interval; the Q-profile interval of tau^2;
    the weights): each
    group is computed on the first read of one of its fields, from a private copy of the
    data, with the same code and numbers as the eager computation, and then stored. A
    result is therefore cheap when only estimate, se and tau^2 are read, and reads the same
    as ever otherwise (equality, pickling and ``repr`` read every field).
    """

    k: int
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    stat: float
    pvalue: float
    tau2: float
    tau: float
    se_tau2: float
    tau2_ci_low: float
    tau2_ci_high: float
    i2: float
    h2: float
    q: float
    q_df: int
    q_pvalue: float
    pi_low: float
    pi_high: float
    df: int | None
    method: str
    test: str
    level: float
    converged: bool
    iterations: int
    weights: np.ndarray = field(repr=False, compare=False)

    def __post_init__(self):
        raw = MetaResult.__dict__["weights"].storage.__get__(self)
        if not isinstance(raw, Deferred):
            object.__setattr__(self, "weights", readonly(raw, float))

    # -----------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The scalar fields as a dict (no weights)."""
        return {name: getattr(self, name) for name in SCALAR_FIELDS}

    def to_frame(self) -> pd.DataFrame:
        """One-row DataFrame of the scalar fields (columns in :data:`SCALAR_FIELDS` order)."""
        return pd.DataFrame([self.to_dict()], columns=list(SCALAR_FIELDS))

    @property
    def model(self) -> str:
        """``"fixed"`` for FE/EE, else ``"random"``."""
        return "fixed" if self.method in ("FE", "EE") else "random"

    def _stat_name(self) -> str:
        return "t" if self.df is not None else "z"

    def __str__(self) -> str:
        lvl = _pct(self.level)
        kind = (
            "Equal-effects model" if self.method == "EE"
            else "Fixed-effect model" if self.method == "FE"
            else f"Random-effects model ({self.method})"
        )
        lines = [f"{kind}, k = {self.k}"]
        if self.model == "random":
            lines.append(
                f"tau^2 = {_f(self.tau2)} (SE = {_f(self.se_tau2)}), tau = {_f(self.tau)}, "
                f"I^2 = {_f(self.i2, 2)}%, H^2 = {_f(self.h2)}"
            )
        else:
            lines.append(f"I^2 = {_f(self.i2, 2)}%, H^2 = {_f(self.h2)}")
        lines.append(
            f"Q({self.q_df}) = {_f(self.q)}, p = {_p(self.q_pvalue)}"
        )
        st = self._stat_name()
        dfs = f"({self.df})" if self.df is not None else ""
        lines.append(
            f"estimate = {_f(self.estimate)}, se = {_f(self.se)}, {st}{dfs} = {_f(self.stat)}, "
            f"p = {_p(self.pvalue)}, {lvl}% CI [{_f(self.ci_low)}, {_f(self.ci_high)}]"
        )
        return "\n".join(lines)

    def summary(self) -> str:
        """Multi-line text summary in the spirit of metafor's ``print(rma(...))``."""
        lvl = _pct(self.level)
        st = self._stat_name()
        out = []
        if self.model == "random":
            out.append(f"Random-Effects Model (k = {self.k}; tau^2 estimator: {self.method})")
            out.append("")
            ci = ""
            if not math.isnan(self.tau2_ci_low):
                ci = f", {lvl}% CI [{_f(self.tau2_ci_low)}, {_f(self.tau2_ci_high)}] (Q-profile)"
            out.append(f"tau^2 (estimated amount of total heterogeneity): {_f(self.tau2)} "
                       f"(SE = {_f(self.se_tau2)}){ci}")
            out.append(f"tau (square root of estimated tau^2 value):      {_f(self.tau)}")
            out.append(f"I^2 (total heterogeneity / total variability):   {_f(self.i2, 2)}%")
            out.append(f"H^2 (total variability / sampling variability):  {_f(self.h2, 2)}")
        else:
            name = "Equal-Effects" if self.method == "EE" else "Fixed-Effect"
            out.append(f"{name} Model (k = {self.k})")
            out.append("")
            out.append(f"I^2 (total heterogeneity / total variability):  {_f(self.i2, 2)}%")
            out.append(f"H^2 (total variability / sampling variability): {_f(self.h2, 2)}")
        out.append("")
        out.append("Test for Heterogeneity:")
        out.append(f"Q(df = {self.q_df}) = {_f(self.q)}, p-val = {_p(self.q_pvalue)}")
        out.append("")
        test = "Knapp-Hartung t test" if self.df is not None else "z test"
        out.append(f"Model Results ({test}):")
        out.append("")
        head = f"{'estimate':>10} {'se':>8} {st + 'val':>8} "
        if self.df is not None:
            head += f"{'df':>4} "
        head += f"{'pval':>8} {'ci.lb':>8} {'ci.ub':>8}"
        row = f"{_f(self.estimate):>10} {_f(self.se):>8} {_f(self.stat):>8} "
        if self.df is not None:
            row += f"{self.df:>4} "
        row += f"{_p(self.pvalue):>8} {_f(self.ci_low):>8} {_f(self.ci_high):>8}"
        out += [head, row, ""]
        out.append(f"Prediction interval ({lvl}%): [{_f(self.pi_low)}, {_f(self.pi_high)}]")
        if not self.converged:
            out.append("WARNING: the tau^2 estimator did not converge.")
        return "\n".join(out)

    def _repr_html_(self) -> str:
        frame = self.to_frame().drop(columns=["method", "test", "level"]).T
        frame.columns = ["value"]
        title = html.escape(str(self).splitlines()[0])
        return f"<div><strong>{title}</strong>{frame.to_html(float_format=lambda x: f'{x:.4f}')}</div>"


def _f(x, digits: int = 4) -> str:
    if x is None:
        return "NA"
    x = float(x)
    if math.isnan(x):
        return "NA"
    return f"{x:.{digits}f}"


def _p(p) -> str:
    if p is None or math.isnan(float(p)):
        return "NA"
    return "<.0001" if p < 1e-4 else f"{p:.4f}"


def _pct(level: float) -> str:
    return f"{100 * level:g}"


def _field_names() -> tuple[str, ...]:  # used by tests to keep SCALAR_FIELDS in sync
    return tuple(f.name for f in fields(MetaResult) if f.name != "weights")


def _slot_setters() -> tuple:
    """The slot setters of MetaResult's fields, in field order (beneath the descriptors
    of the deferred fields)."""
    out = []
    for f in fields(MetaResult):
        attr = MetaResult.__dict__[f.name]
        out.append(getattr(attr, "storage", attr).__set__)
    return tuple(out)


_SETTERS = _slot_setters()


def _assemble(*values) -> MetaResult:
    """``MetaResult(*values)`` (every field, in field order) without the dataclass
    constructor: its frozen ``object.__setattr__`` per field through the deferred-field
    descriptors costs ~6 µs, a quarter of one small DL fit. Only for values the
    constructor would store unchanged: ``weights`` a :class:`Deferred` (``__post_init__``
    copies anything else, read-only) and fields already of their declared types."""
    if len(values) != len(_SETTERS) or not isinstance(values[-1], Deferred):
        return MetaResult(*values)
    obj = object.__new__(MetaResult)
    for setter, value in zip(_SETTERS, values):
        setter(obj, value)
    return obj
