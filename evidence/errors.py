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
    "DegenerateFitWarning",
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


class DegenerateFitWarning(EvidenceWarning):
    """A fit is degenerate and some of its statistics are NaN or rest on less than usual.

    Raised for a meta-regression with as many coefficients as studies (no residual degrees
    of freedom: QE has 0 df and Knapp-Hartung tests are impossible), a regression whose
    residuals are all 0 (a perfect fit: the t statistic is 0/0), or a study with ``vi = 0``
    (QE, I^2 and H^2 weight by 1/vi). The message names the statistics affected and why;
    the NaN values in the result are those it names, never others.
    """
