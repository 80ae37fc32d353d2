"""RoB 2 domain algorithms (signalling answers to a proposed judgement) and risk-of-bias
assessments.

The RoB 2 tool for individually randomised, parallel-group trials proposes a judgement for each
domain from the answers to its signalling questions: Y (yes), PY (probably yes), PN (probably
no), N (no), NI (no information), and NA (not applicable) for a question the tool asks only
after certain earlier answers. The reviewer may depart from the proposal; :func:`assess_rob`
reports both, uses the reviewer's, and flags each disagreement instead of overwriting it.

Notes
-----
Rules per domain, as the algorithm figures of the RoB 2 template of 22 August 2019 state them
(Y/PY, N/PN: either answer of the pair; "aware": 2.1 or 2.2 is Y/PY/NI; "unaware": both N/PN):

* **D1, randomisation process.** 1.2 (allocation concealed) N/PN is high. 1.2 NI is high if
  1.3 (baseline imbalance suggests a problem) is Y/PY, otherwise some concerns. 1.2 Y/PY is
  some concerns if 1.1 (sequence random) is N/PN; otherwise (1.1 Y/PY/NI) it is low if 1.3 is
  N/PN/NI and some concerns if 1.3 is Y/PY. 1.1 is not consulted unless 1.2 is Y/PY.
* **D2, deviations, effect of assignment (2.1-2.7).** Part 1: unaware is low; aware and 2.3
  (deviations because of the trial context) N/PN is low, NI some concerns; 2.3 Y/PY with 2.4
  (deviations affected the outcome) N/PN is some concerns; 2.4 Y/PY/NI with 2.5 (deviations
  balanced) Y/PY is some concerns, N/PN/NI high. Part 2: 2.6 (appropriate analysis) Y/PY is
  low; 2.6 N/PN/NI with 2.7 (substantial impact) N/PN is some concerns, Y/PY/NI high. The
  domain is low if both parts are low, high if either part is high, else some concerns.
* **D2, deviations, effect of adhering (2.1-2.6).** Aware and 2.3 (non-protocol interventions
  balanced) N/PN/NI: 2.6 (appropriate analysis) Y/PY is some concerns, N/PN/NI high. Unaware,
  or aware and 2.3 NA/Y/PY: 2.4 (implementation failures) and 2.5 (non-adherence) both NA/N/PN
  is low; either Y/PY/NI sends the judgement to 2.6: Y/PY some concerns, N/PN/NI high.
* **D3, missing outcome data.** 3.1 (data for all or nearly all) Y/PY is low; otherwise 3.2
  (evidence the result is not biased) Y/PY is low; 3.2 N/PN with 3.3 (missingness could depend
  on the true value) N/PN is low; 3.3 Y/PY/NI with 3.4 (missingness likely depended on it) N/PN
  is some concerns, Y/PY/NI high.
* **D4, measurement of the outcome.** 4.1 (method inappropriate) Y/PY or 4.2 (measurement could
  differ between groups) Y/PY is high. Otherwise, with 4.2 N/PN: 4.3 (assessors aware) N/PN is
  low; 4.3 Y/PY/NI with 4.4 (could have been influenced) N/PN is low; 4.4 Y/PY/NI with 4.5
  (likely influenced) N/PN is some concerns, Y/PY/NI high. With 4.2 NI the same path gives some
  concerns wherever it would give low, and high where it gives high.
* **D5, selection of the reported result.** 5.2 (selected from several outcome measurements) or
  5.3 (from several analyses) Y/PY is high; neither Y/PY but at least one NI is some concerns;
  both N/PN: 5.1 (analysed to a plan finalised before unblinded data) Y/PY is low, N/PN/NI some
  concerns.

The overall RoB 2 judgement is :func:`~evidence.certainty.rob.rob_overall` over the five domain
judgements used. A reviewer may judge the overall risk high where the rule gives some concerns
("some concerns in multiple domains in a way that substantially lowers confidence"); with a
stated reason :func:`assess_rob` records it as an override, without one as a conflict.

Where this module had to interpret (the figures do not say):

* **NI on a question that gates later ones** needs no interpretation: every figure gives NI its
  own branch (1.2 NI, 2.3 NI, 3.1 NI, 4.2 NI, 2.6 NI, ...), followed here as drawn. 3.2 has no
  NI option in the template (its options are NA/Y/PY/PN/N), so NI there is refused.
* **NA.** An answer of NA to a question that the path reaches is refused (the question applies
  there), except where the template marks the question "[If applicable:]": questions 2.3, 2.4 and
  2.5 of the adhering variant, where NA follows the figure (2.3 NA as Y/PY, 2.4 and 2.5 NA as
  N/PN). Questions that have no NA option (1.1-1.3, 2.1, 2.2, 3.1, 4.1, 4.2, 5.1-5.3, and 2.6
  of the assignment variant) refuse NA everywhere.
* **Which answers are needed.** Only the questions the path reaches are needed; when one answer
  of a pair decides ("either 2.1 or 2.2 Y/PY/NI", "either 5.2 or 5.3 Y/PY", "either 2.4 or 2.5
  Y/PY/NI"), the other may be left out. Answers to questions the path does not reach are
  checked for validity and otherwise ignored.

Verification: each path above was checked against a text copy of the RoB 2 template of 22
August 2019 (its signalling questions, response options and algorithm figures, pages 5-22, kept
in github.com/InfinityBowman/corates under
``packages/web/src/components/checklist/ROB2Checklist/scoring/decision-diagrams/``; domain 3
found by its text), and domain 1 also against the criteria table of the full guidance as
reproduced in Table 2 of Syst Rev 2021;10:171 (doi:10.1186/s13643-021-01722-5). The
riskofbias.info PDFs themselves could not be opened from here.

References
----------
Sterne JAC, Savović J, Page MJ, et al. RoB 2: a revised tool for assessing risk of bias in
randomised trials. BMJ 2019;366:l4898. doi:10.1136/bmj.l4898
Higgins JPT, Savović J, Page MJ, Sterne JAC (eds). Revised Cochrane risk-of-bias tool for
randomized trials (RoB 2), full guidance document and template, 22 August 2019.
https://www.riskofbias.info

Examples
--------
>>> rob2_domain(1, {"1.1": "Y", "1.2": "PY", "1.3": "N"})
'low'
>>> rob2_rule("D5", {"5.1": "N", "5.2": "PN", "5.3": "NI"})[0]
'some concerns'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from ..errors import ArgumentError
from .rob import (NOT_ASSESSED, ROB2_DOMAINS, ROBINS_I_DOMAINS, ROBINS_I_V2_DOMAINS, TOOLS,
                  _label, rob_overall)

__all__ = ["rob2_domain", "rob2_rule", "ROB2_QUESTIONS", "assess_rob", "RobAssessment",
           "DomainAssessment"]

_EFFECTS = ("assignment", "adhering")
_ANSWERS = ("Y", "PY", "PN", "N", "NI", "NA")
_Y, _N = frozenset({"Y", "PY"}), frozenset({"N", "PN"})

_COMMON = {
    "1.1": "allocation sequence random",
    "1.2": "allocation sequence concealed until enrolment and assignment",
    "1.3": "baseline differences suggest a problem with randomisation",
    "2.1": "participants aware of their assigned intervention",
    "2.2": "carers and people delivering the interventions aware of the assignment",
    "3.1": "outcome data available for all or nearly all randomised participants",
    "3.2": "evidence that the result is not biased by missing outcome data",
    "3.3": "missingness in the outcome could depend on its true value",
    "3.4": "missingness in the outcome likely depended on its true value",
    "4.1": "method of measuring the outcome inappropriate",
    "4.2": "measurement or ascertainment could have differed between groups",
    "4.3": "outcome assessors aware of the intervention received",
    "4.4": "assessment could have been influenced by knowledge of the intervention",
    "4.5": "assessment likely influenced by knowledge of the intervention",
    "5.1": "analysed to a plan finalised before unblinded outcome data were available",
    "5.2": "result selected from several eligible outcome measurements",
    "5.3": "result selected from several eligible analyses",
}
_DOMAIN2 = {
    "assignment": {
        "2.3": "deviations from the intended intervention because of the trial context",
        "2.4": "those deviations likely to have affected the outcome",
        "2.5": "those deviations balanced between groups",
        "2.6": "analysis appropriate for the effect of assignment",
        "2.7": "substantial impact of not analysing participants as randomised",
    },
    "adhering": {
        "2.3": "important non-protocol interventions balanced between groups",
        "2.4": "failures in implementing the intervention that could have affected the outcome",
        "2.5": "non-adherence that could have affected participants' outcomes",
        "2.6": "analysis appropriate for the effect of adhering",
    },
}


def _questions(effect: str) -> Mapping[str, str]:
    merged = {**_COMMON, **_DOMAIN2[effect]}
    return MappingProxyType(dict(sorted(merged.items(), key=lambda kv: tuple(
        int(p) for p in kv[0].split(".")))))


#: Question id -> short label (paraphrased), per effect variant: ``ROB2_QUESTIONS["assignment"]``
#: and ``ROB2_QUESTIONS["adhering"]`` hold every question of the five domains; they differ only
#: in domain 2 (2.3-2.7 and 2.3-2.6).
ROB2_QUESTIONS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {effect: _questions(effect) for effect in _EFFECTS})

# Response options of each question in the template; all others are Y/PY/PN/N/NI.
_WITH_NA = {"2.3", "2.4", "2.5", "2.7", "3.3", "3.4", "4.3", "4.4", "4.5"}
_NO_NI = {"3.2": ("NA", "Y", "PY", "PN", "N")}
# Questions whose NA is an answer on the path ("[If applicable:]" in the template).
_IF_APPLICABLE = {("adhering", "2.3"), ("adhering", "2.4"), ("adhering", "2.5")}


def _options(qid: str, effect: str) -> tuple[str, ...]:
    if qid in _NO_NI:
        return _NO_NI[qid]
    if qid in _WITH_NA or (effect == "adhering" and qid == "2.6"):
        return _ANSWERS
    return _ANSWERS[:-1]


class _Missing(ArgumentError):
    """A question the path needs was not answered (assess_rob then has no algorithm judgement)."""


def _domain_number(domain: Any) -> int:
    if isinstance(domain, bool):
        number = None
    elif isinstance(domain, int):
        number = domain
    else:
        text = str(domain).strip().upper()
        text = text[1:] if text.startswith("D") else text
        number = int(text) if text.isdigit() else None
    if number not in range(1, 6):
        raise ArgumentError(f"RoB 2 domain {domain!r} is not one of 1, 2, 3, 4, 5 "
                            f"(or 'D1' ... 'D5')")
    return number


def _check_effect(effect: Any) -> str:
    if effect not in _EFFECTS:
        raise ArgumentError(f"effect {effect!r} is not one of {', '.join(_EFFECTS)}")
    return effect


class _Answers:
    """Validated answers of one domain, read along the algorithm's path."""

    def __init__(self, number: int, answers: Mapping[Any, Any], effect: str):
        if not isinstance(answers, Mapping):
            raise ArgumentError(f"answers must be a mapping of question id to answer, got "
                                f"{type(answers).__name__}")
        self.effect = effect
        valid = [q for q in ROB2_QUESTIONS[effect] if q.startswith(f"{number}.")]
        self.values: dict[str, str] = {}
        for key, value in answers.items():
            qid = str(key).strip()
            if qid not in valid:
                variant = f", effect of {effect}" if number == 2 else ""
                raise ArgumentError(f"question {qid!r} is not a question of RoB 2 domain "
                                    f"{number}{variant}: {', '.join(valid)}")
            if value is None:
                continue
            answer = str(value).strip().upper()
            options = _options(qid, effect)
            if answer not in options:
                raise ArgumentError(f"RoB 2 question {qid} ({ROB2_QUESTIONS[effect][qid]}): "
                                    f"answer {value!r} is not one of {', '.join(options)}")
            self.values[qid] = answer

    def __call__(self, qid: str, why: str = "") -> str:
        """The answer to a question the path reaches; ``why`` says what made it reached."""
        answer = self.values.get(qid)
        label = ROB2_QUESTIONS[self.effect][qid]
        reached = f" (asked because {why})" if why else ""
        if answer is None:
            raise _Missing(f"RoB 2 question {qid} ({label}) is needed{reached} and has no answer")
        if answer == "NA" and (self.effect, qid) not in _IF_APPLICABLE:
            options = [o for o in _options(qid, self.effect) if o != "NA"]
            raise ArgumentError(f"RoB 2 question {qid} ({label}) applies here{reached}, so 'NA' "
                                f"is not an answer; give {', '.join(options[:-1])} or "
                                f"{options[-1]}")
        return answer

    def given(self, qid: str) -> str | None:
        return self.values.get(qid)


