"""Render the supplement from templates and write it, whole or not at all.

Rendering never computes statistics: it receives a context built from the frames and result
objects. Everything is rendered in memory first; :func:`replace_tree` then puts the new output
tree in place as one generation:

1. :func:`output_lock` takes an exclusive ``flock`` on ``.OUT.lock`` beside ``OUT`` (outside
   the tree that is swapped; removed again by its holder), so two runs into one directory
   take turns (the second waits, at most ``EVIDENCE_LOCK_TIMEOUT`` seconds, default 600).
   Holding it, it finishes what a killed run left: ``OUT`` missing beside ``.OUT.old-*`` is
   restored, and leftover ``.OUT.new-*`` / ``.OUT.old-*`` siblings are removed. Without
   ``fcntl`` (Windows) runs are not serialised.
2. Nothing changed: nothing is written (no staging). One file changed and nothing removed
   (typically the manifest alone): that file is replaced in place by one rename.
3. Otherwise the complete new tree is built in a sibling ``.OUT.new-<hex>``: unchanged files
   and every file the old supplement did not own (the user's, other reviews') are hard links
   to the old ones (a copy where the file system refuses links; a file is never written in
   place, so a shared inode never changes); changed files are written fresh and fsynced;
   files of the old supplement that the new one lacks are left out.
4. The staging tree is swapped in whole: ``renameat2(RENAME_EXCHANGE)`` on Linux (one atomic
   step), else ``OUT`` -> ``.OUT.old-<hex>`` and staging -> ``OUT`` (a run killed between the
   two renames is completed by the next run, step 1). The old tree is then removed.

A failure (disk full, permission, read-only file system) removes the staging tree and leaves
``OUT`` as it was; it is raised as :class:`OutputError`, whose message names the path and
what to do. ``OUT`` given as a symbolic link is followed: the directory it points to is
replaced, the link stays. ``OUT`` must not be a mount point (it cannot be renamed). A file
created in ``OUT`` by another program while the new tree is built (or replaced there by a
rename) goes with the old tree: ``OUT`` is the tool's, user files in it are carried, not
watched. A run killed by SIGKILL/SIGTERM leaves its staging tree; the next run removes it.

Test hooks (test-only; inert unless set): ``EVIDENCE_TEST_PAUSE_AT=point[,point]`` prints
``evidence-test-paused-at <point>`` to stderr and sleeps ``EVIDENCE_TEST_PAUSE_SECONDS``
(default 60) at the named points (``locked``, ``staged-file``, ``staged``, ``renamed-old``,
``swapped``), so a test can kill the process there; ``EVIDENCE_TEST_SWAP=rename`` forces the
two-rename swap. See tests/test_interrupt.py.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import shutil
import stat
import sys
import tempfile
import time
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Collection, Iterator, Mapping

import jinja2

from ..errors import EvidenceError
from ..links import link_target

__all__ = ["layout_pdf", "make_environment", "pdf_bytes", "render", "render_pdf", "write_atomic",
           "write_files", "OutputError", "check_output_dir", "output_lock", "replace_tree"]

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
                  "ρ": r"$\rho$", "σ": r"$\sigma$",
                  "²": r"\textsuperscript{2}", "×": r"$\times$", "↓": r"$\downarrow$",
                  "↑": r"$\uparrow$", "χ": r"$\chi$", "−": r"\textminus{}",
                  "←": r"$\leftarrow$", "·": r"\textperiodcentered{}", "✓": r"$\checkmark$",
                  "✗": r"$\times$", "✱": r"$\ast$", "<": r"\textless{}",
                  ">": r"\textgreater{}", "[": "{[}", "]": "{]}", "\n": " ", "\r": " ",
                  "\t": " ", "α": r"$\alpha$", "β": r"$\beta$", "μ": r"$\mu$",
                  "σ": r"$\sigma$", "Δ": r"$\Delta$", "≈": r"$\approx$", "≠": r"$\neq$",
                  "…": r"\dots{}", "‘": "`", "’": "'", "“": "``", "”": "''", "°": r"\textdegree{}",
                  "\u00a0": "~", "µ": r"$\mu$", "³": r"\textsuperscript{3}",
                  "¹": r"\textsuperscript{1}", "½": r"\textonehalf{}",
                  "\u2295": r"$\oplus$", "\u25ef": r"$\bigcirc$", "∞": r"$\infty$",
                  "δ": r"$\delta$"}


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
    env.filters["href"] = link_target
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
            fh.flush()
            os.fsync(fh.fileno())
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

    # nothing is fetched: the page is self-contained, so only data: URLs are read and any
    # other resource a (custom) template names is skipped with a WeasyPrint warning
    offline = weasyprint.URLFetcher(allowed_protocols={"data"})
    return weasyprint.HTML(string=html, base_url=str(base_url) if base_url else None,
                           url_fetcher=offline).render(pdf_variant=PDF_VARIANT)


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


# --- one output tree, one generation ---------------------------------------------------------

class OutputError(EvidenceError, OSError):
    """The output directory cannot be written. The message names the path and what to do;
    the previous supplement is left as it was. ``errno`` is the cause's."""

    def __init__(self, code: int, message: str):
        super().__init__(code, message)

    def __str__(self) -> str:
        return self.strerror


