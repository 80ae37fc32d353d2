"""The ``evidence`` command: a thin typer layer over the library."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from .errors import EvidenceError, RecordError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Evidence synthesis: validate study records, pool effect sizes and "
                       "render a review supplement.")
out = Console(highlight=False, soft_wrap=False, width=160)
err = Console(stderr=True, highlight=False, width=160)

DEFAULT_DIR = Path("studies")
DEFAULT_OUT = Path("reports")


def _load(directory: Path):
    from .model import load_review

    try:
        return load_review(directory)
    except RecordError as exc:
        _die(exc.problems, EXIT_INVALID)


# Exit codes (documented in the README's CLI section); 130 = interrupted (SIGINT, Ctrl-C)
EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_WRITE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def _problems_of(exc: Exception) -> list[str]:
    return list(exc.problems) if isinstance(exc, RecordError) else [str(exc)]


def _die(problems: list[str], code: int = EXIT_INVALID) -> None:
    """One ``error:`` line per problem (each names what to fix), then exit ``code``."""
    for p in problems:
        err.print(f"error: {p}", markup=False, soft_wrap=True)
    raise typer.Exit(code)


def _review_dirs(directory: Path) -> list[Path]:
    """The reviews `report` renders from ``directory``: the same list, so the two agree."""
    from .report import find_reviews

    if not directory.is_dir():
        _die([f"{directory}: no such directory" if not directory.exists() else
              f"{directory}: not a directory (give the folder that holds review.yaml)"])
    return find_reviews(directory) or [directory]


def _compute(directory: Path):
    """Load and compute one review as `report` does; (results, problems)."""
    from .model import load_review
    from .results import run_review

    try:
        loaded = load_review(directory)
        return loaded, run_review(loaded), []
    except (EvidenceError, ValueError) as exc:
        return None, None, _problems_of(exc)


@app.command()
def validate(directory: Path = typer.Argument(DEFAULT_DIR, help="review directory; reviews "
                                              "nested below it are validated too"),
             all_gaps: bool = typer.Option(True, "--all/--blocking",
                                           help="list every gap, or only those that block "
                                                "an effect size")) -> None:
    """Validate everything `report` reads (review.yaml, rules.yaml, analyses, every record of
    every nested review) and print the completeness tables. Exit 1 on any problem."""
    from .completeness import completeness, completeness_summary

    from .records.loader import REVIEW_FILE, _record_files

    problems: list[str] = []
    valid = []
    dirs = _review_dirs(directory)
    if directory not in dirs and _record_files(directory):
        problems.append(f"{directory}: holds record files but no {REVIEW_FILE}; restore it (the "
                        "records in this folder would not be validated or rendered)")
    for d in dirs:
        loaded, _, probs = _compute(d)
        if probs:
            problems += probs
        else:
            valid.append(loaded)
    if problems:
        _die(problems)
    for loaded in valid:
        frames = loaded.frames()
        gaps = completeness(frames)
        if not all_gaps:
            gaps = gaps[gaps["severity"] == "blocks effect size"]
        summary = completeness_summary(frames)
        out.print(f"[bold]{loaded.review.title}[/] ({loaded.review.id}, {loaded.path}): "
                  "records valid.")
        out.print(f"{summary['studies']} clinical studies ({summary['studies_unconfirmed']} "
                  f"unconfirmed), {len(loaded.experts)} expert-opinion entries, "
                  f"{sum(len(b.statements) for b in loaded.biomechanics)} biomechanical "
                  f"statements, {len(loaded.review.sources)} sources"
                  f"{', rules ' + loaded.rules_file if loaded.rules_file else ''}.")
        table = Table(title="Completeness: missing values and what they block",
                      show_lines=False, header_style="bold")
        for col in ("Study", "Outcome", "Time point", "Missing", "Blocks"):
            table.add_column(col, overflow="fold")
        tp_label = {(a, b): c for a, b, c in zip(frames.timepoints["study"],
                                                 frames.timepoints["timepoint"],
                                                 frames.timepoints["label"])}
        for _, g in gaps.iterrows():
            label = g["label"] + ("" if g["inclusion"] == "confirmed"
                                  else f" ({g['inclusion']})")
            table.add_row(label, g["name"], tp_label.get((g["study"], g["timepoint"]),
                                                         g["timepoint"]),
                          g["missing"], g["blocks"])
        if len(gaps):
            out.print(table)
        else:
            out.print("No gaps." if all_gaps else "No gap blocks an effect size.")
        lead = (f" ({summary['lead_outcomes_computable']} of {summary['lead_outcomes']} "
                f"{summary['lead_kind']} outcomes)" if summary["lead_kind"] else "")
        out.print(f"{summary['values_reported']} values reported, {summary['values_missing']} "
                  f"declared but missing; {summary['outcomes_computable']} of "
                  f"{summary['outcomes']} outcomes allow an effect size{lead}; "
                  f"{summary['gaps']} gaps, {summary['gaps_blocking']} blocking.")
        _remind_ongoing(loaded)
        _note_rob(loaded)


def _note_rob(loaded) -> None:
    """One ``note:`` line per risk-of-bias judgement that differs from the tool's algorithm
    (the reviewer's judgement is kept and the supplement shows both; validate exits 0)."""
    from .certainty import assess_rob

    for st in loaded.studies:
        where = loaded.files.get(st.id, st.id)
        for i, r in enumerate(st.risk_of_bias):
            a = assess_rob(r.tool, signalling=dict(r.signalling) or None,
                           domains=dict(r.domains) or None, overall=r.overall,
                           override_reason=r.override_reason, effect=r.effect)
            for c in a.conflicts:
                out.print(f"note: {where}: {st.id}: risk_of_bias[{i}]: {c} (the reviewer's "
                          "judgement is kept; the supplement shows both)", markup=False,
                          soft_wrap=True)


def _remind_ongoing(loaded) -> None:
    """One ``reminder:`` line per ongoing study of review.yaml whose expected completion date
    has passed (a reminder, not an error: validate still exits 0)."""
    from .release import overdue_ongoing

    for o in overdue_ongoing(loaded.review):
        out.print(f"reminder: {Path(loaded.path) / 'review.yaml'}: ongoing study {o['id']} "
                  f"({o['registry']} {o['registry_id']}): expected completion "
                  f"{o['expected_completion']} has passed; check the registry for results, "
                  "then add its record or update expected_completion", markup=False,
                  soft_wrap=True)


def _render_one(directory: str, formats: list[str], templates: str | None,
                cache_dir: str) -> tuple[str, object]:
    """Load, compute and render one review (in a worker process): ("ok", files) or
    ("template" | "error", [message, ...]). Errors travel as text, since not every exception
    class survives pickling."""
    import jinja2

    from .model import load_review
    from .report import render_report
    from .results import run_review

    try:
        results = run_review(load_review(Path(directory)))
        return "ok", render_report(results, formats, templates, cache_dir=cache_dir)
    except jinja2.TemplateError as exc:
        return "template", [f"template error ({type(exc).__name__}): {exc}; nothing was written"]
    except RecordError as exc:
        return "error", list(exc.problems)
    except (EvidenceError, ValueError, OSError) as exc:
        return "error", [str(exc)]


def _render_all(jobs: list[tuple[str, list[str], str | None, str]]) -> list[tuple[str, object]]:
    """Render several reviews, in parallel processes when there are several and the machine
    has more than one core (each review's figures and PDF are independent work).
    ``EVIDENCE_JOBS`` caps the number of processes (``EVIDENCE_JOBS=1``: all in this one)."""
    import os

    cap = os.environ.get("EVIDENCE_JOBS", "").strip()
    workers = min(len(jobs), int(cap) if cap.isdigit() and int(cap) > 0 else os.cpu_count() or 1)
    if workers < 2:
        return [_render_one(*job) for job in jobs]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else None)
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        return list(pool.map(_render_one, *zip(*jobs)))


