"""Overall risk-of-bias judgements and judgement shares per domain.

Notes
-----
RoB 2 overall (Sterne et al. 2019, BMJ 366:l4898, table 3): low if every domain is low; high
if any domain is high; otherwise some concerns. A reviewer may raise "some concerns in several
domains" to high; that is a recorded override, never applied here. RoB 2 domain judgements
are low / some concerns / high; robvis example tables also carry "no information", which is
not low and so counts as some concerns for the overall rule.

ROBINS-I overall (Sterne et al. 2016, BMJ 355:i4919, table 3): the worst domain among low <
moderate < serious < critical; "no information" when no domain is serious or critical and at
least one domain lacks information (a serious or critical domain decides whatever is missing).
ROBINS-I V2 uses the same judgement scale here. Its domains differ from ROBINS-I's: six, not
seven, in the order confounding, classification of interventions, selection of participants into
the study, missing data, measurement of the outcome, selection of the reported result; V1's
"deviations from intended interventions" is no longer a domain of its own (the form instead
asks whether the analysis accounts for switches during follow-up, and has a per-protocol variant
of the confounding domain). Source: the ROBINS-I V2 tool for follow-up studies (riskofbias.info,
version of 20 November 2025, marked draft), as transcribed in github.com/InfinityBowman/corates
(``ROBINSIChecklist``: tool text and decision diagrams of domains 1-6); a third-party note on the
launch version of 22 November 2024 reports the same removal. Not checked against the
riskofbias.info PDF itself. The V2 form also offers the overall label "low (except for concerns
about uncontrolled confounding)", which ``JUDGEMENTS`` does not carry.

References
----------
Sterne JAC et al. RoB 2: a revised tool for assessing risk of bias in randomised trials.
BMJ 2019;366:l4898. doi:10.1136/bmj.l4898
Sterne JAC et al. ROBINS-I: a tool for assessing risk of bias in non-randomised studies of
interventions. BMJ 2016;355:i4919. doi:10.1136/bmj.i4919
Sterne JAC, Higgins JPT, et al. Risk Of Bias In Non-randomized Studies - of Interventions,
Version 2 (ROBINS-I V2), assessment tool for follow-up studies, 20 November 2025 (draft).
https://www.riskofbias.info/welcome/robins-i-v2
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import ArgumentError

__all__ = ["rob_overall", "rob_shares", "JUDGEMENTS", "TOOLS", "ROB2_DOMAINS",
           "ROBINS_I_DOMAINS", "ROBINS_I_V2_DOMAINS"]

NOT_ASSESSED = "not assessed"

ROB2_SCALE = ("low", "some concerns", "high")
ROBINS_SCALE = ("low", "moderate", "serious", "critical")
JUDGEMENTS = {
    "rob2": ROB2_SCALE + ("no information",),
    "robins-i": ROBINS_SCALE + ("no information",),
    "robins-i-v2": ROBINS_SCALE + ("no information",),
}
TOOLS = tuple(JUDGEMENTS) + ("custom",)

ROB2_DOMAINS = (
    "randomisation process",
    "deviations from intended interventions",
    "missing outcome data",
    "measurement of the outcome",
    "selection of the reported result",
)
ROBINS_I_DOMAINS = (
    "confounding",
    "selection of participants into the study",
    "classification of interventions",
    "deviations from intended interventions",
    "missing data",
    "measurement of outcomes",
    "selection of the reported result",
)
# ROBINS-I V2 (tool of 20 November 2025, see the module docstring): six domains; classification
# of interventions comes before selection of participants, and deviations from intended
# interventions is no longer a domain.
ROBINS_I_V2_DOMAINS = (
    "confounding",
    "classification of interventions",
    "selection of participants into the study",
    "missing data",
    "measurement of the outcome",
    "selection of the reported result",
)


def _label(value: str, tool: str) -> str:
    label = str(value).strip().lower()
    if label not in JUDGEMENTS[tool]:
        raise ArgumentError(f"judgement {value!r} is not one of {', '.join(JUDGEMENTS[tool])} "
                            f"(tool {tool!r})")
    return label


def rob_overall(tool: str, domain_judgements: Sequence[str]) -> str:
    """The overall risk-of-bias judgement implied by the domain judgements.

    Parameters
    ----------
    tool : "rob2", "robins-i" or "robins-i-v2"
    domain_judgements
        one label per domain (case-insensitive), e.g. ``["low", "high"]``.

    Returns
    -------
    str : "low", "some concerns" or "high" (RoB 2); "low", "moderate", "serious", "critical"
        or "no information" (ROBINS-I).

    Examples
    --------
    >>> rob_overall("rob2", ["low", "some concerns", "low", "low", "low"])
    'some concerns'
    >>> rob_overall("robins-i", ["low", "moderate", "no information", "low", "low", "low", "low"])
    'no information'
    """
    if tool not in JUDGEMENTS:
        raise ArgumentError(f"tool {tool!r} has no overall rule; it is not one of "
                            f"{', '.join(JUDGEMENTS)}")
    labels = [_label(v, tool) for v in domain_judgements]
    if not labels:
        raise ArgumentError("rob_overall needs at least one domain judgement")
    if tool == "rob2":
        if "high" in labels:
            return "high"
        if all(v == "low" for v in labels):
            return "low"
        return "some concerns"
    known = [ROBINS_SCALE.index(v) for v in labels if v != "no information"]
    worst = max(known) if known else None
    if worst is not None and worst >= ROBINS_SCALE.index("serious"):
        return ROBINS_SCALE[worst]
    if "no information" in labels:
        return "no information"
    return ROBINS_SCALE[worst]


def rob_shares(judgements: Sequence[str], weights: Sequence[float] | None = None,
               labels: Sequence[str] = ROB2_SCALE + ("no information",)) -> dict[str, float]:
    """Share of each judgement (fractions summing to 1), unweighted or by study weights.

    As robvis's weighted summary plot: the share of a judgement is the sum of the weights of
    the studies with that judgement over the sum of all weights.
    """
    values = np.asarray([str(v).strip().lower() for v in judgements])
    w = np.ones(len(values)) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != values.shape:
        raise ArgumentError(f"{len(w)} weights for {len(values)} judgements")
    total = w.sum()
    return {label: float(w[values == label].sum() / total) for label in labels}
