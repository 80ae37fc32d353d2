"""RoB 2 domain algorithms (signalling answers -> judgement) and assess_rob.

Oracle: the algorithm figures of the RoB 2 template for individually randomised parallel-group
trials, 22 August 2019 (riskofbias.info; Sterne et al. BMJ 2019;366:l4898), read as a text copy
(github.com/InfinityBowman/corates, ROB2Checklist/scoring/decision-diagrams). Each table below
states the rule of one path as a flat condition on the answers, written from the figure and not
from the implementation. Every combination of each question's response options (as the template
lists them: Y/PY/PN/N/NI, plus NA for conditional questions, and no NI for 3.2) is enumerated;
the tables are first checked to cover each combination exactly once, then the implementation is
checked path by path (one test id per path). "error" paths are where the template's condition
for a question holds but the answer is NA: the question applies, so NA is refused.
"""

import dataclasses
import itertools
from functools import lru_cache

import pytest

import evidence as ev
from evidence.certainty import ROBINS_I_V2_DOMAINS

Y, N = frozenset({"Y", "PY"}), frozenset({"N", "PN"})
YNI, NNI = Y | {"NI"}, N | {"NI"}
BASE = ("Y", "PY", "PN", "N", "NI")
WITH_NA = BASE + ("NA",)
NO_NI = ("NA", "Y", "PY", "PN", "N")  # 3.2 has no "No information" option
LOW, SC, HIGH = "low", "some concerns", "high"


def error(question):
    return ("error", question)


def aware(a):
    return a["2.1"] in YNI or a["2.2"] in YNI


def unaware(a):
    return a["2.1"] in N and a["2.2"] in N


# Domain 1: (path, condition, expected)
D1 = [
    ("1.2 N/PN -> high", lambda a: a["1.2"] in N, HIGH),
    ("1.2 NI, 1.3 Y/PY -> high", lambda a: a["1.2"] == "NI" and a["1.3"] in Y, HIGH),
    ("1.2 NI, 1.3 N/PN/NI -> some concerns", lambda a: a["1.2"] == "NI" and a["1.3"] in NNI, SC),
    ("1.2 Y/PY, 1.1 N/PN -> some concerns", lambda a: a["1.2"] in Y and a["1.1"] in N, SC),
    ("1.2 Y/PY, 1.1 Y/PY/NI, 1.3 Y/PY -> some concerns",
     lambda a: a["1.2"] in Y and a["1.1"] in YNI and a["1.3"] in Y, SC),
    ("1.2 Y/PY, 1.1 Y/PY/NI, 1.3 N/PN/NI -> low",
     lambda a: a["1.2"] in Y and a["1.1"] in YNI and a["1.3"] in NNI, LOW),
]

# Domain 2, effect of assignment, part 1 (2.1-2.5) and part 2 (2.6-2.7).
D2A_PART1 = [
    ("2.1 and 2.2 N/PN -> low", unaware, LOW),
    ("aware, 2.3 NA -> error", lambda a: aware(a) and a["2.3"] == "NA", error("2.3")),
    ("aware, 2.3 N/PN -> low", lambda a: aware(a) and a["2.3"] in N, LOW),
    ("aware, 2.3 NI -> some concerns", lambda a: aware(a) and a["2.3"] == "NI", SC),
    ("aware, 2.3 Y/PY, 2.4 NA -> error",
     lambda a: aware(a) and a["2.3"] in Y and a["2.4"] == "NA", error("2.4")),
    ("aware, 2.3 Y/PY, 2.4 N/PN -> some concerns",
     lambda a: aware(a) and a["2.3"] in Y and a["2.4"] in N, SC),
    ("aware, 2.3 Y/PY, 2.4 Y/PY/NI, 2.5 NA -> error",
     lambda a: aware(a) and a["2.3"] in Y and a["2.4"] in YNI and a["2.5"] == "NA", error("2.5")),
    ("aware, 2.3 Y/PY, 2.4 Y/PY/NI, 2.5 Y/PY -> some concerns",
     lambda a: aware(a) and a["2.3"] in Y and a["2.4"] in YNI and a["2.5"] in Y, SC),
    ("aware, 2.3 Y/PY, 2.4 Y/PY/NI, 2.5 N/PN/NI -> high",
     lambda a: aware(a) and a["2.3"] in Y and a["2.4"] in YNI and a["2.5"] in NNI, HIGH),
]
D2A_PART2 = [
    ("2.6 Y/PY -> low", lambda a: a["2.6"] in Y, LOW),
    ("2.6 N/PN/NI, 2.7 NA -> error", lambda a: a["2.6"] in NNI and a["2.7"] == "NA", error("2.7")),
    ("2.6 N/PN/NI, 2.7 N/PN -> some concerns", lambda a: a["2.6"] in NNI and a["2.7"] in N, SC),
    ("2.6 N/PN/NI, 2.7 Y/PY/NI -> high", lambda a: a["2.6"] in NNI and a["2.7"] in YNI, HIGH),
]


