"""The YAML record format, as pydantic models.

A review directory holds ``review.yaml`` (the review: citation, question, vocabularies of
injuries/conditions and strategies/interventions, known counts, sources) and one YAML file per
record below it. A record file holds one mapping with a ``type`` key:

``clinical``      a study with outcomes measured per arm and time point
``expert``        the experts' view on one injury/condition (expert-opinion component)
``biomechanics``  a list of biomechanical evidence statements (strategy -> effect, level)

Every number carries its source. A numeric field is either a bare number, which takes the
``source`` of the enclosing measurement, or a mapping ``{value, source, where, note}``. A value
that no source reports is ``null`` (absent): never estimated, imputed or read off a figure.

Cross-record rules (unknown source keys, unknown injuries, duplicate ids, a mean outside its
declared scale) are checked by :mod:`evidence.records.loader`, which knows the whole review.
"""

from __future__ import annotations

import datetime
import math
import re
from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, \
    model_validator

from ..certainty.rob import (JUDGEMENTS, ROB2_DOMAINS, ROBINS_I_DOMAINS,
                             ROBINS_I_V2_DOMAINS)
from ..links import check_url

__all__ = [
    "Sourced",
    "SourceRef",
    "Characteristic",
    "Source",
    "Citation",
    "Injury",
    "Strategy",
    "Count",
    "StatedFinding",
    "Review",
    "LivingPlan",
    "OngoingStudy",
    "LIVING_RULES",
    "LIVING_DEFAULT_RULES",
    "SEQUENTIAL_SPENDING",
    "SequentialPlan",
    "AnalysisSpec",
    "SynthesisPlan",
    "Scale",
    "Timepoint",
    "Measurement",
    "ReportedChange",
    "Outcome",
    "Sample",
    "Intervention",
    "Inclusion",
    "Disagreement",
    "ClinicalStudy",
    "ExpertStrategy",
    "ExpertTheme",
    "ExpertOpinion",
    "BiomechanicalStatement",
    "BiomechanicalEvidence",
    "Record",
    "STATISTICS",
]

ID_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"
"""Record, outcome, time point ... ids: lower case, safe as a file name on every system."""
ID_MAX_LENGTH = 80
MAX_COUNT = 1e10
"""Largest count accepted (n, events, totals): above the world's population, a typing error;
also well inside the range where a float holds every whole number exactly (2**53)."""
_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$")


def check_id(v: str) -> str:
    """An id safe as a file name: :data:`ID_PATTERN`, at most :data:`ID_MAX_LENGTH`
    characters, no '..' and not a name Windows reserves (con, nul, com1 ...)."""
    if not isinstance(v, str) or not re.fullmatch(ID_PATTERN, v):
        raise ValueError(f"must be a lower-case id (letters, digits, '.', '_', '-', starting "
                         f"with a letter or digit), got {v!r}")
    if len(v) > ID_MAX_LENGTH:
        raise ValueError(f"must be at most {ID_MAX_LENGTH} characters, got {len(v)}")
    if ".." in v or v.endswith("."):
        raise ValueError(f"must not contain '..' or end with '.', got {v!r}")
    if _RESERVED.match(v):
        raise ValueError(f"{v!r} is a reserved file name on Windows; choose another id")
    return v


Id = Annotated[str, Field(description="lower-case id: letters, digits, . _ -",
                          json_schema_extra={"pattern": ID_PATTERN}), AfterValidator(check_id)]


def _at(field: str, msg: str) -> ValueError:
    """An error of a model validator that belongs to one field (``@field: msg``; the loader
    puts the field into the path it prints)."""
    return ValueError(f"@{field}: {msg}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True,
                              allow_inf_nan=False)


class SourceRef(_Model):
    """Where a fact comes from: a source key from review.yaml plus an optional locator."""

    source: str = Field(description="key of a source listed in review.yaml")
    where: str | None = Field(None, description="table, page or section within the source")
    note: str | None = None


class Sourced(_Model):
    """A number with its provenance. ``value`` null means: no source reports it."""

    value: float | None = None
    source: str | None = None
    where: str | None = None
    note: str | None = None

    @field_validator("value")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError(f"must be a finite number or null, got {v}")
        return v


def _coerce_sourced(v: Any) -> Any:
    """Let a bare number (or null) stand for ``{value: number}``."""
    if v is None or isinstance(v, (Sourced, dict)):
        return v
    if isinstance(v, bool):
        raise ValueError(f"must be a number or a mapping with 'value', got {v!r}")
    if isinstance(v, (int, float)):
        return {"value": v}
    raise ValueError(f"must be a number, null or a mapping with 'value' and 'source', got {v!r}")


