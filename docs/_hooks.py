"""mkdocs hooks: Sphinx roles in numpy docstrings (``:func:`x```) print as plain code.

mkdocstrings renders the roles' backquoted targets as code but leaves the role name
(":func:") in front of them; that name means nothing to a reader of the site.
"""

import re

_ROLE = re.compile(r":(?:func|class|meth|mod|data|attr|obj|exc|ref|term):(?=<code>)")


def on_page_content(html, page, config, files):  # noqa: ARG001 (mkdocs hook signature)
    return _ROLE.sub("", html)
