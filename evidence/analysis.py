"""Planned two-arm analyses of a review (``analyses:`` in review.yaml), end to end.

Frames in, result objects out: effect sizes per study with :func:`evidence.escalc`, the
pooled estimate with :func:`evidence.meta`, subgroups, meta-regressions, and the sensitivity
analyses (every τ² estimator and test, leave-one-out, influence, cumulative, Egger's test,
trim-and-fill). No I/O here; the report renders what this returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


import numpy as np
import pandas as pd
from scipy import stats

from .effects import escalc
from .effects._frozen import copied_on_read
from .meta.bias import EggerResult, TrimFillResult, egger_test, trimfill
from .meta.fit import meta
from .meta.metareg import MetaRegResult, metareg
from .meta.mh import meta_mh, meta_peto
from .meta.multilevel import meta_mv, rho_sensitivity
from .meta.robust import robust
from .effects.vcalc import vcalc
from .meta.results import MetaResult
from .meta.sensitivity import cumulative, influence, leave_one_out
from .meta.subgroup import SubgroupResult, subgroup
from .model import Frames, PlannedAnalysis, planned_analyses, wide_measurements
from .errors import ArgumentError
from .vocabulary import TABLE_METHODS, parse_level

__all__ = ["AnalysisResult", "two_arm_effects", "run_analysis", "run_analyses",
           "MultilevelAnalysisResult", "multilevel_effects", "run_multilevel", "fit_multilevel",
           "around_method",
           "EVENT_MEASURES", "CONTINUOUS_MEASURES"]

EVENT_MEASURES = ("OR", "RR", "RD")
CONTINUOUS_MEASURES = ("MD", "SMD", "SMDH", "ROM")
SENSITIVITY_METHODS = ("FE", "DL", "REML", "ML", "PM", "HE", "SJ", "HS", "EB")


class _EffectCounts:
    """``k_total`` and ``k_used`` of a result with an ``effects`` frame (``computable``)."""

    __slots__ = ()

    @property
    def k_total(self) -> int:
        return int(len(self.effects))

    @property
    def k_used(self) -> int:
        return int(self.effects["computable"].sum())


@copied_on_read("effects", "estimators", "leave_one_out", "influence", "cumulative",
                "subgroups")
@dataclass(frozen=True, slots=True)
class AnalysisResult(_EffectCounts):
    """Everything one planned analysis produced.

    ``effects``: one row per study with the outcome (label, yi, vi, ci_low, ci_high, weight in
    percent for the pooled studies, computable, reason, the characteristics used);
    ``pooled``: the main fit (None when fewer than one study is poolable); ``subgroups``:
    characteristic -> SubgroupResult, fitted on the studies with a value; ``metaregs``: one
    MetaRegResult per moderator set that could be fitted (on the studies with every
    moderator), ``metareg_terms`` its moderators;
    ``estimators``: the pooled estimate under every τ² estimator and both tests;
    ``leave_one_out``, ``influence``, ``cumulative``: frames; ``egger``, ``trimfill``: results
    (None where k is too small); ``notes``: what was skipped and why. Frames (and the
    subgroups mapping) are handed out as copies: changing one leaves the result unchanged.
    """

    spec: PlannedAnalysis
    effects: pd.DataFrame
    pooled: MetaResult | None
    subgroups: dict[str, SubgroupResult] = field(default_factory=dict)
    metaregs: tuple[MetaRegResult, ...] = ()
    metareg_terms: tuple[tuple[str, ...], ...] = ()  # the moderators of each of metaregs
    estimators: pd.DataFrame | None = None
    leave_one_out: pd.DataFrame | None = None
    influence: pd.DataFrame | None = None
    cumulative: pd.DataFrame | None = None
    egger: EggerResult | None = None
    trimfill: TrimFillResult | None = None
    notes: tuple[str, ...] = ()


def _arm_columns(wide: pd.DataFrame, arm: str, stats: tuple[str, ...],
                 keys: str | list[str] = "study") -> pd.DataFrame:
    part = wide[wide["arm"] == arm].set_index(keys)
    return part.reindex(columns=list(stats))


def _arm_effects(wide: pd.DataFrame, spec: PlannedAnalysis, index: pd.Index,
                 keys: str | list[str] = "study"):
    """Both arms' statistics on ``index`` (rows of ``wide`` keyed by ``keys``) and their
    escalc effects: (arm 1 stats, arm 2 stats, escalc frame, derived-note series).

    For event measures the non-events are taken as reported, or as total − events where only
    totals are reported (an exact identity, noted in ``derived``)."""
    a1, a2 = spec.arms
    derived = pd.Series("", index=index)
    if spec.measure in EVENT_MEASURES:
        cols = ("events", "nonevents", "total")
        g1 = _arm_columns(wide, a1, cols, keys).reindex(index)
        g2 = _arm_columns(wide, a2, cols, keys).reindex(index)
        for g, arm in ((g1, a1), (g2, a2)):
            need = g["nonevents"].isna() & g["total"].notna() & g["events"].notna()
            g.loc[need, "nonevents"] = g.loc[need, "total"] - g.loc[need, "events"]
            derived[need.to_numpy()] += f"{arm} non-events = total − events; "
        es = escalc(spec.measure, ai=g1["events"].to_numpy(float),
                    bi=g1["nonevents"].to_numpy(float), ci=g2["events"].to_numpy(float),
                    di=g2["nonevents"].to_numpy(float))
    elif spec.measure in CONTINUOUS_MEASURES:
        cols = ("mean", "sd", "n")
        g1 = _arm_columns(wide, a1, cols, keys).reindex(index)
        g2 = _arm_columns(wide, a2, cols, keys).reindex(index)
        es = escalc(spec.measure, m1i=g1["mean"].to_numpy(float), sd1i=g1["sd"].to_numpy(float),
                    n1i=g1["n"].to_numpy(float), m2i=g2["mean"].to_numpy(float),
                    sd2i=g2["sd"].to_numpy(float), n2i=g2["n"].to_numpy(float))
    else:
        raise ValueError(f"analysis '{spec.id}': measure '{spec.measure}' is not a two-arm "
                         f"measure; use one of {', '.join(EVENT_MEASURES + CONTINUOUS_MEASURES)}"
                         " (pre-post measures are handled by evidence.synthesis)")
    return g1, g2, es, derived


def _add_effects(out: pd.DataFrame, es: pd.DataFrame, inclusion, derived: pd.Series,
                 level: float) -> None:
    """Add yi, vi, reason, computable, ci_low, ci_high and derived to ``out`` (in place):
    an effect is computable when finite with vi > 0 and its study's inclusion is confirmed."""
    out["yi"] = es["yi"].to_numpy()
    out["vi"] = es["vi"].to_numpy()
    out["reason"] = es["reason"].to_numpy() if "reason" in es else None
    inclusion = np.asarray(inclusion)
    ok = np.isfinite(out["yi"]) & np.isfinite(out["vi"]) & (out["vi"] > 0)
    out["computable"] = ok & (inclusion == "confirmed")
    out.loc[ok & (inclusion != "confirmed"), "reason"] = "inclusion not confirmed"
    out.loc[~ok & out["reason"].isna(), "reason"] = "effect size not computable"
    crit = stats.norm.ppf(1 - (1 - parse_level(level)) / 2)
    se = np.sqrt(out["vi"])
    out["ci_low"] = out["yi"] - crit * se
    out["ci_high"] = out["yi"] + crit * se
    out["derived"] = derived.str.rstrip("; ").replace("", None)


