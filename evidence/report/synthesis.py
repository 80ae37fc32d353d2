"""Report context and figures of the mixed-methods synthesis (levels of evidence, expert
matrix, conclusions, pre-post effects and their correlation sensitivity).

The numbers come from :mod:`evidence.synthesis`; this module only formats and draws them.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from .analyses import _METHOD_NAMES, REFERENCES, _f, _p, figure_entry
from .context import _records, record_frames

__all__ = ["synthesis_extra"]


_FEATURES = {
    "n_studies": "studies counted", "n_comparative": "studies with a comparison group",
    "n_uncontrolled": "studies without a comparison group",
    "n_significant": "studies reporting a statistically significant change",
    "n_improved": "studies showing an improvement", "n_worsened": "studies showing a worsening",
    "n_no_change": "studies showing no change", "n_mixed": "studies with mixed results",
    "n_with_direction": "studies reporting a direction of change",
    "consistency": "the studies' agreement", "direction": "the direction of change",
    "pooled": "a pooled estimate", "pooled_k": "studies pooled",
    "pooled_estimate": "the pooled estimate", "pooled_i2": "I² of the pooled estimate (%)",
    "pooled_pvalue": "the p-value of the pooled estimate",
    "pooled_significant": "a statistically significant pooled estimate",
    "total_n": "participants", "population": "the population", "scope": "the scope",
    "counted": "counted", "studies": "the studies", "design_summary": "their designs",
    "direction_summary": "the directions of change", "pooled_summary": "the pooled result",
    "outcome_kinds": "the outcomes the rules read", "not_counted_note": "",
    "n_rct": "randomised controlled trials",
}


def _feature(name: str) -> str:
    if name in _FEATURES:
        return _FEATURES[name]
    if name.startswith("n_"):
        return f"studies of the design category '{name[2:].replace('_', ' ')}'"
    return name.replace("_", " ")


def _one(label: str) -> str:
    """The singular of a count label ("studies with ..." -> "study with ...")."""
    for plural, single in (("studies", "study"), ("trials", "trial"),
                           ("participants", "participant")):
        if label.startswith(plural):
            return single + label[len(plural):]
        if label.endswith(plural):
            return label[: -len(plural)] + single
    return label


def _num(v) -> str:
    return f"{float(v):g}"


def describe_conditions(when: dict | None) -> str | None:
    """A rule's conditions as a sentence, e.g. ``{"n_rct": {"min": 2}}`` -> "at least 2
    randomised controlled trials". Display only: the rules are applied in evidence.synthesis."""
    if not when:
        return None
    parts = []
    for key, v in when.items():
        label = _feature(key)
        counted = key.startswith("n_") or key in ("pooled_k", "total_n")
        if isinstance(v, dict):
            lo, hi = v.get("min"), v.get("max")
            if lo is not None and hi is not None:
                parts.append(f"between {_num(lo)} and {_num(hi)} {label}")
            elif lo is not None:
                parts.append(f"at least {_num(lo)} {_one(label) if lo == 1 else label}")
            elif hi is not None:
                parts.append(f"at most {_num(hi)} {_one(label) if hi == 1 else label}")
            else:
                parts.append(f"{label}: " + ", ".join(f"{k} {x}" for k, x in v.items()))
        elif isinstance(v, bool):
            parts.append(label if v else f"no {label}")
        elif isinstance(v, (int, float)) and counted:
            parts.append(f"no {_one(label)}" if v == 0 else
                         f"exactly {_num(v)} {_one(label) if v == 1 else label}")
        elif isinstance(v, (list, tuple)):
            parts.append(f"{label} is one of " + ", ".join(map(str, v)))
        else:
            parts.append(f"{label} is {v}")
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + "."


def describe_template(template: str | None) -> str | None:
    """A rule's explanation template with each placeholder named in words (‹…›)."""
    if not template:
        return template
    def name(m):
        label = _feature(m.group(1))
        return f"‹{label}›" if label else ""
    return re.sub(r"\{(\w+)\}", name, template).replace(" .", ".")


