"""Load and validate a review directory: ``review.yaml`` plus one YAML file per record.

Every problem in the directory is collected and raised at once as one
:class:`~evidence.errors.RecordError`, each message naming the file, the record id and the
field, e.g. ``studies/clinical/willy-2012.yaml: willy-2012: outcomes[0].measurements[1].sd:
must be > 0, got -1.2``. YAML is read by :mod:`evidence.records.safeyaml` (no aliases, tags or duplicate keys;
YAML 1.2 core scalars; size, depth and length limits).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from pydantic import TypeAdapter, ValidationError

from ..errors import RecordError
from ..vocabulary import MEASURES, METHODS, TABLE_METHODS, TESTS, TRANSFORMS
from .safeyaml import YamlError, read_yaml_file
from .schema import (
    BiomechanicalEvidence,
    ClinicalStudy,
    ExpertOpinion,
    Record,
    Review,
    Sourced,
)

__all__ = ["RecordSet", "load_records", "REVIEW_FILE", "RULES_FILE"]

REVIEW_FILE = "review.yaml"
RULES_FILE = "rules.yaml"  # levels-of-evidence rules (evidence.synthesis), not a record
_RECORD_ADAPTER: TypeAdapter = TypeAdapter(Record)
_UNREADABLE = object()  # a file whose problem is already listed
_RECORD_TYPES = ("clinical", "expert", "biomechanics")


@dataclass(frozen=True)
class RecordSet:
    """A validated review: its ``review.yaml`` and its records, with the files they came from.

    ``rules`` is the content of the review's ``rules.yaml`` (levels-of-evidence rules) as
    read with the safe loader, or None when the review has none; the rules are validated by
    :func:`evidence.synthesis.parse_rules`, which knows their vocabulary.
    :func:`evidence.load_review` returns the subclass :class:`evidence.model.LoadedReview`,
    which adds ``frames()``.
    """

    path: Path
    review: Review
    studies: tuple[ClinicalStudy, ...]
    experts: tuple[ExpertOpinion, ...]
    biomechanics: tuple[BiomechanicalEvidence, ...]
    files: dict[str, str] = field(default_factory=dict)  # record id -> file path (relative)
    rules: Any = None
    rules_file: str | None = None

    @property
    def id(self) -> str:
        return self.review.id

    def source_kind(self, key: str | None) -> str | None:
        for s in self.review.sources:
            if s.key == key:
                return s.kind
        return None


def _fmt_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _pydantic_problems(prefix: str, err: ValidationError, drop_first: bool) -> list[str]:
    problems = []
    for e in err.errors():
        loc = tuple(e["loc"])
        if drop_first and loc:
            loc = loc[1:]  # the discriminator tag pydantic puts first
        # drop pydantic's internal tags for function validators
        loc = tuple(p for p in loc if not (isinstance(p, str) and (
            p.startswith("function-") or "[" in p or p in ("constrained-str", "str", "float",
                                                             "int", "list", "dict"))))
        msg = e["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        if msg.startswith("@") and ": " in msg:  # a model rule that names its field
            sub, msg = msg[1:].split(": ", 1)
            loc = (*loc, sub)
        got = e.get("input")
        if e["type"] == "extra_forbidden":
            msg = "unknown field (not part of the record format)"
        elif e["type"] == "missing":
            msg = "required field is missing"
        elif got is None and (e["type"].endswith("_type") or e["type"] == "literal_error"):
            msg = f"a value is required, got null ({msg[0].lower() + msg[1:]})"
        elif e["type"] in ("literal_error", "string_pattern_mismatch", "finite_number",
                           "string_too_long", "less_than_equal", "greater_than_equal") or \
                e["type"].endswith("_parsing") or e["type"].endswith("_type"):
            msg = f"{msg}, got {_short(got)}"
        line = f"{prefix}: {_fmt_loc(loc)}: {msg}"
        if line not in problems:  # union branches repeat the same complaint
            problems.append(line)
    return problems


def _short(v: Any, limit: int = 60) -> str:
    text = repr(v)
    return text if len(text) <= limit else text[:limit] + "..."


def _rid(data: dict) -> str:
    """The record id to name in messages (the id field may itself be wrong)."""
    rid = data.get("id")
    if rid is None:
        return "(no id)"
    if isinstance(rid, str) and 0 < len(rid) <= 80 and rid.isprintable():
        return rid
    return f"(id {_short(rid, 40)})"


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root.parent))
    except ValueError:
        return str(path)


def _record_files(root: Path, problems: list[str] | None = None) -> list[Path]:
    """YAML files below ``root``, skipping nested reviews (folders with their own review.yaml).

    Symbolic links are followed only when they stay inside the review directory; a link that
    leads out of it, a dangling link and anything that is not a regular file (a FIFO, a
    device) are reported in ``problems`` and never opened. Files whose name starts with ``_``
    are skipped.
    """
    files: list[Path] = []
    real_root = root.resolve()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        d = Path(dirpath)
        keep = []
        for name in sorted(dirnames):
            sub = d / name
            if sub.is_symlink():
                if problems is not None:
                    problems.append(f"{_rel(sub, root)}: a symbolic link to a folder; records "
                                    "must be regular files inside the review directory")
                continue
            if (sub / REVIEW_FILE).exists():
                continue  # a nested review: loaded on its own
            keep.append(name)
        dirnames[:] = keep
        for name in sorted(filenames):
            p = d / name
            if p.suffix.lower() not in (".yaml", ".yml") or name.startswith("_"):
                continue
            if d == root and name in (REVIEW_FILE, RULES_FILE):
                continue
            problem = _unsafe_file(p, real_root)
            if problem:
                if problems is not None:
                    problems.append(f"{_rel(p, root)}: {problem}")
                continue
            files.append(p)
    return sorted(files)


def _unsafe_file(p: Path, real_root: Path) -> str | None:
    """Why ``p`` must not be opened as a YAML file of the review, or None."""
    if p.is_symlink():
        try:
            target = p.resolve(strict=True)
        except (OSError, RuntimeError):
            return "a symbolic link that leads nowhere"
        if not target.is_relative_to(real_root):
            return ("a symbolic link out of the review directory; records must be files "
                    "inside it")
    try:
        mode = p.stat().st_mode
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}"
    if not stat.S_ISREG(mode):
        return "not a regular file"
    return None


def _read_yaml(path: Path, label: str, problems: list[str]) -> Any:
    """The file's content (:func:`~evidence.records.safeyaml.read_yaml_file`), or
    ``_UNREADABLE`` with its problem appended. An empty file gives None."""
    try:
        return read_yaml_file(path, label)
    except YamlError as exc:
        problems.extend(exc.problems)
        return _UNREADABLE


def _walk_sources(obj: Any, path: str) -> Iterator[tuple[str, str]]:
    """Yield (field path, source key) for every source reference in a dumped record."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            p = f"{path}.{k}" if path else str(k)
            if (k == "source" or k.endswith("_source")) and isinstance(v, str):
                yield p, v
            else:
                yield from _walk_sources(v, p)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _walk_sources(v, f"{path}[{i}]")


