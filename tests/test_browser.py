"""Look at the supplement as a reader would: headless Chromium and PDF pages as images.

Needs Debian's ``chromium`` and ``poppler-utils`` (pdftoppm); ``.ci/run`` installs both. Outside
CI the tests skip with the reason when they are absent; in CI (``CI`` set) they fail instead.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from evidence.report import write_files

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PDFTOPPM = shutil.which("pdftoppm")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--hide-scrollbars"]


def _need(tool: str | None, name: str) -> str:
    if tool is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is required in CI (.ci/run installs it)")
        pytest.skip(f"{name} is not installed (apt-get install chromium poppler-utils)")
    return tool


@pytest.fixture(scope="module", params=["studies", "studies/bcg"])
def rendered(request, tmp_path_factory, render_cached):
    out = tmp_path_factory.mktemp(request.param.replace("/", "-"))
    write_files(out, render_cached(request.param))
    return out


def _png(path: Path) -> np.ndarray:
    import matplotlib.image as mpimg

    return mpimg.imread(str(path))


def test_html_is_self_contained(rendered):
    html = (rendered / "index.html").read_text()
    # no resource is fetched: no scripts, stylesheets, images or fonts from anywhere
    assert not re.search(r'<(script|link|img|iframe)\b[^>]*\b(src|href)=', html)
    assert not re.search(r"url\((?!#)", html)  # only in-document references (SVG clip paths)
    assert '<meta name="viewport"' in html
    assert "@media print" in html


def test_page_loads_without_console_errors(rendered, tmp_path):
    chromium = _need(CHROMIUM, "chromium")
    shot = tmp_path / "page.png"
    proc = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, "--enable-logging=stderr", "--v=0",
         "--window-size=1280,2000", f"--screenshot={shot}",
         (rendered / "index.html").as_uri()],
        capture_output=True, text=True, timeout=120)
    assert shot.exists(), proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line]
    assert console == [], console
    assert not re.search(r"net::ERR_", proc.stderr), proc.stderr[-2000:]
    img = _png(shot)
    assert img.shape[0] >= 1000 and img.shape[1] >= 1000
    # the page is not blank: a good share of pixels is not white
    nonwhite = (img[..., :3] < 0.9).any(axis=-1).mean()
    assert nonwhite > 0.02, nonwhite


def test_page_dom_has_tables_and_figures(rendered):
    chromium = _need(CHROMIUM, "chromium")
    proc = subprocess.run([chromium, *CHROMIUM_FLAGS, "--dump-dom",
                           (rendered / "index.html").as_uri()],
                          capture_output=True, text=True, timeout=120)
    dom = proc.stdout
    assert "Table 1. Clinical studies" in dom
    assert dom.count("<table") >= 4
    assert dom.count("<svg") >= 1  # figures inline as SVG (PRISMA at least)
    if "bcg" in rendered.name:
        assert dom.count("<svg") >= 4  # PRISMA, forest, forest by subgroup, funnel
    else:
        assert "Check against the review's stated findings" in dom


def test_pdf_pages_are_not_blank(rendered, tmp_path):
    pdftoppm = _need(PDFTOPPM, "pdftoppm")
    pdf = rendered / "supplement.pdf"
    assert pdf.read_bytes()[:5] == b"%PDF-"
    subprocess.run([pdftoppm, "-png", "-r", "40", str(pdf), str(tmp_path / "page")],
                   check=True, timeout=120)
    pages = sorted(tmp_path.glob("page*.png"))
    assert len(pages) >= 2
    for page in pages:
        img = _png(page)
        nonwhite = (img[..., :3] < 0.9).any(axis=-1).mean()
        assert nonwhite > 0.005, (page.name, nonwhite)


def test_latex_supplement_compiles(rendered, tmp_path):
    """The LaTeX supplement is a complete document: pdflatex typesets it with its figures.

    Optional tool: TeX Live is large and the issue asks for LaTeX tables, not a TeX build in
    CI, so this skips (with the reason) where pdflatex is absent."""
    pdflatex = shutil.which("pdflatex")
    if pdflatex is None:
        pytest.skip("pdflatex is not installed (apt-get install texlive-latex-recommended "
                    "texlive-latex-extra)")
    for p in rendered.rglob("*"):
        if p.is_file():
            dst = tmp_path / p.relative_to(rendered)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(p, dst)
    proc = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error",
                           "supplement.tex"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert (tmp_path / "supplement.pdf").stat().st_size > 10_000


def test_axe_no_serious_or_critical_violations(rendered):
    """axe-core in Debian's headless Chromium (never a downloaded browser)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    axe_mod = pytest.importorskip("axe_playwright_python.sync_playwright")
    exe = _need(CHROMIUM, "chromium")
    html = Path(rendered) / "index.html"
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        pg = browser.new_page()
        pg.goto(html.resolve().as_uri())
        results = axe_mod.Axe().run(pg)
        browser.close()
    bad = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, [(v["id"], v["impact"], len(v["nodes"])) for v in bad]