def combine_parts(part1, part2):
    """Domain 2 (assignment): an error in either part; else high if either part is high, low if
    both are low, otherwise some concerns."""
    for part in (part1, part2):
        if isinstance(part, tuple):
            return part
    if HIGH in (part1, part2):
        return HIGH
    return LOW if (part1, part2) == (LOW, LOW) else SC


def _d2_ok(a):  # 2.3 passed: participants/carers unaware, or non-protocol interventions balanced
    return unaware(a) or (aware(a) and a["2.3"] in {"NA", "Y", "PY"})


def _d2_problem(a):  # 2.4 or 2.5 Y/PY/NI
    return a["2.4"] in YNI or a["2.5"] in YNI


# Domain 2, effect of adhering (2.1-2.6).
D2B = [
    ("aware, 2.3 N/PN/NI, 2.6 NA -> error",
     lambda a: aware(a) and a["2.3"] in NNI and a["2.6"] == "NA", error("2.6")),
    ("aware, 2.3 N/PN/NI, 2.6 Y/PY -> some concerns",
     lambda a: aware(a) and a["2.3"] in NNI and a["2.6"] in Y, SC),
    ("aware, 2.3 N/PN/NI, 2.6 N/PN/NI -> high",
     lambda a: aware(a) and a["2.3"] in NNI and a["2.6"] in NNI, HIGH),
    ("unaware, 2.4 and 2.5 NA/N/PN -> low",
     lambda a: unaware(a) and not _d2_problem(a), LOW),
    ("unaware, 2.4 or 2.5 Y/PY/NI, 2.6 NA -> error",
     lambda a: unaware(a) and _d2_problem(a) and a["2.6"] == "NA", error("2.6")),
    ("unaware, 2.4 or 2.5 Y/PY/NI, 2.6 Y/PY -> some concerns",
     lambda a: unaware(a) and _d2_problem(a) and a["2.6"] in Y, SC),
    ("unaware, 2.4 or 2.5 Y/PY/NI, 2.6 N/PN/NI -> high",
     lambda a: unaware(a) and _d2_problem(a) and a["2.6"] in NNI, HIGH),
    ("aware, 2.3 NA/Y/PY, 2.4 and 2.5 NA/N/PN -> low",
     lambda a: aware(a) and _d2_ok(a) and not _d2_problem(a), LOW),
    ("aware, 2.3 NA/Y/PY, 2.4 or 2.5 Y/PY/NI, 2.6 NA -> error",
     lambda a: aware(a) and _d2_ok(a) and _d2_problem(a) and a["2.6"] == "NA", error("2.6")),
    ("aware, 2.3 NA/Y/PY, 2.4 or 2.5 Y/PY/NI, 2.6 Y/PY -> some concerns",
     lambda a: aware(a) and _d2_ok(a) and _d2_problem(a) and a["2.6"] in Y, SC),
    ("aware, 2.3 NA/Y/PY, 2.4 or 2.5 Y/PY/NI, 2.6 N/PN/NI -> high",
     lambda a: aware(a) and _d2_ok(a) and _d2_problem(a) and a["2.6"] in NNI, HIGH),
]

