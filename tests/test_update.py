"""Updating a review: record scaffolds and the diff between two versions.

The added study records here are CLEARLY SYNTHETIC (id "synthetic-test-study", source key
"SYNTHETIC-TEST"), built in the test and written only to a copy of studies/ in tmp_path. They
are never put into studies/.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

import evidence as ev
from evidence.effects import escalc
from evidence.errors import ArgumentError, RecordError
from evidence.diff import diff_reviews
from evidence.records.scaffold import SOURCE_PLACEHOLDER, scaffold_record

STUDIES = Path(__file__).resolve().parent.parent / "studies"
SYNTH_SOURCE = "SYNTHETIC-TEST"
# the diff reports the estimate computed by the same escalc call: identical up to rounding
SAME_TOL = 1e-12


def _copy(tmp_path: Path, name: str, synthetic_source: bool = True) -> Path:
    dst = tmp_path / name
    shutil.copytree(STUDIES, dst, ignore=shutil.ignore_patterns("bcg"))
    if not synthetic_source:
        return dst
    review = yaml.safe_load((dst / "review.yaml").read_text())
    review["sources"].append({"key": SYNTH_SOURCE, "kind": "primary",
                              "description": "synthetic numbers made up for a test; not a study"})
    (dst / "review.yaml").write_text(yaml.safe_dump(review, sort_keys=False))
    return dst


def _synthetic_study(pre=(6.0, 1.5), post=(3.0, 1.8), n=12) -> dict:
    return {
        "type": "clinical", "id": "synthetic-test-study", "label": "Synthetic 2001",
        "citation": {"authors": ["Synthetic A"], "year": 2001, "source": SYNTH_SOURCE},
        "inclusion": {"status": "confirmed", "source": SYNTH_SOURCE},
        "design": "case series", "injury": "pfp",
        "sample": {"n": n, "female": n, "male": 0, "source": SYNTH_SOURCE},
        "intervention": {"strategies": ["hip-adduction-reduction"], "source": SYNTH_SOURCE},
        "timepoints": [{"id": "baseline", "label": "Baseline", "weeks": 0},
                       {"id": "post", "label": "After retraining", "weeks": 2}],
        "outcomes": [{
            "id": "pain", "name": "Pain (synthetic)", "kind": "pain", "primary": True,
            "scale": {"min": 0, "max": 10, "lower_is_better": True},
            "source": SYNTH_SOURCE,
            "measurements": [
                {"timepoint": "baseline", "source": SYNTH_SOURCE, "mean": pre[0], "sd": pre[1],
                 "n": n},
                {"timepoint": "post", "source": SYNTH_SOURCE, "mean": post[0], "sd": post[1],
                 "n": n},
            ],
        }],
    }


def _add(review_dir: Path, record: dict) -> None:
    (review_dir / "clinical" / "synthetic-test-study.yaml").write_text(
        yaml.safe_dump(record, sort_keys=False))


# --------------------------------------------------------------------------- scaffold


@pytest.mark.parametrize("template", ["clinical", "expert"])
def test_scaffold_fails_validation_until_filled(tmp_path, template):
    text = scaffold_record(template, review=STUDIES, record_id="new-record")
    data = yaml.safe_load(text)
    assert data["type"] == template and data["id"] == "new-record"
    assert SOURCE_PLACEHOLDER in text
    d = _copy(tmp_path, "r")
    sub = "clinical" if template == "clinical" else "experts"
    (d / sub / "new-record.yaml").write_text(text)
    with pytest.raises(RecordError) as err:
        ev.load_review(d)
    msg = str(err.value)
    assert f"{sub}/new-record.yaml" in msg
    assert "required field is missing" in msg or "a value is required, got null" in msg


def test_filled_scaffold_validates(tmp_path):
    data = yaml.safe_load(scaffold_record("clinical"))

    def fill(obj):
        if isinstance(obj, dict):
            return {k: (SYNTH_SOURCE if v == SOURCE_PLACEHOLDER else fill(v))
                    for k, v in obj.items()}
        return obj

    data = fill(data)
    data.update(id="synthetic-test-study", label="Synthetic 2001", design="case series",
                injury="pfp", timepoints=[], outcomes=[], disagreements=[])
    data["citation"]["authors"] = ["Synthetic A"]
    data["inclusion"]["status"] = "confirmed"
    d = _copy(tmp_path, "r")
    _add(d, data)
    loaded = ev.load_review(d)
    assert "synthetic-test-study" in {s.id for s in loaded.studies}


def test_scaffold_unknown_template():
    with pytest.raises(ArgumentError, match="template 'rct' is not one of clinical, expert"):
        scaffold_record("rct")


# --------------------------------------------------------------------------- diff


def test_diff_reports_added_study_and_new_estimate(tmp_path):
    old, new = _copy(tmp_path, "old", synthetic_source=False), _copy(tmp_path, "new")
    _add(new, _synthetic_study())
    d = diff_reviews(old, new)

    rec = d.records.set_index("record")
    assert rec.loc["synthetic-test-study", "change"] == "added"
    assert rec.loc["synthetic-test-study", "kind"] == "clinical"
    assert "review:barton2016" in rec.index  # the source added to review.yaml
    assert (d.fields["field"].str.startswith("sources[")).any()

    p = d.pooled.set_index(["injury", "strategy", "outcome_kind"])
    g = p.loc[("pfp", "hip-adduction-reduction", "pain")]
    assert (g["status_old"], g["status_new"]) == ("not poolable", "single study")
    assert (g["k_old"], g["k_new"]) == (0, 1)
    ref = escalc("SMCR", m1i=[3.0], m2i=[6.0], sd1i=[1.5], ni=[12], ri=0.5)
    assert np.isnan(g["estimate_old"])
    assert g["estimate_new"] == pytest.approx(-ref["yi"].iloc[0], abs=SAME_TOL)

    # a third consistent case series keeps the level; the conclusion now names it
    assert d.levels.empty
    c = d.conclusions.set_index(["injury", "strategy"])
    row = c.loc[("pfp", "hip-adduction-reduction")]
    assert row["change"] == "reworded" and row["level_old"] == row["level_new"] == "limited"
    assert "Synthetic 2001" in row["statement_new"] and "3 case series" in row["statement_new"]
    text = d.to_text()
    assert "added" in text and "synthetic-test-study" in text
    assert set(d.to_frames()) == {"records", "fields", "pooled", "levels", "conclusions",
                                  "analyses"}


def test_diff_reports_a_changed_level(tmp_path):
    old, new = _copy(tmp_path, "old"), _copy(tmp_path, "new")
    _add(new, _synthetic_study(pre=(3.0, 1.5), post=(6.0, 1.8)))  # synthetic: pain got worse
    d = diff_reviews(old, new)
    lv = d.levels.set_index(["injury", "strategy"])
    row = lv.loc[("pfp", "hip-adduction-reduction")]
    assert (row["level_old"], row["level_new"]) == ("limited", "conflicting")
    assert (row["rule_id_old"], row["rule_id_new"]) == ("R8-limited-uncontrolled",
                                                        "R2-conflicting")
    c = d.conclusions.set_index(["injury", "strategy"]).loc[("pfp", "hip-adduction-reduction")]
    assert (c["level_old"], c["level_new"]) == ("limited", "conflicting")
    assert "limited -> conflicting" in d.to_text().replace("[R8-limited-uncontrolled] ", "") \
        .replace(" [R2-conflicting]", "")


def test_diff_reports_edited_fields(tmp_path):
    old, new = _copy(tmp_path, "old", False), _copy(tmp_path, "new", False)
    f = new / "clinical" / "willy-2012.yaml"
    f.write_text(f.read_text().replace("followup: 1 and 3 months after retraining",
                                       "followup: 1 and 3 months after the retraining"))
    d = diff_reviews(old, new)
    rec = d.records.set_index("record")
    assert rec.loc["willy-2012", "change"] == "edited"
    fields = d.fields[d.fields["record"] == "willy-2012"]
    assert list(fields["field"]) == ["followup"]
    assert d.pooled.empty and d.levels.empty and d.conclusions.empty
    assert not d.empty
    assert "followup: '1 and 3 months after retraining" in d.to_text()
