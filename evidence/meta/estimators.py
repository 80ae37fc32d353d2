"""Heterogeneity (tau^2) estimators of the random-effects model, vectorised over groups.

Every function here works on many meta-analyses at once. The studies of all groups lie in
one flat array, sorted by group, and a :class:`Groups` object knows where each group starts;
group sums are ``np.add.reduceat`` over those segments. A single meta-analysis is simply
one group, so :func:`evidence.meta.meta` and :func:`evidence.meta.meta_batch` run the very
same code and give identical numbers.

The estimators follow the definitions of R metafor's ``rma.uni`` (Viechtbauer 2010) for the
intercept-only model, written with group sums instead of k x k matrices. With
``w_i = 1 / (v_i + tau^2)``, ``S_m = sum(w_i^m)``, ``mu = sum(w_i y_i) / S_1`` and
``r_i = y_i - mu``, the projection matrix ``P = W - w w' / S_1`` has

* ``y' P y = sum(w_i r_i^2)`` (the generalised Q statistic),
* ``y' P P y = sum(w_i^2 r_i^2)``,
* ``tr(P) = S_1 - S_2 / S_1`` and ``tr(P P) = S_2 - 2 S_3 / S_1 + (S_2 / S_1)^2``.

Estimators: FE/EE (tau^2 = 0), DL (DerSimonian & Laird 1986), HE (Hedges & Olkin 1985),
HS (Hunter & Schmidt 2004), SJ (Sidik & Jonkman 2005), PM (Paule & Mandel 1982), EB
(Morris 1983; Berkey et al. 1995), ML and REML (Viechtbauer 2005; Fisher scoring with
step halving, started at the HE estimate truncated at 0, as metafor does). The Q-profile
confidence interval for tau^2 is Viechtbauer (2007).

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

from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = [
    "METHODS",
    "FIXED_METHODS",
    "Groups",
    "Tau2Fit",
    "estimate_tau2",
    "q_generalized",
    "qprofile_ci",
    "solve_q_equal",
]

#: Every accepted ``method`` value.
METHODS = ("FE", "EE", "DL", "REML", "ML", "PM", "HE", "SJ", "HS", "EB")
#: Methods that fix tau^2 at 0 (fixed-effect / equal-effects models).
FIXED_METHODS = ("FE", "EE")

_EPS = np.finfo(float).eps


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
        if counts.ndim != 1 or counts.size == 0 or np.any(counts <= 0):
            raise ValueError("Groups needs a non-empty 1-D array of positive counts")
        self.counts = counts
        self.n_groups = counts.size
        self.n_rows = int(counts.sum())
        self.starts = np.zeros(counts.size, dtype=np.int64)
        np.cumsum(counts[:-1], out=self.starts[1:])
        self._codes = None

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
        """Broadcast a per-group array to the rows."""
        return np.repeat(a, self.counts)

    def subset(self, keep: np.ndarray) -> tuple["Groups", np.ndarray]:
        """Keep the groups where ``keep`` is True; return the new Groups and a row mask."""
        return Groups(self.counts[keep]), self.expand(keep)


@dataclass(frozen=True)
class Tau2Fit:
    """Per-group tau^2 estimates (arrays of length G).

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


# ---------------------------------------------------------------------------------------
# building blocks


def _weighted(g: Groups, y: np.ndarray, w: np.ndarray):
    """Weighted mean per group and the residuals r = y - mu for the weights w."""
    s1 = g.sum(w)
    mu = g.sum(w * y) / s1
    r = y - g.expand(mu)
    return s1, mu, r


def q_generalized(g: Groups, y: np.ndarray, v: np.ndarray, tau2: np.ndarray):
    """Generalised Q statistic Q(tau^2) and its derivative, per group.

    Parameters
    ----------
    g : Groups
    y, v : arrays of the rows (effects, sampling variances)
    tau2 : array (G,) of tau^2 values, one per group

    Returns
    -------
    q : sum(w_i (y_i - mu)^2), w_i = 1 / (v_i + tau^2), mu the weighted mean
    dq : dQ / dtau^2 = -sum(w_i^2 (y_i - mu)^2)

    Notes
    -----
    Q(tau^2) is convex and decreasing in tau^2 (each term is a quadratic-over-linear
    function, jointly convex in (mu, tau^2), and Q is its partial minimum over mu).
    """
    w = 1.0 / (v + g.expand(tau2))
    _, _, r = _weighted(g, y, w)
    wr2 = w * r * r
    return g.sum(wr2), -g.sum(w * wr2)


def _traces(g: Groups, w: np.ndarray):
    s1 = g.sum(w)
    w2 = w * w
    s2 = g.sum(w2)
    s3 = g.sum(w2 * w)
    tr_p = s1 - s2 / s1
    tr_pp = s2 - 2.0 * s3 / s1 + (s2 / s1) ** 2
    return s1, s2, tr_p, tr_pp


