"""Incremental `evidence report`: a re-run with nothing changed computes and rewrites nothing,
a changed record rewrites what depends on it, stale files of the previous supplement go,
modes follow the umask, and the output stays byte-reproducible. (No timings here: see
benchmarks/bench_report.py.)"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evidence.cli import app

ROOT = Path(__file__).resolve().parent.parent
BCG = ROOT / "studies" / "bcg"
runner = CliRunner()
pytestmark = pytest.mark.slow


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _review(tmp_path: Path) -> Path:
    review = tmp_path / "review"
    shutil.copytree(BCG, review)
    return review


def _report(review: Path, out: Path, formats: str = "html,md,tex") -> str:
    res = runner.invoke(app, ["report", str(review), "--out", str(out), "--format", formats])
    assert res.exit_code == 0, res.output
    return res.output


def _files(out: Path) -> dict[str, os.stat_result]:
    return {p.relative_to(out).as_posix(): p.stat() for p in sorted(out.rglob("*"))
            if p.is_file()}


def _ident(st: os.stat_result) -> tuple[int, int]:
    return st.st_ino, st.st_mtime_ns


def test_rerun_rewrites_nothing_modes_follow_umask_and_bytes_reproduce(tmp_path, umask_022):
    review = _review(tmp_path)
    first, second = tmp_path / "a", tmp_path / "b"
    _report(review, first, "html,pdf,md,tex")
    before = _files(first)
    assert {"index.html", "supplement.pdf", "supplement.md", "supplement.tex",
            ".cache/manifest.json"} <= set(before)
    assert any(n.startswith("figures/") and n.endswith(".svg") for n in before)
    for name, st in before.items():
        assert st.st_mode & 0o777 == 0o644, name

    output = _report(review, first, "html,pdf,md,tex")
    assert "up to date" in output and "wrote" not in output
    after = _files(first)
    assert after.keys() == before.keys()
    for name in before:
        assert _ident(after[name]) == _ident(before[name]), f"{name} was rewritten"

    # a second cold render elsewhere gives the same bytes, file by file
    _report(review, second, "html,pdf,md,tex")
    assert _files(second).keys() == before.keys()
    for name in before:
        if name.startswith(".cache/"):
            continue
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_a_deleted_or_edited_output_file_is_rendered_again(tmp_path):
    review = _review(tmp_path)
    out = tmp_path / "out"
    _report(review, out)
    (out / "supplement.md").write_text("edited by hand\n", encoding="utf-8")
    (out / "index.html").unlink()
    output = _report(review, out)
    assert "up to date" not in output
    assert (out / "index.html").is_file()
    assert "edited by hand" not in (out / "supplement.md").read_text(encoding="utf-8")


def test_a_changed_record_rewrites_what_depends_on_it_only(tmp_path):
    review = _review(tmp_path)
    out = tmp_path / "out"
    _report(review, out)
    before = _files(out)
    record = next((review / "trials").glob("*rosenthal-1960.yaml"))
    text = record.read_text(encoding="utf-8")
    assert "label: Rosenthal et al 1960\n" in text
    # a label, not a number: this changes what is shown without inventing any data
    record.write_text(text.replace("label: Rosenthal et al 1960\n",
                                   "label: Rosenthal et al 1960 relabelled\n"),
                      encoding="utf-8")
    output = _report(review, out)
    assert "up to date" not in output
    after = _files(out)
    changed = {n for n in before if _ident(after[n]) != _ident(before[n])}
    forest = [n for n in before if n.endswith("-forest.svg")]
    assert forest and set(forest) <= changed
    assert {"index.html", "supplement.md", ".cache/manifest.json"} <= changed
    assert "Rosenthal et al 1960 relabelled" in (out / "index.html").read_text(encoding="utf-8")
    # the funnel plot shows no study labels, so it is not rewritten
    funnel = [n for n in before if n.endswith("-funnel.svg")]
    assert funnel and not set(funnel) & changed


def test_stale_figures_go_and_user_files_stay(tmp_path):
    review = _review(tmp_path)
    out = tmp_path / "out"
    _report(review, out)
    stale = sorted(n for n in _files(out) if "-forest-alloc." in n)
    assert stale, "the subgroup forest is expected in the first render"
    (out / "figures" / "my-notes.txt").write_text("mine\n", encoding="utf-8")
    spec = review / "review.yaml"
    text = spec.read_text(encoding="utf-8")
    assert "    subgroups: [alloc]\n" in text
    spec.write_text(text.replace("    subgroups: [alloc]\n", ""), encoding="utf-8")
    _report(review, out)
    left = _files(out)
    assert not [n for n in stale if n in left]
    assert "figures/my-notes.txt" in left
    assert "figures/" + Path(stale[0]).name not in left


def test_inline_svg_has_title_desc_and_real_text(tmp_path):
    review = _review(tmp_path)
    out = tmp_path / "out"
    _report(review, out, "html")
    html = (out / "index.html").read_text(encoding="utf-8")
    import re

    tags = re.findall(r"<svg [^>]*>", html)
    assert tags
    for tag in tags:
        assert 'role="img"' in tag
        ids = re.search(r'aria-labelledby="([^"]+)"', tag).group(1).split()
        for i in ids:
            assert html.count(f'id="{i}"') == 1, i
        assert f'<title id="{ids[0]}">' in html
    assert "<desc id=" in html
    # text is text (svg.fonttype none), not glyph paths
    assert "<text " in html and "DejaVu Sans" in html
    assert 'id="DejaVuSans-' not in html
