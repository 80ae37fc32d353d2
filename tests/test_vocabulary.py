"""The core takes its names from evidence.vocabulary: every registry has exactly its keys,
unknown names raise listing the valid ones, and one parser reads every ``level``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evidence import vocabulary
from evidence.effects import MEASURES, correlation_sensitivity
from evidence.errors import ArgumentError
from evidence.meta import estimators, fit, metareg as metareg_module
from evidence.meta.bias import egger_test, trimfill
from evidence.meta.fit import meta, meta_batch
from evidence.meta.metareg import metareg
from evidence.meta.sensitivity import cumulative, leave_one_out
from evidence.meta.subgroup import subgroup
from evidence.meta.transform import TRANSFORMS

# synthetic data, no reference values: these tests compare the library with itself
YI = np.array([0.12, 0.35, 0.28, 0.61, 0.05, 0.44, 0.39])
VI = np.array([0.011, 0.021, 0.016, 0.032, 0.014, 0.025, 0.018])
X = np.array([1.0, 2.0, 2.5, 4.0, 0.5, 3.0, 3.5])
GROUPS = ["a", "a", "a", "b", "b", "b", "b"]


# ------------------------------------------------------------------------------------------
# registries


@pytest.mark.parametrize(
    "registry, names",
    [
        (MEASURES, vocabulary.MEASURES),
        (estimators.ESTIMATORS, vocabulary.METHODS),
        (TRANSFORMS, vocabulary.TRANSFORMS),
    ],
    ids=["escalc-measures", "tau2-estimators", "transforms"],
)
def test_registry_keys_equal_vocabulary(registry, names):
    assert tuple(registry) == names  # same names, same order


def test_name_tuples_are_the_vocabulary_ones():
    for module in (fit, metareg_module, estimators):
        assert module.METHODS is vocabulary.METHODS
    for module in (fit, metareg_module):
        assert module.TESTS is vocabulary.TESTS
    assert estimators.FIXED_METHODS is vocabulary.FIXED_METHODS


# ------------------------------------------------------------------------------------------
# unknown names raise, listing the options (never a silent switch to another estimator)

_BAD_METHOD = "method 'dl2' is not one of FE, EE, DL, REML, ML, PM, HE, SJ, HS, EB"


@pytest.mark.parametrize(
    "call",
    [
        lambda: meta(YI, VI, method="dl2"),
        lambda: meta_batch(pd.DataFrame({"yi": YI, "vi": VI}), method="dl2"),
        lambda: metareg(YI, VI, {"x": X}, method="dl2"),
        lambda: subgroup(YI, VI, GROUPS, method="dl2", tau2="common"),
        lambda: leave_one_out(YI, VI, method="dl2"),
        lambda: egger_test(YI, VI, method="dl2"),
        lambda: trimfill(YI, VI, method="dl2"),
        lambda: estimators.estimate_tau2("dl2", estimators.Groups(np.array([7])), YI, VI),
    ],
    ids=["meta", "meta_batch", "metareg", "subgroup", "leave_one_out", "egger", "trimfill",
         "estimate_tau2"],
)
def test_unknown_method_raises_with_the_options(call):
    with pytest.raises(ArgumentError, match=_BAD_METHOD):
        call()


# ------------------------------------------------------------------------------------------
# one level parser


@pytest.mark.parametrize(
    "call",
    [
        lambda lv: meta(YI, VI, level=lv).to_frame(),
        lambda lv: meta_batch(pd.DataFrame({"yi": YI, "vi": VI}), level=lv),
        lambda lv: metareg(YI, VI, {"x": X}, level=lv).coefficients,
        lambda lv: subgroup(YI, VI, GROUPS, level=lv).groups,
        lambda lv: subgroup(YI, VI, GROUPS, tau2="common", level=lv).groups,
        lambda lv: leave_one_out(YI, VI, level=lv),
        lambda lv: cumulative(YI, VI, level=lv),
        lambda lv: egger_test(YI, VI, level=lv).to_frame(),
        lambda lv: trimfill(YI, VI, level=lv).to_frame(),
        lambda lv: correlation_sensitivity("SMCR", m1i=[38.5, 30.0], m2i=[30.6, 25.0],
                                           sd1i=[15.0, 12.0], ni=[20, 30], level=lv),
    ],
    ids=["meta", "meta_batch", "metareg", "subgroup-separate", "subgroup-common",
         "leave_one_out", "cumulative", "egger", "trimfill", "correlation_sensitivity"],
)
def test_level_as_fraction_or_percent_is_the_same(call):
    pd.testing.assert_frame_equal(call(0.9), call(90))


@pytest.mark.parametrize("level", [0, 1, 100, -5, "0.95", float("nan"), True])
@pytest.mark.parametrize(
    "call",
    [
        lambda lv: meta(YI, VI, level=lv),
        lambda lv: metareg(YI, VI, {"x": X}, level=lv),
        lambda lv: subgroup(YI, VI, GROUPS, level=lv),
        lambda lv: correlation_sensitivity("SMCR", m1i=[38.5], m2i=[30.6], sd1i=[15.0],
                                           ni=[20], level=lv),
    ],
    ids=["meta", "metareg", "subgroup", "correlation_sensitivity"],
)
def test_bad_level_raises_naming_it(call, level):
    with pytest.raises(ArgumentError, match=r"^level "):
        call(level)


def test_parse_level_refuses_the_ambiguous_one():
    assert vocabulary.parse_level(95) == 0.95
    assert vocabulary.parse_level(0.95) == 0.95
    with pytest.raises(ArgumentError, match="level 1 must lie in"):
        vocabulary.parse_level(1)
