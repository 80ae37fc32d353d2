"""Print-grade PDF layout of both bundled supplements (issue 10, item 3).

Each review is laid out once per session with the same WeasyPrint call the report uses
(:func:`evidence.report.writer.layout_pdf`); the structural rules are read from WeasyPrint's
page boxes and the written PDF (the bytes `evidence report` would write) from pypdf.

The rules, each with a small synthetic page below that breaks it, so that a checker that
cannot fail is caught:

- no table row of a body (``<tbody>``) on two pages; the repeated header rows are allowed;
- a figure's caption on the page of its image, a table's ``<caption>`` on the page of its first
  body row, a heading (and the paragraphs leading in after it) on the page where what it
  introduces starts;
- every page at least half used, except the final page and a page followed by one on which a
  ``<section>`` starts;
- every image and table inside the page's content box (nothing cut at an edge).
"""

from __future__ import annotations

import base64
import io
import os
import re
from pathlib import Path
from typing import Iterator

import pytest

weasyprint = pytest.importorskip("weasyprint")
pypdf = pytest.importorskip("pypdf")

from weasyprint.formatting_structure import boxes as wb  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

#: A page "at least half used": content from the top of the content box down to at least this
#: fraction of its height.
MIN_FILL = 0.5
#: Layout slack in CSS px (1/96 in): rounding of box edges, never a visible overlap.
EDGE_SLACK = 0.5
HEADINGS = ("h2", "h3", "h4")


# ---------------------------------------------------------------------------------------------
# the checker: page boxes of a laid-out weasyprint.Document -> a list of violations (strings)

def _flow(box) -> Iterator:
    """Every box of a page's normal flow in document order; the margin boxes (running header,
    page number) are left out."""
    stack = [box]
    while stack:
        b = stack.pop()
        if isinstance(b, wb.MarginBox):
            continue
        yield b
        stack.extend(reversed(getattr(b, "children", None) or []))


def _content_area(page) -> tuple[float, float, float, float]:
    """left, top, right, bottom of the page's content box (inside the @page margins)."""
    pb = page._page_box
    left, top = pb.content_box_x(), pb.content_box_y()
    return left, top, left + pb.width, top + pb.height


def _ink(box) -> bool:
    """A box that puts something on the page (text lines, images, table rows); containers
    are left out because a box that continues on the next page stretches to the page bottom."""
    return isinstance(box, (wb.LineBox, wb.ReplacedBox, wb.TableRowBox))


def _text(element, n: int = 60) -> str:
    return " ".join("".join(element.itertext()).split())[:n]


def _pages_of(document, match) -> dict[int, tuple[object, list[int]]]:
    """id(element) -> (element, sorted page indexes of its boxes) for boxes that match."""
    found: dict[int, tuple[object, list[int]]] = {}
    for i, page in enumerate(document.pages):
        for b in _flow(page._page_box):
            if b.element is not None and match(b):
                pages = found.setdefault(id(b.element), (b.element, []))[1]
                if i not in pages:
                    pages.append(i)
    return found


def _body_rows(document) -> dict[int, tuple[object, list[int]]]:
    """Rows outside <thead> (the header row is repeated on each page on purpose)."""
    found: dict[int, tuple[object, list[int]]] = {}
    for i, page in enumerate(document.pages):
        def visit(b, in_head: bool) -> None:
            if isinstance(b, wb.MarginBox):
                return
            in_head = in_head or (isinstance(b, wb.TableRowGroupBox) and b.element_tag == "thead")
            if isinstance(b, wb.TableRowBox) and not in_head:
                pages = found.setdefault(id(b.element), (b.element, []))[1]
                if i not in pages:
                    pages.append(i)
            for c in getattr(b, "children", None) or []:
                visit(c, in_head)
        visit(page._page_box, False)
    return found


def split_rows(document) -> list[str]:
    """Body rows whose boxes are on more than one page."""
    return [f"row '{_text(e)}' on pages {', '.join(str(p + 1) for p in pages)}"
            for e, pages in _body_rows(document).values() if len(pages) > 1]


