"""Write the glioma trial records (trials/*.yaml) from R's metadat ``dat.fine1993``.

The records hold only what ``dat.fine1993`` holds (metadat 1.2-0): the study number, the
sample size of each group and the number of survivors in each group at 6, 12, 18 and 24
months (study 17 assessed survival at 12 and 24 months only; its other time points are not
written). Run from the repository root::

    Rscript -e 'library(jsonlite); library(metadat); cat(toJSON(dat.fine1993, digits = NA))' \
        > /tmp/dat_fine1993.json
    python3 studies/fine1993/make_records.py /tmp/dat_fine1993.json

or without an argument to call ``Rscript`` directly (needs R with metadat and jsonlite).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))
from _metadat import write_records  # noqa: E402  (studies/_metadat.py)

MONTHS = (6, 12, 18, 24)


def _record(row: dict) -> str:
    s = int(row["study"])
    where = f"dat.fine1993, study {s}"
    points, meas = [], []
    for j, month in enumerate(MONTHS, start=1):
        e, c = row.get(f"e{j}i"), row.get(f"c{j}i")
        if e is None or c is None:  # not assessed at this time point (NA in dat.fine1993)
            continue
        points.append(f"  - {{id: m{month}, label: {month} months, "
                      f"source: METADAT}}")
        for arm, col, n, ncol in (("chemoradiotherapy", f"e{j}i", row["nei"], "nei"),
                                  ("radiotherapy", f"c{j}i", row["nci"], "nci")):
            meas.append(f"      - {{timepoint: m{month}, arm: {arm}, source: METADAT, "
                        f"where: \"{where}: {col}, {ncol}\", events: {int(row[col])}, "
                        f"total: {int(n)}}}")
    nl = "\n"
    return f"""\
# Study {s} of dat.fine1993 (R package metadat 1.2-0), written by studies/fine1993/make_records.py.
type: clinical
id: study-{s:02d}
label: Study {s}
citation:
  authors: "not in dat.fine1993 (study {s} of Fine et al. 1993, Table 2)"
  source: METADAT
  note: dat.fine1993 numbers the studies; their authors and years are not in the dataset
inclusion: {{status: confirmed, source: METADAT}}
design: controlled trial (radiotherapy with or without adjuvant chemotherapy)
design_source: METADAT
injury: malignant-glioma
sample:
  n: {{value: {int(row["nei"]) + int(row["nci"])}, source: METADAT, where: "{where}: nei + nci"}}
arms: [chemoradiotherapy, radiotherapy]
intervention:
  strategies: [adjuvant-chemotherapy]
  description: post-operative radiotherapy with adjuvant chemotherapy
  comparator: post-operative radiotherapy alone
  source: METADAT
timepoints:
{nl.join(points)}
outcomes:
  - id: survival
    name: Survival (patients alive)
    kind: event
    primary: true
    source: METADAT
    measurements:
{nl.join(meas)}
notes:
  - Study {s} in dat.fine1993, reconstructed by Trikalinos and Olkin 2012 (TRIKALINOS2012)
    from Fine et al. 1993 (FINE1993) and Dear 1994 (DEAR1994).
"""


def main(argv: list[str]) -> None:
    write_records(argv, "dat.fine1993", HERE, lambda row: f"study-{int(row['study']):02d}.yaml", _record)


if __name__ == "__main__":
    main(sys.argv)
