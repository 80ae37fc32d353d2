"""Study records: the YAML schema (pydantic) and the loader (safe YAML, every problem named by
file, record and field). Frames are built one layer up, by :mod:`evidence.model`."""

from .loader import RULES_FILE, RecordSet, load_records
from .schema import BiomechanicalEvidence, ClinicalStudy, ExpertOpinion, Review

__all__ = ["RecordSet", "load_records", "RULES_FILE", "ClinicalStudy", "ExpertOpinion",
           "BiomechanicalEvidence", "Review"]
