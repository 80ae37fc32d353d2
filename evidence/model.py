"""Validated records -> tidy pandas frames.

Every later stage (effect sizes, pooling, synthesis, figures, reports) consumes these frames,
never the YAML. All frames are plain :class:`pandas.DataFrame` objects with one row per
observation; the long ``measurements`` frame keeps one row per reported number together with
its source key and the kind of that source (primary / secondary / tertiary).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

from .records import RecordSet, load_records
from .records.schema import STATISTICS, ClinicalStudy, Sourced, SynthesisPlan

__all__ = ["Frames", "LoadedReview", "PlannedAnalysis", "load_review", "planned_analyses",
           "build_frames", "wide_measurements"]


@dataclass(frozen=True)
class LoadedReview(RecordSet):
    """A validated review (see :class:`evidence.records.RecordSet`) with its tidy frames."""

    def frames(self) -> "Frames":
        """Tidy pandas frames of the review (see :func:`build_frames`); a new set each call."""
        return build_frames(self)


def load_review(path: str | Path) -> LoadedReview:
    """Read and validate a review directory (:func:`evidence.records.load_records`).

    Raises
    ------
    RecordError
        listing every problem found, each naming file, record id and field.

    Examples
    --------
    >>> import evidence as ev
    >>> review = ev.load_review("studies")            # doctest: +SKIP
    >>> review.frames().studies["label"].tolist()      # doctest: +SKIP
    """
    rs = load_records(path)
    return LoadedReview(**{f: getattr(rs, f) for f in RecordSet.__dataclass_fields__})


@dataclass(frozen=True)
class Frames:
    """The tidy frames of one review (attribute access, or ``frames["studies"]``)."""

    review: pd.DataFrame
    studies: pd.DataFrame
    outcomes: pd.DataFrame
    timepoints: pd.DataFrame
    measurements: pd.DataFrame
    changes: pd.DataFrame
    reported_effects: pd.DataFrame
    characteristics: pd.DataFrame
    disagreements: pd.DataFrame
    injuries: pd.DataFrame
    strategies: pd.DataFrame
    study_strategies: pd.DataFrame
    experts: pd.DataFrame
    expert_strategies: pd.DataFrame
    expert_themes: pd.DataFrame
    biomechanics: pd.DataFrame
    sources: pd.DataFrame
    counts: pd.DataFrame
    stated_findings: pd.DataFrame
    outcome_kinds: pd.DataFrame
    risk_of_bias: pd.DataFrame
    grade: pd.DataFrame
    ongoing: pd.DataFrame

    def __getitem__(self, name: str) -> pd.DataFrame:
        return getattr(self, name)

    def keys(self) -> list[str]:
        return list(self.__dataclass_fields__)

    def items(self) -> Iterator[tuple[str, pd.DataFrame]]:
        for k in self.keys():
            yield k, getattr(self, k)


def _value(s: Sourced | None) -> float:
    return np.nan if s is None or s.value is None else float(s.value)


def _frame(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns)


def _authors(a: list[str] | str) -> str:
    return a if isinstance(a, str) else ", ".join(a)


STUDY_COLUMNS = [
    "study", "label", "label_in_review", "authors", "year", "journal", "volume", "pages", "doi",
    "citation_source", "inclusion", "inclusion_reason", "design", "design_source", "injury",
    "injury_name", "n", "n_source", "female", "female_source", "male", "male_source",
    "population", "age",
    "inclusion_criteria", "strategies", "intervention", "feedback", "target", "weeks",
    "weeks_source", "sessions", "sessions_source", "comparator", "intervention_source", "followup", "arms", "n_outcomes", "file",
]


def _own_source(value, fallback: str | None) -> str | None:
    """The source key of one sourced value: its own, else the block's (None if no value)."""
    if value is None or getattr(value, "value", None) is None:
        return None
    return getattr(value, "source", None) or fallback


