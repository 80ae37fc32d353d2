"""Interruption and concurrency of `evidence report` (issue 11 items 7 and 8).

A run killed at any moment, out of disk space, or run twice at once into one directory leaves
the old or the new complete supplement, never a mix; the next run recovers; every failure is
one `error:` line and exit code 3 (130 when interrupted).

Real child processes are killed (SIGKILL, SIGINT) at named points of the writer through the
test-only hook ``EVIDENCE_TEST_PAUSE_AT`` (see evidence/report/writer.py): after the first file
of the new tree is written (between two writes), with the new tree complete, between the two
renames of the fallback swap (``EVIDENCE_TEST_SWAP=rename``) and after the swap. Most children
are a small driver that calls ``write_report`` with supplements rendered once per module (fast);
two are the real `evidence report` command. "Complete" is checked against the manifest: every
file it lists present with its SHA-256, nothing else but the user's own files.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evidence.cli import app
from evidence.report import OutputError, write_report, write_reports

ROOT = Path(__file__).resolve().parent.parent
BCG = ROOT / "studies" / "bcg"
FORMATS = "html,md"
USER_FILES = {"mine.txt": b"my notes\n", "figures/my-notes.txt": b"mine too\n"}
pytestmark = pytest.mark.slow
runner = CliRunner()

# imports the report package without evidence/__init__ (which loads the whole toolkit), so
# that a child reaches the writer in well under a second
DRIVER = """
import pickle, sys, types
pkg = types.ModuleType("evidence"); pkg.__path__ = [sys.argv[1] + "/evidence"]
sys.modules["evidence"] = pkg
from evidence.report import write_reports
out, payload = sys.argv[2], sys.argv[3]
files, tag = pickle.loads(open(payload, "rb").read())
try:
    write_reports(out, [(out, files, tag)], on_wait=lambda m: print(m, file=sys.stderr,
                                                                    flush=True))
except KeyboardInterrupt:
    sys.exit(130)
"""


def _edited_review(tmp: Path) -> Path:
    """The BCG review with a study relabelled (index, Markdown and forest plots change) and
    the subgroup analysis removed (its figures become stale): no number is changed."""
    review = tmp / "review-new"
    shutil.copytree(BCG, review, ignore=shutil.ignore_patterns("__pycache__"))
    record = next((review / "trials").glob("*rosenthal-1960.yaml"))
    text = record.read_text(encoding="utf-8")
    record.write_text(text.replace("label: Rosenthal et al 1960\n",
                                   "label: Rosenthal et al 1960 relabelled\n"), encoding="utf-8")
    spec = review / "review.yaml"
    text = spec.read_text(encoding="utf-8")
    assert "    subgroups: [alloc]\n" in text
    spec.write_text(text.replace("    subgroups: [alloc]\n", ""), encoding="utf-8")
    return review


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Two rendered supplements (OLD, NEW) of the BCG review, pickled for the driver, and a
    reference output directory holding OLD plus the user's files."""
    import evidence as ev
    from evidence.report import render_report

    tmp = tmp_path_factory.mktemp("interrupt")
    old_review = tmp / "review-old"
    shutil.copytree(BCG, old_review, ignore=shutil.ignore_patterns("__pycache__"))
    new_review = _edited_review(tmp)
    w = {"tmp": tmp, "old_review": old_review, "new_review": new_review}
    for tag, review in (("OLD", old_review), ("NEW", new_review)):
        files = render_report(ev.run_review(review), FORMATS.split(","))
        w[tag] = files
        (tmp / f"{tag}.pickle").write_bytes(pickle.dumps((files, tag)))
    assert any("-forest-alloc." in n for n in w["OLD"])
    assert not any("-forest-alloc." in n for n in w["NEW"])
    ref = tmp / "ref-old"
    write_report(ref, w["OLD"], "OLD")
    for name, data in USER_FILES.items():
        (ref / name).write_bytes(data)
    w["ref"] = ref
    (tmp / "driver.py").write_text(DRIVER, encoding="utf-8")
    return w


def _supplement(out: Path, user_files=USER_FILES) -> str:
    """The tag (fingerprint) of the one complete supplement ``out`` holds; fails on a mix."""
    manifest = json.loads((out / ".cache" / "manifest.json").read_text(encoding="utf-8"))
    present = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    listed = set(manifest["files"])
    assert present == listed | set(user_files) | {".cache/manifest.json"}, (
        f"not one supplement: extra "
        f"{sorted(present - listed - set(user_files) - {'.cache/manifest.json'})}, "
        f"missing {sorted(listed - present)}")
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest, \
            f"{name} is not the file of the supplement its manifest describes"
    for name, data in user_files.items():
        assert (out / name).read_bytes() == data
    return manifest["inputs"]


