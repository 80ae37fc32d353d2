"""Result objects of the numeric core are immutable: arrays are read-only, frames are handed
out as copies, attributes cannot be rebound; results still pickle and compare."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest

from evidence.effects import mean_sd_from_median_iqr, sd_from_se
from evidence.effects.conversions import Converted, MeanSD
from evidence.meta.bias import EggerResult, TrimFillResult, egger_test, trimfill
from evidence.meta.estimators import Groups, Tau2Fit, estimate_tau2
from evidence.meta.fit import meta
from evidence.meta.metareg import MetaRegResult, metareg
from evidence.meta.results import MetaResult
from evidence.meta.subgroup import SubgroupResult, subgroup

# synthetic data (no reference values needed: the tests are about the objects)
YI = np.array([0.12, 0.35, 0.28, 0.61, 0.05, 0.44, 0.39, 0.90])
VI = np.array([0.011, 0.021, 0.016, 0.032, 0.014, 0.025, 0.018, 0.060])
X = np.array([1.0, 2.0, 2.5, 4.0, 0.5, 3.0, 3.5, 5.0])
GROUPS = ["a", "a", "a", "b", "b", "b", "b", "b"]


def _results():
    """One instance of every result type in meta/ and effects/."""
    return {
        "MetaResult": meta(YI, VI, method="REML"),
        "MetaResult-FE": meta(YI, VI, method="FE"),  # NaN fields (prediction interval)
        "MetaRegResult": metareg(YI, VI, {"x": X}, method="REML"),
        "SubgroupResult-separate": subgroup(YI, VI, GROUPS, method="DL"),
        "SubgroupResult-common": subgroup(YI, VI, GROUPS, method="REML", tau2="common"),
        "EggerResult": egger_test(YI, VI),
        "TrimFillResult": trimfill(YI, VI, method="FE"),
        "Tau2Fit": estimate_tau2("REML", Groups(np.array([3, 5])), YI, VI),
        "Converted": sd_from_se([0.5, 0.7], [10, 20]),
        "MeanSD": mean_sd_from_median_iqr([10.0, 12.0], [14.0, 15.0], [19.0, 20.0], [30, 40]),
    }


RESULTS = _results()
TYPES = (MetaResult, MetaRegResult, SubgroupResult, EggerResult, TrimFillResult, Tau2Fit,
         Converted, MeanSD)


def _arrays(obj):
    """(path, array) for every numpy array reachable through the fields of obj."""
    out = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, np.ndarray):
            out.append((f.name, value))
        elif isinstance(value, dict):
            out += [(f"{f.name}[{k!r}]", a) for k, a in value.items() if isinstance(a, np.ndarray)]
        elif dataclasses.is_dataclass(value):
            out += [(f"{f.name}.{p}", a) for p, a in _arrays(value)]
    return out


def _frames(obj):
    """(path, getter) for every DataFrame/Series field reachable through obj."""
    out = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, (pd.DataFrame, pd.Series)):
            out.append((f.name, lambda o=obj, n=f.name: getattr(o, n)))
        elif dataclasses.is_dataclass(value):
            out += [(f"{f.name}.{p}", g) for p, g in _frames(value)]
    return out


def test_every_result_type_is_covered():
    assert {type(r) for r in RESULTS.values()} == set(TYPES)


@pytest.mark.parametrize("cls", TYPES, ids=lambda c: c.__name__)
def test_frozen_dataclass_with_slots(cls):
    params = cls.__dataclass_params__
    assert params.frozen
    assert "__slots__" in cls.__dict__


@pytest.mark.parametrize("name", RESULTS)
def test_arrays_are_read_only(name):
    res = RESULTS[name]
    arrays = _arrays(res)
    if name.startswith(("MetaResult", "MetaRegResult", "Tau2Fit", "Converted", "MeanSD")):
        assert arrays, "expected array fields"
    for path, a in arrays:
        assert not a.flags.writeable, path
        with pytest.raises(ValueError, match="read-only"):
            a.flat[0] = 9


def test_weights_are_a_copy_of_nothing_the_caller_holds():
    w = np.array([0.2, 0.3, 0.5])
    res = dataclasses.replace(RESULTS["MetaResult"], weights=w)
    w[0] = 9.0
    assert res.weights[0] == 0.2
    with pytest.raises(ValueError):
        res.weights[0] = 9


def test_examples_from_the_issue():
    res = RESULTS["MetaResult"]
    before = res.weights.copy()
    with pytest.raises(ValueError):
        res.weights[0] = 9
    np.testing.assert_array_equal(res.weights, before)
    mr = RESULTS["MetaRegResult"]
    est = mr.coefficients.loc["intrcpt", "estimate"]
    with warnings.catch_warnings():  # pandas warns that this chained assignment is futile
        warnings.simplefilter("ignore")
        mr.coefficients.loc["intrcpt", "estimate"] = 99  # changes a copy only
    assert mr.coefficients.loc["intrcpt", "estimate"] == est


@pytest.mark.parametrize("name", [n for n in RESULTS if _frames(RESULTS[n])])
def test_mutating_a_returned_frame_leaves_the_result_unchanged(name):
    res = RESULTS[name]
    for path, get in _frames(res):
        before = get().copy()
        frame = get()
        if isinstance(frame, pd.DataFrame) and len(frame):
            frame.iloc[0, 0] = frame.iloc[-1, 0]
            frame["added"] = 1
            frame.loc[frame.index[0], "added"] = 2
        pd.testing.assert_frame_equal(get(), before, obj=path) if isinstance(before, pd.DataFrame) \
            else pd.testing.assert_series_equal(get(), before, obj=path)
    if hasattr(res, "to_frame"):
        before = res.to_frame()
        table = res.to_frame()
        table["added"] = 1
        table.iloc[0, 0] = table.iloc[-1, 0]
        pd.testing.assert_frame_equal(res.to_frame(), before)


def test_frame_passed_in_is_copied():
    mr = RESULTS["MetaRegResult"]
    coefs = mr.coefficients
    clone = dataclasses.replace(mr, coefficients=coefs)
    coefs.iloc[0, 0] = 123.0
    assert clone.coefficients.iloc[0, 0] == mr.coefficients.iloc[0, 0] != 123.0


def test_converted_inputs_are_copied_and_read_only():
    conv = RESULTS["Converted"]
    conv.inputs["n"] = np.array([1.0])  # a new dict each time
    assert "n" not in conv.inputs or conv.inputs["n"].tolist() != [1.0]
    for a in conv.inputs.values():
        assert not a.flags.writeable
    assert np.array(conv).flags.writeable  # np.array(...) makes a writable copy
    assert not np.asarray(conv).flags.writeable


@pytest.mark.parametrize("name", RESULTS)
def test_attributes_cannot_be_set(name):
    res = RESULTS[name]
    for f in dataclasses.fields(res):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(res, f.name, None)
    # a name that is no field: slots leave no __dict__ to put it in. (Python 3.11's frozen
    # slotted dataclasses raise TypeError here, from their __setattr__'s super() call.)
    with pytest.raises((dataclasses.FrozenInstanceError, AttributeError, TypeError)):
        res.not_a_field = 1
    assert not hasattr(res, "not_a_field")


@pytest.mark.parametrize("name", RESULTS)
def test_pickle_round_trip_equals_and_stays_immutable(name):
    res = RESULTS[name]
    back = pickle.loads(pickle.dumps(res))
    assert back == res
    assert hash(back) == hash(res)
    assert copy.deepcopy(res) == res
    for path, a in _arrays(back):
        assert not a.flags.writeable, path
    for path, get in _frames(back):
        frame = get()
        if isinstance(frame, pd.DataFrame) and len(frame):
            frame.iloc[0, 0] = frame.iloc[-1, 0]
            frame["added"] = 1
            assert "added" not in get().columns


def test_results_compare_by_value():
    a = meta(YI, VI, method="REML")
    b = meta(YI.copy(), VI.copy(), method="REML")
    assert a == b and a is not b
    assert a != meta(YI, VI, method="DL")
    assert metareg(YI, VI, {"x": X}) == metareg(YI, VI, {"x": X})
    assert metareg(YI, VI, {"x": X}) != metareg(YI, VI, {"x": X}, method="DL")
    assert subgroup(YI, VI, GROUPS) == subgroup(YI, VI, GROUPS)
    assert (a == "not a result") is False
