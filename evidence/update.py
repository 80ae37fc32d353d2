"""Updating a review: a record template to fill in, and what changed between two versions.

``scaffold_record`` writes the YAML text of a new record with every field of the record format,
each value null (or its default), comments that say what goes where, and the placeholder source
key :data:`SOURCE_PLACEHOLDER` wherever a source belongs.

Decision: a scaffold **fails validation until it is filled in**. Its required fields are null,
and the placeholder source key is not a source of any review, so ``evidence validate`` names
every field still to fill instead of letting an empty record slip into the synthesis.

``diff_reviews`` loads two versions of a review directory and reports the records added,
removed and edited (with the changed fields), the pooled estimates before and after, and the
levels of evidence and conclusions that changed.
"""

from __future__ import annotations

import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel

from .errors import ArgumentError
from .model import load_review
from .records.schema import ClinicalStudy, ExpertOpinion, Sourced

__all__ = ["scaffold_record", "diff_reviews", "ReviewDiff", "SOURCE_PLACEHOLDER", "TEMPLATES"]

SOURCE_PLACEHOLDER = "SOURCE-KEY"
"""Placeholder for a source key; no review defines it, so validation fails until replaced."""

TEMPLATES = {"clinical": ClinicalStudy, "expert": ExpertOpinion}

_SKIP_DEFAULTS = {"type"}
_COMMENTS = {
    "source": f"key of a source in review.yaml 'sources' (replace {SOURCE_PLACEHOLDER})",
    "id": "lower-case id: letters, digits, . _ -",
}


# ----------------------------------------------------------------------------- scaffold


def _unwrap(ann: Any) -> tuple[Any, bool]:
    """(inner annotation, optional?) through Optional / Annotated / unions with None."""
    optional = False
    while True:
        origin = get_origin(ann)
        if origin is typing.Annotated:
            ann = get_args(ann)[0]
            continue
        if origin in (typing.Union, types.UnionType):
            args = [a for a in get_args(ann) if a is not type(None)]
            optional = optional or len(args) < len(get_args(ann))
            if len(args) == 1:
                ann = args[0]
                continue
            return ann, optional
        return ann, optional


def _is_model(a: Any) -> bool:
    return isinstance(a, type) and issubclass(a, BaseModel)


def _type_hint(ann: Any, review: Any, name: str) -> str | None:
    inner, _ = _unwrap(ann)
    if get_origin(inner) is Literal:
        return "one of: " + ", ".join(map(str, get_args(inner)))
    if review is not None:
        if name == "injury":
            return "one of: " + ", ".join(i.id for i in review.injuries)
        if name in ("strategy", "strategies"):
            return "from: " + ", ".join(s.id for s in review.strategies)
    if inner is Sourced:
        return "a number, or {value, source, where, note}; null if not reported"
    return None


def _scalar(v: Any) -> str:
    return yaml.safe_dump(v, default_flow_style=True).strip().removesuffix("...").strip()


def _emit(model: type[BaseModel], indent: int, review: Any, lines: list[str],
          first_prefix: str | None = None, skip: set[str] | None = None,
          fixed: dict[str, Any] | None = None) -> None:
    pad = " " * indent
    first = True
    for name, info in model.model_fields.items():
        if skip and name in skip:
            continue
        key = info.alias or name
        lead = (first_prefix if first and first_prefix is not None else pad)
        first = False
        desc = info.description or _COMMENTS.get(name)
        hint = _type_hint(info.annotation, review, name)
        comment = "; ".join(x for x in (desc, hint) if x)
        comment = f"  # {comment}" if comment else ""
        if fixed and name in fixed:
            lines.append(f"{lead}{key}: {_scalar(fixed[name])}")
            continue
        inner, _ = _unwrap(info.annotation)
        origin = get_origin(inner)
        if name == "source" or name.endswith("_source"):
            lines.append(f"{lead}{key}: {SOURCE_PLACEHOLDER}  # {_COMMENTS['source']}")
        elif inner is Sourced:
            lines.append(f"{lead}{key}: null{comment}")
        elif _is_model(inner):
            lines.append(f"{lead}{key}:{comment}")
            _emit(inner, indent + 2, review, lines)
        elif origin is list and get_args(inner) and _is_model(_unwrap(get_args(inner)[0])[0]):
            item = _unwrap(get_args(inner)[0])[0]
            note = "one example entry: copy it for more, or use [] if there is none"
            comment = f"  # {desc + '; ' if desc else ''}{note}"
            lines.append(f"{lead}{key}:{comment}")
            _emit(item, indent + 4, review, lines, first_prefix=pad + "  - ")
        elif origin is list:
            default = None if info.is_required() else info.get_default(
                call_default_factory=True)
            lines.append(f"{lead}{key}: {_scalar(default if default else [])}{comment}")
        elif origin is dict:
            lines.append(f"{lead}{key}: {{}}{comment}")
        else:
            default = info.get_default(call_default_factory=True) \
                if not info.is_required() else None
            if default is not None and hasattr(default, "__class__") and _is_model(
                    type(default)):
                default = None
            lines.append(f"{lead}{key}: {_scalar(default)}{comment}")