class Characteristic(_Model):
    """A study-level characteristic (moderator): a number or a category, with its source."""

    value: float | str | None = None
    source: str | None = None
    where: str | None = None
    note: str | None = None


class Source(_Model):
    key: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=80)
    kind: Literal["primary", "secondary", "tertiary"]
    description: str
    url: str | None = None
    citation: str | None = None

    @field_validator("url")
    @classmethod
    def _linkable(cls, v: str | None) -> str | None:
        return None if v is None else check_url(v)


class Citation(_Model):
    authors: list[str] | str
    title: str | None = None
    journal: str | None = None
    year: int | None = None
    volume: str | None = None
    issue: str | None = None
    pages: str | None = None
    doi: str | None = None
    pmid: str | None = None
    pmcid: str | None = None
    epub: str | None = None
    source: str | None = Field(None, description="source key for these bibliographic facts")
    note: str | None = None

    @field_validator("year")
    @classmethod
    def _past_year(cls, v: int | None) -> int | None:
        if v is not None and not 1000 <= v <= datetime.date.today().year:
            raise ValueError(f"must be a year between 1000 and this year, got {v}")
        return v

    @field_validator("epub")
    @classmethod
    def _past_date(cls, v: str | None) -> str | None:
        if v is not None and re.fullmatch(r"\d{4}-\d{2}-\d{2}", v):
            try:
                d = datetime.date.fromisoformat(v)
            except ValueError:
                raise ValueError(f"not a valid date (YYYY-MM-DD), got {v!r}") from None
            if d > datetime.date.today():
                raise ValueError(f"the date {v} is in the future")
        return v


class Injury(_Model):
    id: Id
    name: str
    group: str | None = Field(None, description="how the review grouped it (e.g. a table)")
    phrase: str | None = Field(None, description="the name as it reads inside a sentence "
                                                 "(default: first letter lower case)")
    source: str | None = None


class Strategy(_Model):
    id: Id
    name: str
    category: str | None = None
    description: str | None = None


class Count(_Model):
    value: int | None = Field(None, ge=0, le=MAX_COUNT)
    source: str | None = None
    note: str | None = None


class StatedFinding(_Model):
    """A conclusion the review states in its own text (used to check the synthesis)."""

    injury: str
    strategy: str | None = None
    level: str
    statement: str
    source: str
    where: str | None = None


class MultilevelSpec(_Model):
    """A multilevel model of dependent effects: one effect per study × time point.

    The sampling errors of one study's effects are correlated by ``rho``, an assumption that
    is stated here (with ``rho_note``), recorded in the results and varied over ``rhos``.
    """

    random: Literal["study/timepoint"] = Field(
        "study/timepoint", description="nested random intercepts: studies, and time points "
                                       "within studies")
    rho: float = Field(ge=-1, le=1, description="assumed correlation of the sampling errors "
                                                "of one study's effects")
    rho_note: str = Field(min_length=1, description="why this correlation")
    rhos: list[Annotated[float, Field(ge=-1, le=1)]] = Field(
        default_factory=lambda: [0.0, 0.25, 0.5, 0.75, 0.9],
        description="correlations of the sensitivity analysis")
    robust: Literal["CR2"] | None = Field("CR2", description="cluster-robust inference "
                                                             "(clustered by study)")
    by_timepoint: bool = Field(True, description="also fit one coefficient per time point")


class AnalysisSpec(_Model):
    """A planned quantitative analysis of one outcome across studies (two-arm comparisons).

    The first arm of ``arms`` is the experimental group, the second the comparator; metafor's
    escalc sign conventions follow (e.g. log RR of arm 1 vs arm 2).
    """

    id: Id
    title: str
    outcome: str = Field(description="outcome id, matched across studies")
    measure: str = Field(description="escalc measure, e.g. RR, OR, RD, MD, SMD")
    arms: list[Id] = Field(min_length=2, max_length=2)
    method: str = Field("REML", description="τ² estimator (FE, DL, REML, ...), or a method "
                                            "that pools the 2x2 tables directly: MH "
                                            "(Mantel-Haenszel; OR, RR, RD) or Peto (OR)")
    test: str = Field("z", description="z or knha")
    level: float = Field(0.95, gt=0, lt=100)
    transform: str | None = Field(None, description="display transform: identity, exp, tanh, "
                                                    "expit")
    effect_label: str | None = None
    favours: list[str] | None = Field(None, min_length=2, max_length=2,
                                      description="labels below the forest plot: left, right")
    subgroups: list[str] = Field(default_factory=list, description="characteristics")
    moderators: list[list[str]] = Field(default_factory=list,
                                        description="meta-regression models (characteristics)")
    cumulative_order: str | None = Field(None, description="characteristic ordering "
                                                           "the cumulative meta-analysis")
    multilevel: MultilevelSpec | None = Field(
        None, description="pool every time point with a multilevel model instead of one "
                          "effect per study")
    labels: dict[str, str] = Field(default_factory=dict,
                                   description="readers' names of the characteristics used "
                                               "(subgroups, moderators), e.g. alloc: method "
                                               "of treatment allocation")

    @field_validator("arms")
    @classmethod
    def _two_arms(cls, v: list[str]) -> list[str]:
        if len(v) == 2 and v[0] == v[1]:
            raise ValueError(f"the two arms must differ, got {v[0]!r} twice")
        return v


