"""Links (issue 11 item 4): only http(s), doi: and mailto: URLs are linked, in the schema and
again at rendering, so a hostile URL that reaches a template by any path stays text."""

import jinja2
import pytest

from evidence.links import check_url, link_target
from evidence.report.writer import make_environment

GOOD = {
    "https://doi.org/10.1002/sim.4780140406": "https://doi.org/10.1002/sim.4780140406",
    "http://example.org/a?b=c#d": "http://example.org/a?b=c#d",
    "doi:10.1136/bjsports-2015-095278": "https://doi.org/10.1136/bjsports-2015-095278",
    "mailto:editor@example.org": "mailto:editor@example.org",
    "HTTPS://EXAMPLE.ORG": "HTTPS://EXAMPLE.ORG",
}
BAD = ["javascript:alert(1)", "JavaScript:alert(1)", " javascript:alert(1)",
       "java\tscript:alert(1)", "data:text/html,<script>", "vbscript:msgbox", "file:///etc/passwd",
       "//evil.example/x", "www.example.org", "https:alert(1)", "doi:nonsense", "mailto:nobody",
       "https://exa mple.org", "https://example.org/\x00", "", "ftp://example.org/x"]


@pytest.mark.parametrize("url,href", GOOD.items())
def test_allowed_urls_are_linked(url, href):
    assert check_url(url) == url
    assert link_target(url) == href


@pytest.mark.parametrize("url", BAD)
def test_other_urls_are_refused_and_never_linked(url):
    with pytest.raises(ValueError, match="URL "):
        check_url(url)
    assert link_target(url) is None


def test_index_template_shows_a_refused_url_as_text():
    """The bundled index.html's source row, given a url the schema would have refused."""
    env = make_environment()
    src = env.loader.get_source(env, "index.html")[0]
    row = src[src.index("{% for s in sources %}"):]
    row = row[:row.index("{% endfor %}") + len("{% endfor %}")]
    env.loader = jinja2.DictLoader({"row.html": row})
    sources = [{"key": "S1", "kind": "primary", "description": "d", "url": u}
               for u in ("javascript:alert(1)", "doi:10.1002/sim.4780140406")]
    html = env.get_template("row.html").render(sources=sources)
    assert 'href="javascript' not in html and "javascript:alert(1)" in html
    assert 'href="https://doi.org/10.1002/sim.4780140406"' in html
    assert html.count("<a ") == 1


def test_pdf_rendering_fetches_nothing(tmp_path):
    """A custom template naming a file resource: the PDF renders without it (a stylesheet
    that would make the page 100 mm square is not read), while data: URLs still are."""
    import io

    import pypdf

    from evidence.report.writer import render_pdf

    css = tmp_path / "page.css"
    css.write_text("@page { size: 100mm 100mm }")
    html = (f'<html lang="en"><head><title>t</title><link rel="stylesheet" href="{css.as_uri()}">'
            '<link rel="stylesheet" href="http://127.0.0.1:9/x.css">'
            '<link rel="stylesheet" href="data:text/css,p%7Bcolor:red%7D"></head>'
            '<body><p>text</p></body></html>')
    box = pypdf.PdfReader(io.BytesIO(render_pdf(html))).pages[0].mediabox
    assert round(float(box.width)) != round(100 / 25.4 * 72)
    css_html = html.replace("page.css", "x").replace("data:text/css,p%7Bcolor:red%7D",
                                                     "data:text/css,@page%7Bsize:100mm%20100mm%7D")
    box = pypdf.PdfReader(io.BytesIO(render_pdf(css_html))).pages[0].mediabox
    assert round(float(box.width)) == round(100 / 25.4 * 72)