# Domain 3.
D3 = [
    ("3.1 Y/PY -> low", lambda a: a["3.1"] in Y, LOW),
    ("3.1 N/PN/NI, 3.2 NA -> error", lambda a: a["3.1"] in NNI and a["3.2"] == "NA", error("3.2")),
    ("3.1 N/PN/NI, 3.2 Y/PY -> low", lambda a: a["3.1"] in NNI and a["3.2"] in Y, LOW),
    ("3.1 N/PN/NI, 3.2 N/PN, 3.3 NA -> error",
     lambda a: a["3.1"] in NNI and a["3.2"] in N and a["3.3"] == "NA", error("3.3")),
    ("3.1 N/PN/NI, 3.2 N/PN, 3.3 N/PN -> low",
     lambda a: a["3.1"] in NNI and a["3.2"] in N and a["3.3"] in N, LOW),
    ("3.1 N/PN/NI, 3.2 N/PN, 3.3 Y/PY/NI, 3.4 NA -> error",
     lambda a: a["3.1"] in NNI and a["3.2"] in N and a["3.3"] in YNI and a["3.4"] == "NA",
     error("3.4")),
    ("3.1 N/PN/NI, 3.2 N/PN, 3.3 Y/PY/NI, 3.4 N/PN -> some concerns",
     lambda a: a["3.1"] in NNI and a["3.2"] in N and a["3.3"] in YNI and a["3.4"] in N, SC),
    ("3.1 N/PN/NI, 3.2 N/PN, 3.3 Y/PY/NI, 3.4 Y/PY/NI -> high",
     lambda a: a["3.1"] in NNI and a["3.2"] in N and a["3.3"] in YNI and a["3.4"] in YNI, HIGH),
]


# Domain 4: 4.2 N/PN leads to low where the assessment could not have been (or was not)
# influenced; 4.2 NI leads to some concerns there. Both branches end in high at 4.5 Y/PY/NI.
def _d4_branch(label, answers, best):
    def on(a):
        return a["4.1"] in NNI and a["4.2"] in answers
    return [
        (f"4.2 {label}, 4.3 NA -> error", lambda a: on(a) and a["4.3"] == "NA", error("4.3")),
        (f"4.2 {label}, 4.3 N/PN -> {best}", lambda a: on(a) and a["4.3"] in N, best),
        (f"4.2 {label}, 4.3 Y/PY/NI, 4.4 NA -> error",
         lambda a: on(a) and a["4.3"] in YNI and a["4.4"] == "NA", error("4.4")),
        (f"4.2 {label}, 4.3 Y/PY/NI, 4.4 N/PN -> {best}",
         lambda a: on(a) and a["4.3"] in YNI and a["4.4"] in N, best),
        (f"4.2 {label}, 4.3 Y/PY/NI, 4.4 Y/PY/NI, 4.5 NA -> error",
         lambda a: on(a) and a["4.3"] in YNI and a["4.4"] in YNI and a["4.5"] == "NA",
         error("4.5")),
        (f"4.2 {label}, 4.3 Y/PY/NI, 4.4 Y/PY/NI, 4.5 N/PN -> some concerns",
         lambda a: on(a) and a["4.3"] in YNI and a["4.4"] in YNI and a["4.5"] in N, SC),
        (f"4.2 {label}, 4.3 Y/PY/NI, 4.4 Y/PY/NI, 4.5 Y/PY/NI -> high",
         lambda a: on(a) and a["4.3"] in YNI and a["4.4"] in YNI and a["4.5"] in YNI, HIGH),
    ]


D4 = [
    ("4.1 Y/PY -> high", lambda a: a["4.1"] in Y, HIGH),
    ("4.1 N/PN/NI, 4.2 Y/PY -> high", lambda a: a["4.1"] in NNI and a["4.2"] in Y, HIGH),
    *_d4_branch("N/PN", N, LOW),
    *_d4_branch("NI", {"NI"}, SC),
]

