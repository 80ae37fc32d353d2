"""The review supplement: Jinja templates rendered from the frames and result objects.

Formats: ``html`` (self-contained ``index.html``, figures inline as SVG), ``pdf``
(``supplement.pdf``, WeasyPrint from the same HTML), ``md`` (``supplement.md``) and ``tex``
(``supplement.tex``, booktabs tables, figures as files under ``figures/``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterable

from markupsafe import Markup

from .context import review_context
from .writer import make_environment, render, render_pdf, write_atomic, write_files

__all__ = ["build_report", "render_report", "FORMATS", "write_atomic",
           "write_files",
           "find_reviews"]

FORMATS = ("html", "pdf", "md", "tex")
_FILES = {"html": "index.html", "pdf": "supplement.pdf", "md": "supplement.md",
          "tex": "supplement.tex"}


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


def _as_results(review):
    """The ReviewResults to render; rendering computes nothing, so anything else is an error."""
    if not all(hasattr(review, a) for a in ("parts", "frames", "analyses", "options")):
        raise TypeError(f"render_report renders a ReviewResults (from evidence.run_review), "
                        f"got {type(review).__name__}; compute it first: "
                        "render_report(ev.run_review(review))")
    return review


def analyses_extra(results) -> dict[str, Any]:
    """Context and figures of the PRISMA flow, the synthesis and the planned analyses."""
    from ..plots import prisma
    from .analyses import analysis_context, analysis_figures, figure_entry
    from .synthesis import synthesis_extra

    extra: dict[str, Any] = {"analyses": [], "figures": [], "extra_sections": [],
                             "synthesis": None, "synthesis_figures": []}
    counts = {r["count"]: r["value"] for r in results.frames["counts"].records()
              if r["section"] == "prisma"}
    if counts:
        fig = figure_entry("prisma", "PRISMA 2020 flow diagram",
                           "Counts from review.yaml; boxes whose count no source reports say "
                           "'not reported'.", prisma(
                               counts, n_unconfirmed=results.completeness_summary.get(
                                   "studies_unconfirmed"),
                               n_study_records=results.completeness_summary.get("studies"),
                               unconfirmed_studies=[r["label"] for r in results.frames[
                                   "studies"].records() if r["inclusion"] == "unconfirmed"]))
        extra["figures_prisma"] = fig
        extra["figures"].append(fig)
        extra["extra_sections"].append({"id": "prisma", "title": "Study flow (PRISMA)"})
    if results.has_synthesis:
        syn = synthesis_extra(results)
        extra["synthesis"] = syn["synthesis"]
        extra["synthesis_figures"] = syn["synthesis_figures"]
        extra["figures"] += syn["figures"]
        extra["extra_sections"] += syn["extra_sections"]
    for res in results.analyses:
        ctx = analysis_context(res)
        ctx["figures"] = analysis_figures(res)
        extra["figures"] += ctx["figures"]
        extra["analyses"].append(ctx)
        extra["extra_sections"].append({"id": f"analysis-{res.spec.id}", "title": res.spec.title})
    return extra


def render_report(review, formats: Iterable[str] = FORMATS,
                  template_dir: str | Path | None = None,
                  extra: dict[str, Any] | None = None) -> dict[str, str | bytes]:
    """Render the supplement of a review in memory: relative file name -> content.

    ``review`` is a :class:`evidence.results.ReviewResults` (``ev.run_review(...)``).
    Nothing here computes a statistic or reads a record.
    """
    results = _as_results(review)
    formats = list(formats)
    bad = [f for f in formats if f not in _FILES]
    if bad:
        raise ValueError(f"format {bad[0]!r} is not one of {', '.join(_FILES)}")
    env = make_environment(template_dir)
    from .analyses import FIGURE_FORMATS

    fig_formats = tuple(f for f, needed in (
        ("svg", "html" in formats or "md" in formats),
        ("png", "pdf" in formats or "md" in formats),
        ("pdf", "tex" in formats)) if needed)
    token = FIGURE_FORMATS.set(fig_formats)
    try:
        ctx = review_context(results, extra={**analyses_extra(results), **(extra or {})})
    finally:
        FIGURE_FORMATS.reset(token)
    ctx["software"] = dict(results.software)
    ctx["records_dir"] = _records_dir_label(Path(results.directory))
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


def build_report(review, out_dir: str | Path, formats: Iterable[str] = FORMATS,
                 template_dir: str | Path | None = None,
                 progress: Callable[[str], None] | None = None) -> list[Path]:
    """Render everything first, then write each file atomically into ``out_dir``."""
    files = render_report(review, formats, template_dir)
    if progress:
        progress(f"rendered {len(files)} files")
    return write_files(out_dir, files)
