"""The bundled BCG review (studies/bcg) against R's metadat ``dat.bcg``.

Oracle: tests/reference/datasets.json, dataset ``bcg`` (written by
tests/reference/make_reference.R from metadat 1.2-0: labels, moderators, and the yi/vi of
``escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)``).
The records hold the reported counts only; the log risk ratios are recomputed here from them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import evidence as ev
from evidence.effects import escalc
from evidence.model import wide_measurements

ROOT = Path(__file__).resolve().parents[1]
BCG = ROOT / "studies" / "bcg"
REFERENCE = json.loads((ROOT / "tests" / "reference" / "datasets.json").read_text())
DAT = REFERENCE["datasets"]["bcg"]

# datasets.json stores R's doubles with 15 significant digits (relative rounding <= 5e-16);
# 1e-12 allows for a different order of floating-point operations in log() and the sums.
REL_TOL = 1e-12


@pytest.fixture(scope="module")
def review():
    return ev.load_review(BCG)


@pytest.fixture(scope="module")
def tables(review):
    """One row per trial (in file order): tpos, tneg, cpos, cneg from the records."""
    wide = wide_measurements(review.frames().measurements)
    wide = wide[wide["outcome"] == "tb"]
    cells = wide.pivot(index="study", columns="arm", values=["events", "nonevents"])
    order = [s.id for s in review.studies]
    cells = cells.loc[order]
    return {
        "tpos": cells[("events", "vaccinated")].to_numpy(),
        "tneg": cells[("nonevents", "vaccinated")].to_numpy(),
        "cpos": cells[("events", "control")].to_numpy(),
        "cneg": cells[("nonevents", "control")].to_numpy(),
    }


def test_loads_with_thirteen_trials(review):
    assert review.id == "bcg"
    assert len(review.studies) == DAT["k"] == 13
    assert review.review.counts["trials"].value == 13
    assert {s.injury for s in review.studies} == {"tuberculosis"}
    assert all(s.intervention.strategies == ["bcg-vaccine"] for s in review.studies)
    assert all(s.arms == ["vaccinated", "control"] for s in review.studies)


def test_labels_and_moderators_match_dat_bcg(review):
    assert [s.label for s in review.studies] == DAT["labels"]
    ch = review.frames().characteristics.pivot(index="study", columns="characteristic",
                                                values="value")
    ch = ch.loc[[s.id for s in review.studies]]
    assert ch["ablat"].astype(float).tolist() == DAT["moderators"]["ablat"]
    assert ch["year"].astype(float).tolist() == DAT["moderators"]["year"]
    assert ch["alloc"].tolist() == DAT["groups"]["alloc"]
    assert [s.citation.year for s in review.studies] == DAT["moderators"]["year"]


def test_every_number_has_a_source(review):
    m = review.frames().measurements
    counts = m[m["statistic"].isin(["events", "nonevents"])]
    assert len(counts) == 4 * 13
    assert counts["value"].notna().all()
    assert (counts["source"] == "METADAT").all()
    assert (counts["source_kind"] == "tertiary").all()
    # totals are not reported as such, so the records carry none
    assert m[m["statistic"] == "total"].empty


def test_log_risk_ratios_recomputed_from_counts_match_metafor(tables):
    es = escalc("RR", ai=tables["tpos"], bi=tables["tneg"], ci=tables["cpos"],
                di=tables["cneg"])
    np.testing.assert_allclose(es["yi"].to_numpy(), DAT["yi"], rtol=REL_TOL, atol=0)
    np.testing.assert_allclose(es["vi"].to_numpy(), DAT["vi"], rtol=REL_TOL, atol=0)


def test_parent_review_skips_the_nested_bcg_review():
    parent = ev.load_review(ROOT / "studies")
    ids = {s.id for s in parent.studies}
    assert ids.isdisjoint({s.id for s in ev.load_review(BCG).studies})
    assert all(not f.startswith("studies/bcg") for f in parent.files.values())


def test_prisma_counts_not_in_the_dataset_are_null(review):
    prisma = review.review.prisma
    assert prisma["records_identified"].value is None
    assert prisma["studies_included"].value == 13
