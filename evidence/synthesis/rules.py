"""Levels-of-evidence rules: an ordered, explicit, configurable rules file.

A review directory may hold a rules file (``rules.yaml``; the bundled review keeps it as
``_rules.yaml`` so that the record loader, which reads every other YAML file as a record, skips
it). It lists design categories (how a study's design text is classified), the outcome kinds that
count as clinical evidence, which inclusion statuses count, and the ordered rules. Each rule has
an ``id``, a ``label`` (strong / moderate / limited / very limited / conflicting / none),
conditions (``when``) on the features of one injury × strategy cell and an ``explanation``
template. The first rule whose conditions all hold gives the cell its level.

Conditions name a feature and give a value (``n_studies: 0``), a range
(``n_rct: {min: 2}``), a boolean (``pooled: true``) or one or more allowed categories
(``consistency: consistent``, ``direction: [improvement, "no change"]``). Explanations are
Python format strings over the features (``"{n_studies} confirmed {design_summary}"``).

Only :func:`load_rules` reads a file; :func:`parse_rules` validates a mapping.
"""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Any, Literal, Union

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, \
    StrictStr, ValidationError, model_validator

from ..errors import ArgumentError, RecordError
from ..records.safeyaml import read_yaml_file

__all__ = [
    "LEVELS", "RULES_FILES", "DEFAULT_SUPPORT_STANCES", "Between", "DesignCategory", "Rule", "LevelRules",
    "load_rules", "parse_rules", "features_available", "apply_rules", "classify_designs",
]

LEVELS = ("strong", "moderate", "limited", "very limited", "conflicting", "none")
"""The labels a rule may give."""

RULES_FILES = ("rules.yaml",)
"""File names looked for, in this order, when :func:`load_rules` is given a directory."""

Label = Literal["strong", "moderate", "limited", "very limited", "conflicting", "none"]
Stance = Literal["strongly advocated", "recommended", "poor agreement", "not recommended",
                 "not reported"]
DEFAULT_SUPPORT_STANCES = ("strongly advocated", "recommended")
"""Expert stances that count as support when a rules file does not say
(``expert_support_stances``): poor agreement or a recommendation against is not support."""

# feature -> kind ("count", "number", "bool", or a tuple of allowed categories)
_BASE_FEATURES: dict[str, Any] = {
    "n_studies": "count", "n_comparative": "count", "n_uncontrolled": "count",
    "n_with_direction": "count", "n_improved": "count", "n_worsened": "count",
    "n_no_change": "count", "n_mixed": "count", "n_significant": "count",
    "n_not_counted": "count", "total_n": "number",
    "pooled": "bool", "pooled_significant": "bool", "pooled_k": "count",
    "pooled_estimate": "number", "pooled_ci_low": "number", "pooled_ci_high": "number",
    "pooled_i2": "number", "pooled_pvalue": "number",
    "consistency": ("consistent", "conflicting", "unknown", "none"),
    "direction": ("improvement", "worsening", "no change", "conflicting", "unknown", "none"),
    "population": ("female", "male", "mixed", "unknown", "none"),
    "scope": ("strategy", "injury"),
}
_TEXT_FEATURES = ("injury", "injury_name", "strategy", "strategy_name", "studies",
                  "design_summary", "direction_summary", "pooled_summary", "outcome_kinds",
                  "counted", "not_counted_studies", "not_counted_note")


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Between(_M):
    """An inclusive range; either end may be left open."""

    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _one_end(self) -> "Between":
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min:g}) is above max ({self.max:g})")
        return self


Condition = Union[StrictBool, StrictInt, StrictFloat, StrictStr, list[StrictStr], Between]


class DesignCategory(_M):
    id: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    label: str = Field(description="singular, e.g. 'case series'")
    plural: str | None = Field(None, description="plural, e.g. 'case series'")
    patterns: list[str] = Field(min_length=1,
                                description="regular expressions searched in the design text "
                                            "(case-insensitive)")
    comparative: bool = Field(description="has a comparison group (RCT, controlled study)")

    @model_validator(mode="after")
    def _regex(self) -> "DesignCategory":
        for p in self.patterns:
            try:
                re.compile(p)
            except re.error as exc:
                raise ValueError(f"pattern {p!r} is not a valid regular expression: {exc}")
        return self

    @property
    def feature(self) -> str:
        return "n_" + self.id.replace("-", "_")


