"""Pool the clinical effects by injury × strategy × outcome kind, where pooling is possible.

A group is pooled with the engine (:func:`evidence.meta.meta_batch`, all groups at once) when at
least two studies in it have a computable effect size; a group with one such study reports that
study's estimate; a group with none says why ("not poolable: Noehren 2011: no SD reported").
A study contributes to every strategy it targets. Every group lists the studies used, the ones
that could not be used (and why), and the ones left out by their inclusion status.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import ArgumentError
from ..meta import meta_batch
from .effects import ClinicalEffects

__all__ = ["PooledEffects", "pool_by_group", "POOL_COLUMNS"]

POOL_COLUMNS = [
    "status", "k", "k_studies", "studies_used", "studies_not_poolable", "studies_excluded",
    "outcomes_used", "estimate", "se", "ci_low", "ci_high", "pvalue", "tau2", "i2", "q",
    "q_pvalue", "pi_low", "pi_high", "method", "measure", "orientation", "assumption", "reason",
]
"""Columns of :attr:`PooledEffects.table` after the group keys."""

_HETEROGENEITY = ("tau2", "i2", "q", "q_pvalue", "pi_low", "pi_high")


@dataclass(frozen=True)
class PooledEffects:
    """Pooled (or single-study, or not poolable) effects per group.

    Attributes
    ----------
    table : DataFrame
        One row per group: the ``by`` keys, then :data:`POOL_COLUMNS`. ``status`` is
        ``"pooled"`` (k >= 2), ``"single study"`` (k = 1: that study's estimate and normal CI,
        no heterogeneity) or ``"not poolable"`` (k = 0, ``reason`` says why). Estimates are on
        the benefit scale: positive = improvement.
    used : DataFrame
        The effect rows used, one per study and group (with the group keys).
    sensitivity : DataFrame
        The pooled estimate per group and assumed pre-post correlation ``ri`` (empty when the
        effects were given as a bare frame without their sensitivity table).
    by : tuple of str
    method : str
    """

    table: pd.DataFrame
    used: pd.DataFrame
    sensitivity: pd.DataFrame
    by: tuple[str, ...]
    method: str

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()


def _labels(df: pd.DataFrame, keys: list[str], col: str, text: pd.Series | None = None,
            name: str = "x") -> pd.Series:
    """Per group, '; '-joined unique text (study labels, or 'label: reason')."""
    if df.empty:
        return pd.Series(dtype=object, name=name)
    t = df[col] if text is None else text
    tmp = df[keys].assign(_t=t.to_numpy())
    tmp = tmp.drop_duplicates(keys + ["_t"])
    out = tmp.groupby(keys, sort=False, dropna=False)["_t"].agg("; ".join)
    out.name = name
    return out


def pool_by_group(effects: ClinicalEffects | pd.DataFrame,
                  by: Sequence[str] = ("injury", "strategy", "outcome_kind"),
                  method: str = "REML", test: str = "z", level: float = 0.95,
                  inclusion: Sequence[str] = ("confirmed",), timepoint: str = "first",
                  yi: str = "yi_benefit") -> PooledEffects:
    """Pool the effect sizes of each group where at least two studies allow it.

    Parameters
    ----------
    effects : ClinicalEffects or DataFrame
        From :func:`clinical_effects` (its sensitivity table is then pooled too), or its
        ``effects`` frame.
    by : sequence of str
        Group keys; ``"strategy"`` expands each study into every strategy it targets.
    method, test, level :
        As in :func:`evidence.meta.meta`.
    inclusion : sequence of str
        Inclusion statuses whose studies are pooled (default: confirmed only). The others are
        listed in ``studies_excluded``.
    timepoint : {"first", "last"}
        Which post time point a study contributes when it reports several: the first after
        baseline (the end of the intervention; default) or the last (the longest follow-up).
    yi : str
        Effect column to pool: ``"yi_benefit"`` (default; positive = improvement, so outcomes
        with opposite scales can share a group) or ``"yi"`` (metafor's sign).

    Returns
    -------
    PooledEffects

    Notes
    -----
    One effect per study and group: the study's primary outcome if it is computable, else its
    first computable outcome (record order), at the chosen time point. Groups are fitted in one
    :func:`evidence.meta.meta_batch` call (random effects, ``method``); a group with k = 1
    reports the study's own estimate with :math:`y \\pm z\\sqrt{v}`.

    Examples
    --------
    >>> pooled = pool_by_group(clinical_effects(frames))     # doctest: +SKIP
    >>> pooled.table[["injury", "strategy", "outcome_kind", "status", "reason"]]  # doctest: +SKIP
    """
    if isinstance(effects, ClinicalEffects):
        eff, sens, measure = effects.effects, effects.sensitivity, effects.measure
    elif isinstance(effects, pd.DataFrame):
        eff, sens = effects, None
        measure = str(eff["measure"].dropna().iloc[0]) if "measure" in eff and \
            eff["measure"].notna().any() else "SMCR"
    else:
        raise ArgumentError(f"effects must be ClinicalEffects or a DataFrame, got "
                            f"{type(effects).__name__}")
    keys = list(by)
    if not keys:
        raise ArgumentError("by must name at least one column, e.g. ('injury', 'strategy')")
    if timepoint not in ("first", "last"):
        raise ArgumentError(f"timepoint {timepoint!r} is not one of first, last")
    if yi not in ("yi", "yi_benefit"):
        raise ArgumentError(f"yi {yi!r} is not one of yi_benefit, yi")
    e = eff.copy()
    if "strategy" in keys and "strategy" not in e.columns:
        e = e.assign(strategy=e["strategies"].map(lambda t: list(t) if len(t) else [None]))
        e = e.explode("strategy")
    missing = [c for c in keys if c not in e.columns]
    if missing:
        raise ArgumentError(f"by column(s) {', '.join(missing)} not in the effects; columns "
                            f"are {', '.join(map(str, e.columns))}")
    e = e[e[keys].notna().all(axis=1)].reset_index(drop=True)

    included = e["inclusion"].isin(list(inclusion))
    poolable = included & e["computable"].astype(bool) & e[yi].notna() & e["vi"].notna()
    cand = e[poolable].assign(_prim=~e.loc[poolable, "primary"].astype(bool))
    order_sign = 1 if timepoint == "first" else -1
    cand = cand.assign(_ord=order_sign * cand["post_order"].astype(float))
    cand = cand.sort_values(keys + ["study", "_prim", "_ord", "outcome"], kind="stable")
    used = cand.drop_duplicates(keys + ["study"]).drop(columns=["_prim", "_ord"])
    used = used.reset_index(drop=True)

    # every group seen, with who was used, who could not be, and who was left out
    groups = e[keys].drop_duplicates().reset_index(drop=True)
    per_study = e.assign(_pool=poolable, _inc=included)
    st = per_study.groupby(keys + ["study"], sort=False, dropna=False).agg(
        label=("label", "first"), inc=("_inc", "any"), pool=("_pool", "any"),
        inclusion=("inclusion", "first")).reset_index()
    # the reason a study is not poolable: from its primary outcome first, else its first row
    first_reason = (per_study[~per_study["_pool"]]
                    .assign(_prim=~per_study["primary"].astype(bool))
                    .sort_values(keys + ["study", "_prim", "post_order"], kind="stable")
                    .drop_duplicates(keys + ["study"])[keys + ["study", "outcome", "reason"]
                                                       + (["outcome_name"] if "outcome_name"
                                                          in per_study.columns else [])])
    st = st.merge(first_reason, on=keys + ["study"], how="left")
    notpool = st[st["inc"] & ~st["pool"]]
    excl = st[~st["inc"]]
    outcome_text = (notpool["outcome_name"].fillna(notpool["outcome"])
                    if "outcome_name" in notpool.columns else notpool["outcome"])
    txt_np = notpool["label"] + " (" + outcome_text.fillna("outcome not stated") + "): " + \
        notpool["reason"].fillna("no computable effect size")
    tbl = groups.set_index(keys)
    tbl["k_studies"] = st[st["inc"]].groupby(keys, sort=False)["study"].nunique()
    tbl["studies_used"] = _labels(used, keys, "label", name="u")
    tbl["studies_not_poolable"] = _labels(notpool, keys, "label", txt_np, name="np")
    tbl["studies_excluded"] = _labels(excl, keys, "label",
                                      excl["label"] + " (" + excl["inclusion"] + ")", name="ex")
    tbl["outcomes_used"] = _labels(used, keys, "outcome",
                                   used["label"] + ": " + used["outcome"] + " "
                                   + used["pre"] + "->" + used["post"].astype(str), name="o")
    tbl["assumption"] = _labels(used[used["assumption"].notna()], keys, "assumption",
                                name="a")
    tbl = tbl.reset_index()

    fit_cols = ["estimate", "se", "ci_low", "ci_high", "pvalue", *_HETEROGENEITY]
    if len(used):
        fits = meta_batch(used, yi=yi, vi="vi", by=keys, method=method, test=test,
                          level=level)
        tbl = tbl.merge(fits[keys + ["k"] + fit_cols], on=keys, how="left")
    else:
        tbl = tbl.assign(k=0, **{c: np.nan for c in fit_cols})
    tbl["k"] = tbl["k"].fillna(0).astype(int)
    tbl["k_studies"] = tbl["k_studies"].fillna(0).astype(int)
    single = tbl["k"] == 1
    for c in _HETEROGENEITY:
        tbl.loc[tbl["k"] < 2, c] = np.nan
    tbl["status"] = np.select([tbl["k"] >= 2, single], ["pooled", "single study"],
                              "not poolable")
    tbl["method"] = np.where(tbl["k"] >= 2, method, None)
    tbl["measure"] = measure
    tbl["orientation"] = ("positive = improvement" if yi == "yi_benefit"
                          else "positive = increase from pre to post")
    npool = tbl["studies_not_poolable"].fillna("")
    reason = np.select(
        [tbl["k_studies"] == 0, tbl["k"] == 0, single & (npool != ""), single],
        ["no included study (" + tbl["studies_excluded"].fillna("none").astype(str) + ")",
         "not poolable: " + npool,
         "one study with a computable effect size; not poolable: " + npool,
         "one study with a computable effect size"],
        default=None)
    tbl["reason"] = pd.Series(reason, index=tbl.index, dtype=object)
    tbl = tbl[keys + POOL_COLUMNS].sort_values(keys, kind="stable").reset_index(drop=True)

    sensitivity = _pool_sensitivity(used, sens, keys, yi, method, test, level)
    return PooledEffects(table=tbl, used=used, sensitivity=sensitivity, by=tuple(keys),
                         method=method)


def _pool_sensitivity(used, sens, keys, yi, method, test, level) -> pd.DataFrame:
    cols = keys + ["ri", "k", "estimate", "se", "ci_low", "ci_high", "tau2", "i2"]
    if sens is None or sens.empty or used.empty:
        return pd.DataFrame(columns=cols)
    s = used[keys + ["effect_id"]].merge(sens[["effect_id", "ri", "yi", "vi", "yi_benefit"]],
                                         on="effect_id")
    fits = meta_batch(s, yi=yi, vi="vi", by=keys + ["ri"], method=method, test=test,
                      level=level)
    fits.loc[fits["k"] < 2, ["tau2", "i2"]] = np.nan
    return fits[cols].reset_index(drop=True)
