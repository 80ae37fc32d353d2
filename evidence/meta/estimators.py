"""Heterogeneity (tau^2) estimators of the random-effects model: one engine over a design.

Every estimator is written once, against a *design*: the model matrix X of the
(mixed-effects) model ``y = X beta + u + e``, ``u ~ N(0, tau^2 I)``, ``e ~ N(0, V)``. Two
designs implement the same few operations (a weighted least-squares fit, the traces of the
projection matrix ``P = W - W X (X'WX)^-1 X'W``, group sums):

* :class:`InterceptDesign`: the intercept-only model (X = 1) for many meta-analyses at
  once. The studies of all groups lie in one flat array, sorted by group, and a
  :class:`Groups` object knows where each group starts; group sums are ``np.add.reduceat``
  over those segments, so nothing of size k x k is formed. :func:`evidence.meta.meta` is one
  group, :func:`evidence.meta.meta_batch` many; both run this code.
* :class:`MatrixDesign`: one meta-regression with a k x p model matrix (QR of
  ``W^(1/2) X``), used by :func:`evidence.meta.metareg`, so that an estimator can never mean
  one thing in ``meta`` and another in ``metareg``.

With ``w_i = 1 / (v_i + tau^2)``, residuals ``r = y - X b`` of the weighted fit and
``h_i`` the diagonal of the hat matrix of ``W^(1/2) X``:

* ``y' P y = sum(w_i r_i^2)`` (the generalised Q statistic), ``y' P P y = sum(w_i^2 r_i^2)``;
* ``tr(P D) = sum(w_i d_i (1 - h_i))`` for a diagonal D;
* ``tr(P D P E) = sum(w_i^2 d_i e_i (1 - 2 h_i)) + tr(Q' A Q Q' B Q)``,
  ``A = diag(w d)``, ``B = diag(w e)``, Q the orthonormal factor of ``W^(1/2) X``.

For X = 1 these are the group sums ``S_m = sum(w_i^m)``: ``tr(P) = S_1 - S_2 / S_1`` and
``tr(P P) = S_2 - 2 S_3 / S_1 + (S_2 / S_1)^2``.

Estimators (the registry :data:`ESTIMATORS`, keys :data:`evidence.vocabulary.METHODS`):
FE/EE (tau^2 = 0), DL (DerSimonian & Laird 1986), HE (Hedges & Olkin 1985), HS (Hunter &
Schmidt 2004), SJ (Sidik & Jonkman 2005), PM (Paule & Mandel 1982), EB (Morris 1983; Berkey
et al. 1995), ML and REML (Viechtbauer 2005; Fisher scoring with step halving, started at
the HE estimate truncated at 0, as metafor does). The Q-profile confidence interval for
tau^2 is Viechtbauer (2007).

References
----------
DerSimonian R, Laird N (1986). Meta-analysis in clinical trials. Control Clin Trials 7:177-188.
Hedges LV, Olkin I (1985). Statistical Methods for Meta-Analysis. Academic Press.
Hunter JE, Schmidt FL (2004). Methods of Meta-Analysis. 2nd ed. Sage.
Paule RC, Mandel J (1982). Consensus values and weighting factors. J Res Natl Bur Stand 87:377-385.
Morris CN (1983). Parametric empirical Bayes inference. J Am Stat Assoc 78:47-55.
Berkey CS, Hoaglin DC, Mosteller F, Colditz GA (1995). Stat Med 14:395-411.
Sidik K, Jonkman JN (2005). Simple heterogeneity variance estimation for meta-analysis.
J R Stat Soc C 54:367-384.
Viechtbauer W (2005). Bias and efficiency of meta-analytic variance estimators in the
random-effects model. J Educ Behav Stat 30:261-293. doi:10.3102/10769986030003261
Viechtbauer W (2007). Confidence intervals for the amount of heterogeneity in meta-analysis.
Stat Med 26:37-52. doi:10.1002/sim.2514
Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package.
J Stat Softw 36(3). doi:10.18637/jss.v036.i03
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import linalg, special

from evidence.effects._frozen import FrozenResult, readonly
from evidence.errors import ArgumentError, EvidenceWarning
from evidence.vocabulary import FIXED_METHODS, METHODS

__all__ = [
    "METHODS",
    "FIXED_METHODS",
    "ESTIMATORS",
    "DEFAULT_CONTROL",
    "Groups",
    "Block",
    "InterceptDesign",
    "MatrixDesign",
    "Tau2Fit",
    "estimate_tau2",
    "fit_tau2",
    "q_generalized",
    "qprofile_ci",
    "SAFE_LOG2",
    "scale_exponents",
    "solve_q_equal",
    "norm_sf", "norm_isf", "t_sf", "t_isf", "chi2_sf", "chi2_isf", "chi2_ppf",
]

#: Convergence settings (names as metafor's ``control``). ``threshold``: Fisher scoring
#: (ML/REML/EB) stops when |change in tau^2| <= threshold (metafor's default is 1e-5; the
#: tighter default returns the converged solution); ``maxiter``: its iteration limit;
#: ``ll0check`` / ``tol``: metafor's check that the ML/REML likelihood is not higher at
#: tau^2 = 0 (tolerance on the log likelihood difference); ``stepadj``: factor applied to
#: each Fisher-scoring step (0.5 cures the rare oscillating divergence with few studies,
#: which metafor reports as "Fisher scoring algorithm did not converge"); ``retry``: refit
#: groups that did not converge once more with half the step and ten times the iterations
#: (with a warning), instead of returning NaN for them.
DEFAULT_CONTROL = {
    "threshold": 1e-12,
    "maxiter": 1000,
    "ll0check": True,
    "tol": 2.0**-13,
    "stepadj": 1.0,
    "retry": True,
}

_EPS = np.finfo(float).eps
_FISHER = ("ML", "REML", "EB")


class Groups:
    """Segments of a flat, group-sorted array; every group non-empty.

    Parameters
    ----------
    counts : array of int, shape (G,)
        Number of rows of each group, in the order the rows are stored. All > 0.

    Examples
    --------
    >>> g = Groups(np.array([2, 3]))
    >>> g.sum(np.arange(5.0))
    array([1., 9.])
    """

    __slots__ = ("counts", "starts", "n_groups", "n_rows", "_codes")

    def __init__(self, counts: np.ndarray):
        counts = np.asarray(counts, dtype=np.int64)
        if counts.ndim != 1 or counts.size == 0 or counts.min() <= 0:
            raise ValueError("Groups needs a non-empty 1-D array of positive counts")
        self.counts = counts
        self.n_groups = counts.size
        self.n_rows = int(counts.sum())
        self.starts = np.zeros(counts.size, dtype=np.int64)
        if counts.size > 1:
            np.cumsum(counts[:-1], out=self.starts[1:])
        self._codes = None

    @classmethod
    def single(cls, n: int) -> "Groups":
        """One group of ``n > 0`` rows (what ``Groups(np.array([n]))`` gives, without the
        checks: one small fit costs ~40 µs, the checks ~2 µs of it)."""
        g = cls.__new__(cls)
        g.counts = np.array([n], dtype=np.int64)
        g.n_groups, g.n_rows = 1, int(n)
        g.starts = np.zeros(1, dtype=np.int64)
        g._codes = None
        return g

    @property
    def codes(self) -> np.ndarray:
        """Group index of every row."""
        if self._codes is None:
            self._codes = np.repeat(np.arange(self.n_groups), self.counts)
        return self._codes

    def sum(self, x: np.ndarray) -> np.ndarray:
        """Sum of ``x`` within each group."""
        return np.add.reduceat(x, self.starts)

    def expand(self, a: np.ndarray) -> np.ndarray:
        """Broadcast a per-group array to the rows, for elementwise arithmetic with them.

        With one group the length-1 array itself is returned (numpy broadcasts it): the
        same numbers without writing a row-length copy, which for one model with k = 10^6
        studies saves a pass over memory per use. Use :meth:`rows` for a row mask.
        """
        if self.n_groups == 1:
            return np.asarray(a)
        return np.repeat(a, self.counts)

    def rows(self, a: np.ndarray) -> np.ndarray:
        """A per-group array repeated to full row length (e.g. a boolean row mask)."""
        return np.repeat(a, self.counts)

    def subset(self, keep: np.ndarray) -> tuple["Groups", np.ndarray]:
        """Keep the groups where ``keep`` is True; return the new Groups and a row mask."""
        return Groups(self.counts[keep]), self.rows(keep)

    def min(self, x: np.ndarray) -> np.ndarray:
        """Minimum of ``x`` within each group."""
        return np.minimum.reduceat(x, self.starts)

    def max(self, x: np.ndarray) -> np.ndarray:
        """Maximum of ``x`` within each group."""
        return np.maximum.reduceat(x, self.starts)


#: ``np.add.reduceat`` sums a segment of n values as ``x_0 + s(x_1 .. x_{n-1})`` with
#: numpy's pairwise summation ``s`` (sequential below 8 values, eight accumulators up to
#: 128, halves beyond): :class:`Block` repeats exactly that order across columns
_PW_BLOCKSIZE = 128


def _pairwise(rows, i0: int, n: int):
    """numpy's pairwise sum of ``rows[i0:i0+n]`` (the rows of a 2-D array), same association.

    Each sequential run (fewer than 8 values; each of the eight accumulators) is one
    ``np.add.reduce`` over axis 0 of a row selection: numpy adds the rows of such a
    reduction one after the other, elementwise across the columns (the order of a
    sequential loop, checked against ``np.add.reduceat`` in tests/test_perf_paths.py), in
    one call instead of one Python-level addition per row (a sum of 8 rows at G = 1,000:
    3 µs instead of 7 µs; a tenth of a DL batch).
    """
    if n < 8:
        if n >= 2 and rows.dtype.kind == "f":
            # the same sequential order written out: one pass per row into one
            # accumulator, ~25% faster than np.add.reduce over axis 0 (8 x 8,192: 12 µs
            # instead of 17 µs), bit-identical
            acc = np.add(rows[i0], rows[i0 + 1])
            for i in range(i0 + 2, i0 + n):
                np.add(acc, rows[i], out=acc)
            return acc
        return np.add.reduce(rows[i0:i0 + n], axis=0)
    if n <= _PW_BLOCKSIZE:
        last = n - n % 8
        r = [np.add.reduce(rows[i0 + j:i0 + last:8], axis=0) for j in range(8)]
        res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        for i in range(last, n):
            res = res + rows[i0 + i]
        return res
    n2 = n // 2
    n2 -= n2 % 8
    return _pairwise(rows, i0, n2) + _pairwise(rows, i0 + n2, n - n2)


class Block:
    """G groups of the same size k, stored as the columns of (k, G) arrays.

    The same interface as :class:`Groups` (and the same numbers: :meth:`sum` adds in the
    order of ``np.add.reduceat``), but per-group values broadcast against the rows
    without being repeated, and every operation is a contiguous pass over G values: many
    small meta-analyses cost a few vectorised passes instead of G segment reductions.

    Examples
    --------
    >>> b = Block(3, 2)
    >>> b.sum(np.arange(6.0).reshape(3, 2))
    array([6., 9.])
    """

    __slots__ = ("k_rows", "counts", "n_groups", "n_rows")

    def __init__(self, k: int, n_groups: int):
        if k < 1 or n_groups < 1:
            raise ValueError("Block needs k >= 1 and at least one group")
        self.k_rows = int(k)
        self.n_groups = int(n_groups)
        self.counts = np.full(self.n_groups, self.k_rows, dtype=np.int64)
        self.n_rows = self.k_rows * self.n_groups

    def sum(self, x: np.ndarray) -> np.ndarray:
        if self.k_rows == 1:
            return x[0].copy()
        rest = _pairwise(x, 1, self.k_rows - 1)  # a fresh array
        if rest.dtype == x.dtype and x.dtype.kind == "f" and rest.shape == x.shape[1:]:
            return np.add(rest, x[0], out=rest)  # x_0 + rest, without a new array
        return x[0] + rest

    def expand(self, a: np.ndarray) -> np.ndarray:
        return np.asarray(a)  # (G,) broadcasts against (k, G)

    def rows(self, a: np.ndarray) -> np.ndarray:
        return np.broadcast_to(a, (self.k_rows, self.n_groups))

    def subset(self, keep: np.ndarray) -> tuple["Block", tuple]:
        """Keep the groups where ``keep`` is True; the selector indexes the (k, G) arrays."""
        keep = np.asarray(keep, dtype=bool)
        return Block(self.k_rows, int(np.count_nonzero(keep))), (slice(None), keep)

    def min(self, x: np.ndarray) -> np.ndarray:
        return np.min(x, axis=0)

    def max(self, x: np.ndarray) -> np.ndarray:
        return np.max(x, axis=0)


# ---------------------------------------------------------------------------------------
# distribution functions: the scipy.special functions behind scipy.stats' norm, t and chi2
# (the same numbers; a scipy.stats call costs ~30-80 µs of argument handling per call, most
# of the time of one small meta-analysis). Arguments here are always in the support.


def norm_sf(x):
    """Upper tail of N(0, 1), as ``scipy.stats.norm.sf``."""
    return special.ndtr(-np.asarray(x, dtype=float))


def norm_isf(q):
    """Inverse upper tail of N(0, 1), as ``scipy.stats.norm.isf``."""
    return -special.ndtri(q)


def t_sf(x, df):
    """Upper tail of Student's t, as ``scipy.stats.t.sf``."""
    return special.stdtr(df, -np.asarray(x, dtype=float))


