"""Cold and warm time of `evidence report` for the bundled reviews, and where the time goes.

    python benchmarks/bench_report.py              # cold + warm CLI runs, then per-stage times
    python benchmarks/bench_report.py --repeat 3   # best of 3 for each
    python benchmarks/bench_report.py --no-stages  # CLI timings only

* **cold**: `evidence report studies --out <empty temporary directory>` (all formats, both
  reviews, a fresh process: import, load, compute, figures, PDF, writing).
* **warm**: the same command again into the same directory, nothing changed (the manifest in
  `<out>/.cache/` says every output is current: nothing is computed or written).
* **stages** (one process, one review after the other, no parallelism): load the records,
  `run_review`, figures (drawing and export), PDF typesetting (WeasyPrint), and the rest of the
  rendering (templates: HTML, Markdown, LaTeX).

The code measured is the tree this script belongs to (it is put first on PYTHONPATH).
Not part of the pytest suite.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI = "from evidence.cli import app; app()"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"]
                                     if env.get("PYTHONPATH") else "")
    return env


def _cli(out: Path, studies: Path) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", CLI, "report", str(studies), "--out", str(out)],
                   cwd=ROOT, env=_env(), check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


_STAGES = r'''
import sys, time
t0 = time.perf_counter()
from pathlib import Path
import evidence.report as R
import evidence.report.analyses as A
from evidence.model import load_review
from evidence.report import find_reviews, render_report
from evidence.results import run_review
imported = time.perf_counter() - t0
acc = {"figures": 0.0, "pdf": 0.0}
def timed(name, fn):
    def wrapper(*a, **k):
        t = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            acc[name] += time.perf_counter() - t
    return wrapper
R.analyses_extra = timed("figures", R.analyses_extra)
R.render_pdf = timed("pdf", R.render_pdf)
print(f"{'import':<22}{imported:8.2f} s")
for d in find_reviews(sys.argv[1]):
    acc.update(figures=0.0, pdf=0.0)
    t = time.perf_counter(); rv = load_review(d); t_load = time.perf_counter() - t
    t = time.perf_counter(); res = run_review(rv); t_run = time.perf_counter() - t
    t = time.perf_counter(); files = render_report(res); t_render = time.perf_counter() - t
    rest = t_render - acc["figures"] - acc["pdf"]
    print(f"{str(d):<22}load {t_load:5.2f}  run_review {t_run:5.2f}  figures "
          f"{acc['figures']:5.2f}  pdf {acc['pdf']:5.2f}  templates {rest:5.2f}  "
          f"= {t_load + t_run + t_render:5.2f} s  ({len(files)} files)")
'''


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=1, help="best of N for each timing")
    ap.add_argument("--no-stages", action="store_true", help="skip the per-stage profile")
    ap.add_argument("--studies", default="studies", help="review directory (default: studies)")
    args = ap.parse_args(argv)
    studies = Path(args.studies)
    print(f"evidence report {studies} (all formats) — {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f}, python {sys.version.split()[0]}")
    cold, warm = [], []
    for _ in range(max(1, args.repeat)):
        out = Path(tempfile.mkdtemp(prefix="bench-report-"))
        try:
            cold.append(_cli(out, studies))
            warm.append(_cli(out, studies))
        finally:
            shutil.rmtree(out, ignore_errors=True)
    print(f"{'cold':<22}{min(cold):8.2f} s" + (f"   (runs: {', '.join(f'{c:.2f}' for c in cold)})"
                                              if len(cold) > 1 else ""))
    print(f"{'warm (nothing changed)':<22}{min(warm):8.2f} s" +
          (f"   (runs: {', '.join(f'{w:.2f}' for w in warm)})" if len(warm) > 1 else ""))
    if not args.no_stages:
        print("stages (one process, sequential):")
        subprocess.run([sys.executable, "-c", _STAGES, str(studies)], cwd=ROOT, env=_env(),
                       check=True)


if __name__ == "__main__":
    main()
