"""Format parity (issue 10, item 4) and inert record text in Markdown and LaTeX (issue 11, item 4).

HTML, Markdown and LaTeX are rendered from one context; these tests derive the section
headings, figure references and tables from the rendered files and compare them.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import jinja2

from evidence.report.writer import _latex, _md_text, make_environment

REVIEWS = ["studies", "studies/bcg"]


def _html_headings(page: str, level: int) -> set[str]:
    found = re.findall(rf"<h{level}[^>]*>(.*?)</h{level}>", page, flags=re.S)
    return {" ".join(html.unescape(re.sub(r"<[^>]+>", "", h)).split()) for h in found}


def _md_headings(md: str, level: int) -> set[str]:
    return {m.strip() for m in re.findall(rf"^{'#' * level} (.+)$", md, flags=re.M)}


def _tex_headings(tex: str, level: int) -> set[str]:
    cmd = {2: "section", 3: "subsection"}[level]
    return {m.strip() for m in re.findall(rf"^\\{cmd}\*\{{(.*)\}}\s*$", tex, flags=re.M)}


@pytest.mark.parametrize("rel", REVIEWS)
@pytest.mark.parametrize("level", [2, 3])
def test_section_headings_agree(render_cached, rel, level):
    files = render_cached(rel)
    in_html = _html_headings(files["index.html"], level)
    assert in_html, "the HTML has no headings at this level"
    # headings in md/tex are the HTML heading text escaped for that format
    assert _md_headings(files["supplement.md"], level) == {_md_text(h) for h in in_html}
    assert _tex_headings(files["supplement.tex"], level) == {_latex(h) for h in in_html}


@pytest.mark.parametrize("rel", REVIEWS)
def test_every_referenced_figure_is_rendered(render_cached, rel):
    files = render_cached(rel)
    md_refs = re.findall(r"!\[[^\]]*\]\((figures/[^)\s]+)\)", files["supplement.md"])
    tex_refs = re.findall(r"\\includegraphics(?:\[[^\]]*\])?\{(figures/[^}]+)\}",
                          files["supplement.tex"])
    html_figs = len(re.findall(r"<figure", files["index.html"]))
    assert len(md_refs) == len(tex_refs) == html_figs > 0
    missing = [r for r in md_refs + tex_refs if r not in files]
    assert not missing, f"referenced but not rendered: {missing}"


def _pandoc_html(md: str) -> str:
    return subprocess.run(["pandoc", "-f", "gfm", "-t", "html"], input=md, text=True,
                          capture_output=True, check=True, timeout=60).stdout


@pytest.mark.skipif(shutil.which("pandoc") is None, reason="pandoc is not installed (CI installs it)")
@pytest.mark.parametrize("rel", REVIEWS)
def test_pandoc_renders_every_table_and_heading(render_cached, rel):
    files = render_cached(rel)
    md = files["supplement.md"]
    out = _pandoc_html(md)
    md_tables = len(re.findall(r"^\|(?: ?:?-+:? ?\|)+\s*$", md, flags=re.M))
    assert md_tables == out.count("<table>") == files["index.html"].count("<table") \
        - files["index.html"].count('<table class="inner"')
    assert out.count("<h2") == len(re.findall(r"^## ", md, flags=re.M)) > 0
    assert out.count("<h3") == len(re.findall(r"^### ", md, flags=re.M))
    assert "|---" not in out, "a table separator leaked as text (missing blank line?)"


@pytest.mark.skipif(shutil.which("pdflatex") is None,
                    reason="pdflatex is not installed (CI installs TeX in .ci/run)")
@pytest.mark.parametrize("rel", REVIEWS)
def test_tex_compiles_with_pdflatex(render_cached, rel, tmp_path):
    files = render_cached(rel)
    for name, data in files.items():
        if name == "supplement.tex" or name.endswith(".pdf"):
            p = tmp_path / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data if isinstance(data, bytes) else data.encode())
    for _ in range(2):
        run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error",
                              "supplement.tex"], cwd=tmp_path, capture_output=True, text=True,
                             timeout=240)
        assert run.returncode == 0, run.stdout[-3000:]
    log = (tmp_path / "supplement.log").read_text(errors="replace")
    assert not re.search(r"^! ", log, flags=re.M)
    assert (tmp_path / "supplement.pdf").stat().st_size > 10_000


HOSTILE = ("Evil <script>alert(1)</script> <img src=x onerror=alert(2)> "
           "[click](javascript:alert(3)) \n# Injected heading\n| cell | break & $x^2$ \\input{/etc/passwd} %~_#{}")


def test_hostile_text_is_inert_in_markdown_and_latex():
    """Record text in a .md/.tex template: no HTML, link, heading, table cell or TeX command."""
    env = make_environment()
    env.loader = jinja2.DictLoader(
        {"x.md": "## {{ t }}\n\n| a |\n|---|\n| {{ t }} |\n\n{{ t }}\n",
         "x.tex": "\\section*{ {{- t -}} }\n{{ t }}\n"})
    md = env.get_template("x.md").render(t=HOSTILE)
    out = _pandoc_html(md) if shutil.which("pandoc") else ""
    for bad in ("<script", "<img", "href=\"javascript", "Injected heading</h1>"):
        assert bad not in out, bad
    assert not re.search(r"^#+ Injected", md, flags=re.M)
    if out:
        assert out.count("<h2") == 1 and out.count("<h1") == 0 and out.count("<table>") == 1
        assert "&lt;script&gt;" in out  # shown as text, not dropped
    tex_env = make_environment(latex=True)
    tex_env.loader = env.loader
    tex = tex_env.get_template("x.tex").render(t=HOSTILE)
    assert "\\input" not in tex.replace("\\textbackslash{}input", "")
    assert not re.search(r"(?<!\\)[%$&#^_~]", tex.replace("\\textasciitilde{}", "")
                         .replace("\\textasciicircum{}", "")), tex


def _first_header_after(text: str, heading: str, pattern: str) -> list[str]:
    """Header cells of the first table after ``heading`` (pattern captures the header row)."""
    row = re.search(pattern, text[text.index(heading):], flags=re.S).group(1)
    return row


@pytest.mark.parametrize("rel", REVIEWS)
def test_table1_has_the_same_columns_in_every_format(render_cached, rel):
    files = render_cached(rel)
    page = files["index.html"]
    ths = _first_header_after(page, "<h2>Table 1. Clinical studies", r"<thead><tr>(.*?)</tr></thead>")
    cols = [" ".join(html.unescape(re.sub(r"<[^>]+>", "", c)).split())
            for c in re.findall(r"<th>(.*?)</th>", ths)]
    md_row = _first_header_after(files["supplement.md"], "## Table 1.", r"\n(\|.*?)\n\|---")
    md_cols = [c.strip().replace("\\", "") for c in md_row.strip("|").split("|")]
    tex_row = _first_header_after(files["supplement.tex"], "Table 1.", r"\\toprule\n(.*?)\\\\")
    tex_cols = [c.strip() for c in tex_row.split("&")]
    assert len(cols) >= 9
    for c in cols:
        assert c in md_cols, (c, md_cols)
        assert c in tex_cols, (c, tex_cols)