def t_isf(q, df):
    """Inverse upper tail of Student's t, as ``scipy.stats.t.isf``."""
    return -special.stdtrit(df, q)


def chi2_sf(x, df):
    """Upper tail of chi-square, as ``scipy.stats.chi2.sf`` (x >= 0)."""
    return special.chdtrc(df, x)


def chi2_isf(q, df):
    """Inverse upper tail of chi-square, as ``scipy.stats.chi2.isf``."""
    return special.chdtri(df, q)


def chi2_ppf(p, df):
    """Quantile of chi-square, as ``scipy.stats.chi2.ppf``."""
    return 2.0 * special.gammaincinv(np.asarray(df, dtype=float) / 2.0, p)


# ---------------------------------------------------------------------------------------
# scale safety: fits of data far from unit scale run on data rescaled by a power of two

#: Data whose sampling variances and squared spread of effects all lie within
#: [2^-SAFE_LOG2, 2^SAFE_LOG2] (about 7.9e-31 to 1.3e30) are fitted as given (so ordinary
#: data give exactly the numbers they always did, and metafor's absolute settings such as
#: ``threshold`` and the Q-profile search limit 100 mean what they mean in metafor). Weights
#: and their squares and products then stay far inside the float64 range (2^+-1022).
SAFE_LOG2 = 100