def _leftovers(out: Path) -> list[str]:
    """What is left beside OUT (a staging tree, an old tree, a lock file)."""
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


def _out_with_old(world, name: str = "out") -> Path:
    out = world["tmp"] / f"case-{os.urandom(4).hex()}" / name
    shutil.copytree(world["ref"], out)
    return out


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVIDENCE_")}
    return {**env, "PYTHONPATH": str(ROOT), "EVIDENCE_JOBS": "1",
            "EVIDENCE_TEST_PAUSE_SECONDS": "60", **extra}


def _start(cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT)
    timer = threading.Timer(120, lambda: proc.poll() is None and proc.kill())  # never hang
    timer.daemon = True
    timer.start()
    return proc


def _wait_for(proc: subprocess.Popen, text: str) -> list[str]:
    """Read the child's stderr until a line contains ``text``; the lines read."""
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if text in line:
            return lines
    proc.wait()
    pytest.fail(f"the child ended (exit {proc.returncode}) before {text!r}:\n{''.join(lines)}")


def _driver(world, out: Path, tag: str, **env: str) -> subprocess.Popen:
    return _start([sys.executable, str(world["tmp"] / "driver.py"), str(ROOT), str(out),
                   str(world["tmp"] / f"{tag}.pickle")], _env(**env))


@pytest.mark.parametrize("point,sig,swap,expected", [pytest.param(*case, id="-".join(
    [case[0], case[1].name, case[2]])) for case in [
    ("locked", signal.SIGKILL, "exchange", "OLD"),
    ("staged-file", signal.SIGKILL, "exchange", "OLD"),   # between two writes
    ("staged-file", signal.SIGINT, "exchange", "OLD"),
    ("staged", signal.SIGKILL, "rename", "OLD"),
    ("renamed-old", signal.SIGKILL, "rename", None),      # between the two renames
    ("renamed-old", signal.SIGINT, "rename", "OLD"),
    ("swapped", signal.SIGKILL, "exchange", "NEW"),
    ("swapped", signal.SIGKILL, "rename", "NEW"),
]])
def test_a_killed_writer_leaves_one_complete_supplement_and_the_next_run_recovers(
        world, point, sig, swap, expected):
    out = _out_with_old(world)
    env = {"EVIDENCE_TEST_PAUSE_AT": point}
    if swap == "rename":
        env["EVIDENCE_TEST_SWAP"] = "rename"
    proc = _driver(world, out, "NEW", **env)
    _wait_for(proc, f"evidence-test-paused-at {point}")
    proc.send_signal(sig)
    proc.wait(timeout=30)
    assert proc.returncode == (130 if sig == signal.SIGINT else -signal.SIGKILL)
    if sig == signal.SIGINT:
        assert _leftovers(out) == [], "an interrupted run cleans up after itself"
    if expected is None:
        # killed between OUT -> .out.old-* and staging -> OUT: the old tree is complete beside
        # it, and the next run (here one with the old inputs: nothing to write) puts it back
        assert not out.exists()
        old = [n for n in _leftovers(out) if ".old-" in n]
        assert len(old) == 1 and _supplement(out.parent / old[0]) == "OLD"
        assert write_report(out, world["OLD"], "OLD") == []
        assert _supplement(out) == "OLD"
    else:
        assert _supplement(out) == expected
    write_report(out, world["NEW"], "NEW")
    assert _supplement(out) == "NEW"
    assert _leftovers(out) == []


def _cli(review: Path, out: Path, **env: str) -> subprocess.Popen:
    return _start([sys.executable, "-m", "evidence.cli", "report", str(review), "--out",
                   str(out), "--format", FORMATS], _env(**env))


@pytest.fixture(scope="module")
def cli_ref(world):
    """OLD as `evidence report` writes it (its own fingerprint), with the user's files."""
    ref = world["tmp"] / "cli-ref"
    res = runner.invoke(app, ["report", str(world["old_review"]), "--out", str(ref),
                              "--format", FORMATS])
    assert res.exit_code == 0, res.output
    for name, data in USER_FILES.items():
        (ref / name).write_bytes(data)
    return ref, _supplement(ref)


