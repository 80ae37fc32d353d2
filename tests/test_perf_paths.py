"""The fast paths of the pooling engine (issue 12) give exactly the numbers and frames of the
general ones.

Oracles: the general code path itself (``groupby`` grouping, ``pd.DataFrame`` construction,
``np.add.reduceat`` segment sums, a plain Python loop of the original step halving).
Equality is bitwise (``assert_frame_equal(check_exact=True)``, ``np.array_equal``), never a
tolerance. Timings are in benchmarks/, never in tests.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from evidence.meta import meta_batch
from evidence.meta.estimators import Block
from evidence.meta.fit import _result_frame


def _frame(counts, seed=0):
    rng = np.random.default_rng(seed)
    counts = np.asarray(counts)
    n = int(counts.sum())
    g = np.repeat(np.arange(counts.size), counts)
    vi = rng.uniform(0.01, 0.2, n)
    yi = rng.normal(0.3, 0.3, n) + rng.normal(0.0, np.sqrt(vi))
    return pd.DataFrame({"g": g, "yi": yi, "vi": vi})


def _interleaved(df, key, seed=1):
    """The rows of ``df`` with the groups interleaved (unsorted keys) but each group's rows
    in their original order, so that every group adds the same numbers in the same order."""
    rng = np.random.default_rng(seed)
    slot = rng.permutation(len(df))
    # a group's rows keep their relative order: sort the slots within each group
    order = np.empty(len(df), dtype=np.int64)
    for _, idx in df.groupby(key, sort=False, dropna=False).indices.items():
        order[np.sort(slot[idx])] = idx
    return df.iloc[order].reset_index(drop=True)


def _fit(df, by, method="REML", **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return meta_batch(df, by=by, method=method, **kw)


@pytest.mark.parametrize("method", ["DL", "REML", "PM"])
@pytest.mark.parametrize("counts", [[3, 1, 4, 1, 5, 9, 2, 6], [1] * 40, [8] * 700,
                                    [1, 8, 8, 2] * 200])
def test_sorted_key_fast_path_equals_groupby_path(method, counts):
    df = _frame(counts)
    fast = _fit(df, "g", method)                         # sorted numeric keys: no groupby
    general = _fit(_interleaved(df, "g"), "g", method)   # unsorted: groupby path
    pd.testing.assert_frame_equal(fast, general, check_exact=True)
    assert list(fast["k"]) == list(counts)


def test_categorical_string_and_nan_keys_give_the_numbers_of_sorted_keys():
    counts = [2, 5, 1, 3, 8, 8]
    df = _frame(counts)
    ref = _fit(df, "g")
    labels = np.array(["a", "b", "c", "d", "e", "f"])
    for key in (pd.Categorical(labels[df["g"]]), labels[df["g"]],
                df["g"].astype(float).where(df["g"] != 5)):   # NaN key: its own group, last
        d = df.assign(g=key)
        out = _fit(_interleaved(d, "g"), "g")
        cols = [c for c in out.columns if c != "g"]
        pd.testing.assert_frame_equal(out[cols], ref[cols], check_exact=True)


def test_two_sorted_keys_equal_groupby_path():
    df = _frame([2, 3, 1, 4, 2, 2])
    df["a"] = [0] * 5 + [1] * 5 + [2] * 4
    df["b"] = df["g"]
    fast = _fit(df, ["a", "b"])
    general = _fit(_interleaved(df, ["a", "b"]), ["a", "b"])
    pd.testing.assert_frame_equal(fast, general, check_exact=True)


@pytest.mark.parametrize("columns", [None, ["estimate", "se", "tau2"], ["test", "method"]])
def test_result_frame_equals_the_public_constructor(columns):
    df = _frame([8] * 30 + [1, 2])
    out = _fit(df, "g", columns=columns, test="knha")
    data = {c: out[c].to_numpy() for c in out.columns}
    pd.testing.assert_frame_equal(out, pd.DataFrame(data), check_exact=True)


def test_result_frame_fast_construction_is_the_public_one_and_private():
    rng = np.random.default_rng(3)
    data = {"g": np.arange(5), "k": np.full(5, 3), "estimate": rng.normal(size=5),
            "converged": np.ones(5, dtype=bool)}
    a = _result_frame(dict(data), 5)
    pd.testing.assert_frame_equal(a, pd.DataFrame(data), check_exact=True)
    a.columns.name = "renamed"          # a caller's change does not reach the next result
    a.loc[0, "estimate"] = 99.0
    b = _result_frame(dict(data), 5)
    assert b.columns.name is None and b.loc[0, "estimate"] == data["estimate"][0]


@pytest.mark.parametrize("G", [1, 2, 3, 9, 100, 1000])
@pytest.mark.parametrize("k", [1, 2, 3, 5, 8, 9, 16, 17, 24, 32])
def test_block_sum_of_strided_columns_is_reduceat_bitwise(G, k):
    # column slices of a wider array (a tile of a Block) add exactly as the contiguous rows
    rng = np.random.default_rng(G * 100 + k)
    wide = rng.normal(size=(k, 3 * G)) * 10.0 ** rng.uniform(-8, 8, (k, 3 * G))
    for x in (wide[:, G:2 * G], wide[:, ::3]):
        want = np.add.reduceat(np.ascontiguousarray(x.T).ravel(), np.arange(G) * k)
        assert np.array_equal(Block(k, G).sum(x), want)


def _halve_loop(t, adj):
    """The original step halving: one multiplication by 0.5 per pass (at most 1100)."""
    adj = adj.copy()
    neg = np.flatnonzero(t + adj < 0.0)
    for _ in range(1100):
        if neg.size == 0:
            break
        adj[neg] *= 0.5
        neg = neg[t[neg] + adj[neg] < 0.0]
    return adj


def test_computed_step_halving_equals_the_loop():
    from evidence.meta.estimators import _halve_steps

    rng = np.random.default_rng(5)
    n = 20_000
    t = np.abs(rng.normal(size=n)) * 10.0 ** rng.uniform(-320, 5, n)
    adj = -np.abs(rng.normal(size=n)) * 10.0 ** rng.uniform(-320, 300, n)
    # edges: subnormal and tiny t, exact powers of two, ties, infinite and huge steps,
    # positive steps, t = 0 (handled by the caller: such steps are 0 here)
    t[:12] = [5e-324, 2.0**-1021, 2.0**-1022, 1.0, 1.0, 0.5, 3.0, 1e-300, 1e-300, 2.0, 7.0, 1.0]
    adj[:12] = [-1.0, -1.0, -1.0, -2.0, -1.0, -1.0, -np.inf, -1e300, -1e8, -4.0, 3.0, -1.0000001]
    got = _halve_steps(t, adj.copy())
    want = _halve_loop(t, adj)
    assert np.array_equal(got.view(np.int64), want.view(np.int64))


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64", "bool", "Float64", "object"])
def test_columns_read_without_series_equal_the_series_path(dtype):
    from evidence.meta.fit import _numeric_column

    df = _frame([3, 4, 2])
    df["yi"] = (df["yi"] * 10).round() if dtype in ("int64", "bool") else df["yi"]
    df["yi"] = df["yi"].astype(dtype) if dtype != "bool" else df["yi"] > 0
    got = _numeric_column(df, "yi", "yi")
    assert np.array_equal(got, df["yi"].to_numpy(dtype=float, na_value=np.nan))
    if dtype == "float64":  # a view of the frame's values: read-only
        assert not got.flags.writeable
    before = df.copy()
    _fit(df, "g", "DL")
    pd.testing.assert_frame_equal(df, before, check_exact=True)


def test_every_group_empty_gives_nan_rows():
    df = _frame([2, 3])
    df["yi"] = np.nan
    out = _fit(df, "g", "REML", columns=["estimate", "tau2"])
    assert list(out["k"]) == [0, 0] and list(out["k_dropped"]) == [2, 3]
    assert out["estimate"].isna().all() and out["tau2"].isna().all()


@pytest.mark.parametrize("method", ["REML", "ML", "EB", "PM"])
def test_tiled_iterations_equal_one_pass_over_all_groups(method, monkeypatch):
    # tiles of 64 groups (Fisher scoring per tile, then the stragglers together; the
    # Q-profile interval, HE start and ll0check per tile) against no tiling at all
    import importlib

    est = importlib.import_module("evidence.meta.estimators")
    df = _frame([8] * 1500)
    monkeypatch.setattr(est, "_TILE_GROUPS", 10**9)
    whole = _fit(df, "g", method, test="knha")
    monkeypatch.setattr(est, "_TILE_GROUPS", 64)
    tiled = _fit(df, "g", method, test="knha")
    pd.testing.assert_frame_equal(tiled, whole, check_exact=True)
    assert (whole["iterations"] > 1).any() or method == "PM"


def test_empty_frame_with_a_numeric_key():
    """No rows and a numeric key: the empty result with the usual columns (this raised an
    IndexError in the sorted-keys fast path, and with it a Dask frame grouped by a number)."""
    import evidence as ev

    d = pd.DataFrame({"g": [1, 1, 2], "yi": [0.1, 0.3, 1.0], "vi": [0.02, 0.03, 0.05]})
    out = ev.meta_batch(d.iloc[:0], by="g", method="DL")
    assert len(out) == 0 and list(out.columns[:3]) == ["g", "k", "k_dropped"]


def _slow_frame(G=3000, seed=3):
    """Groups of 2..9 studies like those of a simulation (SMD-like variances, small
    tau^2): some need hundreds of Fisher-scoring steps, so the tail of the iteration
    (the last few running groups) is reached with every group size."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(2, 10, size=G)
    n = int(counts.sum())
    vi = 4.0 / rng.integers(20, 201, size=n) * rng.uniform(0.9, 1.1, size=n)
    mu = np.repeat(rng.normal(0.3, 0.2, size=G), counts)
    yi = mu + rng.normal(0.0, 0.2, size=n) + rng.normal(0.0, np.sqrt(vi))
    return pd.DataFrame({"g": np.repeat(np.arange(G), counts), "yi": yi, "vi": vi})


