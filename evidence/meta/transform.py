"""Back-transformation of pooled results to the scale of interpretation.

Meta-analyses of ratios are done on the log scale and of correlations on Fisher's z scale;
estimates and interval bounds are transformed back for reporting (a monotone increasing
transformation maps interval bounds to interval bounds). Standard errors and test statistics
are not transformed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from evidence.errors import ArgumentError
from evidence.vocabulary import TRANSFORMS as _TRANSFORM_NAMES

__all__ = ["TRANSFORMS", "TRANSFORMED_COLUMNS", "back_transform"]


def _expit(x):
    return 1.0 / (1.0 + np.exp(-x))


def _identity(x):
    return x


_FUNCTIONS: dict[str, Callable] = {
    "identity": _identity,
    "exp": np.exp,
    "tanh": np.tanh,
    "expit": _expit,
}
#: Named back-transformations: log ratio -> ratio ("exp"), Fisher z -> r ("tanh"),
#: logit -> proportion ("expit"), and no change ("identity"); keyed (and ordered) by
#: :data:`evidence.vocabulary.TRANSFORMS`.
TRANSFORMS: dict[str, Callable] = {name: _FUNCTIONS[name] for name in _TRANSFORM_NAMES}

#: Columns / fields that are transformed: point estimates and interval bounds.
TRANSFORMED_COLUMNS = ("estimate", "ci_low", "ci_high", "pi_low", "pi_high", "yi")


def _resolve(transform) -> Callable:
    if callable(transform):
        return transform
    if isinstance(transform, str) and transform in TRANSFORMS:
        return TRANSFORMS[transform]
    raise ArgumentError(
        f"transform {transform!r} is not one of {', '.join(TRANSFORMS)} or a callable"
    )


def back_transform(values, transform="exp", columns=None):
    """Transform estimates and interval bounds back to the reporting scale.

    Parameters
    ----------
    values : DataFrame, result object, or array_like
        A frame (e.g. ``meta_batch`` output, ``leave_one_out``, ``subgroup(...).groups``,
        a ``MetaRegResult.coefficients`` table): the columns of ``columns`` that are present
        are transformed. A result object with ``to_frame()`` (e.g. ``MetaResult``) is turned
        into its frame first. Anything else is treated as numbers and transformed whole.
    transform : {"exp", "tanh", "expit", "identity"} or callable
        The inverse of the transformation the analysis was done on: ``"exp"`` for log risk
        / odds / rate ratios, ``"tanh"`` for Fisher's z to r, ``"expit"`` for logits. A
        callable must be vectorised (take and return arrays).
    columns : sequence of str, optional
        Columns to transform (default :data:`TRANSFORMED_COLUMNS`).

    Returns
    -------
    pandas.DataFrame, pandas.Series or numpy.ndarray
        A new frame with the transformed columns (other columns such as ``se``, ``stat``,
        ``pvalue``, ``tau2`` untouched); a Series or array input is transformed whole.

    Notes
    -----
    For a monotone increasing ``f``, ``[f(L), f(U)]`` is an interval with the same coverage
    for ``f(theta)`` as ``[L, U]`` has for ``theta``. ``f(estimate)`` is the median, not the
    mean, of the back-transformed sampling distribution.

    References
    ----------
    Borenstein M, Hedges LV, Higgins JPT, Rothstein HR (2009). Introduction to
    Meta-Analysis, chapters 5-6 (log ratios; Fisher's z). Wiley.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"estimate": [0.0], "se": [0.1], "ci_low": [-0.2], "ci_high": [0.2]})
    >>> back_transform(df, "exp").round(4).to_dict("records")
    [{'estimate': 1.0, 'se': 0.1, 'ci_low': 0.8187, 'ci_high': 1.2214}]
    """
    f = _resolve(transform)
    cols = TRANSFORMED_COLUMNS if columns is None else tuple(columns)
    if not isinstance(values, pd.DataFrame) and hasattr(values, "to_frame"):
        values = values.to_frame()
    if isinstance(values, pd.Series):
        return pd.Series(np.asarray(f(values.to_numpy(dtype=float)), dtype=float),
                         index=values.index, name=values.name)
    if isinstance(values, pd.DataFrame):
        missing = [c for c in (columns or ()) if c not in values.columns]
        if missing:
            raise ArgumentError(f"columns {missing} are not in the frame ({list(values.columns)})")
        out = values.copy()
        for c in cols:
            if c in out.columns:
                out[c] = np.asarray(f(out[c].to_numpy(dtype=float)), dtype=float)
        return out
    arr = np.asarray(values, dtype=float)
    return np.asarray(f(arr), dtype=float)