def _either(ask: _Answers, first: str, second: str, hit: frozenset[str], why: str = "") -> bool:
    """True if either answer is in ``hit``; the other is not needed once one of them is."""
    for qid in (first, second):
        value = ask.given(qid)
        if value is not None and value != "NA" and value in hit:
            return True
    return ask(first, why) in hit or ask(second, why) in hit


_YNI = _Y | {"NI"}


def _d1(ask: _Answers) -> tuple[str, str]:
    concealed = ask("1.2")
    if concealed in _N:
        return "high", "1.2 concealment N/PN → high"
    if concealed == "NI":
        if ask("1.3", "1.2 is NI") in _Y:
            return "high", "1.2 concealment NI and 1.3 baseline imbalance Y/PY → high"
        return ("some concerns",
                "1.2 concealment NI and 1.3 baseline imbalance N/PN/NI → some concerns")
    if ask("1.1", "1.2 is Y/PY") in _N:
        return ("some concerns",
                "1.2 concealment Y/PY but 1.1 random sequence N/PN → some concerns")
    if ask("1.3", "1.2 is Y/PY") in _Y:
        return ("some concerns", "1.2 concealment Y/PY, 1.1 random sequence Y/PY/NI and 1.3 "
                "baseline imbalance Y/PY → some concerns")
    return "low", ("1.2 concealment Y/PY, 1.1 random sequence Y/PY/NI and 1.3 baseline imbalance "
                   "N/PN/NI → low")


