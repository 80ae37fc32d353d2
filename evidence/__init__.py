"""evidence: evidence synthesis and meta-analysis with study records that carry provenance.

The public API (a contract, see DESIGN.md) is re-exported here::

    import evidence as ev
    review = ev.load_review("studies")
    es = ev.escalc("SMCR", data=df, m1i="m_post", m2i="m_pre", sd1i="sd_pre", ni="n", ri=0.5)
    res = ev.meta(es["yi"], es["vi"], method="REML", test="z")
"""

from .effects import (
    MEASURES,
    Converted,
    MeanSD,
    change_sd,
    correlation_sensitivity,
    escalc,
    hedges_correction,
    implied_correlation,
    mean_sd_from_five_number,
    mean_sd_from_median_iqr,
    mean_sd_from_median_range,
    sd_from_se,
    se_from_ci,
    se_from_p,
    se_from_sd,
    se_from_t,
)
from .errors import (
    ArgumentError,
    ConvergenceError,
    ConvergenceWarning,
    EvidenceError,
    EvidenceWarning,
    RecordError,
)
from .meta.bias import EggerResult, TrimFillResult, egger_test, trimfill
from .meta.fit import METHODS, TESTS, meta, meta_batch
from .meta.metareg import MetaRegResult, metareg
from .meta.results import MetaResult
from .meta.sensitivity import cumulative, influence, leave_one_out
from .meta.subgroup import SubgroupResult, subgroup
from .meta.transform import back_transform
from .model import LoadedReview, load_review
from .analysis import AnalysisResult, run_analyses, run_analysis
from .completeness import completeness, outcome_status
from .synthesis import (
    check_stated_findings,
    clinical_effects,
    conclusions,
    expert_matrix,
    levels_of_evidence,
    load_rules,
    pool_by_group,
)
from .records.scaffold import scaffold_record
from .results import ReviewOptions, ReviewResults, Table, run_review
from .diff import ReviewDiff, diff_reviews
from . import plots

__version__ = "0.1.0"

__all__ = [
    # records
    "load_review", "LoadedReview",
    # effect sizes and conversions
    "escalc", "correlation_sensitivity", "hedges_correction", "MEASURES", "Converted",
    "MeanSD", "sd_from_se", "se_from_sd", "se_from_ci", "se_from_p", "se_from_t",
    "mean_sd_from_median_iqr", "mean_sd_from_median_range", "mean_sd_from_five_number",
    "change_sd", "implied_correlation",
    # pooling and around the fit
    "meta", "meta_batch", "MetaResult", "METHODS", "TESTS", "subgroup", "SubgroupResult",
    "metareg", "MetaRegResult", "leave_one_out", "influence", "cumulative", "egger_test",
    "EggerResult", "trimfill", "TrimFillResult", "back_transform",
    # records to results: completeness, planned analyses, mixed-methods synthesis, updates
    "completeness", "outcome_status", "run_analyses", "run_analysis", "AnalysisResult",
    "clinical_effects", "pool_by_group", "load_rules", "levels_of_evidence", "expert_matrix",
    "conclusions", "check_stated_findings", "scaffold_record", "diff_reviews", "ReviewDiff",
    "run_review", "ReviewResults", "ReviewOptions", "Table", "plots",
    # errors
    "EvidenceError", "RecordError", "ArgumentError", "ConvergenceError", "EvidenceWarning",
    "ConvergenceWarning",
    "__version__",
]
