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


def _sample_sourced(s: dict, arm_totals: list[tuple[str, float]] | None = None) -> str:
    """The sample as Table 1 prints it, each value with its own source key:
    "n = 10 [S4] (2 F, 8 M [S14])"; per-arm totals where the study gives no overall n."""
    def src(key):
        k = s.get(key)
        return f" [{k}]" if _none(k) else ""

    if s["n"] is not None:
        n = f"n = {fmt_value(s['n'])}{src('n_source')}"
    elif arm_totals:
        n = ("per arm: " + ", ".join(f"{arm} {fmt_value(v)}" for arm, v in arm_totals)
             + " (events + non-events)" + src("counts_source"))
    else:
        n = "n not reported"
    sex = []
    same = s.get("female_source") == s.get("male_source")
    if s.get("female") is not None:
        sex.append(f"{fmt_value(s['female'])} F" + ("" if same else src("female_source")))
    if s.get("male") is not None:
        sex.append(f"{fmt_value(s['male'])} M" + ("" if same else src("male_source")))
    if not sex:
        return n
    tail = src("female_source" if s.get("female") is not None else "male_source") if same else ""
    if same and tail == src("n_source") and s["n"] is not None:
        tail = ""
    return n + f" ({', '.join(sex)}{tail})"


def _arm_totals(results) -> dict[str, list[tuple[str, float]]]:
    """Per-arm totals per study as the planned analyses hold them (``<arm>_total``)."""
    out: dict[str, list[tuple[str, float]]] = {}
    for res in getattr(results, "analyses", ()) or ():
        eff = res.effects
        arms = [c[:-len("_total")] for c in eff.columns if c.endswith("_total")]
        if not arms or "study" not in eff.columns:
            continue
        for r in eff.itertuples():
            vals = [(a, getattr(r, f"{a}_total")) for a in arms]
            if all(v is not None and v == v for _, v in vals):
                out.setdefault(r.study, vals)
    return out


def _count_label(key: str, names: dict[str, str]) -> str:
    """A count's key in words, with ids of the review's injuries or strategies named."""
    words = key.split("_")
    for i in range(len(words)):
        tail = "-".join(words[i:])
        if tail in names and i:
            name = names[tail]
            return " ".join(words[:i]) + ": " + name[:1].lower() + name[1:]
    return " ".join(words)


#: Record fields as a reader names them (disagreements name the field they are about).
FIELD_LABELS = {
    "followup": "follow-up", "design": "study design", "sample.n": "sample size (n)",
    "sample.female": "number of women", "sample.male": "number of men",
    "sample.age": "age", "citation.year": "publication year", "citation.journal": "journal",
    "citation.authors": "authors", "citation.pages": "pages", "citation.volume": "volume",
    "intervention.weeks": "intervention length (weeks)",
    "intervention.sessions": "number of sessions", "inclusion": "inclusion in the review",
}


def _field_label(field: str, characteristic_labels: dict[str, str]) -> str:
    """A record field path in words: the schema's labels, a characteristic's own label."""
    if field in FIELD_LABELS:
        return FIELD_LABELS[field]
    head, _, rest = field.partition(".")
    if head == "characteristics" and rest:
        return characteristic_labels.get(rest, rest.replace("_", " "))
    return field.split(".")[-1].replace("_", " ")


def _characteristic_labels(results) -> dict[str, dict[str, str]]:
    """study -> {characteristic key: label} from the records' ``characteristic_labels``."""
    ch = results.frames["characteristics"]
    ch = ch.to_frame() if hasattr(ch, "to_frame") else ch
    out: dict[str, dict[str, str]] = {}
    for study, key, label in zip(ch["study"], ch["characteristic"], ch["label"]):
        out.setdefault(study, {})[key] = label
    return out


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
    '↓ Pain (VAS): After 2 weeks, 1 month after vs Baseline (significant) [S4]'."""
    ch = frames.changes[(frames.changes["study"] == study)
                        & frames.changes["outcome_kind"].isin(kinds)].copy()
    if ch.empty:
        return []
    names = frames.outcomes.set_index(["study", "outcome"])["name"]
    arrows = {"decrease": "↓", "increase": "↑", "no change": "↔"}
    tp = frames.timepoints[frames.timepoints["study"] == study]
    label = dict(zip(tp["timepoint"], tp["label"]))
    ch["to"] = [label.get(x, x) if isinstance(x, str) else "time not stated" for x in ch["to"]]
    ch["from"] = [label.get(x, x) if isinstance(x, str) else "time not stated"
                  for x in ch["from"]]
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
    totals = _arm_totals(results)
    count_src = (frames.measurements.dropna(subset=["source"]).groupby("study")["source"]
                 .first().to_dict())
    for s in studies:
        s["counts_source"] = count_src.get(s["study"])
        s["sample_text"] = _sample_text(s)
        s["sample_sourced"] = _sample_sourced(s, totals.get(s["study"]))
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
    tp_label = {(a, b): c for a, b, c in zip(frames.timepoints["study"],
                                             frames.timepoints["timepoint"],
                                             frames.timepoints["label"])}
    for r in data_rows:
        r["value_text"] = fmt_value(r["value"])
        # time points by their label (the id is internal)
        r["timepoint"] = tp_label.get((r["study"], r["timepoint"]), r["timepoint"])
    names = {**dict(zip(frames.injuries["injury"], frames.injuries["name"])),
             **dict(zip(frames.strategies["strategy"], frames.strategies["name"]))}
    char_labels = _characteristic_labels(results)
    counts = {r["count"]: {**r, "label": _count_label(r["count"], names)}
              for r in _records(frames.counts)}
    ctx: dict[str, Any] = {
        "review": {k: _none(v) for k, v in rv.items()},
        "citation_text": _citation_text(rv),
        "studies": studies,
        "experts": experts,
        "biomechanics": _records(frames.biomechanics),
        "data_rows": data_rows,
        "status": results.outcome_status.records(),
        "gaps": [{**g, "timepoint": tp_label.get((g.get("study"), g.get("timepoint")),
                                                g.get("timepoint"))}
                 for g in results.completeness.records()],
        "gap_summary": dict(results.completeness_summary),
        "sources": _records(frames.sources),
        "counts": counts,
        "prisma": [r for r in _records(frames.counts) if r["section"] == "prisma"],
        "disagreements": [
            {**d, "field": _field_label(d["field"], char_labels.get(d["study"], {}))}
            for d in _records(frames.disagreements.merge(
                frames.studies[["study", "label"]], on="study", how="left"))],
        "reported_effects": [
            {**r, "timepoint": tp_label.get((r["study"], r.get("timepoint")), r.get("timepoint"))}
            for r in _records(frames.reported_effects.merge(
                frames.studies[["study", "label"]], on="study", how="left"))],
        "stated_findings": _records(frames.stated_findings),
        "injuries": list(injuries.values()),
    }
    if extra:
        ctx.update(extra)
    return ctx
