"""One p-value style in every text output of both bundled supplements (issue 10, item 4).

In running text a p-value reads ``p = 0.012`` or ``p < 0.001`` (three decimals, a space either
side of the sign); a significance level reads ``p < 0.05`` (two decimals: 0.10, 0.05, 0.01).
In a table column headed "p" a cell holds the value alone: ``0.012``, ``<0.001`` or ``—``.
Tables of values *as printed* by a source keep the source's own text.

Scanned: ``index.html`` (with its inline SVG), ``supplement.md``, ``supplement.tex`` and every
SVG figure, for ``studies`` and ``studies/bcg``.
"""

from __future__ import annotations

import html
import re

import pytest

from evidence.formatting import p_text, pvalue

#: Anything that looks like a p-value statement: "p", "P", "p-value", "pval" followed by an
#: optional sign and a number ("p 0.39", "p=.05", "P < 0.001", "p-value: 0.2").
MENTION = re.compile(r"(?<![\w.\-])[pP](?:-?val(?:ue)?s?)?\s*:?\s*(?:[=<>≤≥]\s*)?[<>]?\s*\d*\.\d+")
IN_TEXT = re.compile(r"p = \d\.\d{3}|p < 0\.001|p [<>] 0\.(?:10|05|01)")
IN_CELL = re.compile(r"\d\.\d{3}|<0\.001|—")
AS_PRINTED = "as printed"


def _plain(name: str, text: str) -> str:
    """The text a reader sees, without markup (HTML/SVG tags and entities, TeX escapes,
    Markdown backslash escapes)."""
    if name.endswith((".html", ".svg")):
        return html.unescape(re.sub(r"<[^>]+>", "", text))
    if name.endswith(".tex"):
        for tex, char in ((r"\textless{}", "<"), (r"\textgreater{}", ">"), (r"$\leq$", "≤"),
                          (r"$\geq$", "≥"), ("---", "—")):
            text = text.replace(tex, char)
        return text
    return re.sub(r"\\(.)", r"\1", text)


def _tables(name: str, text: str) -> list[tuple[list[str], list[list[str]]]]:
    """(header cells, body rows) of every table, in the output's own syntax."""
    tables = []
    if name.endswith(".html"):
        for t in re.findall(r"<table[^>]*>(.*?)</table>", text, flags=re.S):
            if "<table" in t:
                continue  # an outer table of nested ones: its inner tables are seen alone
            rows = [[_plain(name, c).strip() for c in
                     re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", r, flags=re.S)]
                    for r in re.findall(r"<tr[^>]*>(.*?)</tr>", t, flags=re.S)]
            if rows:
                tables.append((rows[0], rows[1:]))
    elif name.endswith(".md"):
        for block in re.findall(r"((?:^\|.*\|\n)+)", text, flags=re.M):
            lines = block.strip().splitlines()
            cells = [[_plain(name, c).strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
                     for line in lines if not re.fullmatch(r"\|[-|: ]+\|", line)]
            if cells:
                tables.append((cells[0], cells[1:]))
    elif name.endswith(".tex"):
        for head, body in re.findall(r"\\toprule\n(.*?)\\midrule\n(.*?)\\bottomrule", text,
                                     flags=re.S):
            def split(line: str) -> list[str]:
                return [_plain(name, c).strip() for c in re.split(r"(?<!\\)&", line)]
            rows = [split(r) for r in body.replace(r"\endhead", "").split("\\\\")
                    if r.strip()]
            tables.append((split(head.split("\\\\")[0]), rows))
    return tables


def p_style_problems(files: dict) -> list[str]:
    found = []
    for name, data in sorted(files.items()):
        if not name.endswith((".html", ".md", ".tex", ".svg")):
            continue
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        for m in MENTION.finditer(_plain(name, text)):
            if not IN_TEXT.fullmatch(m.group()):
                found.append(f"{name}: {m.group()!r}")
        for header, rows in _tables(name, text):
            if any(AS_PRINTED in h.lower() for h in header):
                continue
            for col in [i for i, h in enumerate(header) if h == "p"]:
                for row in rows:
                    if col < len(row) and not IN_CELL.fullmatch(row[col]):
                        found.append(f"{name}: p cell {row[col]!r} in a row of {row[0]!r}")
    return found


def test_the_formatters_are_the_one_style():
    assert [p_text(v) for v in (0.01234, 0.0009, 1.0, None)] == [
        "p = 0.012", "p < 0.001", "p = 1.000", "p = —"]
    assert [pvalue(v) for v in (0.01234, 0.0009, None)] == ["0.012", "<0.001", "—"]
    assert all(IN_TEXT.fullmatch(p_text(v)) for v in (0.5, 1e-12, 0.001, 0.0009999))


@pytest.mark.parametrize("review", ["studies", "studies/bcg"])
def test_every_p_value_in_every_text_output_has_the_one_style(render_cached, review):
    files = render_cached(review)
    assert {"index.html", "supplement.md", "supplement.tex"} <= set(files)
    assert p_style_problems(files) == []


def test_the_scan_finds_every_other_style():
    bad = {"a.md": "Q = 3, p 0.394; z = 2, p <0.001; P=0.05; p-value: 0.2; p = .012\n",
           "b.tex": r"QM (p \textless{}0.001); p = 0.0120" + "\n",
           "c.html": "<p>p &lt; 0.0001</p><table><tr><th>Term</th><th>p</th></tr>"
                     "<tr><td>x</td><td>0.01</td></tr><tr><td>y</td><td>&lt; 0.001</td></tr>"
                     "</table>",
           "d.svg": "<text>p=0.2</text>"}
    found = p_style_problems(bad)
    assert found == [
        "a.md: 'p 0.394'", "a.md: 'p <0.001'", "a.md: 'P=0.05'", "a.md: 'p-value: 0.2'",
        "a.md: 'p = .012'", "b.tex: 'p <0.001'", "b.tex: 'p = 0.0120'",
        "c.html: 'p < 0.0001'", "c.html: p cell '0.01' in a row of 'x'",
        "c.html: p cell '< 0.001' in a row of 'y'", "d.svg: 'p=0.2'"]
    good = {"a.md": "| Term | p |\n|---|---|\n| x | 0.012 |\n| y | <0.001 |\n\n"
                    "z = 2, p = 0.012; Q = 9, p < 0.001; shaded: p < 0.05\n",
            "b.md": "| What | Value as printed | p |\n|---|---|---|\n| x | 3 | <0.05 |\n"}
    assert p_style_problems(good) == []
