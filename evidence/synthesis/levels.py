"""Levels of clinical evidence per injury × strategy, by explicit rules.

For every cell (an injury and a strategy that at least one study targets, plus one
"any strategy" row per injury) the features the rules test are computed from the frames: how
many studies are counted, of which designs, whether they agree on the direction of change in
the outcome kinds that count (pain), whether any reported it as significant, whether pooling
was possible. :func:`evidence.synthesis.rules.apply_rules` then gives the level, the id of the
rule that fired and a plain-English explanation. The same is done with the studies of
``rules.sensitivity_inclusion`` (confirmed and unconfirmed) and reported beside it, so an
unconfirmed study never changes a level silently.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from ..model import Frames
from .effects import ClinicalEffects, clinical_effects
from .pooling import pool_by_group
from .rules import LevelRules, apply_rules, classify_designs

__all__ = ["levels_of_evidence", "cell_features", "study_directions", "LEVEL_COLUMNS"]

ANY = "*"  # internal key of the injury-level ("any strategy") cells

LEVEL_COLUMNS = [
    "injury", "injury_name", "strategy", "strategy_name", "scope", "level", "rule_id",
    "explanation", "n_studies", "studies", "design_summary", "direction", "consistency",
    "direction_summary", "population", "pooled", "pooled_summary", "level_with_unconfirmed",
    "rule_id_with_unconfirmed", "explanation_with_unconfirmed", "n_studies_with_unconfirmed",
    "not_counted_studies", "level_changes_with_unconfirmed",
]


def _plural(n: int, one: str, many: str) -> str:
    return one if n == 1 else many


def study_directions(effects: pd.DataFrame, outcome_kinds: Iterable[str]) -> pd.DataFrame:
    """Per study: the direction of change in the given outcome kinds.

    Columns: ``study``, ``study_direction`` (improved / worsened / no change / mixed when the
    study's time points or outcomes disagree / unknown), ``significant`` (any known change
    reported as statistically significant).
    """
    e = effects[effects["outcome_kind"].isin(list(outcome_kinds))]
    known = e[e["improvement"] != "unknown"]
    d = known.groupby("study")["improvement"].agg(
        lambda s: s.iloc[0] if s.nunique() == 1 else "mixed")
    sig = known.assign(_s=known["significant"].astype(object) == True).groupby(  # noqa: E712
        "study")["_s"].any()
    out = pd.DataFrame({"study": effects["study"].drop_duplicates()})
    out["study_direction"] = out["study"].map(d).fillna("unknown")
    out["significant"] = out["study"].map(sig).fillna(False).astype(bool)
    return out.reset_index(drop=True)


def _cells(frames: Frames, extra: pd.DataFrame | None) -> pd.DataFrame:
    ss = frames.study_strategies[["injury", "strategy"]]
    inj = pd.DataFrame({"injury": frames.injuries["injury"], "strategy": ANY})
    parts = [ss, inj]
    if extra is not None and len(extra):
        x = extra[["injury", "strategy"]].copy()
        x["strategy"] = x["strategy"].astype(object).where(x["strategy"].notna(), ANY)
        parts.append(x)
    return pd.concat(parts, ignore_index=True).drop_duplicates().reset_index(drop=True)


def cell_features(frames: Frames, rules: LevelRules, effects: ClinicalEffects | None = None,
                  inclusion: Iterable[str] | None = None,
                  cells: pd.DataFrame | None = None) -> pd.DataFrame:
    """The features the rules test, one row per injury × strategy cell.

    Parameters
    ----------
    frames, rules :
        The review's frames and its rules.
    effects : ClinicalEffects, optional
        Precomputed :func:`clinical_effects` (computed when omitted).
    inclusion : inclusion statuses counted (default ``rules.count_inclusion``).
    cells : DataFrame with ``injury`` and ``strategy`` (None = injury level), optional
        Cells to add to those targeted by a study and the injury-level rows.

    Returns
    -------
    DataFrame indexed 0..n-1 with ``injury``, ``strategy`` (``"*"`` = any strategy) and every
    feature of :func:`evidence.synthesis.rules.features_available`.
    """
    if effects is None:
        effects = clinical_effects(frames)
    inc = list(rules.count_inclusion if inclusion is None else inclusion)
    kinds = list(rules.outcome_kinds)
    st = frames.studies[["study", "label", "inclusion", "injury", "design", "n", "female",
                         "male"]].copy()
    st = st.join(classify_designs(st["design"], rules))
    st = st.merge(study_directions(effects.effects, kinds), on="study", how="left")
    st["study_direction"] = st["study_direction"].fillna("unknown")
    st["significant"] = st["significant"].fillna(False).astype(bool)

    cells_all = _cells(frames, cells)
    links = pd.concat([frames.study_strategies[["study", "strategy"]],
                       frames.studies[["study"]].assign(strategy=ANY)], ignore_index=True)
    links = links.merge(st, on="study")
    counted = links[links["inclusion"].isin(inc)]
    other = links[~links["inclusion"].isin(inc)]
    keys = ["injury", "strategy"]

    c = counted.assign(
        _imp=counted["study_direction"] == "improved",
        _wor=counted["study_direction"] == "worsened",
        _noc=counted["study_direction"] == "no change",
        _mix=counted["study_direction"] == "mixed",
        _dir=counted["study_direction"] != "unknown",
        _fem=counted["female"] == counted["n"],
        _mal=counted["male"] == counted["n"],
        _nan=counted["n"].isna(),
    )
    for d in (*rules.designs, rules.other_design):
        c[d.feature] = c["design_category"] == d.id
    agg = {
        "n_studies": ("study", "nunique"), "n_comparative": ("comparative", "sum"),
        "n_improved": ("_imp", "sum"), "n_worsened": ("_wor", "sum"),
        "n_no_change": ("_noc", "sum"), "n_mixed": ("_mix", "sum"),
        "n_with_direction": ("_dir", "sum"), "n_significant": ("significant", "sum"),
        "total_n": ("n", "sum"), "_all_female": ("_fem", "all"), "_all_male": ("_mal", "all"),
        "_any_nan": ("_nan", "any"),
        "studies": ("label", lambda s: ", ".join(s)),
    }
    for d in (*rules.designs, rules.other_design):
        agg[d.feature] = (d.feature, "sum")
    g = c.groupby(keys, sort=False).agg(**agg).reset_index() if len(c) else \
        pd.DataFrame(columns=keys + list(agg))
    f = cells_all.merge(g, on=keys, how="left")
    count_cols = [k for k in agg if k.startswith("n_")]
    f[count_cols] = f[count_cols].fillna(0).astype(int)
    f["studies"] = f["studies"].astype(object).where(f["studies"].notna(), "none")
    f["total_n"] = f["total_n"].astype(float)
    f["n_uncontrolled"] = f["n_studies"] - f["n_comparative"]

    # consistency of direction across the counted studies
    n_dirs = ((f["n_improved"] > 0).astype(int) + (f["n_worsened"] > 0).astype(int)
              + (f["n_no_change"] > 0).astype(int))
    f["consistency"] = np.select(
        [f["n_studies"] == 0, f["n_with_direction"] == 0, (f["n_mixed"] > 0) | (n_dirs > 1)],
        ["none", "unknown", "conflicting"], "consistent")
    f["direction"] = np.select(
        [f["consistency"] != "consistent", f["n_improved"] > 0, f["n_worsened"] > 0],
        [f["consistency"], "improvement", "worsening"], "no change")
    f["population"] = np.select(
        [f["n_studies"] == 0, f["_any_nan"].astype(object) == True,  # noqa: E712
         f["_all_female"].astype(object) == True, f["_all_male"].astype(object) == True],  # noqa: E712
        ["none", "unknown", "female", "male"], "mixed")
    f = f.drop(columns=["_all_female", "_all_male", "_any_nan"])

    # studies not counted (their inclusion status)
    oth = other.assign(_t=other["label"] + " (" + other["inclusion"] + ")")
    nc = oth.groupby(keys, sort=False).agg(
        n_not_counted=("study", "nunique"), not_counted_studies=("_t", "; ".join)).reset_index() \
        if len(oth) else pd.DataFrame(columns=keys + ["n_not_counted", "not_counted_studies"])
    f = f.merge(nc, on=keys, how="left")
    f["n_not_counted"] = f["n_not_counted"].fillna(0).astype(int)
    f["not_counted_studies"] = f["not_counted_studies"].astype(object).where(
        f["not_counted_studies"].notna(), "")
    f["not_counted_note"] = np.where(
        f["n_not_counted"] > 0, "; not counted: " + f["not_counted_studies"].astype(str), "")

    f = f.merge(_pooled_features(effects, inc, kinds), on=keys, how="left")
    f["pooled"] = f["pooled"].astype(object).where(f["pooled"].notna(), False).astype(bool)
    f["pooled_significant"] = f["pooled_significant"].astype(object).where(
        f["pooled_significant"].notna(), False).astype(bool)
    f["pooled_k"] = f["pooled_k"].fillna(0).astype(int)
    f["pooled_summary"] = f["pooled_summary"].astype(object).where(
        f["pooled_summary"].notna(), "no study to pool")

    # text
    f["design_summary"] = _design_summary(f, rules)
    f["direction_summary"] = _direction_summary(f, kinds)
    f["counted"] = " or ".join(inc)
    f["outcome_kinds"] = ", ".join(kinds)
    f["scope"] = np.where(f["strategy"] == ANY, "injury", "strategy")
    names = dict(zip(frames.injuries["injury"], frames.injuries["name"]))
    snames = dict(zip(frames.strategies["strategy"], frames.strategies["name"]))
    f["injury_name"] = f["injury"].map(names).fillna(f["injury"])
    f["strategy_name"] = f["strategy"].map(snames).fillna(
        f["strategy"].where(f["strategy"] != ANY,
                            "any " + str(frames.review["strategy_label"].iloc[0])))
    return f


def _pooled_features(effects: ClinicalEffects, inc: list[str], kinds: list[str]) -> pd.DataFrame:
    cols = ["injury", "strategy", "pooled", "pooled_k", "pooled_estimate", "pooled_ci_low",
            "pooled_ci_high", "pooled_i2", "pooled_pvalue", "pooled_significant",
            "pooled_summary"]
    # only the outcome kinds that count, and no correlation sensitivity: a bare frame
    e = effects.effects[effects.effects["outcome_kind"].isin(kinds)]
    if e.empty:
        return pd.DataFrame(columns=cols)
    # each study in every strategy it targets and in its injury's "any strategy" cell, pooled
    # in one call
    e = e.assign(strategy=e["strategies"].map(lambda t: [*t, ANY])).explode("strategy")
    t = pool_by_group(e, by=("injury", "strategy", "outcome_kind"), inclusion=inc).table
    if t.empty:
        return pd.DataFrame(columns=cols)
    t = t.assign(_rank=t["outcome_kind"].map({k: i for i, k in enumerate(kinds)}))
    t = t.sort_values(["injury", "strategy", "_rank"]).drop_duplicates(["injury", "strategy"])
    out = pd.DataFrame({"injury": t["injury"], "strategy": t["strategy"]})
    out["pooled"] = (t["status"] == "pooled").to_numpy()
    out["pooled_k"] = t["k"].to_numpy()
    for a, b in (("estimate", "pooled_estimate"), ("ci_low", "pooled_ci_low"),
                 ("ci_high", "pooled_ci_high"), ("i2", "pooled_i2"),
                 ("pvalue", "pooled_pvalue")):
        out[b] = t[a].to_numpy()
    sig = out["pooled"] & ((out["pooled_ci_low"] > 0) | (out["pooled_ci_high"] < 0))
    out["pooled_significant"] = sig.to_numpy()
    est = t.apply(lambda r: (f"pooled {r['measure']} {r['estimate']:.2f} (95% CI "
                             f"{r['ci_low']:.2f} to {r['ci_high']:.2f}; positive = improvement),"
                             f" k = {r['k']}, I2 = {r['i2']:.0f}%")
                  if r["status"] == "pooled" else
                  (f"not pooled: {str(r['reason']).removeprefix('not poolable: ')}"
                   if r["reason"] else "not pooled"), axis=1)
    out["pooled_summary"] = est.to_numpy()
    return out[cols]


def _design_summary(f: pd.DataFrame, rules: LevelRules) -> pd.Series:
    parts = []
    for d in (*rules.designs, rules.other_design):
        n = f[d.feature]
        parts.append(np.where(n > 0, n.astype(str) + " " + np.where(
            n == 1, d.label, d.plural or d.label), ""))
    out = []
    for row in zip(*parts):
        items = [p for p in row if p]
        if not items:
            out.append("no studies")
        elif len(items) == 1:
            out.append(items[0])
        else:
            out.append(", ".join(items[:-1]) + " and " + items[-1])
    return pd.Series(out, index=f.index, dtype=object)


def _direction_summary(f: pd.DataFrame, kinds: list[str]) -> pd.Series:
    what = " and ".join(kinds)
    words = (("n_improved", "improved"), ("n_worsened", "worsened"),
             ("n_no_change", "did not change"), ("n_mixed", "changed in both directions"))
    out = []
    for rec in f[[w for w, _ in words] + ["n_studies"]].to_dict("records"):
        n = rec["n_studies"]
        if n == 0:
            out.append(f"no study of {what}")
            continue
        bits = [f"{what} {txt} in {rec[k]}" for k, txt in words if rec[k]]
        unknown = n - sum(rec[k] for k, _ in words)
        if unknown:
            bits.append(f"no direction reported in {unknown}")
        out.append(", ".join(bits) + f" of {n} {_plural(n, 'study', 'studies')}")
    return pd.Series(out, index=f.index, dtype=object)


def levels_of_evidence(frames: Frames, rules: LevelRules, effects: ClinicalEffects | None = None,
                       cells: pd.DataFrame | None = None) -> pd.DataFrame:
    """The level of clinical evidence for every injury × strategy cell, by the rules.

    Parameters
    ----------
    frames : Frames
    rules : LevelRules
        From :func:`evidence.synthesis.load_rules`.
    effects : ClinicalEffects, optional
    cells : DataFrame with ``injury``, ``strategy``, optional
        Extra cells to classify (e.g. the strategies the experts considered); cells no study
        targets get the level of the rule for no studies.

    Returns
    -------
    DataFrame
        :data:`LEVEL_COLUMNS`: ``strategy`` is None on the injury-level rows (scope
        ``"injury"``: any strategy). ``level``, ``rule_id`` and ``explanation``
        count only ``rules.count_inclusion`` studies; the ``*_with_unconfirmed`` columns count
        ``rules.sensitivity_inclusion`` studies, and ``level_changes_with_unconfirmed`` flags
        cells where that would change the level.

    Examples
    --------
    >>> lv = levels_of_evidence(frames, load_rules("studies"))      # doctest: +SKIP
    >>> lv[["injury", "strategy", "level", "rule_id"]]              # doctest: +SKIP
    """
    if effects is None:
        effects = clinical_effects(frames)
    f = cell_features(frames, rules, effects, cells=cells)
    lv = apply_rules(f, rules)
    fs = cell_features(frames, rules, effects, inclusion=rules.sensitivity_inclusion,
                       cells=cells)
    ls = apply_rules(fs, rules)
    out = f.join(lv)
    out["level_with_unconfirmed"] = ls["level"].to_numpy()
    out["rule_id_with_unconfirmed"] = ls["rule_id"].to_numpy()
    out["explanation_with_unconfirmed"] = ls["explanation"].to_numpy()
    out["n_studies_with_unconfirmed"] = fs["n_studies"].to_numpy()
    out["level_changes_with_unconfirmed"] = (out["level"] != out["level_with_unconfirmed"])
    out["strategy"] = out["strategy"].where(out["strategy"] != ANY, None)
    inj_order = {k: i for i, k in enumerate(frames.injuries["injury"])}
    out = out.assign(_i=out["injury"].map(inj_order), _s=out["scope"] == "injury")
    out = out.sort_values(["_i", "_s", "strategy"], kind="stable", na_position="last")
    rest = [c for c in out.columns if c not in LEVEL_COLUMNS and not c.startswith("_")]
    return out[LEVEL_COLUMNS + rest].reset_index(drop=True)