def _study_row(st: ClinicalStudy, injury_names: dict[str, str], file: str | None) -> dict:
    c = st.citation
    return {
        "study": st.id,
        "label": st.label,
        "label_in_review": st.label_in_review,
        "authors": _authors(c.authors),
        "year": c.year,
        "journal": c.journal,
        "volume": c.volume,
        "pages": c.pages,
        "doi": c.doi,
        "citation_source": c.source,
        "inclusion": st.inclusion.status,
        "inclusion_reason": st.inclusion.reason,
        "design": st.design,
        "design_source": st.design_source,
        "injury": st.injury,
        "injury_name": injury_names.get(st.injury, st.injury),
        "n": _value(st.sample.n),
        "n_source": (st.sample.n.source if st.sample.n and st.sample.n.source
                     else st.sample.source) if st.sample.n else None,
        "female": _value(st.sample.female),
        "female_source": _own_source(st.sample.female, st.sample.source),
        "male": _value(st.sample.male),
        "male_source": _own_source(st.sample.male, st.sample.source),
        "population": st.sample.population,
        "age": st.sample.age,
        "inclusion_criteria": "; ".join(st.sample.inclusion_criteria),
        "strategies": ", ".join(st.intervention.strategies),
        "intervention": st.intervention.description,
        "feedback": st.intervention.feedback,
        "target": st.intervention.target,
        "weeks": _value(st.intervention.weeks),
        "weeks_source": _own_source(st.intervention.weeks, st.intervention.source),
        "sessions": _value(st.intervention.sessions),
        "sessions_source": _own_source(st.intervention.sessions, st.intervention.source),
        "comparator": st.intervention.comparator,
        "intervention_source": st.intervention.source,
        "followup": st.followup,
        "arms": ", ".join(st.arms),
        "n_outcomes": len(st.outcomes),
        "file": file,
    }


#: One row per risk-of-bias assessment as the reviewer recorded it (labels lower-case).
ROB_COLUMNS = ["study", "outcome", "tool", "effect", "signalling", "domains", "overall",
               "override_reason", "support", "domain_names", "assessor", "source", "where"]
#: One row per ongoing (registered, not yet reported) study of review.yaml.
ONGOING_COLUMNS = ["id", "registry", "registry_id", "title", "planned_n",
                   "expected_completion", "source", "where", "note"]
#: One row per GRADE entry of review.yaml (decisions keyed by GRADE domain name).
GRADE_COLUMNS = ["analysis", "outcome", "importance", "start", "start_reason", "thresholds",
                 "comparator_risk", "comparator_risk_source", "decisions", "comments"]


