"""The mixed-methods matrix: expert opinion beside clinical and biomechanical evidence.

One row per injury × strategy the experts considered or a study targeted, plus one
injury-level row per injury. Each row shows the experts' stance on the injury, whether they
listed the strategy for it, the level of clinical evidence (with the rule that gave it) and the
biomechanical support for the strategy, and flags where expert support runs ahead of the
clinical evidence (``expert_ahead_of_evidence``): the experts support the strategy (their
stance is one of the rules' ``expert_support_stances``) and that stance ranks above the
clinical level (``expert_support_rank`` against ``level_rank``). Poor agreement or a
recommendation against is not support, so it is never "ahead".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..model import Frames
from .effects import ClinicalEffects, clinical_effects
from .levels import levels_of_evidence
from .rules import LevelRules

__all__ = ["expert_matrix", "biomechanical_support", "MATRIX_COLUMNS"]

MATRIX_COLUMNS = [
    "injury", "injury_name", "strategy", "strategy_name", "scope", "expert_stance",
    "expert_considered", "clinical_support_marked", "clinical_level", "rule_id",
    "level_with_unconfirmed", "n_studies", "n_studies_with_unconfirmed", "studies",
    "biomechanical_support", "biomechanical_statements", "expert_rank", "level_rank",
    "expert_ahead_of_evidence", "gap_explanation", "marked_without_evidence", "expert_view",
]


def biomechanical_support(frames: Frames, rules: LevelRules) -> pd.DataFrame:
    """Per strategy: the best level among its biomechanical statements, and the statements.

    Columns: ``strategy``, ``biomechanical_support`` (the highest level by
    ``rules.level_rank``), ``biomechanical_statements`` ("id (level): effect direction; ...").
    """
    b = frames.biomechanics
    cols = ["strategy", "biomechanical_support", "biomechanical_statements"]
    if b.empty:
        return pd.DataFrame(columns=cols)
    rank = b["level"].map(rules.level_rank).fillna(-1)
    b = b.assign(_r=rank, _t=b["statement"] + " (" + b["level"] + "): " + b["effect"]
                 + np.where(b["direction"].notna(), " " + b["direction"].astype(str), ""))
    best = b.sort_values("_r", ascending=False, kind="stable").drop_duplicates("strategy")
    out = best[["strategy", "level"]].rename(columns={"level": "biomechanical_support"})
    txt = b.groupby("strategy", sort=False)["_t"].agg("; ".join).rename(
        "biomechanical_statements")
    return out.merge(txt, on="strategy").reset_index(drop=True)[cols]


def _rationale_support(frames: Frames, rules: LevelRules) -> pd.DataFrame:
    """Per injury: the biomechanical statements the experts' rationale cites."""
    ex = frames.experts[["injury", "rationale"]].copy()
    ex["statement"] = ex["rationale"].fillna("").str.split(r",\s*", regex=True)
    ex = ex.explode("statement")
    ex = ex[ex["statement"].astype(str).str.len() > 0]
    b = frames.biomechanics
    m = ex.merge(b[["statement", "level", "effect"]], on="statement")
    cols = ["injury", "rationale_support", "rationale_statements"]
    if m.empty:
        return pd.DataFrame(columns=cols)
    m = m.assign(_r=m["level"].map(rules.level_rank).fillna(-1),
                 _t=m["statement"] + " (" + m["level"] + ")")
    best = m.sort_values("_r", ascending=False, kind="stable").drop_duplicates("injury")
    out = best[["injury", "level"]].rename(columns={"level": "rationale_support"})
    txt = m.groupby("injury", sort=False)["_t"].agg("; ".join).rename("rationale_statements")
    return out.merge(txt, on="injury")[cols]


