"""What the records do not report, and what each gap blocks.

Pure functions on the tidy frames (:mod:`evidence.model`); nothing is read or written here.
The point is to make it easy for a researcher who has the full texts to fill the gaps: every
missing value that stands between the records and an analysis is listed with its consequence.
"""

from __future__ import annotations

import pandas as pd

from .model import Frames, wide_measurements

__all__ = ["outcome_status", "completeness", "completeness_summary"]

_SPREAD = ("sd", "se", "ci_low", "q1", "min")  # any of these can give an SD


def _has(df: pd.DataFrame, col: str) -> pd.Series:
    return df[col].notna() if col in df else pd.Series(False, index=df.index)


def outcome_status(frames: Frames) -> pd.DataFrame:
    """One row per study × outcome: what effect size the reported numbers allow.

    Columns: study, label, inclusion, injury, outcome, name, kind, data (what is reported:
    'mean and SD at 2 time points', 'means only', 'events', 'direction only', 'nothing'),
    computable (bool: a pre-post or two-arm effect size with a variance can be computed),
    timepoints_complete (time points having mean, a spread and n), reason (why not).
    """
    wide = wide_measurements(frames.measurements)
    studies = frames.studies.set_index("study")
    rows = []
    for (study, outcome), o in frames.outcomes.groupby(["study", "outcome"], sort=False):
        orow = o.iloc[0]
        w = wide[(wide["study"] == study) & (wide["outcome"] == outcome)]
        n_changes = int(orow["n_reported_changes"])
        has_mean = _has(w, "mean")
        has_spread = pd.concat([_has(w, c) for c in _SPREAD], axis=1).any(axis=1) \
            if len(w) else pd.Series(dtype=bool)
        has_n = _has(w, "n")
        has_events = _has(w, "events") & (_has(w, "total") | _has(w, "nonevents"))
        complete = w[has_mean & has_spread & has_n] if len(w) else w
        arms = complete["arm"].unique() if len(complete) else []
        if len(w) == 0 or not (has_mean.any() or has_events.any() or _has(w, "percent").any()):
            n_effects = int(((frames.reported_effects["study"] == study)
                             & (frames.reported_effects["outcome"] == outcome)).sum())
            computable = False
            if n_effects:
                data = "summary figures only"
                reason = ("only summary figures (e.g. a percent change or an effect-size range)"
                          " are reported; no means, SDs or n")
            elif n_changes:
                data = "direction only"
                reason = "no numbers reported; only the direction of change"
            else:
                data = "nothing"
                reason = "no numbers and no direction of change reported"
        elif has_events.any():
            data = "events"
            arms_ev = w.loc[has_events, "arm"].nunique()
            computable = arms_ev >= 2
            reason = None if computable else "events in one group only: no comparison group"
        elif has_mean.any() and not has_spread.any():
            data = "means only"
            computable = False
            reason = "no SD (or SE, CI, IQR, range) reported at any time point"
            if not has_n.any():
                reason += "; n analysed not reported"
        elif _has(w, "percent").any() and not has_mean.any():
            data = "percent only"
            computable = False
            reason = "a single percentage without a comparison or a denominator"
        else:
            n_tp = complete.groupby("arm")["timepoint"].nunique().max() if len(complete) else 0
            data = f"mean, spread and n at {n_tp} time point{'s' if n_tp != 1 else ''}"
            computable = n_tp >= 2 or len(arms) >= 2
            reason = None if computable else "mean, SD and n at fewer than two time points"
            if computable and len(arms) < 2:
                reason = ("pre-post change: the pre-post correlation is not reported, so an "
                          "assumed correlation is needed (sensitivity analysis)")
        st = studies.loc[study] if study in studies.index else None
        rows.append({
            "study": study,
            "label": st["label"] if st is not None else study,
            "inclusion": st["inclusion"] if st is not None else None,
            "injury": st["injury"] if st is not None else None,
            "outcome": outcome, "name": orow["name"], "kind": orow["kind"],
            "primary": bool(orow["primary"]), "data": data, "computable": bool(computable),
            "timepoints_complete": ", ".join(complete["timepoint"].drop_duplicates())
            if len(complete) else "",
            "n_reported_changes": n_changes, "reason": reason,
        })
    cols = ["study", "label", "inclusion", "injury", "outcome", "name", "kind", "primary",
            "data", "computable", "timepoints_complete", "n_reported_changes", "reason"]
    return pd.DataFrame(rows, columns=cols)