@app.command()
def report(directory: Path = typer.Argument(DEFAULT_DIR, help="review directory; reviews "
                                            "nested below it are rendered too"),
           out_dir: Path = typer.Option(DEFAULT_OUT, "--out", "-o", help="output directory"),
           formats: str = typer.Option("html,pdf,md,tex", "--format", "-f",
                                       help="comma-separated formats: html, pdf, md, tex"),
           templates: Optional[Path] = typer.Option(None, "--templates",
                                                    help="directory of templates that "
                                                         "override the bundled ones")) -> None:
    """Render the supplement of each review into the output directory, whole or not at all.

    The review in DIR goes to OUT; a review nested in DIR/sub goes to OUT/sub. Every review
    is loaded and rendered in memory before anything is written. A review whose inputs
    (records, templates, software versions, formats) are unchanged since the last run into
    OUT, with every file still as written, is not computed again (OUT/.cache/manifest.json).
    The new tree (changed files written, unchanged and the user's files linked, files of the
    previous supplement that are no longer produced left out) is built beside OUT and swapped
    in at once, under a lock (.OUT.lock), so OUT always holds one complete supplement.
    """
    from .report import (FORMATS, OutputError, check_apart, check_output_dir, find_reviews,
                         inputs_fingerprint, up_to_date, write_reports)

    if not directory.is_dir():
        _die([f"{directory}: no such directory"], EXIT_INVALID)
    fmts = [f.strip() for f in formats.split(",") if f.strip()]
    bad = [f for f in fmts if f not in FORMATS]
    if bad:
        _die([f"--format: {bad[0]!r} is not one of {', '.join(FORMATS)}"], EXIT_USAGE)
    if not fmts:
        _die([f"--format: no format given; choose from {', '.join(FORMATS)}"], EXIT_USAGE)
    if templates is not None and not templates.is_dir():
        _die([f"--templates: {templates}: no such directory"], EXIT_USAGE)
    review_dirs = find_reviews(directory) or [directory]
    try:
        check_apart(out_dir, directory)
    except ValueError as exc:
        _die([str(exc)], EXIT_USAGE)
    import signal

    def _terminated(signum, frame):  # SIGTERM (kill, a CI timeout) ends the run like Ctrl-C:
        raise KeyboardInterrupt      # the writer's clean-up runs, the old supplement stays

    signal.signal(signal.SIGTERM, _terminated)
    try:
        check_output_dir(out_dir)  # before the expensive part
        stale = []
        for d in review_dirs:
            target = out_dir / d.relative_to(directory)
            fingerprint = inputs_fingerprint(d, fmts, templates)
            if up_to_date(target, fingerprint):
                out.print(f"up to date: {target}")
            else:
                stale.append((d, target, fingerprint))
        for d, _, _ in stale:
            _load(d)  # every review is validated before anything is rendered or written
        if not stale:
            return
        with err.status(f"rendering {len(stale)} review{'s' if len(stale) != 1 else ''} ..."):
            results = _render_all([(str(d), fmts, str(templates) if templates else None,
                                    str(target / ".cache")) for d, target, _ in stale])
        for status, payload in results:
            if status != "ok":
                _die(payload, EXIT_USAGE if status == "template" else EXIT_INVALID)
        written = write_reports(out_dir, [(target, files, fingerprint) for (_, target,
                                          fingerprint), (_, files) in zip(stale, results)],
                                on_wait=lambda msg: err.print(msg, markup=False))
    except OutputError as exc:
        _die([str(exc)], EXIT_WRITE)
    except OSError as exc:  # anything the writer did not explain: still one line, exit 3
        _die([f"{exc.filename or out_dir}: cannot be written: {exc.strerror or exc}; "
              f"the previous supplement in {out_dir} is unchanged"], EXIT_WRITE)
    except KeyboardInterrupt:
        _die([f"interrupted; {out_dir} holds a complete supplement (the previous one, unless "
              "the new one had been swapped in already); run `evidence report` again"],
             EXIT_INTERRUPTED)
    done = set(written)
    for p in written:
        out.print(f"wrote {p}")
    for (_, target, _), (_, files) in zip(stale, results):
        unchanged = sum(1 for n in files if target / n not in done)
        if unchanged:
            out.print(f"unchanged: {unchanged} files in {target}")


