"""Mixed-methods synthesis: pre-post effects, pooling by group, levels of evidence by explicit
rules, the expert-opinion matrix and the conclusions.

Pure functions on the tidy frames (:mod:`evidence.model`); the only file read here is the rules
file, by :func:`load_rules`.
"""

from .conclusions import CONCLUSION_COLUMNS, check_stated_findings, conclusions
from .effects import DEFAULT_CORRELATIONS, EFFECT_COLUMNS, ClinicalEffects, clinical_effects
from .experts import MATRIX_COLUMNS, biomechanical_support, expert_matrix
from .levels import LEVEL_COLUMNS, cell_features, levels_of_evidence, study_directions
from .pooling import POOL_COLUMNS, PooledEffects, pool_by_group
from .rules import (LEVELS, RULES_FILES, LevelRules, apply_rules, classify_designs,
                    features_available, load_rules, parse_rules)

__all__ = [
    "clinical_effects", "ClinicalEffects", "DEFAULT_CORRELATIONS", "EFFECT_COLUMNS",
    "pool_by_group", "PooledEffects", "POOL_COLUMNS",
    "load_rules", "parse_rules", "LevelRules", "LEVELS", "RULES_FILES", "apply_rules",
    "classify_designs", "features_available",
    "levels_of_evidence", "cell_features", "study_directions", "LEVEL_COLUMNS",
    "expert_matrix", "biomechanical_support", "MATRIX_COLUMNS",
    "conclusions", "check_stated_findings", "CONCLUSION_COLUMNS",
]
