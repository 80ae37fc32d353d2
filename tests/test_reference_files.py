"""Structural checks of the committed R metafor fixtures in tests/reference/.

These tests do not compare numbers with the engine (the engine tests do that); they make sure
the fixture files load, say which R/metafor produced them, and carry the keys that the engine
tests read, so that a regenerated file with a changed layout fails here first.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

REFERENCE_DIR = Path(__file__).parent / "reference"
FILES = ("datasets.json", "rma.json", "escalc.json", "around.json")
VERSION_KEYS = {"R", "metafor", "metadat", "jsonlite"}
METHODS = {"FE", "EE", "DL", "REML", "ML", "PM", "HE", "SJ", "HS", "EB"}
TESTS = {"z", "knha"}
RMA_RESULT_KEYS = {
    "k", "estimate", "se", "ci_low", "ci_high", "stat", "pvalue", "tau2",
    "tau2_ci_low", "tau2_ci_high", "i2", "h2", "q", "q_df", "q_pvalue",
    "pi_low", "pi_high", "weights",
}
DATASETS = {
    "bcg", "normand1999", "hackshaw1998", "molloy2014", "raudenbush1985",
    "k1", "k2", "tau2_zero", "identical", "huge_variance", "synthetic25",
}
ESCALC_MEASURES = {"MD", "SMD", "SMDH", "ROM", "OR", "RR", "RD", "COR", "ZCOR", "MC", "SMCR", "SMCC"}
AROUND_SECTIONS = ("subgroup", "metareg", "leave_one_out", "influence", "cumulative", "regtest", "trimfill")
# Weights are fractions written with 15 significant digits; their sum can differ from 1 by a
# few units in the last place.
WEIGHT_SUM_TOL = 1e-12


def _load(name: str) -> dict:
    with open(REFERENCE_DIR / name, encoding="utf-8") as fh:
        return json.load(fh)


@pytest.mark.reference
@pytest.mark.parametrize("name", FILES)
def test_file_loads_and_has_versions(name: str) -> None:
    data = _load(name)
    assert VERSION_KEYS <= set(data["versions"]), data["versions"]
    assert data["versions"]["metafor"].startswith("3.")


@pytest.mark.reference
def test_datasets_have_matching_yi_vi() -> None:
    datasets = _load("datasets.json")["datasets"]
    assert DATASETS <= set(datasets)
    for name, d in datasets.items():
        assert isinstance(d["source"], str) and d["source"], name
        assert len(d["yi"]) == len(d["vi"]) == d["k"], name
        assert all(v > 0 for v in d["vi"]), name
        for col, values in d.get("moderators", {}).items():
            assert len(values) == d["k"], (name, col)
        for col, values in d.get("groups", {}).items():
            assert len(values) == d["k"], (name, col)


@pytest.mark.reference
def test_rma_cases_cover_grid_and_have_keys() -> None:
    data = _load("rma.json")
    assert {"rma", "confint"} <= set(data["control"])
    seen = set()
    for case in data["cases"]:
        assert {"dataset", "method", "test", "level", "call", "result"} <= set(case)
        result = case["result"]
        missing = RMA_RESULT_KEYS - set(result)
        assert not missing, (case["dataset"], case["method"], case["test"], missing)
        assert len(result["weights"]) == result["k"]
        if "error" not in case:
            assert math.isclose(sum(result["weights"]), 1.0, abs_tol=WEIGHT_SUM_TOL)
        # a null tau2 CI always says why
        if result["tau2_ci_low"] is None:
            assert "tau2_ci_error" in result or "tau2_ci_low_special" in result
        seen.add((case["dataset"], case["method"], case["test"]))
    expected = {(d, m, t) for d in DATASETS for m in METHODS for t in TESTS}
    assert expected <= seen


@pytest.mark.reference
def test_escalc_cases() -> None:
    cases = _load("escalc.json")["cases"]
    assert ESCALC_MEASURES <= {c["measure"] for c in cases}
    for case in cases:
        assert {"measure", "call", "inputs"} <= set(case)
        k = len(next(iter(case["inputs"].values())))
        assert all(len(v) == k for key, v in case["inputs"].items() if not key.endswith("_special"))
        assert len(case["yi"]) == len(case["vi"]) == k


@pytest.mark.reference
@pytest.mark.parametrize("section", AROUND_SECTIONS)
def test_around_sections(section: str) -> None:
    entries = _load("around.json")[section]
    assert entries, section
    for entry in entries:
        assert "dataset" in entry and "call" in entry, entry
