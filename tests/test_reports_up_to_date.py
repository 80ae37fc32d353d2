"""reports/ in the repository is the rendered supplement of the bundled reviews; it must be
rendered again (`evidence report`) whenever the records or the templates change."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REPORTS = ROOT / "reports"
TEXT_FILES = ("supplement.md", "supplement.tex")  # no third-party bytes in these


def _comparable(text: str) -> str:
    """The text without its 'Software: ...' line (library versions differ between machines
    that install the same project on different days)."""
    return "\n".join(line for line in text.splitlines() if not line.startswith("Software: "))


@pytest.mark.parametrize("review,out", [("studies", REPORTS), ("studies/bcg", REPORTS / "bcg"),
                                        ("studies/fine1993", REPORTS / "fine1993")])
def test_committed_reports_match_the_records(render_cached, review, out):
    fresh = render_cached(review)
    stale = []
    for name in TEXT_FILES:
        committed = out / name
        assert committed.exists(), f"{committed} is missing: run `evidence report`"
        if _comparable(committed.read_text(encoding="utf-8")) != _comparable(fresh[name]):
            stale.append(name)
    assert not stale, f"{out}: {', '.join(stale)} out of date with the records: run `evidence report`"
    expected = sorted(fresh)
    present = sorted(str(p.relative_to(out)) for p in out.rglob("*")
                     if p.is_file() and p.relative_to(out).parts[0] not in ("bcg", "fine1993", ".cache"))
    # .cache/ (git-ignored) is the manifest and PDF cache `evidence report` keeps beside its output
    assert present == expected, "reports/ holds other files than a fresh render would write"


def test_rendering_twice_is_byte_identical(render_cached):
    from evidence.report import render_report
    import evidence as ev
    import os

    first = render_cached("studies/bcg")
    old = os.getcwd()
    os.chdir(ROOT)
    try:
        second = render_report(ev.run_review("studies/bcg"))
    finally:
        os.chdir(old)
    assert sorted(first) == sorted(second)
    differing = [k for k in first if first[k] != second[k]]
    assert differing == []
