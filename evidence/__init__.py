"""evidence: evidence synthesis and meta-analysis with study records that carry provenance.

The public API (a contract, see DESIGN.md) is re-exported here.
"""

from .errors import (
    ArgumentError,
    ConvergenceError,
    ConvergenceWarning,
    EvidenceError,
    EvidenceWarning,
    RecordError,
)
from .records import LoadedReview, load_review

__version__ = "0.1.0"

__all__ = [
    "ArgumentError",
    "ConvergenceError",
    "ConvergenceWarning",
    "EvidenceError",
    "EvidenceWarning",
    "RecordError",
    "LoadedReview",
    "load_review",
    "__version__",
]