def _inside_safe_range(extremes) -> bool:
    """True when (min y, max y, min v, max v) (Python floats) put all data well inside the
    safe range: the first fast exit of :func:`scale_exponents` (every ``m = 0``)."""
    ymin, ymax, vmin, vmax = extremes
    return (vmin >= 2.0 ** (1 - SAFE_LOG2) and vmax <= 2.0 ** (SAFE_LOG2 - 1)
            and ymax * 0.5 - ymin * 0.5 <= 2.0 ** (SAFE_LOG2 // 2 - 2))


def scale_exponents(groups: Groups, y: np.ndarray, v: np.ndarray, *,
                    extremes: tuple | None = None) -> np.ndarray:
    """Per-group power-of-two exponent ``m`` that brings a group's data to unit scale.

    The random-effects model is equivariant under ``y -> y / 2^m``, ``v -> v / 4^m``
    (estimate, se, CI and prediction interval scale by ``2^m``; tau^2, its SE and CI by
    ``4^m``; Q, I^2, H^2, z, p-values and weights are unchanged), and multiplying by a power
    of two is exact in floating point. ``m`` centres, on the log scale, the range of the
    quantities a fit divides by: from ``min v_i`` up to the larger of ``max v_i`` and the
    squared spread of ``y`` (the scale of tau^2), i.e. ``4^m ~ sqrt(min v * max(max v,
    spread^2))``. ``m = 0`` for groups inside the safe range (:data:`SAFE_LOG2`).

    Parameters
    ----------
    groups : the segments of the group-sorted rows
    y, v : effects and sampling variances (v >= 0; zeros are ignored)
    extremes : optional ``(min y, max y, min v, max v)`` over all rows as Python floats, if
        the caller has them already (they decide the first fast exit)

    Returns
    -------
    numpy.ndarray of int64, shape (G,)

    Examples
    --------
    >>> g = Groups(np.array([2, 2]))
    >>> scale_exponents(g, np.array([0.1, 0.3, 1e-150, 3e-150]),
    ...                 np.array([0.01, 0.02, 1e-302, 2e-302])).tolist()
    [0, -499]
    """
    # fast exits (no logarithms): the whole data well inside the safe range (global
    # extremes: four vectorised passes), or every group
    if extremes is not None:  # Python floats: no numpy error state to set up
        if v.size and _inside_safe_range(extremes):
            return np.zeros(groups.n_groups, dtype=np.int64)
    else:
        with np.errstate(invalid="ignore", over="ignore"):
            if (v.size and v.min() >= 2.0 ** (1 - SAFE_LOG2)
                    and v.max() <= 2.0 ** (SAFE_LOG2 - 1)
                    and y.max() * 0.5 - y.min() * 0.5 <= 2.0 ** (SAFE_LOG2 // 2 - 2)):
                return np.zeros(groups.n_groups, dtype=np.int64)
    # fast exit (no logarithms): every group well inside the safe range gives m = 0; the
    # margin of one binade (2^-99, 2^99, spread^2 <= 2^98) keeps this exit conservative,
    # groups near the edges go through the exact computation below
    with np.errstate(invalid="ignore", over="ignore"):
        half_spread = groups.max(y) * 0.5 - groups.min(y) * 0.5
        if (np.all(groups.min(v) >= 2.0 ** (1 - SAFE_LOG2))
                and np.all(groups.max(v) <= 2.0 ** (SAFE_LOG2 - 1))
                and np.all(half_spread <= 2.0 ** (SAFE_LOG2 // 2 - 2))):
            return np.zeros(groups.n_groups, dtype=np.int64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        lv = np.log2(v)
        lv_min = groups.min(np.where(v > 0, lv, np.inf))
        lv_max = groups.max(np.where(v > 0, lv, -np.inf))
        ls = 2.0 * (np.log2(half_spread) + 1.0)  # log2(spread^2), -inf for equal effects
    hi = np.fmax(lv_max, ls)
    lo = np.where(np.isfinite(lv_min), lv_min, hi)
    need = (lo < -SAFE_LOG2) | (hi > SAFE_LOG2)
    centre = np.where(need & np.isfinite(lo) & np.isfinite(hi), 0.25 * (lo + hi), 0.0)
    return np.rint(centre).astype(np.int64)


# ---------------------------------------------------------------------------------------
# designs: the linear algebra an estimator needs, for X = 1 (many groups) or a general X


class _InterceptWLS:
    """Weighted mean per group (the WLS fit of X = 1), with cached weight sums."""

    __slots__ = ("w", "r", "s1", "b", "_s2", "_w2")

    def __init__(self, w, r, s1, b):
        self.w, self.r, self.s1, self.b = w, r, s1, b
        self._s2 = None
        self._w2 = None

    def w2(self):
        """``w * w`` (computed once per fit: S_2 and tr(PP) both need it)."""
        if self._w2 is None:
            self._w2 = self.w * self.w
        return self._w2


class InterceptDesign:
    """The intercept-only model for G groups at once (segment sums; no k x k matrices).

    Parameters
    ----------
    groups : Groups
        The segments of the group-sorted rows.

    Examples
    --------
    >>> d = InterceptDesign(Groups(np.array([3])))
    >>> f = d.wls(np.array([1.0, 2.0, 6.0]), np.ones(3))
    >>> f.b, d.trace_p(f)
    (array([3.]), array([2.]))
    """

    __slots__ = ("groups", "k", "p")

    def __init__(self, groups: Groups):
        self.groups = groups
        self.k = groups.counts.astype(float)
        self.p = 1

    @property
    def n_groups(self) -> int:
        return self.groups.n_groups

    def sum(self, x):
        return self.groups.sum(x)

    def expand(self, a):
        return self.groups.expand(a)

    def subset(self, keep):
        g, rows = self.groups.subset(keep)
        return InterceptDesign(g), rows

    def as_segments(self, y, v, below: int = 64):
        """For a :class:`Block` of fewer than ``below`` groups, the same groups as segments
        (rows group by group): the same sums, with fewer numpy calls per pass. Used for the
        last iterations of the iterative estimators, when few groups are still running."""
        if isinstance(self.groups, Block) and self.groups.n_groups < below:
            return InterceptDesign(Groups(self.groups.counts)), y.T.ravel(), v.T.ravel()
        return self, y, v

    def wls(self, y, w) -> _InterceptWLS:
        s1 = self.groups.sum(w)
        mu = self.groups.sum(w * y) / s1
        return _InterceptWLS(w, y - self.groups.expand(mu), s1, mu)

    def _s2(self, f):
        if f._s2 is None:
            f._s2 = self.groups.sum(f.w2())
        return f._s2

    def _share(self, f):
        """The normalised weights ``w_i / S_1`` (each in [0, 1], summing to 1 per group)."""
        return f.w / self.groups.expand(f.s1)

    def trace_p(self, f, d=None):
        """tr(P D) per group (D = I when ``d`` is None)."""
        if d is None:
            return f.s1 - self._s2(f) / f.s1
        wd = f.w * d
        return self.groups.sum(wd * (1.0 - self._share(f)))

    def trace_pdpe(self, f, d=None, e=None):
        """tr(P D P E) per group for diagonal D, E (identity when None).

        Written with the normalised weights ``p_i = w_i / S_1`` (``S_3 / S_1`` as
        ``sum(w_i^2 p_i)``) so that no third power of a weight is formed: with very large or
        very small weights (tau^2 many orders above the v_i) ``w^3`` would overflow or
        underflow where ``w^2`` does not.
        """
        w2 = f.w2()
        # 1 - 2 w / S_1, computed in place (the same numbers as ``1.0 - 2.0 * share``):
        # every temporary of a large Block is a fresh allocation, and page faults
        one_2p = self._share(f)
        np.multiply(one_2p, 2.0, out=one_2p)
        np.subtract(1.0, one_2p, out=one_2p)
        if d is None and e is None:
            s2 = self._s2(f)
            np.multiply(w2, one_2p, out=one_2p)
            return self.groups.sum(one_2p) + (s2 / f.s1) ** 2
        w2d = w2 if d is None else w2 * d
        w2e = w2 if e is None else w2 * e
        w2de = w2d if e is None else w2d * e
        sd, se = self.groups.sum(w2d), self.groups.sum(w2e)
        return self.groups.sum(w2de * one_2p) + (sd / f.s1) * (se / f.s1)

    def sum_w2(self, f):
        return self._s2(f)

    def logdet_xwx(self, f):
        return np.log(f.s1)


class _MatrixWLS:
    """WLS fit of one meta-regression through the QR factors of ``W^(1/2) X``."""

    __slots__ = ("w", "r", "s1", "b", "vb", "q", "h", "r_factor")

    def __init__(self, w, r, s1, b, vb, q, h, r_factor):
        self.w, self.r, self.s1, self.b, self.vb = w, r, s1, b, vb
        self.q, self.h, self.r_factor = q, h, r_factor


class MatrixDesign:
    """One meta-regression with a k x p model matrix (full column rank, k > p for tau^2).

    The per-group results are arrays of length 1, so the estimators treat it exactly as
    one group of :class:`InterceptDesign`. The fit uses the QR decomposition of
    ``W^(1/2) X`` rather than the normal equations: moderators such as calendar years make
    X'WX ill-conditioned, and QR keeps the coefficients accurate to ~1e-14.

    Examples
    --------
    >>> X = np.column_stack([np.ones(4), [0.0, 1.0, 2.0, 3.0]])
    >>> f = MatrixDesign(X).wls(np.array([1.0, 3.0, 5.0, 7.0]), np.ones(4))
    >>> np.round(f.b, 12)
    array([1., 2.])
    """

    __slots__ = ("X", "groups", "k", "p")

    def __init__(self, X: np.ndarray):
        X = np.asarray(X, dtype=float)
        if X.ndim != 2:
            raise ValueError("MatrixDesign needs a 2-D model matrix")
        self.X = X
        self.groups = Groups(np.array([X.shape[0]]))
        self.k = np.array([float(X.shape[0])])
        self.p = X.shape[1]

    @property
    def n_groups(self) -> int:
        return 1

    def sum(self, x):
        return np.array([np.sum(x)])

    def expand(self, a):
        return np.repeat(a, self.X.shape[0])

    def subset(self, keep):
        keep = np.asarray(keep, dtype=bool)
        if not keep.all():  # a single group: only "keep it" is meaningful
            raise ValueError("MatrixDesign holds one model; it cannot be subset")
        return self, np.ones(self.X.shape[0], dtype=bool)

    def wls(self, y, w) -> _MatrixWLS:
        sw = np.sqrt(w)
        q, rf = np.linalg.qr(self.X * sw[:, None])
        rinv = linalg.solve_triangular(rf, np.eye(rf.shape[0]), check_finite=False)
        b = rinv @ (q.T @ (sw * y))
        r = y - self.X @ b
        h = np.sum(q * q, axis=1)
        return _MatrixWLS(w, r, np.array([np.sum(w)]), b, rinv @ rinv.T, q, h, rf)

    def trace_p(self, f, d=None):
        wd = f.w if d is None else f.w * d
        return np.array([np.sum(wd * (1.0 - f.h))])

    def trace_pdpe(self, f, d=None, e=None):
        wd = f.w if d is None else f.w * d
        we = f.w if e is None else f.w * e
        a = f.q.T @ (f.q * wd[:, None])
        b = f.q.T @ (f.q * we[:, None])
        return np.array([np.sum(wd * we * (1.0 - 2.0 * f.h)) + np.sum(a * b)])

    def sum_w2(self, f):
        return np.array([np.sum(f.w * f.w)])

    def logdet_xwx(self, f):
        return np.array([2.0 * np.sum(np.log(np.abs(np.diag(f.r_factor))))])


@dataclass(frozen=True, slots=True, eq=False)
class Tau2Fit(FrozenResult):
    """Per-group tau^2 estimates (read-only arrays of length G).

    Attributes
    ----------
    tau2 : estimate, truncated at 0 (NaN where the estimator did not converge).
    se_tau2 : standard error as metafor reports it (NaN where metafor gives none).
    converged : False where an iterative estimator stopped without converging.
    iterations : Fisher-scoring iterations (ML, REML, EB) or root-finding iterations (PM); 0
        for the closed-form estimators.
    ll0_reset : True where the ML/REML solution was replaced by tau^2 = 0 because the
        likelihood at 0 was larger (metafor's ``ll0check``).
    """

    tau2: np.ndarray
    se_tau2: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray
    ll0_reset: np.ndarray

    def __post_init__(self):
        for name, dtype in (("tau2", float), ("se_tau2", float), ("converged", bool),
                            ("iterations", np.int64), ("ll0_reset", bool)):
            object.__setattr__(self, name, readonly(getattr(self, name), dtype))


class _RawFit:
    """What an estimator returns inside the package: the arrays of a :class:`Tau2Fit`,
    writable and not copied (the public :func:`estimate_tau2` and :func:`fit_tau2` freeze
    them into a Tau2Fit; five read-only copies cost ~5 µs, a tenth of one small fit)."""

    __slots__ = ("tau2", "se_tau2", "converged", "iterations", "ll0_reset")

    def __init__(self, tau2, se_tau2, converged, iterations, ll0_reset):
        self.tau2, self.se_tau2, self.converged = tau2, se_tau2, converged
        self.iterations, self.ll0_reset = iterations, ll0_reset

    def frozen(self) -> Tau2Fit:
        return Tau2Fit(tau2=self.tau2, se_tau2=self.se_tau2, converged=self.converged,
                       iterations=self.iterations, ll0_reset=self.ll0_reset)


# ---------------------------------------------------------------------------------------
# building blocks


def _rss(d, f):
    """y'Py = sum(w r^2) per group."""
    wrr = f.w * f.r
    wrr *= f.r  # (w r) r in place: one temporary fewer
    return d.sum(wrr)


def q_generalized(d, y: np.ndarray, v: np.ndarray, tau2: np.ndarray):
    """Generalised Q statistic Q(tau^2) = y'P(tau^2)y and its derivative, per group.

    Parameters
    ----------
    d : InterceptDesign or MatrixDesign
    y, v : arrays of the rows (effects, sampling variances)
    tau2 : array (G,) of tau^2 values, one per group

    Returns
    -------
    q : sum(w_i r_i^2), w_i = 1 / (v_i + tau^2), r the residuals of the weighted fit
    dq : dQ / dtau^2 = -y'PPy = -sum(w_i^2 r_i^2)

    Notes
    -----
    Q(tau^2) is convex and decreasing in tau^2 (each term is a quadratic-over-linear
    function, jointly convex in (beta, tau^2), and Q is its partial minimum over beta).
    """
    w = 1.0 / (v + d.expand(tau2))
    f = d.wls(y, w)
    wr = w * f.r
    return d.sum(wr * f.r), -d.sum(wr * wr)


# ---------------------------------------------------------------------------------------
# root finding of Q(tau^2) = target, vectorised


def solve_q_equal(
    d,
    y: np.ndarray,
    v: np.ndarray,
    target: np.ndarray,
    upper: np.ndarray,
    *,
    q_at_zero: tuple[np.ndarray, np.ndarray] | None = None,
    rtol: float = 4 * _EPS,
    maxiter: int = 200,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Solve Q(tau^2) = target for every group by safeguarded Newton steps.

    The caller guarantees ``Q(0) > target >= Q(upper)``. Newton steps are taken on
    ``1 / Q(tau^2)`` (exactly linear when all v_i are equal) and replaced by bisection
    whenever they would leave the current bracket, so the iteration cannot diverge. The
    iteration starts at 0; ``q_at_zero`` may pass the already computed ``(Q(0), Q'(0))``.

    Returns
    -------
    root, converged, iterations : arrays (G,)
    """
    n = d.n_groups
    root = np.full(n, np.nan)
    conv = np.zeros(n, dtype=bool)
    iters = np.zeros(n, dtype=np.int64)
    # current (possibly compacted) problem: groups idx, of which `act` are still running
    idx = np.arange(n)
    sd, yy, vv = d, y, v
    tt = np.asarray(target, dtype=float)
    xa = np.zeros(n)
    loa = np.zeros(n)
    hia = np.asarray(upper, dtype=float).copy()
    act = np.ones(n, dtype=bool)
    for it in range(1, maxiter + 1):
        if it == 1 and q_at_zero is not None:
            q, dq = q_at_zero
        else:
            q, dq = q_generalized(sd, yy, vv, xa)
        iters[idx[act]] = it
        f = q - tt
        exact = f == 0.0
        above = f > 0.0  # root lies to the right of x
        loa = np.where(above, xa, loa)
        hia = np.where(~above & ~exact, xa, hia)
        # Newton step on 1/Q: delta = Q (Q - t) / (t * (-dQ))
        with np.errstate(divide="ignore", invalid="ignore"):
            cand = xa + q * f / (tt * -dq)
        bad = ~np.isfinite(cand) | (cand <= loa) | (cand >= hia)
        cand = np.where(bad, 0.5 * (loa + hia), cand)
        cand = np.where(exact, xa, cand)
        done = act & (
            exact | (np.abs(cand - xa) <= rtol * np.abs(cand)) | (hia - loa <= rtol * hia)
        )
        xa = np.where(act, cand, xa)
        if np.any(done):
            root[idx[done]] = xa[done]
            conv[idx[done]] = True
            act = act & ~done
        n_act = int(act.sum())
        if n_act == 0:
            break
        if n_act < 0.5 * act.size:  # compact: drop the finished groups
            xa, loa, hia, tt, idx = xa[act], loa[act], hia[act], tt[act], idx[act]
            sd, rmask = sd.subset(act)
            yy, vv = yy[rmask], vv[rmask]
            if hasattr(sd, "as_segments"):
                sd, yy, vv = sd.as_segments(yy, vv)
            act = np.ones(n_act, dtype=bool)
    left = idx[act]
    if left.size:
        root[left] = xa[act]
    return root, conv, iters


def _upper_bracket(d, y, v, target, start, max_doublings=1100):
    """Smallest start * 2^m with Q(start * 2^m) <= target (groups with Q(0) > target).

    The doublings may run up to the float64 limit (tau^2 many orders above the v_i, as with
    v_i ~ 1e-300 and effects ~ 0.1); a bound that overflows is left infinite (the root
    finder then reports non-convergence rather than a wrong root).
    """
    hi = np.asarray(start, dtype=float).copy()
    q, _ = q_generalized(d, y, v, hi)
    todo = (q > target) & np.isfinite(hi)
    for _ in range(max_doublings):
        if not np.any(todo):
            break
        hi = np.where(todo, hi * 2.0, hi)
        q, _ = q_generalized(d, y, v, hi)
        todo = (q > target) & np.isfinite(hi)
    return hi


# ---------------------------------------------------------------------------------------
# the estimators: one function each, (design, y, v, settings) -> Tau2Fit


@dataclass(frozen=True, slots=True)
class _Settings:
    threshold: float
    maxiter: int
    ll0check: bool
    ll0tol: float
    stepadj: float
    se: bool = True  # False: skip the standard error of tau^2 (NaN)


def _closed(tau2, se):
    n = tau2.size
    conv = np.empty(n, dtype=bool)
    conv.fill(True)  # np.ones is a Python-level wrapper: ~1 µs more per small fit
    return _RawFit(tau2=tau2, se_tau2=se, converged=conv,
                   iterations=np.zeros(n, dtype=np.int64), ll0_reset=np.zeros(n, dtype=bool))


def _fixed(d, y, v, s) -> Tau2Fit:
    n = d.n_groups
    return _closed(np.zeros(n), np.full(n, np.nan))


def _no_se(tau2):
    se = np.empty(tau2.shape)
    se.fill(np.nan)
    return se


def _moment_se(d, f, tau2, denom):
    """SE of a moment estimator (Q - c) / denom with Q from the 1/v_i-weighted fit."""
    df = d.k - d.p
    return np.sqrt(2.0 * df + 4.0 * tau2 * d.trace_p(f) + 2.0 * tau2**2 * d.trace_pdpe(f)) / denom


def _dl(d, y, v, s) -> Tau2Fit:
    f = d.wls(y, 1.0 / v)
    tr_p = d.trace_p(f)
    tau2 = np.maximum(0.0, (_rss(d, f) - (d.k - d.p)) / tr_p)
    return _closed(tau2, _moment_se(d, f, tau2, tr_p) if s.se else _no_se(tau2))


def _hs(d, y, v, s) -> Tau2Fit:
    f = d.wls(y, 1.0 / v)
    tau2 = np.maximum(0.0, (_rss(d, f) - d.k) / f.s1)
    return _closed(tau2, _moment_se(d, f, tau2, f.s1) if s.se else _no_se(tau2))


def _he_raw(d, y, v):
    """Untruncated Hedges estimate from the ordinary least-squares fit, and its pieces."""
    f = d.wls(y, np.ones_like(y))
    tr_pv = d.trace_p(f, v)
    return (d.sum(f.r * f.r) - tr_pv) / (d.k - d.p), f, tr_pv


def _he(d, y, v, s) -> Tau2Fit:
    raw, f, tr_pv = _he_raw(d, y, v)
    tau2 = np.maximum(0.0, raw)
    if not s.se:
        return _closed(tau2, _no_se(tau2))
    df = d.k - d.p
    tr_pvpv = d.trace_pdpe(f, v, v)
    se = np.sqrt(2.0 * tr_pvpv + 4.0 * tau2 * tr_pv + 2.0 * tau2**2 * df) / df
    return _closed(tau2, se)


def _sj(d, y, v, s) -> Tau2Fit:
    ybar = d.sum(y) / d.k
    tau2_0 = d.sum((y - d.expand(ybar)) ** 2) / d.k
    f = d.wls(y, 1.0 / (v + d.expand(tau2_0)))
    df = d.k - d.p
    tau2 = np.maximum(0.0, tau2_0 * _rss(d, f) / df)
    if not s.se:
        return _closed(tau2, _no_se(tau2))
    tr_pvpv = d.trace_pdpe(f, v, v)
    tr_pvp = d.trace_pdpe(f, v)
    tr_pp = d.trace_pdpe(f)
    se = np.sqrt(tau2_0**2 / df**2 * (2.0 * tr_pvpv + 4.0 * tau2 * tr_pvp + 2.0 * tau2**2 * tr_pp))
    return _closed(tau2, se)


def _pm(d, y, v, s) -> Tau2Fit:
    n = d.n_groups
    target = d.k - d.p
    q0, _ = q_generalized(d, y, v, np.zeros(n))
    tau2 = np.zeros(n)
    conv = np.ones(n, dtype=bool)
    iters = np.zeros(n, dtype=np.int64)
    pos = q0 >= target  # metafor: Q(0) < k - p  =>  tau2 = 0
    if np.any(pos):
        sub, rows = (d, slice(None)) if np.all(pos) else d.subset(pos)
        ys, vs, ts = y[rows], v[rows], target[pos]
        hi = _upper_bracket(sub, ys, vs, ts, np.full(sub.n_groups, 100.0))
        root, c, it = solve_q_equal(sub, ys, vs, ts, hi)
        tau2[pos], conv[pos], iters[pos] = root, c, it
    tau2 = np.where(conv, np.maximum(0.0, tau2), np.nan)
    if s.se:
        s1 = d.sum(1.0 / (v + d.expand(np.where(conv, tau2, 0.0))))
        se = np.where(conv, np.sqrt(2.0 * d.k**2 / target) / s1, np.nan)
    else:
        se = _no_se(tau2)
    return _RawFit(tau2=tau2, se_tau2=se, converged=conv, iterations=iters,
                   ll0_reset=np.zeros(n, dtype=bool))


def _loglik(d, y, v, tau2, method):
    """ML or REML log likelihood per group, up to a constant free of tau^2."""
    w = 1.0 / (v + d.expand(tau2))
    f = d.wls(y, w)
    ll = -0.5 * d.sum(np.log(v + d.expand(tau2))) - 0.5 * _rss(d, f)
    if method == "REML":
        ll = ll - 0.5 * d.logdet_xwx(f)
    return ll


#: Fisher scoring, its start and ll0check, and the Q-profile interval handle a Block of
#: more than twice this many groups in tiles of this many: the temporaries of a step then
#: stay in cache and come from malloc's free lists (a (8, 83,886) temporary is 5 MB: fresh
#: pages each time, about 3x the cost of the arithmetic). Measured on one chunk of 83,886
#: groups of 8 (REML, process CPU time): 1,024: 0.360 s, 2,048: 0.311 s, 4,096: 0.276 s,
#: 8,192: 0.264 s, 16,384: 0.279 s (Intel Xeon, 2 MB L2); one scoring step on an AMD EPYC
#: (512 kB L2) was also fastest at 8,192. Groups are independent: tiles change no number.
_TILE_GROUPS = 8192


def _tiles(sd, *arrays):
    """(column slice, sub-design, the arrays' columns) for each tile of a large Block."""
    g = sd.groups
    n = sd.n_groups
    if not isinstance(g, Block) or n <= 2 * _TILE_GROUPS:
        yield slice(None), sd, arrays
        return
    for a in range(0, n, _TILE_GROUPS):
        b = min(a + _TILE_GROUPS, n)
        cols = slice(a, b)
        yield cols, InterceptDesign(Block(g.k_rows, b - a)), tuple(
            x[:, cols] if x.ndim == 2 else x[cols] for x in arrays)


def _by_tiles(fn, d, y, v, *per_group):
    """``fn(design, y, v, *per_group)`` (a per-group array), computed tile by tile on
    contiguous copies for a large Block (in cache), else in one call; the same numbers."""
    n = d.n_groups
    if not (isinstance(d, InterceptDesign) and isinstance(d.groups, Block)
            and n > 2 * _TILE_GROUPS):
        return fn(d, y, v, *per_group)
    out = np.empty(n)
    for a in range(0, n, _TILE_GROUPS):
        cols = slice(a, min(a + _TILE_GROUPS, n))
        sub = InterceptDesign(Block(d.groups.k_rows, cols.stop - a))
        out[cols] = fn(sub, y[:, cols].copy(), v[:, cols].copy(), *(x[cols] for x in per_group))
    return out


def _intercept_step(method, sd, yy, vv, t):
    """:func:`_scoring_step` of REML or ML for the intercept-only design, inlined: the
    operations of ``wls``, ``trace_p`` and ``trace_pdpe`` in the same order (the same
    numbers) without their objects and method calls. Most scoring steps of a batch are
    the last ones of a few slow groups, where the ~20 small numpy calls of a step cost
    less than the Python around them."""
    gsum, expand = sd.groups.sum, sd.groups.expand
    w = vv + expand(t)
    np.divide(1.0, w, out=w)  # w = 1 / (v + tau2), in place
    s1 = gsum(w)
    wr = w * yy
    mu = gsum(wr) / s1
    np.subtract(yy, expand(mu), out=wr)  # r = y - mu
    np.multiply(w, wr, out=wr)
    wr *= wr
    ypppy = gsum(wr)
    w2 = w * w
    s2 = gsum(w2)
    if method == "ML":
        return (ypppy - s1) / s2
    tr_p = s1 - s2 / s1
    np.divide(w, expand(s1), out=w)  # the share w / S_1, then 1 - 2 share, in place
    np.multiply(w, 2.0, out=w)
    np.subtract(1.0, w, out=w)
    np.multiply(w2, w, out=w)
    return (ypppy - tr_p) / (gsum(w) + (s2 / s1) ** 2)


def _scoring_step(method, sd, yy, vv, kk, t):
    """The Fisher-scoring step ``adj`` of each group (before step halving)."""
    if method != "EB" and type(sd) is InterceptDesign:
        return _intercept_step(method, sd, yy, vv, t)
    w = vv + sd.expand(t)
    np.divide(1.0, w, out=w)  # w = 1 / (v + tau2), in place
    f = sd.wls(yy, w)
    wr = w * f.r
    if method == "EB":
        wr *= f.r
        return (sd.sum(wr) * kk / (kk - sd.p) - kk) / f.s1
    wr *= wr
    ypppy = sd.sum(wr)
    if method == "ML":
        return (ypppy - f.s1) / sd.sum_w2(f)
    return (ypppy - sd.trace_p(f)) / sd.trace_pdpe(f)


#: the step-halving loop of Fisher scoring halves a step at most this often
_MAX_HALVINGS = 1100


def _halve_steps(t, adj):
    """Halve ``adj`` (in place) while ``t + adj < 0``, at most _MAX_HALVINGS times.

    The number of halvings is computed rather than looped for: with ``-adj = mx 2^ex`` and
    ``t = mt 2^et`` (``np.frexp``), the smallest j with ``t - (-adj) 2^-j >= 0`` is
    ``ex - et + (mx > mt)`` (the sign of a floating-point sum is that of the exact sum),
    and ``ldexp(adj, -j)`` is exactly j halvings when no value on the way is subnormal
    (``t >= 2^-1021``). Other steps (t tiny, adj infinite, more than _MAX_HALVINGS) take
    the plain loop. The same numbers as the loop, with a few numpy calls instead of ~3 per
    halving (8 halvings per iteration on average at the boundary tau2 -> 0).
    """
    neg = np.flatnonzero(t + adj < 0.0)
    if neg.size == 0:
        return adj
    tn, an = t[neg], adj[neg]
    mx, ex = np.frexp(-an)
    mt, et = np.frexp(tn)
    j = ex - et + (mx > mt)
    ok = (tn >= 2.0**-1021) & np.isfinite(an) & (j <= _MAX_HALVINGS)
    adj[neg[ok]] = np.ldexp(an[ok], -j[ok])
    neg = neg[~ok]
    for _ in range(_MAX_HALVINGS):
        if neg.size == 0:
            break
        adj[neg] *= 0.5
        neg = neg[t[neg] + adj[neg] < 0.0]
    return adj


#: finished groups stay in the arrays of :func:`_scoring_loop` (frozen: a zero step) until
#: at least this share of them has finished: compacting (a copy of the running groups'
#: rows) after every step that finishes a group cost more than iterating the few finished
#: ones a little longer (G = 10^5 REML: ~440 compactions per chunk otherwise)
_COMPACT_SHARE = 0.5


#: the last few running groups (at most this many, each of at most 8 studies) of an
#: intercept-only REML or ML fit iterate in Python floats (:func:`_scalar_scoring`): a
#: numpy step of a handful of groups costs ~30 µs of call overhead, a Python step of one
#: group of 8 studies ~6 µs, and the slowest groups take hundreds of steps (G = 10^5 REML:
#: ~1,700 steps with fewer than 64 groups running, a quarter of the fit)
_SCALAR_TAIL = 4
_SCALAR_MAX_K = 8


def _segment_sum(x: list) -> float:
    """``np.add.reduceat`` of one segment of at most 9 values, in its order:
    ``x_0 + (((x_1 + x_2) + x_3) + ...)`` (the rest is summed sequentially below 8
    values)."""
    if len(x) == 1:
        return x[0]
    acc = x[1]
    for z in x[2:]:
        acc = acc + z
    return x[0] + acc


def _scalar_scoring(method, y: list, v: list, t: float, its: int, s: _Settings):
    """Fisher scoring of one intercept-only group in Python floats, from ``t`` after
    ``its`` iterations: the operations of :func:`_intercept_step` and of the loop of
    :func:`_scoring_loop` in the same order (the same numbers; the step halving is the
    plain loop that ``_halve_steps`` computes in closed form). Returns
    (tau2, iterations, converged), or None where a division by zero (which numpy turns
    into inf or NaN, Python into an exception) leaves the numpy loop to decide."""
    gsum = _segment_sum
    eps8 = 8.0 * _EPS
    try:
        return _scalar_steps(method, y, v, t, its, s, gsum, eps8)
    except ZeroDivisionError:
        return None


def _scalar_steps(method, y, v, t, its, s, gsum, eps8):
    while True:
        its += 1
        w = [1.0 / (vi + t) for vi in v]
        s1 = gsum(w)
        mu = gsum([wi * yi for wi, yi in zip(w, y)]) / s1
        wr = [wi * (yi - mu) for wi, yi in zip(w, y)]
        ypppy = gsum([z * z for z in wr])
        w2 = [wi * wi for wi in w]
        s2 = gsum(w2)
        if method == "ML":
            adj = (ypppy - s1) / s2
        else:
            tr_p = s1 - s2 / s1
            q = s2 / s1
            adj = (ypppy - tr_p) / (gsum([w2i * (1.0 - (wi / s1) * 2.0)
                                          for w2i, wi in zip(w2, w)]) + q * q)
        if s.stepadj != 1.0:
            adj *= s.stepadj
        if adj != adj or (adj < 0.0 and t == 0.0):
            adj = 0.0
        for _ in range(_MAX_HALVINGS):
            if not t + adj < 0.0:
                break
            adj *= 0.5
        new = t + adj
        change = abs(t - new)
        t = new
        if not math.isfinite(change) or its > s.maxiter:
            return t, its, False  # metafor: iter > maxiter => not converged
        if change <= max(s.threshold, eps8 * abs(new)):
            return t, its, True


def _scoring_loop(method, sd, yy, vv, kk, t, its, idx, s: _Settings, tau2, iters, conv,
                  stop_below: int = 0):
    """Fisher scoring of the groups ``idx`` (rows yy, vv of design sd) from ``t`` after
    ``its`` iterations each; writes tau2, iters, conv at ``idx``. Returns (idx, t, its) of
    the groups still running once no more than ``stop_below`` are (empty when all
    finished)."""
    live = None  # the groups still running (None: every group of the arrays)
    n_live = idx.size
    while n_live > stop_below:
        its = its + 1
        adj = np.empty(t.size)
        for cols, td, (ty, tv, tk, tt) in _tiles(sd, yy, vv, kk, t):
            adj[cols] = _scoring_step(method, td, ty, tv, tk, tt)
        if s.stepadj != 1.0:
            adj *= s.stepadj
        # a NaN step is 0; step halving while tau2 + adj < 0; from exactly 0 metafor
        # halves a negative step until it underflows to -0.0, i.e. it stays at 0 (in
        # place, in fewer passes: the same numbers as two np.where). A finished group
        # that is still in the arrays takes a zero step (it keeps its value; its
        # result was written when it finished)
        zero = np.isnan(adj)
        zero |= (adj < 0.0) & (t == 0.0)
        if live is not None:
            zero |= ~live
        np.copyto(adj, 0.0, where=zero)
        adj = _halve_steps(t, adj)
        new = t + adj
        change = np.subtract(t, new, out=adj)
        np.abs(change, out=change)
        t = new
        # also stop once the step is rounding noise of tau2 itself (8 eps relative): with
        # tau2 far above 1 (data rescaled to unit vi with tau2 / vi ~ 1e298) an absolute
        # threshold can never be met; for ordinary data (tau2 < ~1e3) the absolute
        # threshold is the one that acts, as in metafor. When 8 eps |tau2| <= threshold
        # for every group (the usual case; checked on the extremes of tau2: the product is
        # monotone) the threshold alone decides, the same test in fewer passes
        if 8.0 * _EPS * max(float(new.max()), -float(new.min())) <= s.threshold:
            finished = change <= s.threshold
        else:
            finished = change <= np.maximum(s.threshold, 8.0 * _EPS * np.abs(new))
        if live is not None:
            finished &= live
        broken = ~np.isfinite(change)
        if broken.any():
            finished |= broken
            conv[idx[broken]] = False
        over = its > s.maxiter
        if live is not None:
            over &= live
        if over.any():
            finished |= over
            conv[idx[over]] = False  # metafor: iter > maxiter => not converged
        n_done = np.count_nonzero(finished)
        n_live -= n_done
        # tau2 and iterations are written once a group finishes (and for the groups still
        # running when returning): the values the last iteration gave them
        if n_live == 0:
            done = idx if live is None else idx[finished]
            tau2[done] = t if live is None else t[finished]
            iters[done] = its if live is None else its[finished]
            return idx[:0], t[:0], its[:0]
        if n_done:
            done = idx[finished]
            tau2[done] = t[finished]
            iters[done] = its[finished]
            if live is None:
                live = ~finished
            else:
                live &= ~finished
        if live is not None and (n_live <= (1.0 - _COMPACT_SHARE) * live.size
                                 or n_live <= stop_below):
            # compact: drop the finished groups (a copy of the running groups' rows)
            idx, t, kk, its = idx[live], t[live], kk[live], its[live]
            sd, rmask = sd.subset(live)
            yy, vv = yy[rmask], vv[rmask]
            if hasattr(sd, "as_segments"):
                sd, yy, vv = sd.as_segments(yy, vv)
            live = None
            if (n_live <= _SCALAR_TAIL and stop_below == 0 and method in ("REML", "ML")
                    and type(sd) is InterceptDesign and type(sd.groups) is Groups
                    and int(sd.groups.counts.max()) <= _SCALAR_MAX_K):
                ends = np.cumsum(sd.groups.counts).tolist()
                ys, vs = yy.tolist(), vv.tolist()
                fits = [_scalar_scoring(method, ys[e - c:e], vs[e - c:e], tj, ij, s)
                        for e, c, tj, ij in zip(ends, sd.groups.counts.tolist(),
                                                t.tolist(), its.tolist())]
                if None not in fits:  # at most _SCALAR_TAIL groups
                    tau2[idx] = [f[0] for f in fits]
                    iters[idx] = [f[1] for f in fits]
                    conv[idx] = conv[idx] & np.array([f[2] for f in fits])
                    return idx[:0], t[:0], its[:0]
    if live is not None:
        idx, t, its = idx[live], t[live], its[live]
    tau2[idx] = t
    iters[idx] = its
    return idx, t, its


def _fisher_scoring(method, d, y, v, s: _Settings) -> Tau2Fit:
    n = d.n_groups
    k = d.k
    # start: HE estimate truncated at 0 (metafor's default tau2.init)
    tau2 = np.maximum(0.0, _by_tiles(lambda *a: _he_raw(*a)[0], d, y, v))
    conv = np.ones(n, dtype=bool)
    iters = np.zeros(n, dtype=np.int64)
    idx = np.arange(n)
    t, its = tau2.copy(), np.zeros(n, dtype=np.int64)
    if isinstance(d.groups, Block) and n > 2 * _TILE_GROUPS:
        # a large Block: each tile of groups is iterated on its own (its rows stay in cache
        # from one iteration to the next) until few of its groups are still running; those
        # of all tiles then continue together, from where they are. Every group takes the
        # same steps as in one loop over all groups (groups are independent; each keeps
        # its own iteration count for maxiter)
        left = []
        for a in range(0, n, _TILE_GROUPS):
            cols = slice(a, min(a + _TILE_GROUPS, n))
            sub = InterceptDesign(Block(d.groups.k_rows, cols.stop - a))
            left.append(_scoring_loop(method, sub, y[:, cols].copy(), v[:, cols].copy(),
                                      k[cols], t[cols], its[cols], idx[cols], s, tau2, iters,
                                      conv, stop_below=_TILE_GROUPS // 16))
        idx, t, its = (np.concatenate(parts) for parts in zip(*left))
        if idx.size:
            sub = InterceptDesign(Block(d.groups.k_rows, idx.size))
            _scoring_loop(method, sub, y[:, idx], v[:, idx], k[idx], t, its, idx, s, tau2,
                          iters, conv)
    else:
        _scoring_loop(method, d, y, v, k, t, its, idx, s, tau2, iters, conv)

    reset = np.zeros(n, dtype=bool)
    if s.ll0check and method in ("ML", "REML"):
        # compare the log likelihood at tau2 = 0 with the one at the solution (only where
        # every v_i > 0: at tau2 = 0 a study with v_i = 0 has infinite weight)
        with np.errstate(invalid="ignore", divide="ignore"):
            ll0 = _by_tiles(lambda *a: _loglik(*a, method), d, y, v, np.zeros(n))
            ll1 = _by_tiles(lambda *a: _loglik(*a, method), d, y, v,
                            np.where(np.isfinite(tau2), tau2, 0.0))
            reset = conv & (ll0 - ll1 > s.ll0tol) & (tau2 > s.threshold)
        if np.any(v <= 0):
            reset &= d.sum((v <= 0).astype(float)) == 0
        tau2 = np.where(reset, 0.0, tau2)

    tau2 = np.where(conv, np.maximum(0.0, tau2), np.nan)
    if not s.se:
        return _RawFit(tau2=tau2, se_tau2=_no_se(tau2), converged=conv, iterations=iters,
                       ll0_reset=reset)

    def fisher_se(dd, yy, vv, t, kk):
        w = 1.0 / (vv + dd.expand(t))
        if method == "ML":
            return np.sqrt(2.0 / dd.sum(w * w))
        if method == "REML":
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.sqrt(2.0 / dd.trace_pdpe(dd.wls(yy, w)))
        return np.sqrt(2.0 * kk**2 / (kk - dd.p)) / dd.sum(w)  # EB

    se = _by_tiles(fisher_se, d, y, v, np.where(conv, tau2, 0.0), k)
    se = np.where(conv, se, np.nan)
    return _RawFit(tau2=tau2, se_tau2=se, converged=conv, iterations=iters, ll0_reset=reset)


def _ml(d, y, v, s) -> Tau2Fit:
    return _fisher_scoring("ML", d, y, v, s)


def _reml(d, y, v, s) -> Tau2Fit:
    return _fisher_scoring("REML", d, y, v, s)


def _eb(d, y, v, s) -> Tau2Fit:
    return _fisher_scoring("EB", d, y, v, s)


_IMPLEMENTATIONS: dict[str, Callable] = {
    "FE": _fixed, "EE": _fixed, "DL": _dl, "HE": _he, "HS": _hs, "SJ": _sj, "PM": _pm,
    "ML": _ml, "REML": _reml, "EB": _eb,
}
#: The one registry of tau^2 estimators: method name -> ``f(design, y, v, settings)``,
#: keyed (and ordered) by :data:`evidence.vocabulary.METHODS`.
ESTIMATORS: dict[str, Callable] = {m: _IMPLEMENTATIONS[m] for m in METHODS if m in _IMPLEMENTATIONS}


def _estimator(method) -> Callable:
    try:
        return ESTIMATORS[method]
    except (KeyError, TypeError):
        raise ArgumentError(f"method {method!r} is not one of {', '.join(ESTIMATORS)}") from None


def estimate_tau2(
    method: str,
    d,
    y: np.ndarray,
    v: np.ndarray,
    *,
    threshold: float = 1e-12,
    maxiter: int = 1000,
    ll0check: bool = True,
    ll0tol: float = _EPS**0.25,
    stepadj: float = 1.0,
    se: bool = True,
) -> Tau2Fit:
    """Estimate tau^2 for every group of a design with one estimator.

    Parameters
    ----------
    method : one of :data:`ESTIMATORS` (upper case); anything else raises ArgumentError
    d : InterceptDesign (G groups) or MatrixDesign (one model); every group needs k > p
        (the caller handles k <= p, e.g. k = 1 in ``meta``). A :class:`Groups` object is
        taken as the intercept-only design of its groups.
    y, v : effect sizes and sampling variances (> 0), sorted by group
    threshold, maxiter : Fisher-scoring convergence settings for ML, REML and EB (metafor's
        ``control = list(threshold, maxiter)``; the defaults are tighter than metafor's
        1e-5 / 100 so that the converged solution is returned)
    ll0check, ll0tol : metafor's check that the ML/REML likelihood is not larger at 0
    stepadj : factor applied to every Fisher-scoring step (metafor's ``stepadj``); values
        below 1 (e.g. 0.5) cure the rare oscillating divergence of Fisher scoring with few
        studies, at the cost of more iterations
    se : compute the standard error of tau^2 (False: ``se_tau2`` is NaN and its passes
        over the data are skipped)

    Returns
    -------
    Tau2Fit

    Raises
    ------
    ArgumentError
        If ``method`` is not a registered estimator.

    Notes
    -----
    With ``P_0`` the projection matrix for weights ``1/v_i``, ``Q = y'P_0 y`` (Cochran's Q
    for X = 1) and all estimates truncated at 0:

    * DL: (Q - (k-p)) / tr(P_0)
    * HS: (Q - k) / sum(1/v_i)
    * HE: (y'(I - H)y - tr((I - H)V)) / (k-p), H the OLS hat matrix
    * SJ: tau0^2 y'P(tau0^2)y / (k-p), tau0^2 = sum (y_i - ybar)^2 / k

    PM solves y'P(tau^2)y = k - p (without metafor's upper search limit tau2.max = 100,
    beyond which metafor stops with an error). ML, REML and EB use Fisher scoring
    ``tau2 <- tau2 + adj`` with ``adj`` = (y'PPy - S_1)/S_2 (ML),
    (y'PPy - tr P)/tr(PP) (REML), (y'Py k/(k-p) - k)/S_1 (EB), halving the step while
    tau2 + adj < 0.

    Examples
    --------
    >>> d = InterceptDesign(Groups(np.array([3])))
    >>> fit = estimate_tau2("DL", d, np.array([0.1, 0.5, 0.9]), np.array([0.01, 0.02, 0.04]))
    >>> round(float(fit.tau2[0]), 4)
    0.1286
    """
    estimator = _estimator(method)
    if isinstance(d, (Groups, Block)):
        d = InterceptDesign(d)
    settings = _Settings(float(threshold), int(maxiter), bool(ll0check), float(ll0tol),
                         float(stepadj), bool(se))
    return estimator(d, y, v, settings).frozen()


def fit_tau2(method: str, d, y: np.ndarray, v: np.ndarray, control: dict,
             *, stacklevel: int = 3, se: bool = True, on_retry=None) -> Tau2Fit:
    """:func:`estimate_tau2` with validated ``control`` settings and metafor's remedy.

    Fisher scoring can oscillate on flat likelihoods (metafor stops with an error there).
    With ``control["retry"]`` the groups that did not converge are refitted once with half
    the step (``stepadj``) and ten times ``maxiter``, the remedy metafor's documentation
    gives, with an :class:`~evidence.errors.EvidenceWarning` naming how many were rescued;
    the maximum found is the same. ``on_retry(n_rescued, stepadj, maxiter)``, if given, is
    called instead of warning (so that a caller fitting in chunks warns once).
    """
    return _fit_tau2_raw(method, d, y, v, control, stacklevel=stacklevel + 1, se=se,
                         on_retry=on_retry).frozen()


def _fit_tau2_raw(method: str, d, y, v, control: dict, *, stacklevel: int = 3,
                  se: bool = True, on_retry=None) -> _RawFit:
    """:func:`fit_tau2` returning the writable arrays (:class:`_RawFit`)."""
    con = control
    estimator = _estimator(method)
    if isinstance(d, (Groups, Block)):
        d = InterceptDesign(d)
    settings = _Settings(float(con["threshold"]), int(con["maxiter"]), bool(con["ll0check"]),
                         float(con["tol"]), float(con["stepadj"]), bool(se))
    fit = estimator(d, y, v, settings)
    bad = ~fit.converged
    if not (bad.any() and con.get("retry", True) and method in _FISHER):
        return fit
    bd, rows = d.subset(bad)
    settings = _Settings(settings.threshold, settings.maxiter * 10, settings.ll0check,
                         settings.ll0tol, settings.stepadj * 0.5, settings.se)
    refit = estimator(bd, y[rows], v[rows], settings)
    parts = {}
    for name in ("tau2", "se_tau2", "converged", "iterations", "ll0_reset"):
        a = np.array(getattr(fit, name))
        a[bad] = getattr(refit, name)
        parts[name] = a
    n_fixed = int(np.sum(refit.converged))
    if n_fixed and on_retry is not None:
        on_retry(n_fixed, settings.stepadj, settings.maxiter)
    elif n_fixed:
        warnings.warn(
            f"{n_fixed} group(s) converged only after retrying with "
            f"stepadj={settings.stepadj:g} and maxiter={settings.maxiter} (Fisher scoring "
            "oscillated); pass control={'retry': False} to get NaN for such groups instead",
            EvidenceWarning, stacklevel=stacklevel)
    return _RawFit(**parts)


def qprofile_ci(
    d,
    y: np.ndarray,
    v: np.ndarray,
    tau2: np.ndarray,
    alpha: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Q-profile confidence interval for tau^2 (Viechtbauer 2007), per group.

    Parameters
    ----------
    d : InterceptDesign or MatrixDesign (every group k > p); a :class:`Groups` object is
        taken as the intercept-only design
    y, v : rows
    tau2 : the point estimates (only used for the search limit, as in metafor)
    alpha : 1 - confidence level

    Returns
    -------
    ci_low, ci_high : arrays (G,)

    Notes
    -----
    The bounds solve ``Q(tau^2) = chi2_{k-p, 1-alpha/2}`` (lower bound) and
    ``Q(tau^2) = chi2_{k-p, alpha/2}`` (upper bound), where Q(tau^2) is the generalised Q
    statistic. A bound whose equation has no solution in [0, tau2_max] is set to 0 (if Q(0)
    is already below the critical value) or to ``tau2_max = max(100, 10 tau2)`` (if Q stays
    above it), exactly as metafor's ``confint()`` does.
    """
    if isinstance(d, (Groups, Block)):
        d = InterceptDesign(d)
    n = d.n_groups
    if isinstance(d, InterceptDesign) and isinstance(d.groups, Block) and n > 2 * _TILE_GROUPS:
        # a large Block: tile by tile (contiguous copies of _TILE_GROUPS groups), so that
        # Q(tau^2) and the root finding run in cache; every group's numbers are its own
        # (the quantiles are per df, the root finder's iterations per group)
        lb, ub = np.empty(n), np.empty(n)
        for a in range(0, n, _TILE_GROUPS):
            cols = slice(a, min(a + _TILE_GROUPS, n))
            sub = InterceptDesign(Block(d.groups.k_rows, cols.stop - a))
            lb[cols], ub[cols] = qprofile_ci(sub, y[:, cols].copy(), v[:, cols].copy(),
                                             tau2[cols], alpha)
        return lb, ub
    df = d.k - d.p
    # the quantiles per distinct df (few), mapped back: same numbers, far fewer calls
    udf, inv = np.unique(df, return_inverse=True)
    crit_u = chi2_isf(alpha / 2.0, udf)[inv]
    crit_l = chi2_ppf(alpha / 2.0, udf)[inv]
    tmax = np.maximum(100.0, 10.0 * np.where(np.isfinite(tau2), tau2, 0.0))
    q0, dq0 = q_generalized(d, y, v, np.zeros(n))
    qmax, _ = q_generalized(d, y, v, tmax)

    def bound(crit):
        out = np.zeros(n)
        out = np.where(qmax > crit, tmax, out)
        search = (q0 >= crit) & ~(qmax > crit)
        # Q(0) == crit: the root is 0 itself
        search &= q0 > crit
        if np.any(search):
            if np.all(search):
                sub, ys, vs = d, y, v
            else:
                sub, rows = d.subset(search)
                ys, vs = y[rows], v[rows]
            root, _, _ = solve_q_equal(sub, ys, vs, crit[search], tmax[search],
                                       q_at_zero=(q0[search], dq0[search]))
            out[search] = root
        return out

    ub = bound(crit_l)
    lb = bound(crit_u)
    both_below = q0 < crit_l
    ub = np.where(both_below, 0.0, ub)
    lb = np.where(both_below, 0.0, lb)
    both_above = qmax > crit_u
    lb = np.where(both_above, tmax, lb)
    ub = np.where(both_above, tmax, ub)
    return lb, ub
