"""Render the supplement from templates and write it atomically.

Rendering never computes statistics: it receives a context built from the frames and result
objects. Output files are first rendered in memory, then written to temporary files in the
output directory and moved into place with :func:`os.replace`, so a run that fails leaves the
previous reports untouched.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any, Mapping

import jinja2

__all__ = ["layout_pdf", "make_environment", "pdf_bytes", "render", "render_pdf", "write_atomic",
           "write_files"]

_TEMPLATE_DIR = Path(__file__).parent / "templates"


def _fmt_int(value: Any) -> str:
    if value is None:
        return "—"
    try:
        f = float(value)
    except (TypeError, ValueError):
        return str(value)
    return "—" if f != f else f"{int(round(f))}"


def _missing(value: Any, text: str = "not reported") -> Any:
    if value is None:
        return text
    if isinstance(value, float) and value != value:
        return text
    if isinstance(value, str) and not value.strip():
        return text
    return value


class _RawMd(str):
    """A string that is already Markdown (not escaped again)."""


# every ASCII character that can start Markdown/HTML markup inline (CommonMark allows a
# backslash before any ASCII punctuation); "&" stops entities, "<" raw HTML and autolinks,
# "[" "]" links and images, "|" table cells, "$" "^" "~" "@" pandoc extensions
_MD_INLINE = set("\\`*_[]<>|&$^~@{}#!")
_MD_LINE_START = re.compile(r"^(\s*)([#>+=-]|\d+[.)](?=\s|$))")


def _md_text(value: Any) -> str:
    """Escape text for Markdown so that it renders as the same text and nothing else.

    Newlines become spaces (a value can never start a heading, list or table row), every
    inline markup character is backslash-escaped, and a leading block marker is escaped.
    """
    if isinstance(value, _RawMd):
        return value
    s = "" if value is None else str(value)
    s = " ".join(s.splitlines())
    s = "".join("\\" + ch if ch in _MD_INLINE else ch for ch in s)
    return _RawMd(_MD_LINE_START.sub(lambda m: m.group(1) + "\\" + m.group(2), s))


def _md_cell(value: Any) -> str:
    """Text for a Markdown table cell (the same escaping as all other Markdown text)."""
    return _md_text(value)


def _md_code(value: Any) -> str:
    """Inline code: the text verbatim inside a backtick fence longer than any run in it."""
    s = " ".join(("" if value is None else str(value)).splitlines())
    runs = [len(r) for r in re.findall(r"`+", s)]
    fence = "`" * (max(runs, default=0) + 1)
    return _RawMd(f"{fence} {s} {fence}" if runs else f"{fence}{s}{fence}")


_SAFE_PATH = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _file_id(value: Any) -> str:
    """A figure id used in a file path (Markdown or LaTeX): only safe file-name characters."""
    s = str(value)
    if not _SAFE_PATH.fullmatch(s):
        raise ValueError(f"figure id {s!r} is not a safe file name")
    return _RawPath(s)


_LATEX_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
                  "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "\\": r"\textbackslash{}", "—": "---", "–": "--", "≥": r"$\geq$",
                  "≤": r"$\leq$", "±": r"$\pm$", "→": r"$\rightarrow$", "‹": r"\guilsinglleft{}", "›": r"\guilsinglright{}", "τ": r"$\tau$",
                  "²": r"\textsuperscript{2}", "×": r"$\times$", "↓": r"$\downarrow$",
                  "↑": r"$\uparrow$", "χ": r"$\chi$", "−": r"\textminus{}",
                  "←": r"$\leftarrow$", "·": r"\textperiodcentered{}", "✓": r"$\checkmark$",
                  "✗": r"$\times$", "✱": r"$\ast$", "<": r"\textless{}",
                  ">": r"\textgreater{}", "[": "{[}", "]": "{]}", "\n": " ", "\r": " ",
                  "\t": " ", "α": r"$\alpha$", "β": r"$\beta$", "μ": r"$\mu$",
                  "σ": r"$\sigma$", "Δ": r"$\Delta$", "≈": r"$\approx$", "≠": r"$\neq$",
                  "…": r"\dots{}", "‘": "`", "’": "'", "“": "``", "”": "''", "°": r"\textdegree{}",
                  "\u00a0": "~", "µ": r"$\mu$", "³": r"\textsuperscript{3}",
                  "¹": r"\textsuperscript{1}", "½": r"\textonehalf{}"}


def _latex_char(ch: str) -> str:
    if ch in _LATEX_SPECIAL:
        return _LATEX_SPECIAL[ch]
    if ord(ch) < 0x20:
        return " "
    if ord(ch) < 0x180:  # Latin-1 and Latin Extended-A: T1 fonts + utf8 inputenc have them
        return ch
    # anything else stays visible as its code point instead of breaking the compile
    return rf"{{[}}U+{ord(ch):04X}{{]}}"


def _latex(value: Any) -> str:
    s = "" if value is None else str(value)
    # "--" typed in text is two hyphens, not an en dash ligature
    return "".join("-{}" if ch == "-" and s[i + 1:i + 2] == "-" else _latex_char(ch)
                   for i, ch in enumerate(s))


def make_environment(template_dir: str | Path | None = None, *,
                     latex: bool = False) -> jinja2.Environment:
    """A Jinja environment: autoescape on for HTML/XML/SVG templates.

    ``template_dir``: a user directory whose templates override the bundled ones by name.
    ``latex``: every ``{{ expression }}`` is escaped for LaTeX (the LaTeX counterpart of
    autoescape), so record text can never inject TeX commands.
    """
    loaders: list[jinja2.BaseLoader] = []
    if template_dir is not None:
        loaders.append(jinja2.FileSystemLoader(str(template_dir)))
    loaders.append(jinja2.FileSystemLoader(str(_TEMPLATE_DIR)))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "htm", "xml", "svg"),
                                            default_for_string=True, default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=_latex_finalize if latex else _by_extension_finalize,
        # LaTeX uses "{#1}" for macro arguments, so TeX templates take another comment marker
        **({"comment_start_string": "((#", "comment_end_string": "#))"} if latex else {}),
    )
    env.filters["int"] = _fmt_int
    env.filters["missing"] = _missing
    env.filters["md"] = _md_cell
    env.filters["latex"] = _latex
    env.filters["mdcode"] = _md_code
    env.filters["fileid"] = _file_id
    return env


class _RawLatex(str):
    """A string that is already LaTeX (not escaped again)."""


class _RawPath(_RawLatex, _RawMd):
    """A safe file-name fragment, the same in LaTeX and Markdown."""


def _latex_finalize(value: Any) -> str:
    if isinstance(value, _RawLatex):
        return value
    return _latex(value)


@jinja2.pass_context
def _by_extension_finalize(context: Any, value: Any) -> Any:
    """Markdown templates escape every ``{{ expression }}`` for Markdown (like autoescape)."""
    name = getattr(context, "name", None) or ""
    if name.endswith(".md"):
        return _md_text(value)
    return value


def render(env: jinja2.Environment, template: str, context: Mapping[str, Any]) -> str:
    return env.get_template(template).render(**context)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same directory + rename.

    The file gets the mode a plain ``open()`` would give it (0666 less the umask: 0644 under
    umask 022), not the 0600 of the temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, mode, **({} if mode == "wb" else {"encoding": "utf-8",
                                                               "newline": "\n"})) as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _as_bytes(data: str | bytes) -> bytes:
    return data if isinstance(data, bytes) else data.encode("utf-8")


def write_files(out_dir: str | Path, files: Mapping[str, str | bytes]) -> list[Path]:
    """Write every rendered file (relative name -> content) into ``out_dir``.

    Everything is rendered before this is called; each file is written atomically, and only
    if its content differs from the file already there (an unchanged file keeps its inode
    and mtime). Returns the paths written.
    """
    out = Path(out_dir)
    written = []
    for name, data in files.items():
        target = out / name
        try:
            if target.is_file() and target.read_bytes() == _as_bytes(data):
                continue
        except OSError:
            pass
        write_atomic(target, data)
        written.append(target)
    return written


def layout_pdf(html: str, base_url: str | Path | None = None):
    """Lay out and paginate HTML with WeasyPrint: the ``weasyprint.Document`` the PDF is
    written from (its ``pages`` carry the box tree, for layout checks)."""
    import weasyprint  # lazy: only the PDF output needs it

    return weasyprint.HTML(string=html, base_url=str(base_url) if base_url else None
                           ).render(pdf_variant=PDF_VARIANT)


#: WeasyPrint's tagged PDF/UA-1 variant: structure tree, MarkInfo, language and document
#: title from ``<html lang>`` and ``<title>``.
PDF_VARIANT = "pdf/ua-1"


def pdf_bytes(document) -> bytes:
    """The PDF of a laid-out document (:func:`layout_pdf`), reproducibly.

    Font subsetting stamps the current time into embedded fonts unless SOURCE_DATE_EPOCH is
    set; it is fixed here for the duration of the call so two runs give identical bytes.
    """
    old = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = "946684800"  # 2000-01-01, a fixed stamp
    try:
        return document.write_pdf(pdf_variant=PDF_VARIANT)
    finally:
        if old is None:
            os.environ.pop("SOURCE_DATE_EPOCH", None)
        else:
            os.environ["SOURCE_DATE_EPOCH"] = old


def render_pdf(html: str, base_url: str | Path | None = None) -> bytes:
    """Render HTML to a tagged PDF (PDF/UA-1) with WeasyPrint, reproducibly: the same
    bytes for the same page (see :func:`pdf_bytes`)."""
    return pdf_bytes(layout_pdf(html, base_url))
