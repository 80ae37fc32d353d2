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


def test_package_import_is_light_and_exports_resolve():
    """`import evidence` loads no scipy or pandas (the public names import on first use), and
    every name in __all__ resolves (issue 10 item 7: a no-change report run finishes fast)."""
    import subprocess
    import sys

    code = ("import sys, evidence as ev; heavy = [m for m in ('scipy', 'pandas', 'matplotlib') "
            "if m in sys.modules]; assert not heavy, heavy; "
            "missing = [n for n in ev.__all__ if getattr(ev, n, None) is None]; "
            "assert not missing, missing; from evidence import meta, plots, run_review")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_public_functions_are_not_hidden_by_their_subpackages():
    """`import evidence.meta` (a subpackage) must not replace the function `evidence.meta`."""
    import subprocess
    import sys

    code = ("import evidence as ev, evidence.meta.fit, evidence.completeness, types; "
            "bad = [n for n in ev.__all__ if isinstance(getattr(ev, n), types.ModuleType) "
            "and n != 'plots']; assert not bad, bad; assert callable(ev.meta)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
