"""Turn analysis results into report context and figures (no statistic is computed here).

Numbers are formatted and, for ratio measures, back-transformed for display with
:func:`evidence.back_transform` (a display transformation of values the engine computed).
"""

from __future__ import annotations

import contextvars
from typing import Any

import pandas as pd

AnalysisResult = Any  # duck-typed: evidence.analysis.AnalysisResult, read only
from ..formatting import number, p_text, pvalue
from ..vocabulary import level_percent, parse_level
from ..meta.transform import back_transform

__all__ = ["analysis_context", "figure_entry", "methods_text", "REFERENCES", "FIGURE_FORMATS"]

FIGURE_FORMATS: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar(
    "FIGURE_FORMATS", default=("svg", "png", "pdf"))
"""Figure files rendered for the current report (set by render_report from the outputs
asked for: SVG for HTML and Markdown, PNG for the PDF and Markdown, PDF for LaTeX)."""

REFERENCES = {
    "REML": "Viechtbauer W. Bias and efficiency of meta-analytic variance estimators in the "
            "random-effects model. J Educ Behav Stat 2005;30:261-293.",
    "DL": "DerSimonian R, Laird N. Meta-analysis in clinical trials. Control Clin Trials "
          "1986;7:177-188.",
    "PM": "Paule RC, Mandel J. Consensus values and weighting factors. J Res Natl Bur Stand "
          "1982;87:377-385.",
    "knha": "Hartung J, Knapp G. On tests of the overall treatment effect in meta-analysis with "
            "normally distributed responses. Stat Med 2001;20:1771-1782.",
    "qprofile": "Viechtbauer W. Confidence intervals for the amount of heterogeneity in "
                "meta-analysis. Stat Med 2007;26:37-52.",
    "trimfill": "Duval S, Tweedie R. Trim and fill: a simple funnel-plot-based method of "
                "testing and adjusting for publication bias in meta-analysis. Biometrics "
                "2000;56:455-463.",
    "egger": "Egger M, Davey Smith G, Schneider M, Minder C. Bias in meta-analysis detected by "
             "a simple, graphical test. BMJ 1997;315:629-634.",
    "MH": "Mantel N, Haenszel W. Statistical aspects of the analysis of data from retrospective "
          "studies of disease. J Natl Cancer Inst 1959;22:719-748; Robins J, Breslow N, "
          "Greenland S. Estimators of the Mantel-Haenszel variance consistent in both sparse "
          "data and large-strata limiting models. Biometrics 1986;42:311-323.",
    "Peto": "Yusuf S, Peto R, Lewis J, Collins R, Sleight P. Beta blockade during and after "
            "myocardial infarction: an overview of the randomized trials. Prog Cardiovasc Dis "
            "1985;27:335-371.",
    "metafor": "Viechtbauer W. Conducting meta-analyses in R with the metafor package. J Stat "
               "Softw 2010;36(3):1-48.",
    "smcr": "Becker BJ. Synthesizing standardized mean-change measures. Br J Math Stat Psychol "
            "1988;41:257-278; Morris SB. Estimating effect sizes from pretest-posttest-control "
            "group designs. Organ Res Methods 2008;11:364-386.",
}

_METHOD_NAMES = {"FE": "fixed-effect (inverse variance)", "EE": "equal-effects",
                 "DL": "DerSimonian-Laird", "REML": "restricted maximum likelihood",
                 "ML": "maximum likelihood", "PM": "Paule-Mandel", "HE": "Hedges",
                 "SJ": "Sidik-Jonkman", "HS": "Hunter-Schmidt", "EB": "empirical Bayes",
                 "MH": "Mantel-Haenszel fixed-effect", "Peto": "Peto fixed-effect"}
_TABLE_METHODS = ("MH", "Peto")
_MH_VARIANCE = {"OR": "Robins-Breslow-Greenland", "RR": "Greenland-Robins",
                "RD": "Sato-Greenland-Robins"}