@app.command("add-study")
def add_study(directory: Path = typer.Argument(DEFAULT_DIR, help="review directory"),
              template: str = typer.Option("clinical", "--template", "-t",
                                           help="clinical or expert"),
              record_id: Optional[str] = typer.Option(None, "--id",
                                                      help="id of the new record, e.g. "
                                                           "smith-2027 (lower case, digits, "
                                                           ". _ -)"),
              stdout: bool = typer.Option(False, "--stdout",
                                          help="print the scaffold instead of writing it")
              ) -> None:
    """Scaffold a new record with every field and a source placeholder.

    Written to DIR/clinical/<id>.yaml (or DIR/experts/) unless --stdout; an existing file is
    never overwritten. The scaffold does not validate until its values and sources are filled
    in; `evidence validate DIR` then names every field still to fill.
    """
    from .records.scaffold import TEMPLATES, scaffold_record
    from .records.schema import check_id

    if template not in TEMPLATES:
        _die([f"--template: {template!r} is not one of {', '.join(TEMPLATES)}"], EXIT_USAGE)
    if record_id is not None:
        try:
            check_id(record_id)
        except ValueError as exc:
            _die([f"--id: {exc}"], EXIT_USAGE)
    if not directory.is_dir():
        _die([f"{directory}: no such directory"])
    if not (directory / "review.yaml").is_file():
        _die([f"{directory}: no review.yaml in this directory"])
    folder = directory / ("clinical" if template == "clinical" else "experts")
    target = folder / f"{record_id or f'new-{template}-record'}.yaml"
    root = directory.resolve()
    if not target.resolve().is_relative_to(root):  # e.g. clinical/ a link out of the review
        _die([f"{target}: leads out of the review directory {directory}; refusing to write"],
             EXIT_WRITE)
    if not stdout and (target.exists() or target.is_symlink()):
        _die([f"{target} exists already; choose another --id"], EXIT_WRITE)
    try:
        text = scaffold_record(template, review=directory, record_id=record_id)
    except RecordError:
        # the records do not validate (e.g. an earlier scaffold not yet filled in): the
        # scaffold then goes without the review's vocabulary in its comments
        err.print("note: the review's records do not validate; the scaffold's comments "
                  "omit its injury and strategy ids", markup=False)
        text = scaffold_record(template, review=None, record_id=record_id)
    if stdout:
        sys.stdout.write(text)
        return
    from .report import write_atomic

    try:
        write_atomic(target, text)
    except OSError as exc:
        _die([f"{target}: cannot be written: {exc.strerror or exc}"], EXIT_WRITE)
    out.print(f"wrote {target}: fill in the values and their sources, then run "
              f"`evidence validate {directory}`")