#: Seconds a run waits for another run writing into the same output directory.
LOCK_TIMEOUT = 600.0
_PAUSE_ENV = "EVIDENCE_TEST_PAUSE_AT"


def _pause(point: str) -> None:
    """Test-only hook: see the module docstring. One environment look-up when not set."""
    wanted = os.environ.get(_PAUSE_ENV)
    if wanted and point in wanted.split(","):
        sys.stderr.write(f"evidence-test-paused-at {point}\n")
        sys.stderr.flush()
        time.sleep(float(os.environ.get("EVIDENCE_TEST_PAUSE_SECONDS", "60")))


def _leftover_pattern(root: Path) -> re.Pattern[str]:
    return re.compile(rf"\.{re.escape(root.name)}\.(new|old)-[0-9a-f]{{8}}")


def _sibling(root: Path, kind: str) -> Path:
    return root.parent / f".{root.name}.{kind}-{secrets.token_hex(4)}"


def lock_path(root: Path) -> Path:
    return root.parent / f".{root.name}.lock"


def _reason(exc: OSError) -> str:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "no space left on the device (or the disk quota is used up); free some space"
    if exc.errno == errno.EROFS:
        return "the file system is read-only; give an --out on a writable file system"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied; make it writable or give another --out"
    if exc.errno in (errno.EXDEV, errno.EBUSY):
        return ("it cannot be renamed (a mount point, or on another file system than its "
                "parent); give a folder inside it as --out")
    return f"{exc.strerror or exc}"


def _explain(exc: OSError, display: Path, root: Path, need: int | None = None) -> OutputError:
    """An OSError of writing the tree, as one message: where, why, what to do. A path in
    the tree or in its staging sibling is named as the output directory; a path outside it
    (the parent folder, the lock file) by itself."""
    where = display
    if isinstance(exc.filename, str):
        p = Path(os.path.abspath(exc.filename))
        ours = p == root or root in p.parents or (
            root.parent in p.parents
            and _leftover_pattern(root).fullmatch(p.relative_to(root.parent).parts[0]))
        if not ours:
            where = p
    extra = ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT) and need:
        extra = f" (the changed files need {need / 1e6:.1f} MB beside {display})"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS) and where != display:
        extra = (f" (evidence report builds the new supplement beside {display} and swaps it "
                 f"in whole, so {root.parent} must be writable)")
    return OutputError(exc.errno, f"{where}: cannot write the supplement: {_reason(exc)}"
                       f"{extra}; the previous supplement in {display} is unchanged")


@contextmanager
def _explained(display: Path, root: Path, need: int | None = None) -> Iterator[None]:
    try:
        yield
    except OutputError:
        raise
    except OSError as exc:
        raise _explain(exc, display, root, need) from exc


def check_output_dir(out_dir: str | Path) -> Path:
    """The directory a run replaces (``out_dir`` absolute, symbolic links followed), or
    :class:`OutputError` when it cannot be one: a file, a path through a file, a mount point.
    Cheap, so the CLI calls it before rendering anything."""
    display = Path(out_dir)
    root = display.resolve()
    if root.exists() and not root.is_dir():
        raise OutputError(errno.ENOTDIR, f"{display}: is a file, not a directory; remove it or "
                          "give another --out")
    for parent in root.parents:
        if os.path.lexists(parent):
            if not parent.is_dir():
                raise OutputError(errno.ENOTDIR, f"{parent}: is a file, so {display} cannot be "
                                  "created inside it; remove it or give another --out")
            break
    if root.is_dir() and os.path.ismount(root):
        raise OutputError(errno.EBUSY, f"{display}: is a mount point, which cannot be swapped "
                          "for the new supplement; give a folder inside it as --out")
    return root


def _recover(root: Path) -> None:
    """With the lock held: finish what a killed run left beside ``root``."""
    pattern = _leftover_pattern(root)
    found = {"new": [], "old": []}
    with os.scandir(root.parent) as entries:
        for entry in entries:
            m = pattern.fullmatch(entry.name)
            if m and entry.is_dir(follow_symlinks=False):
                found[m.group(1)].append(Path(entry.path))
    if not os.path.lexists(root) and found["old"]:
        # killed between the two renames of a swap: the old tree is complete; put it back
        keep = max(found["old"], key=lambda p: p.stat().st_mtime_ns)
        os.rename(keep, root)
        found["old"].remove(keep)
    for leftover in found["new"] + found["old"]:
        shutil.rmtree(leftover, ignore_errors=True)


