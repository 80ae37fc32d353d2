"""The review supplement: Jinja templates rendered from the frames and result objects."""

from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterable

from .context import review_context
from .writer import make_environment, render, write_atomic, write_files

__all__ = ["build_report", "render_report", "software_versions", "FORMATS", "write_atomic"]

FORMATS = ("html", "md")
_TEMPLATES = {"html": "index.html", "md": "supplement.md"}


def software_versions() -> dict[str, str]:
    """Versions of evidence and the libraries that shape its numbers and figures."""
    out = {}
    for name in ("evidence", "numpy", "scipy", "pandas", "matplotlib", "forestplot", "jinja2",
                 "pydantic"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _records_dir_label(path: Path) -> str:
    try:
        return Path(os.path.relpath(path.resolve(), Path.cwd())).as_posix()
    except ValueError:
        return path.name


def _sections(ctx: dict[str, Any]) -> list[dict[str, str]]:
    secs = list(ctx.get("extra_sections", []))
    secs += [{"id": "table1", "title": "Table 1. Clinical studies"},
             {"id": "data", "title": "Data table"},
             {"id": "experts", "title": "Expert opinion"},
             {"id": "completeness", "title": "Completeness"},
             {"id": "sources", "title": "Sources"}]
    return secs


def render_report(loaded, formats: Iterable[str] = FORMATS, template_dir: str | Path | None = None,
                  extra: dict[str, Any] | None = None) -> dict[str, str | bytes]:
    """Render the supplement of a loaded review in memory: file name -> content."""
    formats = list(formats)
    bad = [f for f in formats if f not in _TEMPLATES]
    if bad:
        raise ValueError(f"format {bad[0]!r} is not one of {', '.join(_TEMPLATES)}")
    env = make_environment(template_dir)
    ctx = review_context(loaded, extra=extra)
    ctx["software"] = software_versions()
    ctx["records_dir"] = _records_dir_label(Path(loaded.path))
    ctx["css"] = env.loader.get_source(env, "style.css")[0]
    ctx["sections"] = _sections(ctx)
    return {_TEMPLATES[f]: render(env, _TEMPLATES[f], ctx) for f in formats}


def build_report(loaded, out_dir: str | Path, formats: Iterable[str] = FORMATS,
                 template_dir: str | Path | None = None,
                 progress: Callable[[str], None] | None = None) -> list[Path]:
    """Render everything first, then write each file atomically into ``out_dir``."""
    files = render_report(loaded, formats, template_dir)
    if progress:
        progress(f"rendered {len(files)} files")
    return write_files(out_dir, files)
