"""Which links a supplement may carry: http(s), ``doi:`` and ``mailto:`` only.

A leaf module (imports nothing from the package), used twice: the record schema refuses any
other URL when a record is loaded, and the HTML templates link only what
:func:`link_target` accepts, so a ``javascript:`` or ``data:`` URL can never become a live
``href`` even if it reaches rendering by another path. A refused URL is shown as text.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

__all__ = ["SCHEMES", "check_url", "link_target"]

#: schemes a source's ``url`` may use
SCHEMES = ("http", "https", "doi", "mailto")

_CONTROL = re.compile(r"[\x00-\x20\x7f-\x9f]")  # controls and spaces (browsers strip them)
_DOI = re.compile(r"^10\.\d{4,9}/\S+$")


def _problem(url: str) -> str | None:
    if not isinstance(url, str) or not url:
        return "must be a non-empty text"
    if _CONTROL.search(url):
        return "must not contain spaces or control characters"
    if len(url) > 2000:
        return f"is {len(url)} characters long; at most 2000"
    scheme, sep, rest = url.partition(":")
    if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme):
        return "must start with http://, https://, doi: or mailto:"
    scheme = scheme.lower()
    if scheme not in SCHEMES:
        return f"scheme {scheme + ':'!r} is not allowed (use http://, https://, doi: or mailto:)"
    if scheme in ("http", "https"):
        parts = urlsplit(url)
        if not parts.netloc or not rest.startswith("//"):
            return f"{scheme}: URL has no host"
    elif scheme == "doi" and not _DOI.match(rest):
        return "doi: must be followed by a DOI such as 10.1136/bjsports-2015-095278"
    elif scheme == "mailto" and "@" not in rest:
        return "mailto: must be followed by an e-mail address"
    return None


def check_url(url: str) -> str:
    """``url`` unchanged if a supplement may link it; otherwise :class:`ValueError` saying why."""
    problem = _problem(url)
    if problem:
        raise ValueError(f"URL {problem}")
    return url


def link_target(url: object) -> str | None:
    """The ``href`` for ``url`` (``doi:`` resolved at doi.org), or None when it may not be linked."""
    if not isinstance(url, str) or _problem(url):
        return None
    scheme, _, rest = url.partition(":")
    if scheme.lower() == "doi":
        return "https://doi.org/" + quote(rest, safe="/:;()._-")
    return url
