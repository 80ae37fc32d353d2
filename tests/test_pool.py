"""`evidence pool FILE` (issue 12, item 5): batch pooling of a flat CSV/TSV/Parquet table.

Oracles: :func:`evidence.meta_batch` on the same frame (exact: the command reads the table,
checks it and calls meta_batch; CSV floats are written to the last bit), and for the BCG
trials R metafor's ``rma(yi, vi)`` on metadat's dat.bcg log risk ratios
(tests/reference/rma.json; estimate -0.7145, tau2 0.3132).
Row numbers in messages are data rows counted from 1, the header line not counted.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import evidence as ev
from evidence.cli import POOL_MAX_PROBLEMS, app

ROOT = Path(__file__).resolve().parents[1]
RMA = json.loads((ROOT / "tests" / "reference" / "rma.json").read_text())
# as tests/test_meta_fit.py: metafor ran with tol 1e-14 and the fixture keeps 15 significant
# digits; 1e-9 relative leaves room for REML's iteration stopping at a slightly different step
REL_TOL = 1e-9

runner = CliRunner()


def _synthetic(seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    k = rng.integers(1, 9, 60)
    gid = np.repeat(np.arange(60), k)
    n = gid.size
    vi = rng.uniform(0.01, 0.2, n)
    frame = pd.DataFrame({"outcome": [f"o{g % 6}" for g in gid], "arm": gid // 6,
                          "study": np.arange(n) + 1,
                          "yi": rng.normal(0.3, 0.4, n) + rng.normal(0, 0.2, 60)[gid],
                          "vi": vi, "sei": np.sqrt(vi)})
    frame.loc[rng.random(n) < 0.05, "yi"] = np.nan
    return frame


def _pool(*args):
    return runner.invoke(app, ["pool", *map(str, args)])


@pytest.fixture()
def table(tmp_path):
    frame = _synthetic()
    path = tmp_path / "effects.csv"
    frame.to_csv(path, index=False)
    return frame, path


@pytest.mark.parametrize("method, test", [("REML", "z"), ("DL", "knha")])
def test_csv_round_trip_equals_meta_batch(table, tmp_path, method, test):
    frame, path = table
    out = tmp_path / "pooled.csv"
    res = _pool(path, "--by", "outcome,arm", "--method", method, "--test", test, "--out", out)
    assert res.exit_code == 0, res.output
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ev.EvidenceWarning)  # k = 1 under knha, as the CLI's
        want = ev.meta_batch(pd.read_csv(path), by=["outcome", "arm"], method=method,
                             test=test)
    pd.testing.assert_frame_equal(pd.read_csv(out), want, check_exact=True)
    assert f"wrote {out}: 60 groups, {int(want['k'].sum())} studies pooled" in res.output
    assert f"{int(frame['yi'].isna().sum())} rows dropped (yi or vi missing)" in res.output
    if test == "knha":
        assert "warning: test='knha' needs k >= 2" in res.output


def test_parquet_round_trip_equals_meta_batch(table, tmp_path):
    pytest.importorskip("pyarrow")
    frame, _ = table
    src = tmp_path / "effects.parquet"
    frame.to_parquet(src, index=False)
    out = tmp_path / "sub" / "pooled.parquet"
    res = _pool(src, "--by", "outcome", "--out", out, "--level", "90")
    assert res.exit_code == 0, res.output
    want = ev.meta_batch(pd.read_parquet(src), by="outcome", level=0.9)
    pd.testing.assert_frame_equal(pd.read_parquet(out), want, check_exact=True)
    assert not list(out.parent.glob(".*.tmp"))


def test_sei_instead_of_vi(table, tmp_path):
    frame, path = table
    out = tmp_path / "pooled.tsv"
    res = _pool(path, "--by", "outcome", "--sei", "sei", "--method", "PM", "--out", out)
    assert res.exit_code == 0, res.output
    data = pd.read_csv(path).assign(v2=lambda d: d["sei"] ** 2)
    want = ev.meta_batch(data, vi="v2", by="outcome", method="PM")
    pd.testing.assert_frame_equal(pd.read_csv(out, sep="\t"), want, check_exact=True)


def _bcg_counts() -> pd.DataFrame:
    """dat.bcg's 2x2 counts as the bundled records hold them (studies/bcg/trials/*.yaml)."""
    from evidence.model import wide_measurements

    review = ev.load_review(ROOT / "studies" / "bcg")
    wide = wide_measurements(review.frames().measurements)
    cells = wide[wide["outcome"] == "tb"].pivot(index="study", columns="arm",
                                                 values=["events", "nonevents"])
    order = [s.id for s in review.studies]
    cells = cells.loc[order]
    ch = review.frames().characteristics.pivot(index="study", columns="characteristic",
                                                values="value").loc[order]
    return pd.DataFrame({"trial": order, "alloc": ch["alloc"].to_numpy(),
                         "tpos": cells[("events", "vaccinated")].to_numpy(),
                         "tneg": cells[("nonevents", "vaccinated")].to_numpy(),
                         "cpos": cells[("events", "control")].to_numpy(),
                         "cneg": cells[("nonevents", "control")].to_numpy()})


