"""Deterministic figure output: the same figure gives the same bytes, every time.

SVG ids are seeded by a fixed ``svg.hashsalt``, text is written as paths (no dependence on
fonts installed where the SVG is viewed), and the date, creator and software metadata that
matplotlib would otherwise write are removed. PNG uses a fixed resolution.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import IO, Any

from ..errors import ArgumentError

__all__ = ["save", "to_svg_string", "FORMATS", "PNG_DPI", "SVG_HASHSALT"]

#: Output formats :func:`save` writes.
FORMATS = ("svg", "png", "pdf")
#: Resolution of PNG output (dots per inch).
PNG_DPI = 150
#: Seed of the ids matplotlib writes into SVG files.
SVG_HASHSALT = "evidence"

_METADATA = {
    "svg": {"Date": None, "Creator": None},
    "pdf": {"CreationDate": None, "ModDate": None, "Creator": None, "Producer": None},
    "png": {"Software": None},
}


def _format(path_or_buffer: Any, format: str | None) -> str:
    if format is None:
        if isinstance(path_or_buffer, (str, os.PathLike)):
            format = Path(path_or_buffer).suffix.lstrip(".").lower() or "svg"
        else:
            format = "svg"
    fmt = str(format).lower()
    if fmt not in FORMATS:
        raise ArgumentError(f"format {format!r} is not one of {', '.join(FORMATS)}")
    return fmt


def save(fig: Any, path_or_buffer: str | os.PathLike | IO[bytes], format: str | None = None,
         *, dpi: int = PNG_DPI) -> None:
    """Write a figure as SVG, PNG or PDF with byte-identical output for identical figures.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path_or_buffer : path or binary file object
    format : {"svg", "png", "pdf"}, optional
        Taken from the file suffix when not given; ``"svg"`` for buffers.
    dpi : int
        Resolution for PNG (default :data:`PNG_DPI`).

    Raises
    ------
    ArgumentError
        Unknown format.

    Notes
    -----
    Determinism comes from ``svg.hashsalt`` (fixed ids), ``svg.fonttype = "path"``, metadata
    entries set to ``None`` (no date, creator, producer or software) and a fixed ``dpi``.
    The bounding box is fitted to the drawn content (``bbox_inches="tight"``).

    Examples
    --------
    >>> import io
    >>> from evidence.plots import prisma, save
    >>> buf = io.BytesIO()
    >>> save(prisma({"records_identified": None, "studies_included": 13}), buf, "svg")
    """
    import matplotlib

    fmt = _format(path_or_buffer, format)
    rc = {"svg.hashsalt": SVG_HASHSALT, "svg.fonttype": "path", "pdf.compression": 6}
    if isinstance(path_or_buffer, (str, os.PathLike)):
        Path(path_or_buffer).parent.mkdir(parents=True, exist_ok=True)
    with matplotlib.rc_context(rc):
        fig.savefig(path_or_buffer, format=fmt, dpi=dpi, metadata=_METADATA[fmt],
                    bbox_inches="tight", pad_inches=0.1, facecolor="white")


def to_svg_string(fig: Any) -> str:
    """The figure as an SVG element for inline HTML (no XML declaration, no DOCTYPE).

    Examples
    --------
    >>> from evidence.plots import prisma, to_svg_string
    >>> to_svg_string(prisma({"studies_included": 13})).startswith("<svg")
    True
    """
    buf = io.BytesIO()
    save(fig, buf, "svg")
    text = buf.getvalue().decode("utf-8")
    start = text.find("<svg")
    return text[start:] if start >= 0 else text
