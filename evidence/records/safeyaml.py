"""Reading YAML safely: bounded, unambiguous, and with every refusal naming file and line.

:func:`read_yaml_file` is the only way the package reads a review's YAML. It reads the file's
bytes (never more than :data:`MAX_FILE_BYTES`), checks the encoding, and builds the Python
objects itself from libyaml's event stream (the C parser when PyYAML has it), so that nothing
is built before these checks have passed:

* **No aliases or anchors** (``&a`` / ``*a``) and no merge keys (``<<``): refused where they
  appear, before any object is built, so an alias bomb ("billion laughs") fails at once.
* **No explicit tags** (``!!python/object``, ``!!binary``, ``!custom``...): a record is plain
  data.
* **Limits**: file size :data:`MAX_FILE_BYTES`, nesting depth :data:`MAX_DEPTH`, length of one
  text :data:`MAX_STRING`, number of values in a file :data:`MAX_NODES`.
* **Duplicate keys** in one mapping are an error naming both lines (YAML would keep the last
  value silently).
* **YAML 1.2 core schema** for plain (unquoted) scalars: ``null``/``~``/empty, ``true``/
  ``false``, decimal integers, floats (``4e0`` and ``1.5e-3`` are numbers, ``.inf``/``.nan``
  too, refused later by the record format). Forms that YAML 1.1 (PyYAML's default) reads
  differently are **errors** rather than silently one or the other, so the file means the same
  to every reader: integers with a leading zero (``011``: octal 9 in 1.1, 11 in 1.2), other
  bases (``0o17``, ``0x1F``, ``0b1``), digits with underscores (``1_000``), sexagesimal
  numbers (``1:30``), and ``yes``/``no``/``on``/``off`` in any case (booleans in 1.1, text in
  1.2). Quote the value to mean text. Dates (``2016-05-01``) are text, as in 1.2.
* **Encoding**: UTF-8, with or without a byte-order mark. UTF-16/32, other encodings (e.g.
  Latin-1) and binary files are refused with the position of the first bad byte.

Errors are :class:`YamlError` (a :class:`~evidence.errors.RecordError`) with one message
``<label>: line N: <what to fix>``.
"""

from __future__ import annotations

import codecs
import os
import re
import stat as stat_mod
from pathlib import Path
from typing import Any

import yaml

from ..errors import RecordError

__all__ = ["read_yaml_file", "parse_yaml", "YamlError", "MAX_FILE_BYTES", "MAX_DEPTH",
           "MAX_STRING", "MAX_NODES"]

MAX_FILE_BYTES = 1 << 20
"""1 MiB: the largest bundled file is ~15 kB; a record 70 times larger is a mistake."""
MAX_DEPTH = 32
"""Nested mappings/sequences: the record format needs 6 levels."""
MAX_STRING = 20_000
"""Characters in one scalar: the longest bundled text is under 1,000."""
MAX_NODES = 100_000
"""Scalars, mappings and sequences in one file: the largest bundled file has ~1,200."""
_MAX_INT_DIGITS = 30

_PARSER = getattr(getattr(yaml, "_yaml", None), "CParser", None) or yaml.loader.SafeLoader  # C if built

_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_TRUE = re.compile(r"^(?:true|True|TRUE)$")
_FALSE = re.compile(r"^(?:false|False|FALSE)$")
_INT = re.compile(r"^[-+]?[0-9]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(?:inf|Inf|INF)$")
_NAN = re.compile(r"^\.(?:nan|NaN|NAN)$")
# forms YAML 1.1 reads otherwise than the 1.2 core schema: refused as ambiguous
_BOOL11 = re.compile(r"^(?:yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF)$")
_BASE = re.compile(r"^[-+]?0[oxbOXB][0-9a-fA-F_]+$")
_UNDERSCORE = re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?$")
_SEXAGESIMAL = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")


class YamlError(RecordError):
    """A YAML file that cannot be read safely (one message naming file and line)."""