class SynthesisPlan(_Model):
    """How the review's pre-post clinical effects are computed and pooled.

    The pre-post correlation is an assumption when no study reports it: it is stated here,
    recorded beside every effect that uses it and varied over ``correlations`` in a
    sensitivity analysis. Without it no standardised mean change is computed.
    """

    measure: Literal["SMCR", "SMCC", "MC"] = "SMCR"
    assumed_correlation: float | None = Field(
        None, ge=-1, le=1, description="pre-post correlation assumed where none is reported")
    correlation_note: str | None = Field(
        None, description="why this correlation (shown beside the assumption)")
    correlations: list[float] = Field(
        default_factory=lambda: [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8],
        description="correlations of the sensitivity analysis")
    method: str = Field("REML", description="τ² estimator of the pooled groups")
    test: str = Field("z", description="z or knha")
    level: float = Field(0.95, gt=0, lt=100)
    outcome_kinds: list[str] = Field(
        default_factory=list, description="outcome kinds shown, in this order (e.g. the "
                                          "review's primary outcome kind first)")
    lower_is_better: dict[str, bool] = Field(
        default_factory=dict, description="direction of benefit per outcome kind where an "
                                          "outcome's scale does not give it")


GRADE_DOMAIN_KEYS = ("risk_of_bias", "inconsistency", "indirectness", "imprecision",
                     "publication_bias", "large_effect", "dose_response",
                     "plausible_confounding")
"""GRADE domains as review.yaml keys (underscores for spaces)."""


class GradeDecision(_Model):
    """A reviewer's GRADE decision on one domain: the level and why."""

    level: Literal[-2, -1, 0, 1, 2]
    reason: str = Field(min_length=1)
    source: str | None = None


class GradeSpec(_Model):
    """The certainty of one outcome's evidence (GRADE) and its Summary of Findings row.

    ``analysis`` names a planned analysis (``analyses[].id``). Decisions recorded here win
    over the toolkit's proposals; domains without a decision show the proposal, or "not
    assessed" where the data allow none.
    """

    analysis: Id
    outcome: str | None = Field(None, description="the outcome as the SoF table names it")
    importance: int = Field(1, ge=1, description="rank (1 = most important); the SoF "
                                                 "table lists at most seven, by rank")
    start: Literal["high", "low"] | None = Field(
        None, description="high for randomised trials, low for non-randomised studies")
    start_reason: str | None = None
    thresholds: list[float] | None = Field(
        None, min_length=2, max_length=2,
        description="decision thresholds of appreciable benefit and harm, on the display "
                    "scale (e.g. RR 0.75 and 1.25)")
    comparator_risk: float | None = Field(
        None, gt=0, lt=1, description="assumed comparator risk; default: the pooled "
                                      "control-arm risk")
    comparator_risk_source: str | None = None
    decisions: dict[Literal[GRADE_DOMAIN_KEYS], GradeDecision] = Field(default_factory=dict)
    comments: str | None = None

    @model_validator(mode="after")
    def _start_reason(self) -> "GradeSpec":
        if self.start is not None and not self.start_reason:
            raise _at("start_reason", "a starting level needs its reason")
        if self.comparator_risk is not None and not self.comparator_risk_source:
            raise _at("comparator_risk_source", "an assumed comparator risk needs a source")
        return self


LIVING_RULES = {
    "ci_excludes_null_changed": "the confidence interval of a planned analysis now excludes "
                                "the null effect, or no longer does",
    "direction_changed": "the pooled estimate of a planned analysis changed sign (which "
                         "arm it favours)",
    "heterogeneity_class_changed": "the heterogeneity class of a planned analysis (by I²) "
                                   "moved to another band",
    "certainty_changed": "the certainty of evidence (GRADE) of an outcome moved",
    "level_of_evidence_changed": "a level of evidence of the synthesis (and so its "
                                 "conclusion) moved",
}
"""Rules a living review may set in advance (``living: {rules: [...]}`` in review.yaml): each
decides, release by release, whether a finding counts as changed."""

