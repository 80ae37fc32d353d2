"""Risk of bias of the studies and certainty of each outcome's evidence (GRADE), computed once.

Frames and fitted analyses in, frames out:

* :func:`rob_table` — every recorded assessment, domain by domain, with the algorithm's
  judgement beside the reviewer's (:func:`evidence.assess_rob`); studies without one are
  listed as "not assessed", never guessed.
* :func:`study_judgements` — each study's overall judgement for one outcome (an
  outcome-specific assessment before a whole-study one).
* :func:`rob_sensitivity` — an analysis refitted without the studies at high risk.
* :func:`grade_review` — per outcome, the eight GRADE domains with the toolkit's proposal
  (:mod:`evidence.certainty.grade`), the reviewer's recorded decision and the level used, the
  certainty, and the Summary of Findings numbers (absolute effects from an assumed comparator
  risk that is data: the pooled control-arm risk unless the review gives one with a source).

No I/O; :func:`evidence.run_review` calls these and the supplement renders what they return.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .certainty.grade import (DOWNGRADE_DOMAINS, GRADE_DOMAINS, HIGH_RISK, RATIO_MEASURES,
                              absolute_effects, certainty_symbol, grade_certainty,
                              optimal_information_size,
                              propose_imprecision, propose_inconsistency,
                              propose_large_effect, propose_publication_bias,
                              propose_risk_of_bias)
from .certainty.rob import NOT_ASSESSED
from .analysis import MultilevelAnalysisResult, around_method, fit_multilevel
from .meta.fit import meta
from .model import Frames

__all__ = ["rob_table", "study_judgements", "rob_sensitivity", "rob_sensitivity_pre_post",
           "grade_review",
           "rob_by_analysis", "rob_weighted_shares", "ROB_BY_ANALYSIS_COLUMNS",
           "ROB_TABLE_COLUMNS", "GRADE_TABLE_COLUMNS", "SOF_COLUMNS"]

ROB_TABLE_COLUMNS = ["study", "label", "outcome", "tool", "effect", "domain", "domain_name",
                     "algorithm", "reviewer", "judgement", "conflict", "rule", "support",
                     "override_reason", "source", "where"]
GRADE_TABLE_COLUMNS = ["analysis", "outcome", "domain", "direction", "proposed",
                       "proposal_rule", "decided", "decision_reason", "level", "basis"]
SOF_COLUMNS = ["analysis", "outcome", "importance", "measure", "effect_label", "transform",
               "estimate", "ci_low", "ci_high", "k", "participants", "comparator_risk",
               "comparator_basis", "risk_comparator", "risk_intervention",
               "risk_intervention_low", "risk_intervention_high", "difference",
               "difference_low", "difference_high", "absolute_note", "start", "start_reason",
               "certainty", "certainty_symbol", "upper_bound", "reasons", "comments"]


# ------------------------------------------------------------------------- risk of bias


def _opt(v: Any) -> Any:
    """None for a missing value (frames hold NaN where a record field was empty)."""
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v


def rob_table(frames: Frames) -> pd.DataFrame:
    """Every assessment domain by domain (plus its overall row), and one "not assessed" row
    per study without any assessment."""
    labels = frames.studies.set_index("study")["label"]
    if len(frames.risk_of_bias):
        from .certainty import assess_rob
    rows: list[dict[str, Any]] = []
    assessed = set()
    for r in frames.risk_of_bias.itertuples(index=False):
        assessed.add(r.study)
        a = assess_rob(r.tool, signalling=r.signalling or None, domains=r.domains or None,
                       overall=_opt(r.overall), override_reason=_opt(r.override_reason),
                       effect=r.effect)
        support = r.support or {}
        base = {"study": r.study, "label": labels.get(r.study, r.study),
                "outcome": _opt(r.outcome), "tool": r.tool, "effect": r.effect,
                "override_reason": _opt(r.override_reason), "source": r.source,
                "where": _opt(r.where)}
        for d in a.domains:
            name = (r.domain_names or {}).get(d.domain, d.name) if r.tool == "custom" else d.name
            rows.append({**base, "domain": d.domain, "domain_name": name,
                         "algorithm": d.algorithm, "reviewer": d.reviewer,
                         "judgement": d.judgement, "conflict": d.conflict, "rule": d.rule,
                         "support": support.get(d.domain)})
        overall_rule = a.to_frame().iloc[-1]["rule"]
        rows.append({**base, "domain": "Overall", "domain_name": "Overall",
                     "algorithm": a.overall_algorithm, "reviewer": a.overall_reviewer,
                     "judgement": a.overall, "conflict": bool(a.overall_conflict),
                     "rule": _opt(overall_rule) or (
                         f"the reviewer's overall judgement '{a.overall_reviewer}' differs "
                         f"from the rule's '{a.overall_algorithm}'" if a.overall_conflict
                         else "the tool's overall rule applied to the domain judgements"
                         if a.overall_algorithm is not None else None),
                     "support": support.get("overall", support.get("Overall"))})
    for s in frames.studies["study"]:
        if s not in assessed:
            rows.append({"study": s, "label": labels.get(s, s), "outcome": None, "tool": None,
                         "effect": None, "domain": "Overall", "domain_name": "Overall",
                         "algorithm": None, "reviewer": None, "judgement": NOT_ASSESSED,
                         "conflict": False, "rule": "no assessment recorded",
                         "support": None, "override_reason": None, "source": None,
                         "where": None})
    return pd.DataFrame(rows, columns=ROB_TABLE_COLUMNS)


def study_judgements(rob: pd.DataFrame, studies: Sequence[str],
                     outcome: str | None) -> pd.Series:
    """Overall judgement per study for ``outcome``: its own assessment, else the study's
    whole-study one, else "not assessed"."""
    overall = rob[rob["domain"] == "Overall"]
    own = overall[overall["outcome"].notna() & (overall["outcome"] == outcome)]
    whole = overall[overall["outcome"].isna()]
    out = pd.Series(NOT_ASSESSED, index=pd.Index(list(studies), name="study"), dtype=object)
    for part in (whole, own):  # the outcome's own assessment last, so it wins
        j = part.drop_duplicates("study", keep="last").set_index("study")["judgement"]
        hit = out.index.intersection(j.index)
        out.loc[hit] = j.loc[hit]
    return out


ROB_BY_ANALYSIS_COLUMNS = ["analysis", "tool", "study", "label", "domain", "domain_name",
                           "judgement", "weight"]


def rob_by_analysis(analyses: Sequence[Any], rob: pd.DataFrame) -> pd.DataFrame:
    """Per planned analysis, each pooled study's judgement per domain for the analysis'
    outcome (its own assessment, else the whole-study one), with the study's weight in the
    pooled model (percent). Studies without an assessment have one "Overall" row "not
    assessed". Analyses without any assessed study are left out."""
    assessed = rob[rob["tool"].notna()]
    parts = []
    for a in analyses:
        if a.pooled is None or assessed.empty:
            continue
        used = a.effects[a.effects["computable"]]
        own = assessed[assessed["outcome"] == a.spec.outcome]
        whole = assessed[assessed["outcome"].isna() & ~assessed["study"].isin(own["study"])]
        mine = pd.concat([own, whole])
        mine = mine[mine["study"].isin(used["study"])]
        if mine.empty:
            continue
        w = used.set_index("study")["weight"]
        rows = mine[["tool", "study", "label", "domain", "domain_name", "judgement"]].copy()
        missing = used[~used["study"].isin(mine["study"])]
        rows = pd.concat([rows, pd.DataFrame({
            "tool": None, "study": missing["study"], "label": missing["label"],
            "domain": "Overall", "domain_name": "Overall", "judgement": NOT_ASSESSED})])
        rows["weight"] = rows["study"].map(w).to_numpy()
        rows.insert(0, "analysis", a.spec.id)
        order = {sid: i for i, sid in enumerate(used["study"])}
        rows = rows.iloc[np.argsort(rows["study"].map(order).to_numpy(), kind="stable")]
        parts.append(rows)
    if not parts:
        return pd.DataFrame(columns=ROB_BY_ANALYSIS_COLUMNS)
    return pd.concat(parts, ignore_index=True)[ROB_BY_ANALYSIS_COLUMNS]