def _kind_names(frames) -> dict[str, str]:
    """Outcome kinds as the review labels them (falls back to the kind itself)."""
    ok = frames.outcome_kinds
    if ok is None or not len(ok) or "label" not in ok.columns:
        return {}
    return {k: v for k, v in zip(ok["kind"], ok["label"]) if v is not None and v == v}


def _pair(pre, post) -> str:
    """Two time points as "pre → post"; one missing end is said in words."""
    have = [x for x in (pre, post) if x is not None and x == x and str(x).strip()]
    if len(have) == 2:
        return f"{pre} → {post}"
    if have:
        return f"{have[0]} (no second time point)"
    return "time points not reported"


def _effects_rows(eff: pd.DataFrame) -> list[dict]:
    rows = []
    for r in _records(eff):
        rows.append({
            "label": r["label"], "inclusion": r["inclusion"], "outcome": r["outcome_name"],
            "kind": r["outcome_kind"], "pair": _pair(r["pre_label"], r["post_label"]),
            "m_pre": _f(r["m_pre"], 2) if r["m_pre"] is not None else "n.r.",
            "sd_pre": _f(r["sd_pre"], 2) if r["sd_pre"] is not None else "n.r.",
            "m_post": _f(r["m_post"], 2) if r["m_post"] is not None else "n.r.",
            "sd_post": _f(r["sd_post"], 2) if r["sd_post"] is not None else "n.r.",
            "n": _f(r["n"], 0) if r["n"] is not None else "n.r.",
            "direction": r["direction"] or "not reported",
            "computable": bool(r["computable"]),
            "smcr": _f(r["yi_benefit"]) if r["computable"] else None,
            "ci": (f"[{_f(r['ci_low_benefit'])}, {_f(r['ci_high_benefit'])}]"
                   if r["computable"] else None),
            "better": r["better"],
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
        cells = {f"{r:.1f}": f"{_f(x.yi_benefit)} [{_f(x.ci_low_benefit)}, "
                             f"{_f(x.ci_high_benefit)}]"
                 for r, x in zip(g["ri"], g.itertuples())}
        out.append({"label": n["label"], "outcome": n["outcome_name"],
                    "pair": _pair(n["pre_label"], n["post_label"]),
                    "cells": [cells.get(f"{r:.1f}", "—") for r in rs]})
    return [f"{r:.1f}" for r in rs], out


def _forest_figures(eff: pd.DataFrame, frames, kinds: list[str], r_text: str,
                    pooled: pd.DataFrame) -> list[dict[str, Any]]:
    """One forest plot per injury × strategy × outcome kind that has an estimate.

    Outcome kinds come in the review's order (``synthesis.outcome_kinds``: the lead kind
    first); different kinds never share an axis. A panel is drawn only where at least one
    study has a computable effect; its other studies of that kind show their reason. Where
    no study of a kind has an estimate, no plot is drawn (the effects table gives why).
    """
    from ..plots import forest

    figs = []
    strat = frames.study_strategies
    names = dict(zip(frames.strategies["strategy"], frames.strategies["name"]))
    injuries = dict(zip(frames.injuries["injury"], frames.injuries["name"]))
    e = eff.merge(strat[["study", "strategy"]], on="study")
    e = e[e["outcome_kind"].isin(kinds) & (e["inclusion"] == "confirmed")].copy()
    # one row per study × outcome where nothing is computable (the reason is the same for
    # every time pair); computed effects keep their time pair
    e["_key"] = e["study"] + "|" + e["outcome"] + "|" + e["strategy"]
    some = e.groupby("_key")["computable"].transform("any")
    e = e[e["computable"] | ~some].drop_duplicates(["_key", "computable", "pre", "post"])
    e = e[e["computable"] | ~e.duplicated("_key")]
    order = {k: i for i, k in enumerate(kinds)}
    e["_kind_order"] = e["outcome_kind"].map(order)
    e = e.sort_values(["_kind_order", "injury", "strategy", "label", "outcome"])
    # studies often test several strategies at once: a panel whose rows are the same under
    # two strategies is drawn once, naming both
    panels: dict[tuple, list] = {}
    for (_, injury, strategy), g in e.groupby(["_kind_order", "injury", "strategy"], sort=True):
        if not g["computable"].astype(bool).any():
            continue  # no estimate of this kind: the effects table gives the reasons
        key = (g["_kind_order"].iloc[0], injury, tuple(sorted(g["study"] + "|" + g["outcome"]
                                                              + "|" + g["pre"].fillna("")
                                                              + "|" + g["post"].fillna(""))))
        panels.setdefault(key, [g, []])[1].append(strategy)
    for (_, injury, _rows), (g, strategies) in panels.items():
        strategy = strategies[0]
        comp = g["computable"].astype(bool)
        kind = str(g["outcome_kind"].iloc[0])
        pre = g["pre_label"].fillna(g["pre"]).fillna("")
        post = g["post_label"].fillna(g["post"]).fillna("")
        pair = np.where(comp, " (" + pre + " → " + post + ")", "")
        lab = pd.Series(g["label"] + " · " + g["outcome_name"] + pair, index=g.index)
        rows = pd.DataFrame({"label": lab[comp], "yi": g.loc[comp, "yi_benefit"],
                             "ci_low": g.loc[comp, "ci_low_benefit"],
                             "ci_high": g.loc[comp, "ci_high_benefit"],
                             "weight": float("nan")})
        reasons = g.loc[~comp, "reason"].fillna("not computable").str.split(";").str[0]
        not_poolable = pd.DataFrame({"label": lab[~comp], "reason": reasons})
        kind_name = kind[:1].upper() + kind[1:]
        strat_names = " and ".join(str(names.get(x, x)) for x in strategies)
        title = f"{injuries.get(injury, injury)} · {strat_names} · {kind_name}"
        fig = forest(rows, None, measure="SMCR (positive = improvement)",
                     not_poolable=not_poolable, title=title,
                     favours=("worse", "better"), overall_test=False)
        cell = pooled[(pooled["injury"] == injury) & (pooled["strategy"].isin(strategies))
                      & (pooled["outcome_kind"] == kind)] if "outcome_kind" in pooled else \
            pooled.iloc[0:0]
        n_pooled = int((cell["status"] == "pooled").sum()) if "status" in cell else 0
        pooled_note = (" Pooled: see the pooled table." if n_pooled else
                       " No pooled estimate: fewer than two studies of this outcome kind "
                       "have a computable effect.")
        figs.append(figure_entry(
            f"forest-{injury}-{'-'.join(strategies)}-{kind}", f"Forest plot: {title}",
            f"Standardised mean change per study and outcome ({r_text}), oriented so that "
            "positive is an improvement; rows that cannot be computed give the reason."
            + pooled_note, fig))
    return figs


_MEASURE_TEXT = {
    "SMCR": "standardised mean changes (SMCR: change divided by the pre-test SD, with "
            "metafor's small-sample correction)",
    "SMCC": "standardised mean changes (SMCC: change divided by the SD of the change scores)",
    "MC": "raw mean changes (MC)",
}


def _methods_text(results, rules_file: str) -> str:
    o = results.options
    rv = results.review
    if o.assumed_correlation is None:
        r_text = ("no pre-post correlation was given, so no standardised mean change is "
                  "computed")
    else:
        note = rv.get("correlation_note")
        r_text = (f"the pre-post correlation is taken as r = {o.assumed_correlation:g}"
                  f"{' (' + note + ')' if note else ''} and varied from "
                  f"{min(o.correlations):g} to {max(o.correlations):g} in a sensitivity "
                  "analysis")
    method = _METHOD_NAMES.get(o.method, o.method)
    return (f"Pre-post effects are {_MEASURE_TEXT.get(o.measure, o.measure)} computed only "
            f"where mean and SD are reported at both time points with n; {r_text}. Each "
            "effect is oriented by its outcome's direction of benefit, so that a positive "
            f"value is an improvement. Groups of {rv['injury_label']} × {rv['strategy_label']}"
            f" × outcome kind are pooled with {method} ({o.method}) random effects when two or "
            "more confirmed studies have a computable effect; otherwise the single-study "
            "estimate or the reason is shown. Where only means are reported, the means and the "
            "reported direction of change are shown and no variance is invented. Levels of "
            f"evidence follow the ordered rules in {rules_file} (first match wins); studies "
            "whose inclusion is unconfirmed are reported beside, never inside, the level.")


def synthesis_extra(results) -> dict[str, Any]:
    """Context, figures and sections of the mixed-methods synthesis, read from the results."""
    from ..plots import evidence_matrix

    frames = record_frames(results)
    eff = results.effects.to_frame()
    sens = results.effects_sensitivity.to_frame()
    pooled = results.pooled.to_frame()
    matrix = results.matrix.to_frame()
    o = results.options
    rules_file = str(results.review.get("rules_file") or "rules.yaml")
    any_label = "any " + str(results.review["strategy_label"])

    # the experts' stance is shown in a cell only where they considered that strategy (or,
    # for injuries without any strategy detail, for the injury as a whole)
    shown = matrix.assign(stance_shown=matrix["expert_stance"].where(
        matrix["expert_considered"].fillna(False).astype(bool) | (matrix["scope"] == "injury"),
        "not reported"))
    fig = evidence_matrix(shown, row="injury_name", col="strategy_name",
                          level_col="clinical_level", stance_col="stance_shown",
                          title="Clinical evidence and expert opinion")
    figs = [figure_entry("evidence-matrix", "Evidence matrix",
                         f"Per {results.review['injury_label']} and "
                         f"{results.review['strategy_label']}: the level of clinical evidence "
                         "by the rules (square) beside the experts' stance (circle), shown "
                         "where the experts considered that strategy. Rows without clinical "
                         f"studies appear under '{any_label}'.", fig)]
    kinds = list(frames.outcome_kinds.sort_values("order")["kind"]) or sorted(
        set(eff["outcome_kind"].dropna()) - {"biomechanical"})
    r_text = ("no pre-post correlation given" if o.assumed_correlation is None else
              f"pre-post r = {o.assumed_correlation:g} assumed, not reported")
    figs += _forest_figures(eff, frames, kinds, r_text, pooled)

    pool_rows = []
    inj_names = dict(zip(frames.injuries["injury"], frames.injuries["name"]))
    strat_names = dict(zip(frames.strategies["strategy"], frames.strategies["name"]))
    kind_names = _kind_names(frames)
    for r in _records(pooled):
        r = {**r, "injury": inj_names.get(r["injury"], r["injury"]),
             "strategy": strat_names.get(r["strategy"], r["strategy"])}
        if "outcome_kind" in r:
            r["outcome_kind"] = kind_names.get(r["outcome_kind"], r["outcome_kind"])
        pool_rows.append({**r, "estimate_text": _f(r["estimate"]),
                          "ci": (f"[{_f(r['ci_low'])}, {_f(r['ci_high'])}]"
                                 if r["estimate"] is not None else None),
                          "i2_text": _f(r["i2"], 1), "p": _p(r["pvalue"])})
    r_cols, sens_rows = _sensitivity_rows(sens, eff)
    injuries = dict(zip(frames.injuries["injury"], frames.injuries["name"]))
    strategies = dict(zip(frames.strategies["strategy"], frames.strategies["name"]))
    ctx = {
        "conclusions": results.conclusions.records(),
        "matrix": results.matrix.records(),
        "effects": _effects_rows(eff),
        "pooled": pool_rows,
        "sensitivity_r": r_cols,
        "sensitivity": sens_rows,
        "stated_check": [{**c, "injury": injuries.get(c["injury"], c["injury"]),
                          "strategy": (strategies.get(c["strategy"], c["strategy"])
                                       if c["strategy"] not in (None, "any") else None)}
                         for c in results.stated_check.records()],
        "measure": o.measure,
        "rules": [{**r, "when": describe_conditions(r["when"]),
                   "explanation": describe_template(r["explanation"])}
                  for r in results.rules.records()],
        "rules_path": rules_file,
        "methods": _methods_text(results, rules_file),
        "references": [REFERENCES["smcr"]] + ([REFERENCES[o.method]] if o.method in REFERENCES
                                              else []) + [REFERENCES["metafor"]],
    }
    sections = [{"id": "conclusions", "title": "Conclusions"},
                {"id": "levels", "title": "Levels of evidence and expert opinion"},
                {"id": "clinical-effects", "title": "Clinical effects and pooling"}]
    return {"synthesis": ctx, "synthesis_figures": figs, "figures": figs,
            "extra_sections": sections}
