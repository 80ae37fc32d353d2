"""The multilevel fixtures (tests/reference/multilevel.json) and one fit per stored case,
shared by test_multilevel.py and test_robust.py."""

from __future__ import annotations

import warnings

import pandas as pd

from evidence.effects.vcalc import SamplingCovariance
from evidence.errors import DegenerateFitWarning
from evidence.meta.multilevel import meta_mv

from _reference import load

REF = load("multilevel.json")
FRAMES = {name: pd.DataFrame(d["columns"]) for name, d in REF["datasets"].items()}


def sampling_v(case, df):
    """The case's V: the variances, or the stored sparse matrix (with the rho R used)."""
    if case["V"] == "vi":
        return df["vi"].to_numpy()
    m = REF["matrices"][case["V"]]
    return SamplingCovariance(k=len(df), rows=m["rows"], cols=m["cols"], values=m["values"],
                              rho=m["rho"], note="from R")


def fit_case(case, **kw):
    """meta_mv on the case's dataset as R fitted it (degenerate-fit warnings muted)."""
    df = FRAMES[case["dataset"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateFitWarning)
        return meta_mv(df["yi"].to_numpy(), sampling_v(case, df), data=df,
                       random=case["random"], mods=case["mods"], method=case["method"],
                       test=case["test"], **kw)