def rob_weighted_shares(by_analysis: pd.DataFrame) -> pd.DataFrame:
    """Share of each judgement per analysis, tool and domain, weighted by the studies'
    weights in the pooled model (as robvis' weighted summary plot); studies without an
    assessment count as "not assessed" in every domain of the tool."""
    from .certainty.rob import JUDGEMENTS, rob_shares

    out = []
    for (aid, tool), g in by_analysis[by_analysis["tool"].notna()].groupby(
            ["analysis", "tool"], sort=False):
        studies = by_analysis[(by_analysis["analysis"] == aid)
                              & ((by_analysis["tool"] == tool) | by_analysis["tool"].isna())]
        weights = studies.drop_duplicates("study").set_index("study")["weight"]
        labels = JUDGEMENTS.get(tool, tuple(dict.fromkeys(g["judgement"]))) + (NOT_ASSESSED,)
        for domain in dict.fromkeys(g["domain"]):
            j = g[g["domain"] == domain].drop_duplicates("study").set_index("study")["judgement"]
            j = j.reindex(weights.index).fillna(NOT_ASSESSED)
            shares = rob_shares(list(j.to_numpy()), list(weights.to_numpy()), labels=labels)
            out += [{"analysis": aid, "tool": tool, "domain": domain, "judgement": k,
                     "share": v} for k, v in shares.items()]
    return pd.DataFrame(out, columns=["analysis", "tool", "domain", "judgement", "share"])


