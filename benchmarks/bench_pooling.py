"""Benchmark the pooling engine of evidence against its peers, side by side in one run.

    python benchmarks/bench_pooling.py            # full run
    python benchmarks/bench_pooling.py --quick    # smaller caps, fewer repeats
    python benchmarks/bench_pooling.py --no-r     # skip R metafor (its columns say so)

Sections
--------
1. one meta-analysis (k = 10 ... 10^6; DL, REML, PM): evidence.meta vs statsmodels
   combine_effects, PyMARE estimators and R metafor rma() (timed with system.time() inside
   R; k <= 1,000);
2. many meta-analyses (G = 10^3 ... 10^6 groups of k = 8; DL, REML, ML, PM):
   evidence.meta_batch (one call from a DataFrame) vs a Python loop of statsmodels,
   PyMARE's own batching (2-D y/v) and an R loop of rma() (slow peers are capped and
   extrapolated, labelled as such);
3. peak memory, one fresh child process per configuration (VmHWM; tracemalloc);
4. the targets of issue 12, checked on the run's numbers.

Ratios are peer time / evidence time: above 1 means evidence is faster.
All data are synthetic, drawn from a seeded numpy generator (see ``synth``).
Not part of the pytest suite.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.metadata as _md
import json
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
SEED = 20240611

#: Run settings. ``min_time``: a timed block repeats a call until it lasts this long (s);
#: ``repeats``: best of this many blocks; ``cap_*``: most groups a looping peer fits
#: (beyond that its time is extrapolated linearly in G and labelled so).
MODES = {
    "full": dict(single_k=(10, 100, 1000, 10_000, 100_000, 1_000_000),
                 batch_g=(1_000, 10_000, 100_000, 1_000_000),
                 min_time=0.2, repeats=5, batch_repeats=3, peer_batch_repeats=2,
                 big_repeats=1, cap_statsmodels=10_000, cap_metafor=2_000,
                 metafor_single_max_k=1000, mem_groups=(1_000, 10_000, 100_000, 1_000_000),
                 mem_single_k=(1_000_000,)),
    "quick": dict(single_k=(10, 1000, 1_000_000), batch_g=(1_000, 100_000),
                  min_time=0.05, repeats=3, batch_repeats=2, peer_batch_repeats=1,
                  big_repeats=1, cap_statsmodels=2_000, cap_metafor=500,
                  metafor_single_max_k=1000, mem_groups=(100_000,), mem_single_k=()),
}
BIG_GROUPS = 1_000_000
#: studies per group in the batch section (the setting of the issue's targets; equal k is
#: PyMARE's best case: one call)
BATCH_K = 8
SINGLE_METHODS = ("REML", "DL", "PM")
BATCH_METHODS = ("REML", "DL", "ML", "PM")
#: what PyMARE computes (estimate, its variance, tau2): the evidence rows peers are
#: compared with ask meta_batch for these columns only (meta() reads only these fields)
LITE_COLUMNS = ["estimate", "se", "tau2"]
METAFOR_DEFAULT_NOTE = {"REML": "; default Fisher scoring threshold 1e-5",
                        "ML": "; default Fisher scoring threshold 1e-5",
                        "PM": "; default uniroot tol eps^0.25 ≈ 1.2e-4"}
ENV_PREFIXES = ("OPENBLAS_", "OMP_", "MKL_", "BLIS_", "VECLIB_", "NUMEXPR_", "GOTO_")

# what each peer really runs for an evidence method (None: the peer has no such estimator)
STATSMODELS_METHOD = {"DL": "chi2", "PM": "iterated", "REML": None, "ML": None}
PYMARE_METHOD = {"DL": "DerSimonianLaird", "REML": 'VarianceBasedLikelihoodEstimator("REML")',
                 "ML": 'VarianceBasedLikelihoodEstimator("ML")', "PM": None}
METAFOR_METHOD = {m: f'rma(method="{m}")' for m in ("DL", "REML", "ML", "PM")}


# ---------------------------------------------------------------------------------------
# synthetic data


def synth(rng: np.random.Generator, counts: np.ndarray, tau2: float = 0.04):
    """Clearly synthetic effect sizes: per-study sample sizes n ~ U{20..200}, sampling
    variance v = 4/n + small jitter (SMD-like), group means ~ N(0.3, 0.2^2), study effects
    y ~ N(mean + N(0, tau2), v). Returns (y, v), rows grouped by ``counts``."""
    counts = np.asarray(counts)
    n_rows = int(counts.sum())
    n = rng.integers(20, 201, size=n_rows)
    v = 4.0 / n * rng.uniform(0.9, 1.1, size=n_rows)
    mu = np.repeat(rng.normal(0.3, 0.2, size=counts.size), counts)
    y = mu + rng.normal(0.0, math.sqrt(tau2), size=n_rows) + rng.normal(0.0, np.sqrt(v))
    return y, v


def batch_data(max_groups: int, rng: np.random.Generator) -> pd.DataFrame:
    counts = np.full(max_groups, BATCH_K)
    y, v = synth(rng, counts)
    g = np.repeat(np.arange(max_groups), counts)
    return pd.DataFrame({"g": g, "yi": y, "vi": v})


# ---------------------------------------------------------------------------------------
# timing helpers


def best_time(fn, repeats: int, min_time: float):
    """Best-of-``repeats`` seconds per call of ``fn`` (time.perf_counter); each block
    repeats the call until it lasts ``min_time``. Returns (seconds, last result)."""
    t0 = time.perf_counter()
    result = fn()
    first = time.perf_counter() - t0
    if repeats <= 0:  # one timed call (the largest cases)
        return first, result
    number = max(1, math.ceil(min_time / max(first, 1e-9)))
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(number):
            result = fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best, result


def fmt_time(s: float | None) -> str:
    if s is None or not np.isfinite(s):
        return "n/a"
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    if s < 1:
        return f"{s * 1e3:.1f} ms"
    return f"{s:.2f} s"


def fmt_ratio(r: float | None) -> str:
    if r is None or not np.isfinite(r):
        return ""
    return f"{r:.3g}×" if r < 100 else f"{r:,.0f}×"


def fmt_diff(d: float | None) -> str:
    if d is None or not np.isfinite(d):
        return "n/a" if d is None else "nan"
    return f"{d:.1e}"


#: |Δ tau2| above this is more than any convergence tolerance of the tools compared here
#: (metafor's PM uniroot tol ≈ 1.2e-4 is the loosest); such groups are counted in the notes
TAU2_DISAGREE = 1e-3


def n_disagree(a, b) -> str:
    """Note counting groups whose tau2 differ by more than TAU2_DISAGREE."""
    d = np.abs(np.asarray(a, float) - np.asarray(b, float))
    n = int(np.sum(d > TAU2_DISAGREE))
    nan = int(np.sum(np.isnan(a) != np.isnan(b)))
    out = f"; {n} group(s) with |Δ tau2| > {TAU2_DISAGREE:g}" if n else ""
    return out + (f"; {nan} group(s) NaN in only one of the two" if nan else "")


def maxdiff(a, b) -> float | None:
    a = np.asarray(a, dtype=float).ravel()
    b = np.asarray(b, dtype=float).ravel()
    ok = np.isfinite(a) & np.isfinite(b)
    if not np.any(ok):
        return None
    return float(np.max(np.abs(a[ok] - b[ok])))


@dataclass
class Row:
    section: str
    size: int               # k (single) or G (batch)
    method: str             # the evidence estimator it is compared with
    tool: str               # what the peer really runs
    seconds: float | None   # per fit (single) or for all G groups (batch)
    base: float | None = None  # evidence time for the same case
    d_est: float | None = None
    d_tau2: float | None = None
    note: str = ""
    timed_groups: int | None = None
    extrapolated: bool = False
    is_base: bool = False
    d_tight: tuple | None = None  # (max |Δ estimate|, max |Δ tau2|) vs metafor, tight control

    @property
    def ratio(self):
        if self.is_base or self.seconds is None or not self.base:
            return None
        return self.seconds / self.base


@dataclass
class Report:
    rows: list = field(default_factory=list)
    memory: list = field(default_factory=list)
    notes: list = field(default_factory=list)


# ---------------------------------------------------------------------------------------
# peers


def have(module: str) -> bool:
    try:
        __import__(module)
        return True
    except Exception:
        return False


def pymare_estimator(method: str):
    from pymare.estimators import DerSimonianLaird, VarianceBasedLikelihoodEstimator

    # "wald": the plain z-based covariance, as evidence's test="z" and metafor's default
    if method == "DL":
        return DerSimonianLaird(small_sample_correction="wald")
    return VarianceBasedLikelihoodEstimator(method=method, small_sample_correction="wald")


def pymare_fit(method: str, Y: np.ndarray, V: np.ndarray):
    """One PyMARE call on Y, V of shape (k, D): D parallel datasets of k studies."""
    est = pymare_estimator(method)
    est.fit(Y, V, np.ones((Y.shape[0], 1)))
    beta = np.asarray(est.params_["fe_params"]).reshape(-1)
    tau2 = np.asarray(est.params_["tau2"]).reshape(-1)
    return beta, tau2


def statsmodels_fit(method_re: str, y, v):
    from statsmodels.stats.meta_analysis import combine_effects

    r = combine_effects(y, v, method_re=method_re)
    return r.mean_effect_re, r.tau2


# ---------------------------------------------------------------------------------------
# R metafor (one Rscript process for every R case; start-up not timed)


class RRunner:
    def __init__(self, enabled: bool):
        self.rscript = shutil.which("Rscript") if enabled else None
        self.ok = False
        self.version = ""
        self.reason = "R disabled (--no-r)" if not enabled else ""
        if enabled and not self.rscript:
            self.reason = "Rscript not found"
        self.dir = Path(tempfile.mkdtemp(prefix="evidence-bench-"))
        self.cases: list[dict] = []
        self.timings: dict[str, dict] = {}

    def add_single(self, case_id, y, v, method, min_time, repeats):
        f = f"single_{case_id}.csv"
        pd.DataFrame({"yi": y, "vi": v}).to_csv(self.dir / f, index=False, float_format="%.17g")
        self.cases.append(dict(id=case_id, kind="single", method=method, datafile=f,
                               n_groups=1, min_time=min_time, repeats=repeats))

    def add_batch_data(self, df: pd.DataFrame, n_groups: int) -> str:
        f = "batch.csv"
        if not (self.dir / f).exists():
            df[df["g"] < n_groups].to_csv(self.dir / f, index=False, float_format="%.17g")
        return f

    def add_batch(self, case_id, datafile, method, n_groups, repeats):
        self.cases.append(dict(id=case_id, kind="batch", method=method, datafile=datafile,
                               n_groups=n_groups, min_time=0.0, repeats=repeats))

    def run(self):
        if not self.rscript or not self.cases:
            return
        pd.DataFrame(self.cases).to_csv(self.dir / "cases.csv", index=False)
        t0 = time.perf_counter()
        proc = subprocess.run([self.rscript, str(HERE / "metafor_timing.R"), str(self.dir)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            self.reason = "Rscript failed: " + (proc.stderr.strip().splitlines() or ["?"])[-1]
            return
        tim = pd.read_csv(self.dir / "timings.csv")
        for rec in tim.to_dict("records"):
            fits = pd.read_csv(self.dir / f"fits_{rec['id']}.csv")
            rec["estimate"] = fits["estimate"].to_numpy(float)
            rec["tau2"] = fits["tau2"].to_numpy(float)
            rec["estimate_tight"] = fits["estimate_tight"].to_numpy(float)
            rec["tau2_tight"] = fits["tau2_tight"].to_numpy(float)
            self.timings[str(rec["id"])] = rec
        self.version = (self.dir / "versions.txt").read_text().strip()
        self.ok = True
        print(f"  R cases done in {time.perf_counter() - t0:.1f} s wall ({self.version})",
              flush=True)

    def get(self, case_id):
        return self.timings.get(case_id) if self.ok else None

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------------------------------
# section 1: one meta-analysis


def prepare_single(cfg, R: RRunner):
    data = {}
    for i, k in enumerate(cfg["single_k"]):
        rng = np.random.default_rng([SEED, 1, i])
        y, v = synth(rng, np.array([k]))
        data[k] = (y, v)
        if k > cfg["metafor_single_max_k"]:
            continue  # rma() forms k x k matrices (174 s and 1.8 GB at k = 4,000)
        for m in SINGLE_METHODS:
            R.add_single(f"s_{k}_{m}", y, v, m, cfg["min_time"], cfg["repeats"])
    return data


def tight_note(rr, method, e_est, e_tau2, n) -> str:
    """Deviation from metafor refitted (untimed) with tight convergence settings."""
    if method not in ("REML", "PM") or not np.any(np.isfinite(rr["estimate_tight"])):
        return ""
    d1 = maxdiff(rr["estimate_tight"][:n], np.asarray(e_est)[:n])
    d2 = maxdiff(rr["tau2_tight"][:n], np.asarray(e_tau2)[:n])
    con = "threshold" if method == "REML" else "tol"
    return (f"; refit with control {con}=1e-12: Δ estimate {fmt_diff(d1)}, "
            f"Δ tau2 {fmt_diff(d2)}")


def run_single(cfg, data, R: RRunner, rep: Report):
    import evidence as ev

    sm_ok, pm_ok = have("statsmodels"), have("pymare")
    for k in cfg["single_k"]:
        y, v = data[k]
        for m in SINGLE_METHODS:
            reps = cfg["repeats"] if k < 1_000_000 else max(1, cfg["repeats"] // 2)

            def lite():  # the outputs the peers compute
                r = ev.meta(y, v, method=m)
                return r, (r.estimate, r.se, r.tau2)

            def full():  # every field, the Q-profile interval and the weights included
                r = ev.meta(y, v, method=m)
                return r, (r.to_dict(), r.weights)

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t_all, _ = best_time(full, reps, cfg["min_time"])
                t_ev, (r_ev, _) = best_time(lite, reps, cfg["min_time"])
            rr = R.get(f"s_{k}_{m}")
            tight = None
            if rr is not None:
                tight = (maxdiff(rr["estimate_tight"], [r_ev.estimate]),
                         maxdiff(rr["tau2_tight"], [r_ev.tau2]))
            rep.rows.append(Row("single", k, m, f"evidence.meta(method={m!r}), reading "
                                "estimate, se, tau2", t_ev, base=t_ev, is_base=True,
                                d_tight=tight))
            rep.rows.append(Row("single", k, m, f"evidence.meta(method={m!r}), reading every "
                                "field", t_all, base=t_ev, is_base=True, d_tight=tight,
                                note="CI, tests, Q, I², H², PI, Q-profile tau2 CI, weights "
                                     "(computed on first read)"))

            smm = STATSMODELS_METHOD[m]
            if smm is None:
                rep.rows.append(Row("single", k, m, "statsmodels combine_effects", None,
                                    note=f"no {m} estimator in statsmodels"))
            elif sm_ok:
                t, (est, tau2) = best_time(lambda: statsmodels_fit(smm, y, v), cfg["repeats"],
                                           cfg["min_time"])
                note = ("DL not truncated at 0" if m == "DL" else
                        "PM, stops at |Q - (k-1)| <= 1e-5")
                if m == "DL" and tau2 < 0:
                    note += f" (tau2 = {tau2:.3g} here)"
                rep.rows.append(Row("single", k, m, f'statsmodels combine_effects(method_re="{smm}")',
                                    t, t_ev, abs(est - r_ev.estimate), abs(tau2 - r_ev.tau2), note))

            pmm = PYMARE_METHOD[m]
            if pmm is None:
                rep.rows.append(Row("single", k, m, "PyMARE", None,
                                    note="no Paule-Mandel estimator in PyMARE"))
            elif pm_ok:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    t, (est, tau2) = best_time(
                        lambda: pymare_fit(m, y[:, None], v[:, None]), cfg["repeats"],
                        cfg["min_time"])
                note = "fit() only" + ("; bounded search, xtol 1e-6 (relative)"
                                       if m == "REML" else "")
                rep.rows.append(Row("single", k, m, f"PyMARE {pmm}", t, t_ev,
                                    abs(est[0] - r_ev.estimate), abs(tau2[0] - r_ev.tau2),
                                    note))

            if rr is None and R.ok and k > cfg["metafor_single_max_k"]:
                rep.rows.append(Row("single", k, m, "metafor rma()", None,
                                    note=f"not run above k = {cfg['metafor_single_max_k']:,}: "
                                         "rma() forms k x k matrices"))
            if rr is not None:
                note = "R system.time, start-up excluded"
                note += METAFOR_DEFAULT_NOTE.get(m, "")
                if rr["failures"]:
                    note += "; rma() failed"
                note += tight_note(rr, m, [r_ev.estimate], [r_ev.tau2], 1)
                rep.rows.append(Row("single", k, m, f"metafor {METAFOR_METHOD[m]}",
                                    float(rr["seconds"]), t_ev,
                                    maxdiff(rr["estimate"], [r_ev.estimate]),
                                    maxdiff(rr["tau2"], [r_ev.tau2]), note))
        print(f"  single k={k} done", flush=True)


# ---------------------------------------------------------------------------------------
# section 2: many meta-analyses


def prepare_batch(cfg, R: RRunner):
    gmax = max(cfg["batch_g"])
    df = batch_data(gmax, np.random.default_rng([SEED, 2]))
    if R.rscript:
        sizes = sorted({min(G, cfg["cap_metafor"]) for G in cfg["batch_g"]})
        f = R.add_batch_data(df, max(sizes))
        for n in sizes:
            for m in BATCH_METHODS:
                R.add_batch(f"b_{m}_{n}", f, m, n, cfg["peer_batch_repeats"])
    return df


def _loop_time(fn, parts, repeats):
    best, out = math.inf, None
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        out = [fn(y, v) for y, v in parts]
        best = min(best, time.perf_counter() - t0)
    return best, out


def run_batch(cfg, df_all, R: RRunner, rep: Report):
    import evidence as ev

    sm_ok, pm_ok = have("statsmodels"), have("pymare")
    counts_all = np.bincount(df_all["g"].to_numpy())
    starts_all = np.concatenate([[0], np.cumsum(counts_all)])
    y_all = df_all["yi"].to_numpy()
    v_all = df_all["vi"].to_numpy()
    sm_cache: dict = {}

    for G in cfg["batch_g"]:
        nrows = int(starts_all[G])
        df = df_all.iloc[:nrows].copy()
        counts = counts_all[:G]
        big = G >= BIG_GROUPS
        reps = cfg["big_repeats"] - 1 if big else cfg["batch_repeats"]
        for m in BATCH_METHODS:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t_all, tbl = best_time(lambda: ev.meta_batch(df, by="g", method=m),
                                       reps, 0.0)
                t_ev, _ = best_time(lambda: ev.meta_batch(df, by="g", method=m,
                                                         columns=LITE_COLUMNS), reps, 0.0)
            e_est = tbl["estimate"].to_numpy()
            e_tau2 = tbl["tau2"].to_numpy()
            nbad = int((~tbl["converged"].astype(bool)).sum())
            rr = R.get(f"b_{m}_{min(G, cfg['cap_metafor'])}")
            tight = None
            if rr is not None:
                n = len(rr["estimate"])
                tight = (maxdiff(rr["estimate_tight"][:n], e_est[:n]),
                         maxdiff(rr["tau2_tight"][:n], e_tau2[:n]))
            conv_note = (f"; {nbad} group(s) did not converge (NaN, ConvergenceWarning)"
                         if nbad else "")
            rep.rows.append(Row("batch", G, m, f"evidence.meta_batch(method={m!r}, "
                                f"columns={LITE_COLUMNS})", t_ev, t_ev,
                                note="one call from the DataFrame" + conv_note,
                                timed_groups=G, is_base=True, d_tight=tight))
            rep.rows.append(Row("batch", G, m, f"evidence.meta_batch(method={m!r}), every "
                                "column", t_all, t_ev,
                                note="with Q-profile tau2 CI, tests, Q, I², H², PI",
                                timed_groups=G, is_base=True, d_tight=tight))

            # statsmodels: a Python loop over groups (arrays pre-split, not timed)
            smm = STATSMODELS_METHOD[m]
            if smm is None:
                rep.rows.append(Row("batch", G, m, "statsmodels loop", None,
                                    note=f"no {m} estimator in statsmodels"))
            elif sm_ok:
                n = min(G, cfg["cap_statsmodels"])
                key = (smm, n)
                if key not in sm_cache:
                    parts = [(y_all[starts_all[j]:starts_all[j + 1]],
                              v_all[starts_all[j]:starts_all[j + 1]]) for j in range(n)]
                    sm_cache[key] = _loop_time(lambda y, v: statsmodels_fit(smm, y, v), parts,
                                               cfg["peer_batch_repeats"])
                t, out = sm_cache[key]
                est = np.array([o[0] for o in out])
                tau2 = np.array([o[1] for o in out])
                note = "Python loop over pre-split arrays"
                if m == "DL":
                    pos = tau2 >= 0
                    note += (f"; {int(np.sum(~pos))} of {n} tau2 < 0 (not truncated); "
                             f"on the {int(np.sum(pos))} others: Δ estimate "
                             f"{fmt_diff(maxdiff(est[pos], e_est[:n][pos]))}, Δ tau2 "
                             f"{fmt_diff(maxdiff(tau2[pos], e_tau2[:n][pos]))}")
                rep.rows.append(Row("batch", G, m,
                                    f'statsmodels combine_effects(method_re="{smm}") loop',
                                    t * G / n, t_ev, maxdiff(est, e_est[:n]),
                                    maxdiff(tau2, e_tau2[:n]), note, timed_groups=n,
                                    extrapolated=n < G))

            # PyMARE: native batching (y, v of shape (k, D)), one call per distinct k
            pmm = PYMARE_METHOD[m]
            if pmm is None:
                rep.rows.append(Row("batch", G, m, "PyMARE", None,
                                    note="no Paule-Mandel estimator in PyMARE"))
            elif pm_ok:
                ks = np.unique(counts)
                idx = {}
                blocks = {}
                for kk in ks:
                    gi = np.flatnonzero(counts == kk)
                    rows = starts_all[gi][None, :] + np.arange(kk)[:, None]  # (k, D)
                    idx[kk] = gi
                    blocks[kk] = (y_all[rows], v_all[rows])

                def pymare_all():
                    est = np.empty(G)
                    tau2 = np.empty(G)
                    for kk in ks:
                        b, t2 = pymare_fit(m, *blocks[kk])
                        est[idx[kk]] = b
                        tau2[idx[kk]] = t2
                    return est, tau2

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    t, (est, tau2) = best_time(
                        pymare_all, cfg["big_repeats"] - 1 if big else cfg["peer_batch_repeats"],
                        0.0)
                rep.rows.append(Row("batch", G, m, f"PyMARE {pmm}, native 2-D batching", t, t_ev,
                                    maxdiff(est, e_est), maxdiff(tau2, e_tau2),
                                    f"{len(ks)} call(s) (one per distinct k); fit() only"
                                    + n_disagree(tau2, e_tau2), timed_groups=G))

            # metafor: an R loop of rma() over groups, capped and extrapolated
            if rr is not None:
                n = len(rr["estimate"])  # the R loop ran over the first n groups
                per = float(rr["seconds"]) / n
                note = "R loop of rma(), system.time" + METAFOR_DEFAULT_NOTE.get(m, "")
                if rr["failures"]:
                    note += f"; rma() failed in {int(rr['failures'])} of {len(rr['estimate'])}"
                note += tight_note(rr, m, e_est, e_tau2, n) + n_disagree(rr["tau2"], e_tau2[:n])
                rep.rows.append(Row("batch", G, m, f"metafor {METAFOR_METHOD[m]} loop",
                                    per * G, t_ev, maxdiff(rr["estimate"][:n], e_est[:n]),
                                    maxdiff(rr["tau2"][:n], e_tau2[:n]), note,
                                    timed_groups=len(rr["estimate"]),
                                    extrapolated=len(rr["estimate"]) != G))
            print(f"  batch G={G:,} {m} done", flush=True)


# ---------------------------------------------------------------------------------------
# section 3: memory (measured in a fresh child process)


def _rss_now_kb() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _peak_kb() -> int:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def memory_child(kind: str, size: int, method: str) -> dict:
    """One configuration in this fresh process: ``kind`` "batch" (evidence.meta_batch,
    every column, G = size groups of BATCH_K), "batch-pymare" (PyMARE on the (k, G)
    arrays), "single" (evidence.meta with k = size, every field read) or "single-pymare".
    Peak RSS: Linux VmHWM, reset just before the call (its increase is the call's own
    memory) and as a whole (interpreter, libraries and the input data included)."""
    rng = np.random.default_rng([SEED, 3])
    counts = np.full(size, BATCH_K) if kind.startswith("batch") else np.array([size])
    y, v = synth(rng, counts)
    df = None
    if kind == "batch":
        import evidence as ev
        df = pd.DataFrame({"g": np.repeat(np.arange(size), counts), "yi": y, "vi": v})
        del y, v
        input_mb = df.memory_usage(deep=True).sum() / 2**20
        fn = lambda: ev.meta_batch(df, by="g", method=method)  # noqa: E731
    elif kind == "single":
        import evidence as ev
        input_mb = (y.nbytes + v.nbytes) / 2**20

        def fn():
            r = ev.meta(y, v, method=method)
            return r.to_dict(), r.weights
    else:
        Y = y.reshape(-1, counts[0]).T.copy() if kind == "batch-pymare" else y[:, None]
        V = v.reshape(-1, counts[0]).T.copy() if kind == "batch-pymare" else v[:, None]
        del y, v
        input_mb = (Y.nbytes + V.nbytes) / 2**20
        fn = lambda: pymare_fit(method, Y, V)  # noqa: E731
    warnings.simplefilter("ignore")
    fn() if kind.startswith("single") else None  # warm up imports for the small case
    rss0 = _rss_now_kb()
    reset = _reset_peak()
    t0 = time.perf_counter()
    out = fn()
    secs = time.perf_counter() - t0
    peak = _peak_kb()
    del out
    tm_peak = math.nan
    if kind in ("batch", "single") and size <= 100_000:
        tracemalloc.start()  # numpy reports its buffers to tracemalloc
        fn()
        tm_peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return dict(kind=kind, size=size, method=method, seconds=secs, input_mb=input_mb,
                rss_before_mb=rss0 / 1024, peak_rss_mb=peak / 1024,
                peak_rss_increase_mb=(peak - rss0) / 1024, peak_reset=reset,
                tracemalloc_peak_mb=tm_peak)


def run_memory(cfg, rep: Report):
    configs = [("batch", g, "REML") for g in cfg["mem_groups"]]
    if have("pymare"):
        configs += [("batch-pymare", g, "REML") for g in cfg["mem_groups"] if g >= 100_000]
    configs += [("single", k, "REML") for k in cfg["mem_single_k"]]
    if have("pymare"):
        configs += [("single-pymare", k, "REML") for k in cfg["mem_single_k"]]
    for kind, size, method in configs:
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()),
                               "--memory-child", kind, str(size), method],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            rep.notes.append(f"memory {kind} {size:,} failed: "
                             + (proc.stderr.strip().splitlines() or ["?"])[-1])
            continue
        rep.memory.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(f"  memory {kind} {size:,} done", flush=True)


# ---------------------------------------------------------------------------------------
# machine facts and output


def version(dist: str) -> str:
    try:
        return _md.version(dist)
    except _md.PackageNotFoundError:
        return "not installed"


def machine_facts(R: RRunner, load_start) -> list[tuple[str, str]]:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    env = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIXES)}
    mem = ""
    try:
        with open("/proc/meminfo") as fh:
            mem = f"{int(fh.readline().split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    facts = [
        ("date (UTC)", _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M")),
        ("CPU", f"{cpu}; os.cpu_count() = {os.cpu_count()}, usable = {usable}"),
        ("memory", mem),
        ("load average at start (1/5/15 min)", " / ".join(f"{x:.2f}" for x in load_start)),
        ("OS", platform.platform()),
        ("python", platform.python_version()),
        ("numpy / scipy / pandas", f"{np.__version__} / {version('scipy')} / {pd.__version__}"),
        ("evidence", version("evidence")),
        ("statsmodels", version("statsmodels")),
        ("PyMARE", version("PyMARE")),
        ("R / metafor", R.version if R.ok else f"not run ({R.reason})"),
        ("threading env vars", ", ".join(f"{k}={v}" for k, v in sorted(env.items()))
         or "none set (OPENBLAS_*, OMP_*, MKL_* ... unset; nothing was unset by this script)"),
    ]
    return facts


def table(rows, section) -> list[str]:
    size_name = "k" if section == "single" else "G"
    t_name = "time per fit" if section == "single" else "time for all G"
    head = [f"| {size_name} | method | tool (what it really runs) | {t_name} | "
            "peer / evidence | max abs Δ estimate | max abs Δ tau2 | "
            "evidence vs metafor, tight (Δ est / Δ tau2) | note |",
            "|---:|---|---|---:|---:|---:|---:|---:|---|"]
    out = list(head)
    for r in rows:
        if r.section != section:
            continue
        t = fmt_time(r.seconds)
        if r.extrapolated:
            t = f"≈ {t} (extrapolated from {r.timed_groups:,} groups)"
        ratio = ("1 (baseline)" if r.is_base and r.seconds == r.base else
                 "" if r.is_base else fmt_ratio(r.ratio))
        if r.extrapolated and ratio:
            ratio = "≈ " + ratio
        dd = ("—", "—") if r.is_base else (fmt_diff(r.d_est), fmt_diff(r.d_tau2))
        if r.seconds is None and not r.is_base:
            dd = ("", "")
        tight = "" if r.d_tight is None else f"{fmt_diff(r.d_tight[0])} / {fmt_diff(r.d_tight[1])}"
        tool = f"**{r.tool}**" if r.is_base else r.tool
        out.append(f"| {r.size:,} | {r.method} | {tool} | {t} | {ratio} | {dd[0]} | {dd[1]} | "
                   f"{tight} | {r.note} |")
    return out


def _find(rep, section, size, method, tool_start, lite=True):
    for r in rep.rows:
        if (r.section == section and r.size == size and r.method == method
                and r.tool.startswith(tool_start)):
            if tool_start.startswith("evidence") and lite != ("every" not in r.tool):
                continue
            return r
    return None


def targets(rep: Report) -> list[str]:
    """The done-criteria of issue 12, checked on this run's numbers."""
    lines = ["| target | measured | met |", "|---|---|---|"]

    def add(what, measured, ok):
        lines.append(f"| {what} | {measured} | {'yes' if ok else ('**no**' if ok is not None else 'not measured')} |")

    def speed(section, size, method, peer, lite=True):
        e = _find(rep, section, size, method, "evidence", lite)
        p = _find(rep, section, size, method, peer)
        if e is None or p is None or p.seconds is None:
            return None, e, p
        return p.seconds / e.seconds, e, p

    for lite in (False, True):
        r, e, p = speed("batch", 100_000, "REML", "PyMARE", lite)
        what = "every column" if not lite else f"columns={LITE_COLUMNS}"
        add(f"G=10^5 REML k={BATCH_K}: ≥ 5× faster than PyMARE ({what})",
            "" if r is None else f"{fmt_ratio(r)} ({fmt_time(e.seconds)} vs {fmt_time(p.seconds)})",
            None if r is None else r >= 5)
    for lite in (False, True):
        r, e, p = speed("batch", 100_000, "REML", "metafor", lite=lite)
        what = "every column" if not lite else f"columns={LITE_COLUMNS}"
        add(f"G=10^5 REML: per-group cost ≥ 1,000× lower than the metafor loop ({what})",
            "" if r is None else f"{fmt_ratio(r)} ({e.seconds / e.size * 1e6:.2f} µs vs "
            f"{p.seconds / p.size * 1e3:.2f} ms per group)", None if r is None else r >= 1000)
    e = _find(rep, "batch", 100_000, "REML", "evidence")
    if e is not None and e.d_tight is not None:
        worst = max(x for x in e.d_tight if x is not None)
        add("G=10^5 REML: max |Δ tau2|, |Δ estimate| vs metafor (tight) ≤ 1e-8",
            f"{fmt_diff(e.d_tight[0])} / {fmt_diff(e.d_tight[1])} (first {e.size and min(e.size, 2000):,} groups)",
            worst <= 1e-8)
    else:
        add("G=10^5 REML: max |Δ| vs metafor (tight) ≤ 1e-8", "R not run", None)
    for method in ("DL", "ML"):
        vals = []
        for G in sorted({r.size for r in rep.rows if r.section == "batch"}):
            r, e, p = speed("batch", G, method, "PyMARE")
            if r is not None:
                vals.append((G, r))
        if vals:
            add(f"{method} at every G: at least as fast as PyMARE (columns={LITE_COLUMNS})",
                ", ".join(f"G={G:,}: {fmt_ratio(x)}" for G, x in vals),
                all(x >= 1 for _, x in vals))
    mem = [m for m in rep.memory if m["kind"] == "batch" and m["size"] == 1_000_000]
    for lite in (False, True):
        r, e, p = speed("batch", 1_000_000, "REML", "PyMARE", lite=lite)
        what = "every column" if not lite else f"columns={LITE_COLUMNS}"
        add(f"G=10^6 REML k={BATCH_K}: ≥ 5× faster than PyMARE ({what})",
            "" if r is None else f"{fmt_ratio(r)} ({fmt_time(e.seconds)} vs {fmt_time(p.seconds)})",
            None if r is None else r >= 5)
    if mem:
        add("G=10^6 REML: peak memory ≤ 1 GB (whole process: interpreter, input frame, "
            "result)", f"{mem[0]['peak_rss_mb']:.0f} MB (call's own increase "
            f"{mem[0]['peak_rss_increase_mb']:.0f} MB)", mem[0]["peak_rss_mb"] <= 1024)
    for method in ("DL", "REML"):
        r, e, p = speed("single", 10, method, "PyMARE")
        add(f"one meta() k=10 {method}, reading estimate, se, tau2: not slower than PyMARE",
            "" if r is None else f"{fmt_ratio(r)} ({fmt_time(e.seconds)} vs {fmt_time(p.seconds)})",
            None if r is None else r >= 1)
    for lite in (False, True):
        r, e, p = speed("single", 1_000_000, "REML", "PyMARE", lite=lite)
        what = "every field" if not lite else "reading estimate, se, tau2"
        add(f"k=10^6, one REML model: ≥ 4× faster than PyMARE ({what})",
            "" if r is None else f"{fmt_ratio(r)} ({fmt_time(e.seconds)} vs {fmt_time(p.seconds)})",
            None if r is None else r >= 4)
    lines += ["", "PyMARE's fit() computes estimate, its variance and tau2: the rows "
              f"`columns={LITE_COLUMNS}` / `reading estimate, se, tau2` are the same work; "
              "`every column` adds the Q-profile tau2 interval (root finding per group), "
              "tests, Q, I², H² and the prediction interval, which PyMARE does not compute."]
    return lines