def separated_captions(document) -> list[str]:
    """Figure captions not on the page of the figure's image (or split), table captions not on
    the page of the table's first body row."""
    out = []
    captions = _pages_of(document, lambda b: b.element_tag in ("figcaption", "caption"))
    images = _pages_of(document, lambda b: isinstance(b, wb.ReplacedBox))
    rows = _body_rows(document)
    for element, pages in captions.values():
        parent = _parent(document, element)
        if element.tag == "figcaption":
            target = [p for e, ps in images.values() if _inside(document, e, parent) for p in ps]
            what = "its figure's image"
        else:
            body = [e for e, _ in rows.values() if _inside(document, e, parent)]
            target = rows[id(body[0])][1][:1] if body else []
            what = "the table's first row"
        if len(pages) > 1 or set(target) - set(pages):
            out.append(f"{element.tag} '{_text(element)}' on page(s) "
                       f"{', '.join(str(p + 1) for p in pages)}, {what} on "
                       f"{', '.join(str(p + 1) for p in sorted(set(target))) or 'no page'}")
    return out


def orphan_headings(document) -> list[str]:
    """Headings, with the paragraphs that lead in after them, on another page than the start
    of what they introduce (the next table, figure, list or other block)."""
    out = []
    first_page = {k: v[1][0] for k, v in _pages_of(document, lambda b: True).items()}
    headings = _pages_of(document, lambda b: b.element_tag in HEADINGS)
    for element, pages in headings.values():
        following = _next_sibling(document, element)
        while following is not None and following.tag == "p":
            following = _next_sibling(document, following)
        if following is not None and following.tag not in HEADINGS \
                and id(following) in first_page and first_page[id(following)] != pages[-1]:
            out.append(f"heading '{_text(element)}' on page {pages[-1] + 1}, what it heads "
                       f"starts on page {first_page[id(following)] + 1}")
    return out


def underfilled_pages(document, min_fill: float = MIN_FILL) -> list[str]:
    """Pages less than ``min_fill`` used, other than the last page and a page whose next page
    begins with the start of a <section>."""
    out = []
    for i, page in enumerate(document.pages[:-1]):
        if _opens_a_section(document, i + 1):
            continue
        fraction = page_fill(page)
        if fraction < min_fill:
            out.append(f"page {i + 1} is {fraction:.0%} used")
    return out


def _opens_a_section(document, index: int) -> bool:
    """The first thing on page ``index`` belongs to a <section> that starts on that page."""
    starts = {k: pages[0] for k, (_, pages) in
              _pages_of(document, lambda b: b.element_tag == "section").items()}
    first_ink = next((b for b in _flow(document.pages[index]._page_box) if _ink(b)), None)
    if first_ink is None:
        return False
    parents = _element_index(document)
    element = first_ink.element
    while element is not None:
        if starts.get(id(element)) == index:
            return True
        element = parents.get(id(element))
    return False


def page_fill(page) -> float:
    """Fraction of the content box's height used: top of the box to the lowest ink."""
    _, top, _, bottom = _content_area(page)
    lowest = max((b.position_y + b.margin_height() for b in _flow(page._page_box) if _ink(b)),
                 default=top)
    return (lowest - top) / (bottom - top)


def outside_content_box(document) -> list[str]:
    """Images, tables and runs of text that reach outside the page's content box (cut off)."""
    out = []
    for i, page in enumerate(document.pages):
        left, top, right, bottom = _content_area(page)
        for b in _flow(page._page_box):
            if not isinstance(b, (wb.ReplacedBox, wb.TableBox, wb.TextBox)):
                continue
            x0, y0 = b.border_box_x(), b.border_box_y()
            x1, y1 = x0 + b.border_width(), y0 + b.border_height()
            over = max(left - x0, top - y0, x1 - right, y1 - bottom)
            if over > EDGE_SLACK:
                what = ("image" if isinstance(b, wb.ReplacedBox) else
                        "text" if isinstance(b, wb.TextBox) else b.element_tag)
                out.append(f"{what} '{_text(b.element, 40)}' on page {i + 1} reaches "
                           f"{over / 96 * 25.4:.0f} mm outside the content box")
    return out


