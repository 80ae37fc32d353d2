"""meta_batch on a Dask DataFrame (issue 12, item 4): equal to the in-memory meta_batch.

Oracle: :func:`evidence.meta.meta_batch` on the same rows in memory. Tolerance: none (exact
equality, dtypes included). Each group is fitted by the same function on exactly its rows,
put back in input order after the shuffle, so the same floating-point operations run in the
same order; any difference would mean a group was split, merged or reordered.

The data are synthetic (seeded): 300 groups of 1 to 12 studies, some rows with NaN yi or vi,
one group whose rows are all NaN, rows shuffled so that groups straddle input partitions.
The cluster is a ``distributed.LocalCluster`` with two in-process workers of one thread
(``processes=False``: starts in about a second and needs no ``__main__`` guard for spawned
worker processes, which pytest cannot give).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

dd = pytest.importorskip("dask.dataframe", reason="needs the dask extra: pip install '.[dask]'")
distributed = pytest.importorskip("distributed", reason="needs the dask extra")

import evidence as ev  # noqa: E402
from evidence.distributed import meta_batch as meta_batch_any  # noqa: E402
from evidence.distributed import meta_batch_dask  # noqa: E402
from evidence.errors import ArgumentError, EvidenceWarning  # noqa: E402

N_GROUPS = 300
N_PARTITIONS = 5


def _synthetic(seed: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    k = rng.integers(1, 13, N_GROUPS)
    gid = np.repeat(np.arange(N_GROUPS), k)
    n = gid.size
    mu = rng.normal(0.2, 0.4, N_GROUPS)[gid]
    tau = rng.uniform(0.0, 0.4, N_GROUPS)[gid]
    vi = rng.uniform(0.01, 0.3, n)
    yi = mu + rng.normal(0, 1, n) * np.sqrt(vi + tau ** 2)
    frame = pd.DataFrame({"g": [f"g{i:03d}" for i in gid], "a": [f"a{i % 11}" for i in gid],
                          "b": gid // 11, "yi": yi, "vi": vi})
    frame.loc[rng.random(n) < 0.03, "yi"] = np.nan
    frame.loc[rng.random(n) < 0.02, "vi"] = np.nan
    frame.loc[frame["g"] == "g007", ["yi", "vi"]] = np.nan  # a group with no usable row
    return frame.sample(frac=1.0, random_state=3).reset_index(drop=True)


@pytest.fixture(scope="module")
def frames():
    pdf = _synthetic()
    ddf = dd.from_pandas(pdf, npartitions=N_PARTITIONS, sort=False)
    return pdf, ddf


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as c:
        yield c


def _in_memory(ddf, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvidenceWarning)
        return ev.meta_batch(ddf.compute(), **kw)


def test_the_data_exercise_the_hard_cases(frames):
    pdf, ddf = frames
    parts = [p["g"].unique() for p in ddf.partitions]
    spread = pd.Series(np.concatenate(parts)).value_counts()
    assert ddf.npartitions == N_PARTITIONS and (spread > 1).sum() > 100  # groups are split
    ks = pdf.dropna(subset=["yi", "vi"]).groupby("g").size()
    assert (ks == 1).sum() >= 10 and pdf["yi"].isna().sum() > 20
    assert pdf.groupby(["a", "b"]).ngroups == pdf["g"].nunique() == N_GROUPS


@pytest.mark.parametrize("by", [["g"], ["a", "b"]], ids=["one-key", "two-keys"])
@pytest.mark.parametrize("method", ["DL", "REML"])
def test_local_cluster_equals_in_memory(client, frames, method, by):
    pdf, ddf = frames
    with pytest.warns(EvidenceWarning, match="k = 1"):
        got = meta_batch_dask(ddf, by=by, method=method, test="knha", shuffle_method="tasks")
    want = _in_memory(ddf, by=by, method=method, test="knha")
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert len(got) == N_GROUPS
    if by == ["g"]:
        empty = got.set_index("g").loc["g007"]
        assert empty["k"] == 0 and empty["k_dropped"] == (pdf["g"] == "g007").sum()
    # and the numbers are those of the original pandas frame (Dask's string keys aside)
    plain = _in_memory(dd.from_pandas(pdf, npartitions=1), by=by, method=method, test="knha")
    numbers = got.columns[len(by):]
    pd.testing.assert_frame_equal(got[numbers], plain[numbers], check_exact=True)


def test_p2p_shuffle_and_lazy_result(client, frames):
    _, ddf = frames
    lazy = meta_batch_dask(ddf, by=["a", "b"], method="REML", compute=False)
    assert isinstance(lazy, dd.DataFrame)
    got = lazy.compute().sort_values(["a", "b"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, _in_memory(ddf, by=["a", "b"]), check_exact=True)


def test_no_shuffle_when_the_key_is_a_known_index(client, frames):
    _, ddf = frames
    indexed = ddf.set_index("g")
    assert indexed.known_divisions
    got = meta_batch_dask(indexed, by="g", method="REML")
    pd.testing.assert_frame_equal(got, _in_memory(indexed.reset_index(), by="g"),
                                  check_exact=True)


def test_no_by_is_one_group_and_dispatch(frames):
    _, ddf = frames
    got = meta_batch_any(ddf, method="DL")
    pd.testing.assert_frame_equal(got, _in_memory(ddf, method="DL"), check_exact=True)
    assert len(got) == 1 and got["k"].iloc[0] == ddf.compute().dropna(
        subset=["yi", "vi"]).shape[0]
    pdf = ddf.compute()
    pd.testing.assert_frame_equal(meta_batch_any(pdf, by="g"), ev.meta_batch(pdf, by="g"))


def test_bad_arguments_fail_before_computing(frames):
    pdf, ddf = frames
    with pytest.raises(ArgumentError, match="must be a Dask DataFrame"):
        meta_batch_dask(pdf, by="g")
    with pytest.raises(ArgumentError, match=r"by column 'nope' is not in df; columns are g, "):
        meta_batch_dask(ddf, by="nope")
    with pytest.raises(ArgumentError, match="method 'dl2' is not one of FE, EE, DL"):
        meta_batch_dask(ddf, by="g", method="dl2")
    with pytest.raises(ArgumentError, match="test 't' is not one of z, knha"):
        meta_batch_dask(ddf, by="g", test="t")


def test_bad_variance_names_its_group_and_value(frames):
    pdf, _ = frames
    bad = pdf.copy()
    row = bad.index[bad["vi"].notna() & bad["yi"].notna()][40]
    bad.loc[row, "vi"] = -0.25
    with pytest.raises(ArgumentError, match=(r"vi column 'vi' must be > 0 \(sampling "
                                             rf"variances\): -0\.25 in group g='{bad.loc[row, 'g']}'")):
        meta_batch_dask(dd.from_pandas(bad, npartitions=3), by="g")


def test_partitioned_skips_the_shuffle(frames):
    _, ddf = frames
    whole = ddf.set_index("g").reset_index()  # every group whole within one partition
    got = meta_batch_dask(whole, by="g", method="REML", partitioned=True)
    pd.testing.assert_frame_equal(got, _in_memory(whole, by="g"), check_exact=True)


def test_public_meta_batch_takes_both_frames_and_refuses_pandas_options_for_dask():
    import dask.dataframe as dd

    d = pd.DataFrame({"g": ["a", "a", "b", "b"], "yi": [0.1, 0.3, 1.0, 0.8],
                      "vi": [0.02, 0.03, 0.05, 0.02]})
    mem = ev.meta_batch(d, by="g", method="DL")
    pd.testing.assert_frame_equal(ev.meta_batch(dd.from_pandas(d, npartitions=2), by="g",
                                                method="DL"), mem,
                                  check_dtype=False)  # Dask may store the key as pyarrow text
    assert list(ev.meta_batch(d, by="g", columns=["estimate"]).columns) == \
        ["g", "k", "k_dropped", "estimate"]
    with pytest.raises(ev.ArgumentError, match="columns: not taken with a Dask DataFrame"):
        ev.meta_batch(dd.from_pandas(d, npartitions=1), by="g", columns=["estimate"])


def test_a_numeric_key_groups_as_in_memory():
    """A Dask frame grouped by a number (some partitions empty after the shuffle) gives the
    in-memory result (this raised an IndexError once)."""
    pdf = pd.DataFrame({"g": [1, 1, 1, 2, 2, 2], "yi": [0.1, 0.3, 0.5, 1.0, 0.8, 1.4],
                        "vi": [0.02, 0.03, 0.04, 0.05, 0.02, 0.06]})
    got = ev.meta_batch(dd.from_pandas(pdf, npartitions=2), by="g", method="DL")
    pd.testing.assert_frame_equal(got.reset_index(drop=True),
                                  ev.meta_batch(pdf, by="g", method="DL"))
