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
