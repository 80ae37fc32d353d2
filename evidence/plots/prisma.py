"""PRISMA 2020 flow diagram from the counts a review reports.

A box whose count is missing (``None``) says "not reported"; no number is ever filled in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import ArgumentError
from ._common import INK, get, new_figure

__all__ = ["prisma", "PRISMA_STAGES", "NOT_REPORTED"]

NOT_REPORTED = "not reported"

#: The stages of the PRISMA 2020 flow (new reviews, databases and registers), top to bottom:
#: (phase, main box keys, side box keys, always drawn). The first key present names the box.
PRISMA_STAGES: tuple[tuple[str, tuple[str, ...], tuple[str, ...], bool], ...] = (
    ("Identification", ("records_identified",),
     ("duplicates_removed", "records_removed_before_screening", "records_marked_ineligible",
      "records_removed_other"), True),
    ("Screening", ("records_screened",), ("records_excluded",), True),
    ("Screening", ("reports_sought",), ("reports_not_retrieved",), False),
    ("Screening", ("reports_assessed", "full_texts_assessed"),
     ("reports_excluded", "full_texts_excluded"), True),
    ("Included", ("studies_included", "reports_included"), (), True),
)

_LABELS = {
    "records_identified": "Records identified",
    "duplicates_removed": "Duplicate records removed",
    "records_removed_before_screening": "Records removed before screening",
    "records_marked_ineligible": "Records marked as ineligible by automation tools",
    "records_removed_other": "Records removed for other reasons",
    "records_screened": "Records screened",
    "records_excluded": "Records excluded",
    "reports_sought": "Reports sought for retrieval",
    "reports_not_retrieved": "Reports not retrieved",
    "reports_assessed": "Reports assessed for eligibility",
    "full_texts_assessed": "Full-text articles assessed for eligibility",
    "reports_excluded": "Reports excluded",
    "full_texts_excluded": "Full-text articles excluded",
    "studies_included": "Studies included in review",
    "reports_included": "Reports of included studies",
}


def _value(key: str, v: Any) -> int | None:
    v = get(v, "value", v) if not isinstance(v, (int, float)) else v
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or v != int(v):
        raise ArgumentError(f"counts['{key}'] must be a whole number >= 0 or None, got {v!r}")
    return int(v)


def _count_text(n: int | None) -> str:
    return f"(n = {n:,})" if n is not None else f"({NOT_REPORTED})"


def _label(key: str) -> str:
    if key in _LABELS:
        return _LABELS[key]
    return key.replace("_", " ").capitalize()


def prisma(counts: Mapping[str, Any], *, title: str | None = None, fontsize: float = 9,
           width: float = 7.0):
    """Draw a PRISMA 2020 flow diagram.

    Parameters
    ----------
    counts : mapping of str to int or None
        Counts by stage, e.g. ``{"records_identified": 1200, "records_screened": None,
        "studies_included": 13}``. Keys follow :data:`PRISMA_STAGES`
        (``full_texts_assessed``/``full_texts_excluded`` are accepted for
        ``reports_assessed``/``reports_excluded``). Several ``studies_included_<what>``
        keys (e.g. ``studies_included_clinical``) are listed in the included box. Values
        may also be objects or mappings with a ``value`` (the review's ``Count`` records).
        Unknown keys are listed in a box of other counts, never dropped.
    title, fontsize, width : layout.

    Returns
    -------
    matplotlib.figure.Figure
        Box texts say ``(n = ...)`` or ``(not reported)``; box patches carry the gid
        ``prisma-<key>``.

    Raises
    ------
    ArgumentError
        A count that is not a whole number >= 0 or None.

    Notes
    -----
    The main boxes (identified, screened, assessed, included) are always drawn; a key that
    is absent counts as not reported. Side boxes and the retrieval stage appear only when
    their keys are given.

    References
    ----------
    Page MJ, McKenzie JE, Bossuyt PM, et al. The PRISMA 2020 statement: an updated guideline
    for reporting systematic reviews. BMJ 2021;372:n71. doi:10.1136/bmj.n71

    Examples
    --------
    >>> from evidence.plots import prisma
    >>> fig = prisma({"records_identified": None, "studies_included": 13})
    """
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    if not isinstance(counts, Mapping):
        raise ArgumentError(f"counts must be a mapping of stage name to count, got "
                            f"{type(counts).__name__}")
    values = {str(k): _value(str(k), v) for k, v in counts.items()}
    used: set[str] = set()
    stages = []
    for phase, main_keys, side_keys, always in PRISMA_STAGES:
        present_main = [k for k in main_keys if k in values]
        present_side = [k for k in side_keys if k in values]
        included_extra = ([k for k in values if k.startswith("studies_included_")]
                          if phase == "Included" else [])
        if not (always or present_main or present_side):
            continue
        if phase == "Included":
            lines = [(k, values[k]) for k in present_main + included_extra]
            if not lines:
                lines = [(main_keys[0], None)]
        else:
            key = present_main[0] if present_main else main_keys[0]
            lines = [(key, values.get(key))]
        side = [(k, values[k]) for k in present_side]
        used.update(k for k, _ in lines + side)
        stages.append((phase, lines, side))
    other = [(k, v) for k, v in values.items() if k not in used]

    def main_text(lines):
        if len(lines) == 1:
            k, n = lines[0]
            return f"{_label(k)}\n{_count_text(n)}"
        head = "Studies included in review"
        parts = [head]
        for k, n in lines:
            name = (k[len("studies_included_"):].replace("_", " ")
                    if k.startswith("studies_included_") else _label(k))
            parts.append(f"{name}: {_count_text(n)[1:-1]}")
        return "\n".join(parts)

    line_h, box_pad = 0.19, 0.22  # inches per text line; padding inside a box
    heights = [max(2 if len(lines) == 1 else len(lines) + 1, 2 * len(side)) * line_h + box_pad
               for _, lines, side in stages]
    gap = 0.45
    total = sum(heights) + gap * len(stages) + (0.5 if other else 0.0)
    fig = new_figure((width, total + (0.5 if title else 0.2)))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 10)
    ax.set_ylim(-total, 0.1 + (0.4 if title else 0.0))
    ax.axis("off")
    if title:
        ax.text(0.1, 0.2, title, fontsize=fontsize + 1, fontweight="bold", va="center")

    def box(x0, y0, w, h, text, gid, face="white"):
        patch = FancyBboxPatch((x0, y0), w, h, boxstyle="round,pad=0,rounding_size=0.08",
                               facecolor=face, edgecolor=INK, linewidth=0.9)
        patch.set_gid(gid)
        ax.add_patch(patch)
        ax.text(x0 + w / 2, y0 + h / 2, text, ha="center", va="center", fontsize=fontsize,
                linespacing=1.35, wrap=False)

    def arrow(p, q):
        ax.add_patch(FancyArrowPatch(p, q, arrowstyle="-|>", mutation_scale=9, color=INK,
                                     linewidth=0.9, shrinkA=0, shrinkB=0))

    y = -gap / 2
    main_x, main_w, side_x, side_w = 1.0, 4.3, 6.0, 3.8
    prev_bottom = None
    phase_spans: list[tuple[str, float, float]] = []
    for (phase, lines, side), h in zip(stages, heights):
        top, bottom = y, y - h
        box(main_x, bottom, main_w, h, main_text(lines), f"prisma-{lines[0][0]}")
        if prev_bottom is not None:
            arrow((main_x + main_w / 2, prev_bottom), (main_x + main_w / 2, top))
        if side:
            text = "\n".join(f"{_label(k)}\n{_count_text(n)}" for k, n in side)
            box(side_x, bottom, side_w, h, text, f"prisma-{side[0][0]}")
            arrow((main_x + main_w, bottom + h / 2), (side_x, bottom + h / 2))
        if phase_spans and phase_spans[-1][0] == phase:
            phase_spans[-1] = (phase, phase_spans[-1][1], bottom)
        else:
            phase_spans.append((phase, top, bottom))
        prev_bottom = bottom
        y = bottom - gap
    for phase, top, bottom in phase_spans:
        top, bottom = top + gap / 2 - 0.04, bottom - gap / 2 + 0.04  # bands cover the gaps
        patch = FancyBboxPatch((0.1, bottom), 0.6, top - bottom,
                               boxstyle="round,pad=0,rounding_size=0.08",
                               facecolor="#dbe9f6", edgecolor="none")
        ax.add_patch(patch)
        ax.text(0.4, (top + bottom) / 2, phase, rotation=90, ha="center", va="center",
                fontsize=fontsize * 0.9, fontweight="bold")
    if other:
        text = "Other counts: " + "; ".join(f"{_label(k).lower()} {_count_text(n)}"
                                            for k, n in other)
        ax.text(main_x, y + gap - 0.3, text, ha="left", va="top", fontsize=fontsize * 0.9,
                style="italic", color="#444444")
    return fig
