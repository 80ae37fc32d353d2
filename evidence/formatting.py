"""Numbers as text, in one place: every table, figure label and printout formats through here.

A leaf module (imports nothing from the package). Styles differ only by output: ``"report"``
uses the typographic minus and an em dash for a missing value; ``"plain"`` (figures, the
console, metafor-style printouts) uses ASCII and ``NA``.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["number", "pvalue", "p_text", "count", "is_missing"]

_MISSING = {"report": "—", "plain": "NA"}


def is_missing(x: Any) -> bool:
    """None, NaN, pandas NA or a value that is not a number."""
    if x is None:
        return True
    try:
        return math.isnan(float(x))
    except (TypeError, ValueError):
        return True


def number(x: Any, digits: int = 2, style: str = "report") -> str:
    """A number with fixed decimals.

    >>> number(-1.1449), number(None), number(float("inf")), number(0.5, 3, "plain")
    ('−1.14', '—', '∞', '0.500')
    """
    if x is None:
        return _MISSING[style]
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(v):
        return _MISSING[style]
    if math.isinf(v):
        if style == "plain":
            return "Inf" if v > 0 else "-Inf"
        return "∞" if v > 0 else "−∞"
    text = f"{v:.{digits}f}"
    if text.startswith("-") and float(text) == 0:
        text = text[1:]  # no "−0.00"
    return text.replace("-", "−") if style == "report" else text


def pvalue(p: Any, style: str = "report") -> str:
    """A p-value: three decimals, ``<0.001`` below that (one style in every output).

    >>> pvalue(0.01234), pvalue(2e-9), pvalue(None)
    ('0.012', '<0.001', '—')
    """
    if is_missing(p):
        return _MISSING[style]
    v = float(p)
    return "<0.001" if v < 0.001 else f"{v:.3f}"


def p_text(p: Any, style: str = "report") -> str:
    """A p-value in running text: ``p = 0.012`` or ``p < 0.001``, spaces either side of the
    sign in every output (a table cell under a "p" header holds :func:`pvalue` alone).

    >>> p_text(0.01234), p_text(2e-9), p_text(None), p_text(None, "plain")
    ('p = 0.012', 'p < 0.001', 'p = —', 'p = NA')
    """
    if is_missing(p):
        return f"p = {_MISSING[style]}"
    v = float(p)
    return "p < 0.001" if v < 0.001 else f"p = {v:.3f}"


def count(x: Any, style: str = "report") -> str:
    """A count (or a reported number) without invented precision: 12, 12.5."""
    if is_missing(x):
        return _MISSING[style]
    v = float(x)
    return f"{int(v)}" if v == int(v) else f"{v:g}"