def scaffold_record(template: str = "clinical", review: Any = None,
                    record_id: str | None = None) -> str:
    """YAML text of a new, empty record to fill in.

    Parameters
    ----------
    template : {"clinical", "expert"}
        A clinical study (outcomes per arm and time point) or an expert-opinion entry.
    review : LoadedReview, Review or path, optional
        When given, comments list its injury and strategy ids. (Read only for a path.)
    record_id : str, optional
        Fill in the record id (otherwise null).

    Returns
    -------
    str
        YAML with every field of the record format, values null (or the format's default),
        one example entry in each list of entries, :data:`SOURCE_PLACEHOLDER` wherever a
        source key goes, and a comment per field. It does not validate until filled in (see
        the module docstring).

    Examples
    --------
    >>> text = scaffold_record("clinical")
    >>> text.splitlines()[4]
    'type: clinical'
    """
    if template not in TEMPLATES:
        raise ArgumentError(f"template {template!r} is not one of {', '.join(TEMPLATES)}")
    rv = review
    if isinstance(review, (str, Path)):
        rv = load_review(review).review
    elif review is not None and hasattr(review, "review"):
        rv = review.review
    model = TEMPLATES[template]
    title = "clinical study" if template == "clinical" else "expert-opinion entry"
    lines = [
        f"# New {title}. Fill in every value a source reports; leave the rest null.",
        f"# Replace every {SOURCE_PLACEHOLDER} with the key of a source listed in review.yaml",
        "# (add the source there first). Until then the record does not validate, on purpose.",
        "# Never estimate, impute or read a value off a figure: unreported means null.",
    ]
    _emit(model, 0, rv, lines, fixed={"type": template, **({"id": record_id}
                                                             if record_id else {})})
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- diff


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(obj, list):
        if not obj:
            out[prefix] = []
        for i, v in enumerate(obj):
            out.update(_flatten(v, f"{prefix}[{i}]"))
    else:
        out[prefix] = obj
    return out


def _records(loaded) -> dict[str, tuple[str, str | None, dict]]:
    recs: dict[str, tuple[str, str | None, dict]] = {}
    recs[f"review:{loaded.review.id}"] = ("review", "review.yaml",
                                          loaded.review.model_dump(by_alias=True))
    for kind, items in (("clinical", loaded.studies), ("expert", loaded.experts),
                        ("biomechanics", loaded.biomechanics)):
        for r in items:
            recs[r.id] = (kind, loaded.files.get(r.id), r.model_dump(by_alias=True))
    return recs


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


