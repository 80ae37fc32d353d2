"""Deterministic figure output: the same figure gives the same bytes, every time.

SVG ids are seeded by a fixed ``svg.hashsalt``, text is written as real, selectable text
(``svg.fonttype = "none"``; matplotlib names DejaVu Sans, the font the figures are laid out
with, and its fallbacks down to ``sans-serif`` in each text style), and the date,
creator and software metadata that matplotlib would otherwise write are removed. PNG uses a
fixed resolution.

:func:`export` draws a figure once with the Agg canvas, takes the tight bounding box and the
PNG from that one drawing, and writes SVG and PDF with that fixed bounding box (so matplotlib
does not draw the figure again just to measure it, as ``bbox_inches="tight"`` does per format).
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import IO, Any

from ..errors import ArgumentError

__all__ = ["save", "export", "svg_accessible", "to_svg_string", "FORMATS", "PNG_DPI",
           "SVG_HASHSALT"]

#: Output formats :func:`save` writes.
FORMATS = ("svg", "png", "pdf")
#: Resolution of PNG output (dots per inch).
PNG_DPI = 150
#: Seed of the ids matplotlib writes into SVG files.
SVG_HASHSALT = "evidence"
#: Padding around the tight bounding box (inches), as ``pad_inches`` of ``savefig``.
PAD_INCHES = 0.1
_RC = {"svg.hashsalt": SVG_HASHSALT, "svg.fonttype": "none", "pdf.compression": 6}

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
    Determinism comes from ``svg.hashsalt`` (fixed ids), ``svg.fonttype = "none"``, metadata
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
    if isinstance(path_or_buffer, (str, os.PathLike)):
        Path(path_or_buffer).parent.mkdir(parents=True, exist_ok=True)
    with matplotlib.rc_context(_RC):
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=dpi, metadata=_METADATA[fmt],
                    bbox_inches="tight", pad_inches=PAD_INCHES, facecolor="white")
    data = buf.getvalue()
    if isinstance(path_or_buffer, (str, os.PathLike)):
        Path(path_or_buffer).write_bytes(data)
    else:
        path_or_buffer.write(data)


def svg_accessible(svg: str, element_id: str, title: str, desc: str = "") -> str:
    """Give an SVG ``role="img"``, a ``<title>`` and a ``<desc>`` linked by aria-labelledby.

    ``element_id`` prefixes the ids of the title and description (unique within a page).
    Text is escaped for XML.
    """
    from xml.sax.saxutils import escape, quoteattr

    start = svg.find("<svg")
    if start < 0:
        return svg
    end = svg.find(">", start)
    tid, did = f"{element_id}-title", f"{element_id}-desc"
    labelled = tid + (f" {did}" if desc else "")
    tag = (svg[start:end] + f' role="img" aria-labelledby={quoteattr(labelled)}>'
           f'\n<title id={quoteattr(tid)}>{escape(title)}</title>'
           + (f'\n<desc id={quoteattr(did)}>{escape(desc)}</desc>' if desc else ""))
    return svg[:start] + tag + svg[end + 1:]


def export(fig: Any, formats: tuple[str, ...] | list[str] = FORMATS, *, dpi: int = PNG_DPI,
           title: str | None = None, desc: str = "", element_id: str = "figure"
           ) -> dict[str, bytes]:
    """The figure in several formats from one drawing: format -> bytes (deterministic).

    The figure is drawn once on an Agg canvas at ``dpi``; its tight bounding box (padded by
    :data:`PAD_INCHES`) is measured on that drawing, the PNG is cropped from the same pixel
    buffer, and SVG and PDF are written with that bounding box (vector formats need their own
    renderer, but no extra measuring pass). A figure that draws outside its own canvas (labels
    or legends beyond the figure edge) gets its PNG from a second drawing with that bounding
    box, since the first drawing's buffer holds only what is on the canvas. With ``title`` the SVG gets ``role="img"`` and
    ``<title>``/``<desc>`` (see :func:`svg_accessible`).
    """
    import matplotlib
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.transforms import Bbox
    from PIL import Image

    for f in formats:
        _format(None, f)
    out: dict[str, bytes] = {}
    with matplotlib.rc_context(_RC):
        fig.patch.set_facecolor("white")
        fig.set_dpi(dpi)
        canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
        canvas.draw()
        renderer = canvas.get_renderer()
        tight = fig.get_tightbbox(renderer).padded(PAD_INCHES)
        bbox = Bbox.from_extents(tight.x0, tight.y0, tight.x1, tight.y1)
        width_in, height_in = fig.get_figwidth(), fig.get_figheight()
        on_canvas = (bbox.x0 >= 0 and bbox.y0 >= 0 and bbox.x1 <= width_in
                     and bbox.y1 <= height_in)
        if "png" in formats and not on_canvas:
            # labels or legends drawn outside the figure are not in the Agg buffer: crop it
            # and they would be cut off, so the PNG is drawn again on a canvas the size of
            # the bounding box
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=dpi, metadata=_METADATA["png"],
                        bbox_inches=bbox, facecolor="white")
            image = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
            buf = io.BytesIO()
            image.save(buf, format="png", dpi=(dpi, dpi), optimize=False, compress_level=6)
            out["png"] = buf.getvalue()
        elif "png" in formats:
            rgba = np.asarray(canvas.buffer_rgba())
            h_px, w_px = rgba.shape[:2]
            x0, x1 = int(round(bbox.x0 * dpi)), int(round(bbox.x1 * dpi))
            y0 = int(round(h_px - bbox.y1 * dpi))
            y1 = int(round(h_px - bbox.y0 * dpi))
            page = np.full((y1 - y0, x1 - x0, 3), 255, dtype=np.uint8)
            sx0, sy0 = max(x0, 0), max(y0, 0)
            sx1, sy1 = min(x1, w_px), min(y1, h_px)
            if sx1 > sx0 and sy1 > sy0:
                page[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = rgba[sy0:sy1, sx0:sx1, :3]
            buf = io.BytesIO()
            Image.fromarray(page, "RGB").save(buf, format="png", dpi=(dpi, dpi),
                                              optimize=False, compress_level=6)
            out["png"] = buf.getvalue()
        for fmt in ("svg", "pdf"):
            if fmt not in formats:
                continue
            buf = io.BytesIO()
            fig.savefig(buf, format=fmt, dpi=dpi, metadata=_METADATA[fmt], bbox_inches=bbox,
                        facecolor="white")
            data = buf.getvalue()
            if fmt == "svg":
                if title is not None:
                    data = svg_accessible(data.decode("utf-8"), element_id, title,
                                          desc).encode("utf-8")
            out[fmt] = data
    return {f: out[f] for f in formats}


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
