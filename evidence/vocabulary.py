"""The names the package understands, in one place: measures, τ² estimators, tests,
display transforms and confidence levels.

A leaf module: it imports nothing from the package but its error types, so that the record loader can validate
names in ``review.yaml`` against the same vocabulary the engine uses without importing the
engine, and the engine can take its registries' keys from here. A test checks that every
registry (escalc's measures, the τ² estimators, the transforms) has exactly these keys.
"""

from __future__ import annotations

import math
from numbers import Real

from .errors import ArgumentError

__all__ = [
    "MEASURES", "TWO_BY_TWO_MEASURES", "CONTINUOUS_TWO_ARM_MEASURES", "PRE_POST_MEASURES",
    "CORRELATION_MEASURES", "RATIO_MEASURES", "METHODS", "FIXED_METHODS", "TABLE_METHODS",
    "TESTS",
    "TRANSFORMS", "parse_level", "level_percent",
]

#: Effect-size measures of :func:`evidence.escalc` (metafor's names).
TWO_BY_TWO_MEASURES = ("OR", "RR", "RD")
CONTINUOUS_TWO_ARM_MEASURES = ("MD", "SMD", "SMDH", "ROM")
CORRELATION_MEASURES = ("COR", "ZCOR")
PRE_POST_MEASURES = ("MC", "SMCC", "SMCR")
MEASURES = (CONTINUOUS_TWO_ARM_MEASURES[:3] + ("ROM",) + TWO_BY_TWO_MEASURES
            + CORRELATION_MEASURES + PRE_POST_MEASURES)
#: Measures computed on the log scale (shown back-transformed with ``exp``).
RATIO_MEASURES = ("OR", "RR", "ROM")

#: τ² estimators (metafor's ``method`` names); ``FE``/``EE`` fix τ² at 0.
METHODS = ("FE", "EE", "DL", "REML", "ML", "PM", "HE", "SJ", "HS", "EB")
FIXED_METHODS = ("FE", "EE")

#: Methods that pool 2x2 tables directly (Cochran's methods, RevMan's defaults for dichotomous
#: outcomes), with the measures each allows: Mantel-Haenszel (``rma.mh``) and Peto's one-step
#: odds ratio (``rma.peto``). Fixed-effect, with z tests.
TABLE_METHODS = {"MH": ("OR", "RR", "RD"), "Peto": ("OR",)}

#: Tests of the pooled estimate: normal (``z``) or Hartung-Knapp-Sidik-Jonkman (``knha``).
TESTS = ("z", "knha")

#: Display back-transformations: as is, log ratio -> ratio, Fisher z -> r, logit -> proportion.
TRANSFORMS = ("identity", "exp", "tanh", "expit")


def parse_level(level: object) -> float:
    """A confidence level as a fraction in (0, 1).

    Accepts a fraction (``0.95``) or a percentage (``95``), as metafor's ``level`` does.

    >>> parse_level(95), parse_level(0.9)
    (0.95, 0.9)
    """
    if isinstance(level, bool) or not isinstance(level, Real):
        raise ArgumentError(f"level {level!r} must be a number such as 0.95 or 95")
    v = float(level)
    # 1 is refused: it could mean 100% or 1%
    if not math.isfinite(v) or v <= 0 or v >= 100 or v == 1:
        raise ArgumentError(f"level {level!r} must lie in (0, 1) such as 0.95, or in (1, 100) "
                            "such as 95")
    return v / 100.0 if v > 1 else v


def level_percent(level: object) -> str:
    """A confidence level as text for a label: ``0.95`` -> ``"95%"``."""
    return f"{parse_level(level) * 100:g}%"