# Domain 5.
D5 = [
    ("5.2 or 5.3 Y/PY -> high", lambda a: a["5.2"] in Y or a["5.3"] in Y, HIGH),
    ("5.2 and 5.3 N/PN/NI with at least one NI -> some concerns",
     lambda a: a["5.2"] in NNI and a["5.3"] in NNI and "NI" in (a["5.2"], a["5.3"]), SC),
    ("5.2 and 5.3 N/PN, 5.1 Y/PY -> low",
     lambda a: a["5.2"] in N and a["5.3"] in N and a["5.1"] in Y, LOW),
    ("5.2 and 5.3 N/PN, 5.1 N/PN/NI -> some concerns",
     lambda a: a["5.2"] in N and a["5.3"] in N and a["5.1"] in NNI, SC),
]

# Response options per question, as the template lists them.
OPTIONS = {
    "1.1": BASE, "1.2": BASE, "1.3": BASE,
    "2.1": BASE, "2.2": BASE,
    "3.1": BASE, "3.2": NO_NI, "3.3": WITH_NA, "3.4": WITH_NA,
    "4.1": BASE, "4.2": BASE, "4.3": WITH_NA, "4.4": WITH_NA, "4.5": WITH_NA,
    "5.1": BASE, "5.2": BASE, "5.3": BASE,
}
OPTIONS_ASSIGNMENT = {**OPTIONS, "2.3": WITH_NA, "2.4": WITH_NA, "2.5": WITH_NA, "2.6": BASE,
                      "2.7": WITH_NA}
OPTIONS_ADHERING = {**OPTIONS, "2.3": WITH_NA, "2.4": WITH_NA, "2.5": WITH_NA, "2.6": WITH_NA}

# (case id, domain, effect, questions, options)
CASES = {
    "D1": (1, "assignment", ("1.1", "1.2", "1.3"), OPTIONS),
    "D2-assignment": (2, "assignment", ("2.1", "2.2", "2.3", "2.4", "2.5", "2.6", "2.7"),
                      OPTIONS_ASSIGNMENT),
    "D2-adhering": (2, "adhering", ("2.1", "2.2", "2.3", "2.4", "2.5", "2.6"), OPTIONS_ADHERING),
    "D3": (3, "assignment", ("3.1", "3.2", "3.3", "3.4"), OPTIONS),
    "D4": (4, "assignment", ("4.1", "4.2", "4.3", "4.4", "4.5"), OPTIONS),
    "D5": (5, "assignment", ("5.1", "5.2", "5.3"), OPTIONS),
}
TABLES = {"D1": D1, "D2-adhering": D2B, "D3": D3, "D4": D4, "D5": D5}


def _combos(case):
    _, _, questions, options = CASES[case]
    for values in itertools.product(*(options[q] for q in questions)):
        yield dict(zip(questions, values))


def _only(table, a):
    hits = [(path, want) for path, cond, want in table if cond(a)]
    assert len(hits) == 1, f"{len(hits)} paths match {a}: {[p for p, _ in hits]}"
    return hits[0]


@lru_cache(maxsize=None)
def _grouped(case):
    """Every combination of answers, grouped by the one path (table row) it follows."""
    groups = {}
    for a in _combos(case):
        if case == "D2-assignment":
            p1, w1 = _only(D2A_PART1, a)
            p2, w2 = _only(D2A_PART2, a)
            path, want = f"{p1} | {p2}", combine_parts(w1, w2)
        else:
            path, want = _only(TABLES[case], a)
        groups.setdefault(path, (want, []))[1].append(a)
    return groups


def _paths(case):
    if case == "D2-assignment":
        return [f"{p1} | {p2}" for p1, _, _ in D2A_PART1 for p2, _, _ in D2A_PART2]
    return [path for path, _, _ in TABLES[case]]


PATH_PARAMS = [pytest.param(case, path, id=f"{case}: {path}")
               for case in CASES for path in _paths(case)]


@pytest.mark.parametrize("case", list(CASES))
def test_tables_cover_every_combination_once(case):
    groups = _grouped(case)  # _only asserts exactly one path per combination
    _, _, questions, options = CASES[case]
    total = 1
    for q in questions:
        total *= len(options[q])
    assert sum(len(g[1]) for g in groups.values()) == total
    unreached = [p for p in _paths(case) if p not in groups]
    assert not unreached, f"paths no combination reaches: {unreached}"