def two_arm_effects(frames: Frames, spec: PlannedAnalysis) -> pd.DataFrame:
    """Per-study effect sizes of ``spec.outcome`` (arm 1 vs arm 2), vectorised over studies.

    Studies that report the outcome but not what the measure needs get NaN with a reason.
    For event measures the non-events are taken as reported, or as total − events where only
    totals are reported (an exact identity, noted in ``derived``).
    """
    wide = wide_measurements(frames.measurements)
    wide = wide[wide["outcome"] == spec.outcome]
    studies = frames.studies.set_index("study")
    ids = [s for s in studies.index if s in set(wide["study"])]
    a1, a2 = spec.arms
    out = pd.DataFrame(index=pd.Index(ids, name="study"))
    out["label"] = studies.loc[ids, "label"]
    out["inclusion"] = studies.loc[ids, "inclusion"]
    g1, g2, es, derived = _arm_effects(wide, spec, out.index)
    if spec.measure in EVENT_MEASURES:
        out[f"{a1}_events"], out[f"{a1}_nonevents"] = g1["events"], g1["nonevents"]
        out[f"{a2}_events"], out[f"{a2}_nonevents"] = g2["events"], g2["nonevents"]
        n1 = g1["events"] + g1["nonevents"]
        n2 = g2["events"] + g2["nonevents"]
        out[f"{a1}_total"], out[f"{a2}_total"] = n1, n2  # arm sizes, for the forest columns
    else:
        for c in ("mean", "sd", "n"):
            out[f"{a1}_{c}"], out[f"{a2}_{c}"] = g1[c], g2[c]
        n1, n2 = g1["n"], g2["n"]
    out["n"] = (n1 + n2).to_numpy()
    _add_effects(out, es, out["inclusion"], derived, spec.level)
    chars = frames.characteristics
    for name in sorted(set(spec.subgroups) | {m for ms in spec.moderators for m in ms}
                       | ({spec.cumulative_order} if spec.cumulative_order else set())):
        vals = chars[chars["characteristic"] == name].set_index("study")["value"]
        vals = vals.reindex(out.index)
        numeric = pd.to_numeric(vals, errors="coerce")
        # numbers stay numbers (continuous moderators); anything else is a category
        out[name] = numeric if numeric.notna().sum() == vals.notna().sum() else vals
    return out.reset_index()