def rob_sensitivity(analysis, rob: pd.DataFrame) -> dict[str, Any] | None:
    """The analysis refitted without the studies whose overall judgement is high risk
    (RoB 2 "high"; ROBINS-I "serious" or "critical"); None when no study is assessed.
    Works on planned two-arm analyses and on multilevel ones (refitted with the same
    assumed correlation)."""
    multilevel = isinstance(analysis, MultilevelAnalysisResult)
    if (analysis.fit if multilevel else analysis.pooled) is None:
        return None
    eff = analysis.effects
    used = eff[eff["computable"]]
    studies = list(dict.fromkeys(used["study"]))
    labels = used.drop_duplicates("study").set_index("study")["label"]
    judged = study_judgements(rob, studies, analysis.spec.outcome)
    if (judged == NOT_ASSESSED).all():
        return None
    high = judged.isin(HIGH_RISK)
    kept = [s for s in studies if not high[s]]
    out = {"analysis": analysis.spec.id, "k_all": len(studies), "k_kept": len(kept),
           "excluded": ", ".join(labels[s] for s in studies if high[s]) or None,
           "not_assessed": int((judged == NOT_ASSESSED).sum())}
    empty = {"estimate": None, "ci_low": None, "ci_high": None, "tau2": None, "i2": None}
    if len(kept) == len(studies):
        return {**out, **empty, "note": "no pooled study is at high risk of bias"}
    if not kept:
        return {**out, **empty, "note": "every pooled study is at high risk of bias"}
    spec = analysis.spec
    if multilevel:
        used = used[used["study"].isin(kept)].reset_index(drop=True)
        if used["study"].nunique() < 2:
            return {**out, **empty, "note": "fewer than two studies left: no multilevel model"}
        _, r = fit_multilevel(used, spec)
        return {**out, "estimate": float(r.estimate), "ci_low": float(r.ci_low),
                "ci_high": float(r.ci_high), "tau2": float(np.sum(r.sigma2)), "i2": None,
                "note": None}
    keep = used["study"].isin(kept).to_numpy()
    r = meta(used["yi"].to_numpy()[keep], used["vi"].to_numpy()[keep],
             method=around_method(spec), test=spec.test, level=spec.level)
    return {**out, "estimate": r.estimate, "ci_low": r.ci_low, "ci_high": r.ci_high,
            "tau2": r.tau2, "i2": r.i2, "note": None}


def _group_effects(effects: pd.DataFrame, g) -> pd.DataFrame:
    """The pre-post effects of one pooled group (injury × strategy × outcome kind); a study's
    ``strategies`` is a list or a comma-separated text."""
    def has(x, st=g.strategy):
        return st in (x if isinstance(x, (list, tuple)) else str(x).split(", "))

    return effects[(effects["injury"] == g.injury) & (effects["outcome_kind"] == g.outcome_kind)
                   & effects["strategies"].map(has)]