def _d2_assignment(ask: _Answers) -> tuple[str, str]:
    aware = _either(ask, "2.1", "2.2", _YNI)
    if not aware:
        part1, text1 = "low", "2.1 and 2.2 awareness N/PN (part 1 low)"
    else:
        why = "2.1 or 2.2 is Y/PY/NI"
        context = ask("2.3", why)
        head = "2.1 or 2.2 awareness Y/PY/NI and 2.3 trial-context deviations"
        if context in _N:
            part1, text1 = "low", f"{head} N/PN (part 1 low)"
        elif context == "NI":
            part1, text1 = "some concerns", f"{head} NI (part 1 some concerns)"
        elif ask("2.4", "2.3 is Y/PY") in _N:
            part1, text1 = "some concerns", (f"{head} Y/PY, 2.4 affected outcome N/PN (part 1 "
                                             f"some concerns)")
        elif ask("2.5", "2.4 is Y/PY/NI") in _Y:
            part1, text1 = "some concerns", (f"{head} Y/PY, 2.4 affected outcome Y/PY/NI, 2.5 "
                                             f"balanced Y/PY (part 1 some concerns)")
        else:
            part1, text1 = "high", (f"{head} Y/PY, 2.4 affected outcome Y/PY/NI, 2.5 balanced "
                                    f"N/PN/NI (part 1 high)")
    if ask("2.6") in _Y:
        part2, text2 = "low", "2.6 appropriate analysis Y/PY (part 2 low)"
    elif ask("2.7", "2.6 is N/PN/NI") in _N:
        part2, text2 = "some concerns", ("2.6 appropriate analysis N/PN/NI, 2.7 substantial "
                                         "impact N/PN (part 2 some concerns)")
    else:
        part2, text2 = "high", ("2.6 appropriate analysis N/PN/NI, 2.7 substantial impact "
                                "Y/PY/NI (part 2 high)")
    parts = (part1, part2)
    judgement = ("high" if "high" in parts else "low" if parts == ("low", "low")
                 else "some concerns")
    return judgement, f"{text1}; {text2} → {judgement}"


