"""Report context of the risk of bias, the GRADE assessment and the Summary of Findings table.

Reads the ``risk_of_bias``, ``rob_sensitivity``, ``grade`` and ``sof`` parts of a
ReviewResults and formats them; nothing is computed here but display transforms (ratios
shown as ratios) and rounding.
"""

from __future__ import annotations

import math
from typing import Any

from ..formatting import number
from .analyses import _bt

__all__ = ["certainty_context", "certainty_label", "per_thousand", "difference_text",
           "SOF_MAX_OUTCOMES"]

#: GRADE's Summary of Findings table lists at most seven outcomes.
SOF_MAX_OUTCOMES = 7
TOOL_NAMES = {"rob2": "RoB 2", "robins-i": "ROBINS-I", "robins-i-v2": "ROBINS-I V2",
              "custom": "the review's own scale"}


def per_thousand(x: float | None) -> str:
    """A risk per 1,000, rounded to a whole number of people."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{round(x):,} per 1,000"


def _count(x: float) -> str:
    n = round(abs(x))
    return f"{n:,} fewer" if x < 0 and n else (f"{n:,} more" if n else "0 fewer")


def difference_text(d: float, lo: float, hi: float) -> str:
    """"5 fewer per 1,000 (from 6 fewer to 3 fewer)", as GRADEpro words it."""
    return f"{_count(d)} per 1,000 (from {_count(lo)} to {_count(hi)})"


def certainty_label(r: dict[str, Any]) -> tuple[str, str]:
    """(symbol, words) of a Summary of Findings row: ("⊕⊕◯◯", "LOW (at most)"); not rated
    → ("", "not rated")."""
    if r["certainty"] is None:
        return "", "not rated"
    return r["certainty_symbol"], r["certainty"].upper() + (" (at most)" if r["upper_bound"]
                                                           else "")


def _effect(r: dict[str, Any]) -> tuple[str, str]:
    if r["estimate"] is None:
        return "not estimable", ""
    vals = {"estimate": r["estimate"], "ci_low": r["ci_low"], "ci_high": r["ci_high"]}
    vals = _bt(vals, r.get("transform"))
    name = r["measure"]
    return (f"{name} {number(vals['estimate'])}",
            f"({number(vals['ci_low'])} to {number(vals['ci_high'])})")


def _level_text(v: Any, up: bool = False) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "not assessed"
    v = int(v)
    if up:
        return {0: "0 (not rated up)", 1: "+1", 2: "+2"}.get(v, f"{v:+d}")
    return {0: "0 (not serious)", -1: "−1 (serious)", -2: "−2 (very serious)"}.get(
        v, f"{v:+d}")


def _sof_rows(sof: list[dict[str, Any]], grade: list[dict[str, Any]]) -> tuple[list, list]:
    rows, notes = [], []

    def note(text: str) -> int:
        """The footnote number of ``text`` (identical notes share one)."""
        if text not in notes:
            notes.append(text)
        return notes.index(text) + 1

    for r in sof[:SOF_MAX_OUTCOMES]:
        marks = []
        if r["certainty"] is not None and r["start_reason"]:
            marks.append(note(f"Starts at {r['start']} certainty: {r['start_reason']}."))
        for g in grade:
            if g["analysis"] != r["analysis"] or not g["level"]:
                continue
            why = g["decision_reason"] if g["basis"] == "reviewer" else g["proposal_rule"]
            who = "reviewer's decision" if g["basis"] == "reviewer" else "proposed by the rule"
            lv = _level_text(g["level"], g["direction"] == "up")
            marks.append(note(f"{g['domain'].capitalize()} {lv}: {why} ({who})."))
        missing = [g["domain"] for g in grade if g["analysis"] == r["analysis"]
                   and g["direction"] == "down" and g["basis"] == "not assessed"]
        if missing and r["certainty"] is not None:
            marks.append(note("Not assessed: " + ", ".join(missing) + "; the certainty is at "
                              "most the level shown."))
        if r["certainty"] is None:
            marks.append(note(f"Certainty not rated: {r['start_reason']}."))
        symbol, words = certainty_label(r)
        est, ci = _effect(r)
        absolute = r["risk_comparator"] is not None
        k = int(r["k"])
        n = r["participants"]
        if r["estimate"] is None:
            n = None
        rows.append({
            "outcome": r["outcome"], "relative": est, "relative_ci": ci,
            "participants": (f"{n:,.0f}" if n is not None else "—"),
            "studies": f"{k} {'study' if k == 1 else 'studies'}",
            "comparator": per_thousand(r["risk_comparator"]) if absolute else None,
            "intervention": (f"{per_thousand(r['risk_intervention'])} "
                             f"({round(r['risk_intervention_low']):,} to "
                             f"{round(r['risk_intervention_high']):,})") if absolute else None,
            "difference": difference_text(r["difference"], r["difference_low"],
                                          r["difference_high"]) if absolute else None,
            "absolute_note": r["absolute_note"], "comparator_basis": r["comparator_basis"],
            "symbol": symbol, "certainty": words, "marks": [_mark(i) for i in marks],
            "comments": r["comments"]})
    return rows, [{"mark": _mark(i + 1), "text": t} for i, t in enumerate(notes)]


def _mark(i: int) -> str:
    s = ""
    while i:
        i, rem = divmod(i - 1, 26)
        s = chr(97 + rem) + s
    return s


def _grade_tables(sof: list[dict], grade: list[dict]) -> list[dict[str, Any]]:
    out = []
    for r in sof:
        rows = [g for g in grade if g["analysis"] == r["analysis"]]
        if not rows:
            continue
        up = [g["direction"] == "up" for g in rows]
        symbol, words = certainty_label(r)
        out.append({"outcome": r["outcome"], "start": r["start"] or "not stated",
                    "start_reason": r["start_reason"], "symbol": symbol, "certainty": words,
                    "domains": [{"domain": g["domain"].capitalize(),
                                 "direction": "rating down" if g["direction"] == "down"
                                 else "rating up",
                                 "proposed": _level_text(g["proposed"], u)
                                 if g["proposed"] is not None else "—",
                                 "rule": g["proposal_rule"],
                                 "decided": _level_text(g["decided"], u)
                                 if g["decided"] is not None else "—",
                                 "reason": g["decision_reason"],
                                 "used": _level_text(g["level"], u),
                                 "basis": g["basis"]} for g, u in zip(rows, up)]})
    return out


def _rob(results) -> dict[str, Any]:
    t = results.risk_of_bias
    rows = t.records() if t is not None else []
    assessed = [r for r in rows if r["tool"] is not None]
    not_assessed = sorted({r["label"] for r in rows if r["tool"] is None})
    tables = []
    for tool in dict.fromkeys(r["tool"] for r in assessed):
        mine = [r for r in assessed if r["tool"] == tool]
        domains = list(dict.fromkeys((r["domain"], r["domain_name"]) for r in mine))
        named = [(d, n) for d, n in domains if d != "Overall"]
        studies = []
        for key in dict.fromkeys((r["study"], r["outcome"]) for r in mine):
            cells = {r["domain"]: r for r in mine if (r["study"], r["outcome"]) == key}
            first = next(iter(cells.values()))
            studies.append({
                "label": first["label"], "outcome": first["outcome"] or "all outcomes",
                "source": first["source"], "where": first["where"],
                "cells": [{"judgement": cells[d]["judgement"] if d in cells else "—",
                           "algorithm": cells[d]["algorithm"] if d in cells else None,
                           "conflict": bool(cells[d]["conflict"]) if d in cells else False}
                          for d, _ in domains]})
        tables.append({"tool": tool, "tool_name": TOOL_NAMES.get(tool, tool),
                       "domains": [{"id": d, "name": n} for d, n in domains],
                       "named": [{"id": d, "name": n} for d, n in named],
                       "studies": studies})
    conflicts = [f"{r['label']} ({r['outcome'] or 'all outcomes'}), {r['domain']}: the "
                 f"reviewer judged {r['reviewer']}, the algorithm gives {r['algorithm']}"
                 for r in assessed if r["conflict"] and r["domain"] != "Overall"]
    conflicts += [f"{r['label']} ({r['outcome'] or 'all outcomes'}), overall: {r['rule']}"
                  for r in assessed if r["conflict"] and r["domain"] == "Overall"]
    overrides = [f"{r['label']}: overall raised to {r['judgement']} ({r['override_reason']})"
                 for r in assessed if r["domain"] == "Overall" and r["override_reason"]]
    specs = {a.spec.id: a.spec for a in (*results.analyses, *results.multilevel)}
    sens = []
    for x in (results.rob_sensitivity.records() if results.rob_sensitivity is not None
              else []):
        spec = specs.get(x["analysis"])  # None: a pre-post group of the synthesis
        v = _bt({"estimate": x["estimate"], "ci_low": x["ci_low"], "ci_high": x["ci_high"]},
                spec.transform if spec else None) if x["estimate"] is not None else {}
        sens.append({"title": spec.title if spec else x["title"], "k_kept": x["k_kept"], "k_all": x["k_all"],
                     "excluded": x["excluded"], "note": x["note"],
                     "estimate": number(v.get("estimate")),
                     "ci": f"[{number(v.get('ci_low'))}, {number(v.get('ci_high'))}]",
                     "tau2": number(x["tau2"], 4), "i2": number(x["i2"], 1) + "%"
                     if x["i2"] is not None else "—",
                     "multilevel": spec is not None and spec.multilevel is not None})
    return {"n_studies": len({r["study"] for r in rows}), "n_assessed":
            len({r["study"] for r in assessed}), "not_assessed": not_assessed,
            "tables": tables, "conflicts": conflicts, "overrides": overrides,
            "sensitivity": sens, "sens_multilevel": any(x["multilevel"] for x in sens)}


def analysis_rob(results, analysis_id: str):
    """(rows, tool, domain names) the forest plot of one analysis shows, or (None, ..)."""
    t = results.rob_by_analysis
    if t is None:
        return None, None, None
    rows = t.to_frame()
    rows = rows[rows["analysis"] == analysis_id]
    tools = [x for x in dict.fromkeys(rows["tool"]) if isinstance(x, str)]
    if len(rows) == 0 or len(tools) != 1:
        return None, None, None  # several tools in one analysis: the traffic lights show them
    names = {d: n for d, n in zip(rows["domain"], rows["domain_name"])
             if d != "Overall" and isinstance(n, str)}
    return rows, tools[0], {**names, "Overall": "Overall"}


def rob_figures(results) -> list[dict[str, Any]]:
    """Traffic-light and weighted summary plots per planned analysis with assessments."""
    from ..plots import rob_summary, traffic_light
    from .analyses import figure_entry

    figs = []
    t = results.rob_by_analysis
    if t is None:
        return figs
    by = t.to_frame()
    shares = results.rob_shares.to_frame() if results.rob_shares is not None else None
    titles = {a.spec.id: a.spec.title for a in results.analyses}
    for aid in dict.fromkeys(by["analysis"]):
        rows = by[by["analysis"] == aid]
        for tool in [x for x in dict.fromkeys(rows["tool"]) if isinstance(x, str)]:
            mine = rows[(rows["tool"] == tool) | rows["tool"].isna()]
            names = {d: n for d, n in zip(mine["domain"], mine["domain_name"])
                     if isinstance(n, str) and d != "Overall"}
            order = list(names) + ["Overall"]
            frame = mine[["label", "domain", "judgement"]].rename(columns={"label": "study"})
            name = TOOL_NAMES.get(tool, tool)
            suffix = "" if len(set(rows["tool"].dropna())) == 1 else f"-{tool}"
            fig = traffic_light(frame, tool=tool, domains=order, domain_labels=names)
            figs.append(figure_entry(
                f"{aid}-rob-traffic{suffix}", f"Risk of bias ({name}): {titles[aid]}",
                "One row per pooled study, one circle per domain and overall, as the reviewer "
                "judged it (+ low, − some concerns or moderate, × high or serious, ! critical,"
                " ? no information; NA not assessed).", fig))
            if shares is not None:
                sh = shares[(shares["analysis"] == aid) & (shares["tool"] == tool)]
                wide = sh.pivot(index="domain", columns="judgement", values="share")
                wide = wide.reindex(index=order, columns=list(dict.fromkeys(sh["judgement"])))
                wide = wide.loc[:, (wide > 0).any()]  # the key lists judgements that occur
                fig = rob_summary(wide, tool=tool, domain_labels={**names,
                                                                  "Overall": "Overall"})
                figs.append(figure_entry(
                    f"{aid}-rob-summary{suffix}", f"Risk of bias summary ({name}): "
                    f"{titles[aid]}", "Share of each judgement per domain, weighted by the "
                    "studies' weights in the pooled model; studies without an assessment "
                    "count as not assessed.", fig))
    return figs


def certainty_context(results) -> dict[str, Any] | None:
    """What the certainty section shows; None when the review has nothing to grade and no
    study to appraise."""
    sof = results.sof.records() if results.sof is not None else []
    grade = results.grade.records() if results.grade is not None else []
    rob = _rob(results)
    if not sof and not rob["n_studies"]:
        return None
    rows, notes = _sof_rows(sof, grade)
    bases = sorted({r["comparator_basis"] for r in rows if r["comparator_basis"]})
    absolute = any(r["comparator"] is not None for r in rows)
    # without any absolute effect the reason is said once, under the table
    why_not = sorted({r["absolute_note"] for r in rows if r["absolute_note"]}) \
        if not absolute else []
    no_sof = None
    if not rows:
        ml = [m.spec.title for m in results.multilevel]
        no_sof = ("No Summary of Findings: the toolkit grades planned two-arm analyses and "
                  "pooled pre-post groups" + (f"; the multilevel analysis ({'; '.join(ml)}) is "
                                              "not graded" if ml else "") + ".")
    return {"no_sof": no_sof, "sof": rows, "sof_notes": notes, "sof_more": max(0, len(sof) - SOF_MAX_OUTCOMES),
            "sof_absolute": absolute, "no_absolute": why_not,
            "comparator_bases": bases, "grade": _grade_tables(sof, grade), "rob": rob}