@app.command()
def diff(old: Path = typer.Argument(..., help="the earlier review directory"),
         new: Path = typer.Argument(..., help="the updated review directory")) -> None:
    """Show what changed between two versions of a review and of every review nested in it:
    records, fields, pooled estimates, levels of evidence and conclusions."""
    from .diff import diff_reviews

    sides = []
    for d in (old, new):
        dirs = _review_dirs(d)
        sides.append({str(x.relative_to(d)): x for x in dirs})
    problems: list[str] = []
    results: dict[tuple[int, str], object] = {}
    for i, side in enumerate(sides):
        for rel, d in side.items():
            _, res, probs = _compute(d)
            problems += probs
            results[(i, rel)] = res
    if problems:
        _die(problems)
    texts = []
    for rel in sorted(set(sides[0]) | set(sides[1]), key=lambda r: (r != ".", r)):
        if rel not in sides[0]:
            texts.append(f"Review added: {sides[1][rel]}\n")
        elif rel not in sides[1]:
            texts.append(f"Review removed: {sides[0][rel]}\n")
        else:
            try:
                texts.append(diff_reviews(results[(0, rel)], results[(1, rel)]).to_text())
            except (EvidenceError, ValueError) as exc:
                _die(_problems_of(exc))
    out.print("\n".join(texts), markup=False, end="")


