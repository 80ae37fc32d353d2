"""The one place the API reference is grouped: page slug -> (title, intro, names).

Every name in ``evidence.__all__`` (and every name in ``evidence.plots.__all__``, written
``plots.<name>``) must appear in exactly one group; ``tests/test_docs.py`` checks it. To add a
public name, append it to the list of the group it belongs to below, or add a new group
(a new ``"slug": (title, intro, [names])`` entry); ``docs/gen_pages.py`` writes the pages
from this map during ``mkdocs build``.
"""

GROUPS: dict[str, tuple[str, str, list[str]]] = {
    "records": (
        "Records",
        "Load and validate a review directory of YAML study records; scaffold new records.",
        ["load_review", "LoadedReview", "scaffold_record"],
    ),
    "effects": (
        "Effect sizes and conversions",
        "Effect-size measures as metafor's `escalc()`, conversions from reported summaries "
        "(SE, CI, p, t, median/IQR) to the means and SDs an effect size needs, and the "
        "within-study covariance of dependent effects.",
        ["escalc", "MEASURES", "hedges_correction", "correlation_sensitivity", "Converted",
         "MeanSD", "sd_from_se", "se_from_sd", "se_from_ci", "se_from_p", "se_from_t",
         "mean_sd_from_median_iqr", "mean_sd_from_median_range", "mean_sd_from_five_number",
         "change_sd", "implied_correlation", "vcalc", "SamplingCovariance"],
    ),
    "pooling": (
        "Pooling",
        "Random- and fixed-effects models as metafor's `rma()`, many at once, Mantel-Haenszel "
        "and Peto, subgroups and meta-regression.",
        ["meta", "MetaResult", "METHODS", "TESTS", "meta_batch", "meta_batch_dask",
         "rich_progress", "meta_mh", "meta_peto", "MHResult", "PetoResult", "subgroup",
         "SubgroupResult", "metareg", "MetaRegResult", "back_transform"],
    ),
    "around": (
        "Around the fit: sensitivity and small-study bias",
        "Leave-one-out, influence diagnostics, cumulative meta-analysis, Egger's regression "
        "test and trim-and-fill.",
        ["leave_one_out", "influence", "cumulative", "egger_test", "EggerResult", "trimfill",
         "TrimFillResult"],
    ),
    "dependent": (
        "Dependent effects",
        "Multilevel / multivariate models as metafor's `rma.mv()` and cluster-robust "
        "inference as clubSandwich's CR2.",
        ["meta_mv", "MetaMVResult", "rho_sensitivity", "robust", "RobustResult"],
    ),
    "sequential": (
        "Repeated looks: sequential analysis",
        "Trial sequential analysis of a cumulative meta-analysis across the releases of a "
        "living review: Lan-DeMets alpha-spending boundaries, the required information size "
        "(participants or statistical information) and diversity. A sensitivity analysis, "
        "never the main conclusion.",
        ["sequential_analysis", "SequentialResult", "sequential_bounds", "SequentialBounds",
         "alpha_spending", "ris_binary", "ris_continuous", "required_statistical_information",
         "diversity"],
    ),
    "synthesis": (
        "Synthesis: from records to results",
        "Completeness, the planned analyses of a review, levels of evidence, the expert "
        "matrix, conclusions, the frozen review results and the diff of two reviews.",
        ["completeness", "outcome_status", "run_analyses", "run_analysis", "AnalysisResult",
         "clinical_effects", "pool_by_group", "load_rules", "levels_of_evidence",
         "expert_matrix", "conclusions", "check_stated_findings", "run_review",
         "ReviewResults", "ReviewOptions", "Table", "diff_reviews", "ReviewDiff"],
    ),
    "certainty": (
        "Risk of bias and certainty",
        "RoB 2 signalling algorithms, overall risk-of-bias judgements (RoB 2, ROBINS-I), the "
        "judgement shares of a summary plot; GRADE proposals with their stated rules, the "
        "certainty they imply and absolute effects per 1,000 for a Summary of Findings table.",
        ["rob_overall", "rob_shares", "rob2_domain", "rob2_rule", "ROB2_QUESTIONS",
         "assess_rob", "RobAssessment", "DomainAssessment", "grade_certainty",
         "certainty_symbol", "absolute_effects", "optimal_information_size",
         "propose_inconsistency", "propose_imprecision", "propose_risk_of_bias",
         "propose_publication_bias", "propose_large_effect", "GRADE_DOMAINS", "Proposal"],
    ),
    "plots": (
        "Plots",
        "Figures drawn from result objects and frames (they compute no statistic).",
        ["plots", "plots.forest", "plots.funnel", "plots.bubble", "plots.prisma",
         "plots.evidence_matrix", "plots.traffic_light", "plots.rob_summary", "plots.save",
         "plots.to_svg_string", "plots.FOREST_COLUMNS",
         "plots.FORMATS", "plots.PNG_DPI", "plots.LEVEL_STYLE", "plots.STANCE_STYLE",
         "plots.NOT_REPORTED", "plots.PRISMA_STAGES"],
    ),
    "errors": (
        "Errors and warnings",
        "The package's own exception and warning types.",
        ["EvidenceError", "RecordError", "ArgumentError", "ConvergenceError",
         "EvidenceWarning", "ConvergenceWarning", "DegenerateFitWarning", "__version__"],
    ),
}