def headline(rep: Report) -> list[str]:
    lines = []
    for section in ("single", "batch"):
        peers = {}
        for r in rep.rows:
            if r.section == section and not r.is_base and r.ratio is not None:
                peers.setdefault(r.tool.split(" ")[0], []).append((r.size, r.method, r.ratio,
                                                                  r.extrapolated))
        for tool, vals in peers.items():
            lo = min(vals, key=lambda x: x[2])
            hi = max(vals, key=lambda x: x[2])
            what = "k" if section == "single" else "G"
            lines.append(f"- {section}: {tool} / evidence from {fmt_ratio(lo[2])} "
                         f"({what}={lo[0]:,}, {lo[1]}) to {fmt_ratio(hi[2])} "
                         f"({what}={hi[0]:,}, {hi[1]}{', extrapolated' if hi[3] else ''})")
    return lines


NOTES = [
    "Ratios are peer time / evidence time for the same data and estimator: above 1 means "
    "evidence is faster, below 1 slower. `≈` marks peer times extrapolated linearly in G "
    "from the first `timed_groups` groups.",
    "Like with like: statsmodels `method_re=\"chi2\"` is DerSimonian-Laird but does not "
    "truncate tau2 at 0 (negative tau2 when Q < k - 1), so its differences from evidence/"
    "metafor DL are real estimator differences, not rounding; `\"iterated\"` is Paule-Mandel "
    "(stops when |Q_gen - (k-1)| <= 1e-5) and is compared with evidence PM. statsmodels "
    "has no REML, PyMARE no PM.",
    "Work done: two evidence rows per case. The first computes what the peers compute "
    "(meta(): estimate, se, tau2 read; the other fields are computed on first read; "
    f"meta_batch(columns={LITE_COLUMNS})) and is the baseline of the ratios; the second "
    "computes everything (Q-profile CI of tau2, tests, Q, I², H², prediction interval, "
    "weights). metafor rma() computes estimate, se, CI, Q, I², H² (no tau2 CI); PyMARE is "
    "timed on fit() only (estimate, covariance, tau2; small_sample_correction=\"wald\"); "
    "statsmodels combine_effects computes FE and RE estimates and HKSJ scales.",
    "`evidence vs metafor, tight`: the largest differences of evidence's estimate and tau2 "
    "from metafor refitted (untimed) with control threshold = 1e-12 (REML, ML) or tol = "
    "1e-12 (PM); DL is closed form (the default fit). Over the groups metafor fitted.",
    "Convergence: evidence stops Fisher scoring at |Δtau2| <= 1e-12 and solves PM to "
    "machine precision; metafor runs with its defaults (REML threshold 1e-5, PM uniroot tol "
    "≈ 1.2e-4), which is what its users get; PyMARE's REML is a bounded scalar search with "
    "relative xtol 1e-6. Differences of that order are tolerance, not disagreement: the "
    "metafor notes also give the deviation after an untimed refit with tight control.",
    "metafor is timed inside R with system.time() (R start-up and library(metafor) not "
    "counted; data read and split before the clock starts). Python peers in the batch "
    "section loop over arrays that were split before timing; evidence.meta_batch is timed "
    "from the DataFrame (grouping included).",
    "Data: synthetic, seeded numpy generator (`synth` in bench_pooling.py). Single: one "
    f"data set per k. Batch: G groups of k = {BATCH_K} studies; smaller G are prefixes "
    "of the largest data set.",
    "The machine may be shared with other jobs (see the load average); timings are "
    "best-of-N to damp that noise.",
]