def _rationale_by_strategy(frames: Frames, rules: LevelRules) -> pd.DataFrame:
    """Per injury × strategy: the best level among the statements the injury's expert
    rationale cites for that strategy."""
    cols = ["injury", "strategy", "linked_support", "linked_statements"]
    ex = frames.experts[["injury", "rationale"]].copy()
    ex["statement"] = ex["rationale"].fillna("").str.split(r",\s*", regex=True)
    ex = ex.explode("statement")
    ex = ex[ex["statement"].astype(str).str.len() > 0]
    m = ex.merge(frames.biomechanics[["statement", "strategy", "level", "effect", "direction"]],
                 on="statement")
    if m.empty:
        return pd.DataFrame(columns=cols)
    m = m.assign(_r=m["level"].map(rules.level_rank).fillna(-1),
                 _t=m["statement"] + " (" + m["level"] + "): " + m["effect"]
                 + np.where(m["direction"].notna(), " " + m["direction"].astype(str), ""))
    best = m.sort_values("_r", ascending=False, kind="stable").drop_duplicates(
        ["injury", "strategy"])
    out = best[["injury", "strategy", "level"]].rename(columns={"level": "linked_support"})
    txt = m.groupby(["injury", "strategy"], sort=False)["_t"].agg("; ".join).rename(
        "linked_statements")
    return out.merge(txt, on=["injury", "strategy"])[cols]


