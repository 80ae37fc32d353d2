"""The review supplement: Jinja templates rendered from the frames and result objects.

Formats: ``html`` (self-contained ``index.html``, figures inline as SVG), ``pdf``
(``supplement.pdf``, WeasyPrint from the same HTML), ``md`` (``supplement.md``) and ``tex``
(``supplement.tex``, booktabs tables, figures as files under ``figures/``).

Writing: one run writes its output directory as one generation (:func:`write_reports`): the
supplements of every review it rendered (the top-level one in ``OUT``, nested ones in
``OUT/sub``) are put in place together by swapping in a complete new tree, under a lock, so a
run killed at any moment, out of disk space, or run twice at once leaves ``OUT`` holding the
old or the new complete supplement, never a mix. See :mod:`evidence.report.writer`.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable, Iterable

from markupsafe import Markup

from .context import review_context
from .writer import (OutputError, check_output_dir, make_environment, output_lock, render,
                     render_pdf, replace_tree, write_atomic, write_files)

__all__ = ["build_report", "render_report", "FORMATS", "write_atomic",
           "write_files", "OutputError", "check_output_dir", "check_apart",
           "find_reviews", "inputs_fingerprint", "up_to_date", "write_report",
           "write_reports", "MANIFEST"]

#: The manifest of a rendered supplement, inside its output directory: the fingerprint of the
#: inputs and the SHA-256 of every file written. The cache lives with the output it describes
#: (deleting the output deletes the cache; two output directories never share stale entries).
#: Beside the output directory there is only its lock file ``.OUT.lock`` and, while a run
#: writes, its staging tree ``.OUT.new-*``.
MANIFEST = ".cache/manifest.json"
_MANIFEST_VERSION = 1
_PACKAGE_DIR = Path(__file__).resolve().parent.parent
#: Distributions whose version is part of a supplement's fingerprint (they shape its numbers,
#: figures, templates or PDF). Kept here, not imported from evidence.results, so that the
#: report layer does not import what the results module imports.
_FINGERPRINT_SOFTWARE = ("evidence", "numpy", "scipy", "pandas", "matplotlib", "pillow",
                         "jinja2", "markupsafe", "pydantic", "pyyaml", "weasyprint",
                         "pydyf", "tinycss2", "fonttools")

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
    if (ctx.get("certainty") or {}).get("sof"):  # the Summary of Findings leads (Cochrane)
        secs.insert(0, {"id": "sof", "title": "Summary of findings"})
    if ctx.get("whats_new"):  # a release's What's New (evidence.release) comes first
        secs.insert(0, {"id": "whats-new", "title": "What's New"})
    elif ctx.get("ongoing"):  # (a release lists them in its What's New)
        secs.append({"id": "ongoing", "title": "Ongoing studies"})
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


def _tree_files(root: Path, *, skip_reviews: bool) -> list[Path]:
    """Regular files under ``root`` (sorted), without hidden entries or caches, and without
    nested reviews when ``skip_reviews`` (their own supplement has its own manifest)."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")
                             and d != "__pycache__"
                             and not (skip_reviews and (here / d / "review.yaml").is_file()))
        found += [here / f for f in sorted(filenames)
                  if not f.startswith(".") and not f.endswith((".pyc", ".pyo"))]
    return found


def inputs_fingerprint(review_dir: str | Path, formats: Iterable[str] = FORMATS,
                       template_dir: str | Path | None = None, *,
                       records_path: bool = True) -> str:
    """SHA-256 of everything a supplement is made from, computed without loading the review.

    The records and files of the review directory (not nested reviews), the user's template
    directory, the evidence package itself (code and bundled templates), the versions of the
    libraries that shape numbers and figures, the formats asked for and (``records_path``) the
    records path as the report prints it. Equal fingerprints give byte-identical output; with
    ``records_path=False`` (the content of a release) they give the same output up to the
    printed path.
    """
    from importlib import metadata

    h = hashlib.sha256()

    def add(tag: str, data: bytes) -> None:
        h.update(tag.encode("utf-8") + b"\0" + len(data).to_bytes(8, "big") + data)

    root = Path(review_dir)
    add("formats", ",".join(formats).encode())
    if records_path:
        add("records_dir", _records_dir_label(root).encode())
    trees = [("review", root, True), ("package", _PACKAGE_DIR, False)]
    if template_dir is not None:
        trees.append(("templates", Path(template_dir), False))
    for tag, base, skip in trees:
        for f in _tree_files(base, skip_reviews=skip):
            add(f"{tag}:{f.relative_to(base).as_posix()}", f.read_bytes())
    for name in _FINGERPRINT_SOFTWARE:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            version = "not installed"
        add(f"version:{name}", version.encode())
    return h.hexdigest()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_manifest(out_dir: Path) -> dict[str, Any]:
    try:
        m = json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(m, dict) or m.get("version") != _MANIFEST_VERSION:
        return {}
    if not isinstance(m.get("files"), dict):
        return {}
    return m


