"""Sequential analysis of a cumulative meta-analysis: required information size and
Lan-DeMets alpha-spending boundaries (trial sequential analysis).

A living review tests its pooled estimate again at every release. Each look is another
chance of a false-positive finding; a sequential analysis spends the type I error over the
looks so that, taken together, they keep it at ``alpha``. It is a sensitivity analysis, never
the main conclusion.

The pieces, each a pure function (numbers in, frozen objects out):

- :func:`alpha_spending` — the cumulative two-sided type I error spent at information
  fraction ``t`` (Lan & DeMets 1983), spent equally on the two sides: O'Brien-Fleming type,
  on each side ``2 - 2 Φ(z₁₋α/₄ / √t)`` (the one-sided function at ``α/2``), or Pocock type
  ``α ln(1 + (e - 1) t)``; ``α`` from ``t = 1`` on. This is the convention of R's rpact and
  gsDesign for symmetric two-sided designs and of DeMets & Lan's tables (five equally
  spaced looks, two-sided 0.05, O'Brien-Fleming type: 4.877, 3.357, 2.680, 2.290, 2.031).
- :func:`sequential_bounds` — the two-sided symmetric boundaries ``c_j`` on the Z scale such
  that ``P(|Z_j| ≥ c_j, |Z_i| < c_i for i < j) = α(t_j) - α(t_{j-1})`` under no effect. The
  cumulative Z of a meta-analysis at information fractions ``t`` behaves as Brownian motion
  ``B(t)/√t``; the exit probabilities are integrated numerically on a grid (Armitage,
  McPherson & Rowe 1969; Jennison & Turnbull 2000, ch. 19) with Simpson's rule, the grid step
  a fraction ``1/GRID_R`` of the smaller standard deviation of the increments either side of
  the look. The boundary at a look depends only on the looks up to it (the point of
  alpha spending): looks need not be planned in advance.
- :func:`ris_binary`, :func:`ris_continuous` — the required information size in participants
  (both arms, equal allocation; Wetterslev et al. 2008; Thorlund et al., TSA manual 2011):
  ``4 (z₁₋α/₂ + z₁₋β)² P(1 - P) / δ²`` with ``δ = p_c - p_e``, ``P = (p_c + p_e) / 2``, and
  ``4 (z₁₋α/₂ + z₁₋β)² σ² / δ²`` for a mean difference.
- :func:`required_statistical_information` — ``((z₁₋α/₂ + z₁₋β) / δ)²`` with ``δ`` on the
  analysis scale (e.g. log RR): the information ``1 / SE²`` a pooled estimate needs.
- :func:`diversity` — ``D² = 1 - SE_F² / SE_R²`` (Wetterslev et al. 2009), by which a
  required information size is divided by ``1 - D²`` for heterogeneity.
- :func:`sequential_analysis` — the looks (cumulative Z and accrued information) against the
  boundaries: where the boundary was first crossed, whether the required information was
  reached, and what that means.

No Python library in our dependencies computes group-sequential boundaries (statsmodels and
scipy do not); the recursion is written here and checked against R rpact's
``getDesignGroupSequential`` (``tests/reference/make_sequential.R``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import optimize, special

from evidence.errors import ArgumentError

__all__ = [
    "SPENDING",
    "GRID_R",
    "alpha_spending",
    "sequential_bounds",
    "SequentialBounds",
    "ris_binary",
    "ris_continuous",
    "required_statistical_information",
    "diversity",
    "sequential_analysis",
    "SequentialResult",
    "SEQUENTIAL_REFERENCES",
]

SPENDING = ("obrien-fleming", "pocock")
"""Lan-DeMets alpha-spending functions: O'Brien-Fleming type and Pocock type."""

GRID_R = 64
"""Grid points per standard deviation of the Brownian increment in the numerical
integration (Simpson's rule). The boundaries change by less than 1e-9 from ``GRID_R = 64``
to 256 (``tests/test_sequential.py``)."""

