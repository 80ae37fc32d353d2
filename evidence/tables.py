"""Flat tables of effect sizes for ``evidence pool``: read a CSV or Parquet file, check every
value that will be pooled, and serialise the pooled table.

Every problem names the file, and for a bad value the **data row** (1-based, the header line
not counted, so in a plain CSV file data row ``n`` is line ``n + 1``) and the column, with the
text found there::

    data.csv: row 17, column vi: '0,2' is not a number

Checks mirror :func:`evidence.meta.meta_batch` (a row with yi or vi missing is dropped and
counted in ``k_dropped``; in a row that is used, yi and vi must be finite and vi > 0), so
the numbers written are those of ``meta_batch`` on the same frame. This module does I/O and
sits above the numeric core; it computes no statistic.
"""

from __future__ import annotations

import importlib.util
import io
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import TableError

__all__ = ["FORMATS", "table_format", "parquet_missing", "read_table", "effect_frame",
           "to_bytes"]

#: File suffix -> format, for input and output.
FORMATS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet"}

_PARQUET_HINT = "pip install 'evidence[parquet]' (pyarrow)"
_MAX_COLUMNS_LISTED = 20


def table_format(path: str | Path) -> str | None:
    """``"csv"``, ``"tsv"`` or ``"parquet"`` by the file's suffix (any case); None if unknown."""
    return FORMATS.get(Path(path).suffix.lower())


def parquet_missing() -> str | None:
    """Why Parquet cannot be read or written here (no engine installed), or None."""
    if importlib.util.find_spec("pyarrow") or importlib.util.find_spec("fastparquet"):
        return None
    return f".parquet files need pyarrow: {_PARQUET_HINT}"


def _columns_text(columns: Sequence) -> str:
    names = [str(c) for c in columns]
    more = len(names) - _MAX_COLUMNS_LISTED
    return ", ".join(names[:_MAX_COLUMNS_LISTED]) + (f", … ({more} more)" if more > 0 else "")


def read_table(path: str | Path, text_columns: Sequence[str] = ()) -> pd.DataFrame:
    """Read a CSV (``,``), TSV (tab) or Parquet file into a DataFrame.

    ``text_columns`` are read as text from a CSV/TSV (so that a bad value can be shown as
    written); the other columns get pandas' usual type inference. Empty cells and the usual
    NA spellings (``NA``, ``NaN``, ``nan``, ``NULL``, ...) are missing values.

    Raises
    ------
    TableError
        No such file, a directory, an empty file, a header without data rows, text that is
        not UTF-8, a malformed CSV (ragged rows) or a file that is not Parquet.
    """
    path = Path(path)
    fmt = table_format(path)
    if fmt is None:
        raise TableError(f"{path}: unknown table format {path.suffix!r}; use "
                         f"{', '.join(FORMATS)}")
    if not path.exists():
        raise TableError(f"{path}: no such file")
    if path.is_dir():
        raise TableError(f"{path}: is a directory, not a table file")
    try:
        if path.stat().st_size == 0:
            raise TableError(f"{path}: the file is empty")
        if fmt == "parquet":
            frame = _read_parquet(path)
        else:
            frame = _read_text(path, "\t" if fmt == "tsv" else ",", text_columns)
    except PermissionError as exc:
        raise TableError(f"{path}: cannot be read: {exc.strerror}") from None
    except OSError as exc:
        raise TableError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    if len(frame.columns) == 0:
        raise TableError(f"{path}: the file is empty (no header line)")
    if len(frame) == 0:
        raise TableError(f"{path}: no data rows (only the header: {_columns_text(frame.columns)})")
    return frame


def _read_text(path: Path, sep: str, text_columns: Sequence[str]) -> pd.DataFrame:
    kind = "TSV" if sep == "\t" else "CSV"
    try:
        with warnings.catch_warnings():
            # index_col=False: a row with more fields than the header is an error, never a
            # silent shift of the first column into the index
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(path, sep=sep, dtype={c: str for c in text_columns},
                               encoding="utf-8", skipinitialspace=True, index_col=False)
    except pd.errors.EmptyDataError:
        raise TableError(f"{path}: the file is empty (no header line)") from None
    except UnicodeDecodeError:
        raise TableError(f"{path}: is not UTF-8 text (save it as UTF-8 {kind})") from None
    except pd.errors.ParserWarning:
        raise TableError(f"{path}: is not a well-formed {kind} table: data row 1 has more "
                         "fields than the header") from None
    except pd.errors.ParserError as exc:
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if m:
            header, line, saw = (int(g) for g in m.groups())
            reason = (f"data row {line - 1} (line {line}) has {saw} fields, the header "
                      f"{header}")
        else:
            reason = str(exc).replace("Error tokenizing data. C error: ", "").strip()
        raise TableError(f"{path}: is not a well-formed {kind} table: {reason}") from None


