"""Releases of a living review: ``evidence release DIR --version V``.

A release is the review's supplement, rendered by :mod:`evidence.report` with a "What's New"
section, frozen in ``OUT/versions/V/`` beside a ``release.json`` that records what it is made
of (the content hash of the records, templates and software, the studies with a hash of each
record, per planned analysis k, estimate, CI, τ², I² and certainty). Earlier versions stay as
they were; a version is never overwritten with other content; releasing again with nothing
changed writes nothing.

Three layers, each usable on its own:

- :func:`release_summary` (pure): the numbers of one :class:`~evidence.results.ReviewResults`
  that a release records;
- :func:`compare_summaries` (pure) and :func:`whats_new` (the same on two ReviewResults):
  what changed, each finding marked changed or unchanged by the rules the review set in
  advance (``living: {rules: [...]}`` in review.yaml, :data:`LIVING_RULES`);
- :func:`sequential_summary` (pure) and :func:`sequential_context`: the trial sequential
  analysis of each ``living: sequential`` plan across the recorded releases (a sensitivity
  analysis guarding against repeated looks; the numbers from :mod:`evidence.meta.sequential`);
- :func:`release_reviews`: reads the previous release, renders through
  :func:`evidence.report.render_report` and writes through
  :func:`evidence.report.write_reports` (one generation, under the output lock).

Heterogeneity classes follow the bands of the Cochrane Handbook (section 10.10.2: 0–40% might
not be important, 30–60% moderate, 50–90% substantial, 75–100% considerable). The bands
overlap; here each I² belongs to one class, a band starting where the next one's lower bound
lies: below 30% might not be important, 30% to below 50% moderate, 50% to below 75%
substantial, 75% and above considerable (:data:`HETEROGENEITY_CLASSES`).

References
----------
Deeks JJ, Higgins JPT, Altman DG (editors). Chapter 10: Analysing data and undertaking
meta-analyses, section 10.10.2. In: Higgins JPT et al. (editors). Cochrane Handbook for
Systematic Reviews of Interventions, version 6.4, 2023.

Cochrane. Guidance for the production and publication of Cochrane living systematic reviews,
version December 2019.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from .formatting import count, is_missing, number
from .meta.transform import back_transform
from .records.schema import LIVING_DEFAULT_RULES, LIVING_RULES
from .vocabulary import level_percent

__all__ = ["RELEASE_FILE", "RELEASE_FORMAT", "HETEROGENEITY_CLASSES", "LIVING_RULES",
           "LIVING_DEFAULT_RULES", "ReleaseError", "ReleaseOutcome", "heterogeneity_class",
           "release_summary", "compare_summaries", "whats_new", "whats_new_context",
           "read_releases", "check_version", "check_search_date", "history_rows",
           "completion_passed", "ongoing_studies", "overdue_ongoing",
           "sequential_summary", "sequential_context", "release_reviews"]

#: The file of a release, inside ``OUT/versions/V/``.
RELEASE_FILE = "release.json"
RELEASE_FORMAT = "evidence-release/1"
VERSIONS = "versions"

#: (lower bound inclusive, upper bound exclusive, class) of I² in percent; 100% is
#: "considerable". A non-overlapping reading of the Cochrane Handbook's bands (10.10.2).
HETEROGENEITY_CLASSES = ((0.0, 30.0, "might not be important"), (30.0, 50.0, "moderate"),
                         (50.0, 75.0, "substantial"), (75.0, math.inf, "considerable"))
HETEROGENEITY_NOTE = ("Heterogeneity class by I² (Cochrane Handbook 10.10.2; its bands overlap "
                      "and are assigned here without overlap): below 30% might not be "
                      "important, 30% to below 50% moderate, 50% to below 75% substantial, "
                      "75% and above considerable.")

_VERSION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


class ReleaseError(Exception):
    """A release that cannot be made: ``code`` is the exit code the CLI uses (1 invalid
    input, 3 nothing could be written)."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def check_version(version: str) -> str:
    """The version name, when it is a plain folder name (letters, digits, ``. _ + -``)."""
    if not isinstance(version, str) or not _VERSION_RE.fullmatch(version) or ".." in version:
        raise ValueError(f"version {version!r} is not a plain name: use letters, digits and "
                         ". _ + - (at most 64 characters, starting with a letter or digit), "
                         "e.g. 1, 2.0 or 2026-12")
    return version


def check_search_date(text: str | None) -> str | None:
    """A search date as YYYY-MM-DD (a real calendar day), or None."""
    if text is None:
        return None
    try:
        if not _DATE_RE.fullmatch(text):
            raise ValueError
        datetime.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"search date {text!r} is not a date written YYYY-MM-DD, "
                         "e.g. 2026-11-30") from None
    return text


def heterogeneity_class(i2: float | None) -> str | None:
    """The class of I² (percent) by :data:`HETEROGENEITY_CLASSES`; None when I² is missing.

    >>> heterogeneity_class(60.0), heterogeneity_class(81.4), heterogeneity_class(None)
    ('substantial', 'considerable', None)
    """
    if is_missing(i2):
        return None
    v = float(i2)
    for low, high, name in HETEROGENEITY_CLASSES:
        if low <= v < high:
            return name
    return HETEROGENEITY_CLASSES[-1][2] if v >= 100 else None


def completion_passed(expected: str | None, today: datetime.date) -> bool:
    """Whether an expected completion (``YYYY-MM``: the end of that month; ``YYYY-MM-DD``)
    lies before ``today``.

    >>> completion_passed("2026-11", datetime.date(2026, 12, 1))
    True
    >>> completion_passed("2026-12", datetime.date(2026, 12, 31)), completion_passed(None,
    ...     datetime.date(2026, 12, 1))
    (False, False)
    """
    if not expected:
        return False
    if len(expected) == 7:
        y, m = int(expected[:4]), int(expected[5:7])
        last = (datetime.date(y + (m == 12), m % 12 + 1, 1) - datetime.timedelta(days=1))
        return today > last
    return today > datetime.date.fromisoformat(expected)


