"""Effect sizes (metafor-style ``escalc``) and conversions of reported statistics."""

from evidence.effects.conversions import (
    Converted,
    MeanSD,
    change_sd,
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
from evidence.effects.escalc import MEASURES, correlation_sensitivity, escalc, hedges_correction
from evidence.effects.vcalc import SamplingCovariance, vcalc

__all__ = [
    "MEASURES",
    "escalc",
    "correlation_sensitivity",
    "hedges_correction",
    "Converted",
    "MeanSD",
    "sd_from_se",
    "se_from_sd",
    "se_from_ci",
    "se_from_p",
    "se_from_t",
    "mean_sd_from_median_iqr",
    "mean_sd_from_median_range",
    "mean_sd_from_five_number",
    "change_sd",
    "implied_correlation",
    "vcalc",
    "SamplingCovariance",
]
