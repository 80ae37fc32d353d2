"""Report context and figures of the multilevel analyses (no statistic is computed here).

Reads :class:`evidence.analysis.MultilevelAnalysisResult`: the effects per study × time point,
the model at the assumed correlation, its CR2 inference, one coefficient per time point and
the refits over the sensitivity correlations. Ratio measures are back-transformed for display.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..vocabulary import level_percent, parse_level
from .analyses import (REFERENCES, sentence, _METHOD_NAMES, _arm_columns, _bt, _effect_phrase, _f, _p,
                       _pt, figure_entry)

__all__ = ["multilevel_context", "multilevel_figures", "MULTILEVEL_REFERENCES", "PANEL_ROWS"]

PANEL_ROWS = 40
"""Most lines of one forest panel (a landscape page holds about this many readably)."""

MULTILEVEL_REFERENCES = {
    "multilevel": "Konstantopoulos S. Fixed effects and variance components estimation in "
                  "three-level meta-analysis. Res Synth Methods 2011;2:61-76.",
    "che": "Pustejovsky JE, Tipton E. Meta-analysis with robust variance estimation: expanding "
           "the range of working models. Prev Sci 2022;23:425-438.",
    "cr2": "Tipton E, Pustejovsky JE. Small-sample adjustments for tests of moderators and "
           "model fit using robust variance estimation in meta-regression. J Educ Behav Stat "
           "2015;40:604-634.",
}


def _ci(v: dict[str, float], lo: str = "ci_low", hi: str = "ci_high", d: int = 2) -> str:
    return f"[{_f(v[lo], d)}, {_f(v[hi], d)}]"


def _methods(res) -> str:
    s, ml = res.spec, res.spec.multilevel
    level = parse_level(s.level) * 100
    text = (f"Effect sizes were computed as {_effect_phrase(s)} ({s.measure}, {s.arms[0]} vs {s.arms[1]}) "
            "at every time point a study reports, with evidence's escalc (metafor's "
            "definitions and sign conventions). The effects of one study share its patients, "
            "so they were pooled in a multilevel random-effects model (evidence's meta_mv, "
            "as metafor's rma.mv) with random intercepts for studies and for time points "
            f"within studies, fitted by {_METHOD_NAMES.get(s.method, s.method)} "
            f"({s.method}). The sampling errors of one study's effects were taken to be "
            f"correlated with an assumed ρ = {ml.rho:g} (vcalc): {ml.rho_note}.")
    if ml.robust:
        text += (f" Inference uses cluster-robust {ml.robust} standard errors clustered by "
                 "study with Satterthwaite degrees of freedom (clubSandwich's method), beside "
                 f"the model-based {level:g}% confidence intervals.")
    if res.by_timepoint is not None:
        text += " A second model has one coefficient per time point (no intercept)."
    if ml.rhos:
        text += (" Sensitivity analysis: the model refitted with ρ = "
                 + ", ".join(f"{r:g}" for r in ml.rhos) + ".")
    text += (" Variance components have profile-likelihood confidence intervals. Zero cells "
             "get metafor's default continuity correction of 1/2 (only in tables with a zero "
             "cell).")
    return text


def multilevel_context(res) -> dict[str, Any]:
    """Display-ready tables of one multilevel analysis (strings; nothing recomputed)."""
    s, ml = res.spec, res.spec.multilevel
    tr = s.transform
    label = s.effect_label or s.measure
    a1, a2 = s.arms
    ctx: dict[str, Any] = {
        "id": s.id, "title": s.title, "effect_label": label, "methods": _methods(res),
        "notes": [sentence(n) for n in res.notes], "k_used": res.k_used, "k_total": res.k_total,
        "n_studies": res.n_studies, "rho": f"{ml.rho:g}", "robust": ml.robust,
        "arm_headers": [a.replace("_", " ").capitalize() for a in (a1, a2)],
        "references": [REFERENCES["metafor"], MULTILEVEL_REFERENCES["multilevel"]]
        + ([MULTILEVEL_REFERENCES["che"], MULTILEVEL_REFERENCES["cr2"]] if ml.robust else []),
    }
    rows = []
    has_counts = f"{a1}_events" in res.effects
    for r in res.effects.to_dict("records"):
        v = _bt({"yi": r["yi"], "ci_low": r["ci_low"], "ci_high": r["ci_high"]}, tr)
        arms = ([f"{_f(r[f'{a}_events'], 0)}/{_f(r[f'{a}_total'], 0)}" for a in (a1, a2)]
                if has_counts else [f"{_f(r[f'{a}_mean'])} ({_f(r[f'{a}_sd'])}), n = "
                                    f"{_f(r[f'{a}_n'], 0)}" for a in (a1, a2)])
        rows.append({"study": r["label"], "timepoint": r["timepoint_label"], "arms": arms,
                     "yi": _f(v["yi"]), "ci": _ci(v), "computable": bool(r["computable"]),
                     "reason": r["reason"]})
    ctx["effects"] = rows
    f = res.fit
    if f is None:
        return ctx
    v = _bt({"estimate": f.estimate, "ci_low": float(f.ci_low), "ci_high": float(f.ci_high),
             "pi_low": f.pi_low, "pi_high": f.pi_high}, tr)
    ctx["pooled"] = {"estimate": _f(v["estimate"]), "ci": _ci(v), "pi": _ci(v, "pi_low", "pi_high"),
                     "stat_name": "t" if f.test == "t" else "z", "stat": _f(float(f.coefficients["stat"].iloc[0])),
                     "p_text": _pt(float(f.pvalue)), "qe": _f(f.qe), "qe_df": f.qe_df,
                     "qe_p_text": _pt(f.qe_pvalue), "loglik": _f(f.loglik, 3),
                     "aic": _f(f.aic, 2), "bic": _f(f.bic, 2)}
    if res.robust is not None:
        c = res.robust.coefficients.iloc[0]
        rv = _bt({"ci_low": c["ci_low"], "ci_high": c["ci_high"]}, tr)
        ctx["pooled"]["robust"] = {"se": _f(c["se"], 4), "df": _f(c["df"], 1),
                                   "ci": _ci(rv), "p_text": _pt(c["pvalue"]),
                                   "stat": _f(c["stat"])}
    ctx["pooled"]["se"] = _f(float(f.se), 4)
    comp = f.variance_components()
    names = {"study": "between studies", "study/timepoint": "between time points within "
                                                           "studies"}
    ctx["components"] = [{"name": names.get(n, n), "term": n, "sigma2": _f(r["sigma2"], 4),
                          "sigma": _f(r["sigma2"] ** 0.5, 4),
                          "ci": f"[{_f(r['ci_low'], 4)}, {_f(r['ci_high'], 4)}]",
                          "levels": int(r["n_levels"])}
                         for n, r in comp.iterrows()]
    if res.by_timepoint is not None:
        bt, brob = res.by_timepoint.coefficients, res.by_timepoint_robust
        out = []
        for j, (_, tlabel) in enumerate(res.timepoints):
            c = bt.iloc[j]
            v = _bt({"estimate": c["estimate"], "ci_low": c["ci_low"], "ci_high": c["ci_high"]}, tr)
            row = {"timepoint": tlabel, "estimate": _f(v["estimate"]), "ci": _ci(v),
                   "p": _p(c["pvalue"]),
                   "k": int((res.effects["computable"]
                             & (res.effects["timepoint"] == res.timepoints[j][0])).sum())}
            if brob is not None:
                rc = brob.coefficients.iloc[j]
                rv = _bt({"ci_low": rc["ci_low"], "ci_high": rc["ci_high"]}, tr)
                row.update(robust_ci=_ci(rv), robust_p=_p(rc["pvalue"]),
                           robust_df=_f(rc["df"], 1))
            out.append(row)
        ctx["by_timepoint"] = out
    if res.rho_sensitivity is not None:
        out = []
        sig = [c for c in res.rho_sensitivity.columns if c.startswith("sigma2_")]
        for r in res.rho_sensitivity.to_dict("records"):
            v = _bt({"estimate": r["estimate"], "ci_low": r["ci_low"], "ci_high": r["ci_high"]}, tr)
            row = {"rho": f"{r['rho']:g}", "estimate": _f(v["estimate"]), "ci": _ci(v),
                   "sigma2": [_f(r[c], 4) for c in sig], "assumed": r["rho"] == ml.rho}
            if "robust_se" in r:
                row.update(robust_se=_f(r["robust_se"], 4), robust_df=_f(r["robust_df"], 1),
                           robust_p=_p(r["robust_pvalue"]))
            out.append(row)
        ctx["rho_sensitivity"] = out
        ctx["rho_sigma2_names"] = [names.get(c.removeprefix("sigma2_"), c.removeprefix("sigma2_"))
                                   for c in sig]
    return ctx


def multilevel_figures(res) -> list[dict[str, Any]]:
    """The forest plot of every effect, grouped by study, with the multilevel estimate."""
    from ..plots import forest
    from ..plots.forest import forest_xlim

    f = res.fit
    if f is None:
        return []
    s = res.spec
    eff = res.effects
    comp = eff["computable"].astype(bool)
    rows = pd.DataFrame({"label": eff["timepoint_label"], "group": eff["label"],
                         "yi": eff["yi"], "ci_low": eff["ci_low"], "ci_high": eff["ci_high"],
                         "weight": float("nan")})
    cells, headers = _arm_columns(res)
    rows = pd.concat([rows, cells], axis=1)
    not_poolable = rows[~comp].assign(reason=eff.loc[~comp, "reason"])
    pooled = {"estimate": f.estimate, "ci_low": float(f.ci_low), "ci_high": float(f.ci_high),
              "pi_low": f.pi_low, "pi_high": f.pi_high, "k": f.k, "method": f.method,
              "level": f.level, "q": f.qe, "q_df": f.qe_df, "q_pvalue": f.qe_pvalue}
    label = s.effect_label or s.measure
    lvl = level_percent(f.level)
    # One figure of every effect is too tall for a page: panels of whole studies of at most
    # PANEL_ROWS lines (a study takes its time points plus a heading and a gap); the
    # multilevel estimate closes the last panel.
    lines = (rows.groupby("group", sort=False).size() + 2).cumsum()
    panel = ((lines - 1) // PANEL_ROWS).to_dict()
    n_panels = max(panel.values()) + 1
    # one x axis for every panel, so that the panels can be read against each other
    ends = _bt({"lo": min(rows.loc[comp, "ci_low"].min(), f.pi_low),
                "hi": max(rows.loc[comp, "ci_high"].max(), f.pi_high)}, s.transform)
    xlim = forest_xlim([ends["lo"], ends["hi"]], s.transform)
    figs = []
    for j in range(n_panels):
        keep = rows["group"].map(panel) == j
        last = j == n_panels - 1
        fig = forest(rows[comp & keep], pooled if last else None, pd.DataFrame({"group": []}),
                     measure=label, transform=s.transform, extra_columns=headers,
                     not_poolable=not_poolable[keep[~comp]][["label", "group", "reason",
                                                              *headers]],
                     favours=tuple(s.favours) if s.favours else None,
                     study_header="Time point", overall_test=False, row_height=0.15,
                     xlim=xlim)
        part = f" (part {j + 1} of {n_panels})" if n_panels > 1 else ""
        studies = rows.loc[keep, "group"].unique()
        figs.append(figure_entry(
            f"{s.id}-forest" + (f"-{j + 1}" if n_panels > 1 else ""),
            f"Forest plot: {s.title}{part}",
            f"{label} at each time point with {lvl} CI, grouped by study ({studies[0]} to "
            f"{studies[-1]}). "
            + (f"Diamond: the multilevel estimate over all {f.k} effects of {res.n_studies} "
               f"studies (ρ = {s.multilevel.rho:g}); bar under it: prediction interval; "
               "heterogeneity line: Q_E of the model. " if last else
               "The multilevel estimate closes the last part. ")
            + "Effects of one study are not independent, so no per-effect weight is shown.",
            fig))
    return figs