def build_frames(loaded: RecordSet) -> Frames:
    """Build the tidy frames of a loaded review. Pure: reads nothing from disk."""
    rv = loaded.review
    kind = {s.key: s.kind for s in rv.sources}
    injury_names = {i.id: i.name for i in rv.injuries}
    strategy_names = {s.id: s.name for s in rv.strategies}

    studies, outcomes, timepoints, meas, changes, effects, chars, disagree, sstrat, rob = (
        [], [], [], [], [], [], [], [], [], [])
    for st in loaded.studies:
        studies.append(_study_row(st, injury_names, loaded.files.get(st.id)))
        for order, s in enumerate(st.intervention.strategies):
            sstrat.append({"study": st.id, "strategy": s,
                           "strategy_name": strategy_names.get(s, s), "injury": st.injury,
                           "inclusion": st.inclusion.status, "order": order})
        for order, t in enumerate(st.timepoints):
            timepoints.append({"study": st.id, "timepoint": t.id, "label": t.label,
                               "weeks": np.nan if t.weeks is None else t.weeks,
                               "order": order, "source": t.source})
        tp_order = {t.id: i for i, t in enumerate(st.timepoints)}
        for name, s in st.characteristics.items():
            chars.append({"study": st.id, "characteristic": name,
                          "label": st.characteristic_labels.get(name, name),
                          "value": None if s is None else s.value,
                          "source": s.source if s else None,
                          "note": s.note if s else None})
        for r in st.risk_of_bias:
            rob.append({"study": st.id, "outcome": r.outcome, "tool": r.tool,
                        "effect": r.effect, "signalling": dict(r.signalling),
                        "domains": {k: v.strip().lower() if r.tool != "custom" else v
                                    for k, v in r.domains.items()},
                        "overall": None if r.overall is None else (
                            r.overall.strip().lower() if r.tool != "custom" else r.overall),
                        "override_reason": r.override_reason, "support": dict(r.support),
                        "domain_names": dict(r.domain_names), "assessor": r.assessor,
                        "source": r.source, "where": r.where})
        for d in st.disagreements:
            disagree.append({"study": st.id, "field": d.field,
                             "values_text": "; ".join(
                                 f"{v.get('value')} [{v.get('source', '?')}]" for v in d.values),
                             "resolution": d.resolution, "note": d.note})
        for out in st.outcomes:
            sc = out.scale
            outcomes.append({
                "study": st.id, "outcome": out.id, "name": out.name, "kind": out.kind,
                "primary": out.primary, "instrument": out.instrument,
                "scale_min": np.nan if sc is None or sc.min is None else sc.min,
                "scale_max": np.nan if sc is None or sc.max is None else sc.max,
                "unit": sc.unit if sc else None,
                "lower_is_better": sc.lower_is_better if sc else None,
                "scale_source": sc.source if sc else None,
                "scale_assumed": bool(sc.assumed) if sc else False,
                "scale_note": sc.note if sc else None,
                "n_measurements": len(out.measurements),
                "n_reported_changes": len(out.reported_changes),
                "source": out.source, "note": out.note,
            })
            for m in out.measurements:
                # continuous measurements always show mean, sd and n (NaN when unreported),
                # so a missing value is a visible row, not an absent one
                continuous = all(getattr(m, x) is None
                                 for x in ("events", "nonevents", "total", "percent"))
                for stat in STATISTICS:
                    s = getattr(m, stat)
                    if s is None and not (continuous and stat in ("mean", "sd", "n")):
                        continue
                    src = m.source_of(stat) if s is not None and s.value is not None else None
                    meas.append({
                        "study": st.id, "outcome": out.id, "arm": m.arm,
                        "timepoint": m.timepoint, "timepoint_order": tp_order.get(m.timepoint),
                        "statistic": stat, "value": _value(s), "source": src,
                        "source_kind": kind.get(src) if src else None,
                        "where": (s.where if s else None) or m.where,
                        "note": (s.note if s else None) or (m.note if s is None else None),
                    })
            for ch in out.reported_changes:
                changes.append({
                    "study": st.id, "outcome": out.id, "outcome_kind": out.kind,
                    "from": ch.from_timepoint, "to": ch.to_timepoint,
                    "direction": ch.direction, "significant": ch.significant, "p": ch.p,
                    "source": ch.source, "note": ch.note,
                })
            for e in out.reported_effect_sizes:
                effects.append({"study": st.id, "outcome": out.id,
                                "what": e.get("what"),
                                "value": e.get("value", e.get("range")),
                                "timepoint": e.get("timepoint"), "p": e.get("p"),
                                "source": e.get("source"), "where": e.get("where")})

    experts, estrat, ethemes = [], [], []
    for ex in loaded.experts:
        experts.append({
            "injury": ex.injury, "injury_name": injury_names.get(ex.injury, ex.injury),
            "stance": ex.stance, "source": ex.stance_source, "table": ex.table,
            "n_strategies": len(ex.strategies), "n_themes": len(ex.themes),
            "rationale": ", ".join(ex.rationale), "missing": "; ".join(ex.missing),
            "record": ex.id,
        })
        for s in ex.strategies:
            estrat.append({"injury": ex.injury, "strategy": s.strategy,
                           "strategy_name": strategy_names.get(s.strategy, s.strategy),
                           "stance": ex.stance,
                           "clinical_support_marked": s.clinical_support_marked,
                           "source": s.source, "note": s.note})
        for t in ex.themes:
            ethemes.append({"injury": ex.injury, "summary": t.summary,
                            "experts": ", ".join(str(e) for e in t.experts),
                            "source": t.source})

    biomech = []
    for b in loaded.biomechanics:
        for s in b.statements:
            biomech.append({"statement": s.id, "strategy": s.strategy,
                            "strategy_name": strategy_names.get(s.strategy, s.strategy),
                            "effect": s.effect, "direction": s.direction, "level": s.level,
                            "population": s.population,
                            "review_refs": ", ".join(str(r) for r in s.review_refs),
                            "source": s.source, "where": s.where, "record": b.id})

    c = rv.citation
    syn = rv.synthesis if rv.synthesis is not None else SynthesisPlan()
    review = pd.DataFrame([{
        "id": rv.id, "title": rv.title, "authors": _authors(c.authors), "journal": c.journal,
        "year": c.year, "volume": c.volume, "issue": c.issue, "pages": c.pages, "doi": c.doi,
        "pmid": c.pmid, "question": rv.question, "design": rv.design,
        "injury_label": rv.injury_label, "strategy_label": rv.strategy_label,
        "participants_label": rv.participants_label,
        "has_synthesis_plan": rv.synthesis is not None,
        "synthesis_measure": syn.measure,
        "assumed_correlation": np.nan if syn.assumed_correlation is None
        else syn.assumed_correlation,
        "correlation_note": syn.correlation_note,
        "correlations": tuple(syn.correlations),
        "synthesis_method": syn.method, "synthesis_test": syn.test,
        "synthesis_level": syn.level,
    }])
    kinds = [{"kind": k, "order": i, "lower_is_better": syn.lower_is_better.get(k)}
             for i, k in enumerate(syn.outcome_kinds)]
    kinds += [{"kind": k, "order": len(kinds) + i, "lower_is_better": v}
              for i, (k, v) in enumerate(syn.lower_is_better.items())
              if k not in syn.outcome_kinds]
    counts = [{"section": "counts", "count": k, "value": v.value, "source": v.source,
               "note": v.note} for k, v in rv.counts.items()]
    counts += [{"section": "prisma", "count": k, "value": v.value, "source": v.source,
                "note": v.note} for k, v in rv.prisma.items()]

    meas_cols = ["study", "outcome", "arm", "timepoint", "timepoint_order", "statistic",
                 "value", "source", "source_kind", "where", "note"]
    return Frames(
        review=review,
        studies=_frame(studies, STUDY_COLUMNS),
        outcomes=_frame(outcomes, ["study", "outcome", "name", "kind", "primary", "instrument",
                                   "scale_min", "scale_max", "unit", "lower_is_better",
                                   "scale_source", "scale_assumed", "scale_note",
                                   "n_measurements", "n_reported_changes", "source", "note"]),
        timepoints=_frame(timepoints, ["study", "timepoint", "label", "weeks", "order",
                                       "source"]),
        measurements=_frame(meas, meas_cols),
        changes=_frame(changes, ["study", "outcome", "outcome_kind", "from", "to", "direction",
                                 "significant", "p", "source", "note"]),
        reported_effects=_frame(effects, ["study", "outcome", "what", "value", "timepoint",
                                          "p", "source", "where"]),
        characteristics=_frame(chars, ["study", "characteristic", "label", "value", "source",
                                       "note"]),
        disagreements=_frame(disagree, ["study", "field", "values_text", "resolution",
                                        "note"]),
        injuries=_frame([{"injury": i.id, "name": i.name, "group": i.group,
                          "phrase": i.phrase, "source": i.source}
                         for i in rv.injuries], ["injury", "name", "group", "phrase", "source"]),
        strategies=_frame([{"strategy": s.id, "name": s.name, "category": s.category,
                            "description": s.description} for s in rv.strategies],
                          ["strategy", "name", "category", "description"]),
        study_strategies=_frame(sstrat, ["study", "strategy", "strategy_name", "injury",
                                         "inclusion", "order"]),
        experts=_frame(experts, ["injury", "injury_name", "stance", "source", "table",
                                 "n_strategies", "n_themes", "rationale", "missing", "record"]),
        expert_strategies=_frame(estrat, ["injury", "strategy", "strategy_name", "stance",
                                          "clinical_support_marked", "source", "note"]),
        expert_themes=_frame(ethemes, ["injury", "summary", "experts", "source"]),
        biomechanics=_frame(biomech, ["statement", "strategy", "strategy_name", "effect",
                                      "direction", "level", "population", "review_refs",
                                      "source", "where", "record"]),
        sources=_frame([{"key": s.key, "kind": s.kind, "description": s.description,
                         "url": s.url} for s in rv.sources],
                       ["key", "kind", "description", "url"]),
        counts=_frame(counts, ["section", "count", "value", "source", "note"]),
        stated_findings=_frame([f.model_dump() for f in rv.stated_findings],
                               ["injury", "strategy", "level", "statement", "source", "where"]),
        outcome_kinds=_frame(kinds, ["kind", "order", "lower_is_better"]),
        risk_of_bias=_frame(rob, ROB_COLUMNS),
        grade=_frame([{"analysis": g.analysis, "outcome": g.outcome,
                       "importance": g.importance, "start": g.start,
                       "start_reason": g.start_reason,
                       "thresholds": None if g.thresholds is None else tuple(g.thresholds),
                       "comparator_risk": g.comparator_risk,
                       "comparator_risk_source": g.comparator_risk_source,
                       "decisions": {k.replace("_", " ").replace("dose response",
                                                                  "dose-response"):
                                     d.model_dump() for k, d in g.decisions.items()},
                       "comments": g.comments} for g in rv.grade], GRADE_COLUMNS),
        ongoing=_frame([o.model_dump() for o in getattr(rv, "ongoing", ())], ONGOING_COLUMNS),
    )


