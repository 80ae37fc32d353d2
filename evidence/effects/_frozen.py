"""Immutability helpers for the result objects of the numeric core (effects and meta).

A frozen dataclass only stops rebinding its attributes; the arrays and frames it holds stay
mutable (``res.weights[0] = 9``). The helpers here close that gap:

* :func:`readonly` copies an array and clears its ``writeable`` flag (call it from
  ``__post_init__``);
* :func:`copied_on_read` makes DataFrame / Series / dict fields hand out copies, keeping the
  attribute names, the constructor and ``dataclasses.fields`` as they are;
* :func:`deferred_fields` lets fields be computed on first read (a :class:`Deferred`
  computation of several fields at once), so a result can be returned before its dearer
  parts are computed, with the numbers the eager computation gives;
* :class:`FrozenResult` gives results an equality that understands arrays, frames and NaN,
  so that a result equals its pickled copy, a hash consistent with it, and a pickle that
  goes through the constructor (so the unpickled arrays are read-only too).

Kept in ``evidence.effects`` (the first stage of the core) so that ``evidence.meta`` can use
it without the effects layer importing the pooling engine.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import FrozenInstanceError, fields

import numpy as np
import pandas as pd

__all__ = ["readonly", "copied_on_read", "deferred_fields", "Deferred", "same", "FrozenResult"]


def readonly(a, dtype=None) -> np.ndarray:
    """A read-only copy of ``a`` (never a view of the caller's array).

    >>> x = readonly([1.0, 2.0])
    >>> x.flags.writeable
    False
    """
    out = np.array(a, dtype=dtype, copy=True)
    out.flags.writeable = False
    return out


class _CopyOnRead:
    """Data descriptor: stores a private copy of a frame/dict field, hands out copies."""

    def __init__(self, name: str, storage):
        self.name = name
        self.storage = storage  # the slot's member descriptor, or None for __dict__

    def __get__(self, obj, owner=None):
        if obj is None:
            raise AttributeError(self.name)
        if self.storage is not None:
            value = self.storage.__get__(obj, owner)
        else:
            try:
                value = obj.__dict__[self.name]
            except KeyError:
                raise AttributeError(self.name) from None
        return _copy(value)

    def __set__(self, obj, value):
        value = _copy(value)
        if self.storage is not None:
            self.storage.__set__(obj, value)
        else:
            obj.__dict__[self.name] = value

    def __delete__(self, obj):
        raise FrozenInstanceError(f"cannot delete field {self.name!r}")


def _copy(value):
    if isinstance(value, (pd.DataFrame, pd.Series)):
        return value.copy(deep=True)
    if isinstance(value, Mapping):
        return dict(value)
    return value


def copied_on_read(*names: str):
    """Class decorator (outside ``@dataclass``): the named fields are copied in and out.

    Works with and without ``slots=True``: with slots, the slot keeps the value and the
    descriptor wraps it.

    >>> from dataclasses import dataclass
    >>> @copied_on_read("table")
    ... @dataclass(frozen=True, slots=True)
    ... class R:
    ...     table: pd.DataFrame
    >>> r = R(pd.DataFrame({"a": [1]}))
    >>> r.table.loc[0, "a"] = 9
    >>> int(r.table.loc[0, "a"])
    1
    """

    def decorate(cls):
        for name in names:
            storage = cls.__dict__.get(name)
            if storage is not None and not hasattr(storage, "__set__"):
                raise TypeError(f"{cls.__name__}.{name} has a class-level default; not supported")
            setattr(cls, name, _CopyOnRead(name, storage))
        return cls

    return decorate


class Deferred:
    """A pending computation of one or more fields of a frozen result.

    ``compute()`` returns a dict field name -> value; it runs at most once, on the first
    read of any of its fields (then the function and what it holds are released). Values
    are final: a deferred field reads the same as if it had been computed eagerly, so
    equality, hashing, pickling and ``repr`` (which read every field) see plain values.
    """

    __slots__ = ("_compute", "_values")

    def __init__(self, compute):
        self._compute = compute
        self._values = None

    def value(self, name: str):
        if self._values is None:
            values = self._compute()
            self._values, self._compute = values, None
        return self._values[name]


class _DeferredField:
    """Data descriptor over a slot: a :class:`Deferred` stored in it is resolved (and the
    slot overwritten with the value) on the first read."""

    def __init__(self, name: str, storage):
        self.name = name
        self.storage = storage

    def __get__(self, obj, owner=None):
        if obj is None:
            raise AttributeError(self.name)
        value = self.storage.__get__(obj, owner)
        if isinstance(value, Deferred):
            value = value.value(self.name)
            self.storage.__set__(obj, value)
        return value

    def __set__(self, obj, value):
        self.storage.__set__(obj, value)

    def __delete__(self, obj):
        raise FrozenInstanceError(f"cannot delete field {self.name!r}")


def deferred_fields(*names: str):
    """Class decorator (outside ``@dataclass(slots=True)``): the named fields may be passed
    a :class:`Deferred`, computed on first read.

    >>> from dataclasses import dataclass
    >>> @deferred_fields("b")
    ... @dataclass(frozen=True, slots=True)
    ... class R:
    ...     a: float
    ...     b: float
    >>> r = R(1.0, Deferred(lambda: {"b": 2.0}))
    >>> r.b
    2.0
    """

    def decorate(cls):
        for name in names:
            storage = cls.__dict__.get(name)
            if storage is None or not hasattr(storage, "__set__"):
                raise TypeError(f"{cls.__name__}.{name}: deferred fields need slots=True")
            setattr(cls, name, _DeferredField(name, storage))
        return cls

    return decorate


def same(a, b) -> bool:
    """Equality of two field values: arrays and frames by content, NaN equal to NaN."""
    if a is b:
        return True
    if isinstance(a, (pd.DataFrame, pd.Series)) or isinstance(b, (pd.DataFrame, pd.Series)):
        return type(a) is type(b) and a.equals(b)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape:
            return False
        try:
            return bool(np.array_equal(a, b, equal_nan=True))
        except TypeError:  # object / string arrays: no NaN test
            return bool(np.array_equal(a, b))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(same(a[key], b[key]) for key in a)
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _hash_key(value):
    if isinstance(value, (np.ndarray, pd.DataFrame, pd.Series, Mapping)):
        return None  # compared by content in __eq__, left out of the hash
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return value


class FrozenResult:
    """Mixin for frozen result dataclasses (declare them with ``eq=False``).

    Two results are equal when they are of the same type and every compared field is
    :func:`same`; the hash uses the scalar fields only, so equal results hash equally.
    Pickling and copying rebuild the object through its constructor.
    """

    __slots__ = ()

    def __reduce__(self):
        # rebuild through __init__, so that __post_init__ makes the arrays read-only again
        # (the default state-restoring pickle of a slotted dataclass would bypass it)
        return (self.__class__, tuple(getattr(self, f.name) for f in fields(self) if f.init))

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(same(getattr(self, f.name), getattr(other, f.name))
                   for f in fields(self) if f.compare)

    def __hash__(self):
        return hash((self.__class__.__qualname__,) + tuple(
            _hash_key(getattr(self, f.name)) for f in fields(self)
            if f.compare and (f.hash is None or f.hash)))