def expert_matrix(frames: Frames, rules: LevelRules, effects: ClinicalEffects | None = None,
                  levels: pd.DataFrame | None = None) -> pd.DataFrame:
    """Expert opinion, clinical level and biomechanical support per injury × strategy.

    Parameters
    ----------
    frames : Frames
    rules : LevelRules
        Gives the levels and the two rank scales compared by the flag.
    effects : ClinicalEffects, optional
    levels : DataFrame, optional
        A precomputed :func:`levels_of_evidence` covering the expert cells.

    Returns
    -------
    DataFrame
        :data:`MATRIX_COLUMNS`. ``expert_considered`` is True when the experts listed the
        strategy for the injury, False when they listed others but not this one, and None when
        their list could not be read. ``expert_rank`` is the stance's rank, or 0 when the
        strategy was not considered; ``expert_ahead_of_evidence`` is True when the stance
        is one of ``rules.expert_support_stances`` and ``expert_rank > level_rank``;
        ``gap_explanation`` says why, in words. ``marked_without_evidence`` flags strategies the review's
        table marks as backed by clinical studies while the rules find no clinical evidence.

    Examples
    --------
    >>> m = expert_matrix(frames, load_rules("studies"))       # doctest: +SKIP
    >>> m[m["expert_ahead_of_evidence"]][["injury", "strategy"]]  # doctest: +SKIP
    """
    if effects is None:
        effects = clinical_effects(frames)
    es = frames.expert_strategies[["injury", "strategy", "clinical_support_marked"]]
    if levels is None:
        levels = levels_of_evidence(frames, rules, effects, cells=es)
    m = levels.rename(columns={"level": "clinical_level"}).copy()
    m = m.merge(es.drop_duplicates(["injury", "strategy"]), on=["injury", "strategy"],
                how="left")
    ex = frames.experts[["injury", "stance", "n_strategies"]].rename(
        columns={"stance": "expert_stance"})
    m = m.merge(ex, on="injury", how="left")
    m["expert_stance"] = m["expert_stance"].astype(object).where(m["expert_stance"].notna(),
                                                                 "not reported")
    listed = m["clinical_support_marked"].notna() | m.set_index(["injury", "strategy"]).index \
        .isin(list(es[["injury", "strategy"]].itertuples(index=False, name=None)))
    has_list = m["n_strategies"].fillna(0) > 0
    is_injury = m["scope"] == "injury"
    considered = np.select(
        [is_injury & (m["expert_stance"] != "not reported"), is_injury, listed, has_list],
        [True, None, True, False], None)
    m["expert_considered"] = pd.Series(considered, index=m.index, dtype=object)
    m["clinical_support_marked"] = m["clinical_support_marked"].astype(object).where(
        m["clinical_support_marked"].notna(), None)

    bio = biomechanical_support(frames, rules)
    m = m.merge(bio, on="strategy", how="left")
    # Where the review ties statements to an injury (the biomechanical rationale column of
    # its expert tables), a strategy's support for that injury is what that rationale cites
    # for the strategy: strong evidence that a strategy changes a load linked to one injury
    # supports that injury, not every injury the strategy is used for. Injuries without any
    # linked rationale keep the strategy-level support, marked as such.
    linked = _rationale_by_strategy(frames, rules)
    has_rationale = m["injury"].isin(set(linked["injury"]))
    m = m.merge(linked, on=["injury", "strategy"], how="left")
    use_linked = has_rationale & ~is_injury
    m["biomechanical_support"] = m["biomechanical_support"].astype(object).where(
        ~use_linked, m["linked_support"])
    m["biomechanical_statements"] = m["biomechanical_statements"].astype(object).where(
        ~use_linked, m["linked_statements"])
    unlinked = ~has_rationale & ~is_injury & m["biomechanical_support"].notna()
    m.loc[unlinked, "biomechanical_statements"] = (
        "not linked to this injury by the review; strategy-level: "
        + m.loc[unlinked, "biomechanical_statements"].astype(str))
    m = m.drop(columns=["linked_support", "linked_statements"])
    rat = _rationale_support(frames, rules)
    m = m.merge(rat, on="injury", how="left")
    # injury-level rows: the statements the experts' rationale for the injury cites
    m["biomechanical_support"] = m["biomechanical_support"].astype(object).where(
        ~is_injury, m["rationale_support"])
    m["biomechanical_statements"] = m["biomechanical_statements"].astype(object).where(
        ~is_injury, m["rationale_statements"])
    m["biomechanical_support"] = m["biomechanical_support"].astype(object).where(
        m["biomechanical_support"].notna(), "none found")
    m = m.drop(columns=["rationale_support", "rationale_statements", "n_strategies"])

    stance_rank = m["expert_stance"].map(rules.expert_support_rank).astype(float)
    not_listed = (m["expert_considered"].astype(object) == False).to_numpy()  # noqa: E712
    m["expert_rank"] = np.where(not_listed, 0.0, stance_rank)
    m["level_rank"] = m["clinical_level"].map(rules.level_rank).astype(float)
    supports = m["expert_stance"].isin(rules.expert_support_stances).to_numpy() & ~not_listed
    ahead = supports & (m["expert_rank"] > m["level_rank"]).to_numpy()
    m["expert_ahead_of_evidence"] = ahead
    stance, level = m["expert_stance"].astype(str), m["clinical_level"].astype(str)
    m["gap_explanation"] = np.select(
        [not_listed,
         (m["expert_stance"] == "not reported").to_numpy(),
         ~m["expert_stance"].isin(rules.expert_support_stances).to_numpy(),
         (m["expert_rank"].isna() | m["level_rank"].isna()).to_numpy(),
         ahead],
        ["The experts did not list this strategy for this injury.",
         "The experts' stance is not reported, so it cannot be compared with the clinical "
         "evidence.",
         "The experts' stance (" + stance + ") is not support, so they are not ahead of the "
         "clinical evidence (level: " + level + ").",
         "Not compared: the rules do not order the experts' stance (" + stance + ") against "
         "the clinical evidence (level: " + level + ").",
         "The experts' support (" + stance + ") goes beyond the clinical evidence (level: "
         + level + ")."],
        "The clinical evidence (level: " + level + ") is as strong as the experts' support ("
        + stance + ") or stronger.")
    m["expert_view"] = np.select(
        [is_injury, not_listed, m["expert_considered"].astype(object) == True],  # noqa: E712
        [m["expert_stance"],
         m["expert_stance"] + " for the injury; this strategy not listed",
         m["expert_stance"] + " for the injury; strategy listed"],
        m["expert_stance"] + " for the injury; strategies not readable")
    m["marked_without_evidence"] = ((m["clinical_support_marked"].astype(object) == True)  # noqa: E712
                                    & (m["clinical_level"] == "none")).to_numpy()
    rest = [c for c in m.columns if c not in MATRIX_COLUMNS]
    return m[MATRIX_COLUMNS + rest].reset_index(drop=True)
