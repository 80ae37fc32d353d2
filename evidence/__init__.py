"""evidence: evidence synthesis and meta-analysis with study records that carry provenance.

The public API (a contract, see DESIGN.md) is re-exported here::

    import evidence as ev
    review = ev.load_review("studies")
    es = ev.escalc("SMCR", data=df, m1i="m_post", m2i="m_pre", sd1i="sd_pre", ni="n", ri=0.5)
    res = ev.meta(es["yi"], es["vi"], method="REML", test="z")
"""

import importlib
import sys
import types
from typing import Any

from .errors import (
    ArgumentError,
    ConvergenceError,
    ConvergenceWarning,
    DegenerateFitWarning,
    EvidenceError,
    EvidenceWarning,
    RecordError,
)

# Everything else is imported on first use (PEP 562), so that a command that needs little
# (``evidence report`` with nothing changed, ``--help``) does not pay for scipy and pandas.
_LAZY = {
    ".effects": ("MEASURES", "Converted", "MeanSD", "change_sd", "correlation_sensitivity",
                 "escalc", "hedges_correction", "implied_correlation",
                 "mean_sd_from_five_number", "mean_sd_from_median_iqr",
                 "mean_sd_from_median_range", "sd_from_se", "se_from_ci", "se_from_p",
                 "se_from_sd", "se_from_t", "vcalc", "SamplingCovariance"),
    ".meta.bias": ("EggerResult", "TrimFillResult", "egger_test", "trimfill"),
    ".meta.fit": ("METHODS", "TESTS", "meta"),
    ".distributed": ("meta_batch", "meta_batch_dask"),  # meta_batch: pandas or Dask
    ".meta.metareg": ("MetaRegResult", "metareg"),
    ".meta.mh": ("MHResult", "PetoResult", "meta_mh", "meta_peto"),
    ".meta.multilevel": ("MetaMVResult", "meta_mv", "rho_sensitivity"),
    ".meta.robust": ("RobustResult", "robust"),
    ".meta.results": ("MetaResult",),
    ".meta.sensitivity": ("cumulative", "influence", "leave_one_out"),
    ".meta.sequential": ("sequential_analysis", "SequentialResult", "sequential_bounds",
                         "SequentialBounds", "alpha_spending", "ris_binary", "ris_continuous",
                         "required_statistical_information", "diversity"),
    ".meta.subgroup": ("SubgroupResult", "subgroup"),
    ".meta.transform": ("back_transform",),
    ".model": ("LoadedReview", "load_review"),
    ".progress": ("rich_progress",),
    ".analysis": ("AnalysisResult", "run_analyses", "run_analysis"),
    ".completeness": ("completeness", "outcome_status"),
    ".synthesis": ("check_stated_findings", "clinical_effects", "conclusions", "expert_matrix",
                   "levels_of_evidence", "load_rules", "pool_by_group"),
    ".records.scaffold": ("scaffold_record",),
    ".results": ("ReviewOptions", "ReviewResults", "Table", "run_review"),
    ".diff": ("ReviewDiff", "diff_reviews"),
    ".certainty": ("rob_overall", "rob_shares", "rob2_domain", "rob2_rule", "ROB2_QUESTIONS",
                   "assess_rob", "RobAssessment", "DomainAssessment"),
    ".certainty.grade": ("grade_certainty", "certainty_symbol", "absolute_effects",
                         "optimal_information_size", "propose_inconsistency",
                         "propose_imprecision", "propose_risk_of_bias",
                         "propose_publication_bias", "propose_large_effect", "GRADE_DOMAINS",
                         "Proposal"),
}
_WHERE = {name: module for module, names in _LAZY.items() for name in names}


class _Package(types.ModuleType):
    """The package module. Importing a subpackage sets it as an attribute of its parent, so
    ``import evidence.meta`` would hide the public function :func:`meta` (and likewise
    ``completeness``); a public name is never replaced by a submodule (the submodule stays
    importable by its full name)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _WHERE and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    if name == "plots":
        return importlib.import_module(".plots", __name__)
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later look-ups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__version__ = "0.1.0"

__all__ = [
    # records
    "load_review", "LoadedReview",
    # effect sizes and conversions
    "escalc", "correlation_sensitivity", "hedges_correction", "MEASURES", "Converted",
    "MeanSD", "sd_from_se", "se_from_sd", "se_from_ci", "se_from_p", "se_from_t",
    "mean_sd_from_median_iqr", "mean_sd_from_median_range", "mean_sd_from_five_number",
    "change_sd", "implied_correlation", "vcalc", "SamplingCovariance",
    # pooling and around the fit
    "meta", "meta_batch", "meta_batch_dask", "MetaResult", "METHODS", "TESTS", "subgroup", "SubgroupResult",
    "meta_mh", "meta_peto", "MHResult", "PetoResult",
    "metareg", "MetaRegResult", "leave_one_out", "influence", "cumulative", "egger_test",
    "EggerResult", "trimfill", "TrimFillResult", "back_transform", "rich_progress",
    # repeated looks: trial sequential analysis across releases of a living review
    "sequential_analysis", "SequentialResult", "sequential_bounds", "SequentialBounds",
    "alpha_spending", "ris_binary", "ris_continuous", "required_statistical_information",
    "diversity",
    # dependent effect sizes: multilevel models, cluster-robust inference
    "meta_mv", "MetaMVResult", "rho_sensitivity", "robust", "RobustResult",
    # records to results: completeness, planned analyses, mixed-methods synthesis, updates
    "completeness", "outcome_status", "run_analyses", "run_analysis", "AnalysisResult",
    "clinical_effects", "pool_by_group", "load_rules", "levels_of_evidence", "expert_matrix",
    "conclusions", "check_stated_findings", "scaffold_record", "diff_reviews", "ReviewDiff",
    "run_review", "ReviewResults", "ReviewOptions", "Table", "plots",
    # risk of bias and certainty of evidence
    "rob_overall", "rob_shares", "rob2_domain", "rob2_rule", "ROB2_QUESTIONS", "assess_rob",
    "RobAssessment", "DomainAssessment", "grade_certainty", "certainty_symbol",
    "absolute_effects", "optimal_information_size", "propose_inconsistency",
    "propose_imprecision", "propose_risk_of_bias", "propose_publication_bias",
    "propose_large_effect", "GRADE_DOMAINS", "Proposal",
    # errors
    "EvidenceError", "RecordError", "ArgumentError", "ConvergenceError", "EvidenceWarning",
    "ConvergenceWarning", "DegenerateFitWarning",
    "__version__",
]