def _unsourced_numbers(holder: Any, path: str, default: str | None,
                       names: tuple[str, ...]) -> Iterator[str]:
    for name in names:
        s = getattr(holder, name, None)
        if isinstance(s, Sourced) and s.value is not None and not (s.source or default):
            yield (f"{path}{name}: the number {s.value:g} has no source "
                   "(give 'source' here or on the enclosing entry)")


def _check_study(st: ClinicalStudy, review: Review, prefix: str) -> list[str]:
    probs: list[str] = []
    injuries = {i.id for i in review.injuries}
    strategies = {s.id for s in review.strategies}
    if st.injury not in injuries:
        probs.append(f"{prefix}: injury: unknown injury '{st.injury}'; known: "
                     f"{', '.join(sorted(injuries))}")
    for i, s in enumerate(st.intervention.strategies):
        if s not in strategies:
            probs.append(f"{prefix}: intervention.strategies[{i}]: unknown strategy '{s}'; "
                         f"known: {', '.join(sorted(strategies)) or '(none declared)'}")
    probs += _unsourced_numbers(st.sample, f"{prefix}: sample.", st.sample.source,
                                ("n", "female", "male"))
    probs += _unsourced_numbers(st.intervention, f"{prefix}: intervention.",
                                st.intervention.source, ("weeks", "sessions"))
    for name, s in st.characteristics.items():
        if s is not None and s.value is not None and not s.source:
            probs.append(f"{prefix}: characteristics.{name}: the value {s.value!r} has no source")
    for dup in sorted({a for a in st.arms if st.arms.count(a) > 1}):
        probs.append(f"{prefix}: arms: duplicate arm '{dup}'")
    tps = {t.id for t in st.timepoints}
    seen_tp: set[str] = set()
    for t in st.timepoints:
        if t.id in seen_tp:
            probs.append(f"{prefix}: timepoints: duplicate timepoint id '{t.id}'")
        seen_tp.add(t.id)
    seen_out: set[str] = set()
    from .schema import STATISTICS

    for oi, out in enumerate(st.outcomes):
        op = f"outcomes[{oi}]"
        if out.id in seen_out:
            probs.append(f"{prefix}: {op}.id: duplicate outcome id '{out.id}'")
        seen_out.add(out.id)
        cells: set[tuple[str, str]] = set()
        for mi, m in enumerate(out.measurements):
            mp = f"{op}.measurements[{mi}]"
            if m.timepoint not in tps:
                probs.append(f"{prefix}: {mp}.timepoint: unknown timepoint '{m.timepoint}'; "
                             f"declared: {', '.join(sorted(tps)) or '(none)'}")
            if m.arm not in st.arms:
                probs.append(f"{prefix}: {mp}.arm: unknown arm '{m.arm}'; declared: "
                             f"{', '.join(st.arms)}")
            if (m.timepoint, m.arm) in cells:
                probs.append(f"{prefix}: {mp}: a second measurement for timepoint "
                             f"'{m.timepoint}', arm '{m.arm}'")
            cells.add((m.timepoint, m.arm))
            for line in _unsourced_numbers(m, f"{mp}.", m.source, STATISTICS):
                probs.append(f"{prefix}: {line}")
        for ci, ch in enumerate(out.reported_changes):
            for which, tp in (("from", ch.from_timepoint), ("to", ch.to_timepoint)):
                if tp is not None and tp not in tps:
                    probs.append(f"{prefix}: {op}.reported_changes[{ci}].{which}: unknown "
                                 f"timepoint '{tp}'")
    scopes: set[str | None] = set()
    for ri, rob in enumerate(st.risk_of_bias):
        rp = f"{prefix}: risk_of_bias[{ri}]"
        if rob.outcome is not None and rob.outcome not in seen_out:
            probs.append(f"{rp}.outcome: unknown outcome '{rob.outcome}'; outcomes: "
                         f"{', '.join(sorted(seen_out)) or '(none)'}")
        if rob.outcome in scopes:
            probs.append(f"{rp}: a second assessment of "
                         + (f"outcome '{rob.outcome}'" if rob.outcome else "the whole study"))
        scopes.add(rob.outcome)
        if rob.overall is None and not rob.domains and not rob.signalling:
            probs.append(f"{rp}: an assessment needs signalling answers, domain judgements or "
                         "an overall judgement (leave the block out when not assessed)")
    return probs