LIVING_DEFAULT_RULES = ("ci_excludes_null_changed", "heterogeneity_class_changed",
                        "certainty_changed", "level_of_evidence_changed")
"""The rules used when review.yaml has no ``living:`` block or leaves ``rules`` out."""


SEQUENTIAL_SPENDING = ("obrien-fleming", "pocock")
"""Lan-DeMets alpha-spending functions a sequential analysis may use."""


class SequentialPlan(_Model):
    """A sequential analysis of one planned analysis across releases (``living: sequential:``
    in review.yaml), set in advance: a sensitivity analysis that guards against repeated
    looks, never the main conclusion.

    ``information`` chooses what accrues: ``participants`` (trial sequential analysis,
    Wetterslev et al. 2008: the required information size from ``control_risk`` and
    ``effect`` for ratio measures, or ``sd`` and ``effect`` for a mean difference; adjusted by
    the diversity D² of the current release when ``heterogeneity: diversity``) or
    ``statistical`` (information = 1/SE² of the pooled model; required ((z₁₋α/₂ + z₁₋β) / δ)²
    with δ the effect on the analysis scale). ``effect`` is on the display scale (a risk
    ratio of 0.8 for a 20% relative risk reduction; a mean difference as it is reported).
    ``control_risk: observed`` uses the comparator arms' events over participants of the
    current release. Every assumption needs its ``reason``.
    """

    analysis: Id = Field(description="id of a planned analysis")
    effect: float = Field(description="the effect to detect (display scale)")
    reason: str = Field(min_length=1, description="why this effect (and control risk/SD)")
    alpha: float = Field(0.05, gt=0, lt=0.5)
    power: float = Field(0.8, gt=0, lt=1)
    spending: Literal[SEQUENTIAL_SPENDING] = "obrien-fleming"
    information: Literal["participants", "statistical"] = "participants"
    heterogeneity: Literal["diversity", "none"] = "diversity"
    control_risk: float | Literal["observed"] | None = Field(
        None, description="comparator risk for a ratio measure (participants)")
    control_risk_source: str | None = None
    sd: float | None = Field(None, gt=0, description="SD of the outcome (mean difference)")
    sd_source: str | None = None

    @model_validator(mode="after")
    def _needs(self) -> "SequentialPlan":
        if isinstance(self.control_risk, float) and not 0 < self.control_risk < 1:
            raise _at("control_risk", "a comparator risk lies between 0 and 1")
        if isinstance(self.control_risk, float) and not self.control_risk_source:
            raise _at("control_risk_source", "an assumed comparator risk needs a source")
        if self.sd is not None and not self.sd_source:
            raise _at("sd_source", "an assumed SD needs a source")
        if self.information == "participants" and self.control_risk is None and self.sd is None:
            raise _at("control_risk", "a required information size in participants needs "
                      "control_risk (ratio measures) or sd (mean differences); or use "
                      "information: statistical")
        if self.control_risk is not None and self.sd is not None:
            raise _at("sd", "give control_risk (ratio measures) or sd (mean differences), "
                      "not both")
        if self.effect == 0:
            raise _at("effect", "the effect to detect cannot be no effect")
        return self


class LivingPlan(_Model):
    """A living review's plan, set in advance: which rules mark a finding as changed from one
    release to the next (ids of :data:`LIVING_RULES`; default :data:`LIVING_DEFAULT_RULES`;
    an empty list judges nothing), and optionally how often it is searched and when it
    leaves living mode."""

    rules: list[str] = Field(default_factory=lambda: list(LIVING_DEFAULT_RULES))
    search_frequency: str | None = Field(None, description="e.g. monthly")
    exit_criteria: str | None = Field(None, description="when the review leaves living mode")
    note: str | None = None
    sequential: list[SequentialPlan] = Field(
        default_factory=list, description="sequential analyses across releases (sensitivity)")

    @field_validator("rules")
    @classmethod
    def _known_rules(cls, v: list[str]) -> list[str]:
        bad = [r for r in v if r not in LIVING_RULES]
        if bad:
            raise ValueError(f"rule {bad[0]!r} is not one of {', '.join(LIVING_RULES)}")
        if len(set(v)) != len(v):
            raise ValueError("a rule is listed twice")
        return v


_PARTIAL_DATE = re.compile(r"^\d{4}-\d{2}(-\d{2})?$")