def _pooling_sentence(s) -> str:
    """How the studies were pooled, in words (without the closing period)."""
    if s.method == "MH":
        return ("Studies were pooled from their 2×2 tables in a Mantel-Haenszel fixed-effect "
                f"model with the {_MH_VARIANCE.get(s.measure, 'Mantel-Haenszel')} variance "
                "(metafor's rma.mh)")
    if s.method == "Peto":
        return ("Studies were pooled from their 2×2 tables in a Peto fixed-effect model "
                "(one-step odds ratio, metafor's rma.peto)")
    if s.method in ("FE", "EE"):
        return f"Studies were pooled in a {_METHOD_NAMES[s.method]} model"
    return (f"Studies were pooled in a random-effects model with the "
            f"{_METHOD_NAMES.get(s.method, s.method)} estimator of τ² ({s.method})")


def sentence(note: str) -> str:
    """A note as a sentence of its own: capitalised (unless it opens with a symbol such as
    "k = 2") and ending with a full stop, so that notes printed one after another don't run
    together."""
    note = str(note).strip()
    if note[:1].islower() and not (len(note) > 1 and note[1] in " =_"):
        note = note[0].upper() + note[1:]
    return note if note.endswith((".", "!", "?")) else note + "."


def _f(x: Any, d: int = 2) -> str:
    return number(x, d)


def _p(p: Any) -> str:
    """A p-value for a table cell under a "p" header: ``0.012``, ``<0.001``."""
    return pvalue(p)


def _pt(p: Any) -> str:
    """A p-value in running text: ``p = 0.012``, ``p < 0.001``."""
    return p_text(p)


def _bt(values: dict[str, float], transform: str | None) -> dict[str, float]:
    """Back-transform estimate-like values for display (exp for log ratios)."""
    if not transform or transform == "identity":
        return values
    frame = pd.DataFrame([values])
    cols = [c for c in frame.columns if c in values]
    return back_transform(frame, transform, columns=cols).iloc[0].to_dict()


def _weight_words(method: str) -> str:
    if method in _TABLE_METHODS:
        return f"percent of the {_METHOD_NAMES[method]} model"
    if method in ("FE", "EE"):
        return f"percent of the {method} model"
    return f"percent of the {method} random-effects model"


def figure_entry(fig_id: str, title: str, caption: str, fig) -> dict[str, Any]:
    """Export a matplotlib figure from one drawing to the formats of this report.

    ``svg`` is the inline SVG for the HTML page (real text, ``role="img"`` with the title and
    caption as ``<title>``/``<desc>``); ``png_data_uri`` the PNG for the PDF (the PDF renderer
    draws a raster far faster than SVG); ``files`` every exported format (bytes).
    """
    import base64

    import matplotlib.pyplot as plt
    from markupsafe import Markup

    from ..plots.export import export

    try:
        files = export(fig, FIGURE_FORMATS.get(), title=title, desc=caption,
                       element_id=f"fig-{fig_id}-svg")
    finally:
        plt.close(fig)
    text = files["svg"].decode("utf-8") if "svg" in files else ""
    svg = text[text.find("<svg"):] if text else ""
    uri = ("data:image/png;base64," + base64.b64encode(files["png"]).decode("ascii")
           if "png" in files else "")
    return {"id": fig_id, "title": title, "caption": caption, "svg": Markup(svg),
            "png_data_uri": uri, "files": files}


def _effect_phrase(spec) -> str:
    """The effect's name mid-sentence: "as risk ratio", but "as SMD"."""
    name = spec.effect_label or spec.measure
    if len(name) > 1 and name[0].isupper() and name[1].islower():
        name = name[0].lower() + name[1:]
    return name