@app.command()
def release(directory: Path = typer.Argument(DEFAULT_DIR, help="review directory; reviews "
                                             "nested below it are released too"),
            version: str = typer.Option(..., "--version", "-V",
                                        help="name of this release, e.g. 1, 2.0 or 2026-12"),
            search_date: Optional[str] = typer.Option(None, "--search-date",
                                                      help="date of the search this release "
                                                           "covers, YYYY-MM-DD"),
            out_dir: Path = typer.Option(DEFAULT_OUT, "--out", "-o",
                                         help="output directory (releases go to "
                                              "OUT/versions/V, nested reviews to "
                                              "OUT/sub/versions/V)"),
            formats: str = typer.Option("html,pdf,md,tex", "--format", "-f",
                                        help="comma-separated formats: html, pdf, md, tex"),
            templates: Optional[Path] = typer.Option(None, "--templates",
                                                     help="directory of templates that "
                                                          "override the bundled ones"),
            current: bool = typer.Option(True, "--current/--no-current",
                                         help="also make the release the supplement in OUT "
                                              "(what OUT shows)")) -> None:
    """Release the review as version V: its supplement with a What's New section (against
    the previous release) and a release.json, in OUT/versions/V.

    Earlier versions stay as they were. A version that exists with other content is never
    overwritten (exit 3); releasing again with nothing changed (same content hash and
    search date as the latest release, or as version V) writes nothing (exit 0). The new
    release also becomes the supplement in OUT (unless --no-current), until `evidence
    report` renders changed records there.
    """
    import jinja2

    from .release import ReleaseError, check_search_date, check_version, release_reviews
    from .report import FORMATS, OutputError

    fmts = [f.strip() for f in formats.split(",") if f.strip()]
    usage = []
    bad = [f for f in fmts if f not in FORMATS]
    if bad:
        usage.append(f"--format: {bad[0]!r} is not one of {', '.join(FORMATS)}")
    elif not fmts:
        usage.append(f"--format: no format given; choose from {', '.join(FORMATS)}")
    for check, value, opt in ((check_version, version, "--version"),
                              (check_search_date, search_date, "--search-date")):
        try:
            check(value)
        except ValueError as exc:
            usage.append(f"{opt}: {exc}")
    if templates is not None and not templates.is_dir():
        usage.append(f"--templates: {templates}: no such directory")
    if usage:
        _die(usage, EXIT_USAGE)
    if not directory.is_dir():
        _die([f"{directory}: no such directory"], EXIT_INVALID)
    for d in _review_dirs(directory):
        _load(d)  # every review is validated before anything is rendered or written
    try:
        with err.status("releasing ..."):
            outcomes = release_reviews(directory, version, out_dir, search_date=search_date,
                                       formats=fmts, template_dir=templates,
                                       on_wait=lambda msg: err.print(msg, markup=False),
                                       current=current)
    except ReleaseError as exc:
        _die([str(exc)], exc.code)
    except RecordError as exc:
        _die(list(exc.problems), EXIT_INVALID)
    except OutputError as exc:
        _die([str(exc)], EXIT_WRITE)
    except jinja2.TemplateError as exc:
        _die([f"template error ({type(exc).__name__}): {exc}; nothing was written"],
             EXIT_USAGE)
    except (EvidenceError, ValueError) as exc:
        _die([f"{directory}: {exc}; nothing was written"], EXIT_INVALID)
    except OSError as exc:
        _die([f"{exc.filename or out_dir}: cannot be written: {exc.strerror or exc}; "
              f"the releases in {out_dir} are unchanged"], EXIT_WRITE)
    for o in outcomes:
        where = o.target / "versions" / o.version
        if o.status == "up to date":
            out.print(f"up to date: release {o.version} in {where} has this content "
                      f"(hash {o.content_hash[:12]}…); nothing written", markup=False)
        elif o.status == "unchanged":
            out.print(f"nothing changed since release {o.previous} of {o.directory} (same "
                      f"hash {o.content_hash[:12]}… and search date): no new version "
                      "written", markup=False)
        else:
            c = o.comparison or {}
            if c.get("first"):
                what = "first release"
            else:
                fired = sorted({f["rule"] for f in c.get("fired", [])})
                what = (f"against release {o.previous}: {len(c.get('studies_added', []))} "
                        f"studies added, {len(c.get('studies_removed', []))} removed, "
                        f"{len(c.get('studies_corrected', []))} corrected; rules fired: "
                        f"{', '.join(fired) or 'none'}")
            shown = f"; {o.target} shows it" if o.current else ""
            out.print(f"released {o.version}: {where} (hash {o.content_hash[:12]}…; "
                      f"{what}){shown}", markup=False, soft_wrap=True)


