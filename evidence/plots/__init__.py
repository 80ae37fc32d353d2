"""Figures: forest, funnel, bubble, PRISMA, evidence matrix, risk of bias; deterministic output.

Figures draw what result objects and frames contain; they compute no statistic. matplotlib
is imported inside the functions (Agg backend unless one was chosen), and every function
returns a :class:`matplotlib.figure.Figure` that pyplot does not keep open.
"""

from .bubble import bubble
from .export import FORMATS, PNG_DPI, save, to_svg_string
from .forest import FOREST_COLUMNS, forest
from .funnel import funnel
from .matrix import LEVEL_STYLE, STANCE_STYLE, evidence_matrix
from .prisma import NOT_REPORTED, PRISMA_STAGES, prisma
from .rob import rob_summary, traffic_light

__all__ = [
    "forest",
    "funnel",
    "bubble",
    "prisma",
    "evidence_matrix",
    "traffic_light",
    "rob_summary",
    "save",
    "to_svg_string",
    "FOREST_COLUMNS",
    "FORMATS",
    "PNG_DPI",
    "LEVEL_STYLE",
    "STANCE_STYLE",
    "NOT_REPORTED",
    "PRISMA_STAGES",
]