_TABLE_METHOD_WORDS = {"MH": "Mantel-Haenszel", "Peto": "Peto"}


def _pool_tables(used: pd.DataFrame, spec: PlannedAnalysis):
    """The Mantel-Haenszel or Peto fit of the studies' 2x2 tables (arm 1 vs arm 2)."""
    a1, a2 = spec.arms
    cells = [used[f"{arm}_{c}"].to_numpy(float) for arm in (a1, a2)
             for c in ("events", "nonevents")]
    if spec.method == "MH":
        return meta_mh(*cells, measure=spec.measure, level=spec.level)
    return meta_peto(*cells, level=spec.level)


def around_method(spec: PlannedAnalysis) -> str:
    """The τ² estimator of the fits around an analysis (subgroups, meta-regressions,
    sensitivity): its own, or the inverse-variance fixed-effect model (FE) of the study
    effects when the main fit pools 2x2 tables (Mantel-Haenszel, Peto)."""
    return "FE" if spec.method in TABLE_METHODS else spec.method


def run_analysis(frames: Frames, spec: PlannedAnalysis) -> AnalysisResult:
    """Compute one planned analysis: effects, pooled fit, subgroups, meta-regression and the
    sensitivity analyses. Pure: frames in, results out."""
    eff = two_arm_effects(frames, spec)
    used = eff[eff["computable"]].reset_index(drop=True)
    notes: list[str] = []
    k = len(used)
    if k == 0:
        notes.append("no study is poolable: " + "; ".join(
            f"{r.label}: {r.reason}" for r in eff.itertuples()))
        eff["weight"] = np.nan
        return AnalysisResult(spec=spec, effects=eff, pooled=None, notes=tuple(notes))
    yi, vi = used["yi"].to_numpy(), used["vi"].to_numpy()
    around = around_method(spec)
    if spec.method in TABLE_METHODS:
        try:
            pooled = _pool_tables(used, spec)
        except ArgumentError as err:
            notes.append(f"{spec.method} pooling not possible: {err}")
            eff["weight"] = np.nan
            return AnalysisResult(spec=spec, effects=eff, pooled=None, notes=tuple(notes))
        notes.append(f"{_TABLE_METHOD_WORDS[spec.method]} pooling of the 2x2 tables; "
                     "subgroups, meta-regressions and the analyses around the fit use the "
                     "inverse-variance fixed-effect model (FE) of the study-level effects")
    else:
        pooled = meta(yi, vi, method=spec.method, test=spec.test, level=spec.level)
    w = pd.Series(np.asarray(pooled.weights) * 100, index=used["study"])
    eff["weight"] = eff["study"].map(w)

    def lacking(cols, kind: str) -> np.ndarray:
        """Studies with a value of every one of ``cols``; the others are left out of that
        analysis (as metafor drops rows with missing moderators) and named in a note."""
        miss = used[list(cols)].isna().any(axis=1).to_numpy()
        if miss.any():
            what = ", ".join(spec.label_of(c) for c in cols)
            notes.append(f"{what} not reported for {', '.join(used['label'][miss])}: left "
                         f"out of the {kind} on {what} ({int((~miss).sum())} of {k} studies)")
        return ~miss

    subgroups = {}
    for name in spec.subgroups:
        keep = lacking((name,), "subgroup analysis")
        if keep.sum() < 2:
            notes.append(f"subgroups by {spec.label_of(name)}: fewer than 2 studies with a "
                         "value; not fitted")
            continue
        levels = used[name][keep].astype(str).unique()
        if len(levels) < 2:
            notes.append(f"subgroups by {spec.label_of(name)}: every study is "
                         f"{levels[0]}; no subgroups to compare")
            continue
        subgroups[name] = subgroup(yi[keep], vi[keep], used[name][keep].astype(str).to_numpy(),
                                   method=around, test=spec.test, level=spec.level)
    metaregs, metareg_terms = [], []
    for mods in spec.moderators:
        keep = lacking(tuple(mods), "meta-regression")
        if keep.sum() <= len(mods) + 1:
            n_with = int(keep.sum())
            notes.append(f"meta-regression on {', '.join(spec.label_of(m) for m in mods)}: "
                         f"{n_with} {'study' if n_with == 1 else 'studies'} with every "
                         f"moderator, too few for {len(mods) + 1} coefficients; not fitted")
            continue
        metaregs.append(metareg(yi[keep], vi[keep], used[list(mods)][keep], method=around,
                                test=spec.test, level=spec.level))
        metareg_terms.append(tuple(mods))

    # every estimator and test at once, as a batch over (method, test) "groups"
    rows = []
    for test in ("z", "knha"):
        for method in SENSITIVITY_METHODS:
            if test == "knha" and method in ("FE",):
                continue
            r = meta(yi, vi, method=method, test=test, level=spec.level) if k > 1 else None
            if r is not None:
                rows.append({"method": method, "test": test, "estimate": r.estimate,
                             "se": r.se, "ci_low": r.ci_low, "ci_high": r.ci_high,
                             "pvalue": r.pvalue, "tau2": r.tau2, "i2": r.i2,
                             "pi_low": r.pi_low, "pi_high": r.pi_high})
    estimators = pd.DataFrame(rows) if rows else None

    loo = infl = cum = egg = tf = None
    labels = used["label"].to_numpy()
    if k >= 3:
        loo = leave_one_out(yi, vi, method=around, test=spec.test, level=spec.level)
        loo.insert(0, "omitted", labels)
        infl = influence(yi, vi, method=around)
        infl.insert(0, "study", labels)
        egg = egger_test(yi, vi, model="lm")
        tf = trimfill(yi, vi, method=around)
    else:
        notes.append(f"k = {k}: leave-one-out, influence, Egger's test and trim-and-fill need "
                     "at least 3 studies")
    if spec.cumulative_order and k >= 2:
        order = used[spec.cumulative_order].astype(float).to_numpy()
        cum = cumulative(yi, vi, order=order, method=around, test=spec.test,
                         level=spec.level)
        idx = np.argsort(order, kind="stable")
        cum.insert(0, "added", labels[idx])
    return AnalysisResult(spec=spec, effects=eff, pooled=pooled, subgroups=subgroups,
                          metaregs=tuple(metaregs), metareg_terms=tuple(metareg_terms),
                          estimators=estimators,
                          leave_one_out=loo, influence=infl, cumulative=cum, egger=egg,
                          trimfill=tf, notes=tuple(notes))