def completeness(frames: Frames, status: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every missing value that blocks an analysis, and what it blocks.

    One row per gap: study, label, outcome, name, timepoint ('all' where the gap holds at
    every time point), missing (what is absent), blocks (its consequence), severity
    ('blocks effect size', 'needs assumption', 'limits reporting').
    """
    status = outcome_status(frames) if status is None else status
    wide = wide_measurements(frames.measurements)
    tps = frames.timepoints
    rows: list[dict] = []

    def add(s, timepoint, missing, blocks, severity):
        rows.append({"study": s["study"], "label": s["label"], "inclusion": s["inclusion"],
                     "outcome": s["outcome"], "name": s["name"], "timepoint": timepoint,
                     "missing": missing, "blocks": blocks, "severity": severity})

    for _, s in status.iterrows():
        w = wide[(wide["study"] == s["study"]) & (wide["outcome"] == s["outcome"])]
        if s["data"] in ("nothing", "direction only", "summary figures only"):
            add(s, "all", "every value (mean, SD, n)", {
                "direction only": "no effect size; only the reported direction of change "
                                  "can be shown",
                "summary figures only": "no effect size; the reported summary figures are "
                                        "shown as printed",
                "nothing": "the outcome cannot be analysed at all"}[s["data"]],
                "blocks effect size")
            continue
        if s["data"] in ("events", "percent only"):
            if not s["computable"]:
                add(s, "all", "a comparison group or denominator", s["reason"],
                    "limits reporting")
            continue
        has_spread = pd.concat([_has(w, c) for c in _SPREAD], axis=1).any(axis=1)
        if not has_spread.any():
            add(s, "all", "SD (or SE, CI, IQR, range)",
                "no effect-size variance, so not poolable; means and direction shown only",
                "blocks effect size")
        else:
            for _, r in w[~has_spread].iterrows():
                add(s, r["timepoint"], "SD", "no effect size involving this time point",
                    "blocks effect size")
        miss_mean = w[~_has(w, "mean")]
        for _, r in miss_mean.iterrows():
            add(s, r["timepoint"], "mean", "nothing can be reported at this time point",
                "blocks effect size")
        miss_n = w[~_has(w, "n") & _has(w, "mean")]
        if len(miss_n) and len(miss_n) == int(_has(w, "mean").sum()):
            add(s, "all", "n analysed", "the variance of any effect size (needs n)",
                "blocks effect size")
        else:
            for _, r in miss_n.iterrows():
                add(s, r["timepoint"], "n analysed", "the variance at this time point",
                    "blocks effect size")
        if s["computable"] and s["reason"] and "correlation" in s["reason"]:
            add(s, "all", "pre-post correlation",
                "the variance of the standardised mean change: an assumed correlation is "
                "used and varied in a sensitivity analysis", "needs assumption")
        # time points declared by the study without any measurement of this outcome
        declared = tps.loc[tps["study"] == s["study"], "timepoint"]
        measured = set(w["timepoint"])
        if len(w) and s["kind"] == "pain":
            for tp in declared:
                if tp not in measured and tp not in ("followup",):
                    add(s, tp, "every value", "this time point cannot be analysed",
                        "blocks effect size")
    cols = ["study", "label", "inclusion", "outcome", "name", "timepoint", "missing",
            "blocks", "severity"]
    return pd.DataFrame(rows, columns=cols)


def completeness_summary(frames: Frames, status: pd.DataFrame | None = None,
                         gaps: pd.DataFrame | None = None) -> dict[str, int | str | None]:
    """Counts for the completeness report header (``lead_*``: outcomes of the review's first
    outcome kind, when review.yaml names its outcome kinds)."""
    status = outcome_status(frames) if status is None else status
    gaps = completeness(frames) if gaps is None else gaps
    studies = frames.studies
    # the review's first outcome kind (review.yaml synthesis.outcome_kinds), if it names one
    kinds = frames.outcome_kinds.sort_values("order")["kind"]
    lead = str(kinds.iloc[0]) if len(kinds) else None
    first = status[status["kind"] == lead] if lead else status.iloc[0:0]
    return {
        "studies": int(len(studies)),
        "studies_unconfirmed": int((studies["inclusion"] == "unconfirmed").sum()),
        "outcomes": int(len(status)),
        "outcomes_computable": int(status["computable"].sum()),
        "lead_kind": lead,
        "lead_outcomes": int(len(first)),
        "lead_outcomes_computable": int(first["computable"].sum()),
        "gaps": int(len(gaps)),
        "gaps_blocking": int((gaps["severity"] == "blocks effect size").sum()),
        "values_reported": int(frames.measurements["value"].notna().sum()),
        "values_missing": int(frames.measurements["value"].isna().sum()),
    }
