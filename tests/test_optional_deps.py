"""The optional extras (dask, parquet) are optional: without them the package imports and
works, and asking for what they bring says which extra to install."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run_without(modules: list[str], code: str) -> subprocess.CompletedProcess:
    # a None entry in sys.modules makes `import name` raise ImportError, as if not installed
    block = "import sys; " + "; ".join(f"sys.modules[{m!r}] = None" for m in modules) + "; "
    return subprocess.run([sys.executable, "-c", block + code], capture_output=True, text=True,
                          cwd=ROOT)


def test_without_dask_the_dask_path_names_the_extra():
    code = ("import pandas as pd, evidence as ev\n"
            "d = pd.DataFrame({'g': ['a', 'a'], 'yi': [0.1, 0.2], 'vi': [0.1, 0.1]})\n"
            "from evidence.distributed import meta_batch\n"
            "assert meta_batch(d, by='g')['k'].tolist() == [2]  # pandas needs no dask\n"
            "try:\n"
            "    ev.meta_batch_dask(d, by='g')\n"
            "except ImportError as e:\n"
            "    print(e)\n")
    run = _run_without(["dask", "dask.dataframe", "distributed"], code)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == ("pooling a Dask DataFrame needs Dask: pip install "
                                  "'evidence[dask]'  (dask[dataframe] and distributed)")


def test_without_pyarrow_parquet_is_refused_with_the_extra_named(tmp_path):
    src = tmp_path / "d.csv"
    src.write_text("g,yi,vi\na,0.1,0.1\na,0.2,0.1\n")
    code = ("import importlib.util as u; real = u.find_spec\n"
            "u.find_spec = lambda n, *a: None if n in ('pyarrow', 'fastparquet') else real(n, *a)\n"
            "import sys; from evidence.cli import app\n"
            f"sys.argv = ['evidence', 'pool', {str(src)!r}, '--out', {str(tmp_path / 'o.parquet')!r}]\n"
            "app()\n")
    run = _run_without(["pyarrow", "fastparquet"], code)
    assert run.returncode == 2
    assert run.stderr == (f"error: {tmp_path / 'o.parquet'}: .parquet files need pyarrow: "
                          "pip install 'evidence[parquet]' (pyarrow)\n")