@pytest.mark.parametrize("method", ["REML", "ML"])
@pytest.mark.parametrize("control", [None, {"maxiter": 12, "retry": False},
                                     {"stepadj": 0.5}, {"threshold": 1e-6}])
def test_frozen_groups_and_scalar_tail_equal_the_plain_loop(method, control, monkeypatch):
    # the plain loop: compaction after every step that finishes a group, numpy steps to
    # the last group (_COMPACT_SHARE = 0, _SCALAR_TAIL = 0); the fast one: finished
    # groups frozen in the arrays until half are done, the last few groups (k <= 8) in
    # Python floats. Also with Block columns (one k) and tiles.
    import importlib

    est = importlib.import_module("evidence.meta.estimators")
    tail_fits = []
    scalar = est._scalar_scoring

    def spy(*args):
        tail_fits.append(args[3])
        return scalar(*args)

    for df in (_slow_frame(), _frame([8] * 1200, seed=5)):
        monkeypatch.setattr(est, "_COMPACT_SHARE", 0.0)
        monkeypatch.setattr(est, "_SCALAR_TAIL", 0)
        plain = _fit(df, "g", method, control=control)
        monkeypatch.setattr(est, "_COMPACT_SHARE", 0.5)
        monkeypatch.setattr(est, "_SCALAR_TAIL", 4)
        monkeypatch.setattr(est, "_TILE_GROUPS", 256)
        monkeypatch.setattr(est, "_scalar_scoring", spy)
        fast = _fit(df, "g", method, control=control)
        monkeypatch.setattr(est, "_scalar_scoring", scalar)
        monkeypatch.undo()
        pd.testing.assert_frame_equal(fast, plain, check_exact=True)
        if control and control.get("maxiter") == 12:
            assert not plain["converged"].all()  # groups stopped by maxiter, as metafor
    # the scalar tail ran (with maxiter 12 every slow group stops at once, in numpy)
    assert tail_fits or control.get("maxiter") == 12


def test_scalar_tail_leaves_a_division_by_zero_to_numpy():
    from evidence.meta.estimators import _scalar_scoring, _Settings

    s = _Settings(threshold=1e-12, maxiter=100, ll0check=True, ll0tol=1e-4, stepadj=1.0,
                  se=False)
    # v + tau2 overflows to inf: weights 0, 0 / 0 in numpy is NaN, in Python an error
    assert _scalar_scoring("REML", [1.0, 2.0], [1e308, 1e308], 1e308, 0, s) is None