def methods_text(res: AnalysisResult) -> str:
    s = res.spec
    level = parse_level(s.level) * 100
    parts = [
        f"Effect sizes were computed as {_effect_phrase(s)} ({s.measure}, "
        f"{s.arms[0]} vs {s.arms[1]}) with evidence's escalc, which follows metafor's "
        "definitions and sign conventions.",
        _pooling_sentence(s),
        (f"; tests and {level:g}% confidence intervals use the Hartung-Knapp-Sidik-Jonkman "
         "method (t distribution, k − 1 df)." if s.test == "knha" else
         f"; tests and {level:g}% confidence intervals use the normal distribution."),
        (" Heterogeneity (Q, I²) is computed from the study-level effects around the pooled "
         "estimate; no τ² is estimated." if s.method in _TABLE_METHODS else
         " The confidence interval of τ² is the Q-profile interval; the prediction interval "
         "follows metafor's predict()."),
    ]
    text = parts[0] + " " + parts[1] + parts[2] + parts[3]
    if s.method in _TABLE_METHODS and (s.subgroups or s.moderators):
        text += (" Subgroups, meta-regressions and the leave-one-out, influence, cumulative "
                 "and trim-and-fill analyses use the inverse-variance fixed-effect model of "
                 "the study-level effects.")
    if s.subgroups:
        text += (f" Subgroups (by {', '.join(map(s.label_of, s.subgroups))}) were fitted "
                 + ("separately" if s.method in _TABLE_METHODS else
                    "separately (one τ² per subgroup)")
                 + " and compared with a Q test of the subgroup estimates.")
    if s.moderators:
        text += (" Meta-regressions (on " + "; ".join(" and ".join(map(s.label_of, m))
                                                  for m in s.moderators)
                 + (") used the fixed-effect model" if s.method in _TABLE_METHODS else
                    ") used the same estimator") + ", with the omnibus QM test.")
    text += (" Sensitivity analyses: every τ² estimator with z and Knapp-Hartung tests, "
             "leave-one-out, influence diagnostics, a cumulative meta-analysis, Egger's "
             "regression test and trim-and-fill (L0).")
    if res.spec.method in _TABLE_METHODS:
        text += (" The pooled estimate uses the counts as they are; the study-level effects "
                 "get metafor's continuity correction of 1/2 in tables with a zero cell, and "
                 "tables with no events (or only events) in both arms contribute nothing.")
    elif res.spec.measure in ("OR", "RR", "RD"):
        text += (" Zero cells get metafor's default continuity correction of 1/2 "
                 "(only in tables with a zero cell).")
    return text


def _references(res: AnalysisResult) -> list[str]:
    keys = ["metafor"]
    if res.spec.method in REFERENCES:
        keys.append(res.spec.method)
    if res.spec.test == "knha":
        keys.append("knha")
    if res.spec.method not in _TABLE_METHODS:
        keys.append("qprofile")
    if res.egger is not None:
        keys.append("egger")
    if res.trimfill is not None:
        keys.append("trimfill")
    return [REFERENCES[k] for k in keys]


