from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import matplotlib

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parent.parent
STUDIES = ROOT / "studies"


@pytest.fixture(scope="session")
def studies_dir() -> Path:
    return STUDIES


@pytest.fixture(scope="session")
def barton():
    import evidence as ev

    return ev.load_review(STUDIES)


@pytest.fixture()
def review_copy(tmp_path: Path) -> Path:
    """A writable copy of the bundled Barton review (nested reviews left out)."""
    dst = tmp_path / "studies"
    shutil.copytree(STUDIES, dst, ignore=shutil.ignore_patterns("bcg", "__pycache__"))
    return dst


_RENDERED: dict[str, dict] = {}


@pytest.fixture(scope="session")
def render_cached():
    """Render a bundled review (all four formats) once per test session.

    ``render_cached("studies")`` -> {file name: content}; rendered from the repository root
    so that paths in the output match `evidence report` run there.
    """
    import os

    from evidence.report import render_report
    import evidence as ev

    def get(rel: str) -> dict:
        if rel not in _RENDERED:
            old = os.getcwd()
            os.chdir(ROOT)
            try:
                _RENDERED[rel] = render_report(ev.run_review(rel))
            finally:
                os.chdir(old)
        return _RENDERED[rel]

    return get