def up_to_date(out_dir: str | Path, fingerprint: str) -> bool:
    """True when ``out_dir`` holds the supplement of exactly these inputs: the manifest has
    this fingerprint and every file it lists is present with its recorded SHA-256."""
    out = Path(out_dir)
    m = _read_manifest(out)
    if m.get("inputs") != fingerprint:
        return False
    for name, digest in m["files"].items():
        try:
            if _sha256((out / name).read_bytes()) != digest:
                return False
        except OSError:
            return False
    return True


def _manifest_text(files: dict[str, str | bytes], fingerprint: str | None) -> str:
    manifest = {"version": _MANIFEST_VERSION, "inputs": fingerprint,
                "files": {n: _sha256(d if isinstance(d, bytes) else d.encode("utf-8"))
                          for n, d in sorted(files.items())}}
    return json.dumps(manifest, indent=1, sort_keys=True) + "\n"


def _relative_target(out: Path, target: str | Path) -> str:
    rel = Path(os.path.relpath(os.path.abspath(target), os.path.abspath(out)))
    if rel.parts[:1] == ("..",):
        raise ValueError(f"{target} is not inside the output directory {out}")
    return rel.as_posix()


def _owned(name: str) -> bool:
    """A manifest entry that names a file inside its directory (a manifest is never trusted
    to point out of it)."""
    parts = name.split("/")
    return bool(name) and not name.startswith("/") and not any(
        p in ("", ".", "..") for p in parts)


def check_apart(out_dir: str | Path, review_dir: str | Path) -> None:
    """ValueError when the output directory is the review directory, contains it or lies
    inside it: the output tree is replaced whole, so it must be a folder of its own, and a
    supplement written into the records would change the inputs it was made from."""
    root, review = Path(out_dir).resolve(), Path(review_dir).resolve()
    if root == review or root in review.parents:
        raise ValueError(f"--out {out_dir} contains the review directory {review_dir}; the "
                         "supplement is replaced whole, so give it a folder of its own "
                         "(e.g. --out reports)")
    if review in root.parents:
        raise ValueError(f"--out {out_dir} lies inside the review directory {review_dir}; "
                         "the records would then include their own supplement, so give it a "
                         "folder outside (e.g. --out reports)")


def write_reports(out_dir: str | Path,
                  reports: Iterable[tuple[str | Path, dict[str, str | bytes], str | None]],
                  *, on_wait: Callable[[str], None] | None = None,
                  check: Callable[[], None] | None = None) -> list[Path]:
    """Write the supplements of one run into the output tree ``out_dir`` as one generation.

    ``reports``: ``(target, files, fingerprint)`` per review, ``target`` being ``out_dir``
    itself or a folder inside it (a nested review). Holding the lock of ``out_dir``, the files
    of each target's previous manifest are replaced by ``files`` and its new manifest; files
    the previous manifest listed and ``files`` lacks (figures of an analysis that was removed)
    go; everything else in ``out_dir`` (the user's files, the supplements of reviews not in
    ``reports``) stays. The change is made whole or not at all (see
    :mod:`evidence.report.writer`); nothing changed: nothing is written. Returns the paths
    (under ``out_dir`` as given) whose content changed, manifests left out. Raises
    :class:`OutputError` when the directory cannot be written, ``OUT`` then unchanged.
    ``check`` is called holding the lock, before anything is written: an exception it raises
    leaves ``OUT`` unchanged (a release uses it to see that no other release landed
    meanwhile).
    """
    out = Path(out_dir)
    entries = [(_relative_target(out, t), files, fp) for t, files, fp in reports]
    if not entries:
        return []
    with output_lock(out, on_wait=on_wait) as root:
        if check is not None:
            check()
        tree: dict[str, str | bytes] = {}
        drop: set[str] = set()
        manifests = set()
        for rel, files, fingerprint in entries:
            prefix = "" if rel == "." else rel + "/"
            old = _read_manifest(root / rel).get("files", {})
            drop |= {prefix + n for n in old if _owned(n)}
            tree.update((prefix + n, d) for n, d in files.items())
            tree[prefix + MANIFEST] = _manifest_text(files, fingerprint)
            manifests.add(prefix + MANIFEST)
        written = replace_tree(out, tree, drop)
    return [out / n for n in written if n not in manifests]


