"""Benchmark a three-level REML fit (evidence.meta_mv) against metafor's rma.mv(sparse=TRUE).

    python benchmarks/bench_multilevel.py                 # k = 9,000 (default)
    python benchmarks/bench_multilevel.py --k 3000 --no-r

Data: a seeded simulation (numpy default_rng(seed)) of a three-level model, studies with 2 to
10 effect sizes (mean 6), y = 0.2 + u_study + u_effect + e, sigma2 = (0.05, 0.03), v_i
uniform on (0.01, 0.1). Both programs fit ``random = study/esid`` by REML on the very same
numbers (written to a temporary CSV that R reads). evidence is timed with perf_counter
(best of --repeats, after one warm-up call); R with system.time() around rma.mv only (one
run; a fit takes minutes). Ratio = R time / evidence time. Estimates must agree to 1e-6.
Writes the printed table to benchmarks/results/multilevel.md (--out to change it).
Not part of the pytest suite.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import evidence as ev  # noqa: E402

AGREE_TOL = 1e-6  # issue 13: same estimates to 1e-6 (relative; absolute for sigma2 near 0)

R_SCRIPT = r"""
suppressPackageStartupMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
tm <- system.time(res <- rma.mv(yi, vi, random = ~ 1 | study/esid, data = d, sparse = TRUE,
                                method = "REML"))
cat(jsonlite::toJSON(list(seconds = unname(tm["elapsed"]), estimate = as.numeric(res$beta),
    se = as.numeric(res$se), sigma2 = as.numeric(res$sigma2),
    loglik = as.numeric(logLik(res)), metafor = packageDescription("metafor")$Version,
    R = paste(R.version$major, R.version$minor, sep = ".")), digits = NA, auto_unbox = TRUE))
"""


def simulate(k: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sizes = []
    while sum(sizes) < k:
        sizes.append(int(rng.integers(2, 11)))
    sizes[-1] -= sum(sizes) - k
    if sizes[-1] < 1:
        sizes.pop()
        sizes[-1] += k - sum(sizes)
    study = np.repeat(np.arange(len(sizes)), sizes)
    u_study = rng.normal(0, np.sqrt(0.05), len(sizes))[study]
    u_eff = rng.normal(0, np.sqrt(0.03), k)
    vi = rng.uniform(0.01, 0.1, k)
    yi = 0.2 + u_study + u_eff + rng.normal(0, np.sqrt(vi))
    return pd.DataFrame({"study": study, "esid": np.arange(k), "yi": yi, "vi": vi})


def run_r(df: pd.DataFrame) -> dict | None:
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "data.csv"
        script = Path(tmp) / "fit.R"
        df.to_csv(csv, index=False)
        script.write_text(R_SCRIPT)
        out = subprocess.run(["Rscript", str(script), str(csv)], capture_output=True,
                             text=True, check=False)
        if out.returncode != 0:
            print("R failed:", out.stderr.strip()[-500:])
            return None
        return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--k", type=int, default=9000)
    ap.add_argument("--seed", type=int, default=20240613)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-r", action="store_true")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "multilevel.md"))
    args = ap.parse_args()

    df = simulate(args.k, args.seed)
    fit_kw = dict(data=df, random="study/esid", method="REML", sigma2_ci=False)
    ev.meta_mv("yi", "vi", **fit_kw)  # warm-up (imports, caches)
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        fit = ev.meta_mv("yi", "vi", **fit_kw)
        times.append(time.perf_counter() - t0)
    t_ev = min(times)

    lines = [
        f"# Three-level REML fit, k = {args.k:,} ({df.study.nunique():,} studies, seed "
        f"{args.seed})",
        "",
        f"Run {_dt.datetime.now().isoformat(timespec='seconds')} on {platform.machine()}, "
        f"{os.cpu_count()} cores, load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}; "
        f"python {platform.python_version()}, numpy {np.__version__}.",
        "",
        "| program | seconds | estimate | se | sigma2 (study, study/esid) | logLik |",
        "|---|---:|---:|---:|---|---:|",
        f"| evidence.meta_mv (best of {args.repeats}) | {t_ev:.3f} | {fit.estimate:.10f} | "
        f"{fit.se:.10f} | {fit.sigma2[0]:.10f}, {fit.sigma2[1]:.10f} | {fit.loglik:.6f} |",
    ]
    res = None if args.no_r else run_r(df)
    if res is None:
        lines += ["", "**R/metafor not run** (absent, failed, or --no-r): no ratio."]
    else:
        lines.append(
            f"| metafor {res['metafor']} rma.mv(sparse=TRUE), R {res['R']} | "
            f"{res['seconds']:.3f} | {res['estimate']:.10f} | {res['se']:.10f} | "
            f"{res['sigma2'][0]:.10f}, {res['sigma2'][1]:.10f} | {res['loglik']:.6f} |")
        d_est = abs(fit.estimate - res["estimate"]) / abs(res["estimate"])
        d_se = abs(fit.se - res["se"]) / res["se"]
        d_s2 = float(np.max(np.abs(fit.sigma2 - np.array(res["sigma2"]))
                            / np.maximum(np.array(res["sigma2"]), 1e-12)))
        ok = max(d_est, d_se, d_s2) <= AGREE_TOL
        lines += [
            "",
            f"**Speed-up: {res['seconds'] / t_ev:,.0f}x** (R seconds / evidence seconds).",
            "",
            f"Agreement (relative): estimate {d_est:.1e}, se {d_se:.1e}, sigma2 {d_s2:.1e} "
            f"-> {'within' if ok else 'NOT within'} {AGREE_TOL:g}.",
        ]
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