@pytest.mark.parametrize("case, path", PATH_PARAMS)
def test_path(case, path):
    domain, effect, _, _ = CASES[case]
    want, combos = _grouped(case)[path]
    for a in combos:
        if isinstance(want, tuple):
            with pytest.raises(ev.ArgumentError, match=rf"question {want[1]} .*'NA'") as err:
                ev.rob2_domain(domain, a, effect=effect)
            assert err.type is ev.ArgumentError, a
        else:
            got = ev.rob2_domain(domain, a, effect=effect)
            assert got == want, f"{case} {a}: got {got!r}, expected {want!r} ({path})"


@pytest.mark.parametrize("case", list(CASES))
def test_rule_sentence_matches_judgement(case):
    domain, effect, _, _ = CASES[case]
    for want, combos in _grouped(case).values():
        if isinstance(want, tuple):
            continue
        for a in combos[:50]:
            judgement, rule = ev.rob2_rule(domain, a, effect=effect)
            assert rule.endswith(f"→ {judgement}"), (a, rule)
            assert f"{domain}." in rule


def test_answers_are_case_insensitive_and_accept_domain_labels():
    a = {"1.1": "py", "1.2": " Y ", "1.3": "ni"}
    assert ev.rob2_domain("d1", a) == ev.rob2_domain(1, a) == ev.rob2_domain("D1", a) == LOW


def test_example_rule_sentence():
    judgement, rule = ev.rob2_rule(1, {"1.1": "Y", "1.2": "Y", "1.3": "N"})
    assert judgement == LOW
    assert rule == ("1.2 concealment Y/PY, 1.1 random sequence Y/PY/NI and 1.3 baseline "
                    "imbalance N/PN/NI → low")


# Answers the path does not need may be left out; those it needs may not.
@pytest.mark.parametrize("domain, effect, answers, want", [
    (1, "assignment", {"1.2": "N"}, HIGH),
    (1, "assignment", {"1.2": "PY", "1.1": "PN"}, SC),
    (2, "assignment", {"2.1": "Y", "2.3": "N", "2.6": "Y"}, LOW),
    (2, "assignment", {"2.2": "NI", "2.3": "NI", "2.6": "PY"}, SC),
    (2, "adhering", {"2.1": "N", "2.2": "N", "2.4": "Y", "2.6": "N"}, HIGH),
    (2, "adhering", {"2.1": "Y", "2.3": "PN", "2.6": "Y"}, SC),
    (3, "assignment", {"3.1": "Y"}, LOW),
    (4, "assignment", {"4.1": "PY"}, HIGH),
    (5, "assignment", {"5.3": "PY"}, HIGH),
])
def test_only_needed_answers_are_required(domain, effect, answers, want):
    assert ev.rob2_domain(domain, answers, effect=effect) == want


@pytest.mark.parametrize("domain, effect, answers, missing", [
    (1, "assignment", {"1.2": "Y", "1.3": "N"}, "1.1"),
    (1, "assignment", {"1.2": "NI"}, "1.3"),
    (2, "assignment", {"2.1": "N", "2.6": "Y"}, "2.2"),
    (2, "assignment", {"2.1": "Y", "2.2": "Y", "2.3": "Y", "2.6": "Y"}, "2.4"),
    (2, "assignment", {"2.1": "N", "2.2": "N"}, "2.6"),
    (2, "adhering", {"2.1": "N", "2.2": "N", "2.4": "N"}, "2.5"),
    (2, "adhering", {"2.1": "Y", "2.2": "N"}, "2.3"),
    (3, "assignment", {"3.1": "N"}, "3.2"),
    (4, "assignment", {"4.1": "N", "4.2": "N", "4.3": "Y"}, "4.4"),
    (5, "assignment", {"5.2": "N", "5.3": "N"}, "5.1"),
])
def test_missing_needed_answer_is_named(domain, effect, answers, missing):
    with pytest.raises(ev.ArgumentError, match=rf"question {missing} .* no answer"):
        ev.rob2_rule(domain, answers, effect=effect)