def rob_sensitivity_pre_post(effects: pd.DataFrame, pooled: pd.DataFrame, frames: Frames,
                             rob: pd.DataFrame, method: str, test: str,
                             level: float) -> list[dict[str, Any]]:
    """The pre-post groups pooled from two or more studies, pooled again without the
    studies at high risk of bias (their whole-study judgement); one row per group that
    loses a study. Empty when no study is assessed or none is at high risk."""
    from .synthesis import pool_by_group

    studies = list(dict.fromkeys(effects["study"]))
    judged = study_judgements(rob, studies, None)
    high = set(judged.index[judged.isin(HIGH_RISK)])
    if not high or pooled is None:
        return []
    keys = ["injury", "strategy", "outcome_kind"]
    again = pool_by_group(effects[~effects["study"].isin(high)], method=method, test=test,
                          level=level).table.set_index(keys)
    labels = frames.studies.set_index("study")["label"]
    names_i = frames.injuries.set_index("injury")["name"]
    names_s = frames.strategies.set_index("strategy")["name"]
    rows = []
    for g in pooled[pooled["status"] == "pooled"].itertuples(index=False):
        mine = _group_effects(effects[effects["computable"]], g)
        gone = [s for s in dict.fromkeys(mine["study"]) if s in high]
        if not gone:
            continue
        r = again.loc[(g.injury, g.strategy, g.outcome_kind)] \
            if (g.injury, g.strategy, g.outcome_kind) in again.index else None
        ok = r is not None and r["status"] == "pooled"
        rows.append({"analysis": f"{g.injury}/{g.strategy}/{g.outcome_kind}",
                     "title": f"{names_i.get(g.injury, g.injury)}: "
                              f"{names_s.get(g.strategy, g.strategy)}, {g.outcome_kind} "
                              "(pre-post)",
                     "k_all": int(g.k), "k_kept": int(r["k"]) if r is not None else 0,
                     "excluded": ", ".join(labels.get(s, s) for s in gone),
                     "not_assessed": int((judged == NOT_ASSESSED).sum()),
                     "estimate": float(r["estimate"]) if ok else None,
                     "ci_low": float(r["ci_low"]) if ok else None,
                     "ci_high": float(r["ci_high"]) if ok else None,
                     "tau2": float(r["tau2"]) if ok else None,
                     "i2": float(r["i2"]) if ok and pd.notna(r["i2"]) else None,
                     "note": None if ok else "fewer than two studies left: not pooled"})
    return rows


# ------------------------------------------------------------------------------- GRADE


def _decisions(spec: dict | None) -> dict[str, dict]:
    return dict((spec or {}).get("decisions") or {})


def _used_level(domain: str, proposals: dict, decisions: dict) -> int | None:
    """The level a domain counts with: the reviewer's decision, else the proposal's."""
    dec, p = decisions.get(domain), proposals.get(domain)
    return dec["level"] if dec else (p.level if p is not None else None)


def _domain_rows(aid: str, outcome: str, proposals: dict, decisions: dict) -> list[dict]:
    rows = []
    for d in GRADE_DOMAINS:
        p = proposals.get(d)
        dec = decisions.get(d)
        level = _used_level(d, proposals, decisions)
        rows.append({"analysis": aid, "outcome": outcome, "domain": d,
                     "direction": "down" if d in DOWNGRADE_DOMAINS else "up",
                     "proposed": None if p is None else p.level,
                     "proposal_rule": "a judgement about the question; not proposed"
                     if p is None else p.rule,
                     "decided": None if dec is None else dec["level"],
                     "decision_reason": None if dec is None else dec["reason"],
                     "level": level,
                     "basis": "reviewer" if dec else ("proposal" if level is not None
                                                      else NOT_ASSESSED)})
    return rows


def _symbol(label: str | None) -> str | None:
    return None if label is None else certainty_symbol(label)


def _certainty(start: str | None, rows: list[dict]) -> tuple[str | None, bool, str]:
    levels = {r["domain"]: r["level"] for r in rows}
    if start is None:
        return None, False, ""
    label, bound = grade_certainty(start, levels)
    reasons = [f"{r['domain']} {r['level']:+d}: "
               + (r["decision_reason"] if r["basis"] == "reviewer" else r["proposal_rule"])
               for r in rows if r["level"]]
    missing = [r["domain"] for r in rows
               if r["direction"] == "down" and r["level"] is None]
    if missing:
        reasons.append("not assessed: " + ", ".join(missing)
                       + " (the certainty is at most this level)")
    return label, bound, "; ".join(reasons)


