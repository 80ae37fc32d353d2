"""What changed between two versions of a review, read from their :class:`ReviewResults`.

:func:`diff_reviews` compares two computed reviews (or two directories, computed first): the
records added, removed and edited (with the changed fields), the pooled estimates of the
synthesis and of the planned analyses before and after, and the levels of evidence and
conclusions that changed. Nothing is recomputed here: both sides are read from their results.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .formatting import count, is_missing, number
from .results import ReviewResults, run_review

__all__ = ["diff_reviews", "ReviewDiff"]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


@dataclass(frozen=True)
class ReviewDiff:
    """What changed between two versions of a review.

    Attributes
    ----------
    records : DataFrame
        One row per record added, removed or edited: ``record``, ``kind``, ``change``,
        ``file``, ``n_fields`` (edited fields).
    fields : DataFrame
        One row per edited field: ``record``, ``field`` (dotted path), ``old``, ``new``.
    pooled : DataFrame
        Pooled groups whose status, k or estimate changed: group keys, ``status_old``,
        ``status_new``, ``k_old``, ``k_new``, ``estimate_old``, ``estimate_new``, ``ci_*``.
    levels : DataFrame
        Cells whose level (or level with unconfirmed studies) changed, with rule ids.
    conclusions : DataFrame
        Conclusions added, removed or reworded: ``injury``, ``strategy``, ``change``,
        ``level_old``, ``level_new``, ``statement_old``, ``statement_new``.
    old, new : str
        The two directories.
    """

    records: pd.DataFrame
    fields: pd.DataFrame
    pooled: pd.DataFrame
    levels: pd.DataFrame
    conclusions: pd.DataFrame
    analyses: pd.DataFrame
    old: str
    new: str
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def empty(self) -> bool:
        return all(len(getattr(self, n)) == 0 for n in
                   ("records", "pooled", "levels", "conclusions", "analyses"))

    def to_frames(self) -> dict[str, pd.DataFrame]:
        return {"records": self.records, "fields": self.fields, "pooled": self.pooled,
                "levels": self.levels, "conclusions": self.conclusions,
                "analyses": self.analyses}

    def to_text(self, max_fields: int = 20) -> str:
        """A plain-text report of the changes."""
        out = [f"Changes from {self.old} to {self.new}"]
        if self.empty:
            return out[0] + ": none.\n"
        out.append("")
        out.append(f"Records ({len(self.records)} changed)")
        for r in self.records.itertuples():
            extra = f", {r.n_fields} field(s)" if r.change == "edited" else ""
            out.append(f"  {r.change:8s} {r.kind:12s} {r.record}{extra}")
            if r.change == "edited":
                fs = self.fields[self.fields["record"] == r.record]
                for f in fs.head(max_fields).itertuples():
                    out.append(f"           {f.field}: {f.old!r} -> {f.new!r}")
                if len(fs) > max_fields:
                    out.append(f"           ... and {len(fs) - max_fields} more")
        out.append("")
        out.append(f"Pooled estimates ({len(self.pooled)} groups changed)")
        for p in self.pooled.to_dict("records"):
            keys = " x ".join(str(p[k]) for k in ("injury", "strategy", "outcome_kind")
                              if k in p)
            out.append(f"  {keys}: {p['status_old']} (k={p['k_old']}, "
                       f"{_num(p['estimate_old'])}) -> {p['status_new']} (k={p['k_new']}, "
                       f"{_num(p['estimate_new'])})")
        out.append("")
        out.append(f"Levels of evidence ({len(self.levels)} changed)")
        for lv in self.levels.to_dict("records"):
            out.append(f"  {lv['injury']} x {lv['strategy'] or 'any strategy'}: "
                       f"{lv['level_old']} [{lv['rule_id_old']}] -> {lv['level_new']} "
                       f"[{lv['rule_id_new']}]")
        out.append("")
        out.append(f"Conclusions ({len(self.conclusions)} changed)")
        for c in self.conclusions.to_dict("records"):
            out.append(f"  {c['change']}: {c['injury']} x {c['strategy'] or 'any strategy'}")
            if c["statement_old"]:
                out.append(f"    before: {c['statement_old']}")
            if c["statement_new"]:
                out.append(f"    after:  {c['statement_new']}")
        out.append("")
        out.append(f"Planned analyses ({len(self.analyses)} changed)")
        for r in self.analyses.to_dict("records"):
            out.append(f"  {r['analysis']}: k={count(r['k_old'], 'plain')} {_num(r['estimate_old'])} "
                       f"-> k={count(r['k_new'], 'plain')} {_num(r['estimate_new'])} (analysis scale); "
                       f"tau2 {_num(r['tau2_old'])} -> {_num(r['tau2_new'])}")
        for n in self.notes:
            out.append(f"Note: {n}")
        return "\n".join(out) + "\n"


def _num(x: Any) -> str:
    return "no estimate" if is_missing(x) else number(x, 3, "plain")


_POOL_KEYS = ["injury", "strategy", "outcome_kind"]
_POOL_COLS = ["status", "k", "estimate", "ci_low", "ci_high"]
_LEVEL_COLS = ["injury", "strategy", "clinical_level", "rule_id", "level_with_unconfirmed",
               "explanation"]
_CONCL_COLS = ["injury", "strategy", "clinical_level", "rule_id", "statement"]


def _part(results: ReviewResults, name: str, cols: list[str]) -> pd.DataFrame:
    t = getattr(results, name)
    return t.to_frame()[cols] if t is not None else pd.DataFrame(columns=cols)


def _analyses(results: ReviewResults) -> pd.DataFrame:
    """One row per planned analysis: its pooled estimate (analysis scale), k and τ²."""
    rows = []
    for a in results.analyses:
        p = a.pooled
        rows.append({"analysis": a.spec.id, "title": a.spec.title, "measure": a.spec.measure,
                     "k": p.k if p is not None else 0,
                     "estimate": p.estimate if p is not None else np.nan,
                     "ci_low": p.ci_low if p is not None else np.nan,
                     "ci_high": p.ci_high if p is not None else np.nan,
                     "tau2": p.tau2 if p is not None else np.nan})
    return pd.DataFrame(rows, columns=["analysis", "title", "measure", "k", "estimate",
                                       "ci_low", "ci_high", "tau2"])


def _changed(a: pd.Series, b: pd.Series, tolerance: float) -> np.ndarray:
    x, y = a.to_numpy(float), b.to_numpy(float)
    return ~((np.isnan(x) & np.isnan(y)) | (np.abs(x - y) <= tolerance))


def diff_reviews(old: ReviewResults | str | Path, new: ReviewResults | str | Path,
                 tolerance: float = 1e-10) -> ReviewDiff:
    """Compare two computed versions of a review.

    Parameters
    ----------
    old, new : ReviewResults or review directories
        From :func:`evidence.run_review`; a directory is computed with it first.
    tolerance : float
        Absolute change below which an estimate counts as unchanged (floating-point noise).

    Returns
    -------
    ReviewDiff

    Examples
    --------
    >>> d = diff_reviews("studies-2016", "studies")        # doctest: +SKIP
    >>> print(d.to_text())                                  # doctest: +SKIP
    """
    ro_res = old if isinstance(old, ReviewResults) else run_review(old)
    rn_res = new if isinstance(new, ReviewResults) else run_review(new)
    ro, rn = _records(ro_res), _records(rn_res)
    po = _part(ro_res, "pooled", _POOL_KEYS + _POOL_COLS)
    pn = _part(rn_res, "pooled", _POOL_KEYS + _POOL_COLS)
    mo = _part(ro_res, "matrix", _LEVEL_COLS)
    mn = _part(rn_res, "matrix", _LEVEL_COLS)
    co = _part(ro_res, "conclusions", _CONCL_COLS)
    cn = _part(rn_res, "conclusions", _CONCL_COLS)
    rec_rows, field_rows = [], []
    for rid in sorted(set(ro) | set(rn)):
        if rid not in ro:
            rec_rows.append({"record": rid, "kind": rn[rid][0], "change": "added",
                             "file": rn[rid][1], "n_fields": 0})
        elif rid not in rn:
            rec_rows.append({"record": rid, "kind": ro[rid][0], "change": "removed",
                             "file": ro[rid][1], "n_fields": 0})
        else:
            fo, fn = ro[rid][2], rn[rid][2]
            changed = [k for k in sorted(set(fo) | set(fn))
                       if not _same(fo.get(k), fn.get(k))]
            if changed:
                rec_rows.append({"record": rid, "kind": rn[rid][0], "change": "edited",
                                 "file": rn[rid][1], "n_fields": len(changed)})
                field_rows += [{"record": rid, "field": k, "old": fo.get(k), "new": fn.get(k)}
                               for k in changed]
    records = pd.DataFrame(rec_rows, columns=["record", "kind", "change", "file", "n_fields"])
    fields = pd.DataFrame(field_rows, columns=["record", "field", "old", "new"])

    keys = ["injury", "strategy", "outcome_kind"]
    cols = ["status", "k", "estimate", "ci_low", "ci_high"]
    p = po[keys + cols].merge(pn[keys + cols], on=keys, how="outer", suffixes=("_old", "_new"))
    est_changed = _changed(p["estimate_old"], p["estimate_new"], tolerance)
    p_changed = (p["status_old"].astype(object) != p["status_new"].astype(object)) | \
        (p["k_old"].fillna(-1) != p["k_new"].fillna(-1)) | est_changed
    pooled = p[p_changed].reset_index(drop=True)

    lk = ["injury", "strategy"]
    lc = ["level", "rule_id", "level_with_unconfirmed", "explanation"]
    mo_ = mo.rename(columns={"clinical_level": "level"})
    mn_ = mn.rename(columns={"clinical_level": "level"})
    lv = mo_[lk + lc].assign(strategy=mo_["strategy"].fillna("*")).merge(
        mn_[lk + lc].assign(strategy=mn_["strategy"].fillna("*")), on=lk, how="outer",
        suffixes=("_old", "_new"))
    changed = (lv["level_old"].astype(object) != lv["level_new"].astype(object)) | \
        (lv["level_with_unconfirmed_old"].astype(object)
         != lv["level_with_unconfirmed_new"].astype(object))
    levels = lv[changed].copy()
    levels["strategy"] = levels["strategy"].where(levels["strategy"] != "*", None)
    levels = levels.reset_index(drop=True)

    cc = ["clinical_level", "rule_id", "statement"]
    c = co[lk + cc].assign(strategy=co["strategy"].fillna("*")).merge(
        cn[lk + cc].assign(strategy=cn["strategy"].fillna("*")), on=lk, how="outer",
        suffixes=("_old", "_new"), indicator=True)
    c["change"] = np.select([c["_merge"] == "right_only", c["_merge"] == "left_only",
                             c["statement_old"] != c["statement_new"]],
                            ["added", "removed", "reworded"], "same")
    c = c[c["change"] != "same"].rename(columns={"clinical_level_old": "level_old",
                                                 "clinical_level_new": "level_new"})
    c["strategy"] = c["strategy"].where(c["strategy"] != "*", None)
    for col in ("statement_old", "statement_new"):
        c[col] = c[col].astype(object).where(c[col].notna(), None)
    concl = c[lk + ["change", "level_old", "level_new", "rule_id_old", "rule_id_new",
                    "statement_old", "statement_new"]].reset_index(drop=True)
    ao, an = _analyses(ro_res), _analyses(rn_res)
    a = ao.merge(an, on="analysis", how="outer", suffixes=("_old", "_new"))
    a_changed = (a["k_old"].fillna(-1) != a["k_new"].fillna(-1)).to_numpy() | \
        _changed(a["estimate_old"], a["estimate_new"], tolerance) | \
        _changed(a["tau2_old"], a["tau2_new"], tolerance)
    analyses = a[a_changed].reset_index(drop=True)
    return ReviewDiff(records=records, fields=fields, pooled=pooled, levels=levels,
                      conclusions=concl, analyses=analyses, old=ro_res.directory,
                      new=rn_res.directory)


def _records(results: ReviewResults) -> dict[str, tuple[str, str | None, dict]]:
    recs: dict[str, tuple[str, str | None, dict]] = {}
    for r in results.records.records():
        kind, file, fields_ = recs.get(r["record"], (r["kind"], r["file"], {}))
        fields_[r["field"]] = r["value"]
        recs[r["record"]] = (kind, file, fields_)
    return recs
