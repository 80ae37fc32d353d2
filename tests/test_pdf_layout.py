"""Print-grade PDF layout of both bundled supplements (issue 10, item 3).

Each review is rendered once per session; the layout is read from WeasyPrint's own page boxes
(``HTML(...).render()``) and the written PDF from pypdf.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

weasyprint = pytest.importorskip("weasyprint")
pypdf = pytest.importorskip("pypdf")

import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

@pytest.fixture(scope="session")
def out_dir(tmp_path_factory):
    """Both bundled reviews rendered once (the CLI renders studies/ and studies/bcg)."""
    out = tmp_path_factory.mktemp("pdf-layout")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", "from evidence.cli import app; app()", "report",
                    str(ROOT / "studies"), "--out", str(out), "--format", "html,pdf"],
                   check=True, env=env, cwd=ROOT, capture_output=True)
    return out


@pytest.fixture(scope="session", params=["supplement.pdf", "bcg/supplement.pdf"])
def rendered(request, out_dir):
    return pypdf.PdfReader(io.BytesIO((out_dir / request.param).read_bytes()))


def test_every_page_has_page_x_of_y(rendered):
    n = len(rendered.pages)
    assert n > 1
    for i, page in enumerate(rendered.pages, start=1):
        text = page.extract_text()
        assert re.search(rf"\b{i}\s*of\s*{n}\b", text), f"page {i} lacks 'page {i} of {n}'"


def test_outline_bookmarks_present(rendered):
    assert len(rendered.outline) >= 3


def test_pdf_is_tagged(rendered):
    root = rendered.trailer["/Root"]
    assert "/StructTreeRoot" in root
    assert root["/MarkInfo"]["/Marked"]
    assert root.get("/Lang")