class Rule(_M):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    label: Label
    when: dict[str, Condition] = Field(default_factory=dict)
    explanation: str
    note: str | None = None


class LevelRules(_M):
    """A validated rules file (see the module docstring)."""

    version: Literal[1] = 1
    name: str
    description: str | None = None
    notes: list[str] = Field(default_factory=list)
    outcome_kinds: list[str] = Field(default_factory=lambda: ["pain"], min_length=1)
    count_inclusion: list[Literal["confirmed", "unconfirmed", "excluded"]] = Field(
        default_factory=lambda: ["confirmed"], min_length=1)
    sensitivity_inclusion: list[Literal["confirmed", "unconfirmed", "excluded"]] = Field(
        default_factory=lambda: ["confirmed", "unconfirmed"], min_length=1)
    other_design: DesignCategory = DesignCategory(
        id="other", label="study of another design", plural="studies of other designs",
        patterns=[".*"], comparative=False)
    designs: list[DesignCategory] = Field(min_length=1)
    rules: list[Rule] = Field(min_length=1)
    statements: dict[str, str] = Field(default_factory=dict)
    level_rank: dict[Label, int] = Field(default_factory=dict)
    expert_support_rank: dict[Stance, int] = Field(default_factory=dict)
    expert_support_stances: list[Stance] = Field(
        default_factory=lambda: list(DEFAULT_SUPPORT_STANCES),
        description="the expert stances that count as support for a strategy; only these can "
                    "put the experts ahead of the clinical evidence")
    path: str | None = Field(None, description="the file it was read from (set by load_rules)")

    def feature_kinds(self) -> dict[str, Any]:
        out = dict(_BASE_FEATURES)
        for d in (*self.designs, self.other_design):
            out[d.feature] = "count"
        return out

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise ArgumentError(f"rule {rule_id!r} is not one of {', '.join(r.id for r in self.rules)}")


def features_available(rules: LevelRules | None = None) -> dict[str, Any]:
    """Features a condition may test (name -> kind), and those only templates may use."""
    kinds = dict(_BASE_FEATURES) if rules is None else rules.feature_kinds()
    return {**kinds, **{t: "text" for t in _TEXT_FEATURES}}


def _fmt_loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and (part.startswith("function-") or part in (
                "bool", "int", "float", "str", "list[str]", "Between")):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _template_fields(tpl: str) -> list[str]:
    names = []
    for _, name, _, _ in string.Formatter().parse(tpl):
        if name:
            names.append(re.split(r"[.\[]", name)[0])
    return names


