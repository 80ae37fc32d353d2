"""Build the template context of the supplement from the frames.

Everything a template shows comes from here, already formatted as text or plain values; the
templates only lay it out. No statistic is computed here either: numbers come from the
records (via the frames) or from result objects computed elsewhere.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from types import SimpleNamespace

from ..formatting import count, number

__all__ = ["review_context", "fmt_value"]


def record_frames(results) -> SimpleNamespace:
    """Copies of the record frames of a ReviewResults, by attribute (read, never computed)."""
    return SimpleNamespace(**{n: t.to_frame() for n, t in results.frames.items()})


def fmt_value(v: Any, digits: int | None = None) -> str:
    """A reported number as text, without inventing precision; missing -> 'not reported'."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "not reported"
    if digits is not None:
        return number(v, digits)
    return count(v)


def _none(v: Any) -> Any:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if v is pd.NA:
        return None
    return v


def _records(df: pd.DataFrame) -> list[dict]:
    return [{k: _none(v) for k, v in row.items()} for row in df.to_dict("records")]


def _citation_text(r: pd.Series) -> str:
    parts = [str(r["authors"]) + "."]
    if _none(r.get("title")):
        parts.append(str(r["title"]).rstrip(".") + ".")
    j = _none(r.get("journal"))
    if j:
        vol = _none(r.get("volume"))
        iss = _none(r.get("issue"))
        pages = _none(r.get("pages"))
        y = _none(r.get("year"))
        s = f"{j} {int(y) if y else ''}"
        if vol:
            s += f";{vol}"
            if iss:
                s += f"({iss})"
        if pages:
            s += f":{pages}"
        parts.append(s.strip() + ".")
    if _none(r.get("doi")):
        parts.append(f"doi:{r['doi']}")
    return " ".join(parts)


def _sample_text(s: dict) -> str:
    n = f"n = {fmt_value(s['n'])}" if s["n"] is not None else "n not reported"
    sex = []
    if s.get("female") is not None:
        sex.append(f"{fmt_value(s['female'])} F")
    if s.get("male") is not None:
        sex.append(f"{fmt_value(s['male'])} M")
    return n + (f" ({', '.join(sex)})" if sex else "")


def _dose_text(s: dict) -> str:
    bits = []
    if s.get("weeks") is not None:
        bits.append(f"{fmt_value(s['weeks'])} weeks")
    if s.get("sessions") is not None:
        bits.append(f"{fmt_value(s['sessions'])} sessions")
    return ", ".join(bits) or "not reported"


_CONTINUOUS = (("mean", "Mean"), ("sd", "SD"), ("n", "n"))
_EVENTS = (("events", "Events"), ("nonevents", "Non-events"), ("total", "Total"))


def _primary_outcome_rows(frames, wide: pd.DataFrame) -> dict[str, dict]:
    """Per study: the primary outcome's reported values, per time point and arm.

    Continuous outcomes show mean, SD and n; event outcomes events, non-events and total
    (a total only where a source reports it). Missing values are 'not reported'.
    """
    out: dict[str, dict] = {}
    tps = frames.timepoints.set_index(["study", "timepoint"])["label"]
    arm_order = {r.study: r.arms.split(", ") for r in frames.studies.itertuples()}
    for _, o in frames.outcomes[frames.outcomes["primary"]].iterrows():
        w = wide[(wide["study"] == o["study"]) & (wide["outcome"] == o["outcome"])]
        arms = arm_order.get(o["study"], [])
        w = w.assign(_arm=w["arm"].map({a: i for i, a in enumerate(arms)})).sort_values(
            ["timepoint_order", "_arm"])
        stats = _EVENTS if o["kind"] == "event" else _CONTINUOUS
        if o["kind"] == "event" and not w["total"].notna().any():
            stats = stats[:2]
        cells = []
        for _, r in w.iterrows():
            label = tps.get((o["study"], r["timepoint"]), r["timepoint"])
            if r["arm"] != "all":
                label = f"{r['arm']}" if w["timepoint"].nunique() == 1 else f"{label}, {r['arm']}"
            src = next((_none(r.get(f"{k}_source")) for k, _ in stats
                        if _none(r.get(f"{k}_source"))), None)
            cells.append({"timepoint": r["timepoint"], "label": label, "source": src,
                          "values": [fmt_value(_none(r.get(k))) for k, _ in stats]})
        out[o["study"]] = {"name": o["name"], "unit": _none(o["unit"]), "cells": cells,
                           "headers": [h for _, h in stats], "note": _none(o["note"])}
    return out


