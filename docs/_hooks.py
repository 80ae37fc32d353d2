"""mkdocs hooks.

* Sphinx roles in numpy docstrings (``:func:`x```) print as plain code: mkdocstrings
  renders the roles' backquoted targets as code but leaves the role name (":func:") in
  front of them, which means nothing to a reader of the site.
* The formulas are typeset by MathJax 3 copied into the site from the
  ``django-static-mathjax`` wheel (the docs extra), so the site works offline and from the
  file system: no CDN.
"""

import re
import shutil
from pathlib import Path

MATHJAX = "javascripts/mathjax/tex-svg.js"


def on_post_build(config, **kwargs):  # noqa: ARG001 (mkdocs hook signature)
    import mathjax  # the django-static-mathjax wheel; files only

    src = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5" / "tex-svg.js"
    dst = Path(config["site_dir"]) / MATHJAX
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)

_ROLE = re.compile(r":(?:func|class|meth|mod|data|attr|obj|exc|ref|term):(?=<code>)")


def on_page_content(html, page, config, files):  # noqa: ARG001 (mkdocs hook signature)
    return _ROLE.sub("", html)
