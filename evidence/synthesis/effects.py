"""Pre-post effect sizes of the clinical studies, with every assumption written down.

One row per study × outcome × arm × (pre, post) time point pair. Where the mean, SD and n are
reported at both time points the standardised mean change (metafor's ``SMCR`` by default) is
computed by :func:`evidence.effects.escalc` on whole columns at once; the pre-post correlation,
which no study reports, is an explicit assumption recorded in the ``assumption`` column and
varied in a sensitivity table. Where only means (or only a direction) are reported, the row
shows what is reported, the direction of change and why no effect size can be computed; it
never carries a variance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..completeness import outcome_status
from ..effects import correlation_sensitivity, escalc
from ..errors import ArgumentError
from ..model import Frames, wide_measurements

__all__ = ["ClinicalEffects", "clinical_effects", "EFFECT_COLUMNS", "DEFAULT_CORRELATIONS",
           "PRE_POST_MEASURES"]

DEFAULT_CORRELATIONS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
"""Assumed pre-post correlations of the default sensitivity analysis."""

PRE_POST_MEASURES = ("SMCR", "SMCC", "MC")

EFFECT_COLUMNS = [
    "effect_id", "study", "label", "inclusion", "injury", "design", "strategies", "outcome",
    "outcome_name", "outcome_kind", "primary", "arm", "pre", "post", "pre_label", "post_label",
    "post_weeks", "post_order", "lower_is_better", "m_pre", "sd_pre", "m_post", "sd_post", "n",
    "n_pre", "n_post", "mean_change", "direction", "direction_basis", "significant",
    "improvement", "measure", "yi", "vi", "ci_low", "ci_high", "yi_benefit", "ci_low_benefit",
    "ci_high_benefit", "better", "computable",
    "reason", "assumption", "ri", "conversions", "sources",
]
"""Columns of :attr:`ClinicalEffects.effects`, in order."""

_NOT_STATED = "(not stated)"  # key for a reported change whose end time point is not given


@dataclass(frozen=True)
class ClinicalEffects:
    """Pre-post effect sizes of a review's clinical studies.

    Attributes
    ----------
    effects : DataFrame
        One row per study × outcome × arm × (pre, post) pair (:data:`EFFECT_COLUMNS`).
        ``yi``/``vi`` follow metafor's sign (post minus pre); ``yi_benefit`` is ``yi`` turned so
        that a positive value is an improvement (sign flipped where lower is better).
        ``computable`` is False, with ``reason``, wherever a variance cannot be computed.
    sensitivity : DataFrame
        One row per computable effect × assumed correlation ``ri``: ``effect_id``, ``study``,
        ``outcome``, ``pre``, ``post``, ``ri``, ``yi``, ``vi``, ``ci_low``, ``ci_high``,
        ``yi_benefit``.
    measure : str
        The effect-size measure (``SMCR`` by default).
    assumed_r : float
        The pre-post correlation assumed in ``effects``.
    correlations : tuple of float
        The correlations of the sensitivity table.
    level : float
        Confidence level of the per-effect intervals.
    """

    effects: pd.DataFrame
    sensitivity: pd.DataFrame
    measure: str
    assumed_r: float | None
    correlations: tuple[float, ...]
    level: float = 0.95
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_frame(self) -> pd.DataFrame:
        """The effects frame (a copy)."""
        return self.effects.copy()

    @property
    def computable(self) -> pd.DataFrame:
        """Rows with an effect size and a variance."""
        return self.effects[self.effects["computable"]].copy()


def _assumption_text(r: float) -> str:
    return f"pre-post r = {r:g} (not reported; assumed)"


def _pre_timepoints(timepoints: pd.DataFrame) -> pd.DataFrame:
    """The baseline of each study: the time point at week 0, else the first one declared."""
    tp = timepoints.assign(_not0=~(timepoints["weeks"] == 0))
    tp = tp.sort_values(["study", "_not0", "order"], kind="stable")
    return tp.drop_duplicates("study")[["study", "timepoint"]].rename(columns={"timepoint": "pre"})


def _direction(diff: pd.Series) -> pd.Series:
    out = pd.Series(np.where(diff > 0, "increase", np.where(diff < 0, "decrease", "no change")),
                    index=diff.index, dtype=object)
    return out.where(diff.notna(), None)


def clinical_effects(frames: Frames, correlations: Sequence[float] = DEFAULT_CORRELATIONS,
                     assumed_r: float = 0.5, measure: str = "SMCR",
                     level: float = 0.95) -> ClinicalEffects:
    """Standardised mean changes per study × outcome × (pre, post) time points.

    Parameters
    ----------
    frames : Frames
        The tidy frames of a review (``review.frames()``).
    correlations : sequence of float
        Assumed pre-post correlations for the sensitivity table (default 0.2, 0.3, ..., 0.8).
    assumed_r : float
        The pre-post correlation assumed in the main table (default 0.5). No study reports
        it, so every computed row says so in ``assumption``.
    measure : {"SMCR", "SMCC", "MC"}
        Pre-post measure passed to :func:`evidence.effects.escalc` (``m1i`` = post mean,
        ``m2i`` = pre mean, ``sd1i`` = pre SD, ``sd2i`` = post SD, ``ni`` = n, ``ri``).
    level : float
        Confidence level of the per-effect normal intervals.

    Returns
    -------
    ClinicalEffects

    Raises
    ------
    ArgumentError
        Unknown measure, a correlation outside [-1, 1], an empty correlation grid, a level
        outside (0, 1).

    Notes
    -----
    Pairs: the baseline of each study (the time point at week 0, else the first declared) with
    every later time point at which the outcome has a reported value, plus every pair a source
    reports a direction of change for. An effect is computable when the mean and SD are
    reported at both time points and the same n at both (the number with both measurements);
    an SD is taken from an SE as :math:`SD = SE\\sqrt{n}` (an identity, noted in
    ``conversions``). ``SMCR`` (Becker 1988; Morris 2000):

    .. math:: g = J(n-1)\\,(\\bar x_{post}-\\bar x_{pre})/s_{pre},\\quad
              v = 2(1-r)/n + g^2/(2n)

    The direction of change is the one a source reports; where none is reported it is the
    sign of the difference in means (``direction_basis`` says which). ``improvement`` reads
    the direction against the scale (``lower_is_better``; pain outcomes are lower-is-better
    when the record does not say).

    References
    ----------
    Becker, B. J. (1988). Synthesizing standardized mean-change measures. British Journal of
    Mathematical and Statistical Psychology, 41, 257-278.
    Morris, S. B. (2000). Distribution of the standardized mean change effect size for
    meta-analysis on repeated measures. BJMSP, 53, 17-29.

    Examples
    --------
    >>> import evidence as ev                                   # doctest: +SKIP
    >>> ce = clinical_effects(ev.load_review("studies").frames())  # doctest: +SKIP
    >>> ce.computable[["label", "outcome", "yi", "vi"]]         # doctest: +SKIP
    """
    key = str(measure).upper()
    if key not in PRE_POST_MEASURES:
        raise ArgumentError(f"measure {measure!r} is not one of {', '.join(PRE_POST_MEASURES)}")
    grid = tuple(float(r) for r in np.atleast_1d(np.asarray(correlations, dtype=float)))
    if not grid or any(not np.isfinite(r) or abs(r) > 1 for r in grid):
        raise ArgumentError(f"correlations must be a non-empty sequence of correlations in "
                            f"[-1, 1], got {correlations!r}")
    if assumed_r is not None and (not np.isfinite(assumed_r) or abs(assumed_r) > 1):
        raise ArgumentError(f"assumed_r must be a correlation in [-1, 1], got {assumed_r!r}")
    if not 0 < level < 1:
        raise ArgumentError(f"level must lie in (0, 1), got {level!r}")

    pairs = _pairs(frames)
    eff = _with_stats(frames, pairs)
    eff = _reasons(frames, eff, key)

    if assumed_r is None:
        # no correlation given: a standardised mean change is not computed (never a default)
        no_r = eff["computable"].to_numpy()
        eff.loc[no_r, "reason"] = ("no pre-post correlation given (none is reported; state "
                                   "one as an assumption to compute the effect)")
        eff["computable"] = False
    ok = eff["computable"].to_numpy()
    eff["measure"] = key
    for c in ("yi", "vi", "ci_low", "ci_high", "yi_benefit", "ci_low_benefit",
              "ci_high_benefit", "ri"):
        eff[c] = np.nan
    eff["assumption"] = None
    z = float(stats.norm.ppf(0.5 + level / 2))
    sign = np.where(eff["lower_is_better"] == True, -1.0,  # noqa: E712
                    np.where(eff["lower_is_better"] == False, 1.0, np.nan))  # noqa: E712
    sens_cols = ["effect_id", "study", "outcome", "pre", "post", "ri", "yi", "vi", "ci_low",
                 "ci_high", "yi_benefit", "ci_low_benefit", "ci_high_benefit"]
    if ok.any():
        sub = eff.loc[ok]
        args = dict(m1i="m_post", m2i="m_pre", sd1i="sd_pre", ni="n")
        if key != "SMCR":
            args["sd2i"] = "sd_post"
        es = escalc(key, data=sub, ri=float(assumed_r), **args)
        yi, vi = es["yi"].to_numpy(), es["vi"].to_numpy()
        eff.loc[ok, "yi"] = yi
        eff.loc[ok, "vi"] = vi
        eff.loc[ok, "ci_low"] = yi - z * np.sqrt(vi)
        eff.loc[ok, "ci_high"] = yi + z * np.sqrt(vi)
        eff.loc[ok, "ri"] = float(assumed_r)
        eff.loc[ok, "assumption"] = _assumption_text(assumed_r)
        eff.loc[ok, "yi_benefit"] = yi * sign[ok]
        lo_b, hi_b = (yi - z * np.sqrt(vi)) * sign[ok], (yi + z * np.sqrt(vi)) * sign[ok]
        eff.loc[ok, "ci_low_benefit"] = np.minimum(lo_b, hi_b)
        eff.loc[ok, "ci_high_benefit"] = np.maximum(lo_b, hi_b)
        sens = correlation_sensitivity(key, data=sub, ri=grid, level=level, **args)
        sens = sens.join(sub[["effect_id", "study", "outcome", "pre", "post"]], on="row")
        tiled = np.tile(sign[ok], len(grid))
        sens["yi_benefit"] = sens["yi"].to_numpy() * tiled
        lo_b, hi_b = sens["ci_low"].to_numpy() * tiled, sens["ci_high"].to_numpy() * tiled
        sens["ci_low_benefit"] = np.minimum(lo_b, hi_b)
        sens["ci_high_benefit"] = np.maximum(lo_b, hi_b)
        sensitivity = sens[sens_cols].reset_index(drop=True)
    else:
        sensitivity = pd.DataFrame(columns=sens_cols)
    eff["yi_benefit"] = eff["yi_benefit"].astype(float)
    eff["better"] = np.where(eff["lower_is_better"] == True, "lower",  # noqa: E712
                             np.where(eff["lower_is_better"] == False, "higher",  # noqa: E712
                                      "not recorded"))
    eff = eff.sort_values(["study", "outcome", "arm", "post_order"], kind="stable",
                          na_position="last").reset_index(drop=True)
    notes = (f"{key}: positive yi = increase from pre to post; yi_benefit > 0 = improvement.",
             (f"Assumed pre-post correlation {assumed_r:g} (not reported by any study); "
              f"sensitivity over {', '.join(f'{r:g}' for r in grid)}.")
             if assumed_r is not None else "No pre-post correlation given: no standardised "
             "mean change computed.")
    return ClinicalEffects(effects=eff[EFFECT_COLUMNS], sensitivity=sensitivity, measure=key,
                           assumed_r=None if assumed_r is None else float(assumed_r),
                           correlations=grid, level=level,
                           notes=notes)


def _pairs(frames: Frames) -> pd.DataFrame:
    """(study, outcome, arm, pre, post) pairs; post NaN where a source does not say when."""
    pre = _pre_timepoints(frames.timepoints)
    wide = wide_measurements(frames.measurements)
    stats_cols = [c for c in wide.columns if c in ("mean", "sd", "se", "n", "median", "events",
                                                   "total", "percent", "q1", "q3", "min",
                                                   "max", "ci_low", "ci_high", "nonevents")]
    has_any = wide[stats_cols].notna().any(axis=1)
    m = wide.loc[has_any, ["study", "outcome", "arm", "timepoint"]].merge(pre, on="study")
    m = m[m["timepoint"] != m["pre"]].rename(columns={"timepoint": "post"})
    ch = frames.changes[["study", "outcome", "from", "to"]].rename(
        columns={"from": "pre", "to": "post"}).assign(arm="all")
    pairs = pd.concat([m[["study", "outcome", "arm", "pre", "post"]],
                       ch[["study", "outcome", "arm", "pre", "post"]]], ignore_index=True)
    pairs["post"] = pairs["post"].astype(object).where(pairs["post"].notna(), _NOT_STATED)
    pairs = pairs.drop_duplicates(["study", "outcome", "arm", "pre", "post"])
    # outcomes with nothing to pair: one row, so that the gap is visible
    outs = frames.outcomes[["study", "outcome"]]
    bare = outs.merge(pairs[["study", "outcome"]].drop_duplicates(), how="left", indicator=True)
    bare = bare[bare["_merge"] == "left_only"].drop(columns="_merge").merge(pre, on="study",
                                                                             how="left")
    bare = bare.assign(arm="all", post=None)
    return pd.concat([pairs, bare[["study", "outcome", "arm", "pre", "post"]]],
                     ignore_index=True)


def _with_stats(frames: Frames, pairs: pd.DataFrame) -> pd.DataFrame:
    wide = wide_measurements(frames.measurements)
    take = ["mean", "sd", "se", "n", "mean_source", "sd_source", "se_source", "n_source"]
    w = wide[["study", "outcome", "arm", "timepoint"] + [c for c in take if c in wide.columns]]
    w = w.reindex(columns=["study", "outcome", "arm", "timepoint"] + take)
    eff = pairs.copy()
    for side in ("pre", "post"):
        ren = {c: f"{c}_{side}" for c in take}
        ren["timepoint"] = side
        eff = eff.merge(w.rename(columns=ren), on=["study", "outcome", "arm", side], how="left")
    eff = eff.rename(columns={"mean_pre": "m_pre", "mean_post": "m_post"})

    ch = frames.changes.rename(columns={"from": "pre", "to": "post"}).copy()
    ch["post"] = ch["post"].astype(object).where(ch["post"].notna(), _NOT_STATED)
    ch = ch.drop_duplicates(["study", "outcome", "pre", "post"])
    ch = ch[["study", "outcome", "pre", "post", "direction", "significant", "source"]].rename(
        columns={"direction": "reported_direction", "source": "change_source"})
    eff = eff.merge(ch, on=["study", "outcome", "pre", "post"], how="left")

    oc = frames.outcomes[["study", "outcome", "name", "kind", "primary", "lower_is_better"]]
    eff = eff.merge(oc.rename(columns={"name": "outcome_name", "kind": "outcome_kind"}),
                    on=["study", "outcome"], how="left")
    st = frames.studies[["study", "label", "inclusion", "injury", "design", "strategies"]]
    eff = eff.merge(st, on="study", how="left")
    eff["strategies"] = eff["strategies"].map(
        lambda s: tuple(x.strip() for x in s.split(",") if x.strip()) if isinstance(s, str)
        else ())
    tp = frames.timepoints[["study", "timepoint", "label", "weeks", "order"]]
    eff = eff.merge(tp.rename(columns={"timepoint": "pre", "label": "pre_label",
                                       "weeks": "_w", "order": "_o"}),
                    on=["study", "pre"], how="left").drop(columns=["_w", "_o"])
    eff = eff.merge(tp.rename(columns={"timepoint": "post", "label": "post_label",
                                       "weeks": "post_weeks", "order": "post_order"}),
                    on=["study", "post"], how="left")
    eff["post_label"] = eff["post_label"].astype(object).where(
        eff["post_label"].notna(), np.where(eff["post"] == _NOT_STATED, "not stated", None))
    eff["post"] = eff["post"].where(~eff["post"].isin([_NOT_STATED]), None)
    return eff


def _reasons(frames: Frames, eff: pd.DataFrame, measure: str) -> pd.DataFrame:
    eff = eff.copy()
    # where an outcome's scale does not give its direction of benefit, the review's default
    # for the outcome kind (review.yaml synthesis.lower_is_better) applies
    by_kind = {r.kind: r.lower_is_better for r in frames.outcome_kinds.itertuples()
               if r.lower_is_better is not None and not pd.isna(r.lower_is_better)}
    lib = eff["lower_is_better"].astype(object)
    lib = lib.where(lib.notna(), eff["outcome_kind"].map(by_kind).astype(object))
    eff["lower_is_better"] = lib.where(lib.notna(), None)

    # SD from SE (an identity, not an assumption)
    conv = pd.Series(None, index=eff.index, dtype=object)
    for side in ("pre", "post"):
        from_se = eff[f"sd_{side}"].isna() & eff[f"se_{side}"].notna() & eff[f"n_{side}"].notna()
        eff[f"sd_{side}"] = eff[f"sd_{side}"].where(
            ~from_se, eff[f"se_{side}"] * np.sqrt(eff[f"n_{side}"]))
        eff.loc[from_se, f"sd_source_{side}"] = eff.loc[from_se, f"se_source_{side}"]
        note = f"SD at {side} = SE x sqrt(n)"
        conv = conv.where(~from_se, np.where(conv.notna(), conv.astype(str) + "; " + note, note))
    eff["conversions"] = conv

    eff["mean_change"] = eff["m_post"] - eff["m_pre"]
    from_means = _direction(eff["mean_change"])
    rep = eff["reported_direction"].astype(object)
    eff["direction"] = rep.where(rep.notna(), from_means)
    eff["direction_basis"] = np.where(rep.notna(), "reported",
                                      np.where(from_means.notna(), "means", None))
    eff["significant"] = eff["significant"].astype(object).where(eff["significant"].notna(), None)
    d, lb = eff["direction"], eff["lower_is_better"]
    better = ((d == "decrease") & (lb == True)) | ((d == "increase") & (lb == False))  # noqa: E712
    worse = ((d == "increase") & (lb == True)) | ((d == "decrease") & (lb == False))  # noqa: E712
    eff["improvement"] = np.select(
        [d == "no change", better, worse], ["no change", "improved", "worsened"], "unknown")

    # n: the same number at both time points is the number with both measurements
    n_equal = eff["n_pre"].notna() & (eff["n_pre"] == eff["n_post"])
    eff["n"] = eff["n_pre"].where(n_equal)
    has_pre = eff["m_pre"].notna()
    has_post = eff["m_post"].notna()
    # mean and SD at both time points: SMCR itself needs only the pre SD, but a post mean
    # without its SD is an incomplete summary, so both are required for every measure
    sd_ok = eff["sd_pre"].notna() & eff["sd_post"].notna()
    post_known = eff["post"].notna()
    eff["computable"] = (post_known & has_pre & has_post & sd_ok & n_equal
                         & (eff["n"] > 2)).to_numpy()

    status = outcome_status(frames)[["study", "outcome", "data", "reason"]].rename(
        columns={"reason": "status_reason"})
    eff = eff.merge(status, on=["study", "outcome"], how="left")
    no_means = eff["data"].isin(["nothing", "direction only", "summary figures only", "events",
                                 "percent only"])
    # reasons name the time points as the records label them (the ids are internal)
    pre_s = eff["pre_label"].astype(object).where(eff["pre_label"].notna(),
                                                  eff["pre"]).astype(str)
    post_s = (eff["post_label"].astype(object).where(eff["post_label"].notna(), eff["post"])
              .where(eff["post"].notna(), "follow-up").astype(str))
    n_missing = eff["n_pre"].isna() | eff["n_post"].isna()
    no_sd = ~sd_ok
    sd_text = pd.Series("no SD reported", index=eff.index)
    sd_text = sd_text.where(~n_missing, sd_text + "; n not reported")
    reasons = np.select(
        [no_means,
         ~post_known,
         ~has_pre & ~has_post,
         ~has_pre,
         ~has_post,
         no_sd,
         n_missing,
         ~n_equal,
         eff["n"] <= 2],
        [eff["status_reason"].fillna("nothing reported").astype(str),
         "the time point of the reported change is not stated",
         "no mean reported at " + pre_s + " or " + post_s,
         "no mean reported at " + pre_s,
         "no mean reported at " + post_s,
         sd_text,
         "n not reported",
         "n differs between " + pre_s + " (" + eff["n_pre"].astype(str) + ") and " + post_s
         + " (" + eff["n_post"].astype(str) + "); the number with both measurements is not "
         "reported",
         "n <= 2: the standardised mean change is undefined"],
        default="")
    eff["reason"] = pd.Series(reasons, index=eff.index, dtype=object).where(
        ~eff["computable"], None)

    # sources of the numbers used (pre/post means, SDs, n), in a stable order
    src_cols = [c for c in ("mean_source_pre", "sd_source_pre", "n_source_pre",
                            "mean_source_post", "sd_source_post", "n_source_post",
                            "change_source") if c in eff.columns]
    long = eff[src_cols].reset_index().melt(id_vars="index", value_name="src").dropna(
        subset=["src"])
    long = long.drop_duplicates(["index", "src"])
    joined = long.groupby("index", sort=False)["src"].agg(", ".join)
    eff["sources"] = joined.reindex(eff.index).astype(object)
    eff["effect_id"] = (eff["study"] + ":" + eff["outcome"] + ":" + eff["arm"] + ":"
                        + eff["pre"].astype(str) + "->" + eff["post"].astype(object).where(
                            eff["post"].notna(), "?").astype(str))
    return eff