def _changes_text(frames, study: str, kinds: tuple[str, ...]) -> list[str]:
    """Reported directions of change, one line per outcome and direction:
    '↓ Running-related pain (VAS): post, fu-1m vs baseline (significant) [S4]'."""
    ch = frames.changes[(frames.changes["study"] == study)
                        & frames.changes["outcome_kind"].isin(kinds)].copy()
    if ch.empty:
        return []
    names = frames.outcomes.set_index(["study", "outcome"])["name"]
    arrows = {"decrease": "↓", "increase": "↑", "no change": "↔"}
    ch["to"] = ch["to"].fillna("time not stated")
    ch["significant"] = ch["significant"].map({True: " (significant)"}).fillna("")
    lines = []
    keys = ["outcome", "direction", "from", "significant", "source"]
    for key, g in ch.groupby(keys, sort=False):
        outcome, direction, frm, sig, src = key
        lines.append(f"{arrows[direction]} {names.get((study, outcome), outcome)}: "
                     f"{', '.join(g['to'])} vs {frm}{sig} [{src}]")
    return lines


def review_context(results, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The template context for one review (plain dicts, lists and strings), read from a
    :class:`evidence.results.ReviewResults`."""
    frames = record_frames(results)
    rv = frames.review.iloc[0]
    wide = frames.measurements_wide
    primary = _primary_outcome_rows(frames, wide)
    studies = _records(frames.studies)
    for s in studies:
        s["sample_text"] = _sample_text(s)
        s["dose_text"] = _dose_text(s)
        s["primary"] = primary.get(s["study"])
        s["clinical_changes"] = _changes_text(frames, s["study"],
                                              ("pain", "function", "performance",
                                               "physiological", "event"))
        s["biomech_changes"] = _changes_text(frames, s["study"], ("biomechanical",))
    injuries = {r["injury"]: r for r in _records(frames.injuries)}
    for s in studies:
        s["injury_name"] = injuries.get(s["injury"], {}).get("name", s["injury"])
    injury_order = [i for i in injuries]
    studies.sort(key=lambda s: (injury_order.index(s["injury"]) if s["injury"] in injury_order
                                else 99, s["inclusion"] != "confirmed", s["year"] or 0,
                                s["label"]))

    bio = frames.biomechanics.set_index("statement") if len(frames.biomechanics) else None
    experts = []
    for e in _records(frames.experts):
        strat = frames.expert_strategies[frames.expert_strategies["injury"] == e["injury"]]
        themes = frames.expert_themes[frames.expert_themes["injury"] == e["injury"]]
        rationale = []
        for sid in [x for x in (e["rationale"] or "").split(", ") if x]:
            if bio is not None and sid in bio.index:
                b = bio.loc[sid]
                rationale.append({"id": sid, "strategy": b["strategy_name"],
                                  "effect": b["effect"], "direction": _none(b["direction"]),
                                  "level": b["level"], "refs": b["review_refs"],
                                  "source": b["source"]})
        experts.append({**e, "strategies": _records(strat), "themes": _records(themes),
                        "rationale_rows": rationale,
                        "group": injuries.get(e["injury"], {}).get("group")})
    experts.sort(key=lambda e: injury_order.index(e["injury"])
                 if e["injury"] in injury_order else 99)

    data_rows = _records(frames.measurements.merge(
        frames.studies[["study", "label"]], on="study", how="left").merge(
        frames.outcomes[["study", "outcome", "name", "unit"]], on=["study", "outcome"],
        how="left"))
    for r in data_rows:
        r["value_text"] = fmt_value(r["value"])
    counts = {r["count"]: r for r in _records(frames.counts)}
    ctx: dict[str, Any] = {
        "review": {k: _none(v) for k, v in rv.items()},
        "citation_text": _citation_text(rv),
        "studies": studies,
        "experts": experts,
        "biomechanics": _records(frames.biomechanics),
        "data_rows": data_rows,
        "status": results.outcome_status.records(),
        "gaps": results.completeness.records(),
        "gap_summary": dict(results.completeness_summary),
        "sources": _records(frames.sources),
        "counts": counts,
        "prisma": [r for r in _records(frames.counts) if r["section"] == "prisma"],
        "disagreements": _records(frames.disagreements.merge(
            frames.studies[["study", "label"]], on="study", how="left")),
        "reported_effects": _records(frames.reported_effects.merge(
            frames.studies[["study", "label"]], on="study", how="left")),
        "stated_findings": _records(frames.stated_findings),
        "injuries": list(injuries.values()),
    }
    if extra:
        ctx.update(extra)
    return ctx