def _d2_adhering(ask: _Answers) -> tuple[str, str]:
    aware = _either(ask, "2.1", "2.2", _YNI)
    if aware:
        head = "2.1 or 2.2 awareness Y/PY/NI"
        balanced = ask("2.3", "2.1 or 2.2 is Y/PY/NI")
        if balanced in _N | {"NI"}:
            head, why = f"{head}, 2.3 non-protocol interventions balanced N/PN/NI", "2.3 is N/PN/NI"
            return _d2_analysis(ask, head, why)
        head = f"{head}, 2.3 non-protocol interventions balanced NA/Y/PY"
    else:
        head = "2.1 and 2.2 awareness N/PN"
    if _either(ask, "2.4", "2.5", _YNI):
        return _d2_analysis(ask, f"{head}, 2.4 implementation failures or 2.5 non-adherence "
                                 f"Y/PY/NI", "2.4 or 2.5 is Y/PY/NI")
    return "low", f"{head}, 2.4 implementation failures and 2.5 non-adherence NA/N/PN → low"


def _d2_analysis(ask: _Answers, head: str, why: str) -> tuple[str, str]:
    if ask("2.6", why) in _Y:
        return "some concerns", f"{head} and 2.6 appropriate analysis Y/PY → some concerns"
    return "high", f"{head} and 2.6 appropriate analysis N/PN/NI → high"