def wide_measurements(measurements: pd.DataFrame) -> pd.DataFrame:
    """One row per study × outcome × arm × time point, one column per statistic
    (value) plus ``<statistic>_source``. Statistics never reported are NaN."""
    keys = ["study", "outcome", "arm", "timepoint", "timepoint_order"]
    if measurements.empty:
        return pd.DataFrame(columns=keys + list(STATISTICS))
    m = measurements.copy()
    m["timepoint_order"] = m["timepoint_order"].fillna(-1)
    idx = m.set_index(keys + ["statistic"])
    vals = idx["value"].unstack("statistic")
    srcs = idx["source"].where(idx["value"].notna()).unstack("statistic")
    srcs.columns = [f"{c}_source" for c in srcs.columns]
    out = vals.reindex(columns=list(STATISTICS)).join(srcs, how="left").reset_index()
    out.columns.name = None
    return out.sort_values(["study", "outcome", "arm", "timepoint_order"]).reset_index(drop=True)


@dataclass(frozen=True, slots=True)
class PlannedAnalysis:
    """One planned two-arm analysis of ``review.yaml`` (``analyses:``), as plain values.

    The first of ``arms`` is the experimental group, the second the comparator (metafor's
    escalc sign conventions). ``moderators`` holds one tuple of characteristics per
    meta-regression.
    """

    id: str
    title: str
    outcome: str
    measure: str
    arms: tuple[str, str]
    method: str = "REML"
    test: str = "z"
    level: float = 0.95
    transform: str | None = None
    effect_label: str | None = None
    favours: tuple[str, str] | None = None
    subgroups: tuple[str, ...] = ()
    moderators: tuple[tuple[str, ...], ...] = ()
    cumulative_order: str | None = None
    labels: tuple[tuple[str, str], ...] = ()  # (characteristic, reader's name) pairs
    multilevel: Any = None  # the review's MultilevelSpec (a frozen pydantic model), or None

    def label_of(self, name: str) -> str:
        """The reader's name of a characteristic, or the characteristic itself."""
        return dict(self.labels).get(name, name)


def planned_analyses(loaded: RecordSet) -> tuple[PlannedAnalysis, ...]:
    """The review's planned analyses, in order, as :class:`PlannedAnalysis` values."""
    out = []
    for a in loaded.review.analyses:
        out.append(PlannedAnalysis(
            id=a.id, title=a.title, outcome=a.outcome, measure=a.measure,
            arms=(a.arms[0], a.arms[1]), method=a.method, test=a.test, level=a.level,
            transform=a.transform, effect_label=a.effect_label,
            favours=tuple(a.favours) if a.favours else None,
            subgroups=tuple(a.subgroups), moderators=tuple(tuple(m) for m in a.moderators),
            cumulative_order=a.cumulative_order,
            labels=tuple((getattr(a, "labels", None) or {}).items()),
            multilevel=a.multilevel))
    return tuple(out)
