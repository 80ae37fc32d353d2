"""Effect sizes (metafor-style ``escalc``) and conversions of reported statistics."""

from evidence.effects.escalc import MEASURES, correlation_sensitivity, escalc, hedges_correction

__all__ = [
    "MEASURES",
    "escalc",
    "correlation_sensitivity",
    "hedges_correction",
]