def _d3(ask: _Answers) -> tuple[str, str]:
    if ask("3.1") in _Y:
        return "low", "3.1 data for (nearly) all Y/PY → low"
    head = "3.1 data for (nearly) all N/PN/NI"
    if ask("3.2", "3.1 is N/PN/NI") in _Y:
        return "low", f"{head} and 3.2 evidence of no bias Y/PY → low"
    head = f"{head}, 3.2 evidence of no bias N/PN"
    if ask("3.3", "3.2 is N/PN") in _N:
        return "low", f"{head} and 3.3 missingness could depend on true value N/PN → low"
    head = f"{head}, 3.3 missingness could depend on true value Y/PY/NI"
    if ask("3.4", "3.3 is Y/PY/NI") in _N:
        return "some concerns", f"{head} and 3.4 likely depended N/PN → some concerns"
    return "high", f"{head} and 3.4 likely depended Y/PY/NI → high"


def _d4(ask: _Answers) -> tuple[str, str]:
    if ask("4.1") in _Y:
        return "high", "4.1 method inappropriate Y/PY → high"
    differ = ask("4.2", "4.1 is N/PN/NI")
    if differ in _Y:
        return "high", ("4.1 method inappropriate N/PN/NI and 4.2 could differ between groups "
                        "Y/PY → high")
    # 4.2 N/PN: low where the assessment cannot have been influenced; 4.2 NI: some concerns there.
    best = "low" if differ in _N else "some concerns"
    head = f"4.1 method inappropriate N/PN/NI, 4.2 could differ {'N/PN' if best == 'low' else 'NI'}"
    if ask("4.3", "4.1 and 4.2 are N/PN/NI") in _N:
        return best, f"{head} and 4.3 assessors aware N/PN → {best}"
    head = f"{head}, 4.3 assessors aware Y/PY/NI"
    if ask("4.4", "4.3 is Y/PY/NI") in _N:
        return best, f"{head} and 4.4 could have been influenced N/PN → {best}"
    head = f"{head}, 4.4 could have been influenced Y/PY/NI"
    if ask("4.5", "4.4 is Y/PY/NI") in _N:
        return "some concerns", f"{head} and 4.5 likely influenced N/PN → some concerns"
    return "high", f"{head} and 4.5 likely influenced Y/PY/NI → high"


def _d5(ask: _Answers) -> tuple[str, str]:
    if _either(ask, "5.2", "5.3", _Y):
        return "high", "5.2 or 5.3 result selected from several measurements/analyses Y/PY → high"
    if "NI" in (ask("5.2"), ask("5.3")):
        return ("some concerns",
                "5.2 and 5.3 selection N/PN/NI with at least one NI → some concerns")
    head = "5.2 and 5.3 selection N/PN"
    if ask("5.1", "5.2 and 5.3 are N/PN") in _Y:
        return "low", f"{head} and 5.1 pre-specified plan Y/PY → low"
    return "some concerns", f"{head} and 5.1 pre-specified plan N/PN/NI → some concerns"


