"""The malformed-input corpus (tests/malformed/cases.yaml) and a property test.

Every case is run through `evidence validate` (CliRunner) on a copy of a bundled review in
tmp_path: it must exit 1, print the expected fragment on an `error:` line, print no traceback
and finish within TIME_LIMIT. Symlinks, FIFOs and huge files are made here, not committed.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import evidence as ev
from evidence.cli import app
from evidence.records.safeyaml import MAX_FILE_BYTES

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "malformed"
STUDIES = HERE.parent / "studies"
CASES = yaml.safe_load((CORPUS / "cases.yaml").read_text(encoding="utf-8"))
TIME_LIMIT = 10.0  # seconds: the bound for any input (a hang or an alias bomb fails it)
runner = CliRunner()


def _base(tmp_path: Path, base: str) -> Path:
    if base == "bcg":
        dst = tmp_path / "bcg"
        shutil.copytree(STUDIES / "bcg", dst, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    else:
        dst = tmp_path / "studies"
        shutil.copytree(STUDIES, dst, ignore=shutil.ignore_patterns("bcg", "__pycache__"))
    return dst


def _validate(directory: Path):
    t0 = time.perf_counter()
    res = runner.invoke(app, ["validate", str(directory)])
    return res, time.perf_counter() - t0


def _check(res, seconds, expect: str) -> None:
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output
    lines = [ln for ln in res.output.splitlines() if ln.startswith("error: ")]
    assert any(expect in ln for ln in lines), res.output
    assert seconds < TIME_LIMIT


def test_corpus_is_large_and_covers_every_class():
    assert len(CASES) >= 60
    classes = {c["class"] for c in CASES}
    assert {"yaml-safety", "limits", "duplicate-keys", "yaml-1.2", "semantic", "ids", "types",
            "required", "unknown-fields", "encoding", "binary", "rules", "empty"} <= classes
    assert len({c["name"] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_malformed_case(tmp_path, case):
    d = _base(tmp_path, case["base"])
    if "file" in case:
        (d / case["write"]).write_bytes((CORPUS / case["file"]).read_bytes())
    else:
        p = d / case["edit"]
        text = p.read_text(encoding="utf-8")
        old, new = case["replace"]
        assert old in text, f"case {case['name']}: {old!r} not in {case['edit']}"
        p.write_text(text.replace(old, new, 1), encoding="utf-8")
    res, seconds = _validate(d)
    _check(res, seconds, case["expect"])


# ------------------------------------------------------------ cases made here (not committed)


def test_huge_file(tmp_path):
    d = _base(tmp_path, "bcg")
    with open(d / "trials" / "99-huge.yaml", "wb") as fh:
        fh.write(b"notes:\n")
        fh.write(b"  - x\n" * (MAX_FILE_BYTES // 6 + 10))
    _check(*_validate(d), "99-huge.yaml: the file is too large")


def test_huge_string(tmp_path):
    d = _base(tmp_path, "bcg")
    (d / "trials" / "99-long.yaml").write_text("type: clinical\nid: x\nlabel: " + "a" * 50_000)
    _check(*_validate(d), "99-long.yaml: line 3: a text of 50,000 characters")


def test_many_values(tmp_path):
    d = _base(tmp_path, "bcg")
    (d / "trials" / "99-many.yaml").write_text("notes: [" + "1," * 150_000 + "1]\n")
    _check(*_validate(d), "more than 100,000 values in one file")


def test_symlink_out_of_the_review(tmp_path):
    d = _base(tmp_path, "bcg")
    secret = tmp_path / "secret.yaml"
    secret.write_text("password: hunter2\n")
    (d / "trials" / "99-link.yaml").symlink_to(secret)
    res, s = _validate(d)
    _check(res, s, "99-link.yaml: a symbolic link out of the review directory")
    assert "hunter2" not in res.output


def test_dangling_symlink(tmp_path):
    d = _base(tmp_path, "bcg")
    (d / "trials" / "99-link.yaml").symlink_to(tmp_path / "nowhere.yaml")
    _check(*_validate(d), "99-link.yaml: a symbolic link that leads nowhere")


def test_symlinked_folder(tmp_path):
    d = _base(tmp_path, "bcg")
    other = tmp_path / "elsewhere"
    other.mkdir()
    (d / "more").symlink_to(other)
    _check(*_validate(d), "bcg/more: a symbolic link to a folder")


def test_symlink_to_dev_zero(tmp_path):
    d = _base(tmp_path, "bcg")
    (d / "trials" / "99-zero.yaml").symlink_to("/dev/zero")
    _check(*_validate(d), "99-zero.yaml: a symbolic link out of the review directory")


def test_fifo_is_never_opened(tmp_path):
    d = _base(tmp_path, "bcg")
    os.mkfifo(d / "trials" / "99-fifo.yaml")
    _check(*_validate(d), "99-fifo.yaml: not a regular file")  # opening it would block


def test_review_yaml_symlink_out(tmp_path):
    d = _base(tmp_path, "bcg")
    real = tmp_path / "review-elsewhere.yaml"
    shutil.move(d / "review.yaml", real)
    (d / "review.yaml").symlink_to(real)
    _check(*_validate(d), "review.yaml: a symbolic link out of the review directory")


def test_unreadable_file(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    d = _base(tmp_path, "bcg")
    p = d / "trials" / "01-aronson-1948.yaml"
    p.chmod(0)
    _check(*_validate(d), "01-aronson-1948.yaml: cannot be read")


def test_directory_is_a_file(tmp_path):
    f = tmp_path / "file.yaml"
    f.write_text("a: 1\n")
    res = runner.invoke(app, ["validate", str(f)])
    assert res.exit_code == 1 and "not a directory" in res.output


def test_nested_review_error_fails_the_parent(tmp_path):
    d = tmp_path / "studies"
    shutil.copytree(STUDIES, d, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    p = d / "bcg" / "trials" / "01-aronson-1948.yaml"
    p.write_text(p.read_text().replace("events: 4,", "events: 011,"))
    _check(*_validate(d), "bcg/trials/01-aronson-1948.yaml: line 30: '011' is ambiguous")


# -------------------------------------------------------------------------- property test

TRIAL = STUDIES / "bcg" / "trials" / "01-aronson-1948.yaml"


def _leaves(obj, path=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _leaves(v, f"{path}.{k}" if path else k)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _leaves(v, f"{path}[{i}]")
    else:
        yield path


def _get(obj, path):
    import re

    for p in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        obj = obj[int(p[1:-1])] if p.startswith("[") else obj[p]
    return obj


def _set(obj, path, value):
    import re

    parts = re.findall(r"[^.\[\]]+|\[\d+\]", path)
    for p in parts[:-1]:
        obj = obj[int(p[1:-1])] if p.startswith("[") else obj[p]
    last = parts[-1]
    if last.startswith("["):
        obj[int(last[1:-1])] = value
    else:
        obj[last] = value


BASE = yaml.safe_load(TRIAL.read_text())
LEAVES = sorted(set(_leaves(BASE)) - {"type"})
VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.lists(st.integers(0, 5), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(),
                                                          max_size=2))


def _ancestors(path: str) -> list[str]:
    import re

    parts = re.findall(r"\.?[^.\[\]]+|\[\d+\]", path)
    return ["".join(parts[:i]).lstrip(".") for i in range(1, len(parts) + 1)]


@settings(max_examples=150, deadline=None, derandomize=True,  # the same cases in every run
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(LEAVES), value=VALUES)
def test_mutated_record_loads_or_names_the_field(tmp_path_factory, path, value):
    d = tmp_path_factory.mktemp("mut") / "bcg"
    shutil.copytree(STUDIES / "bcg", d, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    data = yaml.safe_load(TRIAL.read_text())
    _set(data, path, value)
    (d / "trials" / TRIAL.name).write_text(yaml.safe_dump(data, sort_keys=False))
    try:
        ev.load_review(d)
    except ev.RecordError as exc:
        names = _ancestors(path)
        leaf = path.rsplit(".", 1)[-1].split("[")[0]
        assert any(TRIAL.name in p or "review.yaml" in p for p in exc.problems), exc.problems
        # an id that other fields refer to (an arm, a time point): renaming it may instead be
        # reported where the old id is still used ("unknown arm 'vaccinated'")
        old = _get(BASE, path)
        ok = any(any(f": {n}" in p or f".{n}" in p or f"{n}:" in p for n in names)
                 or leaf in p or (isinstance(old, str) and f"'{old}'" in p)
                 for p in exc.problems)
        assert ok, (path, value, exc.problems)