def analysis_context(res: AnalysisResult) -> dict[str, Any]:
    """Display-ready tables of one analysis (strings; nothing recomputed)."""
    s = res.spec
    tr = s.transform
    label = s.effect_label or s.measure
    eff = res.effects
    studies = []
    for r in eff.itertuples():
        v = _bt({"yi": r.yi, "ci_low": r.ci_low, "ci_high": r.ci_high}, tr)
        studies.append({"label": r.label, "n": _f(r.n, 0), "yi": _f(v["yi"]),
                        "ci": f"[{_f(v['ci_low'])}, {_f(v['ci_high'])}]",
                        "weight": _f(r.weight, 1) if r.computable else "—",
                        "computable": bool(r.computable), "reason": r.reason,
                        "derived": getattr(r, "derived", None)})
    ctx: dict[str, Any] = {"id": s.id, "title": s.title, "measure": s.measure,
                           "effect_label": label, "studies": studies,
                           "k_used": res.k_used, "k_total": res.k_total,
                           "notes": [sentence(n) for n in res.notes], "methods": methods_text(res),
                           "transform": tr, "method": s.method, "test": s.test,
                           "references": _references(res),
                           # what a small analysis lacks (k = 1: no fit around the estimate)
                           "pooled": None, "subgroups": [], "metaregs": [],
                           "estimators": None, "leave_one_out": None, "influence": None,
                           "cumulative": None, "egger": None, "trimfill": None}
    p = res.pooled
    if p is not None:
        v = _bt({"estimate": p.estimate, "ci_low": p.ci_low, "ci_high": p.ci_high,
                 "pi_low": p.pi_low, "pi_high": p.pi_high}, tr)
        ctx["pooled"] = {
            "k": p.k, "estimate": _f(v["estimate"]),
            "ci": f"[{_f(v['ci_low'])}, {_f(v['ci_high'])}]",
            "pi": f"[{_f(v['pi_low'])}, {_f(v['pi_high'])}]",
            "estimate_raw": _f(p.estimate, 4), "se_raw": _f(p.se, 4),
            "stat": _f(p.stat, 2), "p_text": _pt(p.pvalue),
            "tau2": _f(p.tau2, 4), "tau2_ci": f"[{_f(p.tau2_ci_low, 4)}, {_f(p.tau2_ci_high, 4)}]",
            "i2": _f(p.i2, 1), "h2": _f(p.h2, 2), "q": _f(p.q, 2), "q_df": p.q_df,
            "q_p_text": _pt(p.q_pvalue), "stat_name": "t" if p.test == "knha" else "z",
        }
    ctx["subgroups"] = []
    for name, sg in res.subgroups.items():
        rows = []
        for g in sg.groups.itertuples():
            v = _bt({"estimate": g.estimate, "ci_low": g.ci_low, "ci_high": g.ci_high}, tr)
            rows.append({"group": g.group, "k": g.k, "estimate": _f(v["estimate"]),
                         "ci": f"[{_f(v['ci_low'])}, {_f(v['ci_high'])}]",
                         "tau2": _f(g.tau2, 4), "i2": _f(g.i2, 1)})
        ctx["subgroups"].append({"name": s.label_of(name), "rows": rows, "q_between": _f(sg.q_between),
                                 "df": sg.q_between_df, "p_text": _pt(sg.q_between_pvalue)})
    ctx["metaregs"] = []
    for mr in res.metaregs:
        coef = [{"term": "intercept" if t == "intrcpt" else s.label_of(t), "estimate": _f(c.estimate, 4), "se": _f(c.se, 4),
                 "stat": _f(c.stat, 2), "p": _p(c.pvalue),
                 "ci": f"[{_f(c.ci_low, 4)}, {_f(c.ci_high, 4)}]"}
                for t, c in mr.coefficients.iterrows()]
        ctx["metaregs"].append({"terms": " and ".join(s.label_of(t) for t in
                                                      mr.coefficients.index if t != "intrcpt"),
                                "coefficients": coef, "tau2": _f(mr.tau2, 4),
                                "qm": _f(mr.qm, 2), "qm_p_text": _pt(mr.qm_pvalue),
                                "qe": _f(mr.qe, 2), "qe_p_text": _pt(mr.qe_pvalue),
                                "r2": _f(mr.r2, 1)})
    if res.estimators is not None:
        rows = []
        for r in res.estimators.itertuples():
            v = _bt({"estimate": r.estimate, "ci_low": r.ci_low, "ci_high": r.ci_high}, tr)
            rows.append({"method": r.method, "test": r.test, "estimate": _f(v["estimate"]),
                         "ci": f"[{_f(v['ci_low'])}, {_f(v['ci_high'])}]",
                         "p": _p(r.pvalue), "tau2": _f(r.tau2, 4), "i2": _f(r.i2, 1)})
        ctx["estimators"] = rows
    if res.leave_one_out is not None:
        rows = []
        for r in res.leave_one_out.itertuples():
            v = _bt({"estimate": r.estimate, "ci_low": r.ci_low, "ci_high": r.ci_high}, tr)
            rows.append({"omitted": r.omitted, "estimate": _f(v["estimate"]),
                         "ci": f"[{_f(v['ci_low'])}, {_f(v['ci_high'])}]",
                         "tau2": _f(r.tau2, 4), "i2": _f(r.i2, 1)})
        ctx["leave_one_out"] = rows
    if res.influence is not None:
        ctx["influence"] = [{"study": r.study, "rstudent": _f(r.rstudent), "dffits": _f(r.dffits),
                             "cooks": _f(r.cooks), "hat": _f(r.hat, 3),
                             "cov_r": _f(r.cov_r), "influential": bool(r.influential)}
                            for r in res.influence.itertuples()]
    if res.cumulative is not None:
        rows = []
        for r in res.cumulative.itertuples():
            v = _bt({"estimate": r.estimate, "ci_low": r.ci_low, "ci_high": r.ci_high}, tr)
            rows.append({"added": r.added, "estimate": _f(v["estimate"]),
                         "ci": f"[{_f(v['ci_low'])}, {_f(v['ci_high'])}]",
                         "tau2": _f(r.tau2, 4)})
        ctx["cumulative"] = rows
    if res.egger is not None:
        e = res.egger
        ctx["egger"] = {"stat": _f(e.stat), "df": _f(e.df, 0), "p_text": _pt(e.pvalue),
                        "model": e.model}
    if res.trimfill is not None:
        t = res.trimfill
        v = _bt({"estimate": t.estimate, "ci_low": t.ci_low, "ci_high": t.ci_high}, tr)
        ctx["trimfill"] = {"k0": t.k0, "side": t.side,
                           "imputed": f"{t.k0} {'study' if t.k0 == 1 else 'studies'}", "estimate": _f(v["estimate"]),
                           "ci": f"[{_f(v['ci_low'])}, {_f(v['ci_high'])}]",
                           "tau2": _f(t.tau2, 4)}
    return ctx


