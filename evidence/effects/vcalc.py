"""Sampling covariance of dependent effect sizes (metafor's ``vcalc``, the simple case).

Several effect sizes from one study (one *cluster*) share participants, so their sampling
errors are correlated. When the correlation is not reported, the 'correlated and hierarchical
effects' model (Pustejovsky & Tipton 2022) assumes one correlation ``rho`` for every pair of
different effects within a cluster. The assumption is an explicit argument, recorded in the
returned :class:`SamplingCovariance`, and varied by
:func:`evidence.meta.multilevel.rho_sensitivity`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from evidence.errors import ArgumentError

from ._frozen import FrozenResult, readonly

__all__ = ["SamplingCovariance", "vcalc"]


@dataclass(frozen=True, slots=True, eq=False)
class SamplingCovariance(FrozenResult):
    """A known sampling covariance matrix ``V``, stored sparsely, with the assumption behind it.

    Attributes
    ----------
    k : int
        Number of effect sizes (``V`` is k x k).
    rows, cols, values : numpy.ndarray
        The non-zero entries of ``V`` (coordinate form, both triangles), read-only.
    rho : float or None
        The assumed within-cluster correlation (None when ``V`` did not come from an
        assumption).
    note : str
        How ``V`` was built, for the methods text.

    ``numpy.asarray(V)`` gives the dense matrix; :meth:`tocsr` a ``scipy.sparse`` matrix
    (what :func:`evidence.meta_mv` reads, so large ``k`` stays cheap).
    """

    k: int
    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    rho: float | None
    note: str

    def __post_init__(self):
        object.__setattr__(self, "rows", readonly(self.rows, np.int64))
        object.__setattr__(self, "cols", readonly(self.cols, np.int64))
        object.__setattr__(self, "values", readonly(self.values, float))

    def tocsr(self):
        """``V`` as a ``scipy.sparse.csr_matrix``."""
        from scipy import sparse

        return sparse.csr_matrix((self.values, (self.rows, self.cols)), shape=(self.k, self.k))

    def toarray(self) -> np.ndarray:
        """``V`` as a dense array."""
        out = np.zeros((self.k, self.k))
        out[self.rows, self.cols] = self.values
        return out

    def __array__(self, dtype=None, copy=None):
        out = self.toarray()
        return out if dtype is None else out.astype(dtype)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.k, self.k)

    def diagonal(self) -> np.ndarray:
        """The sampling variances."""
        d = np.zeros(self.k)
        on = self.rows == self.cols
        d[self.rows[on]] = self.values[on]
        return d


def _column(x, data, name: str, k: int | None = None):
    if isinstance(x, str):
        if data is None:
            raise ArgumentError(f"{name}={x!r} names a column, so data= is required")
        if x not in data:
            raise ArgumentError(f"{name}: column {x!r} is not in data (columns: "
                                f"{', '.join(map(str, data.columns))})")
        x = data[x]
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ArgumentError(f"{name} must be 1-D, got shape {arr.shape}")
    if k is not None and arr.shape[0] != k:
        raise ArgumentError(f"{name} has {arr.shape[0]} values but vi has {k}")
    if pd.isna(pd.Series(arr)).any():
        raise ArgumentError(f"{name} has missing values")
    return arr


def vcalc(vi, cluster, obs=None, *, rho: float, data=None) -> SamplingCovariance:
    """Sampling covariance matrix of effects that share a cluster, with an assumed correlation.

    Parameters
    ----------
    vi : array_like or str
        Sampling variances (or the name of a column of ``data``).
    cluster : array_like or str
        The cluster (study) of each effect; effects of different clusters are independent.
    obs : array_like or str, optional
        Which outcome / observation within the cluster each effect is. Two effects of one
        cluster with different ``obs`` correlate by ``rho``; with the same ``obs`` they are
        the same outcome and correlate by 1 (as metafor). Without ``obs`` every effect is a
        different observation.
    rho : float
        The assumed correlation, in [-1, 1]. Required: it is an assumption, never a default.
    data : pandas.DataFrame, optional
        Frame that column names refer to.

    Returns
    -------
    SamplingCovariance
        ``V`` with ``V[i, i] = vi[i]`` and ``V[i, j] = r_ij sqrt(vi[i] vi[j])`` within a
        cluster; ``rho`` recorded.

    Notes
    -----
    ``r_ij = rho`` for different observations, 1 for the same observation, 0 across clusters:
    the 'correlated effects' working model of Hedges, Tipton & Johnson (2010) and
    Pustejovsky & Tipton (2022), metafor's ``vcalc(vi, cluster, obs, rho)``. A matrix built
    this way need not be positive definite (two effects of one observation give a singular
    block); :func:`evidence.meta_mv` then says so.

    References
    ----------
    Pustejovsky JE, Tipton E (2022). Meta-analysis with robust variance estimation: expanding
    the range of working models. Prev Sci 23:425-438. doi:10.1007/s11121-021-01246-3

    Examples
    --------
    >>> V = vcalc([0.1, 0.2, 0.3], cluster=[1, 1, 2], rho=0.5)
    >>> np.round(np.asarray(V), 4).tolist()
    [[0.1, 0.0707, 0.0], [0.0707, 0.2, 0.0], [0.0, 0.0, 0.3]]
    >>> V.rho
    0.5
    """
    if isinstance(rho, bool) or not isinstance(rho, (int, float, np.floating, np.integer)):
        raise ArgumentError(f"rho must be a number in [-1, 1], got {rho!r}")
    rho = float(rho)
    if not -1.0 <= rho <= 1.0:
        raise ArgumentError(f"rho must lie in [-1, 1], got {rho!r}")
    v = np.asarray(_column(vi, data, "vi"), dtype=float)
    k = v.size
    if k == 0:
        raise ArgumentError("vi is empty")
    if not np.all(np.isfinite(v)) or np.any(v < 0):
        raise ArgumentError("vi must be finite and >= 0")
    cl = pd.factorize(pd.Series(_column(cluster, data, "cluster", k)))[0]
    ob = (np.arange(k) if obs is None
          else pd.factorize(pd.Series(_column(obs, data, "obs", k)))[0])
    order = np.argsort(cl, kind="stable")
    bounds = np.flatnonzero(np.diff(cl[order])) + 1
    rows, cols, vals = [], [], []
    sd = np.sqrt(v)
    for members in np.split(order, bounds):
        r = np.repeat(members, members.size)
        c = np.tile(members, members.size)
        corr = np.where(ob[r] == ob[c], 1.0, rho)
        rows.append(r)
        cols.append(c)
        vals.append(corr * sd[r] * sd[c])
    rows, cols, vals = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    keep = (vals != 0.0) | (rows == cols)
    note = (f"sampling covariances from an assumed correlation rho = {rho:g} between "
            "different effects of one cluster")
    return SamplingCovariance(k=k, rows=rows[keep], cols=cols[keep], values=vals[keep],
                              rho=rho, note=note)
