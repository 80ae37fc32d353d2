"""The `evidence` command: exit codes, messages, atomic report output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
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
    # nothing left beside OUT: no staging tree, no lock file
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".reports")] == []


def test_report_into_a_file_is_one_error_line_exit_3(review_copy, tmp_path):
    target = tmp_path / "reports"
    target.write_text("not a folder")
    res = runner.invoke(app, ["report", str(review_copy), "--out", str(target)])
    assert res.exit_code == 3
    assert res.output.strip().splitlines() == [
        f"error: {target}: is a file, not a directory; remove it or give another --out"]
    assert target.read_text() == "not a folder"


def test_report_into_the_review_directory_is_refused(review_copy):
    for out in (review_copy, review_copy.parent):
        res = runner.invoke(app, ["report", str(review_copy), "--out", str(out)])
        assert res.exit_code == 2
        assert res.output.startswith("error: --out ") and "contains the review directory" \
            in res.output
    res = runner.invoke(app, ["report", str(review_copy), "--out", str(review_copy / "out")])
    assert res.exit_code == 2 and "lies inside the review directory" in res.output
    assert not (review_copy / "out").exists()


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
    assert res.exit_code == 3 and "error: " in res.output and "exists already" in res.output


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


# ------------------------------------------------------------- validate / diff / add-study hygiene


def _full_copy(tmp_path: Path, name: str = "studies") -> Path:
    import shutil

    dst = tmp_path / name
    shutil.copytree(Path(__file__).resolve().parent.parent / "studies", dst,
                    ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    return dst


def _error_lines(output: str) -> list[str]:
    return [ln for ln in output.splitlines() if ln.startswith("error: ")]


def test_validate_checks_nested_reviews(tmp_path):
    d = _full_copy(tmp_path)
    p = d / "bcg" / "trials" / "01-aronson-1948.yaml"
    p.write_text(p.read_text().replace("events: 4, nonevents: 119",
                                       "events: 4, nonevents: 119, total: 130"))
    res = runner.invoke(app, ["validate", str(d)])
    assert res.exit_code == 1, res.output
    assert "records valid" not in res.output
    lines = _error_lines(res.output)
    assert any("bcg/trials/01-aronson-1948.yaml: aronson-1948: outcomes[0].measurements[0]"
               ".total" in ln for ln in lines), res.output
    assert "Traceback" not in res.output


def test_validate_reports_every_review_it_checked(tmp_path):
    d = _full_copy(tmp_path)
    res = runner.invoke(app, ["validate", str(d), "--blocking"])
    assert res.exit_code == 0, res.output
    assert "(barton2016" in res.output and "(bcg" in res.output


@pytest.mark.parametrize("bad_id", ["../../x", "Bad Id", "a/b", "..", "con", "x" * 81, ""])
def test_add_study_id_validated_like_record_ids(review_copy, tmp_path, bad_id):
    before = sorted(p for p in tmp_path.rglob("*"))
    res = runner.invoke(app, ["add-study", str(review_copy), "--id", bad_id])
    assert res.exit_code == 2, res.output
    lines = _error_lines(res.output)
    assert len(lines) == 1 and lines[0].startswith("error: --id: "), res.output
    assert sorted(p for p in tmp_path.rglob("*")) == before  # nothing written anywhere


def test_add_study_unknown_template_and_missing_review(review_copy, tmp_path):
    res = runner.invoke(app, ["add-study", str(review_copy), "--template", "trial"])
    assert res.exit_code == 2 and _error_lines(res.output) == [
        "error: --template: 'trial' is not one of clinical, expert"]
    res = runner.invoke(app, ["add-study", str(tmp_path / "none"), "--id", "smith-2027"])
    assert res.exit_code == 1 and "no such directory" in res.output


def test_add_study_refuses_a_folder_that_leads_out(review_copy, tmp_path):
    import shutil

    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.rmtree(review_copy / "clinical")
    (review_copy / "clinical").symlink_to(outside)
    res = runner.invoke(app, ["add-study", str(review_copy), "--id", "smith-2027"])
    assert res.exit_code == 3 and "leads out of the review directory" in res.output
    assert not list(outside.iterdir())


def test_diff_of_bcg_without_rules_file():
    bcg = Path(__file__).resolve().parent.parent / "studies" / "bcg"
    res = runner.invoke(app, ["diff", str(bcg), str(bcg)])
    assert res.exit_code == 0, res.output
    assert "none." in res.output


def test_diff_compares_nested_reviews(tmp_path):
    old, new = _full_copy(tmp_path, "old"), _full_copy(tmp_path, "new")
    p = new / "bcg" / "trials" / "01-aronson-1948.yaml"
    p.write_text(p.read_text().replace("events: 4, nonevents: 119", "events: 6, nonevents: 117"))
    res = runner.invoke(app, ["diff", str(old), str(new)])
    assert res.exit_code == 0, res.output
    assert f"Changes from {old / 'bcg'} to {new / 'bcg'}" in res.output
    assert "bcg-tb-rr" in res.output  # the planned analysis' pooled RR changed
    assert f"Changes from {old} to {new}: none." in res.output


def test_diff_of_an_invalid_review_is_error_lines(tmp_path):
    old, new = _full_copy(tmp_path, "old"), _full_copy(tmp_path, "new")
    (new / "bcg" / "review.yaml").write_text("")
    res = runner.invoke(app, ["diff", str(old), str(new)])
    assert res.exit_code == 1
    assert any("bcg/review.yaml: the file is empty" in ln for ln in _error_lines(res.output))


def test_validate_records_without_review_yaml(tmp_path):
    d = _full_copy(tmp_path)
    (d / "review.yaml").unlink()
    res = runner.invoke(app, ["validate", str(d)])
    assert res.exit_code == 1
    assert "holds record files but no review.yaml" in res.output


@pytest.mark.parametrize("args,expect", [
    (["--format", ""], "error: --format: no format given; choose from html, pdf, md, tex"),
    (["--format", " , "], "error: --format: no format given"),
    (["--format", "html,docx"], "error: --format: 'docx' is not one of html, pdf, md, tex"),
    (["--templates", "/nonexistent-templates"],
     "error: --templates: /nonexistent-templates: no such directory"),
])
def test_report_usage_errors_write_nothing(review_copy, tmp_path, args, expect):
    out = tmp_path / "out"
    res = runner.invoke(app, ["report", str(review_copy), "--out", str(out)] + args)
    assert res.exit_code == 2, res.output
    lines = _error_lines(res.output)
    assert len(lines) == 1 and lines[0].startswith(expect), res.output
    assert not out.exists()


def test_report_missing_directory_is_one_error_line(tmp_path):
    res = runner.invoke(app, ["report", str(tmp_path / "none"), "--out", str(tmp_path / "o")])
    assert res.exit_code == 1
    assert _error_lines(res.output) == [f"error: {tmp_path / 'none'}: no such directory"]


def test_report_invalid_records_one_error_line_each(review_copy, tmp_path):
    """report on broken records: every output line is an `error:` line naming file and field."""
    _break(review_copy)
    out = tmp_path / "out"
    res = runner.invoke(app, ["report", str(review_copy), "--out", str(out), "--format", "md"])
    assert res.exit_code == 1, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert lines and all(ln.startswith("error: ") for ln in lines), res.output
    assert any("willy-2012.yaml: willy-2012: outcomes[0].measurements[1].sd: must be > 0" in ln
               for ln in lines)
    assert not out.exists()