def test_bad_input_is_named():
    with pytest.raises(ev.ArgumentError, match=r"question 1\.1 .*'maybe' is not one of Y, PY"):
        ev.rob2_domain(1, {"1.1": "maybe", "1.2": "Y", "1.3": "N"})
    with pytest.raises(ev.ArgumentError, match=r"question 1\.1 .*'NA' is not one of"):
        ev.rob2_domain(1, {"1.1": "NA", "1.2": "Y", "1.3": "N"})
    with pytest.raises(ev.ArgumentError, match=r"question 3\.2 .*'NI' is not one of NA, Y, PY"):
        ev.rob2_domain(3, {"3.1": "N", "3.2": "NI"})
    with pytest.raises(ev.ArgumentError, match=r"'1\.4' is not a question of RoB 2 domain 1"):
        ev.rob2_domain(1, {"1.4": "Y"})
    with pytest.raises(ev.ArgumentError, match=r"'2\.7' is not a question .* effect of adhering"):
        ev.rob2_domain(2, {"2.7": "Y"}, effect="adhering")
    with pytest.raises(ev.ArgumentError, match=r"'3\.1' is not a question of RoB 2 domain 1"):
        ev.rob2_domain(1, {"3.1": "Y"})
    for bad in (0, 6, "D6", "x", True):
        with pytest.raises(ev.ArgumentError, match="is not one of 1, 2, 3, 4, 5"):
            ev.rob2_domain(bad, {})
    with pytest.raises(ev.ArgumentError, match="effect 'itt' is not one of assignment, adhering"):
        ev.rob2_domain(2, {}, effect="itt")
    with pytest.raises(ev.ArgumentError, match="answers must be a mapping"):
        ev.rob2_domain(1, ["Y", "Y", "N"])


def test_questions_per_effect():
    a, b = ev.ROB2_QUESTIONS["assignment"], ev.ROB2_QUESTIONS["adhering"]
    assert set(ev.ROB2_QUESTIONS) == {"assignment", "adhering"}
    assert list(a)[:3] == ["1.1", "1.2", "1.3"] and list(a)[-1] == "5.3"
    assert set(a) - set(b) == {"2.7"} and set(b) <= set(a)
    assert all(a[q] == b[q] for q in b if not q.startswith("2.") or q in ("2.1", "2.2"))
    assert all(a[q] != b[q] for q in ("2.3", "2.4", "2.5", "2.6"))
    assert all(isinstance(v, str) and v for v in a.values())
    assert len(a) == 3 + 7 + 4 + 5 + 3
    with pytest.raises(TypeError):
        a["1.1"] = "changed"


# ROBINS-I overall rule, all combinations over three domains (the rest low): critical if any
# domain is critical; else serious if any is serious; else "no information" if any domain lacks
# information; else moderate if any is moderate; else low.
ROBINS_SCALE = ("low", "moderate", "serious", "critical", "no information")


def robins_rule(labels):
    for level in ("critical", "serious", "no information", "moderate"):
        if level in labels:
            return level
    return "low"


@pytest.mark.parametrize("tool, n_domains", [("robins-i", 7), ("robins-i-v2", 6)])
def test_robins_overall_truth_table(tool, n_domains):
    for combo in itertools.product(ROBINS_SCALE, repeat=3):
        labels = combo + ("low",) * (n_domains - 3)
        assert ev.rob_overall(tool, labels) == robins_rule(combo), combo
        got = ev.assess_rob(tool, domains={f"D{i + 1}": v for i, v in enumerate(labels)})
        assert got.overall_algorithm == got.overall == robins_rule(combo), combo


def test_robins_i_v2_domains():
    assert ROBINS_I_V2_DOMAINS == (
        "confounding", "classification of interventions",
        "selection of participants into the study", "missing data",
        "measurement of the outcome", "selection of the reported result")


# assess_rob
LOW_ANSWERS = {"1.1": "Y", "1.2": "Y", "1.3": "N", "2.1": "N", "2.2": "N", "2.6": "Y",
               "3.1": "Y", "4.1": "N", "4.2": "N", "4.3": "N", "5.1": "Y", "5.2": "N",
               "5.3": "N"}