def rob2_rule(domain: int | str, answers: Mapping[str, str], *,
              effect: str = "assignment") -> tuple[str, str]:
    """The RoB 2 algorithm's judgement for one domain and the path that gave it.

    Parameters
    ----------
    domain : 1..5 or "D1".."D5"
    answers
        mapping of question id ("1.1", "1.2", ...) to "Y", "PY", "PN", "N", "NI" or "NA"
        (case-insensitive; None counts as not answered). Only questions of this domain (and, for
        domain 2, of this effect variant) are accepted.
    effect
        "assignment" (questions 2.1-2.7) or "adhering" (2.1-2.6); used by domain 2.

    Returns
    -------
    (judgement, rule) : judgement is "low", "some concerns" or "high"; rule is one sentence
        naming the answers of the path that fired.

    Raises
    ------
    ArgumentError
        naming the question, when an answer is not one of that question's options, when NA is
        given to a question the path reaches, or when a question the path needs has no answer.

    Notes
    -----
    The rules per domain, and where they needed interpretation, are in the module docstring
    (:mod:`evidence.certainty.rob2`).

    Examples
    --------
    >>> judgement, rule = rob2_rule(1, {"1.1": "NI", "1.2": "Y", "1.3": "PN"})
    >>> judgement
    'low'
    >>> rule
    '1.2 concealment Y/PY, 1.1 random sequence Y/PY/NI and 1.3 baseline imbalance N/PN/NI → low'
    >>> rob2_rule(2, {"2.1": "N", "2.2": "N", "2.4": "NA", "2.5": "PY", "2.6": "N"},
    ...           effect="adhering")[0]
    'high'
    """
    number = _domain_number(domain)
    effect = _check_effect(effect)
    ask = _Answers(number, answers, effect)
    algorithm = {1: _d1, 2: _d2_assignment if effect == "assignment" else _d2_adhering,
                 3: _d3, 4: _d4, 5: _d5}[number]
    return algorithm(ask)


def rob2_domain(domain: int | str, answers: Mapping[str, str], *,
                effect: str = "assignment") -> str:
    """The RoB 2 algorithm's judgement for one domain: "low", "some concerns" or "high".

    Same arguments and errors as :func:`rob2_rule`, of which this is the judgement alone.

    Examples
    --------
    >>> rob2_domain("D3", {"3.1": "N", "3.2": "N", "3.3": "Y", "3.4": "PN"})
    'some concerns'
    >>> rob2_domain(4, {"4.1": "N", "4.2": "NI", "4.3": "N"})
    'some concerns'
    """
    return rob2_rule(domain, answers, effect=effect)[0]


# ----------------------------------------------------------------------------------------------
# Assessments: the algorithm's and the reviewer's judgements side by side.

_DOMAIN_NAMES = {"rob2": ROB2_DOMAINS, "robins-i": ROBINS_I_DOMAINS,
                 "robins-i-v2": ROBINS_I_V2_DOMAINS}


@dataclass(frozen=True)
class DomainAssessment:
    """One domain of a :class:`RobAssessment`.

    Attributes
    ----------
    domain
        domain id, "D1", "D2", ... (for the "custom" tool, the key as given)
    name
        the domain's name (ROB2_DOMAINS, ROBINS_I_DOMAINS, ROBINS_I_V2_DOMAINS; for "custom"
        the id)
    algorithm
        the RoB 2 algorithm's judgement from the signalling answers, or None when the
        tool has no algorithm here or an answer the path needs is missing
    reviewer
        the reviewer's judgement as given (lower case), or None
    judgement
        the judgement used: the reviewer's when given, else the algorithm's, else
        "not assessed"
    conflict
        True when both the algorithm's and the reviewer's judgements exist and differ
    rule
        the sentence of the algorithm's path that fired (None when ``algorithm`` is None)
    """

    domain: str
    name: str
    algorithm: str | None
    reviewer: str | None
    judgement: str
    conflict: bool
    rule: str | None