def test_bcg_log_risk_ratios_pooled_as_metafor(tmp_path):
    es = ev.escalc("RR", data=_bcg_counts(), ai="tpos", bi="tneg", ci="cpos", di="cneg")
    path = tmp_path / "bcg.csv"
    es.to_csv(path, index=False)
    out = tmp_path / "bcg-pooled.csv"
    res = _pool(path, "--method", "REML", "--out", out)
    assert res.exit_code == 0, res.output
    got = pd.read_csv(out).iloc[0]
    case = next(c for c in RMA["cases"] if c["dataset"] == "bcg" and c["method"] == "REML"
                and c["test"] == "z" and c["level"] == 95)
    for name in ("estimate", "se", "tau2", "ci_low", "ci_high", "i2", "q"):
        assert math.isclose(got[name], case["result"][name], rel_tol=REL_TOL), name
    assert round(got["estimate"], 4) == -0.7145 and round(got["tau2"], 4) == 0.3132
    by_alloc = _pool(path, "--by", "alloc")
    assert by_alloc.exit_code == 0 and "3 groups, 13 studies pooled" in by_alloc.output


def test_without_out_prints_the_first_rows_and_a_summary(table):
    _, path = table
    res = _pool(path, "--by", "outcome,arm")
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert "outcome" in lines[1] and "estimate" in lines[1] and "tau2" in lines[1]
    assert sum(" o0 " in ln or " o1 " in ln for ln in lines) == 10
    assert lines[-1].startswith("60 groups, ") and "(first 10 shown; --out FILE" in lines[-1]
    assert "reading" not in res.output  # no progress when stderr is not a terminal


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return p


BAD_CSV = "g,yi,vi\na,0.1,0.02\na,0.3,\"0,2\"\nb,x,0.1\nb,0.2,-1\nc,inf,0.1\nc,NA,0.1\nd,1,0\n"


@pytest.mark.parametrize("name, text, args, code, lines", [
    ("data.csv", BAD_CSV, ["--by", "g"], 1, [
        "error: {p}: row 2, column vi: '0,2' is not a number",
        "error: {p}: row 3, column yi: 'x' is not a number",
        "error: {p}: row 4, column vi: '-1' must be > 0 (a sampling variance)",
        "error: {p}: row 5, column yi: 'inf' is not finite",
        "error: {p}: row 7, column vi: '0' must be > 0 (a sampling variance)"]),
    ("data.csv", "g,yi,se\na,0.1,-0.2\n", ["--sei", "se"], 1, [
        "error: {p}: row 1, column se: '-0.2' must be > 0 (a standard error)"]),
    ("data.csv", "g,yi,vi\na,1,1\n", ["--by", "grp,g", "--yi", "y"], 1, [
        "error: {p}: no column 'y' (--yi); the columns are g, yi, vi",
        "error: {p}: no column 'grp' (--by); the columns are g, yi, vi"]),
    ("empty.csv", "", [], 1, ["error: {p}: the file is empty"]),
    ("blank.csv", "\n\n", [], 1, ["error: {p}: the file is empty (no header line)"]),
    ("header.csv", "g,yi,vi\n", [], 1, ["error: {p}: no data rows (only the header: g, yi, vi)"]),
    ("ragged.csv", "g,yi,vi\na,1,2\nb,1,2,3\n", [], 1, [
        "error: {p}: is not a well-formed CSV table: data row 2 (line 3) has 4 fields, the "
        "header 3"]),
    ("latin1.csv", b"g,yi,vi\n\xe9t\xe9,1,2\n", [], 1, [
        "error: {p}: is not UTF-8 text (save it as UTF-8 CSV)"]),
    ("fake.parquet", "not parquet", [], 1, ["error: {p}: cannot be read as Parquet: "]),
    ("data.xlsx", "x", [], 2, [
        "error: {p}: unknown table format '.xlsx'; use .csv, .tsv, .parquet, .pq"]),
    ("data.csv", "g,yi,vi\na,1,1\n", ["--method", "dl2", "--test", "t", "--level", "100"], 2, [
        "error: --method: 'dl2' is not one of FE, EE, DL, REML, ML, PM, HE, SJ, HS, EB",
        "error: --test: 't' is not one of z, knha",
        "error: --level: level 100.0 must lie in (0, 1) such as 0.95, or in (1, 100) such as 95"]),
    ("data.csv", "g,yi,vi\na,1,1\n", ["--vi", "vi", "--sei", "se"], 2, [
        "error: --vi and --sei: give one of them (vi = sei² with --sei)"]),
    ("data.csv", "g,yi,vi\na,1,1\n", ["--by", "g,,g"], 2, [
        "error: --by: 'g,,g' has an empty column name",
        "error: --by: column 'g' given twice"]),
    ("data.csv", "g,yi,vi\na,1,1\n", ["--out", "pooled.xlsx"], 2, [
        "error: --out: pooled.xlsx: unknown table format '.xlsx'; use .csv, .tsv, .parquet, .pq"]),
], ids=["bad-values", "bad-sei", "unknown-columns", "empty", "blank", "header-only", "ragged",
        "not-utf8", "not-parquet", "unknown-format", "bad-options", "vi-and-sei", "bad-by",
        "bad-out-format"])