# ---------------------------------------------------------------------------------------
# evidence pool: batch pooling of a flat table (issue 12, item 5)

#: At most this many problems are listed, then "… and N more".
POOL_MAX_PROBLEMS = 10
_POOL_SHOWN = ("k", "estimate", "ci_low", "ci_high", "pvalue", "tau2", "i2")


def _die_many(problems: list[str], code: int) -> None:
    shown = problems[:POOL_MAX_PROBLEMS]
    if len(problems) > POOL_MAX_PROBLEMS:
        shown.append(f"… and {len(problems) - POOL_MAX_PROBLEMS} more")
    _die(shown, code)


def _pool_table(tbl, by_cols: list[str], rows: int = 10) -> Table:
    from .formatting import count, number, pvalue

    table = Table(header_style="bold", show_lines=False)
    for col in [*by_cols, *_POOL_SHOWN]:
        table.add_column(col, justify="left" if col in by_cols else "right")
    for _, r in tbl.head(rows).iterrows():
        cells = [str(r[c]) for c in by_cols]
        for col in _POOL_SHOWN:
            if col == "k":
                cells.append(count(r[col], "plain"))
            elif col == "pvalue":
                cells.append(pvalue(r[col], "plain"))
            else:
                cells.append(number(r[col], 2 if col == "i2" else 4, "plain"))
        table.add_row(*cells)
    return table