def test_signalling_alone_gives_the_algorithm():
    a = ev.assess_rob("rob2", signalling={**LOW_ANSWERS, "3.1": "N", "3.2": "N", "3.3": "Y",
                                          "3.4": "N"})
    assert [d.algorithm for d in a.domains] == [LOW, LOW, SC, LOW, LOW]
    assert [d.judgement for d in a.domains] == [LOW, LOW, SC, LOW, LOW]
    assert [d.reviewer for d in a.domains] == [None] * 5
    assert a.overall_algorithm == a.overall == SC and a.overall_reviewer is None
    assert not a.conflicts and not any(d.conflict for d in a.domains)
    assert a.domains[2].rule.endswith("→ some concerns")
    assert [d.domain for d in a.domains] == ["D1", "D2", "D3", "D4", "D5"]
    assert a.domains[1].name == "deviations from intended interventions"


def test_reviewer_conflict_is_reported_not_overwritten():
    a = ev.assess_rob("rob2", signalling=LOW_ANSWERS, domains={"D1": "High", "D2": "low"})
    d1, d2 = a.domains[:2]
    assert (d1.algorithm, d1.reviewer, d1.judgement, d1.conflict) == (LOW, HIGH, HIGH, True)
    assert (d2.algorithm, d2.reviewer, d2.judgement, d2.conflict) == (LOW, LOW, LOW, False)
    assert len(a.conflicts) == 1
    assert "D1" in a.conflicts[0] and "'high'" in a.conflicts[0] and "'low'" in a.conflicts[0]
    assert a.overall_algorithm == HIGH and a.overall == HIGH  # from the judgements used


def test_override_with_and_without_reason():
    concerns = {f"D{i}": "some concerns" for i in range(1, 6)}
    ok = ev.assess_rob("rob2", domains=concerns, overall="high",
                       override_reason="some concerns in every domain")
    assert (ok.overall_algorithm, ok.overall_reviewer, ok.overall) == (SC, HIGH, HIGH)
    assert not ok.overall_conflict and not ok.conflicts
    assert ok.override_reason == "some concerns in every domain"
    assert "some concerns in every domain" in ok.to_frame().iloc[-1]["rule"]
    for reason in (None, "", "   "):
        bad = ev.assess_rob("rob2", domains=concerns, overall="high", override_reason=reason)
        assert bad.overall == HIGH and bad.overall_conflict
        assert len(bad.conflicts) == 1 and "override_reason" in bad.conflicts[0]
    # any other disagreement is a conflict, reason or not
    other = ev.assess_rob("rob2", domains=concerns, overall="low", override_reason="because")
    assert other.overall == LOW and other.overall_conflict
    assert "'low'" in other.conflicts[0] and "'some concerns'" in other.conflicts[0]
    lowered = ev.assess_rob("rob2", domains={**concerns, "D1": "high"}, overall="some concerns",
                            override_reason="because")
    assert lowered.overall_conflict and lowered.overall == SC


def test_incomplete_signalling_gives_no_algorithm():
    a = ev.assess_rob("rob2", signalling={"1.2": "Y", "1.3": "N", "5.2": "N"})
    assert a.domains[0].algorithm is None and a.domains[0].rule is None
    assert a.domains[0].judgement == "not assessed"
    assert a.domains[4].algorithm is None
    assert a.overall_algorithm is None and a.overall == "not assessed"
    # the reviewer's judgement is still used where the algorithm is incomplete
    b = ev.assess_rob("rob2", signalling={"1.2": "Y"}, domains={"D1": "low"})
    assert (b.domains[0].algorithm, b.domains[0].judgement, b.domains[0].conflict) == \
        (None, LOW, False)


def test_invalid_signalling_raises_even_in_assess_rob():
    with pytest.raises(ev.ArgumentError, match=r"question 1\.2 .*'yes'"):
        ev.assess_rob("rob2", signalling={"1.2": "yes"})
    with pytest.raises(ev.ArgumentError, match=r"'6\.1' is not a RoB 2 question id"):
        ev.assess_rob("rob2", signalling={"6.1": "Y"})


