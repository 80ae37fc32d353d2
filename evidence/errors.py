"""The package's own exception and warning types, in one place."""

from __future__ import annotations

__all__ = [
    "EvidenceError",
    "RecordError",
    "TableError",
    "ArgumentError",
    "ConvergenceError",
    "ConvergenceWarning",
    "EvidenceWarning",
]


class EvidenceError(Exception):
    """Base class of every error raised by evidence."""


class RecordError(EvidenceError):
    """One or more study records are invalid.

    ``problems`` holds one message per problem, each naming the file, the record id and the
    field (``studies/willy-2012.yaml: willy-2012: outcomes[0].measurements[1].sd: must be > 0,
    got -1.2``). ``str(err)`` joins them, one per line.
    """

    def __init__(self, problems: list[str] | str):
        if isinstance(problems, str):
            problems = [problems]
        self.problems = list(problems)
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} in the study records:"
        super().__init__("\n".join([head, *("  " + p for p in self.problems)]))


class TableError(EvidenceError):
    """A flat table of effect sizes (``evidence pool FILE``) cannot be read or is invalid.

    ``problems`` holds one message per problem, each naming the file and, for a bad value,
    the data row (1-based, the header not counted) and the column
    (``data.csv: row 17, column vi: '0,2' is not a number``).
    """

    def __init__(self, problems: list[str] | str):
        if isinstance(problems, str):
            problems = [problems]
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class ArgumentError(EvidenceError, ValueError):
    """A bad argument to a numeric function (unknown method, mismatched lengths, ...)."""


class ConvergenceError(EvidenceError, RuntimeError):
    """An iterative estimator did not converge."""


class EvidenceWarning(UserWarning):
    """Base class of the package's warnings."""


class ConvergenceWarning(EvidenceWarning):
    """An iterative estimator stopped without meeting its convergence criterion."""