def _two_arm(a, spec: dict | None, rob: pd.DataFrame) -> tuple[list[dict], dict] | None:
    p = a.pooled
    if p is None:
        return None
    sa = a.spec
    eff = a.effects
    used = eff[eff["computable"]]
    k = len(used)
    measure = sa.measure.upper()
    ratio = measure in RATIO_MEASURES
    thr = (spec or {}).get("thresholds")
    if thr is None and ratio:
        thr = (0.75, 1.25)
    thr_a = None if thr is None else tuple(math.log(t) if ratio else float(t) for t in thr)
    n = float(used["n"].sum()) if "n" in used and used["n"].notna().all() else None
    r0, basis = None, None
    arm2 = sa.arms[1]
    if measure in ("RR", "OR", "RD"):
        if spec and spec.get("comparator_risk") is not None:
            r0 = float(spec["comparator_risk"])
            basis = f"assumed comparator risk ({spec.get('comparator_risk_source')})"
        elif f"{arm2}_events" in used and f"{arm2}_total" in used:
            ev_, tot = used[f"{arm2}_events"].sum(), used[f"{arm2}_total"].sum()
            if tot > 0:
                r0 = float(ev_ / tot)
                basis = (f"pooled {arm2}-arm risk: {ev_:,.0f} events in {tot:,.0f} "
                         f"participants of {k} {'study' if k == 1 else 'studies'}")
    ois = optimal_information_size(r0) if r0 is not None and 0 < r0 < 1 else None
    weights = used["weight"].to_numpy(float) if "weight" in used else None
    judged = study_judgements(rob, used["study"], sa.outcome)
    start = (spec or {}).get("start")
    proposals = {
        "risk of bias": propose_risk_of_bias(list(judged.to_numpy()), weights),
        "inconsistency": propose_inconsistency(k, getattr(p, "i2", None),
                                               getattr(p, "pi_low", None),
                                               getattr(p, "pi_high", None)),
        "imprecision": propose_imprecision(p.ci_low, p.ci_high, thresholds=thr_a, n=n,
                                           ois=ois),
        "publication bias": propose_publication_bias(
            k, None if a.egger is None else a.egger.pvalue),
    }
    decisions = _decisions(spec)
    outcome = (spec or {}).get("outcome") or sa.title
    down = any((_used_level(d, proposals, decisions) or 0) < 0 for d in DOWNGRADE_DOMAINS)
    proposals["large effect"] = propose_large_effect(
        measure, p.estimate, p.ci_low, p.ci_high, start=start or "high", downgraded=down)
    rows = _domain_rows(sa.id, outcome, proposals, decisions)
    label, bound, reasons = _certainty(start, rows)
    absolute = (absolute_effects(measure, p.estimate, p.ci_low, p.ci_high, r0)
                if r0 is not None else {})
    note = None if absolute else (
        "no comparator risk: the measure is not a risk" if measure not in ("RR", "OR", "RD")
        else "no comparator risk: the comparator arm's totals are not reported")
    sof = {"analysis": sa.id, "outcome": outcome,
           "importance": (spec or {}).get("importance"), "measure": sa.measure,
           "effect_label": sa.effect_label or sa.measure, "transform": sa.transform,
           "estimate": p.estimate, "ci_low": p.ci_low, "ci_high": p.ci_high, "k": k,
           "participants": n, "comparator_risk": r0, "comparator_basis": basis,
           **{c: absolute.get(c) for c in ("risk_comparator", "risk_intervention",
                                            "risk_intervention_low", "risk_intervention_high",
                                            "difference", "difference_low",
                                            "difference_high")},
           "absolute_note": note, "start": start,
           "start_reason": (spec or {}).get("start_reason") if start else
           "the starting level (randomised trials: high; other designs: low) is not stated "
           "in review.yaml (grade:)",
           "certainty": label, "certainty_symbol": _symbol(label), "upper_bound": bound,
           "reasons": reasons,
           "comments": (spec or {}).get("comments")}
    return rows, sof


_PRE_POST_START = ("uncontrolled before-after (pre-post) effects: no comparison group, so "
                   "the evidence starts at low certainty (GRADE: non-randomised evidence "
                   "starts low)")