@dataclass(frozen=True)
class RobAssessment:
    """A risk-of-bias assessment of one result: per-domain and overall judgements.

    Attributes
    ----------
    tool
        "rob2", "robins-i", "robins-i-v2" or "custom"
    effect
        the RoB 2 domain-2 variant used, "assignment" or "adhering"
    domains
        one :class:`DomainAssessment` per domain, in the tool's order
    overall_algorithm
        ``rob_overall`` of the domain judgements used, when every domain has one
        (None otherwise, and always for "custom")
    overall_reviewer
        the reviewer's overall judgement, or None
    overall
        the overall judgement used: the reviewer's when given, else the algorithm's, else
        "not assessed"
    overall_conflict
        True when the reviewer's and the algorithm's overall judgements differ and
        the difference is not an accepted RoB 2 override
    override_reason
        the reviewer's stated reason for departing from the overall rule, or None
    conflicts
        one sentence per disagreement, naming the domain (or "overall") and both
        judgements
    """

    tool: str
    effect: str
    domains: tuple[DomainAssessment, ...]
    overall_algorithm: str | None
    overall_reviewer: str | None
    overall: str
    overall_conflict: bool
    override_reason: str | None
    conflicts: tuple[str, ...]

    def to_frame(self):
        """One row per domain plus an "Overall" row: domain, name, algorithm, reviewer,
        judgement, conflict, rule (for Overall: the reason of an accepted override)."""
        import pandas as pd

        rows = [(d.domain, d.name, d.algorithm, d.reviewer, d.judgement, d.conflict, d.rule)
                for d in self.domains]
        overridden = (self.override_reason is not None and not self.overall_conflict
                      and self.overall_reviewer == "high"
                      and self.overall_algorithm == "some concerns")
        rows.append(("Overall", "overall", self.overall_algorithm, self.overall_reviewer,
                     self.overall, self.overall_conflict,
                     f"reviewer's override of some concerns to high: {self.override_reason}"
                     if overridden else None))
        return pd.DataFrame(rows, columns=["domain", "name", "algorithm", "reviewer",
                                           "judgement", "conflict", "rule"])


def _split_signalling(signalling: Mapping[Any, Any]) -> dict[int, dict[str, Any]]:
    if not isinstance(signalling, Mapping):
        raise ArgumentError(f"signalling must be a mapping of question id to answer, got "
                            f"{type(signalling).__name__}")
    by_domain: dict[int, dict[str, Any]] = {}
    for key, value in signalling.items():
        qid = str(key).strip()
        head = qid.split(".")[0]
        if not head.isdigit() or int(head) not in range(1, 6) or "." not in qid:
            raise ArgumentError(f"signalling question {qid!r} is not a RoB 2 question id "
                                f"('1.1' ... '5.3')")
        by_domain.setdefault(int(head), {})[qid] = value
    return by_domain


def _reviewer_domains(tool: str, domains: Mapping[Any, Any] | None) -> dict[str, str]:
    if domains is None:
        return {}
    if not isinstance(domains, Mapping):
        raise ArgumentError(f"domains must be a mapping of domain id to judgement, got "
                            f"{type(domains).__name__}")
    out: dict[str, str] = {}
    if tool == "custom":
        for key, value in domains.items():
            label = "" if value is None else str(value).strip()
            if not label:
                raise ArgumentError(f"custom domain {key!r}: judgement must be a non-empty label")
            out[str(key).strip()] = label
        return out
    n = len(_DOMAIN_NAMES[tool])
    valid = [f"D{i}" for i in range(1, n + 1)]
    for key, value in domains.items():
        did = str(key).strip().upper()
        if did not in valid:
            raise ArgumentError(f"domain {key!r} is not a domain of {tool}: {', '.join(valid)}")
        if value is None:
            continue
        out[did] = _label(value, tool)
    return out


