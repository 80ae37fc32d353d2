"""Render the supplement from templates and write it atomically.

Rendering never computes statistics: it receives a context built from the frames and result
objects. Output files are first rendered in memory, then written to temporary files in the
output directory and moved into place with :func:`os.replace`, so a run that fails leaves the
previous reports untouched.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Mapping

import jinja2

__all__ = ["make_environment", "render", "render_pdf", "write_atomic", "write_files"]

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


def _md_cell(value: Any) -> str:
    s = "" if value is None else str(value)
    return s.replace("|", "\\|").replace("\n", " ")


_LATEX_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
                  "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "\\": r"\textbackslash{}", "—": "---", "–": "--", "≥": r"$\geq$",
                  "≤": r"$\leq$", "±": r"$\pm$", "→": r"$\rightarrow$", "τ": r"$\tau$",
                  "²": r"\textsuperscript{2}", "×": r"$\times$", "↓": r"$\downarrow$",
                  "↑": r"$\uparrow$", "χ": r"$\chi$", "−": "--"}


def _latex(value: Any) -> str:
    s = "" if value is None else str(value)
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in s)


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
        finalize=_latex_finalize if latex else None,
        # LaTeX uses "{#1}" for macro arguments, so TeX templates take another comment marker
        **({"comment_start_string": "((#", "comment_end_string": "#))"} if latex else {}),
    )
    env.filters["int"] = _fmt_int
    env.filters["missing"] = _missing
    env.filters["md"] = _md_cell
    env.filters["latex"] = _latex
    return env


class _RawLatex(str):
    """A string that is already LaTeX (not escaped again)."""


def _latex_finalize(value: Any) -> str:
    if isinstance(value, _RawLatex):
        return value
    return _latex(value)


def render(env: jinja2.Environment, template: str, context: Mapping[str, Any]) -> str:
    return env.get_template(template).render(**context)


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same directory + rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
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


def write_files(out_dir: str | Path, files: Mapping[str, str | bytes]) -> list[Path]:
    """Write every rendered file (relative name -> content) into ``out_dir``.

    Everything is rendered before this is called; each file is written atomically.
    """
    out = Path(out_dir)
    written = []
    for name, data in files.items():
        target = out / name
        write_atomic(target, data)
        written.append(target)
    return written


def render_pdf(html: str, base_url: str | Path | None = None) -> bytes:
    """Render HTML to PDF with WeasyPrint, reproducibly.

    Font subsetting stamps the current time into embedded fonts unless SOURCE_DATE_EPOCH is
    set; it is fixed here for the duration of the call so two runs give identical bytes.
    The PDF is tagged (WeasyPrint's PDF/UA-1 variant: structure tree, MarkInfo, language and
    document title from ``<html lang>`` and ``<title>``).
    """
    import weasyprint  # lazy: only the PDF output needs it

    old = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = "946684800"  # 2000-01-01, a fixed stamp
    try:
        return weasyprint.HTML(string=html, base_url=str(base_url) if base_url else None
                               ).write_pdf(pdf_variant="pdf/ua-1")
    finally:
        if old is None:
            os.environ.pop("SOURCE_DATE_EPOCH", None)
        else:
            os.environ["SOURCE_DATE_EPOCH"] = old
