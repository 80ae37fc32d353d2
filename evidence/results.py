"""One computed review: :func:`run_review` → a frozen :class:`ReviewResults`.

Everything a supplement, a diff or a user's script shows about a review is computed here,
once: the tidy frames, the completeness report, the pre-post effects (oriented once, by the
direction of benefit each outcome records), the pooled groups, the levels of evidence, the
expert matrix, the conclusions, the check against the review's stated findings and the
planned two-arm analyses, with the options used and the software versions. Rendering
(:mod:`evidence.report`) and :func:`diff_reviews` only read the result.

Every tabular part is a read-only :class:`Table`: ``to_frame()`` hands out a copy, so a value
can't be changed after it was computed and two outputs can't disagree about it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from importlib import metadata
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import pandas as pd

from .analysis import AnalysisResult, MultilevelAnalysisResult, run_analysis, run_multilevel
from .appraisal import (grade_review, rob_by_analysis, rob_sensitivity,
                        rob_sensitivity_pre_post, rob_table, rob_weighted_shares)
from .completeness import completeness, completeness_summary, outcome_status
from .errors import ArgumentError
from .model import LoadedReview, load_review, planned_analyses, wide_measurements
from .synthesis import (check_stated_findings, clinical_effects, conclusions, expert_matrix,
                        levels_of_evidence, parse_rules, pool_by_group)
from .vocabulary import METHODS, PRE_POST_MEASURES, TESTS, parse_level

__all__ = ["Table", "ReviewOptions", "ReviewResults", "run_review", "software_versions"]

_SOFTWARE = ("evidence", "numpy", "scipy", "pandas", "matplotlib", "jinja2",
             "pydantic", "weasyprint")


def software_versions() -> dict[str, str]:
    """Versions of evidence and the libraries that shape its numbers and figures."""
    out = {}
    for name in _SOFTWARE:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _plain(v: Any) -> Any:
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


@dataclass(frozen=True, slots=True)
class Table:
    """A read-only table of a :class:`ReviewResults` (one part of the computed review).

    ``to_frame()`` returns a copy of the frame; ``records()`` its rows as plain dicts
    (missing values as None), which is what templates read.
    """

    name: str
    description: str
    frame_: pd.DataFrame = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        """A copy of the table (changing it leaves the result unchanged)."""
        return self.frame_.copy(deep=True)

    def records(self) -> list[dict[str, Any]]:
        """The rows as dicts of plain values; NaN and NA are None."""
        return [{k: _plain(v) for k, v in row.items()}
                for row in self.frame_.to_dict("records")]

    @property
    def columns(self) -> list[str]:
        return [str(c) for c in self.frame_.columns]

    def __len__(self) -> int:
        return len(self.frame_)

    @property
    def empty(self) -> bool:
        return len(self.frame_) == 0

    def __repr__(self) -> str:
        return f"Table({self.name!r}: {len(self)} rows × {len(self.frame_.columns)} columns)"


def _table(name: str, df: pd.DataFrame | None, description: str = "") -> Table:
    df = pd.DataFrame() if df is None else df
    return Table(name=name, description=description, frame_=df.copy(deep=True))


@dataclass(frozen=True, slots=True)
class ReviewOptions:
    """The choices behind a review's synthesis, recorded in its results.

    Each option left as None takes the value in the review's ``review.yaml`` (``synthesis:``
    block), then the package default. ``assumed_correlation`` has no package default: without
    one, no standardised mean change is computed and each effect says why.
    """

    measure: str | None = None
    assumed_correlation: float | None = None
    correlations: tuple[float, ...] | None = None
    method: str | None = None
    test: str | None = None
    level: float | None = None

    def resolved(self, review_row: Mapping[str, Any]) -> "ReviewOptions":
        """These options with every None filled from the review (then the defaults)."""
        def pick(mine, key, default):
            if mine is not None:
                return mine
            v = _plain(review_row.get(key))
            return default if v is None else v

        r = pick(self.assumed_correlation, "assumed_correlation", None)
        out = ReviewOptions(
            measure=str(pick(self.measure, "synthesis_measure", "SMCR")),
            assumed_correlation=None if r is None else float(r),
            correlations=tuple(float(x) for x in pick(self.correlations, "correlations",
                                                       (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8))),
            method=str(pick(self.method, "synthesis_method", "REML")),
            test=str(pick(self.test, "synthesis_test", "z")),
            level=parse_level(pick(self.level, "synthesis_level", 0.95)))
        if out.measure not in PRE_POST_MEASURES:
            raise ArgumentError(f"measure {out.measure!r} is not one of "
                                f"{', '.join(PRE_POST_MEASURES)}")
        if out.method not in METHODS:
            raise ArgumentError(f"method {out.method!r} is not one of {', '.join(METHODS)}")
        if out.test not in TESTS:
            raise ArgumentError(f"test {out.test!r} is not one of {', '.join(TESTS)}")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class ReviewResults:
    """A whole review, computed once (see :func:`run_review`).

    Attributes
    ----------
    review_id, title : str
    review : mapping
        The review's metadata (citation, question, design, vocabulary labels).
    directory : str
        The records directory, as given.
    records : Table
        Every field of every record, flattened (what :func:`evidence.diff_reviews` compares).
    frames : mapping of name -> Table
        The tidy frames of the records (:func:`evidence.model.build_frames`) and
        ``measurements_wide`` (one row per study × outcome × arm × time point).
    completeness, outcome_status : Table
        Every gap and what it blocks; per outcome, what is reported and whether an effect size
        is computable. ``completeness_summary``: the counts.
    effects, effects_sensitivity : Table or None
        Pre-post effects per study × outcome × time pair. ``yi``/``vi``/``ci_low``/``ci_high``
        keep metafor's sign (post − pre); ``yi_benefit``/``ci_low_benefit``/
        ``ci_high_benefit`` are the same effect oriented once by the outcome's direction of
        benefit (``better``: lower or higher), so positive = improvement. Every output shows
        the oriented value. The sensitivity table repeats each effect per assumed correlation.
    pooled, pooled_sensitivity : Table or None
        The effects pooled per injury × strategy × outcome kind (benefit scale).
    levels, matrix, conclusions, stated_check, rules : Table or None
        Levels of evidence by the review's rules, the expert-opinion matrix, the conclusions,
        the comparison with the review's stated findings, and the rules themselves.
    analyses : tuple of AnalysisResult
        The planned two-arm analyses of ``review.yaml``, in order.
    multilevel : tuple of MultilevelAnalysisResult
        The planned analyses with a ``multilevel:`` block (every study × time point pooled
        by :func:`evidence.meta_mv`, with CR2 inference and the correlation sensitivity).
    risk_of_bias : Table
        Every risk-of-bias assessment domain by domain with the algorithm's judgement beside
        the reviewer's (conflicts reported, never overwritten), and one "not assessed" row
        per study without an assessment (:func:`evidence.appraisal.rob_table`).
    rob_sensitivity : Table or None
        Each planned analysis refitted without the studies at high risk of bias (None when
        no pooled study is assessed).
    rob_by_analysis, rob_shares : Table or None
        Per planned analysis, each pooled study's judgement per domain for its outcome with
        the study's weight, and the weighted share of each judgement per domain (what the
        traffic-light, summary and forest plots draw); None when no pooled study is
        assessed.
    ongoing : Table or None
        Registered studies not yet reported (``ongoing:`` in review.yaml), as recorded; the
        expected completion dates are compared with today only by ``evidence validate`` and
        at a release, so a rendered supplement does not change with the calendar.
    grade, sof : Table or None
        GRADE per outcome and domain (proposal, the reviewer's decision, the level used) and
        the Summary of Findings rows (relative and absolute effects, participants, certainty),
        ordered by importance (:func:`evidence.appraisal.grade_review`).
    options : ReviewOptions
        The options used (resolved), and ``software`` the versions.
    """

    review_id: str
    title: str
    review: Mapping[str, Any]
    directory: str
    frames: Mapping[str, Table]
    records: Table
    completeness: Table
    completeness_summary: Mapping[str, int]
    outcome_status: Table
    effects: Table | None
    effects_sensitivity: Table | None
    pooled: Table | None
    pooled_sensitivity: Table | None
    levels: Table | None
    matrix: Table | None
    conclusions: Table | None
    stated_check: Table | None
    rules: Table | None
    analyses: tuple[AnalysisResult, ...]
    options: ReviewOptions
    software: Mapping[str, str]
    notes: tuple[str, ...] = ()
    multilevel: tuple[MultilevelAnalysisResult, ...] = ()
    risk_of_bias: Table | None = None
    rob_sensitivity: Table | None = None
    rob_by_analysis: Table | None = None
    rob_shares: Table | None = None
    grade: Table | None = None
    sof: Table | None = None
    ongoing: Table | None = None

    @property
    def has_synthesis(self) -> bool:
        """True when the review has levels-of-evidence rules (a mixed-methods synthesis)."""
        return self.matrix is not None

    def frame(self, name: str) -> pd.DataFrame:
        """A copy of one of the record frames (``studies``, ``measurements``, ...)."""
        if name not in self.frames:
            raise ArgumentError(f"frame {name!r} is not one of {', '.join(self.frames)}")
        return self.frames[name].to_frame()

    def parts(self) -> dict[str, Table]:
        """Every computed table by name (the record frames excluded)."""
        names = ("completeness", "outcome_status", "effects", "effects_sensitivity", "pooled",
                 "pooled_sensitivity", "levels", "matrix", "conclusions", "stated_check",
                 "rules", "risk_of_bias", "rob_sensitivity", "rob_by_analysis", "rob_shares",
                 "grade", "sof", "ongoing")
        out = {n: getattr(self, n) for n in names if getattr(self, n) is not None}
        for a in self.analyses:
            out[f"analysis:{a.spec.id}"] = _table(f"analysis:{a.spec.id}", a.effects,
                                                  a.spec.title)
        for m in self.multilevel:
            out[f"multilevel:{m.spec.id}"] = _table(f"multilevel:{m.spec.id}", m.effects,
                                                    f"{m.spec.title} (effects per study and "
                                                    "time point)")
            if m.fit is not None:
                out[f"multilevel:{m.spec.id}:components"] = _table(
                    f"multilevel:{m.spec.id}:components", m.fit.variance_components(),
                    "variance components of the multilevel model")
            if m.rho_sensitivity is not None:
                out[f"multilevel:{m.spec.id}:rho"] = _table(
                    f"multilevel:{m.spec.id}:rho", m.rho_sensitivity,
                    "the multilevel model refitted for every assumed correlation")
        return out

    def to_frame(self) -> pd.DataFrame:
        """One row per computed part: its name, rows and description."""
        rows = [{"part": n, "rows": len(t), "description": t.description}
                for n, t in self.parts().items()]
        return pd.DataFrame(rows, columns=["part", "rows", "description"])

    def summary(self) -> str:
        """What a reader needs first: the studies, what could be computed, the estimates."""
        s = self.completeness_summary
        lines = [f"{self.title} ({self.review_id})",
                 f"{s['studies']} studies ({s['studies_unconfirmed']} of unconfirmed "
                 f"inclusion); {s['outcomes_computable']} of {s['outcomes']} outcomes allow "
                 f"an effect size; {s['gaps']} gaps ({s['gaps_blocking']} block an effect "
                 "size)."]
        for a in self.analyses:
            p = a.pooled
            if p is None:
                lines.append(f"{a.spec.title}: not pooled ({'; '.join(a.notes)})")
                continue
            lines.append(f"{a.spec.title}: k = {p.k}, {a.spec.measure} estimate "
                         f"{p.estimate:.4f} [{p.ci_low:.4f}, {p.ci_high:.4f}] (analysis "
                         f"scale), τ² = {p.tau2:.4f}, I² = {p.i2:.1f}%")
        for m in self.multilevel:
            if m.fit is None:
                lines.append(f"{m.spec.title}: not pooled ({'; '.join(m.notes)})")
                continue
            f = m.fit
            lines.append(f"{m.spec.title}: {m.k_used} effects in {m.n_studies} studies "
                         f"(multilevel, rho = {m.rho:g}), {m.spec.measure} estimate "
                         f"{f.estimate:.4f} [{float(f.ci_low):.4f}, {float(f.ci_high):.4f}] "
                         "(analysis scale), σ² = "
                         + ", ".join(f"{v:.4f}" for v in f.sigma2))
        if self.pooled is not None:
            t = self.pooled.frame_
            lines.append(f"Pre-post effects: {int((t['status'] == 'pooled').sum())} pooled "
                         f"groups, {int((t['status'] == 'single study').sum())} single-study,"
                         f" {int((t['status'] == 'not poolable').sum())} not poolable.")
        if self.conclusions is not None:
            lines.append("Conclusions:")
            lines += [f"  - {c['statement']}" for c in self.conclusions.records()]
        if self.stated_check is not None and len(self.stated_check):
            m = int(self.stated_check.frame_["match"].sum())
            lines.append(f"Stated findings reproduced: {m} of {len(self.stated_check)}.")
        o = self.options
        if self.has_synthesis:
            r = ("none given" if o.assumed_correlation is None
                 else f"{o.assumed_correlation:g} (assumed)")
            lines.append(f"Options: {o.measure}, pre-post r {r}, {o.method}, test {o.test}, "
                         f"level {o.level:g}.")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"ReviewResults({self.review_id!r}: {self.completeness_summary['studies']} "
                f"studies, {len(self.analyses)} planned analyses, "
                f"synthesis={'yes' if self.has_synthesis else 'no'})")


def _identity(items: list) -> str | None:
    """The field that names each entry of a list of mappings (``key`` of a source, ``id`` of
    an outcome or time point) when every entry has a distinct one: entries are then compared
    by name, so inserting one does not shift the others."""
    for name in ("key", "id"):
        vals = [v.get(name) if isinstance(v, dict) else None for v in items]
        if all(isinstance(x, str) and x for x in vals) and len(set(vals)) == len(vals):
            return name
    return None


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(obj, list):
        if not obj:
            out[prefix] = []
        ident = _identity(obj)
        for i, v in enumerate(obj):
            out.update(_flatten(v, f"{prefix}[{i if ident is None else v[ident]}]"))
    else:
        out[prefix] = obj
    return out


def _records_table(loaded) -> Table:
    """Every field of every record, flattened: record, kind, file, field (dotted), value."""
    rows = []
    items = [("review", "review.yaml", loaded.review, f"review:{loaded.review.id}")]
    for kind, recs in (("clinical", loaded.studies), ("expert", loaded.experts),
                       ("biomechanics", loaded.biomechanics)):
        items += [(kind, loaded.files.get(r.id), r, r.id) for r in recs]
    for kind, file, rec, rid in items:
        for k, v in _flatten(rec.model_dump(by_alias=True)).items():
            rows.append({"record": rid, "kind": kind, "file": file, "field": k, "value": v})
    return _table("records", pd.DataFrame(rows, columns=["record", "kind", "file", "field",
                                                          "value"]),
                  "every field of every record (flattened)")


def _rules_table(rules) -> Table:
    rows = [{"id": r.id, "label": r.label, "explanation": r.explanation,
             "when": dict(r.model_dump(exclude_none=True).get("when", {}))}
            for r in rules.rules]
    return _table("rules", pd.DataFrame(rows, columns=["id", "label", "explanation", "when"]),
                  "the ordered levels-of-evidence rules (first match wins)")


def run_review(review: LoadedReview | str | Path,
               options: ReviewOptions | None = None) -> ReviewResults:
    """Compute a whole review once and freeze it.

    Parameters
    ----------
    review : LoadedReview or path
        From :func:`evidence.load_review`, or a review directory.
    options : ReviewOptions, optional
        Overrides of the review's ``synthesis:`` settings (assumed correlation, estimator,
        test, level); what was used is in ``results.options``.

    Returns
    -------
    ReviewResults

    Examples
    --------
    >>> import evidence as ev
    >>> results = ev.run_review("studies/bcg")          # doctest: +SKIP
    >>> print(results.summary())                         # doctest: +SKIP
    """
    loaded = review if isinstance(review, LoadedReview) else load_review(review)
    fr = loaded.frames()
    rv = {k: _plain(v) for k, v in fr.review.iloc[0].to_dict().items()}
    rv["rules_file"] = Path(loaded.rules_file).name if loaded.rules_file else None
    opts = (options or ReviewOptions()).resolved(rv)
    frames = {name: _table(name, df) for name, df in fr.items()}
    frames["measurements_wide"] = _table("measurements_wide", wide_measurements(fr.measurements),
                                         "one row per study × outcome × arm × time point")
    status = outcome_status(fr)
    gaps = completeness(fr, status)

    eff = sens = pooled = pooled_sens = levels = matrix = concl = check = rules_t = None
    notes: list[str] = []
    if loaded.rules is not None:
        rules = parse_rules(loaded.rules, label=loaded.rules_file or "rules.yaml")
        rules_t = _rules_table(rules)
        ce = clinical_effects(fr, correlations=opts.correlations,
                              assumed_r=opts.assumed_correlation, measure=opts.measure,
                              level=opts.level)
        pe = pool_by_group(ce, method=opts.method, test=opts.test, level=opts.level)
        es = fr.expert_strategies[["injury", "strategy"]]
        lv = levels_of_evidence(fr, rules, ce, cells=es)
        mx = expert_matrix(fr, rules, ce, levels=lv)
        cc = conclusions(fr, rules, ce, matrix=mx)
        ck = check_stated_findings(cc, fr.stated_findings)
        eff = _table("effects", ce.effects, "pre-post effects per study, outcome and time pair")
        sens = _table("effects_sensitivity", ce.sensitivity,
                      "each computable effect under every assumed pre-post correlation")
        pooled = _table("pooled", pe.table, "effects pooled per group (positive = improvement)")
        pooled_sens = _table("pooled_sensitivity", pe.sensitivity,
                             "pooled estimates per assumed pre-post correlation")
        levels = _table("levels", lv, "level of clinical evidence per cell, by the rules")
        matrix = _table("matrix", mx, "expert opinion beside clinical and biomechanical "
                                      "evidence")
        concl = _table("conclusions", cc, "the synthesis' conclusions with their rules")
        check = _table("stated_check", ck, "generated levels against the review's stated "
                                           "findings")
        notes += list(ce.notes)
    plans = planned_analyses(loaded)
    analyses = tuple(run_analysis(fr, p) for p in plans if p.multilevel is None)
    multilevel = tuple(run_multilevel(fr, p) for p in plans if p.multilevel is not None)
    rob = rob_table(fr)
    rob_sens = [r for r in (rob_sensitivity(a, rob) for a in (*analyses, *multilevel))
                if r is not None]
    if eff is not None:
        rob_sens += rob_sensitivity_pre_post(eff.frame_, pooled.frame_, fr, rob, opts.method,
                                             opts.test, opts.level)
    by_analysis = rob_by_analysis(analyses, rob)
    grade, sof = grade_review(fr, analyses, rob,
                              None if pooled is None else pooled.frame_,
                              None if eff is None else eff.frame_)
    return ReviewResults(
        review_id=str(rv["id"]), title=str(rv["title"]), review=MappingProxyType(rv),
        directory=str(loaded.path), frames=MappingProxyType(frames),
        records=_records_table(loaded),
        completeness=_table("completeness", gaps, "every gap and what it blocks"),
        completeness_summary=MappingProxyType(dict(completeness_summary(fr, status, gaps))),
        outcome_status=_table("outcome_status", status, "per outcome: what is reported"),
        effects=eff, effects_sensitivity=sens, pooled=pooled, pooled_sensitivity=pooled_sens,
        levels=levels, matrix=matrix, conclusions=concl, stated_check=check, rules=rules_t,
        analyses=analyses, options=opts, software=MappingProxyType(software_versions()),
        notes=tuple(notes), multilevel=multilevel,
        risk_of_bias=_table("risk_of_bias", rob, "risk of bias per study and domain "
                                                 "(algorithm beside the reviewer)"),
        rob_sensitivity=_table("rob_sensitivity", pd.DataFrame(rob_sens),
                               "planned analyses without the studies at high risk of bias")
        if rob_sens else None,
        rob_by_analysis=_table("rob_by_analysis", by_analysis, "risk of bias of each pooled "
                               "study per planned analysis, with its weight")
        if len(by_analysis) else None,
        rob_shares=_table("rob_shares", rob_weighted_shares(by_analysis),
                          "weighted share of each judgement per analysis and domain")
        if len(by_analysis) else None,
        grade=_table("grade", grade, "GRADE per outcome and domain: proposal, decision, "
                                     "level used") if len(sof) else None,
        sof=_table("sof", sof, "Summary of Findings: one row per outcome, by importance")
        if len(sof) else None,
        ongoing=_table("ongoing", fr.ongoing, "registered studies not yet reported")
        if len(fr.ongoing) else None)

