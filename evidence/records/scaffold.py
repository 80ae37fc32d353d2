"""A new record to fill in: the YAML scaffold of the record format.

``scaffold_record`` writes the YAML text of a new record with every field of the record format,
each value null (or its default), comments that say what goes where, and the placeholder source
key :data:`SOURCE_PLACEHOLDER` wherever a source belongs.

Decision: a scaffold **fails validation until it is filled in**. Its required fields are null,
and the placeholder source key is not a source of any review, so ``evidence validate`` names
every field still to fill instead of letting an empty record slip into the synthesis.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml
from pydantic import BaseModel

from ..errors import ArgumentError
from .loader import load_records
from .schema import ClinicalStudy, ExpertOpinion, Sourced

__all__ = ["scaffold_record", "SOURCE_PLACEHOLDER", "TEMPLATES"]

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


#: Lists left empty in a new record (an empty list is a true statement: not assessed), with
#: the shape of an entry in the comment.
_EMPTY_LISTS = {
    "risk_of_bias": "none: not assessed. An entry: {tool: rob2, outcome: null, signalling: "
                    "{'1.1': Y, ...}, domains: {D1: low, ...}, overall: low, source: KEY}",
}


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
        elif name in _EMPTY_LISTS:
            lines.append(f"{lead}{key}: []  # {_EMPTY_LISTS[name]}")
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
        rv = load_records(review).review
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