class OngoingStudy(_Model):
    """A registered study not yet reported (a living review lists it and watches for it).

    ``expected_completion`` is the registry's (primary) completion date as text, ``YYYY-MM``
    or ``YYYY-MM-DD``; ``evidence validate`` reminds when it has passed. Every fact comes from
    ``source`` (a key of ``sources``), usually the registry entry.
    """

    id: Id
    registry: str = Field(min_length=1, description="e.g. ClinicalTrials.gov, ISRCTN")
    registry_id: str = Field(min_length=1, description="e.g. NCT01234567")
    title: str | None = None
    planned_n: int | None = Field(None, ge=1, description="planned (anticipated) enrolment")
    expected_completion: str | None = Field(None, description="YYYY-MM or YYYY-MM-DD")
    source: str = Field(min_length=1, description="source key of these facts")
    where: str | None = None
    note: str | None = None

    @field_validator("expected_completion")
    @classmethod
    def _date(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if not _PARTIAL_DATE.match(v):
            raise ValueError(f"{v!r} is not a date written YYYY-MM or YYYY-MM-DD")
        try:
            datetime.date.fromisoformat(v if len(v) == 10 else v + "-01")
        except ValueError:
            raise ValueError(f"{v!r} is not a calendar date") from None
        return v


class Review(_Model):
    id: Id
    title: str
    citation: Citation
    question: str
    design: str | None = None
    outcome_focus: str | None = None
    injuries: list[Injury] = Field(min_length=1)
    injury_label: str = Field("injury", description="what the review calls its conditions")
    strategies: list[Strategy] = Field(default_factory=list)
    strategy_label: str = Field("strategy", description="what the review calls interventions")
    participants_label: str = Field("participants",
                                    description="what the review calls its participants")
    synthesis: SynthesisPlan | None = None
    counts: dict[str, Count] = Field(default_factory=dict)
    prisma: dict[str, Count] = Field(default_factory=dict)
    stated_findings: list[StatedFinding] = Field(default_factory=list)
    analyses: list[AnalysisSpec] = Field(default_factory=list)
    grade: list[GradeSpec] = Field(default_factory=list,
                                   description="certainty of evidence per planned analysis")
    sources: list[Source] = Field(min_length=1)
    notes: list[str] = Field(default_factory=list)
    living: LivingPlan | None = Field(None, description="living review: the rules, set in "
                                      "advance, that mark a finding as changed between "
                                      "releases (evidence release)")
    ongoing: list[OngoingStudy] = Field(default_factory=list,
                                        description="registered studies not yet reported")

    @model_validator(mode="after")
    def _ongoing_sources(self) -> "Review":
        keys = {s.key for s in self.sources}
        ids = [o.id for o in self.ongoing]
        for i, o in enumerate(self.ongoing):
            if o.source not in keys:
                raise _at(f"ongoing[{i}].source", f"unknown source key {o.source!r}; add it "
                          f"to sources (known: {', '.join(sorted(keys))})")
            if ids.count(o.id) > 1:
                raise _at(f"ongoing[{i}].id", f"ongoing study id {o.id!r} is given twice")
        return self


# ---------------------------------------------------------------------------- clinical


STATISTICS = (
    "mean", "sd", "se", "median", "q1", "q3", "min", "max", "ci_low", "ci_high",
    "n", "events", "nonevents", "total", "percent",
)
"""Statistics a measurement may carry; each is a :class:`Sourced` number or null."""


class Scale(_Model):
    min: float | None = None
    max: float | None = None
    unit: str | None = None
    lower_is_better: bool | None = None
    source: str | None = None
    assumed: bool = Field(False, description="min and max are this project's assumption, "
                                             "stated by no source (say why in note)")
    note: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> "Scale":
        if self.min is not None and self.max is not None and self.min >= self.max:
            raise ValueError(f"min must be below max, got min={self.min}, max={self.max}")
        return self


class Timepoint(_Model):
    id: Id
    label: str
    weeks: float | None = Field(None, ge=0, description="time since baseline, if stated")
    source: str | None = None


_SourcedField = Annotated[Sourced | None, Field(None)]


class Measurement(_Model):
    """The statistics reported for one arm of one outcome at one time point."""

    timepoint: str
    arm: str = "all"
    source: str | None = Field(None, description="default source of the numbers below")
    where: str | None = None
    mean: _SourcedField
    sd: _SourcedField
    se: _SourcedField
    median: _SourcedField
    q1: _SourcedField
    q3: _SourcedField
    min: _SourcedField
    max: _SourcedField
    ci_low: _SourcedField
    ci_high: _SourcedField
    n: _SourcedField
    events: _SourcedField
    nonevents: _SourcedField
    total: _SourcedField
    percent: _SourcedField
    note: str | None = None

    @field_validator(*STATISTICS, mode="before")
    @classmethod
    def _bare_numbers(cls, v: Any) -> Any:
        return _coerce_sourced(v)

    @field_validator("sd", "se")
    @classmethod
    def _positive_spread(cls, v: Sourced | None) -> Sourced | None:
        if v is not None and v.value is not None and v.value <= 0:
            raise ValueError(f"must be > 0, got {v.value:g}")
        return v

    @field_validator("n", "total")
    @classmethod
    def _positive_count(cls, v: Sourced | None) -> Sourced | None:
        if v is not None and v.value is not None:
            if v.value <= 0:
                raise ValueError(f"must be > 0, got {v.value:g}")
            if v.value != int(v.value):
                raise ValueError(f"must be a whole number, got {v.value:g}")
            _not_huge(v.value)
        return v

    @field_validator("events", "nonevents")
    @classmethod
    def _nonnegative_count(cls, v: Sourced | None) -> Sourced | None:
        if v is not None and v.value is not None:
            if v.value < 0 or v.value != int(v.value):
                raise ValueError(f"must be a whole number >= 0, got {v.value:g}")
            _not_huge(v.value)
        return v

    @field_validator("percent")
    @classmethod
    def _percentage(cls, v: Sourced | None) -> Sourced | None:
        if v is not None and v.value is not None and not 0 <= v.value <= 100:
            raise ValueError(f"a percentage must be between 0 and 100, got {v.value:g}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "Measurement":
        """Counts add up, parts are not larger than the whole, bounds are ordered."""
        v = {k: s.value for k, s in self.values().items()}
        ev, ne, tot = v.get("events"), v.get("nonevents"), v.get("total")
        if ev is not None and ne is not None and tot is not None and ev + ne != tot:
            raise _at("total", f"events ({ev:g}) + nonevents ({ne:g}) = {ev + ne:g}, but "
                               f"total is {tot:g}")
        for part in ("events", "nonevents"):
            if v.get(part) is not None and tot is not None and v[part] > tot:
                raise _at(part, f"{v[part]:g} {part} exceed total {tot:g}")
            if v.get(part) is not None and v.get("n") is not None and v[part] > v["n"]:
                raise _at(part, f"{v[part]:g} {part} exceed n {v['n']:g}")
        lo, hi, mean = v.get("ci_low"), v.get("ci_high"), v.get("mean")
        if lo is not None and hi is not None and lo > hi:
            raise _at("ci_low", f"ci_low ({lo:g}) is above ci_high ({hi:g})")
        if mean is not None and lo is not None and mean < lo:
            raise _at("ci_low", f"the mean ({mean:g}) is below ci_low ({lo:g})")
        if mean is not None and hi is not None and mean > hi:
            raise _at("ci_high", f"the mean ({mean:g}) is above ci_high ({hi:g})")
        order = [k for k in ("min", "q1", "median", "q3", "max") if v.get(k) is not None]
        for a, b in zip(order, order[1:]):
            if v[a] > v[b]:
                raise _at(b, f"{b} ({v[b]:g}) is below {a} ({v[a]:g})")
        if mean is not None:
            if v.get("min") is not None and mean < v["min"]:
                raise _at("mean", f"the mean ({mean:g}) is below min ({v['min']:g})")
            if v.get("max") is not None and mean > v["max"]:
                raise _at("mean", f"the mean ({mean:g}) is above max ({v['max']:g})")
        return self

    def values(self) -> dict[str, Sourced]:
        """The statistics present (value not null), by name."""
        out = {}
        for name in STATISTICS:
            s = getattr(self, name)
            if s is not None and s.value is not None:
                out[name] = s
        return out

    def source_of(self, stat: str) -> str | None:
        s = getattr(self, stat)
        return (s.source if s is not None and s.source else None) or self.source


def _not_huge(x: float) -> None:
    if x > MAX_COUNT:
        raise ValueError(f"a count of {x:g} is not plausible (above {MAX_COUNT:g})")


class ReportedChange(_Model):
    """A direction of change a source reports, without numbers (e.g. Table 1's arrows)."""

    from_timepoint: str = Field(alias="from")
    to_timepoint: str | None = Field(
        None, alias="to", description="null when the source does not say when")
    direction: Literal["decrease", "increase", "no change"]
    significant: bool | None = None
    p: str | None = Field(None, description="p-value as printed, e.g. '<0.05'")
    source: str
    where: str | None = None
    note: str | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Outcome(_Model):
    id: Id
    name: str
    kind: Literal["pain", "function", "physiological", "performance", "biomechanical", "event",
                  "other"] = "other"
    primary: bool = False
    instrument: str | None = None
    scale: Scale | None = None
    source: str | None = None
    measurements: list[Measurement] = Field(default_factory=list)
    reported_changes: list[ReportedChange] = Field(default_factory=list)
    reported_effect_sizes: list[dict[str, Any]] = Field(
        default_factory=list,
        description="effect sizes as a source printed them (e.g. a range), kept as text")
    note: str | None = None

    @model_validator(mode="after")
    def _within_scale(self) -> "Outcome":
        """Means, medians, quartiles and ranges lie within the outcome's declared scale."""
        sc = self.scale
        if sc is None or (sc.min is None and sc.max is None):
            return self
        lo = sc.min if sc.min is not None else -math.inf
        hi = sc.max if sc.max is not None else math.inf
        shown = (f"[{'−∞' if sc.min is None else f'{sc.min:g}'}, "
                 f"{'∞' if sc.max is None else f'{sc.max:g}'}]{' ' + sc.unit if sc.unit else ''}")
        for mi, m in enumerate(self.measurements):
            for stat in ("mean", "median", "q1", "q3", "min", "max"):
                s = getattr(m, stat)
                if s is not None and s.value is not None and not lo <= s.value <= hi:
                    raise _at(f"measurements[{mi}].{stat}",
                              f"{s.value:g} is outside the declared scale {shown}")
        return self


class Sample(_Model):
    n: _SourcedField
    female: _SourcedField
    male: _SourcedField
    population: str | None = None
    age: str | None = Field(None, description="age as the source prints it")
    age_source: str | None = None
    inclusion_criteria: list[str] = Field(default_factory=list)
    source: str | None = None

    @field_validator("n", "female", "male", mode="before")
    @classmethod
    def _bare_numbers(cls, v: Any) -> Any:
        return _coerce_sourced(v)

    @field_validator("n")
    @classmethod
    def _positive(cls, v: Sourced | None) -> Sourced | None:
        if v is not None and v.value is not None and v.value <= 0:
            raise ValueError(f"must be > 0, got {v.value:g}")
        return v

    @field_validator("n", "female", "male")
    @classmethod
    def _whole(cls, v: Sourced | None) -> Sourced | None:
        if v is not None and v.value is not None:
            if v.value < 0 or v.value != int(v.value):
                raise ValueError(f"must be a whole number >= 0, got {v.value:g}")
            _not_huge(v.value)
        return v

    @model_validator(mode="after")
    def _parts(self) -> "Sample":
        n = self.n.value if self.n is not None else None
        f = self.female.value if self.female is not None else None
        m = self.male.value if self.male is not None else None
        if n is not None:
            for name, part in (("female", f), ("male", m)):
                if part is not None and part > n:
                    raise _at(name, f"{part:g} {name} participants exceed n {n:g}")
            if f is not None and m is not None and f + m > n:
                raise _at("male", f"female ({f:g}) + male ({m:g}) = {f + m:g} exceed n {n:g}")
        return self


class Intervention(_Model):
    strategies: list[str] = Field(default_factory=list, description="strategy ids")
    description: str | None = None
    feedback: str | None = None
    target: str | None = None
    weeks: _SourcedField
    sessions: _SourcedField
    comparator: str | None = None
    source: str | None = None

    @field_validator("weeks", "sessions", mode="before")
    @classmethod
    def _bare_numbers(cls, v: Any) -> Any:
        return _coerce_sourced(v)


class Inclusion(_Model):
    status: Literal["confirmed", "unconfirmed", "excluded"]
    reason: str | None = None
    source: str | None = None

    @model_validator(mode="after")
    def _reason_needed(self) -> "Inclusion":
        if self.status != "confirmed" and not self.reason:
            raise ValueError(f"status '{self.status}' needs a reason")
        return self


class Disagreement(_Model):
    """Two sources that disagree on one fact; the record uses the primary source's value."""

    field: str
    values: list[dict[str, Any]] = Field(min_length=2)
    resolution: str
    note: str | None = None


_ROB_DOMAINS = {"rob2": ROB2_DOMAINS, "robins-i": ROBINS_I_DOMAINS,
                "robins-i-v2": ROBINS_I_V2_DOMAINS}


class RiskOfBias(_Model):
    """One risk-of-bias assessment of a study, or of one of its outcomes (RoB 2 asks for one
    per outcome). Judgements are what the reviewer typed; the toolkit adds the algorithm's
    judgement beside them (never in place of them)."""

    tool: Literal["rob2", "robins-i", "robins-i-v2", "custom"]
    outcome: str | None = Field(None, description="outcome id; none: every outcome")
    effect: Literal["assignment", "adhering"] = Field(
        "assignment", description="RoB 2 domain 2: effect of assignment or of adhering")
    signalling: dict[str, Literal["Y", "PY", "PN", "N", "NI", "NA"]] = Field(
        default_factory=dict, description="signalling answers by question id ('1.1': Y)")
    domains: dict[str, str] = Field(default_factory=dict,
                                    description="the reviewer's judgement by domain (D1..)")
    overall: str | None = None
    override_reason: str | None = Field(
        None, description="why the overall judgement departs from the tool's rule")
    support: dict[str, str] = Field(default_factory=dict,
                                    description="the reviewer's support by domain or overall")
    domain_names: dict[str, str] = Field(default_factory=dict,
                                         description="a custom scale's domain names")
    assessor: str | None = None
    source: str = Field(description="where the assessment is reported (a source key)")
    where: str | None = None

    @field_validator("signalling", mode="before")
    @classmethod
    def _answers(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {str(k): (str(x).upper() if isinstance(x, str) else x)
                    for k, x in v.items()}
        return v

    @model_validator(mode="after")
    def _labels(self) -> "RiskOfBias":
        if self.tool == "custom":
            return self
        scale = JUDGEMENTS[self.tool]
        ids = [f"D{i + 1}" for i in range(len(_ROB_DOMAINS[self.tool]))]
        for d, j in self.domains.items():
            if d not in ids:
                raise _at(f"domains.{d}", f"unknown domain of {self.tool}; use {', '.join(ids)}")
            if j.strip().lower() not in scale:
                raise _at(f"domains.{d}", f"{j!r} is not one of {', '.join(scale)}")
        if self.overall is not None and self.overall.strip().lower() not in scale:
            raise _at("overall", f"{self.overall!r} is not one of {', '.join(scale)}")
        if self.signalling and self.tool != "rob2":
            raise _at("signalling", "signalling answers are read for RoB 2 only")
        for q in self.signalling:
            if not re.fullmatch(r"[1-5]\.[1-9]", q):
                raise _at(f"signalling.{q}", "question ids are like '1.1' .. '5.3'")
        return self


class ClinicalStudy(_Model):
    type: Literal["clinical"]
    id: Id
    label: str = Field(description="short label, e.g. 'Noehren 2011'")
    label_in_review: str | None = None
    citation: Citation
    inclusion: Inclusion
    design: str
    design_source: str | None = None
    injury: str
    sample: Sample
    arms: list[Id] = Field(default_factory=lambda: ["all"], min_length=1)
    intervention: Intervention
    timepoints: list[Timepoint] = Field(default_factory=list)
    followup: str | None = None
    outcomes: list[Outcome] = Field(default_factory=list)
    characteristics: dict[str, Characteristic] = Field(
        default_factory=dict, description="study-level moderators (latitude, allocation ...)")
    characteristic_labels: dict[str, str] = Field(default_factory=dict)
    disagreements: list[Disagreement] = Field(default_factory=list)
    risk_of_bias: list[RiskOfBias] = Field(
        default_factory=list, description="risk-of-bias assessments (none: not assessed)")
    notes: list[str] = Field(default_factory=list)

    @field_validator("characteristics", mode="before")
    @classmethod
    def _coerce_characteristics(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {k: ({"value": x} if isinstance(x, (int, float, str)) else x)
                    for k, x in v.items()}
        return v


# ---------------------------------------------------------------------------- experts


class ExpertStrategy(_Model):
    strategy: str
    clinical_support_marked: bool | None = Field(
        None, description="marked in the review's table as backed by clinical studies")
    note: str | None = None
    source: str


class ExpertTheme(_Model):
    summary: str = Field(description="paraphrase, never a quote")
    experts: list[int] = Field(default_factory=list, description="expert id numbers")
    source: str


class ExpertOpinion(_Model):
    type: Literal["expert"]
    id: Id
    injury: str
    stance: Literal["strongly advocated", "recommended", "poor agreement", "not recommended",
                    "not reported"]
    stance_source: str
    table: str | None = None
    strategies: list[ExpertStrategy] = Field(default_factory=list)
    themes: list[ExpertTheme] = Field(default_factory=list)
    rationale: list[str] = Field(default_factory=list,
                                 description="ids of biomechanical statements cited")
    n_experts: Count | None = None
    missing: list[str] = Field(default_factory=list,
                               description="what could not be read for this entry")
    notes: list[str] = Field(default_factory=list)


# ---------------------------------------------------------------------------- biomechanics


class BiomechanicalStatement(_Model):
    id: Id
    strategy: str
    effect: str
    direction: Literal["decrease", "increase", "no change", "mixed"] | None = None
    level: Literal["strong", "moderate", "limited", "very limited", "conflicting"]
    population: str | None = None
    review_refs: list[int] = Field(default_factory=list)
    source: str
    where: str | None = None


class BiomechanicalEvidence(_Model):
    type: Literal["biomechanics"]
    id: Id
    statements: list[BiomechanicalStatement] = Field(min_length=1)
    missing: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


Record = Annotated[Union[ClinicalStudy, ExpertOpinion, BiomechanicalEvidence],
                   Field(discriminator="type")]
