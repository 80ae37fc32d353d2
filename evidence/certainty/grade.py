"""GRADE: proposed judgements per domain, the certainty they imply, and absolute effects.

Pure functions on numbers that a fitted model already holds (estimate, CI, I², prediction
interval, Egger's p, weights, risk-of-bias judgements): nothing is fitted here. Each proposal
returns its level (0, −1 or −2 for the five downgrading domains; 0, +1 or +2 for the
upgrading ones; ``None`` when the data do not allow one) and the rule that fired, as a
sentence with the numbers it used. A reviewer's recorded decision always wins over a
proposal; the two are shown side by side by the caller.

Rules (stated so that a reader can check them)
----------------------------------------------
Ratios are judged on the log scale, where no effect is 0.

* **Inconsistency** (GRADE 7, Guyatt et al. 2011b; Cochrane Handbook 10.10.2): not assessable
  with one study; I² < 50% → 0; I² ≥ 50% → −1; I² ≥ 75% with a prediction interval that
  includes no effect (true effects of some settings may lie on the other side) → −2.
* **Imprecision** (GRADE 6, Guyatt et al. 2011a, the systematic-review rule): the 95% CI
  includes both appreciable benefit and appreciable harm (beyond both decision thresholds;
  for ratios by default a relative change of 25%, RR 0.75 and 1.25) → −2; the CI includes no
  effect → −1; fewer participants than the optimal information size (when one is given) →
  −1; otherwise 0.
* **Risk of bias** (from the studies' overall judgements, weighted by the pooled model):
  not assessable while any pooled study is not assessed; share of weight at high risk
  (RoB 2 "high", ROBINS-I "serious" or "critical") ≥ 50% → −2; high ≥ 25%, or high plus
  intermediate ("some concerns", "moderate", "no information") ≥ 50% → −1; otherwise 0.
* **Publication bias** (Cochrane Handbook 13.3.5.4): not assessable with fewer than 10
  studies; Egger's regression test p < 0.10 → −1; otherwise 0.
* **Indirectness** is a judgement about the question, never proposed.
* **Large effect** (GRADE 9, Guyatt et al. 2011c), proposed only for a body of evidence that
  starts low and is not downgraded: a ratio below 0.5 or above 2 with the whole CI beyond 1
  → +1; below 0.2 or above 5 with the whole CI beyond 1 → +2. Dose-response and plausible
  confounding are the reviewer's.

The certainty starts at high (4) for randomised trials and low (2) otherwise, adds the levels
and is bounded to 1..4 (very low .. high). A downgrading domain without a level leaves the
certainty an upper bound ("at most").

References
----------
Guyatt GH et al. GRADE guidelines 6: rating the quality of evidence — imprecision. J Clin
Epidemiol 2011;64:1283-93. doi:10.1016/j.jclinepi.2011.01.012
Guyatt GH et al. GRADE guidelines 7: rating the quality of evidence — inconsistency. J Clin
Epidemiol 2011;64:1294-302. doi:10.1016/j.jclinepi.2011.03.017
Guyatt GH et al. GRADE guidelines 9: rating up the quality of evidence. J Clin Epidemiol
2011;64:1311-6. doi:10.1016/j.jclinepi.2011.06.004
Higgins JPT et al. (eds). Cochrane Handbook for Systematic Reviews of Interventions,
version 6.4, 2023: sections 10.10.2, 13.3.5.4 and 14.1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

from ..errors import ArgumentError

__all__ = ["GRADE_DOMAINS", "DOWNGRADE_DOMAINS", "UPGRADE_DOMAINS", "CERTAINTY_LEVELS",
           "Proposal", "propose_inconsistency", "propose_imprecision",
           "propose_risk_of_bias", "propose_publication_bias", "propose_large_effect",
           "optimal_information_size", "grade_certainty", "certainty_symbol",
           "absolute_effects", "RATIO_MEASURES", "HIGH_RISK"]

DOWNGRADE_DOMAINS = ("risk of bias", "inconsistency", "indirectness", "imprecision",
                     "publication bias")
UPGRADE_DOMAINS = ("large effect", "dose-response", "plausible confounding")
GRADE_DOMAINS = DOWNGRADE_DOMAINS + UPGRADE_DOMAINS
CERTAINTY_LEVELS = ("very low", "low", "moderate", "high")
RATIO_MEASURES = ("RR", "OR", "HR", "PETO")

#: Overall judgements at high risk of bias (RoB 2 "high"; ROBINS-I "serious", "critical").
HIGH_RISK = frozenset({"high", "serious", "critical"})
_MIDDLE = {"some concerns", "moderate", "no information"}


@dataclass(frozen=True, slots=True)
class Proposal:
    """A proposed GRADE judgement: ``level`` (None when the data allow none) and ``rule``."""

    domain: str
    level: int | None
    rule: str


def _fmt(x: float) -> str:
    return f"{x:.2f}"


def propose_inconsistency(k: int, i2: float | None, pi_low: float | None = None,
                          pi_high: float | None = None) -> Proposal:
    """Inconsistency from I² and the prediction interval (analysis scale, no effect = 0).

    >>> propose_inconsistency(13, 92.2, -1.87, 0.44).level
    -2
    """
    d = "inconsistency"
    if k < 2 or i2 is None or not math.isfinite(i2):
        return Proposal(d, None, "not assessable: one study")
    if i2 < 50:
        return Proposal(d, 0, f"I² = {i2:.0f}% (below 50%)")
    crosses = (pi_low is not None and pi_high is not None and math.isfinite(pi_low)
               and math.isfinite(pi_high) and pi_low < 0 < pi_high)
    if i2 >= 75 and crosses:
        return Proposal(d, -2, f"I² = {i2:.0f}% (75% or more) and the prediction interval "
                               "includes no effect")
    return Proposal(d, -1, f"I² = {i2:.0f}% (50% or more)")


def propose_imprecision(ci_low: float, ci_high: float, *,
                        thresholds: tuple[float, float] | None = None,
                        n: float | None = None, ois: float | None = None,
                        scale: str = "") -> Proposal:
    """Imprecision from the CI against no effect (0) and the decision thresholds
    ``(benefit side, harm side)`` on the analysis scale, and the information size.

    >>> propose_imprecision(math.log(0.34), math.log(0.70),
    ...                     thresholds=(math.log(0.75), math.log(1.25))).level
    0
    """
    d = "imprecision"
    if not (math.isfinite(ci_low) and math.isfinite(ci_high)):
        return Proposal(d, None, "not assessable: no confidence interval")
    lo_t, hi_t = sorted(thresholds) if thresholds is not None else (None, None)
    if lo_t is not None and ci_low < lo_t and ci_high > hi_t:
        return Proposal(d, -2, f"the CI includes both appreciable benefit and appreciable "
                               f"harm (beyond both thresholds{scale})")
    if ci_low <= 0 <= ci_high:
        return Proposal(d, -1, "the CI includes no effect")
    if ois is not None and n is not None and math.isfinite(ois) and n < ois:
        return Proposal(d, -1, f"{n:,.0f} participants, fewer than the optimal information "
                               f"size of {math.ceil(ois):,}")
    why = "the CI excludes no effect"
    if lo_t is not None:
        why += " and does not include both appreciable benefit and harm"
    if ois is not None and n is not None and math.isfinite(ois):
        why += f"; {n:,.0f} participants reach the optimal information size of " \
               f"{math.ceil(ois):,}"
    return Proposal(d, 0, why)


def propose_risk_of_bias(judgements: Sequence[str | None],
                         weights: Sequence[float] | None = None) -> Proposal:
    """Risk of bias from each pooled study's overall judgement, weighted by the model.

    ``None`` or "not assessed" marks a study without an assessment.

    >>> propose_risk_of_bias(["low", "high", "low"], [0.2, 0.3, 0.5]).level
    -1
    """
    d = "risk of bias"
    labels = ["not assessed" if j is None else str(j).strip().lower() for j in judgements]
    if not labels:
        return Proposal(d, None, "not assessable: no pooled study")
    missing = sum(v == "not assessed" for v in labels)
    if missing:
        have = "study has" if len(labels) == 1 else "studies have"
        return Proposal(d, None, f"not assessed: {missing} of {len(labels)} {have} no "
                                 "risk-of-bias assessment")
    w = np.ones(len(labels)) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != (len(labels),):
        raise ArgumentError(f"{len(w)} weights for {len(labels)} judgements")
    w = w / w.sum()
    high = float(w[[v in HIGH_RISK for v in labels]].sum())
    mid = float(w[[v in _MIDDLE for v in labels]].sum())
    basis = f"{100 * high:.0f}% of the weight at high risk, {100 * mid:.0f}% with concerns"
    if high >= 0.5:
        return Proposal(d, -2, basis + " (high risk 50% or more)")
    if high >= 0.25 or high + mid >= 0.5:
        return Proposal(d, -1, basis + " (high risk 25% or more, or high and concerns "
                                       "together 50% or more)")
    return Proposal(d, 0, basis)


def propose_publication_bias(k: int, egger_p: float | None) -> Proposal:
    """Publication bias from Egger's test, only with 10 or more studies.

    >>> propose_publication_bias(13, 0.189).level
    0
    """
    d = "publication bias"
    if k < 10:
        return Proposal(d, None, f"not assessable: {k} {'study' if k == 1 else 'studies'} "
                                 "(fewer than 10)")
    if egger_p is None or not math.isfinite(egger_p):
        return Proposal(d, None, "not assessable: Egger's test not available")
    if egger_p < 0.10:
        return Proposal(d, -1, f"Egger's test p = {egger_p:.3f} (below 0.10)")
    return Proposal(d, 0, f"Egger's test p = {egger_p:.3f}")


def propose_large_effect(measure: str, estimate: float, ci_low: float, ci_high: float, *,
                         start: str, downgraded: bool) -> Proposal:
    """Rating up for a large effect (ratio measures on the log scale only).

    >>> import math
    >>> propose_large_effect("RR", math.log(0.15), math.log(0.08), math.log(0.3),
    ...                      start="low", downgraded=False).level
    2
    """
    d = "large effect"
    if start != "low":
        return Proposal(d, 0, "not considered: the evidence starts at high certainty")
    if measure.upper() not in RATIO_MEASURES:
        return Proposal(d, None, f"not assessable: {measure} is not a ratio")
    if downgraded:
        return Proposal(d, 0, "not considered: the evidence is rated down")
    r, lo, hi = (math.exp(x) for x in (estimate, ci_low, ci_high))
    if (r < 0.2 and hi < 1) or (r > 5 and lo > 1):
        return Proposal(d, 2, f"ratio {_fmt(r)} beyond 0.2 or 5 with the CI excluding 1")
    if (r < 0.5 and hi < 1) or (r > 2 and lo > 1):
        return Proposal(d, 1, f"ratio {_fmt(r)} beyond 0.5 or 2 with the CI excluding 1")
    return Proposal(d, 0, f"ratio {_fmt(r)} within 0.5 to 2")


def optimal_information_size(control_risk: float, relative_reduction: float = 0.25,
                             alpha: float = 0.05, power: float = 0.8) -> float:
    """Total participants (both arms) a single trial would need to detect a relative risk
    reduction at the given control risk (two-sided alpha, normal approximation).

    >>> round(optimal_information_size(0.2))
    1805
    """
    p1 = float(control_risk)
    if not 0 < p1 < 1:
        raise ArgumentError(f"control risk must be between 0 and 1, got {control_risk}")
    p2 = p1 * (1 - relative_reduction)
    z = special.ndtri(1 - alpha / 2) + special.ndtri(power)
    per_arm = z ** 2 * (p1 * (1 - p1) + p2 * (1 - p2)) / (p1 - p2) ** 2
    return 2 * float(per_arm)


def grade_certainty(start: str, levels: Mapping[str, int | None]) -> tuple[str, bool]:
    """The certainty implied by a starting level and the domain levels.

    Returns the label and whether it is an upper bound (a downgrading domain has no level).

    >>> grade_certainty("high", {"inconsistency": -1, "imprecision": 0})
    ('moderate', True)
    """
    if start not in ("high", "low"):
        raise ArgumentError(f"start must be 'high' or 'low', got {start!r}")
    unknown = [d for d in levels if d not in GRADE_DOMAINS]
    if unknown:
        raise ArgumentError(f"unknown GRADE domain(s) {unknown}; use {', '.join(GRADE_DOMAINS)}")
    score = 4 if start == "high" else 2
    score += sum(v for v in levels.values() if v is not None)
    bound = any(levels.get(d) is None for d in DOWNGRADE_DOMAINS)
    return CERTAINTY_LEVELS[min(max(score, 1), 4) - 1], bound


def certainty_symbol(label: str) -> str:
    """⊕⊕⊕◯ style symbol of a certainty label.

    >>> certainty_symbol("moderate")
    '⊕⊕⊕◯'
    """
    n = CERTAINTY_LEVELS.index(label) + 1
    return "\u2295" * n + "\u25ef" * (4 - n)


def absolute_effects(measure: str, estimate: float, ci_low: float, ci_high: float,
                     comparator_risk: float, per: int = 1000) -> dict[str, float]:
    """Risk with the intervention and the difference per ``per`` people, from a relative
    effect on the analysis scale (log RR / log OR / RD) and an assumed comparator risk.

    RR: r1 = r0·RR; OR: r1 = r0·OR / (1 − r0 + r0·OR); RD: r1 = r0 + RD (Cochrane Handbook
    14.1.5). The CI of r1 and of the difference follow from the CI of the relative effect.

    >>> e = absolute_effects("RR", math.log(0.5), math.log(0.4), math.log(0.6), 0.01)
    >>> round(e["risk_intervention"], 6), round(e["difference"], 6)
    (5.0, -5.0)
    """
    r0 = float(comparator_risk)
    if not 0 <= r0 <= 1:
        raise ArgumentError(f"comparator risk must be between 0 and 1, got {comparator_risk}")
    m = measure.upper()

    def r1(x: float) -> float:
        if m == "RR":
            return r0 * math.exp(x)
        if m in ("OR", "PETO"):
            o = math.exp(x)
            return r0 * o / (1 - r0 + r0 * o)
        if m == "RD":
            return r0 + x
        raise ArgumentError(f"absolute effects need RR, OR or RD, not {measure!r}")

    vals = [r1(x) for x in (estimate, ci_low, ci_high)]
    lo, hi = sorted(vals[1:])
    return {"risk_comparator": per * r0, "risk_intervention": per * vals[0],
            "risk_intervention_low": per * lo, "risk_intervention_high": per * hi,
            "difference": per * (vals[0] - r0), "difference_low": per * (lo - r0),
            "difference_high": per * (hi - r0)}