def test_errors_name_file_row_and_column(tmp_path, name, text, args, code, lines):
    if name.endswith(".parquet"):
        pytest.importorskip("pyarrow")
    path = _write(tmp_path, name, text)
    res = _pool(path, *args)
    assert res.exit_code == code, res.output
    got = res.output.splitlines()
    want = [ln.format(p=path) for ln in lines]
    assert len(got) == len(want), res.output
    for g, w in zip(got, want):
        assert g == w or (w.endswith(": ") and g.startswith(w)), (g, w)
    assert "Traceback" not in res.output


def test_unreadable_and_missing_files(tmp_path):
    res = _pool(tmp_path / "nothing.csv")
    assert res.exit_code == 1 and res.output == f"error: {tmp_path / 'nothing.csv'}: no such file\n"
    (tmp_path / "dir.csv").mkdir()
    res = _pool(tmp_path / "dir.csv")
    assert res.exit_code == 1 and "is a directory, not a table file" in res.output


def test_many_problems_are_cut_after_ten(tmp_path):
    rows = "".join(f"s{i},x{i},0.1\n" for i in range(25))
    res = _pool(_write(tmp_path, "data.csv", "g,yi,vi\n" + rows))
    lines = res.output.splitlines()
    assert res.exit_code == 1 and len(lines) == POOL_MAX_PROBLEMS + 1
    assert lines[0].endswith("row 1, column yi: 'x0' is not a number")
    assert lines[-1] == f"error: … and {25 - POOL_MAX_PROBLEMS} more"


def test_cannot_write_exits_3_and_keeps_the_previous_output(table, tmp_path):
    _, path = table
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file, not a directory")
    res = _pool(path, "--out", blocker / "pooled.csv")
    assert res.exit_code == 3 and res.output.startswith(f"error: {blocker / 'pooled.csv'}: "
                                                        "cannot be written: ")
    (tmp_path / "dir.csv").mkdir()
    res = _pool(path, "--out", tmp_path / "dir.csv")
    assert res.exit_code == 3 and "is a directory" in res.output
    out = tmp_path / "pooled.csv"
    out.write_text("previous\n")
    bad = _write(tmp_path, "bad.csv", "g,yi,vi\na,1,-1\n")
    assert _pool(bad, "--out", out).exit_code == 1
    assert out.read_text() == "previous\n"


def test_subprocess_run(table, tmp_path):
    _, path = table
    out = tmp_path / "pooled.csv"
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    run = subprocess.run([sys.executable, "-m", "evidence.cli", "pool", str(path), "--by",
                          "outcome", "--out", str(out)], capture_output=True, text=True,
                         env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stderr == "" and run.stdout.startswith(f"wrote {out}: 6 groups, ")
    pd.testing.assert_frame_equal(pd.read_csv(out),
                                  ev.meta_batch(pd.read_csv(path), by="outcome"),
                                  check_exact=True)
    bad = subprocess.run([sys.executable, "-m", "evidence.cli", "pool", str(path), "--method",
                          "XX"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.startswith("error: --method: 'XX' is not one of FE, EE, DL")