# ---------------------------------------------------------------------------------------
# root finding of Q(tau^2) = target, vectorised


def solve_q_equal(
    g: Groups,
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
    n = g.n_groups
    root = np.full(n, np.nan)
    conv = np.zeros(n, dtype=bool)
    iters = np.zeros(n, dtype=np.int64)
    # current (possibly compacted) problem: groups idx, of which `act` are still running
    idx = np.arange(n)
    sg, yy, vv = g, y, v
    tt = np.asarray(target, dtype=float)
    xa = np.zeros(n)
    loa = np.zeros(n)
    hia = np.asarray(upper, dtype=float).copy()
    act = np.ones(n, dtype=bool)
    for it in range(1, maxiter + 1):
        if it == 1 and q_at_zero is not None:
            q, dq = q_at_zero
        else:
            q, dq = q_generalized(sg, yy, vv, xa)
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
            sg, rmask = sg.subset(act)
            yy, vv = yy[rmask], vv[rmask]
            act = np.ones(n_act, dtype=bool)
    left = idx[act]
    if left.size:
        root[left] = xa[act]
    return root, conv, iters


def _upper_bracket(g, y, v, target, start, max_doublings=200):
    """Smallest start * 2^m with Q(start * 2^m) <= target (groups with Q(0) > target)."""
    hi = np.asarray(start, dtype=float).copy()
    q, _ = q_generalized(g, y, v, hi)
    todo = q > target
    for _ in range(max_doublings):
        if not np.any(todo):
            break
        hi = np.where(todo, hi * 2.0, hi)
        q, _ = q_generalized(g, y, v, hi)
        todo = q > target
    return hi


# ---------------------------------------------------------------------------------------
# estimators


def _closed_form(method: str, g: Groups, y: np.ndarray, v: np.ndarray, k: np.ndarray):
    km1 = k - 1.0
    if method in FIXED_METHODS:
        zero = np.zeros(g.n_groups)
        return zero, np.full(g.n_groups, np.nan)
    if method in ("DL", "HS"):
        w = 1.0 / v
        s1, _, r = _weighted(g, y, w)
        q = g.sum(w * r * r)
        _, _, tr_p, tr_pp = _traces(g, w)
        if method == "DL":
            tau2 = np.maximum(0.0, (q - km1) / tr_p)
            denom = tr_p
        else:
            tau2 = np.maximum(0.0, (q - k) / s1)
            denom = s1
        se = np.sqrt(2.0 * km1 + 4.0 * tau2 * tr_p + 2.0 * tau2**2 * tr_pp) / denom
        return tau2, se
    if method == "HE":
        ybar = g.sum(y) / k
        rss = g.sum((y - g.expand(ybar)) ** 2)
        sv = g.sum(v)
        tr_pv = sv - sv / k
        tau2 = np.maximum(0.0, (rss - tr_pv) / km1)
        # tr(PVPV) with P = I - J/k
        tr_pvpv = g.sum(v * v) * (1.0 - 2.0 / k) + (sv / k) ** 2
        se = np.sqrt(2.0 * tr_pvpv + 4.0 * tau2 * tr_pv + 2.0 * tau2**2 * km1) / km1
        return tau2, se
    if method == "SJ":
        ybar = g.sum(y) / k
        tau2_0 = g.sum((y - g.expand(ybar)) ** 2) / k
        w = 1.0 / (v + g.expand(tau2_0))
        s1, _, r = _weighted(g, y, w)
        q = g.sum(w * r * r)
        tau2 = np.maximum(0.0, tau2_0 * q / km1)
        w2 = w * w
        s2 = g.sum(w2)
        s3w = g.sum(w2 * w * v * v)
        tr_pvpv = g.sum(w2 * v * v) - 2.0 * s3w / s1 + (g.sum(w2 * v) / s1) ** 2
        pp_diag = w2 - 2.0 * w2 * w / g.expand(s1) + w2 * g.expand(s2 / s1**2)
        sum_pvp = g.sum(v * pp_diag)
        _, _, _, tr_pp = _traces(g, w)
        se = np.sqrt(
            tau2_0**2 / km1**2 * (2.0 * tr_pvpv + 4.0 * tau2 * sum_pvp + 2.0 * tau2**2 * tr_pp)
        )
        return tau2, se
    raise AssertionError(method)


def _fisher_scoring(method, g, y, v, k, threshold, maxiter, ll0check, ll0tol, stepadj):
    n = g.n_groups
    km1 = k - 1.0
    # start: HE estimate truncated at 0 (metafor's default tau2.init)
    ybar = g.sum(y) / k
    rss = g.sum((y - g.expand(ybar)) ** 2)
    sv = g.sum(v)
    tau2 = np.maximum(0.0, (rss - (sv - sv / k)) / km1)
    conv = np.ones(n, dtype=bool)
    iters = np.zeros(n, dtype=np.int64)
    idx = np.arange(n)
    sg, yy, vv, kk, t = g, y, v, k, tau2.copy()
    it = 0
    while idx.size:
        it += 1
        w = 1.0 / (vv + sg.expand(t))
        s1, _, r = _weighted(sg, yy, w)
        wr2 = w * r * r
        if method == "EB":
            adj = (sg.sum(wr2) * kk / (kk - 1.0) - kk) / s1
        else:
            ypppy = sg.sum(w * wr2)
            if method == "ML":
                adj = (ypppy - s1) / sg.sum(w * w)
            else:
                _, _, tr_p, tr_pp = _traces(sg, w)
                adj = (ypppy - tr_p) / tr_pp
        adj = np.where(np.isnan(adj), 0.0, adj * stepadj)
        # step halving while tau2 + adj < 0; from exactly 0 metafor halves a negative step
        # until it underflows to -0.0, i.e. it stays at 0
        adj = np.where((t == 0.0) & (adj < 0.0), 0.0, adj)
        neg = np.flatnonzero(t + adj < 0.0)
        for _ in range(1100):
            if neg.size == 0:
                break
            adj[neg] *= 0.5
            neg = neg[t[neg] + adj[neg] < 0.0]
        new = t + adj
        change = np.abs(t - new)
        t = new
        tau2[idx] = t
        iters[idx] = it
        over = it > maxiter
        finished = (change <= threshold) | over | ~np.isfinite(change)
        if over:
            conv[idx[finished]] = False  # metafor: iter > maxiter => not converged
        conv[idx[~np.isfinite(change)]] = False
        keep = ~finished
        if not np.any(keep):
            break
        idx, t, kk = idx[keep], t[keep], kk[keep]
        sg, rmask = sg.subset(keep)
        yy, vv = yy[rmask], vv[rmask]

    reset = np.zeros(n, dtype=bool)
    if ll0check and method in ("ML", "REML"):
        # compare the log likelihood at tau2 = 0 with the one at the solution
        def loglik(t2):
            w = 1.0 / (v + g.expand(t2))
            s1, _, r = _weighted(g, y, w)
            ll = -0.5 * g.sum(np.log(v + g.expand(t2))) - 0.5 * g.sum(w * r * r)
            if method == "REML":
                ll = ll - 0.5 * np.log(s1)
            return ll

        with np.errstate(invalid="ignore"):
            ll0 = loglik(np.zeros(n))
            ll1 = loglik(np.where(np.isfinite(tau2), tau2, 0.0))
            reset = conv & (ll0 - ll1 > ll0tol) & (tau2 > threshold)
        tau2 = np.where(reset, 0.0, tau2)

    tau2 = np.where(conv, np.maximum(0.0, tau2), np.nan)
    w = 1.0 / (v + g.expand(np.where(conv, tau2, 0.0)))
    if method == "ML":
        se = np.sqrt(2.0 / g.sum(w * w))
    elif method == "REML":
        _, _, _, tr_pp = _traces(g, w)
        se = np.sqrt(2.0 / tr_pp)
    else:  # EB
        se = np.sqrt(2.0 * k**2 / km1) / g.sum(w)
    se = np.where(conv, se, np.nan)
    return tau2, se, conv, iters, reset


def _paule_mandel(g, y, v, k):
    n = g.n_groups
    target = k - 1.0
    q0, _ = q_generalized(g, y, v, np.zeros(n))
    tau2 = np.zeros(n)
    conv = np.ones(n, dtype=bool)
    iters = np.zeros(n, dtype=np.int64)
    pos = q0 >= target  # metafor: Q(0) < k - 1  =>  tau2 = 0
    if np.any(pos):
        sub, rows = g.subset(pos)
        ys, vs, ts = y[rows], v[rows], target[pos]
        hi = _upper_bracket(sub, ys, vs, ts, np.full(sub.n_groups, 100.0))
        root, c, it = solve_q_equal(sub, ys, vs, ts, hi)
        tau2[pos], conv[pos], iters[pos] = root, c, it
    tau2 = np.where(conv, np.maximum(0.0, tau2), np.nan)
    w = 1.0 / (v + g.expand(np.where(conv, tau2, 0.0)))
    se = np.where(conv, np.sqrt(2.0 * k**2 / (k - 1.0)) / g.sum(w), np.nan)
    return tau2, se, conv, iters


def estimate_tau2(
    method: str,
    g: Groups,
    y: np.ndarray,
    v: np.ndarray,
    *,
    threshold: float = 1e-12,
    maxiter: int = 1000,
    ll0check: bool = True,
    ll0tol: float = _EPS**0.25,
    stepadj: float = 1.0,
) -> Tau2Fit:
    """Estimate tau^2 for every group with one estimator.

    Parameters
    ----------
    method : one of :data:`METHODS` (already validated, upper case)
    g : Groups of the rows; every group must have k >= 2 (k = 1 is handled by the caller)
    y, v : effect sizes and sampling variances (> 0), sorted by group
    threshold, maxiter : Fisher-scoring convergence settings for ML, REML and EB (metafor's
        ``control = list(threshold, maxiter)``; the defaults are tighter than metafor's
        1e-5 / 100 so that the converged solution is returned)
    ll0check, ll0tol : metafor's check that the ML/REML likelihood is not larger at 0
    stepadj : factor applied to every Fisher-scoring step (metafor's ``stepadj``); values
        below 1 (e.g. 0.5) cure the rare oscillating divergence of Fisher scoring with few
        studies, at the cost of more iterations

    Returns
    -------
    Tau2Fit

    Notes
    -----
    Closed forms (w_i = 1/v_i, Q = sum w_i (y_i - mu_FE)^2, all truncated at 0):

    * DL: (Q - (k-1)) / (S_1 - S_2/S_1)
    * HS: (Q - k) / S_1
    * HE: sum (y_i - ybar)^2 / (k-1) - mean(v_i)
    * SJ: tau0^2 Q(tau0^2) / (k-1), tau0^2 = sum (y_i - ybar)^2 / k

    PM solves Q(tau^2) = k - 1 (without metafor's upper search limit tau2.max = 100,
    beyond which metafor stops with an error). ML, REML and EB use Fisher scoring
    ``tau2 <- tau2 + adj`` with ``adj`` = (y'PPy - S_1)/S_2 (ML),
    (y'PPy - tr P)/tr(PP) (REML), (Q(tau2) k/(k-1) - k)/S_1 (EB), halving the step while
    tau2 + adj < 0.

    Examples
    --------
    >>> g = Groups(np.array([3]))
    >>> fit = estimate_tau2("DL", g, np.array([0.1, 0.5, 0.9]), np.array([0.01, 0.02, 0.04]))
    >>> round(float(fit.tau2[0]), 4)
    0.1286
    """
    n = g.n_groups
    k = g.counts.astype(float)
    conv = np.ones(n, dtype=bool)
    iters = np.zeros(n, dtype=np.int64)
    reset = np.zeros(n, dtype=bool)
    if method in ("ML", "REML", "EB"):
        tau2, se, conv, iters, reset = _fisher_scoring(
            method, g, y, v, k, threshold, maxiter, ll0check, ll0tol, stepadj
        )
    elif method == "PM":
        tau2, se, conv, iters = _paule_mandel(g, y, v, k)
    else:
        tau2, se = _closed_form(method, g, y, v, k)
    return Tau2Fit(tau2=tau2, se_tau2=se, converged=conv, iterations=iters, ll0_reset=reset)


def qprofile_ci(
    g: Groups,
    y: np.ndarray,
    v: np.ndarray,
    tau2: np.ndarray,
    alpha: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Q-profile confidence interval for tau^2 (Viechtbauer 2007), per group.

    Parameters
    ----------
    g : Groups (every group k >= 2)
    y, v : rows
    tau2 : the point estimates (only used for the search limit, as in metafor)
    alpha : 1 - confidence level

    Returns
    -------
    ci_low, ci_high : arrays (G,)

    Notes
    -----
    The bounds solve ``Q(tau^2) = chi2_{k-1, 1-alpha/2}`` (lower bound) and
    ``Q(tau^2) = chi2_{k-1, alpha/2}`` (upper bound), where Q(tau^2) is the generalised Q
    statistic. A bound whose equation has no solution in [0, tau2_max] is set to 0 (if Q(0)
    is already below the critical value) or to ``tau2_max = max(100, 10 tau2)`` (if Q stays
    above it), exactly as metafor's ``confint()`` does.
    """
    n = g.n_groups
    df = g.counts.astype(float) - 1.0
    crit_u = stats.chi2.isf(alpha / 2.0, df)
    crit_l = stats.chi2.ppf(alpha / 2.0, df)
    tmax = np.maximum(100.0, 10.0 * np.where(np.isfinite(tau2), tau2, 0.0))
    q0, dq0 = q_generalized(g, y, v, np.zeros(n))
    qmax, _ = q_generalized(g, y, v, tmax)

    def bound(crit):
        out = np.zeros(n)
        out = np.where(qmax > crit, tmax, out)
        search = (q0 >= crit) & ~(qmax > crit)
        # Q(0) == crit: the root is 0 itself
        search &= q0 > crit
        if np.any(search):
            if np.all(search):
                sub, ys, vs = g, y, v
            else:
                sub, rows = g.subset(search)
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
