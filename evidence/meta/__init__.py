"""Pooling engine: fixed- and random-effects meta-analysis, one or many at once.

``meta`` fits one meta-analysis (R metafor's ``rma.uni`` for the intercept-only model);
``meta_batch`` fits one per group of a DataFrame, vectorised over the groups, with the same
numbers. Results are frozen :class:`MetaResult` objects. ``meta_mh`` and ``meta_peto`` pool
2x2 tables by the Mantel-Haenszel and Peto methods (metafor's ``rma.mh``, ``rma.peto``).
"""

import sys
import types

from .estimators import FIXED_METHODS, METHODS
from .fit import DEFAULT_CONTROL, TESTS, meta, meta_batch
from .mh import MHResult, PetoResult, meta_mh, meta_peto
from .multilevel import MV_METHODS, MV_TESTS, MetaMVResult, meta_mv, rho_sensitivity
from .results import SCALAR_FIELDS, MetaResult
from .robust import RobustResult, robust

__all__ = [
    "meta",
    "meta_batch",
    "meta_mh",
    "meta_peto",
    "MetaResult",
    "MHResult",
    "PetoResult",
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


class _CallablePackage(types.ModuleType):
    """Importing this subpackage binds it to the name ``meta`` in :mod:`evidence`, where the
    public API's ``ev.meta`` is the function :func:`evidence.meta.fit.meta`. Whenever the
    package takes the name, calling it still fits a meta-analysis (``ev.meta(yi, vi)``
    then works whatever was imported first)."""

    def __call__(self, *args, **kwargs):
        return meta(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