def _read_parquet(path: Path) -> pd.DataFrame:
    missing = parquet_missing()
    if missing:
        raise TableError(f"{path}: {missing}")
    try:
        return pd.read_parquet(path)
    except OSError:
        raise
    except Exception as exc:  # pyarrow's ArrowInvalid and kin: not a Parquet file
        raise TableError(f"{path}: cannot be read as Parquet: {exc}") from None


def _values(frame: pd.DataFrame, col: str, path: Path, problems: list[tuple[int, str]]):
    """The column as floats (NaN where missing) and the text of each cell (for messages);
    a cell that is present but not a number is a problem."""
    raw = frame[col]
    if pd.api.types.is_bool_dtype(raw.dtype) or not (
            pd.api.types.is_numeric_dtype(raw.dtype) or pd.api.types.is_string_dtype(raw.dtype)
            or raw.dtype == object):
        problems.append((0, f"{path}: column {col}: holds {raw.dtype} values, not numbers"))
        return np.full(len(raw), np.nan), raw.astype(str).to_numpy()
    if pd.api.types.is_numeric_dtype(raw.dtype):
        values = raw.to_numpy(dtype=float, na_value=np.nan)
        return values, None
    text = raw.astype(object)
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
    present = text.notna().to_numpy() & (text.astype(str).str.strip() != "").to_numpy()
    for i in np.flatnonzero(present & np.isnan(values)):
        if str(text.iloc[i]).strip().lower() in ("nan", "-nan", "+nan"):
            continue  # a NaN spelled as a number is a missing value, as in meta_batch
        problems.append((int(i) + 1, f"{path}: row {i + 1}, column {col}: "
                                     f"{text.iloc[i]!r} is not a number"))
    return values, text.to_numpy()


def _shown(values: np.ndarray, text, i: int) -> str:
    return repr(text[i]) if text is not None else repr(float(values[i]))


def effect_frame(frame: pd.DataFrame, path: str | Path, yi: str = "yi", vi: str | None = None,
                 sei: str | None = None, by: Sequence[str] = ()) -> pd.DataFrame:
    """The frame to pool: the ``by`` columns as read, ``yi`` and the variance as floats.

    With ``sei`` the variance column is named ``sei`` and holds sei²; otherwise it is ``vi``
    (default ``"vi"``). Rows with a missing yi or variance stay (``meta_batch`` drops and
    counts them).

    Raises
    ------
    TableError
        One problem per unknown column (listing the columns there are), per cell that is not
        a number, and, in rows that will be pooled, per infinite value and per variance or
        standard error <= 0; sorted by row.
    """
    path = Path(path)
    var = sei if sei is not None else (vi or "vi")
    roles = [("--yi", yi), ("--sei" if sei is not None else "--vi", var)]
    roles += [("--by", c) for c in by]
    unknown = [f"{path}: no column {col!r} ({opt}); the columns are "
               f"{_columns_text(frame.columns)}" for opt, col in roles if col not in frame.columns]
    if unknown:
        raise TableError(unknown)
    problems: list[tuple[int, str]] = []
    y, y_text = _values(frame, yi, path, problems)
    v, v_text = _values(frame, var, path, problems)
    used = ~(np.isnan(y) | np.isnan(v))
    for col, a, text in ((yi, y, y_text), (var, v, v_text)):
        for i in np.flatnonzero(used & np.isinf(a)):
            problems.append((int(i) + 1, f"{path}: row {i + 1}, column {col}: "
                                         f"{_shown(a, text, i)} is not finite"))
    what = "a standard error" if sei is not None else "a sampling variance"
    for i in np.flatnonzero(used & ~np.isinf(v) & (v <= 0)):
        problems.append((int(i) + 1, f"{path}: row {i + 1}, column {var}: "
                                     f"{_shown(v, v_text, i)} must be > 0 ({what})"))
    if problems:
        raise TableError([p for _, p in sorted(problems, key=lambda t: t[0])])
    out = frame[list(dict.fromkeys(by))].copy() if by else pd.DataFrame(index=frame.index)
    out[yi] = y
    out[var] = v * v if sei is not None else v
    return out


def to_bytes(frame: pd.DataFrame, fmt: str) -> bytes:
    """The table serialised as ``"csv"``, ``"tsv"`` (floats to the last bit, so that reading
    it back gives the same numbers) or ``"parquet"``."""
    if fmt == "parquet":
        buf = io.BytesIO()
        frame.to_parquet(buf, index=False)
        return buf.getvalue()
    return frame.to_csv(index=False, sep="\t" if fmt == "tsv" else ",",
                        lineterminator="\n").encode("utf-8")