@app.command()
def pool(file: Path = typer.Argument(..., help="a flat table, one row per study: .csv, .tsv "
                                     "or .parquet"),
         by: Optional[str] = typer.Option(None, "--by", help="comma-separated group columns, "
                                          "e.g. outcome,subgroup (none: one analysis of all "
                                          "rows)"),
         yi: str = typer.Option("yi", "--yi", help="column of the effect sizes"),
         vi: Optional[str] = typer.Option(None, "--vi", help="column of the sampling "
                                          "variances [default: vi]"),
         sei: Optional[str] = typer.Option(None, "--sei", help="column of standard errors, "
                                           "instead of --vi (vi = sei²)"),
         method: str = typer.Option("REML", "--method", "-m", help="tau² estimator: FE, EE, "
                                    "DL, REML, ML, PM, HE, SJ, HS, EB"),
         test: str = typer.Option("z", "--test", help="z or knha (Hartung-Knapp)"),
         level: float = typer.Option(0.95, "--level", help="confidence level (0.95 or 95)"),
         out_file: Optional[Path] = typer.Option(None, "--out", "-o", help="write every column "
                                                 "of every group: .csv, .tsv or .parquet "
                                                 "(default: print the first rows)")) -> None:
    """Pool one meta-analysis per group of a flat table (all groups at once, as meta_batch).

    The output has the columns of evidence.meta_batch: the group columns, k, k_dropped and
    every scalar field of a fit. Rows with yi or vi missing are dropped (counted in
    k_dropped). A bad value is reported with its data row (1-based, the header not counted)
    and column. Exit 0 ok, 1 invalid or unreadable data, 2 bad options, 3 cannot write.
    """
    import contextlib
    import warnings

    from .errors import TableError
    from .tables import FORMATS, parquet_missing, table_format
    from .vocabulary import METHODS, TESTS, parse_level

    usage: list[str] = []
    if method.upper() not in METHODS:
        usage.append(f"--method: {method!r} is not one of {', '.join(METHODS)}")
    if test.lower() not in TESTS:
        usage.append(f"--test: {test!r} is not one of {', '.join(TESTS)}")
    try:
        parse_level(level)
    except ValueError as exc:
        usage.append(f"--level: {exc}")
    if vi is not None and sei is not None:
        usage.append("--vi and --sei: give one of them (vi = sei² with --sei)")
    by_cols = [c.strip() for c in by.split(",")] if by is not None else []
    if any(not c for c in by_cols):
        usage.append(f"--by: {by!r} has an empty column name")
    dup = sorted({c for c in by_cols if by_cols.count(c) > 1})
    if dup:
        usage.append(f"--by: column {dup[0]!r} given twice")
    var = sei if sei is not None else (vi or "vi")
    clash = [c for c in by_cols if c in (yi, var)]
    if clash:
        usage.append(f"--by: {clash[0]!r} is the effect-size or variance column")
    in_fmt = table_format(file)
    if in_fmt is None:
        usage.append(f"{file}: unknown table format {file.suffix!r}; use {', '.join(FORMATS)}")
    out_fmt = table_format(out_file) if out_file is not None else None
    if out_file is not None and out_fmt is None:
        usage.append(f"--out: {out_file}: unknown table format {out_file.suffix!r}; use "
                     f"{', '.join(FORMATS)}")
    if "parquet" in (in_fmt, out_fmt) and parquet_missing():
        usage.append(f"{file if in_fmt == 'parquet' else out_file}: {parquet_missing()}")
    if usage:
        _die_many(usage, EXIT_USAGE)

    status = (err.status(f"reading {file} ...") if err.is_terminal
              else contextlib.nullcontext())
    with status as progress:
        def step(text: str) -> None:
            if progress is not None:
                progress.update(text)

        from .meta import meta_batch
        from .tables import effect_frame, read_table, to_bytes

        try:
            frame = read_table(file, text_columns=[yi, var])
            step(f"checking {len(frame):,} rows ...")
            data = effect_frame(frame, file, yi=yi, vi=vi, sei=sei, by=by_cols)
        except TableError as exc:
            _die_many(exc.problems, EXIT_INVALID)
        step(f"pooling {len(data):,} rows by {', '.join(by_cols) or 'nothing (one group)'} ...")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                tbl = meta_batch(data, yi=yi, vi=var, by=by_cols or None, method=method,
                                 test=test, level=level)
            except EvidenceError as exc:
                _die([f"{file}: {exc}"], EXIT_INVALID)
        payload = None
        if out_file is not None:
            step(f"writing {out_file} ...")
            payload = to_bytes(tbl, out_fmt)
    for w in caught:
        err.print(f"warning: {w.message}", markup=False, soft_wrap=True)
    summary = (f"{len(tbl):,} group{'s' if len(tbl) != 1 else ''}, "
               f"{int(tbl['k'].sum()):,} stud{'y' if tbl['k'].sum() == 1 else 'ies'} pooled, {int(tbl['k_dropped'].sum()):,} rows "
               f"dropped ({yi} or {var} missing); method {tbl['method'].iloc[0]}, test "
               f"{test.lower()}, level {float(tbl['level'].iloc[0]):g}")
    if out_file is None:
        out.print(_pool_table(tbl, by_cols))
        more = (" (first 10 shown; --out FILE writes every column of every group)"
                if len(tbl) > 10 else "")
        out.print(summary + more, markup=False, soft_wrap=True)
        return
    from .report import write_atomic

    if out_file.is_dir():
        _die([f"{out_file}: is a directory; give a file name ending in "
              f"{', '.join(FORMATS)}"], EXIT_WRITE)
    try:
        write_atomic(out_file, payload)
    except OSError as exc:
        _die([f"{out_file}: cannot be written: {exc.strerror or exc}"], EXIT_WRITE)
    out.print(f"wrote {out_file}: {summary}", markup=False, soft_wrap=True)


def main() -> None:  # pragma: no cover - console entry point
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
