"""Argument checks shared by every function of :mod:`evidence.meta` (written once).

Names come from :mod:`evidence.vocabulary`; messages show the bad value and list the valid
options (``method 'dl2' is not one of FE, EE, DL, ...``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from evidence.errors import ArgumentError
from evidence.vocabulary import METHODS, TESTS, parse_level

from .estimators import DEFAULT_CONTROL

__all__ = ["check_method", "check_test", "check_level", "check_control", "check_yi_vi",
           "as_1d", "positions"]


def check_method(method) -> str:
    """A τ² estimator name of :data:`evidence.vocabulary.METHODS`, upper-cased."""
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise ArgumentError(f"method {method!r} is not one of {', '.join(METHODS)}")
    return method.upper()


def check_test(test) -> str:
    """A test name of :data:`evidence.vocabulary.TESTS`, lower-cased."""
    if not isinstance(test, str) or test.lower() not in TESTS:
        raise ArgumentError(f"test {test!r} is not one of {', '.join(TESTS)}")
    return test.lower()


def check_level(level) -> float:
    """A confidence level as a fraction (0.95 or 95 -> 0.95); see
    :func:`evidence.vocabulary.parse_level`."""
    if type(level) is float and 0.0 < level < 1.0:  # the common case, without the ABC check
        return level
    return parse_level(level)


def check_control(control) -> dict:
    """metafor-style convergence settings merged over :data:`DEFAULT_CONTROL`."""
    con = dict(DEFAULT_CONTROL)
    if control is None:
        return con
    if not isinstance(control, Mapping):
        raise ArgumentError(f"control must be a dict with keys {', '.join(DEFAULT_CONTROL)}")
    unknown = set(control) - set(DEFAULT_CONTROL)
    if unknown:
        raise ArgumentError(
            f"control key(s) {', '.join(sorted(map(str, unknown)))} not among "
            f"{', '.join(DEFAULT_CONTROL)}"
        )
    con.update(control)
    if not (float(con["threshold"]) > 0):
        raise ArgumentError(f"control['threshold'] must be > 0, got {con['threshold']!r}")
    if not (0 < float(con["stepadj"]) <= 1):
        raise ArgumentError(f"control['stepadj'] must be in (0, 1], got {con['stepadj']!r}")
    if int(con["maxiter"]) < 1:
        raise ArgumentError(f"control['maxiter'] must be >= 1, got {con['maxiter']!r}")
    return con


def by_columns(by) -> list[str]:
    """The grouping columns of ``by``: None → none, a name → that one, else the sequence."""
    if by is None:
        return []
    return [by] if isinstance(by, str) else list(by)


def as_1d(x, name: str) -> np.ndarray:
    """``x`` as a 1-D float array (a scalar becomes length 1)."""
    try:
        a = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise ArgumentError(f"{name} must be a 1-D array of numbers") from None
    if a.ndim == 0:
        a = a.reshape(1)
    if a.ndim != 1:
        raise ArgumentError(f"{name} must be 1-D, got an array of shape {a.shape}")
    return a


def positions(mask: np.ndarray, limit: int = 5) -> str:
    """The first positions where ``mask`` is True, for a message."""
    pos = np.flatnonzero(mask)
    s = ", ".join(str(p) for p in pos[:limit])
    return s + (", ..." if pos.size > limit else "")


def check_yi_vi(yi, vi, *, min_k: int = 1, positive: bool = True
                ) -> tuple[np.ndarray, np.ndarray]:
    """Validate and return ``yi`` and ``vi`` as 1-D float arrays.

    Raises :class:`ArgumentError` (never a numpy error) for values that are not numbers,
    arrays that are not 1-D, different lengths, fewer than ``min_k`` studies, NaN or
    infinite values, negative ``vi`` and, with ``positive`` (the default), ``vi = 0``. Each
    message names the problem and the first positions where it occurs.
    """
    y = as_1d(yi, "yi")
    v = as_1d(vi, "vi")
    if y.shape != v.shape:
        raise ArgumentError(f"yi and vi must have the same length, got {y.size} and {v.size}")
    if y.size == 0:
        raise ArgumentError(f"yi is empty: need at least {max(min_k, 1)} studies")
    if y.size < min_k:
        raise ArgumentError(f"yi must hold at least {min_k} studies, got {y.size}")
    for name, a in (("yi", y), ("vi", v)):
        if np.any(np.isnan(a)):
            raise ArgumentError(f"{name} contains NaN at position(s) {positions(np.isnan(a))}; "
                                "drop those studies first")
        if np.any(np.isinf(a)):
            raise ArgumentError(f"{name} contains infinite values at position(s) "
                                f"{positions(np.isinf(a))}")
    bad = (v <= 0) if positive else (v < 0)
    if np.any(bad):
        need = "> 0" if positive else ">= 0"
        raise ArgumentError(f"vi must be {need} (sampling variances); got {v[bad][0]!r} at "
                            f"position(s) {positions(bad)}")
    return y, v
