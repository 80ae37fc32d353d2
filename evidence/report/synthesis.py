"""Report context and figures of the mixed-methods synthesis (levels of evidence, expert
matrix, conclusions, pre-post effects and their correlation sensitivity).

The numbers come from :mod:`evidence.synthesis`; this module only formats and draws them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .analyses import REFERENCES, _f, _p, figure_entry
from .context import _records

__all__ = ["synthesis_extra", "has_rules", "CLINICAL_KINDS"]

CLINICAL_KINDS = ("pain", "function", "performance", "physiological", "event")
"""Outcome kinds drawn in the synthesis forest plots (biomechanical outcomes are not)."""


def has_rules(review_dir: str | Path) -> bool:
    from ..synthesis import RULES_FILES

    return any((Path(review_dir) / name).exists() for name in RULES_FILES)


def _effects_rows(eff: pd.DataFrame) -> list[dict]:
    rows = []
    for r in _records(eff):
        rows.append({
            "label": r["label"], "inclusion": r["inclusion"], "outcome": r["outcome_name"],
            "kind": r["outcome_kind"], "pair": f"{r['pre_label']} → {r['post_label']}",
            "m_pre": _f(r["m_pre"], 2) if r["m_pre"] is not None else "n.r.",
            "sd_pre": _f(r["sd_pre"], 2) if r["sd_pre"] is not None else "n.r.",
            "m_post": _f(r["m_post"], 2) if r["m_post"] is not None else "n.r.",
            "sd_post": _f(r["sd_post"], 2) if r["sd_post"] is not None else "n.r.",
            "n": _f(r["n"], 0) if r["n"] is not None else "n.r.",
            "direction": r["direction"] or "not reported",
            "computable": bool(r["computable"]),
            "smcr": _f(r["yi"]) if r["computable"] else None,
            "ci": f"[{_f(r['ci_low'])}, {_f(r['ci_high'])}]" if r["computable"] else None,
            "reason": r["reason"], "assumption": r["assumption"], "sources": r["sources"],
        })
    return rows


def _sensitivity_rows(sens: pd.DataFrame, eff: pd.DataFrame) -> tuple[list[str], list[dict]]:
    """Per computable effect: SMCR [CI] under each assumed correlation (wide)."""
    if sens is None or sens.empty:
        return [], []
    names = eff.set_index("effect_id")[["label", "outcome_name", "pre_label", "post_label"]]
    rs = sorted(sens["ri"].unique())
    out = []
    for eid, g in sens.groupby("effect_id", sort=False):
        n = names.loc[eid]
        cells = {f"{r:.1f}": f"{_f(x.yi)} [{_f(x.ci_low)}, {_f(x.ci_high)}]"
                 for r, x in zip(g["ri"], g.itertuples())}
        out.append({"label": n["label"], "outcome": n["outcome_name"],
                    "pair": f"{n['pre_label']} → {n['post_label']}",
                    "cells": [cells.get(f"{r:.1f}", "—") for r in rs]})
    return [f"{r:.1f}" for r in rs], out


def _forest_figures(eff: pd.DataFrame, frames) -> list[dict[str, Any]]:
    """One forest plot per injury × strategy: every study row, computed or with its reason."""
    from ..plots import forest

    figs = []
    strat = frames.study_strategies
    names = dict(zip(frames.strategies["strategy"], frames.strategies["name"]))
    injuries = dict(zip(frames.injuries["injury"], frames.injuries["name"]))
    e = eff.merge(strat[["study", "strategy"]], on="study")
    e = e[e["outcome_kind"].isin(CLINICAL_KINDS) & (e["inclusion"] == "confirmed")].copy()
    # one row per study × outcome where nothing is computable (the reason is the same for
    # every time pair); computed effects keep their time pair
    e["_key"] = e["study"] + "|" + e["outcome"] + "|" + e["strategy"]
    some = e.groupby("_key")["computable"].transform("any")
    e = e[e["computable"] | ~some].drop_duplicates(["_key", "computable", "pre", "post"])
    e = e[e["computable"] | ~e.duplicated("_key")]
    e["_kind_order"] = e["outcome_kind"].map({k: i for i, k in enumerate(CLINICAL_KINDS)})
    e = e.sort_values(["injury", "strategy", "_kind_order", "label", "outcome"])
    for (injury, strategy), g in e.groupby(["injury", "strategy"], sort=True):
        pair = np.where(g["computable"], " (" + g["pre"].fillna("") + "→"
                        + g["post"].fillna("") + ")", "")
        lab = pd.Series(g["label"] + " · " + g["outcome_name"].str.slice(0, 40) + pair,
                        index=g.index)
        comp = g["computable"].astype(bool)
        # orient like yi_benefit: flip the interval where lower values are better
        sign = np.where(g["lower_is_better"] == True, -1.0, 1.0)  # noqa: E712
        lo, hi = sign * g["ci_low"].to_numpy(float), sign * g["ci_high"].to_numpy(float)
        rows = pd.DataFrame({"label": lab[comp], "yi": g.loc[comp, "yi_benefit"],
                             "ci_low": np.minimum(lo, hi)[comp.to_numpy()],
                             "ci_high": np.maximum(lo, hi)[comp.to_numpy()],
                             "weight": float("nan")})
        reasons = g.loc[~comp, "reason"].fillna("not computable").str.split(";").str[0]
        not_poolable = pd.DataFrame({"label": lab[~comp], "reason": reasons})
        title = f"{injuries.get(injury, injury)} · {names.get(strategy, strategy)}"
        fig = forest(rows, None, measure="SMCR (positive = improvement)",
                     not_poolable=not_poolable, title=title,
                     favours=("worse", "better"))
        figs.append(figure_entry(
            f"forest-{injury}-{strategy}", f"Forest plot: {title}",
            "Standardised mean change per study and outcome (pre-post r = 0.5 assumed, "
            "not reported), oriented so that positive is an improvement; rows that cannot be "
            "computed give the reason. No pooled estimate: no outcome has two poolable "
            "studies.", fig))
    return figs


def synthesis_extra(loaded, frames) -> dict[str, Any]:
    """Run the synthesis of a review with a rules file; return context, figures, sections."""
    from ..plots import evidence_matrix
    from ..synthesis import (check_stated_findings, clinical_effects, conclusions,
                             expert_matrix, load_rules, pool_by_group)

    rules = load_rules(loaded.path)
    eff = clinical_effects(frames)
    pooled = pool_by_group(eff)
    concl = conclusions(frames, rules)
    matrix = expert_matrix(frames, rules)
    check = check_stated_findings(concl, frames.stated_findings)

    # the experts' stance is shown in a cell only where they considered that strategy (or,
    # for injuries without any strategy detail, for "any retraining strategy")
    shown = matrix.assign(stance_shown=matrix["expert_stance"].where(
        matrix["expert_considered"].fillna(False).astype(bool) | (matrix["scope"] == "injury"),
        "not reported"))
    fig = evidence_matrix(shown, row="injury_name", col="strategy_name",
                          level_col="clinical_level", stance_col="stance_shown",
                          title="Clinical evidence and expert opinion")
    figs = [figure_entry("evidence-matrix", "Evidence matrix",
                         "Per injury and strategy: the level of clinical evidence by the "
                         "rules (square) beside the experts' stance (circle), shown where the "
                         "experts considered that strategy. Injuries without clinical studies "
                         "appear under 'any retraining strategy'.", fig)]
    figs += _forest_figures(eff.effects, frames)

    pool_rows = []
    for r in _records(pooled.table):
        pool_rows.append({**r, "estimate_text": _f(r["estimate"]),
                          "ci": (f"[{_f(r['ci_low'])}, {_f(r['ci_high'])}]"
                                 if r["estimate"] is not None else None),
                          "i2_text": _f(r["i2"], 1), "p": _p(r["pvalue"])})
    r_cols, sens_rows = _sensitivity_rows(eff.sensitivity, eff.effects)
    ctx = {
        "conclusions": _records(concl),
        "matrix": _records(matrix),
        "effects": _effects_rows(eff.effects),
        "pooled": pool_rows,
        "sensitivity_r": r_cols,
        "sensitivity": sens_rows,
        "stated_check": _records(check),
        "rules": [{"id": r.id, "label": r.label, "explanation": r.explanation,
                   "when": ", ".join(f"{k}: {v}" for k, v in
                                     r.model_dump(exclude_none=True).get("when", {}).items())}
                  for r in rules.rules],
        "rules_path": Path(rules.path).name if getattr(rules, "path", None) else "rules.yaml",
        "methods": (
            "Pre-post effects are standardised mean changes (SMCR: change divided by the "
            "pre-test SD, with metafor's small-sample correction) computed only where mean "
            "and SD are reported at both time points with n; no study reports the pre-post "
            "correlation, so r = 0.5 is assumed and varied from 0.2 to 0.8 in a sensitivity "
            "analysis. Groups of injury × strategy × outcome kind are pooled with REML "
            "random effects when two or more confirmed studies have a computable effect; "
            "otherwise the single-study estimate or the reason is shown. Where only means "
            "are reported, the means and the reported direction of change are shown and no "
            "variance is invented. Levels of evidence follow the ordered rules in "
            f"{Path(getattr(rules, 'path', 'rules.yaml')).name} (first match wins); studies "
            "whose inclusion is unconfirmed are reported beside, never inside, the level."),
        "references": [REFERENCES["smcr"], REFERENCES["REML"], REFERENCES["metafor"]],
    }
    sections = [{"id": "conclusions", "title": "Conclusions"},
                {"id": "levels", "title": "Levels of evidence and expert opinion"},
                {"id": "clinical-effects", "title": "Clinical effects and pooling"}]
    return {"synthesis": ctx, "synthesis_figures": figs, "figures": figs,
            "extra_sections": sections}