def run_analyses(loaded, frames: Frames | None = None) -> list[AnalysisResult]:
    """Every analysis planned in review.yaml without a ``multilevel:`` block, in order (see
    :func:`run_multilevel` for those with one)."""
    frames = frames if frames is not None else loaded.frames()
    return [run_analysis(frames, spec) for spec in planned_analyses(loaded)
            if spec.multilevel is None]


# ------------------------------------------------------------------ multilevel (dependent effects)


@copied_on_read("effects", "rho_sensitivity")
@dataclass(frozen=True, slots=True)
class MultilevelAnalysisResult(_EffectCounts):
    """A planned analysis pooled with a multilevel model (``multilevel:`` in review.yaml).

    ``effects``: one row per study × time point (label, timepoint, timepoint_label, the arms'
    counts or summaries, yi, vi, ci_low, ci_high, computable, reason); ``fit``: the
    random-effects model of every computable effect (:func:`evidence.meta_mv`, random
    intercepts per study and per time point within study, ``V`` from :func:`evidence.vcalc`
    with the assumed ``rho``); ``robust``: its CR2 cluster-robust inference clustered by
    study; ``by_timepoint`` / ``by_timepoint_robust``: the same model with one coefficient per
    time point; ``timepoints``: (id, label) of those coefficients, in order;
    ``rho_sensitivity``: the pooled estimate refitted for every correlation of ``rhos``.
    """

    spec: PlannedAnalysis
    effects: pd.DataFrame
    fit: Any = None
    robust: Any = None
    by_timepoint: Any = None
    by_timepoint_robust: Any = None
    timepoints: tuple[tuple[str, str], ...] = ()
    rho_sensitivity: pd.DataFrame | None = None
    notes: tuple[str, ...] = ()

    @property
    def rho(self) -> float:
        return float(self.spec.multilevel.rho)

    @property
    def n_studies(self) -> int:
        return int(self.effects.loc[self.effects["computable"], "study"].nunique())