def _fail(label: str, mark: Any, msg: str, stack: list[list[Any]] | None = None) -> YamlError:
    where = f"line {mark.line + 1}: " if mark is not None else ""
    field = _field_path(stack) if stack else ""
    return YamlError(f"{label}: {where}{msg}" + (f" (field {field})" if field else ""))


def _field_path(stack: list[list[Any]]) -> str:
    """The record field the next value fills, e.g. ``outcomes[0].measurements[1].sd``."""
    path = ""
    for container, key, *_ in stack:
        if isinstance(container, list):
            path += f"[{len(container)}]"
        elif key is not _NO_KEY:
            path += ("." if path else "") + str(key)
        else:
            break  # the value is a key itself: the path of its mapping
    return path


def _plain(value: str, label: str, mark: Any, stack: list[list[Any]] | None = None) -> Any:
    """A plain (unquoted) scalar read with the YAML 1.2 core schema; ambiguous forms refused."""
    if _NULL.match(value):
        return None
    if _TRUE.match(value):
        return True
    if _FALSE.match(value):
        return False
    if _INT.match(value):
        digits = value.lstrip("+-")
        if len(digits) > 1 and digits[0] == "0":
            raise _fail(label, mark, f"'{value}' is ambiguous (YAML 1.1 reads a leading 0 as "
                                     f"octal): write {int(digits, 10)} or quote it as text",
                        stack)
        if len(digits) > _MAX_INT_DIGITS:
            raise _fail(label, mark, f"the integer '{value[:20]}...' has more than "
                                     f"{_MAX_INT_DIGITS} digits", stack)
        return int(value)
    if _FLOAT.match(value):
        return float(value)
    if _INF.match(value):
        return float("-inf") if value.startswith("-") else float("inf")
    if _NAN.match(value):
        return float("nan")
    if _BOOL11.match(value):
        raise _fail(label, mark, f"'{value}' is ambiguous (YAML 1.1 reads it as a boolean): "
                                 "write true or false, or quote it as text", stack)
    if _BASE.match(value):
        raise _fail(label, mark, f"'{value}' is a number in another base: write it in decimal, "
                                 "or quote it as text", stack)
    if _SEXAGESIMAL.match(value) or ("_" in value and _UNDERSCORE.match(value)):
        raise _fail(label, mark, f"'{value}' is ambiguous (YAML 1.1 reads it as a number): "
                                 "write the number plainly, or quote it as text", stack)
    return value


def _key_text(k: Any) -> str:
    return repr(k) if not isinstance(k, str) else f"'{k}'"


