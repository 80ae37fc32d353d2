"""The `evidence` command: exit codes, messages, atomic report output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml
from typer.testing import CliRunner

from evidence.cli import app

runner = CliRunner()


def _break(review_dir: Path) -> None:
    p = review_dir / "clinical" / "willy-2012.yaml"
    d = yaml.safe_load(p.read_text())
    d["outcomes"][0]["measurements"][1]["sd"] = -1.2
    p.write_text(yaml.safe_dump(d, sort_keys=False))


def test_validate_ok_prints_completeness_table(studies_dir):
    res = runner.invoke(app, ["validate", str(studies_dir)])
    assert res.exit_code == 0, res.output
    out = res.output
    assert "records valid" in out
    assert "Completeness" in out
    assert "Noehren 2011" in out and "SD (or SE, CI, IQR, range)" in out
    assert "Diebal 2011 (unconfirmed)" in out
    assert "6 clinical studies (2 unconfirmed)" in out


def test_validate_invalid_exits_1_without_traceback(review_copy):
    _break(review_copy)
    res = runner.invoke(app, ["validate", str(review_copy)])
    assert res.exit_code == 1
    assert "willy-2012.yaml: willy-2012: outcomes[0].measurements[1].sd: must be > 0, got -1.2" \
        in res.output
    assert "Traceback" not in res.output


def test_validate_missing_directory(tmp_path):
    res = runner.invoke(app, ["validate", str(tmp_path / "nothing")])
    assert res.exit_code == 1
    assert "no such directory" in res.output


def test_report_writes_files(review_copy, tmp_path):
    out = tmp_path / "reports"
    res = runner.invoke(app, ["report", str(review_copy), "--out", str(out), "--format", "html,md"])
    assert res.exit_code == 0, res.output
    html = (out / "index.html").read_text()
    assert "Table 1. Clinical studies" in html
    assert not list(out.glob(".*.tmp"))


def test_failed_report_leaves_existing_output_untouched(review_copy, tmp_path):
    out = tmp_path / "reports"
    out.mkdir()
    (out / "index.html").write_text("previous report")
    _break(review_copy)
    res = runner.invoke(app, ["report", str(review_copy), "--out", str(out)])
    assert res.exit_code == 1
    assert (out / "index.html").read_text() == "previous report"
    assert sorted(p.name for p in out.iterdir()) == ["index.html"]


def test_failed_render_leaves_existing_output_untouched(review_copy, tmp_path):
    out = tmp_path / "reports"
    out.mkdir()
    (out / "index.html").write_text("previous report")
    (out / "supplement.md").write_text("previous markdown")
    templates = tmp_path / "templates"
    templates.mkdir()
    # the second template to render fails: nothing at all may be written
    (templates / "supplement.md").write_text("{{ no_such_variable.attribute }}")
    res = runner.invoke(app, ["report", str(review_copy), "--out", str(out),
                              "--templates", str(templates), "--format", "html,md"])
    assert res.exit_code == 2
    assert "Traceback" not in res.output
    assert (out / "index.html").read_text() == "previous report"
    assert (out / "supplement.md").read_text() == "previous markdown"


def test_unknown_format_is_an_error(review_copy, tmp_path):
    res = runner.invoke(app, ["report", str(review_copy), "--out", str(tmp_path / "r"),
                              "--format", "docx"])
    assert res.exit_code == 2
    assert "'docx' is not one of" in res.output


def test_console_script_runs():
    """The installed entry point works as a subprocess (exit code reaches the shell)."""
    res = subprocess.run([sys.executable, "-m", "evidence.cli", "validate", "/nonexistent"],
                         capture_output=True, text=True)
    assert res.returncode == 1
    assert "no such directory" in res.stderr


def test_add_study_scaffolds_and_never_overwrites(review_copy):
    res = runner.invoke(app, ["add-study", str(review_copy), "--id", "smith-2027"])
    assert res.exit_code == 0, res.output
    target = review_copy / "clinical" / "smith-2027.yaml"
    assert target.exists()
    text = target.read_text()
    assert "type: clinical" in text and "id: smith-2027" in text
    # the scaffold does not validate until filled in, and validate says what to fill
    res = runner.invoke(app, ["validate", str(review_copy)])
    assert res.exit_code == 1
    assert "smith-2027.yaml: smith-2027: label" in res.output
    res = runner.invoke(app, ["add-study", str(review_copy), "--id", "smith-2027"])
    assert res.exit_code == 2 and "exists already" in res.output


def test_diff_shows_an_edited_value(review_copy, studies_dir):
    p = review_copy / "clinical" / "diebal-2012.yaml"
    d = yaml.safe_load(p.read_text())
    out = next(o for o in d["outcomes"] if o["id"] == "sane")
    out["measurements"][1]["mean"] = 80.4  # a test edit in a temporary copy
    p.write_text(yaml.safe_dump(d, sort_keys=False))
    res = runner.invoke(app, ["diff", str(studies_dir), str(review_copy)])
    assert res.exit_code == 0, res.output
    assert "diebal-2012" in res.output and "90.4 -> 80.4" in res.output
    res = runner.invoke(app, ["diff", str(studies_dir), "/nonexistent"])
    assert res.exit_code == 1
