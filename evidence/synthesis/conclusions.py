"""Conclusions of the synthesis: one statement per injury × strategy (or injury), with its rule.

For an injury that has clinical studies, one conclusion per strategy the studies target; for an
injury without any, one injury-level conclusion. Each carries the level of clinical evidence,
the rule that gave it, the biomechanical support, the experts' stance and a plain-English
statement rendered from the rules file's ``statements`` templates.
"""

from __future__ import annotations

import pandas as pd

from ..model import Frames
from .effects import ClinicalEffects, clinical_effects
from .experts import expert_matrix
from .rules import LevelRules, render

__all__ = ["conclusions", "check_stated_findings", "CONCLUSION_COLUMNS"]

CONCLUSION_COLUMNS = [
    "injury", "injury_name", "strategy", "strategy_name", "scope", "clinical_level", "rule_id",
    "explanation", "level_with_unconfirmed", "rule_id_with_unconfirmed", "studies",
    "biomechanical_support", "expert_stance", "expert_ahead_of_evidence", "statement",
]

def _lower_first(s: str) -> str:
    """A name as it reads inside a sentence: first letter lower case, except for acronyms.
    Names that keep a capital (a proper noun) say so with ``phrase`` in review.yaml."""
    if not s:
        return s
    first = s.split(" ", 1)[0]
    if len(first) > 1 and first[1].isupper():
        return s
    return s[0].lower() + s[1:]


def _direction_phrase(direction: str, kinds: str) -> str:
    if kinds == "pain":
        return {"improvement": "less pain", "worsening": "more pain",
                "no change": "no change in pain"}.get(direction, f"a {direction} change in pain")
    return {"improvement": f"improvement in {kinds}", "worsening": f"worsening of {kinds}",
            "no change": f"no change in {kinds}"}.get(direction, f"{direction} {kinds}")


def _template(rules: LevelRules, level: str | None, scope: str) -> str:
    keys = ([f"injury_{level}", "injury_default"] if scope == "injury" else []) + \
        [str(level), "default"]
    for k in keys:
        if k in rules.statements:
            return rules.statements[k]
    return "{Level} evidence for {strategy_phrase} in {injury_phrase} (rule {rule_id})."


def conclusions(frames: Frames, rules: LevelRules, effects: ClinicalEffects | None = None,
                matrix: pd.DataFrame | None = None) -> pd.DataFrame:
    """The synthesis' conclusions, each with the rule that produced it.

    Parameters
    ----------
    frames : Frames
    rules : LevelRules
    effects : ClinicalEffects, optional
    matrix : DataFrame, optional
        A precomputed :func:`expert_matrix`.

    Returns
    -------
    DataFrame
        :data:`CONCLUSION_COLUMNS`, one row per injury × studied strategy, or per injury
        (``strategy`` None, ``scope`` "injury") when no study of the injury exists.

    Examples
    --------
    >>> c = conclusions(frames, load_rules("studies"))             # doctest: +SKIP
    >>> c[["injury", "strategy", "clinical_level", "rule_id"]]     # doctest: +SKIP
    """
    if effects is None:
        effects = clinical_effects(frames)
    m = expert_matrix(frames, rules, effects) if matrix is None else matrix
    studied = set(frames.studies["injury"])
    has_study = m["injury"].isin(studied)
    keep = (has_study & (m["scope"] == "strategy") & (m["n_studies_with_unconfirmed"] > 0)) | \
        (~has_study & (m["scope"] == "injury"))
    c = m[keep].copy()
    who = str(frames.review["participants_label"].iloc[0])
    phrases = {i: p for i, p in zip(frames.injuries["injury"], frames.injuries["phrase"])
               if isinstance(p, str) and p}
    statements = []
    for row in c.to_dict("records"):
        level = row["clinical_level"]
        ctx = dict(row)
        ctx.update(
            level=level, Level=str(level).capitalize(), expert_stance=row["expert_view"],
            strategy_phrase=_lower_first(str(row["strategy_name"])),
            injury_phrase=phrases.get(row["injury"]) or _lower_first(str(row["injury_name"])),
            direction_phrase=_direction_phrase(str(row["direction"]), str(row["outcome_kinds"])),
            population_phrase={"female": f"female {who} with ", "male": f"male {who} with "}
            .get(row["population"], f"{who} with "),
        )
        statements.append(" ".join(render(_template(rules, level, row["scope"]), ctx).split()))
    c["statement"] = statements
    return c[CONCLUSION_COLUMNS].reset_index(drop=True)


def check_stated_findings(generated: pd.DataFrame, stated: pd.DataFrame) -> pd.DataFrame:
    """Compare generated conclusions with the findings a review states (``stated_findings``).

    Returns one row per stated finding: ``injury``, ``strategy``, ``stated_level``,
    ``generated_level``, ``rule_id``, ``match`` (bool).
    """
    g = generated[["injury", "strategy", "clinical_level", "rule_id"]].copy()
    s = stated[["injury", "strategy", "level"]].rename(columns={"level": "stated_level"})
    key = "_k"
    g[key] = g["injury"] + "|" + g["strategy"].fillna("*").astype(str)
    s = s.assign(**{key: s["injury"] + "|" + s["strategy"].fillna("*").astype(str)})
    out = s.merge(g[[key, "clinical_level", "rule_id"]], on=key, how="left").drop(columns=key)
    out = out.rename(columns={"clinical_level": "generated_level"})
    out["match"] = out["stated_level"] == out["generated_level"]
    return out