def parse_yaml(text: str, label: str) -> Any:
    """Build the object of one YAML document under the rules of the module docstring.

    Raises
    ------
    YamlError
        naming ``label`` and the line of the first problem.
    """
    E = yaml.events
    parser = _PARSER(text)
    try:
        stack: list[list[Any]] = []  # [container, pending key, key line, {key: line}]
        result: Any = None
        docs = 0
        nodes = 0
        while True:
            try:
                ev = parser.get_event()
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                problem = getattr(exc, "problem", None) or str(exc)
                raise _fail(label, mark, f"not valid YAML: {problem}") from None
            if ev is None or isinstance(ev, E.StreamEndEvent):
                break
            if isinstance(ev, (E.StreamStartEvent, E.DocumentEndEvent)):
                continue
            if isinstance(ev, E.DocumentStartEvent):
                docs += 1
                if docs > 1:
                    raise _fail(label, ev.start_mark, "more than one YAML document (---) in "
                                                      "the file; a file holds one")
                continue
            if isinstance(ev, E.AliasEvent):
                raise _fail(label, ev.start_mark, f"alias '*{ev.anchor}': aliases and anchors "
                                                  "are not allowed; write the value out", stack)
            anchor = getattr(ev, "anchor", None)
            if anchor is not None:
                raise _fail(label, ev.start_mark, f"anchor '&{anchor}': aliases and anchors "
                                                  "are not allowed; write the value out", stack)
            tag = getattr(ev, "tag", None)
            if tag is not None:
                raise _fail(label, ev.start_mark, f"explicit tag '{tag}' is not allowed; "
                                                  "records hold plain values (quote text)", stack)
            if isinstance(ev, (E.MappingEndEvent, E.SequenceEndEvent)):
                value = stack.pop()[0]
            else:
                nodes += 1
                if nodes > MAX_NODES:
                    raise _fail(label, ev.start_mark, f"more than {MAX_NODES:,} values in one "
                                                      "file")
                if isinstance(ev, E.ScalarEvent):
                    if len(ev.value) > MAX_STRING:
                        raise _fail(label, ev.start_mark, f"a text of {len(ev.value):,} "
                                                          f"characters (the limit is "
                                                          f"{MAX_STRING:,})", stack)
                    value = _plain(ev.value, label, ev.start_mark, stack) if not ev.style \
                        else ev.value
                else:
                    if len(stack) >= MAX_DEPTH:
                        raise _fail(label, ev.start_mark, f"nested more than {MAX_DEPTH} "
                                                          "levels deep")
                    container: Any = {} if isinstance(ev, E.MappingStartEvent) else []
                    stack.append([container, _NO_KEY, None, {}])
                    continue
            # attach value to its parent
            if not stack:
                result = value
                continue
            top = stack[-1]
            parent = top[0]
            if isinstance(parent, list):
                parent.append(value)
            elif top[1] is _NO_KEY:
                if isinstance(value, (dict, list)):
                    raise _fail(label, ev.start_mark, "a key must be a plain value, not a "
                                                      "mapping or a list")
                if value == "<<" and not ev.style:
                    raise _fail(label, ev.start_mark, "merge keys (<<) are not allowed; "
                                                      "write the fields out")
                line = ev.start_mark.line + 1
                if value in top[3]:
                    raise _fail(label, ev.start_mark, f"duplicate key {_key_text(value)} "
                                                      f"(also at line {top[3][value]}); "
                                                      "YAML would keep only the last value")
                top[3][value] = line
                top[1] = value
            else:
                parent[top[1]] = value
                top[1] = _NO_KEY
        return result
    finally:
        dispose = getattr(parser, "dispose", None)
        if dispose is not None:
            dispose()


_NO_KEY = object()

_BOMS = ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
         (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"))


def decode(data: bytes, label: str) -> str:
    """UTF-8 text of a file's bytes (a UTF-8 byte-order mark is dropped)."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            raise YamlError(f"{label}: the file is {name} text; save it as UTF-8")
    if b"\x00" in data[:8192]:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise YamlError(f"{label}: line {line}: a NUL byte: this is a binary file, not YAML "
                        "text (or UTF-16 without a byte-order mark; save it as UTF-8)")
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise YamlError(f"{label}: line {line}: byte 0x{data[exc.start]:02x} is not UTF-8 "
                        "(Latin-1 or another encoding?); save the file as UTF-8") from None


def read_yaml_file(path: str | Path, label: str | None = None) -> Any:
    """Read one YAML file safely (see the module docstring). Empty file -> None.

    Only regular files are opened (a FIFO or device would block or never end); at most
    :data:`MAX_FILE_BYTES` + 1 bytes are read.
    """
    p = Path(path)
    label = label or str(p)
    try:
        st = os.stat(p)
    except OSError as exc:
        raise YamlError(f"{label}: cannot be read: {exc.strerror or exc}") from None
    if not stat_mod.S_ISREG(st.st_mode):
        raise YamlError(f"{label}: not a regular file")
    if st.st_size > MAX_FILE_BYTES:
        raise YamlError(f"{label}: the file is too large ({st.st_size / 2**20:.1f} MiB; the "
                        f"limit is {MAX_FILE_BYTES / 2**20:g} MiB)")
    try:
        with open(p, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise YamlError(f"{label}: cannot be read: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise YamlError(f"{label}: the file is too large (the limit is "
                        f"{MAX_FILE_BYTES / 2**20:g} MiB)")
    return parse_yaml(decode(data, label), label)