def assess_rob(tool: str, *, signalling: Mapping[str, str] | None = None,
               domains: Mapping[str, str] | None = None, overall: str | None = None,
               override_reason: str | None = None,
               effect: str = "assignment") -> RobAssessment:
    """Put the algorithm's and the reviewer's risk-of-bias judgements side by side.

    Parameters
    ----------
    tool
        "rob2", "robins-i", "robins-i-v2" or "custom" (see ``TOOLS``)
    signalling
        RoB 2 only: flat mapping of question id ("1.1" ... "5.3") to answer; the
        leading number is the domain. A domain whose needed answers are all given gets the
        algorithm's judgement (:func:`rob2_rule`); an incomplete one gets None. Invalid answers
        raise.
    domains
        mapping "D1".."Dn" -> the reviewer's judgement label (for "custom": any ids and any
        non-empty labels, used as typed).
    overall
        the reviewer's overall judgement, or None.
    override_reason
        why the reviewer's overall departs from the rule. For RoB 2, a reviewer's
        overall "high" where the rule gives "some concerns" is an accepted override only with a
        non-empty reason; without one it is a conflict.
    effect
        RoB 2 domain-2 variant, "assignment" or "adhering".

    Returns
    -------
    RobAssessment
        The reviewer's judgements are reported and used, never overwritten; each disagreement
        with the algorithm is flagged in ``conflict`` and described in ``conflicts``.

    Notes
    -----
    The overall algorithm judgement is :func:`~evidence.certainty.rob.rob_overall` over the
    judgements used per domain (the reviewer's where given), and exists only when no domain is
    "not assessed". ROBINS-I and ROBINS-I V2 have no signalling algorithms here: their domain
    judgements are the reviewer's. For "custom" nothing is computed.

    Examples
    --------
    >>> a = assess_rob("rob2", signalling={"1.1": "Y", "1.2": "Y", "1.3": "N"},
    ...                domains={"D1": "some concerns", "D2": "low", "D3": "low", "D4": "low",
    ...                         "D5": "low"})
    >>> a.domains[0].algorithm, a.domains[0].judgement, a.domains[0].conflict
    ('low', 'some concerns', True)
    >>> a.overall
    'some concerns'
    >>> assess_rob("rob2", domains={f"D{i}": "some concerns" for i in range(1, 6)},
    ...            overall="high", override_reason="concerns in every domain").overall_conflict
    False
    """
    if tool not in TOOLS:
        raise ArgumentError(f"tool {tool!r} is not one of {', '.join(TOOLS)}")
    effect = _check_effect(effect)
    if signalling is not None and tool != "rob2":
        raise ArgumentError(f"signalling answers are read by the RoB 2 algorithms only; tool "
                            f"{tool!r} takes the reviewer's domain judgements (domains=...)")
    if override_reason is not None and not isinstance(override_reason, str):
        raise ArgumentError(f"override_reason must be text, got {type(override_reason).__name__}")
    reason = override_reason.strip() if override_reason else None
    reason = reason or None
    reviewer = _reviewer_domains(tool, domains)

    if tool == "custom":
        if overall is not None and not str(overall).strip():
            raise ArgumentError("custom overall judgement must be a non-empty label")
        rows = tuple(DomainAssessment(d, d, None, label, label, False, None)
                     for d, label in reviewer.items())
        given = None if overall is None else str(overall).strip()
        return RobAssessment(tool, effect, rows, None, given, given or NOT_ASSESSED, False,
                             reason, ())

    answers = _split_signalling(signalling) if signalling is not None else {}
    rows_list, conflicts = [], []
    for i, name in enumerate(_DOMAIN_NAMES[tool], start=1):
        did = f"D{i}"
        algorithm = rule = None
        if tool == "rob2" and i in answers:
            try:
                algorithm, rule = rob2_rule(i, answers[i], effect=effect)
            except _Missing:
                algorithm = rule = None
        mine = reviewer.get(did)
        conflict = algorithm is not None and mine is not None and mine != algorithm
        if conflict:
            conflicts.append(f"{did} ({name}): the reviewer's judgement {mine!r} differs from "
                             f"the algorithm's {algorithm!r} ({rule})")
        used = mine or algorithm or NOT_ASSESSED
        rows_list.append(DomainAssessment(did, name, algorithm, mine, used, conflict, rule))
    rows = tuple(rows_list)

    used_all = [d.judgement for d in rows]
    overall_algorithm = (rob_overall(tool, used_all) if NOT_ASSESSED not in used_all else None)
    overall_reviewer = None if overall is None else _label(overall, tool)
    overall_conflict = False
    if overall_reviewer is not None and overall_algorithm is not None \
            and overall_reviewer != overall_algorithm:
        override = (tool == "rob2" and overall_reviewer == "high"
                    and overall_algorithm == "some concerns")
        if override and reason:
            pass  # RoB 2's recorded override: reported with its reason, not a conflict
        else:
            overall_conflict = True
            tail = (" (raising some concerns to high is an override and needs an "
                    "override_reason)" if override else "")
            conflicts.append(f"overall: the reviewer's judgement {overall_reviewer!r} differs "
                             f"from the rule's {overall_algorithm!r}{tail}")
    used_overall = overall_reviewer or overall_algorithm or NOT_ASSESSED
    return RobAssessment(tool, effect, rows, overall_algorithm, overall_reviewer, used_overall,
                         overall_conflict, reason, tuple(conflicts))