def _arm_columns(res: AnalysisResult) -> tuple[pd.DataFrame, dict[str, str]]:
    """Per-arm cells of the forest (events/total, or mean, SD, n), as the effects frame has them."""
    eff = res.effects
    a1, a2 = res.spec.arms
    cells, headers = pd.DataFrame(index=eff.index), {}

    def cell(x, d=None):
        return "" if pd.isna(x) else (number(x, d) if d is not None else f"{int(x)}")

    for arm in (a1, a2):
        name = arm.replace("_", " ").capitalize()
        if f"{arm}_events" in eff and f"{arm}_total" in eff:
            cells[f"_{arm}"] = [f"{cell(e)}/{cell(t)}" if not (pd.isna(e) or pd.isna(t)) else ""
                                for e, t in zip(eff[f"{arm}_events"], eff[f"{arm}_total"])]
            headers[f"_{arm}"] = f"{name}\nevents/total"
        elif f"{arm}_mean" in eff:
            for c, h, d in (("mean", "mean", 2), ("sd", "SD", 2), ("n", "n", None)):
                cells[f"_{arm}_{c}"] = [cell(x, d) for x in eff[f"{arm}_{c}"]]
                headers[f"_{arm}_{c}"] = f"{name}\n{h}"
    if not headers:
        cells["_n"] = [cell(x) for x in eff["n"]]
        headers["_n"] = "n"
    return cells, headers