def write_markdown(path: Path, facts, rep: Report, mode: str, wall: float, argv):
    lines = ["# evidence pooling benchmark", "",
             f"Mode: `{mode}` — command: `python benchmarks/bench_pooling.py "
             f"{' '.join(argv)}`".rstrip() + f" — wall time {wall:.0f} s.", "",
             "## Machine", "", "| fact | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in facts]
    lines += ["", "## Headline ratios (peer time / evidence time)", ""] + headline(rep)
    lines += ["", "## 1. One meta-analysis", ""] + table(rep.rows, "single")
    lines += ["", f"## 2. Many meta-analyses (G groups of k = {BATCH_K})", ""] + table(rep.rows, "batch")
    lines += ["", "## 3. Peak memory (one fresh child process per configuration, REML)", ""]
    if rep.memory:
        lines += ["| what | size | time (first call in the process) | input data | RSS before the call | peak RSS (whole "
                  "process) | peak RSS increase during the call | tracemalloc peak |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        names = {"batch": f"evidence.meta_batch, G groups of k = {BATCH_K}, every column",
                 "batch-pymare": f"PyMARE REML, (k = {BATCH_K}, G) arrays",
                 "single": "evidence.meta, one model of k studies, every field",
                 "single-pymare": "PyMARE REML, one model of k studies"}
        for m in rep.memory:
            tm = "" if not np.isfinite(m["tracemalloc_peak_mb"]) else f"{m['tracemalloc_peak_mb']:.0f} MB"
            lines.append(
                f"| {names[m['kind']]} | {m['size']:,} | {fmt_time(m['seconds'])} | "
                f"{m['input_mb']:.0f} MB | {m['rss_before_mb']:.0f} MB | {m['peak_rss_mb']:.0f} MB"
                f" | {m['peak_rss_increase_mb']:.0f} MB | {tm} |")
        if not all(m["peak_reset"] for m in rep.memory):
            lines += ["", "(peak RSS could not be reset before the call; it may include data "
                      "generation)"]
    else:
        lines.append("not measured")
    lines += ["", "## 4. Issue 12 targets, checked on this run", ""] + targets(rep)
    lines += ["", "## How to read this", ""] + [f"- {n}" for n in NOTES + rep.notes]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


# ---------------------------------------------------------------------------------------


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller caps, fewer repeats")
    ap.add_argument("--big", action="store_true",
                    help=f"(quick mode) also measure meta_batch memory at {BIG_GROUPS:,} groups")
    ap.add_argument("--no-r", action="store_true", help="skip R metafor")
    ap.add_argument("--out", default=str(HERE / "results" / "latest.md"),
                    help="markdown file to write (default benchmarks/results/latest.md)")
    ap.add_argument("--memory-child", nargs=3, metavar=("KIND", "SIZE", "METHOD"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.memory_child:
        kind, size, method = args.memory_child
        print(json.dumps(memory_child(kind, int(size), method)))
        return 0

    mode = "quick" if args.quick else "full"
    cfg = MODES[mode]
    t_start = time.perf_counter()
    R = RRunner(enabled=not args.no_r)
    rep = Report()
    if not have("pymare"):
        rep.notes.append("PyMARE not installed (`pip install PyMARE`): its rows are missing.")
    try:
        load_start = os.getloadavg()
        print(f"evidence pooling benchmark ({mode})", flush=True)
        single_data = prepare_single(cfg, R)
        df_batch = prepare_batch(cfg, R)
        print("running R metafor ...", flush=True)
        R.run()
        facts = machine_facts(R, load_start)
        print("section 1: one meta-analysis", flush=True)
        run_single(cfg, single_data, R, rep)
        print("section 2: many meta-analyses", flush=True)
        run_batch(cfg, df_batch, R, rep)
        print("section 3: memory", flush=True)
        if args.big and BIG_GROUPS not in cfg["mem_groups"]:
            cfg = dict(cfg, mem_groups=cfg["mem_groups"] + (BIG_GROUPS,))
        run_memory(cfg, rep)
    finally:
        R.cleanup()
    facts.append(("load average at end (1/5/15 min)",
                  " / ".join(f"{x:.2f}" for x in os.getloadavg())))
    wall = time.perf_counter() - t_start
    out = Path(args.out)
    write_markdown(out, facts, rep, mode, wall, argv)
    print()
    print(out.read_text())
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