_MAX_POINTS = 40001  # grid points per look at most (looks very close together)
_BLOCK = 2048        # rows of the convolution computed at once (bounded memory)

SEQUENTIAL_REFERENCES = (
    "Lan KKG, DeMets DL. Discrete sequential boundaries for clinical trials. Biometrika "
    "1983;70:659-663.",
    "Wetterslev J, Thorlund K, Brok J, Gluud C. Trial sequential analysis may establish when "
    "firm evidence is reached in cumulative meta-analysis. J Clin Epidemiol 2008;61:64-75.",
    "Wetterslev J, Thorlund K, Brok J, Gluud C. Estimating required information size by "
    "quantifying diversity in random-effects model meta-analyses. BMC Med Res Methodol "
    "2009;9:86.",
    "Thorlund K, Engstrøm J, Wetterslev J, Brok J, Imberger G, Gluud C. User manual for trial "
    "sequential analysis (TSA). Copenhagen Trial Unit, 2011.",
)
"""The method's references, cited wherever a sequential analysis is reported."""


def _check_alpha_power(alpha: float, power: float | None = None) -> None:
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 0.5):
        raise ArgumentError(f"alpha must lie in (0, 0.5); got {alpha!r}")
    if power is not None and not (isinstance(power, (int, float)) and 0 < power < 1):
        raise ArgumentError(f"power must lie in (0, 1); got {power!r}")


def _check_kind(kind: str) -> None:
    if kind not in SPENDING:
        raise ArgumentError(f"unknown spending function {kind!r}; choose one of "
                            f"{', '.join(SPENDING)}")


def alpha_spending(t, alpha: float = 0.05, kind: str = "obrien-fleming") -> np.ndarray:
    """Cumulative two-sided type I error spent at information fractions ``t`` (Lan-DeMets).

    ``t`` is clipped to [0, 1]: nothing is spent at 0, all of ``alpha`` from 1 on.

    >>> [round(float(x), 6) for x in alpha_spending([0.5, 1.0])]
    [0.003051, 0.05]
    >>> round(float(alpha_spending(0.5, kind="pocock")), 5)
    0.03101
    """
    _check_alpha_power(alpha)
    _check_kind(kind)
    t = np.clip(np.asarray(t, dtype=float), 0.0, 1.0)
    if np.isnan(t).any():
        raise ArgumentError("information fractions must be numbers; got NaN")
    if kind == "pocock":
        return alpha * np.log1p((np.e - 1.0) * t)
    zc = special.ndtri(1.0 - alpha / 4.0)
    with np.errstate(divide="ignore"):
        out = 4.0 * special.ndtr(-zc / np.sqrt(t))
    return np.where(t >= 1.0, alpha, out)


@dataclass(frozen=True)
class SequentialBounds:
    """Two-sided symmetric alpha-spending boundaries at information fractions ``fractions``.

    ``z[j]`` is the boundary on the Z scale at look ``j`` (``inf`` where nothing is left to
    spend); ``spent[j]`` the cumulative alpha spent by look ``j``; ``grid_r`` the grid used.
    """

    fractions: tuple[float, ...]
    z: tuple[float, ...]
    spent: tuple[float, ...]
    alpha: float
    kind: str
    grid_r: int


def _simpson(n: int, h: float) -> np.ndarray:
    w = np.ones(n)
    w[1:-1:2] = 4.0
    w[2:-1:2] = 2.0
    return w * (h / 3.0)