def _acquire(path: Path, display: Path, root: Path, timeout: float,
             on_wait: Callable[[str], None] | None) -> int | None:
    """An open descriptor of the lock file ``path``, exclusively flock-ed; None without
    fcntl (not POSIX: runs are then not serialised). The holder removes the file when done,
    so after taking the lock the path must still name the locked file, else try again."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover
        return None
    deadline = time.monotonic() + timeout
    while True:
        with _explained(display, root):
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if on_wait is not None:
                        on_wait(f"waiting for another `evidence report` writing into "
                                f"{display} (at most {timeout:g} s) ...")
                        on_wait = None
                    if time.monotonic() >= deadline:
                        raise OutputError(errno.EAGAIN, f"{display}: another `evidence report` "
                                          f"is writing into it (it holds {path}) and did not "
                                          f"finish within {timeout:g} s; run again when it has "
                                          "finished (EVIDENCE_LOCK_TIMEOUT sets the wait)")
                    time.sleep(0.05)
            held = os.fstat(fd)
            try:
                now = os.stat(path)
            except FileNotFoundError:
                now = None
            if now is not None and (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino):
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # the previous holder removed that file: lock the new one


@contextmanager
def output_lock(out_dir: str | Path, *, timeout: float | None = None,
                on_wait: Callable[[str], None] | None = None) -> Iterator[Path]:
    """Hold the lock of an output directory (``.OUT.lock`` beside it) while writing it.

    Waits up to ``timeout`` seconds (default ``EVIDENCE_LOCK_TIMEOUT`` or 600) for another
    run, calling ``on_wait`` once with a message; then restores or removes what a killed run
    left (see the module docstring). Yields the resolved output directory. The lock is
    released with the process, even a killed one; the lock file is removed by the run that
    holds it when it is done (a killed run's stays until the next run).
    """
    display = Path(out_dir)
    root = check_output_dir(display)
    if timeout is None:
        try:
            timeout = float(os.environ.get("EVIDENCE_LOCK_TIMEOUT", LOCK_TIMEOUT))
        except ValueError:
            timeout = LOCK_TIMEOUT
    with _explained(display, root):
        root.parent.mkdir(parents=True, exist_ok=True)
    path = lock_path(root)
    fd = _acquire(path, display, root, timeout, on_wait)
    try:
        _pause("locked")
        with _explained(display, root):
            _recover(root)
        yield root
    finally:
        if fd is not None:
            try:
                os.unlink(path)  # while still holding it (see _acquire)
            except OSError:
                pass
            os.close(fd)


def _check_name(name: str) -> str:
    p = PurePosixPath(name)
    if not name or p.is_absolute() or any(part in ("", ".", "..") for part in name.split("/")):
        raise ValueError(f"output file name {name!r} is not a relative path inside the output "
                         "directory")
    return name


def _same(path: Path, data: bytes) -> bool:
    """``path`` is a regular file (not a link) holding exactly ``data``."""
    try:
        st = os.lstat(path)
        if not (stat.S_ISREG(st.st_mode) and st.st_size == len(data)):
            return False
        return path.read_bytes() == data
    except OSError:
        return False


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_new(path: Path, data: bytes) -> None:
    """A new file in the staging tree (mode 0666 less the umask), written and fsynced."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0),
                 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def _link_or_copy(src: Path, dst: Path) -> None:
    """``dst`` the same file as ``src``: a hard link (same inode, nothing written), or a copy
    (contents, mode and times) where the file system refuses links."""
    try:
        os.link(src, dst, follow_symlinks=False)
        return
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
            raise
    shutil.copy2(src, dst, follow_symlinks=False)
    fd = os.open(dst, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _has_entries(path: Path) -> bool:
    with os.scandir(path) as it:
        return any(True for _ in it)


# temporary files of write_atomic left by a killed run (mkstemp: 8 random characters)
_TEMP_LITTER = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")


def _carry(src: Path, dst: Path, rel: str, skip: Collection[str],
           new_dirs: Collection[str], made: list[Path]) -> int:
    """Recreate under ``dst`` what ``src`` holds, less the names in ``skip`` and whatever is in
    the way of a new file. Returns the number of entries kept."""
    kept = 0
    with os.scandir(src) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        name = f"{rel}{entry.name}"
        target = dst / entry.name
        if name in skip:
            continue
        if entry.is_dir(follow_symlinks=False):
            os.mkdir(target)
            made.append(target)
            inner = _carry(Path(entry.path), target, name + "/", skip, new_dirs, made)
            shutil.copymode(entry.path, target)
            if inner == 0 and name not in new_dirs and _has_entries(Path(entry.path)):
                os.rmdir(target)  # emptied by this generation (e.g. figures/): it goes too
                made.remove(target)
                continue
        elif name in new_dirs:
            continue  # a file or link where the new supplement needs a folder: new wins
        elif entry.is_symlink():
            os.symlink(os.readlink(entry.path), target)
        elif entry.is_file(follow_symlinks=False):
            if _TEMP_LITTER.fullmatch(entry.name):
                continue
            _link_or_copy(Path(entry.path), target)
        else:
            continue  # FIFOs, sockets, devices: not part of a supplement
        kept += 1
    return kept


def _build(root: Path, data: Mapping[str, bytes], drop: Collection[str]) -> Path:
    """The complete new tree in a sibling staging directory (see the module docstring)."""
    staging = _sibling(root, "new")
    os.mkdir(staging)
    try:
        made = [staging]
        if root.is_dir():
            shutil.copymode(root, staging)
        new_dirs = {"/".join(n.split("/")[:i]) for n in data for i in range(1, n.count("/") + 1)}
        if root.is_dir():
            _carry(root, staging, "", set(data) | set(drop), new_dirs, made)
        fresh = 0
        for name, content in data.items():
            target = staging / name
            for parent in reversed(target.relative_to(staging).parents[:-1]):
                d = staging / parent
                if not d.is_dir():
                    os.mkdir(d)
                    made.append(d)
            if _same(root / name, content):
                _link_or_copy(root / name, target)
                continue
            _write_new(target, content)
            fresh += 1
            if fresh == 1:
                _pause("staged-file")
        for d in made:
            _fsync_dir(d)
        _pause("staged")
        return staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


@lru_cache(maxsize=1)
def _renameat2() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError, ImportError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_AT_FDCWD, _RENAME_EXCHANGE = -100, 2


def _exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two directories (Linux ``renameat2(RENAME_EXCHANGE)``); False
    when the system or the file system cannot."""
    fn = None if os.environ.get("EVIDENCE_TEST_SWAP") == "rename" else _renameat2()
    if fn is None:
        return False
    import ctypes

    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _swap(root: Path, staging: Path) -> None:
    """Put the staging tree at ``root``; the old tree (if any) is removed afterwards."""
    if not os.path.lexists(root):
        os.rename(staging, root)
        _fsync_dir(root.parent)
        return
    if _exchange(staging, root):
        _fsync_dir(root.parent)
        _pause("swapped")
        shutil.rmtree(staging, ignore_errors=True)  # the old tree, now under that name
        return
    old = _sibling(root, "old")
    os.rename(root, old)
    try:
        _pause("renamed-old")
        os.rename(staging, root)
    except BaseException:
        if not os.path.lexists(root) and old.is_dir():
            os.rename(old, root)
        raise
    _fsync_dir(root.parent)
    _pause("swapped")
    shutil.rmtree(old, ignore_errors=True)


def replace_tree(out_dir: str | Path, files: Mapping[str, str | bytes],
                 drop: Collection[str] = ()) -> list[str]:
    """Make ``out_dir`` hold ``files`` (relative POSIX name -> content) as one generation.

    Call it holding :func:`output_lock`. Names in ``drop`` (the files of the previous
    supplement) go unless ``files`` has them again; everything else in ``out_dir`` stays.
    Returns the names whose content changed (written), in the order of ``files``; nothing is
    written when that list is empty and nothing is dropped.
    """
    display = Path(out_dir)
    root = display.resolve()
    data = {_check_name(n): _as_bytes(d) for n, d in files.items()}
    drop = {_check_name(n) for n in drop}
    with _explained(display, root):
        changed = [n for n in data if not _same(root / n, data[n])]
        removed = [n for n in drop - set(data) if os.path.lexists(root / n)]
        if not changed and not removed:
            return []
        parent = (root / changed[0]).parent if changed else root
        if (root.is_dir() and not removed and len(changed) == 1 and parent.is_dir()
                and os.path.realpath(parent) == str(parent)):
            # one file: its rename is the whole change, so the tree is old or new
            write_atomic(root / changed[0], data[changed[0]])
            _fsync_dir(parent)
            return changed
    with _explained(display, root, sum(len(data[n]) for n in changed)):
        staging = _build(root, data, drop)
        try:
            _swap(root, staging)
        finally:
            shutil.rmtree(staging, ignore_errors=True)  # the old tree, or a failed new one
    return changed


def render_pdf(html: str, base_url: str | Path | None = None) -> bytes:
    """Render HTML to a tagged PDF (PDF/UA-1) with WeasyPrint, reproducibly: the same
    bytes for the same page (see :func:`pdf_bytes`)."""
    return pdf_bytes(layout_pdf(html, base_url))