def timepoint_order(timepoints: pd.DataFrame) -> list[str]:
    """The review's time points in order: by weeks where every one states them, else by the
    latest position a time point takes in any study's list (so a study that skips a time
    point does not move the others)."""
    tp = timepoints.groupby("timepoint").agg(weeks=("weeks", "max"), order=("order", "max"))
    key = ["weeks", "order"] if tp["weeks"].notna().all() else ["order"]
    return tp.sort_values(key, kind="stable").index.tolist()


def multilevel_effects(frames: Frames, spec: PlannedAnalysis) -> pd.DataFrame:
    """Effect sizes of ``spec.outcome`` per study × time point (arm 1 vs arm 2), vectorised.

    As :func:`two_arm_effects`, with one row for every time point a study reports."""
    wide = wide_measurements(frames.measurements)
    wide = wide[wide["outcome"] == spec.outcome]
    a1, a2 = spec.arms
    keys = ["study", "timepoint"]
    idx = pd.MultiIndex.from_frame(wide.loc[wide["arm"].isin(spec.arms), keys].drop_duplicates())
    g1, g2, es, derived = _arm_effects(wide, spec, idx, keys)
    out = pd.DataFrame(index=idx)
    if spec.measure in EVENT_MEASURES:
        for g, arm in ((g1, a1), (g2, a2)):
            out[f"{arm}_events"] = g["events"]
            out[f"{arm}_total"] = g["events"] + g["nonevents"]
    else:
        for c in ("mean", "sd", "n"):
            out[f"{a1}_{c}"], out[f"{a2}_{c}"] = g1[c], g2[c]
    studies = frames.studies.set_index("study")
    study = out.index.get_level_values("study")
    out.insert(0, "label", studies.loc[study, "label"].to_numpy())
    tps = frames.timepoints.drop_duplicates(keys).set_index(keys)["label"]
    out.insert(1, "timepoint_label", tps.reindex(out.index).to_numpy())
    order = {t: i for i, t in enumerate(timepoint_order(frames.timepoints))}
    out["position"] = out.index.get_level_values("timepoint").map(order)
    _add_effects(out, es, studies.loc[study, "inclusion"].to_numpy(), derived, spec.level)
    out = out.reset_index()
    out.insert(1, "label", out.pop("label"))  # study, label, timepoint, timepoint_label, ...
    return out.sort_values(["study", "position"], kind="stable").reset_index(drop=True)


