"""Study records: the YAML schema (pydantic) and the loader."""

from .loader import LoadedReview, load_review
from .schema import ClinicalStudy, ExpertOpinion, BiomechanicalEvidence, Review

__all__ = ["LoadedReview", "load_review", "ClinicalStudy", "ExpertOpinion",
           "BiomechanicalEvidence", "Review"]
