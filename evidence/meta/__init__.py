"""Pooling engine: fixed- and random-effects meta-analysis, one or many at once.

``meta`` fits one meta-analysis (R metafor's ``rma.uni`` for the intercept-only model);
``meta_batch`` fits one per group of a DataFrame, vectorised over the groups, with the same
numbers. Results are frozen :class:`MetaResult` objects.
"""

from .estimators import FIXED_METHODS, METHODS
from .fit import DEFAULT_CONTROL, TESTS, meta, meta_batch
from .multilevel import MV_METHODS, MV_TESTS, MetaMVResult, meta_mv, rho_sensitivity
from .results import SCALAR_FIELDS, MetaResult
from .robust import RobustResult, robust

__all__ = [
    "meta",
    "meta_batch",
    "MetaResult",
    "METHODS",
    "FIXED_METHODS",
    "TESTS",
    "SCALAR_FIELDS",
    "DEFAULT_CONTROL",
    "meta_mv",
    "MetaMVResult",
    "MV_METHODS",
    "MV_TESTS",
    "rho_sensitivity",
    "robust",
    "RobustResult",
]
