"""A study without a moderator value is left out of that subgroup analysis or
meta-regression only (as metafor drops rows with missing moderators), named in a note; and
the records diff names list entries by their key, so an inserted source is one change.

The missing values are made in a copy of the BCG review by the test (Aronson 1948's
characteristics removed): synthetic gaps, not data.
"""

import re
import shutil

import numpy as np
import pytest

import evidence as ev
from evidence.report import render_report

BCG = "studies/bcg"


@pytest.fixture(scope="module")
def gap(tmp_path_factory):
    d = tmp_path_factory.mktemp("gap") / "bcg"
    shutil.copytree(BCG, d)
    p = sorted((d / "trials").glob("*.yaml"))[0]
    text = re.sub(r"\ncharacteristics:\n(  .*\n)+", "\n", p.read_text())
    p.write_text(text)
    return ev.run_review(d)


def test_subgroups_and_metaregressions_fit_on_the_studies_with_values(gap):
    a = gap.analyses[0]
    assert a.pooled.k == 13  # the main model keeps every study
    assert a.metareg_terms == (("ablat",), ("ablat", "year"))
    eff = a.effects[a.effects["computable"]]
    keep = eff["ablat"].notna().to_numpy()
    assert keep.sum() == 12
    ref = ev.metareg(eff["yi"][keep], eff["vi"][keep], eff.loc[keep, ["ablat"]],
                     method="REML")
    np.testing.assert_allclose(a.metaregs[0].coefficients["estimate"],
                               ref.coefficients["estimate"], rtol=0, atol=1e-12)
    assert a.metaregs[0].k == 12
    sg = a.subgroups["alloc"]
    assert int(sg.groups["k"].sum()) == 12
    assert any("not reported for Aronson 1948: left out of the subgroup analysis" in n
               for n in a.notes)


def test_notes_render_as_sentences_and_figures_match(gap):
    files = render_report(gap, formats=["html"])
    html = files["index.html"]
    assert "pooled. Method of treatment allocation not reported for Aronson 1948" in html
    assert "figures/bcg-tb-rr-bubble-ablat.svg" in files
    assert "figures/bcg-tb-rr-forest-alloc.svg" in files


def test_records_diff_names_sources_by_key(tmp_path):
    d = tmp_path / "bcg"
    shutil.copytree(BCG, d)
    rv = d / "review.yaml"
    rv.write_text(rv.read_text().replace(
        "sources:\n", "sources:\n  - key: ADDED\n    kind: tertiary\n    description: a "
                      "source added by the test\n", 1))
    out = ev.diff_reviews(BCG, d)
    f = out.fields
    assert set(f["field"]) == {"sources[ADDED].key", "sources[ADDED].kind",
                               "sources[ADDED].description"}


@pytest.mark.parametrize("keep", [1, 2])
def test_one_or_two_studies_render_in_every_format(tmp_path, keep):
    """A copy of the BCG review with only Aronson 1948 (and Rosenthal 1960, the same
    allocation): no subgroups to compare, no meta-regression, no analyses around the fit —
    each said in a note; every format renders (k = 1 failed in the templates, and k = 2 with
    one allocation level raised in subgroup)."""
    d = tmp_path / "bcg"
    shutil.copytree(BCG, d)
    trials = sorted((d / "trials").glob("*.yaml"))
    keepers = {trials[0].name} if keep == 1 else {trials[0].name, trials[2].name}
    for t in trials:
        if t.name not in keepers:
            t.unlink()
    res = ev.run_review(d)
    a = res.analyses[0]
    assert a.pooled.k == keep and not a.subgroups and not a.metaregs
    assert any("subgroups by method of treatment allocation" in n for n in a.notes)
    files = render_report(res, formats=["html", "md", "tex"])
    assert "Subgroups by method of treatment allocation" in files["index.html"] or \
        "subgroups by method of treatment allocation" in files["index.html"].lower()
    assert not re.search(r"\b1 studies", files["supplement.md"])