def test_adhering_effect_in_assess_rob():
    answers = {"2.1": "N", "2.2": "N", "2.4": "Y", "2.5": "N", "2.6": "N"}
    assert ev.assess_rob("rob2", signalling=answers, effect="adhering").domains[1].algorithm == HIGH
    with pytest.raises(ev.ArgumentError, match=r"question 2\.6 .* no answer"):
        ev.rob2_rule(2, {"2.1": "N", "2.2": "N", "2.4": "Y", "2.5": "N"}, effect="adhering")


def test_robins_uses_reviewer_judgements():
    labels = {f"D{i}": "low" for i in range(1, 8)} | {"D3": "serious"}
    a = ev.assess_rob("robins-i", domains=labels, overall="moderate")
    assert a.overall_algorithm == "serious" and a.overall == "moderate" and a.overall_conflict
    assert all(d.algorithm is None for d in a.domains)
    assert a.domains[2].name == "classification of interventions"
    with pytest.raises(ev.ArgumentError, match="signalling answers are read by the RoB 2"):
        ev.assess_rob("robins-i", signalling={"1.1": "Y"})
    with pytest.raises(ev.ArgumentError, match="'D7' is not a domain of robins-i-v2"):
        ev.assess_rob("robins-i-v2", domains={"D7": "low"})
    with pytest.raises(ev.ArgumentError, match="'some concerns' is not one of low, moderate"):
        ev.assess_rob("robins-i", domains={"D1": "some concerns"})


def test_custom_tool_uses_labels_as_typed():
    a = ev.assess_rob("custom", domains={"Blinding": "Unclear risk", "Attrition": "ok"})
    assert [(d.domain, d.judgement, d.algorithm, d.conflict) for d in a.domains] == [
        ("Blinding", "Unclear risk", None, False), ("Attrition", "ok", None, False)]
    assert a.overall == "not assessed" and a.overall_algorithm is None
    assert ev.assess_rob("custom", domains={"A": "x"}, overall="Fair").overall == "Fair"
    with pytest.raises(ev.ArgumentError, match="non-empty label"):
        ev.assess_rob("custom", domains={"A": " "})
    with pytest.raises(ev.ArgumentError, match="signalling answers"):
        ev.assess_rob("custom", signalling={"1.1": "Y"})


@pytest.mark.parametrize("tool, n", [("rob2", 5), ("robins-i", 7), ("robins-i-v2", 6),
                                     ("custom", 0)])
def test_nothing_given_is_not_assessed(tool, n):
    a = ev.assess_rob(tool)
    assert len(a.domains) == n
    assert all(d.judgement == "not assessed" for d in a.domains)
    assert a.overall == "not assessed" and a.overall_algorithm is None and not a.conflicts
    frame = a.to_frame()
    assert list(frame.columns) == ["domain", "name", "algorithm", "reviewer", "judgement",
                                   "conflict", "rule"]
    assert len(frame) == n + 1 and frame.iloc[-1]["domain"] == "Overall"
    assert set(frame["judgement"]) == {"not assessed"}


def test_assessment_is_frozen_and_errors_are_named():
    a = ev.assess_rob("rob2")
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.overall = "low"
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.domains[0].judgement = "low"
    with pytest.raises(ev.ArgumentError, match="tool 'rob3' is not one of rob2, robins-i"):
        ev.assess_rob("rob3")
    with pytest.raises(ev.ArgumentError, match="'D6' is not a domain of rob2"):
        ev.assess_rob("rob2", domains={"D6": "low"})
    with pytest.raises(ev.ArgumentError, match="'unclear' is not one of low, some concerns"):
        ev.assess_rob("rob2", domains={"D1": "unclear"})
    with pytest.raises(ev.ArgumentError, match="'unclear' is not one of low, some concerns"):
        ev.assess_rob("rob2", overall="unclear")
    with pytest.raises(ev.ArgumentError, match="effect"):
        ev.assess_rob("rob2", effect="per-protocol")
