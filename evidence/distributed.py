"""Pool many groups beyond one machine's memory: :func:`meta_batch` on a Dask DataFrame.

The numeric core (:mod:`evidence.meta`) stays pandas-only and does no I/O; this module sits
above it. A Dask frame is first arranged so that every group lies whole within one
partition (a hash shuffle on the group keys, skipped when the frame is already partitioned
that way), then :func:`evidence.meta.meta_batch` fits each partition, vectorised over the
groups in it. A group's numbers therefore come from the very same code on the very same
rows as in memory; only the grouping into partitions differs.

Dask is optional: ``pip install 'evidence[dask]'`` (``dask[dataframe]`` and
``distributed``). Nothing here imports it until a Dask frame is pooled.

Use it when the rows do not fit in memory or live on a cluster. Below that, the in-memory
:func:`evidence.meta.meta_batch` is faster: the shuffle moves every row once, and each
partition pays a fixed scheduling cost.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .errors import ArgumentError, ConvergenceWarning, EvidenceWarning
from .meta._validate import by_columns
from .meta.fit import meta_batch as _meta_batch_pandas
from .vocabulary import FIXED_METHODS

__all__ = ["meta_batch", "meta_batch_dask", "is_dask_frame"]

_EXTRA_HINT = "pip install 'evidence[dask]'  (dask[dataframe] and distributed)"


def _dask_dataframe():
    try:
        import dask.dataframe as dd
    except ImportError as exc:
        raise ImportError(f"pooling a Dask DataFrame needs Dask: {_EXTRA_HINT}") from exc
    return dd


def is_dask_frame(obj: Any) -> bool:
    """True for a Dask DataFrame (checked without importing Dask: no Dask frame can exist
    unless ``dask.dataframe`` was imported)."""
    dd = sys.modules.get("dask.dataframe")
    return dd is not None and isinstance(obj, dd.DataFrame)


def _key_text(part, by_cols: list[str], row: int) -> str:
    if not by_cols:
        return "the single group"
    return "group " + ", ".join(f"{c}={part[c].iloc[row]!r}" for c in by_cols)


# Two columns that carry each row's place in the input (partition number, row within it)
# through the shuffle, so that each group's rows are fitted in their input order.
_PART, _ROW = "__evidence_partition__", "__evidence_row__"


def _tag_rows(part, partition_info=None):
    part = part.copy()
    part[_PART] = np.int64(partition_info["number"] if partition_info else 0)
    part[_ROW] = np.arange(len(part), dtype=np.int64)
    return part


def _fit_partition(part, yi: str, vi: str, by_cols: list[str], method: str, test: str,
                   level: float, control: Mapping | None):
    """meta_batch on one partition (every group of which is whole); warnings are raised
    again on the client from the result (a worker's warnings would be lost)."""
    import pandas as pd

    if _PART in part.columns:
        # back to input order: a group's sums then add the same numbers in the same order
        # as in memory, and give the same bits
        order = np.lexsort((part[_ROW].to_numpy(), part[_PART].to_numpy()))
        part = part.iloc[order].drop(columns=[_PART, _ROW])

    y = pd.to_numeric(part[yi], errors="coerce").to_numpy(dtype=float)
    v = pd.to_numeric(part[vi], errors="coerce").to_numpy(dtype=float)
    used = ~(np.isnan(y) | np.isnan(v))
    # the core would name partition-local row positions, which mean nothing after a
    # shuffle; name the group and the value instead
    for name, col, a, bad in (("yi", yi, y, used & np.isinf(y)),
                              ("vi", vi, v, used & np.isinf(v)),
                              ("vi", vi, v, used & ~np.isinf(v) & (v <= 0))):
        if np.any(bad):
            first = int(np.flatnonzero(bad)[0])
            more = int(bad.sum()) - 1
            what = ("is infinite" if np.isinf(a[first]) else
                    "must be > 0 (sampling variances)")
            raise ArgumentError(
                f"{name} column {col!r} {what}: {float(a[first])!r} in {_key_text(part, by_cols, first)}"
                + (f" (and {more} more row{'s' if more != 1 else ''} in the same partition)"
                   if more else "")
            )
    # warn=False rather than catch_warnings(), which is not thread-safe: Dask's threads fit
    # partitions at once, and one leaving it would restore filters another one had changed
    return _meta_batch_pandas(part, yi=yi, vi=vi, by=by_cols or None, method=method,
                              test=test, level=level, control=control, warn=False)


def _outside() -> int:
    """The ``stacklevel`` that names the first caller outside this module (the user's line,
    whether they called meta_batch_dask or meta_batch)."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame, level = frame.f_back, level + 1
    return level


def _rewarn(result, method: str, test: str) -> None:
    """The warnings :func:`evidence.meta.meta_batch` gives, derived from the pooled result."""
    k = result["k"].to_numpy()
    if test == "knha" and method in FIXED_METHODS and np.any(k >= 2):
        warnings.warn(f"the Knapp-Hartung test is not meant for {method} models (metafor "
                      "warns too)", EvidenceWarning, stacklevel=_outside())
    n1 = int(np.sum(k == 1))
    if test == "knha" and n1:
        warnings.warn(f"test='knha' needs k >= 2; using test='z' for the {n1} group(s) with "
                      "k = 1", EvidenceWarning, stacklevel=_outside())
    nbad = int(np.sum(~result["converged"].to_numpy(dtype=bool)))
    if nbad:
        warnings.warn(
            f"the {method} estimator of tau^2 did not converge in some groups "
            f"({nbad} fit{'s' if nbad != 1 else ''}); results set to NaN. "
            "Try control={'stepadj': 0.5}, a larger control['maxiter'], or another method.",
            ConvergenceWarning, stacklevel=_outside(),
        )


def meta_batch_dask(ddf, yi: str = "yi", vi: str = "vi",
                    by: str | Sequence[str] | None = None, method: str = "REML",
                    test: str = "z", level: float = 0.95, control: Mapping | None = None,
                    *, compute: bool = True, partitioned: bool = False,
                    shuffle_method: str | None = None):
    """Fit one meta-analysis per group of a Dask DataFrame, partition by partition.

    Parameters
    ----------
    ddf : dask.dataframe.DataFrame
        One row per study. A group key may also be the frame's index.
    yi, vi, by, method, test, level, control
        As in :func:`evidence.meta.meta_batch`.
    compute : bool
        True (default): compute and return a pandas DataFrame, rows sorted by the group keys
        exactly as :func:`evidence.meta.meta_batch` sorts them, with a RangeIndex; the
        warnings of ``meta_batch`` (k = 1 under knha, non-convergence) are raised here.
        False: return the lazy Dask DataFrame, one row per group, each partition sorted by
        the keys (not the partitions among themselves), no warnings (read the ``test`` and
        ``converged`` columns).
    partitioned : bool
        The caller guarantees that every group already lies whole within one partition (for
        example a Parquet dataset written partitioned by the keys): no shuffle. Wrong if it
        is not so: a group split over partitions would be fitted as several groups.
    shuffle_method : str, optional
        Passed to ``DataFrame.shuffle`` (``"tasks"``, ``"p2p"``, ``"disk"``); None lets Dask
        choose.

    Returns
    -------
    pandas.DataFrame or dask.dataframe.DataFrame
        The columns of :func:`evidence.meta.meta_batch`, with the same dtypes as
        ``meta_batch`` gives for the Dask frame's own columns: key columns keep the Dask
        frame's dtypes (Dask stores text as its ``string`` dtype by default, where pandas
        has ``str``/``object``), so compare with ``meta_batch(ddf.compute(), ...)``.

    Raises
    ------
    ArgumentError
        Not a Dask DataFrame; unknown column, method, test or level (checked before anything
        is computed); infinite yi or vi, or vi <= 0, in a row that would be used (raised when
        computed, naming the group and the value).
    ImportError
        Dask is not installed (``pip install 'evidence[dask]'``).

    Notes
    -----
    The shuffle is skipped when every group is already whole within a partition: with no
    ``by`` (the frame is gathered into one partition), with one partition, with
    ``partitioned=True``, or when the single key is the index and the divisions are known
    (``set_index(key)``). Otherwise ``ddf.shuffle(on=by)`` hashes the keys, so that all rows
    of a group meet in one output partition. Only the key, yi and vi columns travel.

    Each group is fitted by :func:`evidence.meta.meta_batch` on exactly its own rows, so the
    numbers equal the in-memory result on the same frame; the iterative estimators stop
    per group, so neither the partition a group lands in nor its neighbours change it.

    Examples
    --------
    >>> import pandas as pd, dask.dataframe as dd
    >>> d = pd.DataFrame({"g": ["a"] * 3 + ["b"] * 3, "yi": [0.1, 0.3, 0.5, 1.0, 0.8, 1.4],
    ...                   "vi": [0.02, 0.03, 0.04, 0.05, 0.02, 0.06]})
    >>> meta_batch_dask(dd.from_pandas(d, npartitions=2), by="g", method="DL")[
    ...     ["g", "k", "estimate"]].round(4)
       g  k  estimate
    0  a  3    0.2669
    1  b  3    1.0237
    """
    dd = _dask_dataframe()
    if not isinstance(ddf, dd.DataFrame):
        raise ArgumentError(f"ddf must be a Dask DataFrame, got {type(ddf).__name__}; "
                            "for a pandas DataFrame use evidence.meta_batch")
    by_cols = by_columns(by)
    if len(set(by_cols)) != len(by_cols):
        raise ArgumentError(f"by names a column twice: {by_cols}")

    on_index = False
    index_name = ddf.index.name
    if index_name is not None and index_name in by_cols and index_name not in ddf.columns:
        on_index = len(by_cols) == 1 and ddf.known_divisions
        ddf = ddf.reset_index()
    missing = [c for c in [yi, vi, *by_cols] if c not in ddf.columns]
    if missing:
        # the same message as in memory, from the same check, before any computation
        _meta_batch_pandas(ddf._meta, yi=yi, vi=vi, by=by_cols or None, method=method,
                           test=test, level=level, control=control)
    ddf = ddf[list(dict.fromkeys([*by_cols, yi, vi]))]
    # the output frame's columns and dtypes: meta_batch on the empty frame (this checks
    # method, test, level and control too); 'test' takes the dtype a non-empty fit gives it
    # (with no groups, an empty frame is an error: Dask's fake non-empty rows stand in)
    meta = _meta_batch_pandas(ddf._meta if by_cols else ddf._meta_nonempty, yi=yi, vi=vi,
                              by=by_cols or None, method=method, test=test, level=level,
                              control=control, warn=False)
    if not by_cols:
        meta = meta.iloc[:0]
    meta["test"] = meta["test"].astype(meta["method"].dtype)
    method, test = method.upper(), test.lower()  # valid: checked by the call above

    if not by_cols:
        if ddf.npartitions > 1:
            ddf = ddf.repartition(npartitions=1)
    elif not (partitioned or on_index or ddf.npartitions == 1):
        tagged = ddf._meta.assign(**{_PART: np.int64(0), _ROW: np.int64(0)})
        ddf = ddf.map_partitions(_tag_rows, meta=tagged).shuffle(
            on=by_cols, shuffle_method=shuffle_method)

    result = ddf.map_partitions(_fit_partition, yi, vi, by_cols, method, test, level, control,
                                meta=meta, clear_divisions=True)
    if not compute:
        return result
    frame = result.compute()
    if by_cols and len(frame):
        order = frame.groupby(by_cols, sort=True, dropna=False, observed=True).ngroup()
        frame = frame.iloc[np.argsort(order.to_numpy(), kind="stable")]
    frame = frame.reset_index(drop=True)
    _rewarn(frame, method, test)
    return frame


def meta_batch(df, yi: str = "yi", vi: str = "vi", by: str | Sequence[str] | None = None,
               method: str = "REML", test: str = "z", level: float = 0.95,
               control: Mapping | None = None, **options):
    """:func:`evidence.meta.meta_batch` for a pandas DataFrame, :func:`meta_batch_dask`
    (computed, pandas result) for a Dask DataFrame: the one entry point for both
    (``evidence.meta_batch``). ``options`` (``columns``, ``max_memory``, ``progress``) are
    those of :func:`evidence.meta.meta_batch`; a Dask frame takes none of them (each
    partition is fitted whole, with every column).

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"g": ["a", "a", "b", "b"], "yi": [0.1, 0.3, 1.0, 0.8],
    ...                   "vi": [0.02, 0.03, 0.05, 0.02]})
    >>> meta_batch(d, by="g", method="DL")["k"].tolist()
    [2, 2]
    """
    if is_dask_frame(df):
        if options:
            raise ArgumentError(f"{', '.join(sorted(options))}: not taken with a Dask "
                                "DataFrame (use meta_batch_dask's own arguments)")
        return meta_batch_dask(df, yi=yi, vi=vi, by=by, method=method, test=test, level=level,
                               control=control)
    return _meta_batch_pandas(df, yi=yi, vi=vi, by=by, method=method, test=test, level=level,
                              control=control, **options)