def _semantic_problems(r: LevelRules) -> list[str]:
    probs: list[str] = []
    kinds = r.feature_kinds()
    all_fields = set(features_available(r)) | {"level", "Level", "rule_id", "explanation",
                                               "expert_stance", "biomechanical_support",
                                               "strategy_phrase", "injury_phrase",
                                               "direction_phrase", "population_phrase"}
    seen: set[str] = set()
    for i, d in enumerate(r.designs):
        if d.id in seen or d.id == r.other_design.id:
            probs.append(f"designs[{i}].id: duplicate design id '{d.id}'")
        seen.add(d.id)
    seen = set()
    for i, rule in enumerate(r.rules):
        where = f"rules[{i}]"
        if rule.id in seen:
            probs.append(f"{where}.id: duplicate rule id '{rule.id}'")
        seen.add(rule.id)
        for feat, cond in rule.when.items():
            kind = kinds.get(feat)
            fw = f"{where}.when.{feat}"
            if kind is None:
                probs.append(f"{fw}: unknown feature '{feat}'; known: {', '.join(sorted(kinds))}")
            elif kind == "bool":
                if not isinstance(cond, bool):
                    probs.append(f"{fw}: must be true or false, got {cond!r}")
            elif kind in ("count", "number"):
                if isinstance(cond, (bool, str, list)):
                    probs.append(f"{fw}: must be a number or {{min, max}}, got {cond!r}")
            else:
                vals = [cond] if isinstance(cond, str) else cond
                if not isinstance(vals, list):
                    probs.append(f"{fw}: must be one of {', '.join(kind)} (or a list of them), "
                                 f"got {cond!r}")
                else:
                    for v in vals:
                        if v not in kind:
                            probs.append(f"{fw}: {v!r} is not one of {', '.join(kind)}")
        try:
            names = _template_fields(rule.explanation)
        except ValueError as exc:
            probs.append(f"{where}.explanation: not a valid template: {exc}")
            names = []
        for n in names:
            if n not in all_fields:
                probs.append(f"{where}.explanation: unknown field '{{{n}}}'; known: "
                             f"{', '.join(sorted(all_fields))}")
    for key, tpl in r.statements.items():
        base = key.removeprefix("injury_")
        if key != "default" and base not in LEVELS and base != "default":
            probs.append(f"statements.{key}: not a level ({', '.join(LEVELS)}), 'default' or "
                         "'injury_<level>'")
        try:
            names = _template_fields(tpl)
        except ValueError as exc:
            probs.append(f"statements.{key}: not a valid template: {exc}")
            continue
        for n in names:
            if n not in all_fields:
                probs.append(f"statements.{key}: unknown field '{{{n}}}'")
    for lab in LEVELS:
        if r.level_rank and lab not in r.level_rank:
            probs.append(f"level_rank: no rank for level '{lab}'")
    for st in r.expert_support_stances:
        if st == "not reported":
            probs.append("expert_support_stances: 'not reported' cannot count as support")
        elif r.expert_support_rank and st not in r.expert_support_rank:
            probs.append(f"expert_support_stances: '{st}' has no rank in expert_support_rank")
    return probs


def parse_rules(data: Any, label: str = "rules") -> LevelRules:
    """Validate a rules mapping (as read from YAML). Pure.

    Raises
    ------
    RecordError
        Listing every problem, each naming ``label`` and the field, e.g.
        ``studies/_rules.yaml: rules[2].when.n_rtc: unknown feature 'n_rtc'; known: ...``.
    """
    if not isinstance(data, dict):
        raise RecordError(f"{label}: expected a mapping at the top level, got "
                          f"{type(data).__name__}")
    try:
        rules = LevelRules.model_validate(data)
    except ValidationError as exc:
        probs = []
        for e in exc.errors():
            msg = e["msg"].removeprefix("Value error, ")
            if e["type"] == "extra_forbidden":
                msg = "unknown field"
            elif e["type"] == "missing":
                msg = "required field is missing"
            elif e["type"] == "literal_error":
                msg = f"{msg}, got {e.get('input')!r}"
            probs.append(f"{label}: {_fmt_loc(tuple(e['loc']))}: {msg}")
        raise RecordError(sorted(set(probs), key=probs.index)) from None
    probs = _semantic_problems(rules)
    if probs:
        raise RecordError([f"{label}: {p}" for p in probs])
    return rules


def load_rules(path: str | Path) -> LevelRules:
    """Read and validate a rules file (or the rules file of a review directory).

    Parameters
    ----------
    path
        a YAML file, or a review directory holding ``rules.yaml`` or ``_rules.yaml``.

    Raises
    ------
    RecordError
        File missing, not valid YAML, or invalid (every problem, naming file and field).

    Examples
    --------
    >>> rules = load_rules("studies")                # doctest: +SKIP
    >>> [r.id for r in rules.rules][:2]              # doctest: +SKIP
    """
    p = Path(path)
    if p.is_dir():
        found = [p / f for f in RULES_FILES if (p / f).is_file()]
        if not found:
            raise RecordError(f"{p}: no rules file ({' or '.join(RULES_FILES)}) in this "
                              "directory")
        p = found[0]
    if not p.is_file():
        raise RecordError(f"{p}: no such rules file")
    data = read_yaml_file(p)  # the records' bounded reader: no aliases, tags or 1.1 forms
    rules = parse_rules(data, str(p))
    return rules.model_copy(update={"path": str(p)})