def _element_index(document) -> dict[int, object]:
    cache = getattr(document, "_evidence_parents", None)
    if cache is None:
        cache = {}
        roots = {id(p._page_box.children[0].element): p._page_box.children[0].element
                 for p in document.pages if p._page_box.children}
        for root in roots.values():
            for parent in root.iter():
                for child in parent:
                    cache[id(child)] = parent
        document._evidence_parents = cache
    return cache


def _parent(document, element):
    return _element_index(document).get(id(element))


def _inside(document, element, ancestor) -> bool:
    parents = _element_index(document)
    while element is not None:
        if element is ancestor:
            return True
        element = parents.get(id(element))
    return False


def _next_sibling(document, element):
    parent = _parent(document, element)
    if parent is None:
        return None
    children = list(parent)
    i = next(n for n, c in enumerate(children) if c is element)
    return children[i + 1] if i + 1 < len(children) else None


def layout_problems(document) -> dict[str, list[str]]:
    return {"split rows": split_rows(document), "separated captions": separated_captions(document),
            "orphan headings": orphan_headings(document),
            "under-filled pages": underfilled_pages(document),
            "outside the content box": outside_content_box(document)}


# ---------------------------------------------------------------------------------------------
# the bundled supplements, laid out once per session

@pytest.fixture(scope="session", params=["studies", "studies/bcg"])
def supplement(request):
    """(document, pdf bytes) of one bundled review: the page `evidence report` typesets,
    laid out once and written once."""
    import evidence as ev
    import evidence.report as report
    from evidence.report.writer import layout_pdf, pdf_bytes

    laid_out = {}

    def typeset(html, base_url=None):
        laid_out["document"] = layout_pdf(html, base_url)
        return pdf_bytes(laid_out["document"])

    old = os.getcwd()
    os.chdir(ROOT)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(report, "render_pdf", typeset)
            files = report.render_report(ev.run_review(request.param), formats=["pdf"])
    finally:
        os.chdir(old)
    return laid_out["document"], files["supplement.pdf"]


@pytest.fixture(scope="session")
def rendered(supplement):
    return pypdf.PdfReader(io.BytesIO(supplement[1]))


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


def test_no_table_row_is_split_across_pages(supplement):
    assert split_rows(supplement[0]) == []


def test_captions_and_headings_stay_with_what_they_label(supplement):
    document = supplement[0]
    assert separated_captions(document) == []
    assert orphan_headings(document) == []


def test_no_page_is_less_than_half_used_except_before_a_new_section(supplement):
    assert underfilled_pages(supplement[0]) == []


def test_figures_and_tables_fit_inside_the_page(supplement):
    assert outside_content_box(supplement[0]) == []


def test_contents_list_sections_in_page_order(supplement):
    """The contents (with page numbers) follow the document: no entry points back."""
    document = supplement[0]
    links = [b.element.get("href") for b in _flow(document.pages[0]._page_box)
             if b.element_tag == "a" and (b.element.get("href") or "").startswith("#")]
    links = list(dict.fromkeys(links))
    first_page = {e.get("id"): pages[0] for e, pages in
                  _pages_of(document, lambda b: b.element_tag == "section").values()}
    assert len(links) >= 3 and all(h[1:] in first_page for h in links)
    pages = [first_page[h[1:]] for h in links]
    assert pages == sorted(pages), list(zip(links, [p + 1 for p in pages]))


def test_each_figure_is_on_one_page(supplement):
    images = _pages_of(supplement[0], lambda b: isinstance(b, wb.ReplacedBox))
    assert images, "the supplement has figures"
    assert [pages for _, pages in images.values() if len(pages) > 1] == []


# ---------------------------------------------------------------------------------------------
# the checker on small pages made to break each rule (it must be able to fail)

_PAGE = ("<style>@page { size: 150mm 150mm; margin: 10mm } body { margin: 0; font: 10pt sans-serif }"
         " td, th { border: 1px solid black } {css}</style>")


def _lay_out(body: str, css: str = "") -> object:
    return weasyprint.HTML(string="<html><body>" + _PAGE.replace("{css}", css) + body
                           + "</body></html>").render()


