"""Shared by the make_records.py scripts of the bundled reviews built from R's metadat.

``write_records`` reads a metadat dataset (a JSON file given on the command line, or
``Rscript`` with metadat and jsonlite when none is given) and writes one YAML record per
row into the review's ``trials/`` folder. Not part of the package: a maintainer's tool.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path


def r_call(dataset: str) -> str:
    """The R line that prints ``dataset`` as JSON with every digit."""
    return f"library(jsonlite); library(metadat); cat(toJSON({dataset}, digits = NA))"


def write_records(argv: list[str], dataset: str, here: Path,
                  file_name: Callable[[dict], str], record: Callable[[dict], str]) -> None:
    """Write ``here/trials/<file_name(row)>`` = ``record(row)`` for every row of ``dataset``."""
    if len(argv) > 1:
        text = Path(argv[1]).read_text()
    else:
        text = subprocess.run(["Rscript", "-e", r_call(dataset)], check=True,
                              capture_output=True, text=True).stdout
    rows = json.loads(text)
    out = here / "trials"
    out.mkdir(exist_ok=True)
    for row in rows:
        (out / file_name(row)).write_text(record(row), encoding="utf-8")
    print(f"wrote {len(rows)} records to {out}")