# ------------------------------------------------------------------------ applying rules


def classify_designs(designs: pd.Series, rules: LevelRules) -> pd.DataFrame:
    """Design category of each design text: columns ``design_category``, ``comparative``.

    The first category (in file order) with a pattern found in the text wins; a text matching
    none is ``rules.other_design``.
    """
    text = designs.fillna("").astype(str)
    cat = pd.Series(rules.other_design.id, index=designs.index, dtype=object)
    comp = pd.Series(rules.other_design.comparative, index=designs.index, dtype=bool)
    done = pd.Series(False, index=designs.index)
    for d in rules.designs:  # a handful of categories
        hit = ~done & text.str.contains("|".join(f"(?:{p})" for p in d.patterns), case=False,
                                        regex=True)
        cat[hit] = d.id
        comp[hit] = d.comparative
        done |= hit
    return pd.DataFrame({"design_category": cat, "comparative": comp})


def _condition_mask(values: pd.Series, cond: Condition, kind: Any) -> np.ndarray:
    if kind == "bool":
        return (values.astype(object) == cond).to_numpy(dtype=bool)
    if kind in ("count", "number"):
        v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            if isinstance(cond, Between):
                m = np.isfinite(v)
                if cond.min is not None:
                    m &= v >= cond.min
                if cond.max is not None:
                    m &= v <= cond.max
                return m
            return v == float(cond)
    allowed = [cond] if isinstance(cond, str) else list(cond)
    return values.isin(allowed).to_numpy(dtype=bool)


class _SafeDict(dict):
    def __missing__(self, key):  # pragma: no cover - templates are checked at load time
        return "{" + key + "}"


def _fmt_value(v: Any) -> Any:
    if isinstance(v, float):
        if np.isnan(v):
            return "n/a"
        if v == int(v):
            return int(v)
        return round(v, 2)
    return v


def render(template: str, row: dict) -> str:
    """Fill a rule or statement template from one row of features."""
    return template.format_map(_SafeDict({k: _fmt_value(v) for k, v in row.items()}))


def apply_rules(features: pd.DataFrame, rules: LevelRules) -> pd.DataFrame:
    """The first matching rule for every row of ``features``.

    Returns a frame (same index) with ``level``, ``rule_id`` and ``explanation``; rows no rule
    matches get level ``None``, rule_id ``None`` and an explanation saying so.
    """
    kinds = rules.feature_kinds()
    missing = [f for r in rules.rules for f in r.when if f not in features.columns]
    if missing:
        raise ArgumentError(f"features lack column(s) {', '.join(sorted(set(missing)))}")
    n = len(features)
    masks = np.ones((len(rules.rules), n), dtype=bool)
    for i, rule in enumerate(rules.rules):  # a handful of rules, each vectorised over cells
        for feat, cond in rule.when.items():
            masks[i] &= _condition_mask(features[feat], cond, kinds[feat])
    any_hit = masks.any(axis=0)
    first = np.argmax(masks, axis=0)
    ids = np.array([r.id for r in rules.rules], dtype=object)
    labels = np.array([r.label for r in rules.rules], dtype=object)
    out = pd.DataFrame(index=features.index)
    out["level"] = pd.Series(np.where(any_hit, labels[first], None), index=features.index,
                             dtype=object)
    out["rule_id"] = pd.Series(np.where(any_hit, ids[first], None), index=features.index,
                               dtype=object)
    recs = features.to_dict("records")
    expl = []
    for hit, j, row in zip(any_hit, first, recs):
        if hit:
            expl.append(render(rules.rules[j].explanation, row))
        else:
            expl.append("no rule matched (rules: "
                        + ", ".join(r.id for r in rules.rules) + ")")
    out["explanation"] = expl
    return out
