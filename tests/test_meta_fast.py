"""Pooling at scale (issue 12): deferred fields of meta(), meta_batch's columns, chunks,
Blocks and progress give exactly the numbers of the eager, unchunked computation.

Oracles: R metafor 3.8-1 through the committed fixtures (tests/reference/rma.json, the 220
``rma()`` cases with tight control), and the eager code path itself. Equality here is
bitwise (``==``, NaN equal to NaN), not a tolerance: the fast paths must not change a
single number (a Block adds in the order of np.add.reduceat, chunks fit disjoint groups).
Timings are in benchmarks/, never in tests.
"""

from __future__ import annotations

import math
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest

import evidence as ev
from evidence.errors import ArgumentError
from evidence.meta import SCALAR_FIELDS, meta, meta_batch
from evidence.meta.estimators import Block
from evidence.meta.results import DEFERRED_FIELDS

from _reference import load

CASES = load("rma.json")["cases"]
DATA = load("datasets.json")["datasets"]
# tolerance against metafor, as in test_meta_fit (relative, tight control on both sides)
METAFOR_REL = 1e-9
METAFOR_ABS = 1e-12


def _same(a, b) -> bool:
    """Bitwise equality of two field values (None/NaN equal to themselves)."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def _case_id(c):
    return f"{c['dataset']}-{c['method']}-{c['test']}-{c['level']}"


@pytest.mark.reference
@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_deferred_fields_equal_eager_and_metafor(case):
    d = DATA[case["dataset"]]
    kw = dict(method=case["method"], test=case["test"], level=case["level"])
    lazy = meta(d["yi"], d["vi"], **kw)
    # the eager computation of the same numbers: meta_batch computes every column at once
    eager = meta_batch(pd.DataFrame({"yi": d["yi"], "vi": d["vi"]}), **kw).iloc[0]
    for name in DEFERRED_FIELDS:
        if name == "weights":
            continue
        assert _same(float(getattr(lazy, name)), float(eager[name])), name
    # and metafor's (a deferred field is the same number as the eager one, so this is
    # also the eager path's agreement with metafor)
    ref = case["result"]
    for name in ("tau2_ci_low", "tau2_ci_high", "ci_low", "pvalue", "q", "i2", "pi_high"):
        want = ref.get(name)
        if want is None:
            continue
        assert math.isclose(getattr(lazy, name), want, rel_tol=METAFOR_REL,
                            abs_tol=METAFOR_ABS), name
    assert np.allclose(lazy.weights, ref["weights"], rtol=METAFOR_REL, atol=METAFOR_ABS)


def test_read_order_does_not_matter_and_values_are_final():
    d = DATA["bcg"]
    a = meta(d["yi"], d["vi"], method="REML")
    b = meta(d["yi"], d["vi"], method="REML")
    first = (a.tau2_ci_high, a.i2, a.weights.copy())  # interval first
    second = (b.i2, b.weights.copy(), b.tau2_ci_high)  # summary first
    assert first[0] == second[2] and first[1] == second[0]
    assert np.array_equal(first[2], second[1])
    assert a == b and hash(a) == hash(b)
    assert a.tau2_ci_high == first[0]  # read again: the stored value


def test_deferred_result_is_frozen_and_pickles_as_values():
    d = DATA["bcg"]
    res = meta(d["yi"], d["vi"], method="DL")
    with pytest.raises(AttributeError):
        res.tau2_ci_low = 0.0  # frozen, whether computed yet or not
    copy = pickle.loads(pickle.dumps(res))  # pickling reads (computes) every field
    assert copy == res
    assert not res.weights.flags.writeable and not copy.weights.flags.writeable
    with pytest.raises(ValueError):
        res.weights[0] = 1.0


def test_deferred_fields_do_not_see_later_changes_of_the_input():
    y = np.array(DATA["bcg"]["yi"], dtype=float)
    v = np.array(DATA["bcg"]["vi"], dtype=float)
    want = meta(y.copy(), v.copy(), method="REML").to_dict()
    res = meta(y, v, method="REML")  # y, v are float arrays: meta could keep views
    y[:] = 0.0
    v[:] = 1.0
    assert all(_same(res.to_dict()[k], want[k]) for k in want)


def _mixed_frame(seed=12) -> pd.DataFrame:
    """Groups of k = 1..40 (Blocks for k <= 32 shared by many groups, segments for the
    rest), NaN rows, an all-NaN group and one group at a 1e-150 scale (rescaled)."""
    rng = np.random.default_rng(seed)
    counts = np.concatenate([rng.integers(1, 9, 3000), np.arange(30, 41), [5, 5]])
    n = int(counts.sum())
    g = np.repeat(np.arange(counts.size), counts)
    y = rng.normal(0.3, 0.4, n)
    v = rng.uniform(0.005, 0.2, n)
    y[rng.random(n) < 0.03] = np.nan
    last = g == counts.size - 1
    y[last], v[last] = y[last] * 1e-150, v[last] * 1e-300
    y[g == counts.size - 2] = np.nan
    return pd.DataFrame({"g": g, "yi": y, "vi": v})


def _no_check():
    """Warnings of these synthetic data (retries, non-convergence) are not the subject."""
    ctx = warnings.catch_warnings()
    ctx.__enter__()
    warnings.simplefilter("ignore")
    return _Exit(ctx)


class _Exit:
    def __init__(self, ctx):
        self.ctx = ctx

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.ctx.__exit__(*exc)


def _frames_equal(a: pd.DataFrame, b: pd.DataFrame):
    assert list(a.columns) == list(b.columns)
    for c in a.columns:
        assert a[c].dtype == b[c].dtype, c
        x, y = a[c].to_numpy(), b[c].to_numpy()
        if x.dtype.kind == "f":
            assert np.array_equal(x, y, equal_nan=True), c
        else:
            assert (a[c] == b[c]).all(), c


@pytest.mark.parametrize("method", ["DL", "REML", "ML", "PM", "SJ", "EB"])
def test_batch_equals_meta_bitwise_blocks_segments_and_rescaled(method):
    df = _mixed_frame()
    with _no_check():
        tbl = meta_batch(df, by="g", method=method, test="knha")
    for gi in list(range(0, 3000, 97)) + list(range(3000, len(tbl) - 2)) + [len(tbl) - 1]:
        part = df[df["g"] == gi].dropna()
        res = meta(part["yi"].to_numpy(), part["vi"].to_numpy(), method=method, test="knha")
        row = tbl.iloc[gi]
        for name in SCALAR_FIELDS:
            if name in ("method", "test", "level", "df"):
                continue
            assert _same(float(getattr(res, name)), float(row[name])), (gi, name)


@pytest.mark.parametrize("max_memory", [2_000, 40_000, 10**9])
def test_chunks_give_the_same_frame_and_report_progress(max_memory):
    df = _mixed_frame()
    with _no_check():
        whole = meta_batch(df, by="g", method="REML")
        calls = []
        chunked = meta_batch(df, by="g", method="REML", max_memory=max_memory,
                             progress=lambda done, total: calls.append((done, total)))
    _frames_equal(whole, chunked)
    assert calls[0] == (0, len(whole)) and calls[-1] == (len(whole), len(whole))
    assert all(a[0] < b[0] for a, b in zip(calls, calls[1:]))
    if max_memory == 2_000:  # 5 rows per chunk: one group per chunk mostly
        assert len(calls) > len(whole) // 2


def test_columns_give_the_same_numbers_and_only_those_columns():
    df = _mixed_frame()
    with _no_check():
        full = meta_batch(df, by="g", method="REML")
        for cols in (["estimate", "se", "tau2"], ["tau2_ci_low"], ["i2", "se_tau2"],
                     ["method", "converged"]):
            part = meta_batch(df, by="g", method="REML", columns=cols)
            want = ["g", "k", "k_dropped"] + [c for c in SCALAR_FIELDS if c in cols]
            assert list(part.columns) == want
            _frames_equal(full[want], part)


def test_unsorted_and_string_keys_give_the_same_groups():
    df = _mixed_frame()
    with _no_check():
        sorted_ = meta_batch(df, by="g", method="DL")
        # groups in a random order, the rows of each group in theirs (the order of the
        # studies within a group is the order of the sums)
        perm = np.random.default_rng(3).permutation(df["g"].max() + 1)
        shuffled = df.iloc[np.argsort(perm[df["g"].to_numpy()], kind="stable")]
        _frames_equal(sorted_, meta_batch(shuffled, by="g", method="DL"))
        named = df.assign(name=df["g"].map(lambda i: f"s{i:05d}"))
        by_name = meta_batch(named, by="name", method="DL")
    assert by_name["name"].tolist() == [f"s{i:05d}" for i in sorted_["g"]]
    _frames_equal(sorted_.drop(columns="g"), by_name.drop(columns="name"))


def test_sorted_fast_path_matches_groupby_with_several_keys():
    rng = np.random.default_rng(4)
    a = np.repeat([1, 1, 2, 3], 50)
    b = np.tile(np.repeat([0.5, 1.5], 25), 4)
    df = pd.DataFrame({"a": a, "b": b, "yi": rng.normal(size=200), "vi": rng.uniform(0.1, 1, 200)})
    fast = meta_batch(df, by=["a", "b"], method="DL")  # sorted numeric keys: no groupby
    unsorted = pd.concat([df[df["a"] == 3], df[df["a"] != 3]])  # rows of a group in order
    slow = meta_batch(unsorted, by=["a", "b"], method="DL")  # unsorted: groupby
    _frames_equal(fast, slow)
    assert len(fast) == 6


@pytest.mark.parametrize("kwargs, match", [
    (dict(columns=["estimate", "nope"]), "columns 'nope' not among"),
    (dict(max_memory=0), "max_memory must be a positive number"),
    (dict(max_memory="a lot"), "max_memory must be a positive number"),
    (dict(progress=5), "progress must be a callable"),
])
def test_bad_new_arguments(kwargs, match):
    df = pd.DataFrame({"yi": [0.1, 0.2], "vi": [0.01, 0.02]})
    with pytest.raises(ArgumentError, match=match):
        meta_batch(df, **kwargs)


@pytest.mark.parametrize("k", [1, 2, 7, 8, 9, 16, 17, 31, 129, 130, 300])
def test_block_sum_is_reduceat_bitwise(k):
    rng = np.random.default_rng(k)
    G = 64
    x = rng.normal(size=G * k) * 10.0 ** rng.uniform(-8, 8, G * k)
    want = np.add.reduceat(x, np.arange(G) * k)
    got = Block(k, G).sum(x.reshape(G, k).T.copy())
    assert np.array_equal(want, got)


def test_rich_progress_is_silent_off_a_terminal():
    import io

    from rich.console import Console

    buf = io.StringIO()
    console = Console(file=buf, force_terminal=False)
    df = pd.DataFrame({"g": [1, 1, 2, 2], "yi": [0.1, 0.3, 0.2, 0.6],
                       "vi": [0.01, 0.02, 0.01, 0.03]})
    with ev.rich_progress("pooling", console=console) as bar:
        out = meta_batch(df, by="g", method="DL", progress=bar)
    assert len(out) == 2 and buf.getvalue() == ""


@pytest.mark.parametrize("first", [
    "ev.meta_batch(pd.DataFrame({'yi': [0.1, 0.3], 'vi': [0.01, 0.02]}))",
    "from evidence.meta import SCALAR_FIELDS",
])
def test_ev_meta_is_callable_whatever_was_imported_first(first):
    # importing the subpackage evidence.meta binds it to evidence.meta; ev.meta(...) must
    # still fit (a fresh interpreter: the test session has imported everything already)
    import subprocess
    import sys
    code = ("import pandas as pd\nimport evidence as ev\n" + first + "\n"
            "print(round(ev.meta([0.1, 0.3], [0.01, 0.02], method='DL').estimate, 6))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "0.175"