def _grid(b: float, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Simpson grid on (-b, b) with step at most ``step``: points and weights."""
    n = int(np.ceil(2.0 * b / step)) + 1
    n = min(max(n + (n % 2 == 0), 5), _MAX_POINTS)
    x = np.linspace(-b, b, n)
    return x, _simpson(n, x[1] - x[0])


def _norm_pdf(x: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * x * x) / np.sqrt(2.0 * np.pi)


def sequential_bounds(fractions, alpha: float = 0.05, kind: str = "obrien-fleming",
                      grid_r: int = GRID_R) -> SequentialBounds:
    """Boundaries at strictly increasing information fractions in (0, 1].

    >>> b = sequential_bounds([0.5, 1.0])
    >>> [round(x, 4) for x in b.z]
    [2.9626, 1.9686]
    """
    _check_alpha_power(alpha)
    _check_kind(kind)
    t = np.asarray(fractions, dtype=float).ravel()
    if t.size == 0:
        raise ArgumentError("sequential_bounds needs at least one information fraction")
    if not np.isfinite(t).all() or t[0] <= 0 or t[-1] > 1 + 1e-12:
        raise ArgumentError(f"information fractions must lie in (0, 1]; got {t.tolist()}")
    if (np.diff(t) <= 0).any():
        raise ArgumentError("information fractions must increase strictly from look to "
                            f"look; got {t.tolist()}")
    if not (isinstance(grid_r, int) and grid_r >= 4):
        raise ArgumentError(f"grid_r must be an integer >= 4; got {grid_r!r}")
    t = np.minimum(t, 1.0)
    spent = alpha_spending(t, alpha, kind)
    incr = np.diff(spent, prepend=0.0)
    sd = np.sqrt(np.diff(t, prepend=0.0))          # sd of the Brownian increment to look j
    z = np.full(t.size, np.inf)
    # look 1: P(|B(t1)| >= b) = 2 Φ(-b / √t1)
    if incr[0] > 0:
        z[0] = -special.ndtri(incr[0] / 2.0)
    dens_x = dens_w = None
    for j in range(t.size):            # a loop over looks (a handful), not over studies
        if j > 0 and incr[j] > 0:
            s = sd[j]

            def exit_prob(b, x=dens_x, w=dens_w, s=s):
                return float(w @ (special.ndtr((-b - x) / s) + special.ndtr((x - b) / s)))

            target = incr[j]
            hi = 40.0
            if exit_prob(1e-9) <= target:     # everything left is spent: boundary at 0
                z[j] = 0.0
            else:
                b = optimize.brentq(lambda b: exit_prob(b) - target, 1e-9, hi * np.sqrt(t[j]),
                                    xtol=1e-14, rtol=1e-14, maxiter=500)
                z[j] = b / np.sqrt(t[j])
        if j == t.size - 1:
            break
        # density of B(t_j) on the continuation region |B| < z_j √t_j, for the next look
        b = min(z[j], 40.0) * np.sqrt(t[j])
        step = min(sd[j], sd[j + 1]) / grid_r
        y, wy = _grid(b, step)
        if j == 0:
            dens = _norm_pdf(y / sd[0]) / sd[0]
        else:
            dens = np.empty_like(y)
            for i in range(0, y.size, _BLOCK):
                blk = y[i:i + _BLOCK, None]
                dens[i:i + _BLOCK] = (_norm_pdf((blk - dens_x[None, :]) / sd[j]) / sd[j]) @ dens_w
        dens_x, dens_w = y, wy * dens
    return SequentialBounds(tuple(float(x) for x in t), tuple(float(x) for x in z),
                            tuple(float(x) for x in spent), float(alpha), kind, grid_r)


def _z_sum(alpha: float, power: float) -> float:
    return float(special.ndtri(1.0 - alpha / 2.0) + special.ndtri(power))


def ris_binary(control_risk: float, effect: float, measure: Literal["RR", "OR", "RD"] = "RR",
               alpha: float = 0.05, power: float = 0.8) -> float:
    """Required information size (participants, both arms) for a dichotomous outcome.

    ``effect`` is on the display scale: a risk ratio or odds ratio (e.g. 0.8), or a risk
    difference (e.g. -0.05), from the control risk ``control_risk``. This is trial
    sequential analysis' formula, with the variance ``P(1 - P)`` at the mean risk ``P``; the
    GRADE optimal information size (:func:`evidence.certainty.grade.optimal_information_size`)
    uses the two arms' own variances instead and gives a slightly smaller size (1805 against
    1813 here).

    >>> round(ris_binary(0.2, 0.75))
    1813
    """
    _check_alpha_power(alpha, power)
    if not (isinstance(control_risk, (int, float)) and 0 < control_risk < 1):
        raise ArgumentError(f"control_risk must lie in (0, 1); got {control_risk!r}")
    pc = float(control_risk)
    if measure == "RR":
        if effect <= 0:
            raise ArgumentError(f"a risk ratio to detect must be above 0; got {effect!r}")
        pe = pc * effect
    elif measure == "OR":
        if effect <= 0:
            raise ArgumentError(f"an odds ratio to detect must be above 0; got {effect!r}")
        odds = effect * pc / (1.0 - pc)
        pe = odds / (1.0 + odds)
    elif measure == "RD":
        pe = pc + effect
    else:
        raise ArgumentError(f"ris_binary sizes RR, OR or RD; got {measure!r}")
    if not 0 < pe < 1:
        raise ArgumentError(f"control risk {pc} with {measure} {effect} gives an "
                            f"experimental risk of {pe:.4g}, outside (0, 1)")
    delta = pc - pe
    if delta == 0:
        raise ArgumentError(f"{measure} {effect} is no effect: nothing to size")
    p = (pc + pe) / 2.0
    return 4.0 * _z_sum(alpha, power) ** 2 * p * (1.0 - p) / delta ** 2


def ris_continuous(sd: float, mean_difference: float, alpha: float = 0.05,
                   power: float = 0.8) -> float:
    """Required information size (participants, both arms) for a mean difference.

    >>> round(ris_continuous(10.0, 5.0), 2)
    125.58
    """
    _check_alpha_power(alpha, power)
    if not (isinstance(sd, (int, float)) and np.isfinite(sd) and sd > 0):
        raise ArgumentError(f"sd must be a positive number; got {sd!r}")
    if not (isinstance(mean_difference, (int, float)) and np.isfinite(mean_difference)
            and mean_difference != 0):
        raise ArgumentError(f"the mean difference to detect must be a non-zero number; got "
                            f"{mean_difference!r}")
    return 4.0 * _z_sum(alpha, power) ** 2 * sd ** 2 / mean_difference ** 2


def required_statistical_information(effect: float, alpha: float = 0.05,
                                     power: float = 0.8) -> float:
    """Information ``1/SE²`` a pooled estimate needs to detect ``effect`` (analysis scale).

    >>> round(required_statistical_information(float(np.log(0.8))), 2)
    157.63
    """
    _check_alpha_power(alpha, power)
    if not (isinstance(effect, (int, float)) and np.isfinite(effect) and effect != 0):
        raise ArgumentError(f"the effect to detect must be a non-zero number on the analysis "
                            f"scale; got {effect!r}")
    return (_z_sum(alpha, power) / effect) ** 2


def diversity(se_random: float, se_fixed: float) -> float:
    """Diversity ``D² = 1 - SE_F² / SE_R²`` (0 when the random-effects SE is no larger).

    >>> diversity(0.2, 0.1)
    0.75
    """
    for name, v in (("se_random", se_random), ("se_fixed", se_fixed)):
        if not (isinstance(v, (int, float)) and np.isfinite(v) and v > 0):
            raise ArgumentError(f"{name} must be a positive number; got {v!r}")
    return float(max(0.0, 1.0 - (se_fixed / se_random) ** 2))


@dataclass(frozen=True)
class SequentialResult:
    """The looks of a cumulative meta-analysis against alpha-spending boundaries.

    Per look (in order): ``z`` the cumulative Z, ``information`` the accrued information,
    ``fractions`` information / ``required`` (not capped), ``boundary`` the boundary on the Z
    scale (None after the required information was reached: the final boundary there
    applies), ``crossed`` whether |Z| reached the boundary. ``status`` is ``crossed`` (the
    boundary was crossed: firm evidence of an effect at the planned size or larger, at the
    first crossing ``first_crossed``), ``reached`` (the required information was reached
    without crossing: an effect of the planned size is unlikely) or ``neither`` (more
    information is needed). ``conclusion`` says that in words.
    """

    z: tuple[float, ...]
    information: tuple[float, ...]
    required: float
    fractions: tuple[float, ...]
    boundary: tuple[float | None, ...]
    crossed: tuple[bool, ...]
    spent: tuple[float | None, ...]
    alpha: float
    kind: str
    status: Literal["crossed", "reached", "neither"]
    first_crossed: int | None
    reached_at: int | None
    conclusion: str
    method: str
    references: tuple[str, ...] = SEQUENTIAL_REFERENCES


def sequential_analysis(z, information, required: float, alpha: float = 0.05,
                        kind: str = "obrien-fleming", grid_r: int = GRID_R) -> SequentialResult:
    """Compare the cumulative Z at each look with Lan-DeMets boundaries.

    ``z`` and ``information`` are per look (in release order); ``required`` the required
    information on the same scale as ``information`` (participants or 1/SE²). Information
    must increase strictly from look to look. Looks after the one that reached the required
    information have no boundary of their own.

    >>> r = sequential_analysis([1.5, 2.4], [500, 1000], required=2000)
    >>> r.status, [round(b, 4) for b in r.boundary]
    ('neither', [4.3326, 2.9631])
    """
    zz = np.asarray(z, dtype=float).ravel()
    info = np.asarray(information, dtype=float).ravel()
    if zz.size == 0 or zz.size != info.size:
        raise ArgumentError(f"z and information need one value per look; got {zz.size} and "
                            f"{info.size}")
    if not (np.isfinite(zz).all() and np.isfinite(info).all()):
        raise ArgumentError("z and information must be finite numbers")
    if (info <= 0).any():
        raise ArgumentError(f"information must be positive; got {info.tolist()}")
    if (np.diff(info) <= 0).any():
        raise ArgumentError("information must increase strictly from look to look; got "
                            f"{info.tolist()}")
    if not (isinstance(required, (int, float)) and np.isfinite(required) and required > 0):
        raise ArgumentError(f"required information must be a positive number; got {required!r}")
    frac = info / float(required)
    over = np.nonzero(frac >= 1.0)[0]
    reached_at = int(over[0]) if over.size else None
    n_b = zz.size if reached_at is None else reached_at + 1
    bounds = sequential_bounds(np.minimum(frac[:n_b], 1.0), alpha, kind, grid_r)
    boundary = list(bounds.z) + [None] * (zz.size - n_b)
    spent = list(bounds.spent) + [None] * (zz.size - n_b)
    final = bounds.z[-1]
    crossed = [bool(abs(zz[j]) >= (boundary[j] if boundary[j] is not None else final))
               for j in range(zz.size)]
    first = next((j for j, c in enumerate(crossed) if c), None)
    spend = "O'Brien-Fleming" if kind == "obrien-fleming" else "Pocock"
    method = (f"Lan-DeMets {spend}-type alpha spending, two-sided alpha {alpha:g}, "
              "symmetric boundaries on the cumulative Z (trial sequential analysis)")
    if first is not None:
        status = "crossed"
        conclusion = ("the cumulative Z crossed the sequential boundary, so the repeated "
                      "looks do not explain the finding")
    elif reached_at is not None:
        status = "reached"
        conclusion = ("the required information size was reached without crossing the "
                      "boundary: an effect of the planned size is unlikely")
    else:
        status = "neither"
        conclusion = ("the cumulative Z is inside the boundaries and the required information "
                      "size is not reached: more evidence is needed for a firm conclusion")
    return SequentialResult(
        z=tuple(float(x) for x in zz), information=tuple(float(x) for x in info),
        required=float(required), fractions=tuple(float(x) for x in frac),
        boundary=tuple(boundary), crossed=tuple(crossed), spent=tuple(spent),
        alpha=float(alpha), kind=kind, status=status, first_crossed=first,
        reached_at=reached_at, conclusion=conclusion, method=method)
