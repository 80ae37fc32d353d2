"""Write the BCG trial records (trials/*.yaml) from R's metadat ``dat.bcg``.

The records hold only what ``dat.bcg`` holds (metadat 1.2-0): author and year, the 2x2 table
(TB positive / TB negative in the vaccinated and in the control group), absolute latitude and
the allocation method. Totals are not written (they are not reported as such; they follow from
the counts). Run from the repository root::

    Rscript -e 'library(jsonlite); library(metadat); cat(toJSON(dat.bcg, digits = NA))' \
        > /tmp/dat_bcg.json
    python3 studies/bcg/make_records.py /tmp/dat_bcg.json

or without an argument to call ``Rscript`` directly (needs R with metadat and jsonlite).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))
from _metadat import write_records  # noqa: E402  (studies/_metadat.py)


def _slug(author: str, year: int) -> str:
    words = [w for w in re.split(r"[^A-Za-z]+", author.lower()) if w and w not in ("et", "al")]
    return "-".join(words + [str(year)])


def _record(row: dict) -> str:
    t = int(row["trial"])
    author, year = row["author"], int(row["year"])
    rid = _slug(author, year)
    where = f"dat.bcg, trial {t}"
    return f"""\
# Trial {t} of dat.bcg (R package metadat 1.2-0), written by studies/bcg/make_records.py.
type: clinical
id: {rid}
label: {author} {year}
citation:
  authors: "{author}"
  year: {year}
  source: METADAT
  note: author and publication year as dat.bcg gives them (columns author, year)
inclusion: {{status: confirmed, source: METADAT}}
design: controlled trial (allocation {row["alloc"]})
design_source: METADAT
injury: tuberculosis
sample: {{n: null}}
arms: [vaccinated, control]
intervention:
  strategies: [bcg-vaccine]
  description: BCG vaccination
  comparator: no vaccination (control group)
  source: METADAT
timepoints:
  - {{id: end, label: End of follow-up (duration not in dat.bcg), source: METADAT}}
outcomes:
  - id: tb
    name: Tuberculosis (TB positive cases)
    kind: event
    primary: true
    source: METADAT
    measurements:
      - {{timepoint: end, arm: vaccinated, source: METADAT, where: "{where}: tpos, tneg", events: {int(row["tpos"])}, nonevents: {int(row["tneg"])}}}
      - {{timepoint: end, arm: control, source: METADAT, where: "{where}: cpos, cneg", events: {int(row["cpos"])}, nonevents: {int(row["cneg"])}}}
characteristics:
  ablat: {{value: {int(row["ablat"])}, source: METADAT, where: "{where}: ablat"}}
  year: {{value: {year}, source: METADAT, where: "{where}: year"}}
  alloc: {{value: {row["alloc"]}, source: METADAT, where: "{where}: alloc"}}
characteristic_labels:
  ablat: absolute latitude of the study location (degrees)
  year: publication year
  alloc: method of treatment allocation
notes:
  - Trial {t} in dat.bcg; the dataset's source is Colditz et al. 1994 (COLDITZ1994).
"""


def main(argv: list[str]) -> None:
    write_records(argv, "dat.bcg", HERE, lambda row: f"{int(row['trial']):02d}-{_slug(row['author'], int(row['year']))}.yaml", _record)


if __name__ == "__main__":
    main(sys.argv)