def load_records(path: str | Path) -> RecordSet:
    """Read and validate a review directory.

    Parameters
    ----------
    path : directory holding ``review.yaml`` and the record files (any depth; folders with
        their own ``review.yaml`` are separate reviews and are skipped).

    Raises
    ------
    RecordError
        listing every problem found, each naming file, record id and field.

    Examples
    --------
    >>> records = load_records("studies")            # doctest: +SKIP
    >>> len(records.studies)                          # doctest: +SKIP
    6
    """
    root = Path(path)
    if not root.exists():
        raise RecordError(f"{root}: no such directory")
    if root.is_file():
        raise RecordError(f"{root}: expected a review directory holding {REVIEW_FILE}, got a file")
    review_path = root / REVIEW_FILE
    if not review_path.exists():
        nested = sorted(str(p.parent) for p in root.glob(f"*/{REVIEW_FILE}"))
        hint = f"; reviews found below it: {', '.join(nested)}" if nested else ""
        raise RecordError(f"{root}: no {REVIEW_FILE} in this directory{hint}")

    problems: list[str] = []
    review_label = _rel(review_path, root)
    real_root = root.resolve()
    unsafe = _unsafe_file(review_path, real_root)
    raw = None
    if unsafe:
        problems.append(f"{review_label}: {unsafe}")
    else:
        raw = _read_yaml(review_path, review_label, problems)
        if raw is None:
            problems.append(f"{review_label}: the file is empty; it must describe the review "
                            "(id, title, citation, question, injuries, sources)")
    review: Review | None = None
    if raw is not None and raw is not _UNREADABLE:
        if not isinstance(raw, dict):
            problems.append(f"{review_label}: expected a mapping at the top level, "
                            f"got {type(raw).__name__}")
        else:
            try:
                review = Review.model_validate(raw)
            except ValidationError as exc:
                problems += _pydantic_problems(f"{review_label}: {_rid(raw)}", exc,
                                               drop_first=False)

    records: list[tuple[str, Any]] = []
    for f in _record_files(root, problems):
        label = _rel(f, root)
        data = _read_yaml(f, label, problems)
        if data is _UNREADABLE:
            continue
        if data is None:
            problems.append(f"{label}: the file is empty")
            continue
        if not isinstance(data, dict):
            problems.append(f"{label}: expected one record (a mapping) at the top level, "
                            f"got {type(data).__name__}")
            continue
        rid = _rid(data)
        rtype = data.get("type")
        if rtype not in _RECORD_TYPES:
            problems.append(f"{label}: {rid}: type: must be one of "
                            f"{', '.join(_RECORD_TYPES)}, got {_short(rtype)}")
            continue
        try:
            rec = _RECORD_ADAPTER.validate_python(data)
        except ValidationError as exc:
            problems += _pydantic_problems(f"{label}: {rid}", exc, drop_first=True)
            continue
        records.append((label, rec))

    rules, rules_file = None, None
    rules_path = root / RULES_FILE
    if rules_path.exists() or rules_path.is_symlink():
        rules_file = _rel(rules_path, root)
        unsafe = _unsafe_file(rules_path, real_root)
        if unsafe:
            problems.append(f"{rules_file}: {unsafe}")
        else:
            rules = _read_yaml(rules_path, rules_file, problems)
            if rules is None:
                problems.append(f"{rules_file}: the file is empty; delete it (the rules file is "
                                "optional) or give the levels-of-evidence rules")
            elif rules is _UNREADABLE:
                rules = None

    if review is not None:
        problems += _cross_check(review, review_label, records)
    if problems:
        raise RecordError(problems)
    if review is None:  # pragma: no cover - every path without a review adds a problem
        raise RecordError(f"{review_label}: no review could be read")
    studies = tuple(r for _, r in records if isinstance(r, ClinicalStudy))
    experts = tuple(r for _, r in records if isinstance(r, ExpertOpinion))
    biomech = tuple(r for _, r in records if isinstance(r, BiomechanicalEvidence))
    return RecordSet(path=root, review=review, studies=studies, experts=experts,
                     biomechanics=biomech, files={r.id: label for label, r in records},
                     rules=rules, rules_file=rules_file)