def _pre_post(pooled: pd.DataFrame, effects: pd.DataFrame, frames: Frames,
              rob: pd.DataFrame) -> list[tuple[list[dict], dict]]:
    """GRADE of each pre-post group with an estimate (pooled or single-study)."""
    out = []
    names_i = frames.injuries.set_index("injury")["name"]
    names_s = frames.strategies.set_index("strategy")["name"]
    kinds = list(frames.outcome_kinds.sort_values("order")["kind"])
    has = pooled[pooled["estimate"].notna()]
    eff = effects[effects["computable"]]
    for g in has.itertuples(index=False):
        aid = f"{g.injury}/{g.strategy}/{g.outcome_kind}"
        outcome = (f"{names_i.get(g.injury, g.injury)}: {names_s.get(g.strategy, g.strategy)}"
                   f", {g.outcome_kind} (pre-post)")
        sel = _group_effects(eff, g)
        studies = list(dict.fromkeys(sel["study"]))
        n = float(sel.groupby("study")["n"].max().sum()) if len(sel) and \
            sel["n"].notna().all() else None
        k = int(g.k)
        judged = study_judgements(rob, studies, None)
        proposals = {
            "risk of bias": propose_risk_of_bias(list(judged.to_numpy())),
            "inconsistency": propose_inconsistency(k, None if pd.isna(g.i2) else g.i2,
                                                   g.pi_low, g.pi_high),
            "imprecision": propose_imprecision(g.ci_low, g.ci_high),
            "publication bias": propose_publication_bias(k, None),
            "large effect": propose_large_effect(g.measure or "SMCR", g.estimate, g.ci_low,
                                                 g.ci_high, start="low", downgraded=False),
        }
        rows = _domain_rows(aid, outcome, proposals, {})
        label, bound, reasons = _certainty("low", rows)
        importance = kinds.index(g.outcome_kind) + 1 if g.outcome_kind in kinds else None
        sof = {"analysis": aid, "outcome": outcome, "importance": importance,
               "measure": g.measure, "effect_label": f"{g.measure} (positive = improvement)",
               "transform": None, "estimate": g.estimate, "ci_low": g.ci_low,
               "ci_high": g.ci_high, "k": k, "participants": n, "comparator_risk": None,
               "comparator_basis": None,
               **{c: None for c in ("risk_comparator", "risk_intervention",
                                    "risk_intervention_low", "risk_intervention_high",
                                    "difference", "difference_low", "difference_high")},
               "absolute_note": "not applicable: a within-group change, no comparison group",
               "start": "low", "start_reason": _PRE_POST_START, "certainty": label,
               "certainty_symbol": _symbol(label),
               "upper_bound": bound, "reasons": reasons,
               "comments": (g.assumption if isinstance(g.assumption, str) else None)}
        out.append((rows, sof))
    # the most important outcome kind is listed even where nothing could be estimated
    first = kinds[0] if kinds else None
    for g in pooled[pooled["estimate"].isna() & (pooled["outcome_kind"] == first)].itertuples(
            index=False):
        outcome = (f"{names_i.get(g.injury, g.injury)}: {names_s.get(g.strategy, g.strategy)}"
                   f", {g.outcome_kind} (pre-post)")
        sof = {c: None for c in SOF_COLUMNS}
        sof.update({"analysis": f"{g.injury}/{g.strategy}/{g.outcome_kind}",
                    "outcome": outcome, "importance": 1, "measure": g.measure,
                    "k": int(g.k_studies), "upper_bound": False,
                    "absolute_note": "not applicable: a within-group change, no comparison "
                                     "group",
                    "start_reason": "no estimate: " + str(g.reason).removeprefix(
                        "not poolable: "),
                    "reasons": ""})
        out.append(([], sof))
    return out


def grade_review(frames: Frames, analyses: Sequence[Any], rob: pd.DataFrame,
                 pooled: pd.DataFrame | None = None,
                 effects: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """GRADE per outcome (one row per outcome × domain) and the Summary of Findings rows
    (one per outcome, by importance, then the review's order).

    Planned two-arm analyses are graded with the review's ``grade:`` entry where there is
    one; the pre-post groups of a synthesis (``pooled``) start at low certainty."""
    specs = {g["analysis"]: g for g in frames.grade.to_dict("records")}
    graded = []
    for a in analyses:
        got = _two_arm(a, specs.get(a.spec.id), rob)
        if got is not None:
            graded.append(got)
    if pooled is not None and effects is not None:
        graded += _pre_post(pooled, effects, frames, rob)
    rows = [r for g, _ in graded for r in g]
    sof = pd.DataFrame([s for _, s in graded], columns=SOF_COLUMNS)
    if len(sof):
        order = sof["importance"].fillna(np.inf)
        sof = sof.iloc[np.argsort(order.to_numpy(), kind="stable")].reset_index(drop=True)
    return pd.DataFrame(rows, columns=GRADE_TABLE_COLUMNS), sof