def write_report(out_dir: str | Path, files: dict[str, str | bytes],
                 fingerprint: str | None = None) -> list[Path]:
    """Write one rendered supplement into ``out_dir``; returns the paths actually written.

    The same mechanism as :func:`write_reports` for one review: files whose content is
    unchanged are not rewritten (they keep their inode and mtime); files that the previous
    manifest listed and this supplement no longer has are removed; files the manifest never
    listed (the user's) are kept; the new manifest records ``fingerprint`` and each file's
    SHA-256; ``out_dir`` holds the old or the new supplement at every moment.
    """
    return write_reports(out_dir, [(out_dir, files, fingerprint)])


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
    from .certainty import analysis_rob, certainty_context, rob_figures
    from .multilevel import multilevel_context, multilevel_figures
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
    # the contents list the sections in the order the templates place them: the synthesis,
    # the study flow, then each planned analysis
    if results.has_synthesis:
        syn = synthesis_extra(results)
        extra["synthesis"] = syn["synthesis"]
        extra["synthesis_figures"] = syn["synthesis_figures"]
        extra["figures"] += syn["figures"]
        extra["extra_sections"] += syn["extra_sections"]
    if counts:
        extra["extra_sections"].append({"id": "prisma", "title": "Study flow (PRISMA)"})
    extra["multilevel"] = []
    for key, section, found, context, figures in (
            ("analyses", "analysis", results.analyses, analysis_context, analysis_figures),
            ("multilevel", "multilevel", getattr(results, "multilevel", ()),
             multilevel_context, multilevel_figures)):
        for res in found:
            ctx = context(res)
            if key == "analyses":
                rob, tool, names = analysis_rob(results, res.spec.id)
                ctx["figures"] = figures(res, rob, tool, names)
            else:
                ctx["figures"] = figures(res)
            extra["figures"] += ctx["figures"]
            extra[key].append(ctx)
            extra["extra_sections"].append({"id": f"{section}-{res.spec.id}",
                                            "title": res.spec.title})
    extra["ongoing"] = (results.ongoing.records()
                        if getattr(results, "ongoing", None) is not None else [])
    extra["certainty"] = certainty_context(results)
    extra["rob_figures"] = rob_figures(results) if extra["certainty"] is not None else []
    extra["figures"] += extra["rob_figures"]
    if extra["certainty"] is not None:
        extra["extra_sections"].append({"id": "certainty",
                                        "title": "Risk of bias and certainty of evidence"})
    return extra


def render_report(review, formats: Iterable[str] = FORMATS,
                  template_dir: str | Path | None = None,
                  extra: dict[str, Any] | None = None,
                  cache_dir: str | Path | None = None) -> dict[str, str | bytes]:
    """Render the supplement of a review in memory: relative file name -> content.

    ``review`` is a :class:`evidence.results.ReviewResults` (``ev.run_review(...)``).
    Nothing here computes a statistic or reads a record. With ``cache_dir``, the PDF is
    looked up there by the SHA-256 of the page it is typeset from (and the WeasyPrint
    version) and stored there after typesetting; only the latest PDF is kept.
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
        files["supplement.pdf"] = _cached_pdf(render(env, "index.html",
                                                     {**ctx, "pdf_mode": True}), cache_dir)
    if "md" in formats:
        files["supplement.md"] = render(env, "supplement.md", ctx)
    if "tex" in formats:
        files["supplement.tex"] = render(make_environment(template_dir, latex=True),
                                         "supplement.tex", ctx)
    return files


def _cached_pdf(html: str, cache_dir: str | Path | None) -> bytes:
    if cache_dir is None:
        return render_pdf(html)
    from importlib import metadata

    try:
        version = metadata.version("weasyprint")
    except metadata.PackageNotFoundError:
        version = "?"
    key = _sha256(f"weasyprint {version}\n".encode() + html.encode("utf-8"))[:32]
    cache = Path(cache_dir)
    hit = cache / f"pdf-{key}.pdf"
    try:
        return hit.read_bytes()
    except OSError:
        pass
    pdf = render_pdf(html)
    try:
        for old in cache.glob("pdf-*.pdf"):
            old.unlink()
        write_atomic(hit, pdf)
    except OSError:
        pass  # a cache that cannot be written is not an error
    return pdf


def build_report(review, out_dir: str | Path, formats: Iterable[str] = FORMATS,
                 template_dir: str | Path | None = None,
                 progress: Callable[[str], None] | None = None) -> list[Path]:
    """Render everything first, then put the new supplement in ``out_dir`` whole.

    The PDF is reused from the output directory's cache when the page it is made from is
    unchanged; stale files of the previous supplement are removed; the directory holds the
    old or the new supplement at every moment (see :func:`write_report`). Returns the paths
    written; raises :class:`OutputError` when ``out_dir`` cannot be written.
    """
    formats = list(formats)
    check_output_dir(out_dir)
    if getattr(review, "directory", None):
        check_apart(out_dir, review.directory)
    fingerprint = (inputs_fingerprint(review.directory, formats, template_dir)
                   if getattr(review, "directory", None) else None)
    files = render_report(review, formats, template_dir, cache_dir=Path(out_dir) / ".cache")
    if progress:
        progress(f"rendered {len(files)} files")
    return write_report(out_dir, files, fingerprint)