def analysis_figures(res: AnalysisResult, rob: pd.DataFrame | None = None,
                     rob_tool: str | None = None,
                     rob_domains: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Forest plot (overall and by subgroup), funnel plot and bubble plots of one analysis.

    With ``rob`` (label, domain, judgement of the pooled studies, from
    ``ReviewResults.rob_by_analysis``) the main forest plot carries the risk-of-bias
    columns."""
    import numpy as np

    from ..plots import bubble, forest, funnel

    s = res.spec
    figs = []
    eff = res.effects
    cells, headers = _arm_columns(res)
    full = pd.concat([eff, cells], axis=1)
    comp = full["computable"].astype(bool)
    rows = full[comp][["label", "yi", "ci_low", "ci_high", "weight", *headers]]
    not_poolable = full[~comp][["label", "reason", *headers]]
    label = s.effect_label or s.measure
    favours = tuple(s.favours) if s.favours else None
    if res.pooled is None:
        return figs
    lvl = level_percent(res.pooled.level)
    rob_kw = {}
    if rob is not None and len(rob):
        rob_kw = {"rob": rob[["label", "domain", "judgement"]].rename(
                      columns={"label": "study"}),
                  "rob_tool": rob_tool or "rob2", "rob_domains": rob_domains,
                  # the domain columns take about 1.5 in: at 7 in the plot area shrinks
                  # until the ticks collide, so this forest is drawn wider (landscape page)
                  "width": 8.5}
    fig = forest(rows, res.pooled, measure=label, transform=s.transform,
                 extra_columns=headers, not_poolable=not_poolable, favours=favours, **rob_kw)
    figs.append(figure_entry(f"{s.id}-forest", f"Forest plot: {s.title}",
                             f"{label} per study with {lvl} CI; squares sized by weight "
                             f"({_weight_words(s.method)}); diamond: pooled estimate"
                             + ("." if res.pooled.model == "fixed" else
                                "; bar under it: prediction interval.")
                             + (" Right: risk of bias per domain (D1 ...) and overall, as "
                                "the reviewer judged it." if rob_kw else ""), fig))
    for name, sg in res.subgroups.items():
        human = s.label_of(name)
        has = eff.loc[comp, name].notna().to_numpy()  # the studies the subgroups were fitted on
        r2 = rows[has].copy()
        r2["group"] = eff.loc[comp, name][has].astype(str).to_numpy()
        if sg.study_weights is not None:
            r2["weight"] = np.asarray(sg.study_weights)  # within each subgroup's own fit
        fig = forest(r2, None, sg, measure=label, transform=s.transform,
                     extra_columns=headers, favours=favours,
                     group_title=human[:1].upper() + human[1:])
        figs.append(figure_entry(f"{s.id}-forest-{name}", f"Forest plot by {human}",
                                 f"Studies grouped by {human}. Weights are within each "
                                 "subgroup's own fit (separate τ²) and sum to 100% per "
                                 "subgroup; one diamond per subgroup with its heterogeneity; "
                                 "last line: the test for subgroup differences.", fig))
    used = eff[comp]
    filled = res.trimfill.filled if res.trimfill is not None else None
    fig = funnel(used["yi"].to_numpy(), used["vi"].to_numpy(), res.pooled,
                 filled=filled, measure=label, transform=s.transform)
    figs.append(figure_entry(f"{s.id}-funnel", "Contour-enhanced funnel plot",
                             "Shaded regions: p < 0.10, 0.05, 0.01; open points: studies "
                             "imputed by trim-and-fill." if filled is not None and len(filled)
                             else "Shaded regions: p < 0.10, 0.05, 0.01.", fig))
    for mods, mr in zip(res.metareg_terms, res.metaregs):
        if len(mods) != 1:
            continue  # a bubble plot shows one moderator against the effect
        mod = mods[0]
        on = used[used[mod].notna()]  # the studies the meta-regression was fitted on
        fig = bubble(on[mod].to_numpy(float), on["yi"].to_numpy(), mr.weights, mr,
                     moderator=mod, xlabel=s.label_of(mod), measure=label,
                     transform=s.transform, labels=on["label"].tolist())
        figs.append(figure_entry(f"{s.id}-bubble-{mod}",
                                 f"Bubble plot: {label} against {s.label_of(mod)}",
                                 f"One bubble per study, area proportional to its weight in the "
                                 f"meta-regression; line: the fitted meta-regression "
                                 f"({mr.method}).", fig))
    return figs