def ongoing_studies(review, today: datetime.date | None = None) -> list[dict[str, Any]]:
    """The ongoing (registered, not yet reported) studies of a review's ``review.yaml``
    (``review``: a :class:`evidence.records.schema.Review`), each with ``completion_passed``
    on ``today`` (default: today, UTC)."""
    today = today or datetime.datetime.now(datetime.timezone.utc).date()
    return [{**o.model_dump(), "completion_passed": completion_passed(o.expected_completion,
                                                                      today)}
            for o in getattr(review, "ongoing", ())]


def overdue_ongoing(review, today: datetime.date | None = None) -> list[dict[str, Any]]:
    """The ongoing studies whose expected completion date has passed (what ``evidence
    validate`` reminds of)."""
    return [o for o in ongoing_studies(review, today) if o["completion_passed"]]


# ----------------------------------------------------------------------------- summaries


def _float(x: Any) -> float | None:
    return None if is_missing(x) else float(x)


def _hash_fields(fields: Mapping[str, Any]) -> str:
    text = json.dumps(sorted(fields.items()), sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _excludes_null(low: float | None, high: float | None) -> bool | None:
    """Whether a CI on the analysis scale excludes the null effect (0: a difference, or the
    log of a ratio)."""
    if low is None or high is None:
        return None
    return bool(low > 0 or high < 0)


def _accrued(a) -> dict[str, Any]:
    """Participants of the pooled studies of a two-arm analysis, and the comparator arm's
    events and participants (what a sequential analysis accrues; None where a study lacks
    them)."""
    eff = a.effects
    used = eff[eff["computable"].astype(bool)] if "computable" in eff else eff
    out: dict[str, Any] = {"participants": None, "comparator": None, "se_fixed": None}
    if "vi" in used and len(used) and used["vi"].notna().all():
        # the fixed-effect SE of the same studies: a sequential analysis's diversity D²
        out["se_fixed"] = float(1.0 / np.sqrt(np.sum(1.0 / used["vi"].to_numpy(float))))
    if "n" in used and len(used) and used["n"].notna().all():
        out["participants"] = int(used["n"].sum())
    arm = a.spec.arms[1]
    ev_col, tot_col = f"{arm}_events", f"{arm}_total"
    if (ev_col in used and tot_col in used and len(used)
            and used[[ev_col, tot_col]].notna().all().all()):
        out["comparator"] = {"events": int(used[ev_col].sum()),
                             "participants": int(used[tot_col].sum())}
    return out


def release_summary(results) -> dict[str, Any]:
    """What a release records of one computed review (pure: reads ``results`` only).

    Returns a JSON-ready mapping: ``records`` (every record with its kind and a SHA-256 of
    its fields), ``studies`` (clinical studies: id, label, year, hash), ``analyses`` (per
    planned analysis: k, estimate, CI and their display-scale values, τ², I², heterogeneity
    class, whether the CI excludes the null, certainty) and ``conclusions`` (per cell of a
    synthesis: level and statement).
    """
    fields: dict[str, dict[str, Any]] = {}
    kinds: dict[str, str] = {}
    for r in results.records.records():
        fields.setdefault(r["record"], {})[r["field"]] = r["value"]
        kinds[r["record"]] = r["kind"]
    records = [{"id": rid, "kind": kinds[rid], "hash": _hash_fields(f)}
               for rid, f in sorted(fields.items())]
    by_id = {r["id"]: r for r in records}
    studies = []
    for s in results.frames["studies"].records():
        rec = by_id.get(s["study"], {})
        year = s.get("year")
        studies.append({"id": s["study"], "label": s["label"],
                        "year": None if is_missing(year) else int(year),
                        "hash": rec.get("hash")})
    sof = {r["analysis"]: r for r in results.sof.records()} if results.sof is not None else {}

    def finish(row: dict[str, Any], key: str, transform: str | None) -> dict[str, Any]:
        vals = [row["estimate"], row["ci_low"], row["ci_high"]]
        if transform and transform != "identity" and None not in vals:
            vals = [float(v) for v in back_transform(np.asarray(vals, float), transform)]
        row["display"] = {"estimate": vals[0], "ci_low": vals[1], "ci_high": vals[2]}
        row["ci_excludes_null"] = _excludes_null(row["ci_low"], row["ci_high"])
        row["heterogeneity"] = (heterogeneity_class(row["i2"])
                                if row["k"] > 1 and row["i2"] is not None else None)
        g = sof.get(key)
        cert = None if g is None else g.get("certainty")
        row["certainty"] = cert if isinstance(cert, str) and cert else None
        row["certainty_at_most"] = bool(g.get("upper_bound")) if g is not None else False
        return row

    analyses = []
    for a in results.analyses:
        p, s = a.pooled, a.spec
        row: dict[str, Any] = {"id": s.id, "title": s.title, "kind": "two-arm",
                               "measure": s.measure,
                               "effect_label": s.effect_label, "transform": s.transform,
                               "method": s.method, "test": s.test, "level": s.level,
                               "k": 0 if p is None else int(p.k), "estimate": None,
                               "se": None, "ci_low": None, "ci_high": None, "tau2": None,
                               "i2": None, "participants": None, "comparator": None,
                               "se_fixed": None}
        if p is not None:
            row.update(estimate=_float(p.estimate), se=_float(p.se), ci_low=_float(p.ci_low),
                       ci_high=_float(p.ci_high), tau2=_float(p.tau2), i2=_float(p.i2))
            row.update(_accrued(a))
        row["notes"] = list(a.notes)
        analyses.append(finish(row, s.id, s.transform))
    for m in getattr(results, "multilevel", ()):
        s, fit, rb = m.spec, m.fit, m.robust
        row = {"id": s.id, "title": s.title, "kind": "multilevel", "measure": s.measure,
               "effect_label": s.effect_label, "transform": s.transform, "method": s.method,
               "test": s.test, "level": s.level, "k": 0 if fit is None else int(fit.k),
               "studies": m.n_studies, "estimate": None, "se": None, "ci_low": None,
               "ci_high": None, "ci_basis": None, "tau2": None, "i2": None, "sigma2": None,
               "participants": None, "comparator": None, "notes": list(m.notes)}
        if fit is not None:
            inf = rb if rb is not None else fit
            row.update(estimate=_float(fit.estimate), se=_float(inf.se),
                       ci_low=_float(inf.ci_low), ci_high=_float(inf.ci_high),
                       ci_basis="CR2 cluster-robust" if rb is not None else "model-based",
                       sigma2={n: _float(v) for n, v in zip(fit.sigma2_names, fit.sigma2)})
        analyses.append(finish(row, s.id, s.transform))
    if results.pooled is not None:
        frames = results.frames
        names_i = {r["injury"]: r["name"] for r in frames["injuries"].records()}
        names_s = {r["strategy"]: r["name"] for r in frames["strategies"].records()}
        level = results.options.level
        for g in results.pooled.records():
            if is_missing(g.get("estimate")):
                continue  # not poolable: its reason is in the supplement, not a finding
            key = f"{g['injury']}/{g['strategy']}/{g['outcome_kind']}"
            title = (f"{names_i.get(g['injury'], g['injury'])}: "
                     f"{names_s.get(g['strategy'], g['strategy'])}, {g['outcome_kind']} "
                     "(pre-post)")
            row = {"id": key, "title": title, "kind": "pre-post", "measure": g["measure"],
                   "effect_label": None, "transform": None, "method": g.get("method"),
                   "test": results.options.test, "level": level, "k": int(g["k"]),
                   "estimate": _float(g["estimate"]), "se": _float(g["se"]),
                   "ci_low": _float(g["ci_low"]), "ci_high": _float(g["ci_high"]),
                   "tau2": _float(g.get("tau2")), "i2": _float(g.get("i2")),
                   "participants": None, "comparator": None,
                   "assumption": g["assumption"] if isinstance(g.get("assumption"), str)
                   else None, "notes": []}
            analyses.append(finish(row, key, None))
    conclusions = []
    if results.conclusions is not None:
        for c in results.conclusions.records():
            conclusions.append({"injury": c["injury"], "strategy": c.get("strategy"),
                                "name": " × ".join(str(x) for x in (
                                    c.get("injury_name") or c["injury"],
                                    c.get("strategy_name") or c.get("strategy")) if x),
                                "level": c.get("clinical_level"),
                                "statement": c.get("statement")})
    return {"review": {"id": results.review_id, "title": results.title},
            "records": records, "studies": studies, "analyses": analyses,
            "conclusions": conclusions}


# ---------------------------------------------------------------------------- comparison


def _rules(rules: Sequence[str] | None) -> list[str]:
    rules = list(LIVING_DEFAULT_RULES if rules is None else rules)
    bad = [r for r in rules if r not in LIVING_RULES]
    if bad:
        raise ValueError(f"rule {bad[0]!r} is not one of {', '.join(LIVING_RULES)}")
    return rules


def _sign(x: float | None) -> int | None:
    return None if x is None else (0 if x == 0 else (1 if x > 0 else -1))


def _compare_analysis(old: dict | None, new: dict | None, rules: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": (new or old)["id"], "title": (new or old)["title"],
                           "old": old, "new": new, "fired": [], "checks": {}}
    if old is None or new is None:
        out["status"] = "new" if old is None else "removed"
        return out
    out["status"] = "compared"
    tests = {
        "ci_excludes_null_changed": (old["ci_excludes_null"], new["ci_excludes_null"]),
        "direction_changed": (_sign(old["estimate"]), _sign(new["estimate"])),
        "heterogeneity_class_changed": (old["heterogeneity"], new["heterogeneity"]),
        "certainty_changed": (old["certainty"], new["certainty"]),
    }
    for rule, (a, b) in tests.items():
        if rule not in rules:
            continue
        if a is None or b is None:
            # a side without a value (not pooled, k = 1, not assessed): compared only when
            # both lack it (then unchanged); one missing counts as a change of the finding
            fired = (a is None) != (b is None)
        else:
            fired = a != b
        out["checks"][rule] = {"old": a, "new": b, "fired": bool(fired)}
        if fired:
            out["fired"].append(rule)
    return out


def compare_summaries(old: Mapping[str, Any] | None, new: Mapping[str, Any],
                      rules: Sequence[str] | None = None) -> dict[str, Any]:
    """What changed from one release summary to the next (pure; see :func:`release_summary`).

    Parameters
    ----------
    old : mapping or None
        The previous release's summary (its ``release.json`` holds one); None for a first
        release.
    new : mapping
        This release's summary.
    rules : sequence of str, optional
        Ids of :data:`LIVING_RULES` set in advance (default :data:`LIVING_DEFAULT_RULES`).

    Returns
    -------
    dict
        ``first``; ``studies_added``, ``studies_removed``, ``studies_corrected`` (id and
        label; corrected = the same id with other record content); ``records_changed`` (other
        records: id, kind, change); ``analyses`` (per planned analysis the old and new values
        and each rule's check); ``conclusions`` (levels that moved); ``fired`` (every rule
        that fired, with where); ``changed`` (any rule fired).
    """
    rules = _rules(rules)
    out: dict[str, Any] = {"first": old is None, "rules": rules, "studies_added": [],
                           "studies_removed": [], "studies_corrected": [],
                           "records_changed": [], "analyses": [], "conclusions": [],
                           "ongoing_added": [], "ongoing_removed": [], "fired": [],
                           "changed": False}
    if old is None:
        out["analyses"] = [{"id": a["id"], "title": a["title"], "old": None, "new": a,
                            "status": "first", "fired": [], "checks": {}}
                           for a in new["analyses"]]
        return out
    os_ = {s["id"]: s for s in old["studies"]}
    ns_ = {s["id"]: s for s in new["studies"]}
    pick = (lambda s: {"id": s["id"], "label": s["label"], "year": s.get("year")})
    out["studies_added"] = [pick(ns_[i]) for i in ns_ if i not in os_]
    out["studies_removed"] = [pick(os_[i]) for i in os_ if i not in ns_]
    out["studies_corrected"] = [pick(ns_[i]) for i in ns_
                                if i in os_ and os_[i]["hash"] != ns_[i]["hash"]]
    orec = {r["id"]: r for r in old["records"] if r["id"] not in os_}
    nrec = {r["id"]: r for r in new["records"] if r["id"] not in ns_}
    for rid in sorted(set(orec) | set(nrec)):
        a, b = orec.get(rid), nrec.get(rid)
        change = ("added" if a is None else "removed" if b is None
                  else "edited" if a["hash"] != b["hash"] else None)
        if change:
            out["records_changed"].append({"id": rid, "kind": (b or a)["kind"],
                                           "change": change})
    oa = {a["id"]: a for a in old["analyses"]}
    na = {a["id"]: a for a in new["analyses"]}
    for aid in list(na) + [i for i in oa if i not in na]:
        c = _compare_analysis(oa.get(aid), na.get(aid), rules)
        out["analyses"].append(c)
        out["fired"] += [{"rule": r, "where": c["title"], "old": c["checks"][r]["old"],
                          "new": c["checks"][r]["new"]} for r in c["fired"]]
    key = (lambda c: (c["injury"], c.get("strategy") or ""))
    oc = {key(c): c for c in old.get("conclusions", [])}
    nc = {key(c): c for c in new.get("conclusions", [])}
    for k in list(nc) + [k for k in oc if k not in nc]:
        a, b = oc.get(k), nc.get(k)
        moved = (a is None) or (b is None) or a["level"] != b["level"]
        reworded = a is not None and b is not None and a["statement"] != b["statement"]
        if not (moved or reworded):
            continue
        fired = moved and "level_of_evidence_changed" in rules
        row = {"injury": k[0], "strategy": k[1] or None,
               "name": (b or a).get("name") or " × ".join(x for x in k if x),
               "level_old": a and a["level"], "level_new": b and b["level"],
               "statement_old": a and a["statement"], "statement_new": b and b["statement"],
               "fired": ["level_of_evidence_changed"] if fired else []}
        out["conclusions"].append(row)
        if fired:
            out["fired"].append({"rule": "level_of_evidence_changed",
                                 "where": row["name"],
                                 "old": row["level_old"], "new": row["level_new"]})
    oo = {o["id"]: o for o in old.get("ongoing", [])}
    no = {o["id"]: o for o in new.get("ongoing", [])}
    out["ongoing_added"] = [no[i]["registry_id"] for i in no if i not in oo]
    out["ongoing_removed"] = [oo[i]["registry_id"] for i in oo if i not in no]
    out["changed"] = bool(out["fired"])
    return out


def whats_new(old, new, rules: Sequence[str] | None = None) -> dict[str, Any]:
    """:func:`compare_summaries` of two :class:`~evidence.results.ReviewResults` (pure)."""
    return compare_summaries(None if old is None else release_summary(old),
                             release_summary(new), rules)


# ------------------------------------------------------------------------- the context


_CHECK_TEXT = {
    "ci_excludes_null_changed": "CI excludes no effect",
    "direction_changed": "direction of the estimate",
    "heterogeneity_class_changed": "heterogeneity class",
    "certainty_changed": "certainty",
    "level_of_evidence_changed": "level of evidence",
}


def _yes_no(v: Any) -> str:
    return "—" if v is None else ("yes" if v is True else "no" if v is False else str(v))


def _sign_text(v: Any) -> str:
    return {None: "—", 0: "no effect", 1: "positive", -1: "negative"}[v]


def _est(a: dict | None) -> str:
    if a is None or a["estimate"] is None:
        return "not pooled"
    d = a["display"]
    return f"{number(d['estimate'], 2)} [{number(d['ci_low'], 2)}, {number(d['ci_high'], 2)}]"


def _certainty(a: dict | None) -> str:
    if a is None or a["certainty"] is None:
        return "not assessed"
    return ("at most " if a["certainty_at_most"] else "") + a["certainty"]


def _check_text(rule: str, value: Any) -> str:
    if rule == "direction_changed":
        return _sign_text(value)
    if rule == "ci_excludes_null_changed":
        return _yes_no(value)
    if rule == "certainty_changed" and value is None:
        return "not assessed"
    if rule == "heterogeneity_class_changed" and value is None:
        return "not estimable"
    if rule == "level_of_evidence_changed" and value is None:
        return "no conclusion"
    return "—" if value is None else str(value)


def _verdict(c: dict, rules: Iterable[str], rows_rules: Iterable[str]) -> tuple[str, str]:
    """(status, what the rule compared) of one row judged by ``rows_rules``."""
    if c["status"] != "compared" or not rows_rules:
        return "", ""
    active = [r for r in rows_rules if r in rules]
    if not active:
        return "not judged", "no rule set in advance"
    texts = [f"{_CHECK_TEXT[r]}: {_check_text(r, c['checks'][r]['old'])} → "
             f"{_check_text(r, c['checks'][r]['new'])}" for r in active]
    fired = any(r in c["fired"] for r in active)
    return ("changed" if fired else "unchanged"), "; ".join(texts)


def whats_new_context(comparison: Mapping[str, Any], release: Mapping[str, Any],
                      previous: Mapping[str, Any] | None,
                      ongoing: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The ``whats_new`` context the templates read: every value already text.

    ``release`` and ``previous`` are the release metadata (version, search and release date,
    content hash) of this release and the one before (None for a first release);
    ``ongoing`` the review's ongoing studies (:func:`ongoing_studies` on the release date).
    """
    rules = comparison["rules"]
    analyses = []
    for c in comparison["analyses"]:
        a_old, a_new = c["old"], c["new"]
        ref = a_new or a_old
        label = ref["effect_label"] or ref["measure"]
        scale = (f"log {label[0].lower() + label[1:]}" if ref["transform"] == "exp"
                 else f"{ref['measure']}, analysis scale")

        def row(name, get, judged_by=()):
            status, rule = _verdict(c, rules, judged_by)
            return {"name": name, "old": get(a_old) if a_old is not None else "—",
                    "new": get(a_new) if a_new is not None else "—",
                    "status": status, "rule": rule}

        def num(key, digits, suffix=""):
            return lambda a: ("—" if a[key] is None else number(a[key], digits) + suffix)

        het = ("heterogeneity_class_changed",)
        kind = ref.get("kind", "two-arm")
        ci_name = f"{label} ({level_percent(ref['level'])} CI"
        ci_name += f", {ref['ci_basis']})" if ref.get("ci_basis") else ")"
        if kind == "multilevel":
            rows = [row("Effects (k)", lambda a: count(a["k"])),
                    row("Studies", lambda a: count(a.get("studies"))),
                    row(ci_name, _est, ("ci_excludes_null_changed", "direction_changed")),
                    row(f"Estimate ({scale})", num("estimate", 4))]
            for name in (ref.get("sigma2") or {}):
                rows.append(row(f"σ² ({name})", lambda a, n=name: (
                    "—" if not a.get("sigma2") or a["sigma2"].get(n) is None
                    else number(a["sigma2"][n], 4))))
            rows.append(row("Certainty (GRADE)", lambda a: "not graded (multilevel model)"))
        else:
            rows = [row("Studies (k)", lambda a: count(a["k"])),
                    row(ci_name, _est, ("ci_excludes_null_changed", "direction_changed")),
                    row(f"Estimate ({scale})", num("estimate", 4)),
                    row("τ²", num("tau2", 4), het),
                    row("I²", num("i2", 2, "%"), het),
                    row("Heterogeneity class",
                        lambda a: a["heterogeneity"] or "not estimable", het),
                    row("Certainty (GRADE)", _certainty, ("certainty_changed",))]
            for r in rows[3:5]:  # τ² and I² are judged through their class
                if r["rule"] and r["status"] != "not judged":
                    r["rule"] = "judged through the heterogeneity class"
                    r["status"] = f"class {r['status']}"
        analyses.append({"id": c["id"], "title": c["title"], "status": c["status"],
                         "kind": kind, "rows": rows, "fired": list(c["fired"]),
                         "assumption": ref.get("assumption")})
    label = (lambda s: s["label"] + ("" if s.get("year") is None or str(s["year"]) in
                                     s["label"] else f" ({s['year']})"))
    fired = [{"rule": f["rule"], "description": LIVING_RULES[f["rule"]], "where": f["where"],
              "old": _check_text(f["rule"], f["old"]), "new": _check_text(f["rule"], f["new"])}
             for f in comparison["fired"]]
    fired_by: dict[str, list[str]] = {}
    for f in fired:
        fired_by.setdefault(f["where"], []).append(
            f"{_CHECK_TEXT[f['rule']]} {f['old']} → {f['new']}")
    return {
        "first": comparison["first"],
        "version": release["version"], "release_date": release["release_date"],
        "search_date": release.get("search_date") or "not given",
        "hash": release["content_hash"],
        "previous_version": previous and previous["version"],
        "previous_release_date": previous and previous["release_date"],
        "previous_search_date": previous and (previous.get("search_date") or "not given"),
        "added": [label(s) for s in comparison["studies_added"]],
        "removed": [label(s) for s in comparison["studies_removed"]],
        "corrected": [label(s) for s in comparison["studies_corrected"]],
        "records_changed": [f"{r['id']} ({r['kind']}, {r['change']})"
                            for r in comparison["records_changed"]],
        "analyses": analyses,
        "conclusions": [{"cell": c.get("name") or " × ".join(
                             x for x in (c["injury"], c["strategy"]) if x),
                         "old": c["level_old"] or "no conclusion",
                         "new": c["level_new"] or "no conclusion",
                         "statement_old": c["statement_old"],
                         "statement_new": c["statement_new"],
                         "status": "changed" if c["fired"] else
                         ("reworded" if c["level_old"] == c["level_new"] else "not judged")}
                        for c in comparison["conclusions"]],
        "rules": [{"id": r, "description": LIVING_RULES[r],
                   "fired": any(f["rule"] == r for f in comparison["fired"])}
                  for r in rules],
        "fired": fired,
        "fired_by": [{"where": k, "changes": v} for k, v in fired_by.items()],
        "changed": comparison["changed"],
        "heterogeneity_note": HETEROGENEITY_NOTE,
        "ongoing": [{"registry": o["registry"], "registry_id": o["registry_id"],
                     "title": o.get("title") or "—",
                     "planned_n": count(o.get("planned_n")) if o.get("planned_n") else
                     "not reported",
                     "expected_completion": o.get("expected_completion") or "not reported",
                     "passed": bool(o.get("completion_passed")), "source": o["source"],
                     "where": o.get("where"), "note": o.get("note")}
                    for o in ongoing],
        "ongoing_added": list(comparison.get("ongoing_added", [])),
        "ongoing_removed": list(comparison.get("ongoing_removed", [])),
    }


# ---------------------------------------------------------------- repeated looks (TSA)


def _plan_dict(plan) -> dict[str, Any]:
    return plan.model_dump() if hasattr(plan, "model_dump") else dict(plan)


def sequential_summary(plans: Sequence[Any], releases: Sequence[Mapping[str, Any]],
                       current: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A sequential analysis (trial sequential analysis) per plan of ``living: sequential``,
    across the earlier ``releases`` and this one (``current``: version and summary).

    Pure: reads the recorded summaries only. Each look is a release that recorded the
    analysis with an estimate and an SE (and, for information in participants, the
    participants of its pooled studies); a release without them is left out and named. The
    cumulative Z of a look is estimate / SE on the analysis scale of the random-effects
    model. The required information is sized from the plan (``control_risk`` given or
    observed in the comparator arms of this release, ``sd``, ``effect``, ``alpha``,
    ``power``) and, with ``heterogeneity: diversity`` and information in participants,
    divided by ``1 - D²`` with D² of this release. Where it cannot be computed the entry says
    why (``computed`` False, ``reason``) instead of a number.
    """
    from .errors import ArgumentError
    from .meta import sequential as sq

    out = []
    for plan in plans:
        pl = _plan_dict(plan)
        aid = pl["analysis"]
        entry: dict[str, Any] = {"analysis": aid, "plan": pl, "computed": False,
                                 "reason": None, "looks": [], "left_out": [],
                                 "references": list(sq.SEQUENTIAL_REFERENCES)}
        out.append(entry)
        now = next((a for a in current.get("analyses", []) if a["id"] == aid), None)
        if now is None or now.get("estimate") is None or now.get("se") is None:
            entry["title"] = aid if now is None else now["title"]
            entry["reason"] = (f"analysis {aid} has no pooled estimate in this release, so "
                               "there is no look to test")
            continue
        entry["title"] = now["title"]
        entry["measure"] = now["measure"]
        entry["effect_label"] = now.get("effect_label")
        participants = pl["information"] == "participants"
        for r in [*releases, current]:
            a = next((x for x in r.get("analyses", []) if x["id"] == aid), None)
            if a is None or a.get("estimate") is None or not a.get("se"):
                if a is not None:
                    entry["left_out"].append({"version": r["version"],
                                              "why": "no pooled estimate and SE recorded"})
                continue
            if participants and a.get("participants") is None:
                entry["left_out"].append({"version": r["version"],
                                          "why": "participants of the pooled studies not "
                                          "all recorded"})
                continue
            info = float(a["participants"]) if participants else 1.0 / float(a["se"]) ** 2
            entry["looks"].append({"version": r["version"], "k": a["k"],
                                   "information": info,
                                   "z": float(a["estimate"]) / float(a["se"])})
        info = [x["information"] for x in entry["looks"]]
        drop = next((i for i in range(1, len(info)) if info[i] <= info[i - 1]), None)
        if drop is not None:
            a, b = entry["looks"][drop - 1], entry["looks"][drop]
            what = "participants" if participants else "statistical information (1/SE²)"
            entry["reason"] = (f"the {what} did not grow from release {a['version']} "
                               f"({number(a['information'], 1)}) to release {b['version']} "
                               f"({number(b['information'], 1)}); a sequential analysis "
                               "needs information that grows from look to look")
            continue
        alpha, power, effect = pl["alpha"], pl["power"], pl["effect"]
        try:
            if participants:
                if pl.get("sd") is not None:
                    required = sq.ris_continuous(pl["sd"], effect, alpha, power)
                    entry["basis"] = f"SD {number(pl['sd'], 4)} ({pl['sd_source']})"
                else:
                    pc, basis = pl["control_risk"], None
                    if pc == "observed":
                        comp = now.get("comparator")
                        if not comp or not comp.get("participants"):
                            entry["reason"] = ("control risk 'observed' needs the comparator "
                                               "arms' events and participants, not recorded "
                                               "for every pooled study in this release")
                            continue
                        pc = comp["events"] / comp["participants"]
                        basis = (f"observed in the comparator arms of release "
                                 f"{current['version']}: {comp['events']}/"
                                 f"{comp['participants']}")
                    else:
                        basis = f"assumed ({pl['control_risk_source']})"
                    entry["control_risk"] = float(pc)
                    entry["basis"] = f"control risk {number(pc, 4)}, {basis}"
                    required = sq.ris_binary(float(pc), effect, now["measure"], alpha, power)
                entry["required_unadjusted"] = required
                if pl["heterogeneity"] == "diversity":
                    if now.get("se_fixed") is None:
                        entry["reason"] = ("diversity D² needs the fixed-effect SE of this "
                                           "release, not recorded")
                        continue
                    d2 = sq.diversity(float(now["se"]), float(now["se_fixed"]))
                    if d2 >= 1:
                        entry["reason"] = "diversity D² is 1: no information size is enough"
                        continue
                    entry["diversity"] = d2
                    required = required / (1.0 - d2)
            else:
                delta = math.log(effect) if now["transform"] == "exp" else effect
                required = sq.required_statistical_information(delta, alpha, power)
                entry["required_unadjusted"] = required
            res = sq.sequential_analysis([x["z"] for x in entry["looks"]], info, required,
                                         alpha, pl["spending"])
        except ArgumentError as exc:
            entry["reason"] = str(exc)
            continue
        for look, f, bnd, c in zip(entry["looks"], res.fractions, res.boundary, res.crossed):
            look.update(fraction=f, boundary=bnd, crossed=c)
        from scipy.special import ndtri

        entry.update(computed=True, required=required, status=res.status,
                     conventional=float(ndtri(1.0 - alpha / 2.0)),
                     first_crossed=(None if res.first_crossed is None
                                    else entry["looks"][res.first_crossed]["version"]),
                     reached_at=(None if res.reached_at is None
                                 else entry["looks"][res.reached_at]["version"]),
                     final_boundary=[b for b in res.boundary if b is not None][-1],
                     conclusion=res.conclusion, method=res.method)
    return out


_STATUS_TEXT = {"crossed": "boundary crossed", "reached": "required information reached",
                "neither": "neither boundary crossed nor information reached"}


def sequential_context(entries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The text the What's New templates show of :func:`sequential_summary`'s entries."""
    out = []
    for e in entries:
        pl = e["plan"]
        participants = pl["information"] == "participants"
        unit = "participants" if participants else "1/SE²"
        spend = "O'Brien-Fleming" if pl["spending"] == "obrien-fleming" else "Pocock"
        what = e.get("effect_label") or e.get("measure") or "an effect"
        plan = (f"to detect {what[:1].lower() + what[1:] if what[1:2].islower() else what} "
                f"{pl['effect']:g} with two-sided alpha {pl['alpha']:g} and power "
                f"{100 * pl['power']:g}%; Lan-DeMets {spend}-type alpha spending; "
                f"information in {unit}")
        c: dict[str, Any] = {"analysis": e["analysis"], "title": e["title"],
                             "computed": e["computed"], "reason": e.get("reason"),
                             "plan": plan, "why": pl["reason"],
                             "left_out": [f"release {x['version']} ({x['why']})"
                                          for x in e.get("left_out", [])],
                             "references": e["references"]}
        if e["computed"]:
            req = e["required"]
            size = f"{number(req, 1)} {unit}"
            if participants:
                size = f"{count(math.ceil(req))} participants"
                parts = [e.get("basis", "")]
                if e.get("diversity") is not None:
                    parts.append(f"diversity D² {number(100 * e['diversity'], 1)}%: "
                                 f"{count(math.ceil(e['required_unadjusted']))} / (1 − D²)")
                else:
                    parts.append("not adjusted for heterogeneity")
                c["basis"] = "; ".join(p for p in parts if p)
            else:
                c["basis"] = ("statistical information ((z(1 − α/2) + z(1 − β)) / δ)², δ on the "
                              "analysis scale; the random-effects SE already carries τ²")
            c.update(required=size, status=_STATUS_TEXT[e["status"]],
                     conclusion=e["conclusion"], method=e["method"],
                     final_boundary=number(e["final_boundary"], 3),
                     rows=[{"version": x["version"], "k": count(x["k"]),
                            "information": (count(int(x["information"])) if participants
                                            else number(x["information"], 1)),
                            "fraction": number(100 * x["fraction"], 1) + "%",
                            "z": number(x["z"], 3),
                            "boundary": ("± " + number(x["boundary"], 3)
                                         if x["boundary"] is not None and
                                         math.isfinite(x["boundary"]) else
                                         "none (past the required size)"
                                         if x["boundary"] is None else "∞"),
                            "crossed": "yes" if x["crossed"] else "no"}
                           for x in e["looks"]])
        out.append(c)
    return out


# ------------------------------------------------------------------------------ writing


def _dump(obj: Any) -> str:
    return json.dumps(obj, indent=1, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


def read_releases(target: str | Path) -> list[dict[str, Any]]:
    """The releases in ``target/versions/*/release.json``, in release order (``sequence``).

    Raises :class:`ReleaseError` when a version folder holds no readable release.json.
    """
    base = Path(target) / VERSIONS
    found = []
    if not base.is_dir():
        return found
    for d in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        f = d / RELEASE_FILE
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ReleaseError(f"{f}: not a readable release record ({exc}); a folder in "
                               f"{base} must hold the release.json its release wrote") from None
        if (not isinstance(data, dict) or data.get("format") != RELEASE_FORMAT
                or data.get("version") != d.name):
            raise ReleaseError(f"{f}: not a release record of format {RELEASE_FORMAT} for "
                               f"version {d.name}")
        found.append(data)
    return sorted(found, key=lambda r: (r.get("sequence", 0), r["version"]))


@dataclass
class ReleaseOutcome:
    """What :func:`release_reviews` did for one review: ``status`` is ``released``,
    ``up to date`` (this version exists with this content) or ``unchanged`` (nothing changed
    since the latest release: no new version)."""

    directory: Path
    target: Path
    version: str
    status: str
    content_hash: str
    previous: str | None = None
    comparison: dict[str, Any] | None = None
    written: list[Path] = field(default_factory=list)
    current: bool = False


def history_rows(releases: Sequence[Mapping[str, Any]], analysis_id: str
                 ) -> list[dict[str, Any]]:
    """Per release (in order), the recorded estimate of one planned analysis: what
    :func:`evidence.plots.history.release_history` draws (analysis scale)."""
    rows = []
    for r in releases:
        a = next((x for x in r.get("analyses", []) if x["id"] == analysis_id), None)
        if a is None:
            continue
        rows.append({"label": f"Release {r['version']}", "k": a["k"],
                     "note": f"search {r['search_date']}" if r.get("search_date") else None,
                     "estimate": a["estimate"], "ci_low": a["ci_low"],
                     "ci_high": a["ci_high"]})
    return rows


@contextmanager
def _figure_formats(formats: Sequence[str]):
    """Export figures in the formats the supplement's formats need (SVG for HTML and
    Markdown, PNG for PDF and Markdown, PDF for LaTeX)."""
    from .report.analyses import FIGURE_FORMATS

    token = FIGURE_FORMATS.set(tuple(f for f, needed in (
        ("svg", "html" in formats or "md" in formats),
        ("png", "pdf" in formats or "md" in formats),
        ("pdf", "tex" in formats)) if needed))
    try:
        yield
    finally:
        FIGURE_FORMATS.reset(token)


def _history_figures(releases: Sequence[Mapping[str, Any]], current: Mapping[str, Any],
                     formats: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The history figure of each planned analysis recorded in two releases or more (the
    earlier ``releases`` and this one), exported by :func:`evidence.report.analyses.
    figure_entry` to the figure formats the supplement's formats need."""
    from .plots.history import release_history
    from .report.analyses import figure_entry

    out = {}
    with _figure_formats(formats):
        for a in current["analyses"]:
            rows = history_rows([*releases, current], a["id"])
            if len(rows) < 2:
                continue
            label = a["effect_label"] or a["measure"]
            fig = release_history(rows, measure=label, transform=a["transform"],
                                  ci_label=f"{level_percent(a['level'])} CI")
            fid = "history-" + re.sub(r"[^A-Za-z0-9._-]+", "-", a["id"])
            out[a["id"]] = figure_entry(
                fid, f"{a['title']}: estimate by release",
                f"The pooled {label[0].lower() + label[1:] if label[1:2].islower() else label}"
                f" with its {level_percent(a['level'])} CI as "
                "each release recorded it (release.json), oldest at the top; this release "
                "in blue. A cumulative view across releases, not a new analysis.", fig)
    return out


def _sequential_figures(entries: Sequence[Mapping[str, Any]], formats: Sequence[str]
                        ) -> dict[str, dict[str, Any]]:
    """The monitoring figure of each computed sequential analysis (by analysis id)."""
    from .plots.sequential import sequential_monitoring
    from .report.analyses import figure_entry

    out = {}
    with _figure_formats(formats):
        for e in entries:
            if not e["computed"]:
                continue
            unit = ("participants" if e["plan"]["information"] == "participants"
                    else "statistical information, 1/SE²")
            looks = [{"label": f"Release {x['version']}", "information": x["information"],
                      "z": x["z"], "boundary": x["boundary"]} for x in e["looks"]]
            fig = sequential_monitoring(looks, required=e["required"],
                                        conventional=e["conventional"], unit=unit)
            fid = "sequential-" + re.sub(r"[^A-Za-z0-9._-]+", "-", e["analysis"])
            out[e["analysis"]] = figure_entry(
                fid, f"{e['title']}: trial sequential analysis",
                "The cumulative Z of each release (blue) against the two-sided "
                "alpha-spending boundaries at the information each release had (orange; "
                "values above the axis printed at its edge), the conventional "
                f"±{e['conventional']:.2f} (dashed) and the required information size "
                "(dotted). A sensitivity analysis, not the main conclusion.", fig)
    return out


def release_reviews(directory: str | Path, version: str, out_dir: str | Path = "reports",
                    *, search_date: str | None = None, formats: Sequence[str] | None = None,
                    template_dir: str | Path | None = None, release_date: str | None = None,
                    on_wait: Callable[[str], None] | None = None,
                    load: Callable[[Path], Any] | None = None,
                    current: bool = True) -> list[ReleaseOutcome]:
    """Release the review in ``directory`` and every review nested below it as version
    ``version``: ``OUT/versions/V`` (and ``OUT/sub/versions/V`` for ``directory/sub``).

    Per review: when ``versions/V`` exists with the same content hash and search date, nothing
    is done (``up to date``); with other content, :class:`ReleaseError` (code 3) and nothing
    is written for any review. When the latest release has the same content hash and search
    date, no new version is made (``unchanged``). Otherwise the review is computed, its
    supplement rendered with a What's New section against the latest release, and written
    with its ``release.json``; with ``current`` (the default) the same files also become the
    supplement in the review's output folder (``OUT``, ``OUT/sub``), so ``OUT`` shows the
    latest release until ``evidence report`` renders changed records there. All of it goes
    in as one generation.
    """
    from .model import load_review
    from .report import (FORMATS, check_apart, check_output_dir, find_reviews,
                         inputs_fingerprint, render_report, write_reports)
    from .results import run_review

    check_version(version)
    check_search_date(search_date)
    fmts = list(FORMATS if formats is None else formats)
    root, out = Path(directory), Path(out_dir)
    if not root.is_dir():
        raise ReleaseError(f"{root}: no such directory")
    try:
        check_apart(out, root)
    except ValueError as exc:
        raise ReleaseError(str(exc), 2) from None
    check_output_dir(out)
    if release_date is not None:
        datetime.date.fromisoformat(release_date)  # ValueError for anything but YYYY-MM-DD
    release_date = release_date or datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    outcomes: list[ReleaseOutcome] = []
    pending = []
    for d in find_reviews(root) or [root]:
        target = out / d.relative_to(root)
        # a release's identity is its content: the printed records path is left out, so
        # releasing from another working directory is not a change
        fingerprint = inputs_fingerprint(d, fmts, template_dir, records_path=False)
        releases = read_releases(target)
        same = [r for r in releases if r["version"] == version]
        if same:
            r = same[0]
            if r.get("content_hash") == fingerprint and r.get("search_date") == search_date:
                outcomes.append(ReleaseOutcome(d, target, version, "up to date", fingerprint))
                continue
            what = ("search date " + str(r.get("search_date")) + " vs " + str(search_date)
                    if r.get("content_hash") == fingerprint else
                    f"content hash {str(r.get('content_hash'))[:12]}… vs {fingerprint[:12]}…")
            raise ReleaseError(
                f"{target / VERSIONS / version}: release {version} exists with other content "
                f"({what}); a release is never overwritten: give a new --version", 3)
        latest = releases[-1] if releases else None
        if (latest is not None and latest.get("content_hash") == fingerprint
                and latest.get("search_date") == search_date):
            outcomes.append(ReleaseOutcome(d, target, version, "unchanged", fingerprint,
                                           previous=latest["version"]))
            continue
        pending.append((d, target, fingerprint, latest, releases))
    if not pending:
        return outcomes
    reports = []
    for d, target, fingerprint, latest, releases in pending:
        loaded = (load or load_review)(d)
        results = run_review(loaded)
        living = getattr(loaded.review, "living", None)
        rules = list(LIVING_DEFAULT_RULES) if living is None else list(living.rules)
        summary = release_summary(results)
        summary["ongoing"] = ongoing_studies(loaded.review,
                                             datetime.date.fromisoformat(release_date))
        comparison = compare_summaries(latest, summary, rules)
        meta = {"version": version, "search_date": search_date, "release_date": release_date,
                "content_hash": fingerprint}
        prev_meta = None if latest is None else {k: latest.get(k) for k in (
            "version", "search_date", "release_date", "content_hash")}
        ctx = whats_new_context(comparison, meta, prev_meta, summary["ongoing"])
        summary["sequential"] = sequential_summary(
            () if living is None else living.sequential, releases, {**meta, **summary})
        ctx["sequential"] = sequential_context(summary["sequential"])
        seq_figs = _sequential_figures(summary["sequential"], fmts)
        for c in ctx["sequential"]:
            c["figure"] = seq_figs.get(c["analysis"])
        history = _history_figures(releases, {**meta, **summary}, fmts)
        for a in ctx["analyses"]:
            a["history"] = history.get(a["id"])
        vdir = target / VERSIONS / version
        files = render_report(results, fmts, template_dir, extra={"whats_new": ctx},
                              cache_dir=target / ".cache")
        for fig in [*history.values(), *seq_figs.values()]:
            for ext, data in fig["files"].items():
                files[f"figures/{fig['id']}.{ext}"] = data
        record = {"format": RELEASE_FORMAT, **meta,
                  "sequence": (latest.get("sequence", 0) + 1) if latest else 1,
                  "previous": prev_meta,
                  "content_hash_covers": "the records and files of the review directory, "
                  "the user's templates, the evidence package (code and bundled templates), "
                  "the versions of the libraries that shape numbers and figures and the formats "
                  "(evidence.report.inputs_fingerprint); the path the records were read from "
                  "is left out, so the same review released from another directory has the "
                  "same hash",
                  "formats": fmts, "software": dict(results.software),
                  "rules": rules, **summary, "whats_new": comparison}
        files[RELEASE_FILE] = _dump(record)
        # the manifests record the full fingerprint (with the printed path), as `evidence
        # report` computes it, so a report run on the same inputs sees the release as current
        manifest_fp = inputs_fingerprint(d, fmts, template_dir)
        reports.append((vdir, files, manifest_fp))
        if current:
            reports.append((target, files, manifest_fp))
        outcomes.append(ReleaseOutcome(d, target, version, "released", fingerprint,
                                       previous=latest and latest["version"],
                                       comparison=comparison))
    seen = {target: [(r["version"], r.get("content_hash")) for r in releases]
            for _, target, _, _, releases in pending}

    def nothing_landed_meanwhile() -> None:
        # holding the output lock: the releases read above are still all there are
        for target, before in seen.items():
            now = [(r["version"], r.get("content_hash")) for r in read_releases(target)]
            if now != before:
                raise ReleaseError(
                    f"{target / VERSIONS}: another release landed while this one was being "
                    f"made ({', '.join(v for v, _ in now if (v, _) not in before) or 'changed'}"
                    "); nothing was written: run the release again", 3)

    written = write_reports(out, reports, on_wait=on_wait, check=nothing_landed_meanwhile)
    for o in outcomes:
        if o.status == "released":
            vdir = o.target / VERSIONS / version
            o.written = [p for p in written if vdir in p.parents]
            o.current = current
    return outcomes
