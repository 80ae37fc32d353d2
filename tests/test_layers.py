"""The import contract of the layers (pyproject.toml [tool.importlinter]), checked as CI does."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("lint-imports") is None,
                    reason="import-linter is not installed (pip install '.[test]')")
def test_import_contracts_are_kept():
    r = subprocess.run(["lint-imports"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "BROKEN" not in r.stdout


def test_report_refuses_anything_but_results():
    import evidence as ev
    from evidence.report import render_report

    with pytest.raises(TypeError, match="run_review"):
        render_report(ev.load_review(ROOT / "studies" / "bcg"), ["md"])
