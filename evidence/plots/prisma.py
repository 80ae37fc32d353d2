"""PRISMA 2020 flow diagram from the counts a review reports.

A box whose count is missing (``None``) says "not reported"; no number is ever filled in.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ArgumentError
from ._common import INK, get, new_figure

__all__ = ["prisma", "PRISMA_STAGES", "NOT_REPORTED"]

NOT_REPORTED = "not reported"

#: The stages of the PRISMA 2020 flow (new reviews, databases and registers only), top to
#: bottom: (phase, main box keys, side box heading, side box keys). Every box of the template
#: is drawn; a key that is absent counts as not reported. Keys of the 2009 flow
#: (``full_texts_assessed``, ``full_texts_excluded``) stand for the 2020 reports.
PRISMA_STAGES: tuple[tuple[str, tuple[str, ...], str | None, tuple[str, ...]], ...] = (
    ("Identification", ("records_identified",), "Records removed before screening:",
     ("duplicates_removed", "records_marked_ineligible", "records_removed_other",
      "records_removed_before_screening")),
    ("Screening", ("records_screened",), None, ("records_excluded",)),
    ("Screening", ("reports_sought",), None, ("reports_not_retrieved",)),
    ("Screening", ("reports_assessed", "full_texts_assessed"), None,
     ("reports_excluded", "full_texts_excluded")),
    ("Included", ("studies_included", "reports_included"), None, ()),
)

#: Box wording of the PRISMA 2020 flow diagram (Page et al. 2021, BMJ 372:n71).
_LABELS = {
    "records_identified": "Records identified from databases and registers",
    "duplicates_removed": "Duplicate records removed",
    "records_removed_before_screening": "Records removed before screening",
    "records_marked_ineligible": "Records marked as ineligible by automation tools",
    "records_removed_other": "Records removed for other reasons",
    "records_screened": "Records screened",
    "records_excluded": "Records excluded",
    "reports_sought": "Reports sought for retrieval",
    "reports_not_retrieved": "Reports not retrieved",
    "reports_assessed": "Reports assessed for eligibility",
    "full_texts_assessed": "Reports assessed for eligibility",
    "reports_excluded": "Reports excluded",
    "full_texts_excluded": "Reports excluded",
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
           width: float = 7.0, n_unconfirmed: int | None = None,
           n_study_records: int | None = None, unconfirmed_studies: Sequence[str] = ()):
    """Draw a PRISMA 2020 flow diagram.

    Parameters
    ----------
    counts : mapping of str to int or None
        Counts by stage, e.g. ``{"records_identified": 1200, "records_screened": None,
        "studies_included": 13}``. Keys follow :data:`PRISMA_STAGES`
        (``full_texts_assessed``/``full_texts_excluded`` are accepted for
        ``reports_assessed``/``reports_excluded``; ``reports_excluded_<reason>`` keys are
        listed as reasons). Several ``studies_included_<what>`` keys (e.g.
        ``studies_included_clinical``) are listed in the included box. Values may also be
        objects or mappings with a ``value`` (the review's ``Count`` records). Unknown keys
        are listed in a line of other counts, never dropped.
    title, fontsize, width : layout.
    n_unconfirmed, n_study_records, unconfirmed_studies :
        How many of the study records behind the review's included studies have an
        inclusion that is not confirmed, of how many, and their labels. When
        ``n_unconfirmed`` is above 0 they are shown apart, in a dashed box beside the
        included box, never inside its count. The figure counts nothing itself.

    Returns
    -------
    matplotlib.figure.Figure
        Box texts say ``(n = ...)`` or ``(not reported)``; box patches carry the gid
        ``prisma-<key>`` (``prisma-unconfirmed`` for the box of unconfirmed studies).

    Raises
    ------
    ArgumentError
        A count that is not a whole number >= 0 or None.

    Notes
    -----
    Every box of the PRISMA 2020 template for new reviews of databases and registers is
    drawn, with the template's wording; a count that is absent or ``None`` says
    "not reported". No number is derived from another.

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
    n_unconfirmed = _value("n_unconfirmed", n_unconfirmed)
    n_study_records = _value("n_study_records", n_study_records)
    used: set[str] = set()
    stages = []
    for phase, main_keys, side_head, side_keys in PRISMA_STAGES:
        present_main = [k for k in main_keys if k in values]
        present_side = [k for k in side_keys if k in values]
        if phase == "Included":
            extra = [k for k in values if k.startswith("studies_included_")]
            head = [("studies_included", values.get("studies_included"))] \
                if "studies_included" in values or not extra else []
            lines = head + [(k, values[k]) for k in extra] + [
                ("reports_included", values.get("reports_included"))]
        else:
            key = present_main[0] if present_main else main_keys[0]
            lines = [(key, values.get(key))]
        if side_keys:
            side = [(k, values[k]) for k in present_side]
            if side_keys[0] in ("reports_excluded",):
                side += [(k, values[k]) for k in values if k.startswith("reports_excluded_")]
            if not side:
                side = [(side_keys[0], None)] if side_head is None else [(None, None)]
        else:
            side = []
        used.update(k for k, _ in lines + side if k)
        stages.append((phase, lines, side_head, side))
    other = [(k, v) for k, v in values.items() if k not in used]

    def name(k):
        if k.startswith("studies_included_"):
            return "  " + k[len("studies_included_"):].replace("_", " ")
        if k.startswith("reports_excluded_"):
            return "  " + k[len("reports_excluded_"):].replace("_", " ")
        return _label(k)

    def main_text(lines):
        out = []
        for k, n in lines:
            if k.startswith("studies_included_"):
                if not out:
                    out.append("Studies included in review")
                out.append(f"{name(k)} {_count_text(n)}")
            else:
                out += [textwrap.fill(_label(k), 36), _count_text(n)]
        return "\n".join(out)

    def side_text(head, side):
        if head and side == [(None, None)]:
            return f"{head.rstrip(':')}\n{_count_text(None)}"
        out = [head] if head else []
        for k, n in side:
            out += [textwrap.fill(name(k), 36), _count_text(n)]
        return "\n".join(out)

    texts = [(main_text(lines), side_text(head, side) if side else "")
             for _, lines, head, side in stages]
    if n_unconfirmed:
        who = "; ".join(unconfirmed_studies)
        of = f" of the {n_study_records:,}" if n_study_records is not None else ""
        unconf = (f"Inclusion not confirmed:\n{n_unconfirmed:,}{of} study records\n"
                  + (textwrap.fill(f"({who})", 42) if who else ""))
        texts[-1] = (texts[-1][0], unconf.strip())
    line_h, box_pad = 0.19, 0.22  # inches per text line; padding inside a box
    heights = [max(m.count("\n") + 1, sd.count("\n") + 1 if sd else 0) * line_h + box_pad
               for m, sd in texts]
    gap = 0.45
    band = 0.4  # the heading band above the flow
    total = sum(heights) + gap * len(stages) + band + (0.5 if other else 0.0)
    fig = new_figure((width, total + (0.5 if title else 0.2)))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 10)
    ax.set_ylim(-total, 0.1 + (0.4 if title else 0.0))
    ax.axis("off")
    if title:
        ax.text(0.1, 0.2, title, fontsize=fontsize + 1, fontweight="bold", va="center")
    head = FancyBboxPatch((1.0, -band + 0.05), 8.8, band - 0.1,
                          boxstyle="round,pad=0,rounding_size=0.08", facecolor="#dbe9f6",
                          edgecolor="none")
    ax.add_patch(head)
    ax.text(5.4, -band / 2, "Identification of studies via databases and registers",
            ha="center", va="center", fontsize=fontsize, fontweight="bold")

    def box(x0, y0, w, h, text, gid, face="white", style="solid"):
        patch = FancyBboxPatch((x0, y0), w, h, boxstyle="round,pad=0,rounding_size=0.08",
                               facecolor=face, edgecolor=INK, linewidth=0.9, linestyle=style)
        patch.set_gid(gid)
        ax.add_patch(patch)
        ax.text(x0 + w / 2, y0 + h / 2, text, ha="center", va="center", fontsize=fontsize,
                linespacing=1.35, wrap=False)

    def arrow(p, q):
        ax.add_patch(FancyArrowPatch(p, q, arrowstyle="-|>", mutation_scale=9, color=INK,
                                     linewidth=0.9, shrinkA=0, shrinkB=0))

    y = -band - gap / 2
    main_x, main_w, side_x, side_w = 1.0, 4.3, 6.0, 3.8
    prev_bottom = None
    phase_spans: list[tuple[str, float, float]] = []
    for (phase, lines, head_txt, side), (mtext, stext), h in zip(stages, texts, heights):
        top, bottom = y, y - h
        box(main_x, bottom, main_w, h, mtext, f"prisma-{lines[0][0]}")
        if prev_bottom is not None:
            arrow((main_x + main_w / 2, prev_bottom), (main_x + main_w / 2, top))
        if stext and phase == "Included":
            box(side_x, bottom, side_w, h, stext, "prisma-unconfirmed", face="#f7f7f7",
                style="dashed")
        elif stext:
            gid = f"prisma-{side[0][0]}" if side[0][0] else "prisma-records_removed_before_screening"
            box(side_x, bottom, side_w, h, stext, gid)
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
        ax.text(main_x, y + gap - 0.3, textwrap.fill(text, 110), ha="left", va="top",
                fontsize=fontsize * 0.9, style="italic", color="#444444")
    return fig
