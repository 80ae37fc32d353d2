"""The committed R metafor fixtures (tests/reference/*.json), loaded once for the tests."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

REF = Path(__file__).parent / "reference"


@lru_cache(maxsize=None)
def load(name: str) -> dict:
    with open(REF / name, encoding="utf-8") as fh:
        return json.load(fh)


DATASETS = load("datasets.json")["datasets"]
AROUND = load("around.json")
EXTRA = load("around_extra.json")
