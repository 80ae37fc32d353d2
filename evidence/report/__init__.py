"""The review supplement: Jinja templates rendered from the frames and result objects.

Formats: ``html`` (self-contained ``index.html``, figures inline as SVG), ``pdf``
(``supplement.pdf``, WeasyPrint from the same HTML), ``md`` (``supplement.md``) and ``tex``
(``supplement.tex``, booktabs tables, figures as files under ``figures/``).
"""

from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterable

from markupsafe import Markup

from .context import review_context
from .writer import make_environment, render, render_pdf, write_atomic, write_files

__all__ = ["build_report", "render_report", "software_versions", "FORMATS", "write_atomic",
           "write_files",
           "find_reviews"]

FORMATS = ("html", "pdf", "md", "tex")
_FILES = {"html": "index.html", "pdf": "supplement.pdf", "md": "supplement.md",
          "tex": "supplement.tex"}


def software_versions() -> dict[str, str]:
    """Versions of evidence and the libraries that shape its numbers and figures."""
    out = {}
    for name in ("evidence", "numpy", "scipy", "pandas", "matplotlib", "forestplot", "jinja2",
                 "pydantic", "weasyprint"):
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
             {"id": "data", "title": "Data table"}]
    if ctx.get("experts"):
        secs.append({"id": "experts", "title": "Expert opinion"})
    secs += [{"id": "completeness", "title": "Completeness"},
             {"id": "sources", "title": "Sources"}]
    return secs


def find_reviews(directory: str | Path) -> list[Path]:
    """The review in ``directory`` (if it has review.yaml) and every review nested below it."""
    root = Path(directory)
    found = sorted({p.parent for p in root.rglob("review.yaml")},
                   key=lambda p: (len(p.relative_to(root).parts), str(p)))
    return found


def analyses_extra(loaded, frames=None) -> dict[str, Any]:
    """Run the planned analyses and turn their results into context and figures."""
    from ..analysis import run_analyses
    from ..plots import prisma
    from .analyses import analysis_context, analysis_figures, figure_entry

    frames = frames if frames is not None else loaded.frames()
    extra: dict[str, Any] = {"analyses": [], "figures": [], "extra_sections": [],
                             "synthesis": None, "synthesis_figures": []}
    counts = {k: v.value for k, v in loaded.review.prisma.items()}
    if counts:
        fig = figure_entry("prisma", "PRISMA 2020 flow diagram",
                           "Counts from review.yaml; boxes whose count no source reports say "
                           "'not reported'.", prisma(counts))
        extra["figures_prisma"] = fig
        extra["figures"].append(fig)
        extra["extra_sections"].append({"id": "prisma", "title": "Study flow (PRISMA)"})
    from .synthesis import has_rules, synthesis_extra

    if has_rules(loaded.path):
        syn = synthesis_extra(loaded, frames)
        extra["synthesis"] = syn["synthesis"]
        extra["synthesis_figures"] = syn["synthesis_figures"]
        extra["figures"] += syn["figures"]
        extra["extra_sections"] += syn["extra_sections"]
    for res in run_analyses(loaded, frames):
        ctx = analysis_context(res)
        ctx["figures"] = analysis_figures(res)
        extra["figures"] += ctx["figures"]
        extra["analyses"].append(ctx)
        extra["extra_sections"].append({"id": f"analysis-{res.spec.id}", "title": res.spec.title})
    return extra


def render_report(loaded, formats: Iterable[str] = FORMATS,
                  template_dir: str | Path | None = None,
                  extra: dict[str, Any] | None = None) -> dict[str, str | bytes]:
    """Render the supplement of a loaded review in memory: relative file name -> content."""
    formats = list(formats)
    bad = [f for f in formats if f not in _FILES]
    if bad:
        raise ValueError(f"format {bad[0]!r} is not one of {', '.join(_FILES)}")
    env = make_environment(template_dir)
    frames = loaded.frames()
    from .analyses import FIGURE_FORMATS

    fig_formats = tuple(f for f, needed in (
        ("svg", "html" in formats or "md" in formats),
        ("png", "pdf" in formats or "md" in formats),
        ("pdf", "tex" in formats)) if needed)
    token = FIGURE_FORMATS.set(fig_formats)
    try:
        ctx = review_context(loaded, frames, extra={**analyses_extra(loaded, frames),
                                                    **(extra or {})})
    finally:
        FIGURE_FORMATS.reset(token)
    ctx["software"] = software_versions()
    ctx["records_dir"] = _records_dir_label(Path(loaded.path))
    ctx["css"] = Markup(env.loader.get_source(env, "style.css")[0])
    ctx["sections"] = _sections(ctx)
    files: dict[str, str | bytes] = {}
    for fig in ctx.get("figures", []):
        for ext, data in fig["files"].items():
            files[f"figures/{fig['id']}.{ext}"] = data
    if "html" in formats:
        files["index.html"] = render(env, "index.html", {**ctx, "pdf_mode": False})
    if "pdf" in formats:
        # the same page, with figures as PNG images (fast to typeset) instead of inline SVG
        files["supplement.pdf"] = render_pdf(render(env, "index.html", {**ctx,
                                                                        "pdf_mode": True}))
    if "md" in formats:
        files["supplement.md"] = render(env, "supplement.md", ctx)
    if "tex" in formats:
        files["supplement.tex"] = render(make_environment(template_dir, latex=True),
                                         "supplement.tex", ctx)
    return files


def build_report(loaded, out_dir: str | Path, formats: Iterable[str] = FORMATS,
                 template_dir: str | Path | None = None,
                 progress: Callable[[str], None] | None = None) -> list[Path]:
    """Render everything first, then write each file atomically into ``out_dir``."""
    files = render_report(loaded, formats, template_dir)
    if progress:
        progress(f"rendered {len(files)} files")
    return write_files(out_dir, files)