def _cross_check(review: Review, review_label: str, records: list[tuple[str, Any]]) -> list[str]:
    probs: list[str] = []
    keys = [s.key for s in review.sources]
    known = set(keys)
    for dup in sorted({k for k in keys if keys.count(k) > 1}):
        probs.append(f"{review_label}: {review.id}: sources: duplicate source key '{dup}'")
    for vocab in ("injuries", "strategies"):
        ids = [x.id for x in getattr(review, vocab)]
        for dup in sorted({i for i in ids if ids.count(i) > 1}):
            probs.append(f"{review_label}: {review.id}: {vocab}: duplicate id '{dup}'")
    for fpath, key in _walk_sources(review.model_dump(by_alias=True), ""):
        if fpath.startswith("sources["):
            continue
        if key not in known:
            probs.append(f"{review_label}: {review.id}: {fpath}: unknown source key '{key}'")

    seen: dict[str, str] = {}
    statement_ids: set[str] = set()
    injuries = {i.id for i in review.injuries}
    strategies = {s.id for s in review.strategies}
    for label, rec in records:
        prefix = f"{label}: {rec.id}"
        if rec.id in seen:
            probs.append(f"{prefix}: id: duplicate record id '{rec.id}' (also in {seen[rec.id]})")
        else:
            seen[rec.id] = label
        for fpath, key in _walk_sources(rec.model_dump(by_alias=True), ""):
            if key not in known:
                probs.append(f"{prefix}: {fpath}: unknown source key '{key}'; known: "
                             f"{', '.join(sorted(known))}")
        if isinstance(rec, ClinicalStudy):
            probs += _check_study(rec, review, prefix)
        elif isinstance(rec, BiomechanicalEvidence):
            for i, s in enumerate(rec.statements):
                if s.id in statement_ids:
                    probs.append(f"{prefix}: statements[{i}].id: duplicate statement id '{s.id}'")
                statement_ids.add(s.id)
                if s.strategy not in strategies:
                    probs.append(f"{prefix}: statements[{i}].strategy: unknown strategy "
                                 f"'{s.strategy}'")
    expert_injuries: dict[str, str] = {}
    for label, rec in records:
        if not isinstance(rec, ExpertOpinion):
            continue
        prefix = f"{label}: {rec.id}"
        if rec.injury not in injuries:
            probs.append(f"{prefix}: injury: unknown injury '{rec.injury}'; known: "
                         f"{', '.join(sorted(injuries))}")
        if rec.injury in expert_injuries:
            probs.append(f"{prefix}: injury: a second expert-opinion entry for '{rec.injury}' "
                         f"(also {expert_injuries[rec.injury]})")
        expert_injuries[rec.injury] = label
        for i, s in enumerate(rec.strategies):
            if s.strategy not in strategies:
                probs.append(f"{prefix}: strategies[{i}].strategy: unknown strategy "
                             f"'{s.strategy}'")
        for i, r in enumerate(rec.rationale):
            if r not in statement_ids:
                probs.append(f"{prefix}: rationale[{i}]: unknown biomechanical statement '{r}'")
    outcome_ids = {o.id for _, r in records if isinstance(r, ClinicalStudy) for o in r.outcomes}
    for i, a in enumerate(review.analyses):
        loc = f"{review_label}: {review.id}: analyses[{i}]"
        if a.measure not in MEASURES:
            probs.append(f"{loc}.measure: '{a.measure}' is not one of {', '.join(MEASURES)}")
        if a.method in TABLE_METHODS:
            allowed = TABLE_METHODS[a.method]
            if a.measure not in allowed:
                words = (allowed[0] if len(allowed) == 1 else
                         ", ".join(allowed[:-1]) + " or " + allowed[-1])
                probs.append(f"{loc}.method: '{a.method}' pools 2x2 tables of measure "
                             f"{words} only, not '{a.measure}'; use one of "
                             f"{', '.join(METHODS)} for it")
            if a.test != "z":
                probs.append(f"{loc}.test: '{a.test}' does not apply to method '{a.method}' "
                             "(a fixed-effect method with z tests); use test: z")
        elif a.method not in METHODS:
            probs.append(f"{loc}.method: '{a.method}' is not one of "
                         f"{', '.join(METHODS + tuple(TABLE_METHODS))}")
        if a.test not in TESTS:
            probs.append(f"{loc}.test: '{a.test}' is not one of {', '.join(TESTS)}")
        if a.multilevel is not None and a.method not in ("REML", "ML"):
            probs.append(f"{loc}.method: a multilevel model is fitted by REML or ML, not "
                         f"'{a.method}'")
        if a.transform is not None and a.transform not in TRANSFORMS:
            probs.append(f"{loc}.transform: '{a.transform}' is not one of "
                         f"{', '.join(TRANSFORMS)}")
        if a.outcome not in outcome_ids:
            probs.append(f"{loc}.outcome: no study has an outcome '{a.outcome}'")
        else:
            arms = {arm for _, r in records if isinstance(r, ClinicalStudy)
                    if any(o.id == a.outcome for o in r.outcomes) for arm in r.arms}
            for j, arm in enumerate(a.arms):
                if arm not in arms:
                    probs.append(f"{loc}.arms[{j}]: no study with outcome '{a.outcome}' has "
                                 f"an arm '{arm}'; arms: {', '.join(sorted(arms))}")
        chars = {c for _, r in records if isinstance(r, ClinicalStudy)
                 for c in r.characteristics}
        refs = [(f"subgroups[{j}]", c) for j, c in enumerate(a.subgroups)]
        refs += [(f"moderators[{j}][{m}]", c) for j, mod in enumerate(a.moderators)
                 for m, c in enumerate(mod)]
        if a.cumulative_order is not None:
            refs.append(("cumulative_order", a.cumulative_order))
        for where, c in refs:
            if c not in chars:
                probs.append(f"{loc}.{where}: no study has a characteristic '{c}'; known: "
                             f"{', '.join(sorted(chars)) or '(none)'}")
    analysis_ids = [a.id for a in review.analyses]
    for i, g in enumerate(review.grade):
        loc = f"{review_label}: {review.id}: grade[{i}]"
        if g.analysis not in analysis_ids:
            probs.append(f"{loc}.analysis: no planned analysis '{g.analysis}'; planned: "
                         f"{', '.join(analysis_ids) or '(none)'}")
    for dup in sorted({g.analysis for g in review.grade
                       if [x.analysis for x in review.grade].count(g.analysis) > 1}):
        probs.append(f"{review_label}: {review.id}: grade: analysis '{dup}' is graded twice")
    living = getattr(review, "living", None)
    plans = {a.id: a for a in review.analyses}
    source_keys = {s.key for s in review.sources}
    for i, sp in enumerate(living.sequential if living is not None else ()):
        loc = f"{review_label}: {review.id}: living.sequential[{i}]"
        a = plans.get(sp.analysis)
        if a is None:
            probs.append(f"{loc}.analysis: no planned analysis '{sp.analysis}'; planned: "
                         f"{', '.join(analysis_ids) or '(none)'}")
            continue
        if a.multilevel is not None:
            probs.append(f"{loc}.analysis: '{sp.analysis}' is a multilevel analysis; a "
                         "sequential analysis is offered for two-arm analyses")
        ratio = a.measure in ("RR", "OR", "RD")
        if sp.information == "participants" and sp.control_risk is not None and not ratio:
            probs.append(f"{loc}.control_risk: '{sp.analysis}' pools {a.measure}; a control "
                         "risk sizes a dichotomous outcome (RR, OR, RD): give sd instead")
        if sp.information == "participants" and sp.sd is not None and a.measure != "MD":
            probs.append(f"{loc}.sd: '{sp.analysis}' pools {a.measure}; an SD sizes a mean "
                         "difference (MD): use information: statistical instead")
        if a.transform == "exp" and sp.effect <= 0:
            probs.append(f"{loc}.effect: {a.measure} is a ratio; the effect to detect is a "
                         "ratio above 0 (e.g. 0.8)")
        if a.transform == "exp" and sp.effect == 1:
            probs.append(f"{loc}.effect: a ratio of 1 is no effect")
        for fname in ("control_risk_source", "sd_source"):
            key = getattr(sp, fname)
            if key is not None and key not in source_keys:
                probs.append(f"{loc}.{fname}: unknown source '{key}'; known: "
                             f"{', '.join(sorted(source_keys))}")
    if living is not None:
        seen = [sp.analysis for sp in living.sequential]
        for dup in sorted({x for x in seen if seen.count(x) > 1}):
            probs.append(f"{review_label}: {review.id}: living.sequential: analysis '{dup}' "
                         "is listed twice")
    for i, f in enumerate(review.stated_findings):
        if f.injury not in injuries:
            probs.append(f"{review_label}: {review.id}: stated_findings[{i}].injury: unknown "
                         f"injury '{f.injury}'")
        if f.strategy is not None and f.strategy not in strategies:
            probs.append(f"{review_label}: {review.id}: stated_findings[{i}].strategy: unknown "
                         f"strategy '{f.strategy}'")
    return probs