def fit_multilevel(used: pd.DataFrame, spec: PlannedAnalysis):
    """``(V, fit)``: the sampling covariance at the spec's assumed correlation and the
    ``study/timepoint`` model of the computable effects ``used`` (from
    :func:`multilevel_effects`)."""
    V = vcalc(used["vi"].to_numpy(), cluster=used["study"].to_numpy(),
              obs=used["timepoint"].to_numpy(), rho=spec.multilevel.rho)
    return V, meta_mv(used["yi"].to_numpy(), V, data=used, random="study/timepoint",
                      method=spec.method, test=spec.test, level=spec.level)


def run_multilevel(frames: Frames, spec: PlannedAnalysis) -> MultilevelAnalysisResult:
    """Pool every study × time point effect of one planned analysis with a multilevel model:
    the fit at the assumed correlation, CR2 inference by study, one coefficient per time
    point, and the refits over the sensitivity correlations. Pure: frames in, results out."""
    ml = spec.multilevel
    eff = multilevel_effects(frames, spec)
    used = eff[eff["computable"]].reset_index(drop=True)
    notes: list[str] = []  # the assumed rho is in spec.multilevel and in fit.rho
    skipped = eff[~eff["computable"]]
    if len(skipped):
        notes.append("not pooled: " + "; ".join(
            f"{r.label} at {r.timepoint_label}: {r.reason}" for r in skipped.itertuples()))
    if used["study"].nunique() < 2:
        notes.append("fewer than two studies with a computable effect: no multilevel model")
        return MultilevelAnalysisResult(spec=spec, effects=eff, notes=tuple(notes))
    used["timepoint_level"] = pd.Categorical(
        used["timepoint"],
        categories=used.sort_values("position", kind="stable")["timepoint"].unique())
    V, fit = fit_multilevel(used, spec)
    cluster = used["study"].to_numpy()
    rob = robust(fit, cluster=cluster) if ml.robust else None
    by = by_rob = None
    tps: tuple[tuple[str, str], ...] = ()
    if ml.by_timepoint and used["timepoint"].nunique() > 1:
        by = meta_mv(used["yi"].to_numpy(), V, data=used, random="study/timepoint",
                     mods="~ 0 + C(timepoint_level)", method=spec.method, test=spec.test,
                     level=spec.level)
        by_rob = robust(by, cluster=cluster) if ml.robust else None
        labels = used.drop_duplicates("timepoint").set_index("timepoint")["timepoint_label"]
        tps = tuple((t, str(labels[t])) for t in used["timepoint_level"].cat.categories)
    sens = None
    if ml.rhos:
        sens = rho_sensitivity(used["yi"].to_numpy(), used["vi"].to_numpy(), cluster,
                               list(ml.rhos), obs=used["timepoint"].to_numpy(), data=used,
                               random="study/timepoint", method=spec.method, test=spec.test,
                               level=spec.level, robust_adjust=ml.robust)
    return MultilevelAnalysisResult(spec=spec, effects=eff, fit=fit, robust=rob,
                                    by_timepoint=by, by_timepoint_robust=by_rob,
                                    timepoints=tps, rho_sensitivity=sens, notes=tuple(notes))