def _png(width: int = 40, height: int = 30) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), "steelblue").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def test_checker_finds_a_row_split_across_pages():
    rows = "".join(f"<tr><td>row {i}" + "<br>more" * 5 + "</td></tr>" for i in range(200))
    table = f"<table><thead><tr><th>Header</th></tr></thead><tbody>{rows}</tbody></table>"
    found = split_rows(_lay_out(table, "tr { break-inside: auto }"))
    assert found and all(f.startswith("row 'row ") for f in found)
    # the same table with unbreakable rows: the repeated header row is not a split row
    assert split_rows(_lay_out(table, "tr { break-inside: avoid } "
                                      "thead { display: table-header-group }")) == []


def test_checker_finds_a_caption_away_from_its_figure_or_table():
    figure = f'<figure><img src="{_png()}" alt="a figure"><figcaption>Figure 1.</figcaption></figure>'
    assert separated_captions(_lay_out(figure)) == []
    found = separated_captions(_lay_out(figure, "figcaption { break-before: page }"))
    assert found == ["figcaption 'Figure 1.' on page(s) 2, its figure's image on 1"]
    # a caption at the foot of a page, the table's first (unbreakable) row on the next
    table = ('<div style="height: 110mm"></div><table><caption>Table 2.</caption>'
             '<tbody><tr><td><div style="height: 60mm">tall row</div></td></tr></tbody></table>')
    found = separated_captions(_lay_out(table, "tr { break-inside: avoid }"))
    assert found == ["caption 'Table 2.' on page(s) 1, the table's first row on 2"]


def test_checker_finds_a_heading_left_at_the_foot_of_a_page():
    body = ('<div style="height: 115mm"></div><h3>Alone</h3>'
            '<div style="height: 60mm; break-inside: avoid">what it heads</div>')
    found = orphan_headings(_lay_out(body, "h3 { break-after: auto }"))
    assert found == ["heading 'Alone' on page 1, what it heads starts on page 2"]
    assert orphan_headings(_lay_out(body, "h3 { break-after: avoid }")) == []
    # a heading and its lead-in paragraph left behind by the table they introduce
    body = ('<div style="height: 105mm"></div><h3>Table 3</h3><p>What the table shows.</p>'
            '<table><tr><td><div style="height: 60mm">a tall row</div></td></tr></table>')
    css = "tr { break-inside: avoid }"
    found = orphan_headings(_lay_out(body, css))
    assert found == ["heading 'Table 3' on page 1, what it heads starts on page 2"]
    assert orphan_headings(_lay_out(body, css + " h3 + p { break-after: avoid }")) == []


def test_checker_finds_an_underfilled_page_unless_a_section_follows():
    body = '<p>one line</p><div style="break-before: page; height: 20mm">next page</div><p>end</p>'
    found = underfilled_pages(_lay_out(body))
    assert len(found) == 1 and re.fullmatch(r"page 1 is \d% used", found[0])
    body = '<p>one line</p><section style="break-before: page"><p>a new section</p></section>'
    assert underfilled_pages(_lay_out(body)) == []
    # a section that starts further down the next page does not excuse the empty space
    body = ('<p>one line</p><div style="break-before: page; height: 20mm">next page</div>'
            '<section><p>a new section</p></section>')
    assert len(underfilled_pages(_lay_out(body))) == 1
    # the last page may be short
    assert underfilled_pages(_lay_out('<p>one line</p>')) == []


def test_checker_finds_a_figure_taller_or_wider_than_the_page():
    tall = f'<figure style="margin: 0"><img src="{_png()}" alt="" style="height: 200mm"></figure>'
    found = outside_content_box(_lay_out(tall))
    assert len(found) == 1 and found[0].startswith("image '' on page 1 reaches ")
    wide = ('<table><tr><td style="white-space: nowrap">' + "wide " * 80
            + "</td></tr></table>")
    assert any(f.startswith("table ") for f in outside_content_box(_lay_out(wide)))
    fits = f'<figure style="margin: 0"><img src="{_png()}" alt="" style="height: 50mm"></figure>'
    assert outside_content_box(_lay_out(fits)) == []