@dataclass(frozen=True)
class ReviewDiff:
    """What changed between two versions of a review.

    Attributes
    ----------
    records : DataFrame
        One row per record added, removed or edited: ``record``, ``kind``, ``change``,
        ``file``, ``n_fields`` (edited fields).
    fields : DataFrame
        One row per edited field: ``record``, ``field`` (dotted path), ``old``, ``new``.
    pooled : DataFrame
        Pooled groups whose status, k or estimate changed: group keys, ``status_old``,
        ``status_new``, ``k_old``, ``k_new``, ``estimate_old``, ``estimate_new``, ``ci_*``.
    levels : DataFrame
        Cells whose level (or level with unconfirmed studies) changed, with rule ids.
    conclusions : DataFrame
        Conclusions added, removed or reworded: ``injury``, ``strategy``, ``change``,
        ``level_old``, ``level_new``, ``statement_old``, ``statement_new``.
    old, new : str
        The two directories.
    """

    records: pd.DataFrame
    fields: pd.DataFrame
    pooled: pd.DataFrame
    levels: pd.DataFrame
    conclusions: pd.DataFrame
    old: str
    new: str
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def empty(self) -> bool:
        return all(len(getattr(self, n)) == 0 for n in
                   ("records", "pooled", "levels", "conclusions"))

    def to_frames(self) -> dict[str, pd.DataFrame]:
        return {"records": self.records, "fields": self.fields, "pooled": self.pooled,
                "levels": self.levels, "conclusions": self.conclusions}

    def to_text(self, max_fields: int = 20) -> str:
        """A plain-text report of the changes."""
        out = [f"Changes from {self.old} to {self.new}"]
        if self.empty:
            return out[0] + ": none.\n"
        out.append("")
        out.append(f"Records ({len(self.records)} changed)")
        for r in self.records.itertuples():
            extra = f", {r.n_fields} field(s)" if r.change == "edited" else ""
            out.append(f"  {r.change:8s} {r.kind:12s} {r.record}{extra}")
            if r.change == "edited":
                fs = self.fields[self.fields["record"] == r.record]
                for f in fs.head(max_fields).itertuples():
                    out.append(f"           {f.field}: {f.old!r} -> {f.new!r}")
                if len(fs) > max_fields:
                    out.append(f"           ... and {len(fs) - max_fields} more")
        out.append("")
        out.append(f"Pooled estimates ({len(self.pooled)} groups changed)")
        for p in self.pooled.to_dict("records"):
            keys = " x ".join(str(p[k]) for k in ("injury", "strategy", "outcome_kind")
                              if k in p)
            out.append(f"  {keys}: {p['status_old']} (k={p['k_old']}, "
                       f"{_num(p['estimate_old'])}) -> {p['status_new']} (k={p['k_new']}, "
                       f"{_num(p['estimate_new'])})")
        out.append("")
        out.append(f"Levels of evidence ({len(self.levels)} changed)")
        for lv in self.levels.to_dict("records"):
            out.append(f"  {lv['injury']} x {lv['strategy'] or 'any strategy'}: "
                       f"{lv['level_old']} [{lv['rule_id_old']}] -> {lv['level_new']} "
                       f"[{lv['rule_id_new']}]")
        out.append("")
        out.append(f"Conclusions ({len(self.conclusions)} changed)")
        for c in self.conclusions.to_dict("records"):
            out.append(f"  {c['change']}: {c['injury']} x {c['strategy'] or 'any strategy'}")
            if c["statement_old"]:
                out.append(f"    before: {c['statement_old']}")
            if c["statement_new"]:
                out.append(f"    after:  {c['statement_new']}")
        for n in self.notes:
            out.append(f"Note: {n}")
        return "\n".join(out) + "\n"


def _num(x: Any) -> str:
    try:
        return "no estimate" if x is None or np.isnan(x) else f"{x:.3f}"
    except TypeError:
        return str(x)


def _synthesis(path: Path, rules):
    from .synthesis import (clinical_effects, conclusions, expert_matrix, load_rules,
                            pool_by_group)

    loaded = load_review(path)
    frames = loaded.frames()
    r = rules if rules is not None else load_rules(path)
    eff = clinical_effects(frames)
    pooled = pool_by_group(eff).table
    matrix = expert_matrix(frames, r, eff)
    concl = conclusions(frames, r, eff, matrix=matrix)
    return loaded, pooled, matrix, concl


