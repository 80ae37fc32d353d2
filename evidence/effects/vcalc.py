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

    Notes
    -----
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


def _correlation(x, name: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float, np.floating, np.integer)):
        raise ArgumentError(f"{name} must be a number in [-1, 1], got {x!r}")
    x = float(x)
    if not -1.0 <= x <= 1.0:
        raise ArgumentError(f"{name} must lie in [-1, 1], got {x!r}")
    return x


def _pairs(cl: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every ordered pair (i, j) of effects in one cluster (i == j included), vectorised."""
    order = np.argsort(cl, kind="stable")
    _, sizes = np.unique(cl[order], return_counts=True)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    sq = sizes * sizes
    cid = np.repeat(np.arange(sizes.size), sq)
    q = np.arange(sq.sum()) - np.repeat(np.concatenate(([0], np.cumsum(sq)[:-1])), sq)
    m = sizes[cid]
    return order[starts[cid] + q // m], order[starts[cid] + q % m]


def vcalc(vi, cluster, obs=None, *, rho: float | tuple[float, float] | None = None,
          type=None, subgroup=None, time1=None, time2=None, grp1=None, grp2=None,
          w1=None, w2=None, phi: float | None = None, data=None) -> SamplingCovariance:
    """Sampling covariance matrix of effects that share a cluster, with an assumed correlation.

    Parameters
    ----------
    vi : array_like or str
        Sampling variances (or the name of a column of ``data``).
    cluster : array_like or str
        The cluster (study) of each effect; effects of different clusters are independent.
    obs : array_like or str, optional
        Which outcome / observation of one construct each effect is. Two effects of one
        cluster and construct with different ``obs`` correlate by ``rho``; with the same
        ``obs`` they are the same outcome and correlate by 1 (as metafor). Without ``obs``
        (and without ``type``, ``time1`` and ``grp1``) every effect is a different
        observation, correlated by ``rho``; with one of them given, effects of one type
        differ only by their time or conditions (metafor's default of one observation).
    rho : float, or (within, between) pair
        The assumed correlation, in [-1, 1]: between observations (``obs``) or between
        construct types (``type``); with both, a pair (within-construct, between-construct).
        An assumption, never a default: required whenever ``obs`` or ``type`` is given, and
        in the simple case.
    type : array_like or str, optional
        The construct type of each effect (e.g. depression, anxiety).
    subgroup : array_like or str, optional
        Independent subgroups within a cluster (no shared participants).
    time1, time2 : array_like or str, optional
        Numeric time of each effect's (first, second) condition; effects ``d`` time units
        apart correlate by ``phi ** d`` (an autocorrelation, required with ``time1``).
    grp1, grp2, w1, w2 : array_like or str, optional
        For contrasts sharing a condition (e.g. two treatments against one control): the
        group of each effect's first and second condition and their sizes (or
        inverse-variance weights); default sizes are equal, which makes two contrasts with a
        shared control correlate by 0.5.
    phi : float, optional
        The assumed autocorrelation per unit of ``time1``, in [-1, 1].
    data : pandas.DataFrame, optional
        Frame that column names refer to.

    Returns
    -------
    SamplingCovariance
        ``V`` with ``V[i, i] = vi[i]`` and ``V[i, j] = r_ij sqrt(vi[i] vi[j])`` within a
        cluster; ``rho`` (and ``phi`` in the note) recorded.

    Notes
    -----
    As metafor's ``vcalc``: within a cluster (and subgroup),
    ``r_ij = a_ij * c_ij`` where ``a_ij`` is 1 for the same type and observation, ``rho``
    (within) for the same type and another observation, and ``rho`` (between) for another
    type; ``c_ij`` is the correlation of two contrasts
    ``(g1_i - g2_i)`` and ``(g1_j - g2_j)`` of condition means whose variances are
    ``1/w`` and whose correlations are ``phi ** |t - t'|`` for the same group and 0 for
    different groups; with no contrasts given, ``c_ij = phi ** |time1_i - time1_j|`` (1
    without times). 0 across clusters: the 'correlated effects' working model of Hedges,
    Tipton & Johnson (2010) and Pustejovsky & Tipton (2022). One departure: without
    ``obs``, ``type``, ``time1`` and ``grp1`` every effect is a distinct observation (metafor would
    treat them as one observation, correlation 1). A matrix built this way need not be
    positive definite (two effects of one observation give a singular block);
    :func:`evidence.meta_mv` then says so. Correlation matrices per pair of ``obs`` or
    ``type`` values and the ``rvars`` form are not supported.

    References
    ----------
    Pustejovsky JE, Tipton E (2022). Meta-analysis with robust variance estimation: expanding
    the range of working models. Prev Sci 23:425-438. doi:10.1007/s11121-021-01246-3
    Gleser LJ, Olkin I (2009). Stochastically dependent effect sizes. In: The Handbook of
    Research Synthesis and Meta-Analysis, 2nd ed., 357-376 (shared-control contrasts).

    Examples
    --------
    >>> V = vcalc([0.1, 0.2, 0.3], cluster=[1, 1, 2], rho=0.5)
    >>> np.round(np.asarray(V), 4).tolist()
    [[0.1, 0.0707, 0.0], [0.0707, 0.2, 0.0], [0.0, 0.0, 0.3]]
    >>> V.rho
    0.5
    >>> W = vcalc([0.1, 0.1, 0.1], cluster=[1, 1, 1], time1=[0, 1, 3], phi=0.8)
    >>> np.round(np.asarray(W)[0], 4).tolist()
    [0.1, 0.08, 0.0512]
    """
    v = np.asarray(_column(vi, data, "vi"), dtype=float)
    k = v.size
    if k == 0:
        raise ArgumentError("vi is empty")
    if not np.all(np.isfinite(v)) or np.any(v < 0):
        raise ArgumentError("vi must be finite and >= 0")

    def codes(x, name):
        return None if x is None else pd.factorize(pd.Series(_column(x, data, name, k)))[0]

    def numbers(x, name):
        if x is None:
            return None
        arr = _column(x, data, name, k)
        try:
            return np.asarray(arr, dtype=float)
        except (TypeError, ValueError):
            raise ArgumentError(f"{name} must be numeric") from None

    cl = codes(cluster, "cluster")
    if subgroup is not None:
        cl = pd.factorize(pd.Series(list(zip(cl, codes(subgroup, "subgroup")))))[0]
    ob, ty = codes(obs, "obs"), codes(type, "type")
    t1, t2 = numbers(time1, "time1"), numbers(time2, "time2")
    g1 = g2 = None
    if grp1 is not None:  # one coding for both, so that equal labels are the same group
        a1 = _column(grp1, data, "grp1", k)
        a2 = None if grp2 is None else _column(grp2, data, "grp2", k)
        both = pd.factorize(pd.Series(np.concatenate([a1, a1 if a2 is None else a2])))[0]
        g1, g2 = both[:k], (None if a2 is None else both[k:])
    elif grp2 is not None:
        g2 = codes(grp2, "grp2")
    if g2 is not None and g1 is None:
        raise ArgumentError("give grp1 with grp2 (or grp1 alone, or neither)")
    if t2 is not None and t1 is None:
        raise ArgumentError("give time1 with time2 (or time1 alone, or neither)")
    if t2 is not None and g2 is None:
        raise ArgumentError("time2 needs grp2")
    if t1 is not None:
        if phi is None:
            raise ArgumentError("time1 needs phi, the assumed autocorrelation per time unit")
        phi = _correlation(phi, "phi")
    elif phi is not None:
        raise ArgumentError("phi is the autocorrelation across time1: give time1 with it")
    simple = ob is None and ty is None and t1 is None and g1 is None
    if ob is not None and ty is not None:
        if not (isinstance(rho, (tuple, list)) and len(rho) == 2):
            raise ArgumentError("with obs and type, rho is a pair: (within-construct, "
                                "between-construct) correlation")
        r_within, r_between = (_correlation(x, "rho") for x in rho)
    elif ob is not None or ty is not None or simple:
        if rho is None:
            raise ArgumentError("rho is required: the assumed correlation is an assumption, "
                                "never a default")
        r = _correlation(rho, "rho")
        r_within, r_between = (r, 0.0) if ty is None else (0.0, r)
    else:
        if rho is not None:
            raise ArgumentError("rho applies to obs or type; give them, or leave rho out")
        r_within = r_between = 0.0
    if simple:
        ob = np.arange(k)
    ob = np.zeros(k, int) if ob is None else ob
    ty = np.zeros(k, int) if ty is None else ty
    r, c = _pairs(cl)
    a = np.where(ty[r] == ty[c], np.where(ob[r] == ob[c], 1.0, r_within), r_between)
    if g1 is None and t1 is None:
        corr = a
    else:
        g1 = np.zeros(k, int) if g1 is None else g1
        g2 = np.full(k, -1) if g2 is None else g2  # a second condition no effect shares
        t1 = np.zeros(k) if t1 is None else t1
        t2 = t1 if t2 is None else t2
        u1 = np.ones(k) if w1 is None else 1.0 / numbers(w1, "w1")
        u2 = np.ones(k) if w2 is None else 1.0 / numbers(w2, "w2")
        ph = 1.0 if phi is None else phi

        def cc(ga, gb, ta, tb):  # correlation of two condition means
            return np.where(ga == gb, np.power(ph, np.abs(ta - tb)), 0.0)

        num = (cc(g1[r], g1[c], t1[r], t1[c]) * np.sqrt(u1[r] * u1[c])
               - cc(g1[r], g2[c], t1[r], t2[c]) * np.sqrt(u1[r] * u2[c])
               - cc(g2[r], g1[c], t2[r], t1[c]) * np.sqrt(u2[r] * u1[c])
               + cc(g2[r], g2[c], t2[r], t2[c]) * np.sqrt(u2[r] * u2[c]))

        def sd_contrast(i):
            return np.sqrt(u1[i] + u2[i] - 2 * cc(g1[i], g2[i], t1[i], t2[i])
                           * np.sqrt(u1[i] * u2[i]))

        corr = a * num / (sd_contrast(r) * sd_contrast(c))
        corr = np.where(r == c, 1.0, corr)
    sd = np.sqrt(v)
    vals = corr * sd[r] * sd[c]
    keep = (vals != 0.0) | (r == c)
    parts = []  # never empty: without obs, type, time1 and grp1 the simple case applies
    if obs is not None:
        parts.append(f"rho = {r_within:g} between observations of one construct")
    if type is not None:
        parts.append(f"rho = {r_between:g} between construct types")
    if simple:
        parts.append(f"rho = {r_within:g} between different effects of one cluster")
    if time1 is not None:
        parts.append(f"autocorrelation phi = {phi:g} per time unit")
    if grp1 is not None:
        parts.append("shared conditions of contrasts" + (" (group sizes given)"
                                                         if w1 is not None else ""))
    note = "sampling covariances from " + "; ".join(parts)
    if obs is not None and type is not None:
        rho_rec = (r_within, r_between)
    elif type is not None:
        rho_rec = r_between
    elif obs is not None or simple:
        rho_rec = r_within
    else:
        rho_rec = None  # only times or shared conditions: no correlation was assumed
    return SamplingCovariance(k=k, rows=r[keep], cols=c[keep], values=vals[keep],
                              rho=rho_rec, note=note)