def test_evidence_report_killed_between_two_writes_then_rerun(world, cli_ref):
    ref, old_tag = cli_ref
    out = world["tmp"] / "cli-kill" / "out"
    shutil.copytree(ref, out)
    proc = _cli(world["new_review"], out, EVIDENCE_TEST_PAUSE_AT="staged-file")
    _wait_for(proc, "evidence-test-paused-at staged-file")
    assert [n for n in _leftovers(out) if ".new-" in n], "the new tree is built beside OUT"
    proc.kill()
    proc.wait(timeout=30)
    assert _supplement(out) == old_tag
    res = runner.invoke(app, ["report", str(world["new_review"]), "--out", str(out),
                              "--format", FORMATS])
    assert res.exit_code == 0, res.output
    new_tag = _supplement(out)
    assert new_tag != old_tag and _leftovers(out) == []
    assert "relabelled" in (out / "index.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_evidence_report_interrupted_is_one_error_line_exit_130(world, cli_ref, sig):
    ref, old_tag = cli_ref
    out = world["tmp"] / f"cli-int-{sig.name}" / "out"
    shutil.copytree(ref, out)
    proc = _cli(world["new_review"], out, EVIDENCE_TEST_PAUSE_AT="staged")
    _wait_for(proc, "evidence-test-paused-at staged")
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "interrupted" in errors[0], stderr
    assert "Traceback" not in stderr
    assert _supplement(out) == old_tag and _leftovers(out) == []


def test_two_concurrent_reports_into_one_directory_leave_one_complete_supplement(
        world, monkeypatch):
    from evidence.report import inputs_fingerprint

    monkeypatch.chdir(ROOT)  # where the children run: the same records path in the output
    tags = {inputs_fingerprint(world[r], FORMATS.split(",")) for r in ("old_review",
                                                                      "new_review")}
    out = world["tmp"] / "concurrent" / "out"
    procs = [_cli(world["old_review"], out), _cli(world["new_review"], out)]
    outputs = [p.communicate(timeout=120) for p in procs]
    for p, (stdout, stderr) in zip(procs, outputs):
        assert p.returncode == 0, stderr
    # whichever ran last: the directory holds exactly its supplement
    assert _supplement(out, user_files={}) in tags and len(tags) == 2
    assert _leftovers(out) == []


def test_a_second_writer_waits_for_the_lock_then_writes_whole(world):
    out = _out_with_old(world)
    first = _driver(world, out, "OLD", EVIDENCE_TEST_PAUSE_AT="locked",
                    EVIDENCE_TEST_PAUSE_SECONDS="6")
    _wait_for(first, "evidence-test-paused-at locked")
    second = _driver(world, out, "NEW")
    _wait_for(second, "waiting for another `evidence report`")
    assert first.wait(timeout=30) == 0
    assert second.wait(timeout=30) == 0
    assert _supplement(out) == "NEW" and _leftovers(out) == []


def test_the_lock_wait_is_bounded_with_a_clear_message(world, monkeypatch):
    out = _out_with_old(world)
    holder = _driver(world, out, "NEW", EVIDENCE_TEST_PAUSE_AT="locked")
    try:
        _wait_for(holder, "evidence-test-paused-at locked")
        monkeypatch.setenv("EVIDENCE_LOCK_TIMEOUT", "0.3")
        with pytest.raises(OutputError, match="another `evidence report` is writing into it"):
            write_report(out, world["NEW"], "NEW")
    finally:
        holder.kill()
        holder.wait()
    assert _supplement(out) == "OLD"


def test_leftovers_of_killed_runs_are_removed_and_others_kept(world):
    out = _out_with_old(world)
    for name in (".out.new-0123abcd", ".out.old-89abcdef"):
        (out.parent / name / "figures").mkdir(parents=True)
        (out.parent / name / "index.html").write_text("half a supplement")
    (out.parent / ".out.new-mine").mkdir()  # not a name the writer makes: not touched
    write_report(out, world["NEW"], "NEW")
    assert _supplement(out) == "NEW"
    assert _leftovers(out) == [".out.new-mine"]


def test_nothing_changed_builds_nothing_and_one_changed_file_is_one_rename(world):
    out = _out_with_old(world)
    ino = out.stat().st_ino
    files = {n: p.stat().st_ino for n, p in ((n, out / n) for n in world["OLD"])}
    assert write_report(out, world["OLD"], "OLD") == []
    assert write_report(out, world["OLD"], "OLD-again") == []  # only the manifest changed
    assert out.stat().st_ino == ino, "no new tree was swapped in"
    assert {n: (out / n).stat().st_ino for n in files} == files
    assert _supplement(out) == "OLD-again" and _leftovers(out) == []
    written = write_report(out, world["NEW"], "NEW")
    assert out / "index.html" in written and out.stat().st_ino != ino
    unchanged = [n for n in world["NEW"] if world["NEW"][n] == world["OLD"].get(n)]
    assert unchanged and all((out / n).stat().st_ino == files[n] for n in unchanged), \
        "unchanged files are carried over as hard links (same inode, not rewritten)"


def test_nested_reviews_are_one_generation_with_their_own_manifests(world):
    out = world["tmp"] / "nested" / "out"
    write_reports(out, [(out, world["OLD"], "OLD"), (out / "sub", world["OLD"], "OLD")])
    (out / "sub" / "mine.txt").write_bytes(b"my notes\n")
    top = {n: (out / n).stat().st_ino for n in world["OLD"]}
    written = write_reports(out, [(out / "sub", world["NEW"], "NEW")])
    assert written and all(p.relative_to(out).parts[0] == "sub" for p in written)
    assert {n: (out / n).stat().st_ino for n in world["OLD"]} == top
    assert _supplement(out / "sub", {"mine.txt": b"my notes\n"}) == "NEW"
    assert _supplement(out, {"sub/" + n: (out / "sub" / n).read_bytes()
                             for n in [*world["NEW"], ".cache/manifest.json", "mine.txt"]}) \
        == "OLD"


def test_out_given_as_a_symlink_replaces_its_target_and_keeps_the_link(world):
    base = world["tmp"] / "symlinked"
    real = base / "real"
    shutil.copytree(world["ref"], real)
    link = base / "link"
    link.symlink_to(real, target_is_directory=True)
    write_report(link, world["NEW"], "NEW")
    assert link.is_symlink() and link.resolve() == real
    assert _supplement(real) == "NEW" and _leftovers(real) == []


# --- errors: one line, exit 3, the old supplement untouched ----------------------------------

def _one_error(res) -> str:
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert res.exit_code == 3, res.output
    assert len(lines) == 1 and lines[0].startswith("error: "), res.output
    assert "Traceback" not in res.output
    return lines[0]


def test_out_that_is_a_file_or_inside_a_file_is_refused_before_rendering(world, tmp_path):
    (tmp_path / "a-file").write_text("x")
    for out, says in ((tmp_path / "a-file", "is a file, not a directory"),
                      (tmp_path / "a-file" / "out", "is a file, so")):
        res = runner.invoke(app, ["report", str(world["old_review"]), "--out", str(out)])
        assert says in _one_error(res)
    assert (tmp_path / "a-file").read_text() == "x"


@pytest.fixture
def tmpfs(tmp_path):
    """A small tmpfs (needs root and mount permission; skipped, saying so, otherwise)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({res.stderr.strip() or res.returncode}); "
                    "the simulated ENOSPC/EACCES tests below still run")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(mnt: Path, leave: int) -> None:
    """Fill the file system until ``leave`` bytes are free."""
    st = os.statvfs(mnt)
    free = st.f_bavail * st.f_frsize
    (mnt / "filler").write_bytes(b"\0" * max(0, free - leave))


def test_disk_full_on_a_real_small_file_system(world, tmpfs):
    out = tmpfs / "out"
    shutil.copytree(world["ref"], out)
    _fill(tmpfs, 40_000)  # less than the new index.html: the new tree cannot be built
    res = runner.invoke(app, ["report", str(world["new_review"]), "--out", str(out),
                              "--format", FORMATS])
    line = _one_error(res)
    assert "no space left on the device" in line and str(out) in line
    assert "previous supplement" in line
    assert _supplement(out) == "OLD" and _leftovers(out) == []


def test_read_only_file_system(world, tmpfs):
    out = tmpfs / "out"
    shutil.copytree(world["ref"], out)
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    with pytest.raises(OutputError) as info:
        write_report(out, world["NEW"], "NEW")
    assert info.value.errno == errno.EROFS
    assert "read-only" in str(info.value) and str(tmpfs) in str(info.value)
    assert _supplement(out) == "OLD"


def test_disk_full_simulated_leaves_the_old_supplement_and_no_staging(world, monkeypatch):
    import evidence.report.writer as writer

    out = _out_with_old(world)
    calls = []

    def full(path, data):
        calls.append(path)
        if len(calls) == 2:  # the second write of the new tree
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, data)

    real = writer._write_new
    monkeypatch.setattr(writer, "_write_new", full)
    with pytest.raises(OutputError, match="no space left on the device") as info:
        write_report(out, world["NEW"], "NEW")
    assert info.value.errno == errno.ENOSPC
    assert f"{out}: cannot write the supplement" in str(info.value)  # OUT, not the staging
    assert _supplement(out) == "OLD" and _leftovers(out) == []


def test_parent_not_writable_simulated_names_the_folder(world, monkeypatch):
    """Root ignores chmod, so permission denied is simulated: the lock file cannot be
    created in OUT's parent folder."""
    import evidence.report.writer as writer

    out = _out_with_old(world)
    real_open = os.open

    def denied(path, flags, mode=0o777, **kw):
        if str(path).endswith(".out.lock"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, mode, **kw)

    monkeypatch.setattr(writer.os, "open", denied)
    with pytest.raises(OutputError) as info:
        write_report(out, world["NEW"], "NEW")
    msg = str(info.value)
    assert "permission denied" in msg and f"{out.parent} must be writable" in msg
    monkeypatch.undo()
    assert _supplement(out) == "OLD"