def diff_reviews(old_dir: str | Path, new_dir: str | Path, rules: Any = None,
                 tolerance: float = 1e-10) -> ReviewDiff:
    """Compare two versions of a review directory.

    Parameters
    ----------
    old_dir, new_dir : review directories (each with ``review.yaml``).
    rules : LevelRules, optional
        Rules used for both versions; by default each directory's own rules file.
    tolerance : float
        Absolute change below which an estimate counts as unchanged (floating-point noise).

    Returns
    -------
    ReviewDiff

    Examples
    --------
    >>> d = diff_reviews("studies-2016", "studies")        # doctest: +SKIP
    >>> print(d.to_text())                                  # doctest: +SKIP
    """
    old_dir, new_dir = Path(old_dir), Path(new_dir)
    lo, po, mo, co = _synthesis(old_dir, rules)
    ln, pn, mn, cn = _synthesis(new_dir, rules)

    ro, rn = _records(lo), _records(ln)
    rec_rows, field_rows = [], []
    for rid in sorted(set(ro) | set(rn)):
        if rid not in ro:
            rec_rows.append({"record": rid, "kind": rn[rid][0], "change": "added",
                             "file": rn[rid][1], "n_fields": 0})
        elif rid not in rn:
            rec_rows.append({"record": rid, "kind": ro[rid][0], "change": "removed",
                             "file": ro[rid][1], "n_fields": 0})
        else:
            fo, fn = _flatten(ro[rid][2]), _flatten(rn[rid][2])
            changed = [k for k in sorted(set(fo) | set(fn))
                       if not _same(fo.get(k), fn.get(k))]
            if changed:
                rec_rows.append({"record": rid, "kind": rn[rid][0], "change": "edited",
                                 "file": rn[rid][1], "n_fields": len(changed)})
                field_rows += [{"record": rid, "field": k, "old": fo.get(k), "new": fn.get(k)}
                               for k in changed]
    records = pd.DataFrame(rec_rows, columns=["record", "kind", "change", "file", "n_fields"])
    fields = pd.DataFrame(field_rows, columns=["record", "field", "old", "new"])

    keys = ["injury", "strategy", "outcome_kind"]
    cols = ["status", "k", "estimate", "ci_low", "ci_high"]
    p = po[keys + cols].merge(pn[keys + cols], on=keys, how="outer", suffixes=("_old", "_new"))
    est_o, est_n = p["estimate_old"].to_numpy(float), p["estimate_new"].to_numpy(float)
    est_changed = ~((np.isnan(est_o) & np.isnan(est_n))
                    | (np.abs(est_o - est_n) <= tolerance))
    p_changed = (p["status_old"].astype(object) != p["status_new"].astype(object)) | \
        (p["k_old"].fillna(-1) != p["k_new"].fillna(-1)) | est_changed
    pooled = p[p_changed].reset_index(drop=True)

    lk = ["injury", "strategy"]
    lc = ["level", "rule_id", "level_with_unconfirmed", "explanation"]
    mo_ = mo.rename(columns={"clinical_level": "level"})
    mn_ = mn.rename(columns={"clinical_level": "level"})
    lv = mo_[lk + lc].assign(strategy=mo_["strategy"].fillna("*")).merge(
        mn_[lk + lc].assign(strategy=mn_["strategy"].fillna("*")), on=lk, how="outer",
        suffixes=("_old", "_new"))
    changed = (lv["level_old"].astype(object) != lv["level_new"].astype(object)) | \
        (lv["level_with_unconfirmed_old"].astype(object)
         != lv["level_with_unconfirmed_new"].astype(object))
    levels = lv[changed].copy()
    levels["strategy"] = levels["strategy"].where(levels["strategy"] != "*", None)
    levels = levels.reset_index(drop=True)

    cc = ["clinical_level", "rule_id", "statement"]
    c = co[lk + cc].assign(strategy=co["strategy"].fillna("*")).merge(
        cn[lk + cc].assign(strategy=cn["strategy"].fillna("*")), on=lk, how="outer",
        suffixes=("_old", "_new"), indicator=True)
    c["change"] = np.select([c["_merge"] == "right_only", c["_merge"] == "left_only",
                             c["statement_old"] != c["statement_new"]],
                            ["added", "removed", "reworded"], "same")
    c = c[c["change"] != "same"].rename(columns={"clinical_level_old": "level_old",
                                                 "clinical_level_new": "level_new"})
    c["strategy"] = c["strategy"].where(c["strategy"] != "*", None)
    for col in ("statement_old", "statement_new"):
        c[col] = c[col].astype(object).where(c[col].notna(), None)
    concl = c[lk + ["change", "level_old", "level_new", "rule_id_old", "rule_id_new",
                    "statement_old", "statement_new"]].reset_index(drop=True)
    return ReviewDiff(records=records, fields=fields, pooled=pooled, levels=levels,
                      conclusions=concl, old=str(old_dir), new=str(new_dir))
