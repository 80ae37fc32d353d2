"""Writes tests/malformed/: the small case files and cases.yaml (committed). Run from the
repository root: python tests/malformed/make_cases.py"""
from pathlib import Path
import yaml
D = Path("tests/malformed")
cases = []
T = "trials/01-aronson-1948.yaml"
M = "events: 4, nonevents: 119}"  # vaccinated arm of trial 1

def f(name, content, expect, cls, base="bcg", target="trials/99-case.yaml"):
    data = content if isinstance(content, bytes) else content.encode("utf-8")
    (D / name).write_bytes(data)
    cases.append({"name": name.rsplit(".", 1)[0], "class": cls, "base": base, "write": target,
                  "file": name, "expect": expect})

def e(name, old, new, expect, cls, base="bcg", target=T):
    cases.append({"name": name, "class": cls, "base": base, "edit": target,
                  "replace": [old, new], "expect": expect})

REC = "type: clinical\nid: case-record\n"
# --- YAML safety
f("alias-bomb.yaml", 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
  'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n'
  'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n'
  'f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n'
  'notes: [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n', "99-case.yaml: line 1: anchor '&a'", "yaml-safety")
f("alias-in-notes.yaml", REC + "notes: [&x note, *x]\n", "99-case.yaml: line 3: anchor '&x'", "yaml-safety")
f("alias-only.yaml", REC + "label: *nowhere\n", "line 3: alias '*nowhere'", "yaml-safety")
f("merge-key.yaml", REC + "<<: {label: x}\n", "line 3: merge keys (<<) are not allowed", "yaml-safety")
f("python-tag.yaml", "!!python/object/apply:os.system ['echo pwned']\n", "line 1: explicit tag", "yaml-safety")
f("custom-tag.yaml", REC + "label: !secret x\n", "line 3: explicit tag '!secret'", "yaml-safety")
f("binary-tag.yaml", REC + "label: !!binary aGVsbG8=\n", "line 3: explicit tag", "yaml-safety")
f("str-tag.yaml", REC + "label: !!str 12\n", "line 3: explicit tag", "yaml-safety")
f("deep-nesting.yaml", REC + "notes: " + "[" * 40 + "]" * 40 + "\n", "nested more than 32 levels deep", "limits")
f("deep-mapping.yaml", REC + "".join("  " * i + f"k{i}:\n" for i in range(40)) + "  " * 40 + "x: 1\n",
  "nested more than 32 levels deep", "limits")
f("multi-document.yaml", REC + "---\n" + REC, "line 3: more than one YAML document", "yaml-safety")
# --- duplicate keys
f("duplicate-key.yaml", REC + "label: A\nlabel: B\n", "line 4: duplicate key 'label' (also at line 3)", "duplicate-keys")
f("duplicate-key-nested.yaml", REC + "sample:\n  n: 10\n  female: 3\n  n: 12\n",
  "line 6: duplicate key 'n' (also at line 4)", "duplicate-keys")
f("duplicate-key-flow.yaml", REC + "sample: {n: 1, n: 2}\n", "duplicate key 'n'", "duplicate-keys")
e("duplicate-key-in-record", M, "events: 4, events: 5, nonevents: 119}",
  "01-aronson-1948.yaml: line 30: duplicate key 'events' (also at line 30)", "duplicate-keys")
f("mapping-key.yaml", REC + "? [a, b]\n: 1\n", "a key must be a plain value", "duplicate-keys")
# --- YAML 1.1 vs 1.2
e("octal-looking-events", M, "events: 011, nonevents: 119}", "'011' is ambiguous (YAML 1.1 reads a leading 0 as octal): write 11", "yaml-1.2")
e("octal-0o", M, "events: 0o11, nonevents: 119}", "'0o11' is a number in another base", "yaml-1.2")
e("hex-number", M, "events: 0x4, nonevents: 119}", "'0x4' is a number in another base", "yaml-1.2")
e("underscore-number", M, "events: 4, nonevents: 1_19}", "'1_19' is ambiguous", "yaml-1.2")
e("sexagesimal", M, "events: 1:04, nonevents: 119}", "'1:04' is ambiguous", "yaml-1.2")
e("yes-as-boolean", "primary: true", "primary: yes", "'yes' is ambiguous (YAML 1.1 reads it as a boolean)", "yaml-1.2")
e("off-as-boolean", "primary: true", "primary: Off", "'Off' is ambiguous", "yaml-1.2")
e("float-exponent-is-a-number", M, "events: 4e0, nonevents: 119, total: 124e0}",
  "outcomes[0].measurements[0].total: events (4) + nonevents (119) = 123, but total is 124", "yaml-1.2")
e("nan-value", M, "events: .nan, nonevents: 119}", "outcomes[0].measurements[0].events", "types")
e("inf-value", M, "events: .inf, nonevents: 119}", "outcomes[0].measurements[0].events", "types")
e("huge-integer", M, "events: 1" + "0" * 40 + ", nonevents: 119}", "has more than 30 digits", "limits")
# --- semantic rules
e("events-nonevents-total", M, "events: 4, nonevents: 119, total: 130}",
  "aronson-1948: outcomes[0].measurements[0].total: events (4) + nonevents (119) = 123, but total is 130", "semantic")
e("events-exceed-total", M, "events: 4, total: 3}", "outcomes[0].measurements[0].events: 4 events exceed total 3", "semantic")
e("events-1e308", M, "events: 1e308, nonevents: 119}", "outcomes[0].measurements[0].events: a count of 1e+308 is not plausible", "semantic")
e("negative-events", M, "events: -4, nonevents: 119}", "outcomes[0].measurements[0].events: must be a whole number >= 0, got -4", "semantic")
e("fractional-events", M, "events: 4.5, nonevents: 119}", "outcomes[0].measurements[0].events: must be a whole number >= 0, got 4.5", "semantic")
e("percent-150", M, "events: 4, nonevents: 119, percent: 150}", "outcomes[0].measurements[0].percent: a percentage must be between 0 and 100, got 150", "semantic")
e("ci-reversed", M, "events: 4, nonevents: 119, ci_low: 3, ci_high: 1}", "outcomes[0].measurements[0].ci_low: ci_low (3) is above ci_high (1)", "semantic")
e("female-male-exceed-n", "sample: {n: null}", "sample: {n: 10, female: 6, male: 5, source: METADAT}",
  "aronson-1948: sample.male: female (6) + male (5) = 11 exceed n 10", "semantic")
e("future-year", "  year: 1948", "  year: 2999", "aronson-1948: citation.year: must be a year between 1000 and this year, got 2999", "semantic")
e("unknown-arm", "arm: vaccinated,", "arm: placebo,", "outcomes[0].measurements[0].arm: unknown arm 'placebo'", "semantic")
e("unknown-timepoint", "{timepoint: end, arm: vaccinated", "{timepoint: week-3, arm: vaccinated",
  "outcomes[0].measurements[0].timepoint: unknown timepoint 'week-3'", "semantic")
e("unknown-source-key", "inclusion: {status: confirmed, source: METADAT}", "inclusion: {status: confirmed, source: NOPE}",
  "aronson-1948: inclusion.source: unknown source key 'NOPE'", "semantic")
e("unknown-injury", "injury: tuberculosis", "injury: flu", "aronson-1948: injury: unknown injury 'flu'", "semantic")
e("duplicate-record-id", "id: ferguson-simes-1949", "id: aronson-1948",
  "duplicate record id 'aronson-1948'", "semantic", target="trials/02-ferguson-simes-1949.yaml")
e("analysis-unknown-arm", "arms: [vaccinated, control]", "arms: [vaccinated, placebo]",
  "review.yaml: bcg: analyses[0].arms[1]: no study with outcome 'tb' has an arm 'placebo'", "semantic", target="review.yaml")
e("analysis-unknown-outcome", "outcome: tb", "outcome: tbc", "analyses[0].outcome: no study has an outcome 'tbc'", "semantic", target="review.yaml")
e("analysis-unknown-measure", "measure: RR", "measure: XX", "analyses[0].measure: 'XX' is not one of", "semantic", target="review.yaml")
e("analysis-unknown-moderator", "moderators: [[ablat], [ablat, year]]", "moderators: [[ablat], [decade]]",
  "analyses[0].moderators[1][0]: no study has a characteristic 'decade'", "semantic", target="review.yaml")
# --- ids / path traversal
e("id-path-traversal", "id: aronson-1948", "id: ../../etc/passwd", "id: must be a lower-case id", "ids")
e("id-with-space", "id: aronson-1948", "id: Aronson 1948", "id: must be a lower-case id", "ids")
e("id-reserved-name", "id: aronson-1948", "id: nul", "nul: id: 'nul' is a reserved file name on Windows", "ids")
e("id-too-long", "id: aronson-1948", "id: " + "a" * 90, "id: must be at most 80 characters", "ids")
e("outcome-id-slash", "  - id: tb\n", "  - id: tb/x\n", "outcomes[0].id: must be a lower-case id", "ids")
# --- links (issue 11 item 4): only http(s), doi: and mailto: may become a link
U = "url: https://cran.r-project.org/package=metadat"
e("url-javascript", U, "url: 'javascript:alert(1)'", "sources[0].url: URL scheme 'javascript:' is not allowed", "links", target="review.yaml")
e("url-data", U, "url: 'data:text/html,<script>alert(1)</script>'", "URL scheme 'data:' is not allowed", "links", target="review.yaml")
e("url-javascript-with-tab", U, "url: \"java\\tscript:alert(1)\"", "URL must not contain spaces or control characters", "links", target="review.yaml")
e("url-no-scheme", U, "url: www.example.org", "URL must start with http://, https://, doi: or mailto:", "links", target="review.yaml")
e("url-http-no-host", U, "url: 'https:alert(1)'", "URL https: URL has no host", "links", target="review.yaml")
e("arm-empty", "arms: [vaccinated, control]", "arms: ['', control]", "arms[0]: must be a lower-case id", "ids")
# --- types, required, unknown fields
e("type-string-for-number", M, "events: four, nonevents: 119}", "outcomes[0].measurements[0].events: must be a number, null or a mapping", "types")
e("type-bool-for-number", M, "events: true, nonevents: 119}", "outcomes[0].measurements[0].events: must be a number or a mapping", "types")
e("type-list-for-string", "label: Aronson 1948", "label: [Aronson, 1948]", "aronson-1948: label: Input should be a valid string", "types")
e("type-record-type", "type: clinical", "type: trial", "aronson-1948: type: must be one of clinical, expert, biomechanics, got 'trial'", "types")
e("required-missing-design", "design: controlled", "desgn: controlled", "aronson-1948: design: required field is missing", "required")
e("unknown-field", "injury: tuberculosis", "injury: tuberculosis\nsample_size: 10", "aronson-1948: sample_size: unknown field", "unknown-fields")
e("unknown-nested-field", M, "events: 4, nonevents: 119, evnts: 3}", "outcomes[0].measurements[0].evnts: unknown field", "unknown-fields")
f("top-level-list.yaml", "- a\n- b\n", "99-case.yaml: expected one record (a mapping) at the top level, got list", "types")
f("top-level-scalar.yaml", "just text\n", "expected one record (a mapping) at the top level, got str", "types")
f("empty-record.yaml", "", "99-case.yaml: the file is empty", "empty")
f("comment-only.yaml", "# nothing here\n", "99-case.yaml: the file is empty", "empty")
f("empty-review.yaml", "", "review.yaml: the file is empty", "empty", target="review.yaml")
f("review-list.yaml", "- bcg\n", "review.yaml: expected a mapping at the top level, got list", "types", target="review.yaml")
f("invalid-yaml.yaml", REC + "label: [unclosed\n", "99-case.yaml: line 4: not valid YAML", "syntax")
f("tab-indent.yaml", REC + "sample:\n\tn: 1\n", "99-case.yaml: line 4: not valid YAML", "syntax")
# --- encodings
f("latin1.yaml", (REC + "label: Müller 1990\n").encode("latin-1"), "99-case.yaml: line 3: byte 0xfc is not UTF-8", "encoding")
f("utf16-bom.yaml", (REC + "label: x\n").encode("utf-16"), "99-case.yaml: the file is UTF-16 text; save it as UTF-8", "encoding")
f("utf16-no-bom.yaml", (REC + "label: x\n").encode("utf-16-le"), "a NUL byte: this is a binary file", "encoding")
f("utf32-bom.yaml", (REC + "label: x\n").encode("utf-32"), "the file is UTF-32 text", "encoding")
f("bom-utf8-still-checked.yaml", b"\xef\xbb\xbf" + (REC + "label: A\nlabel: B\n").encode(), "line 4: duplicate key 'label'", "encoding")
f("binary.yaml", bytes(range(256)) * 4, "a NUL byte: this is a binary file", "binary")
f("control-char.yaml", REC + "label: a\x07b\n", "not valid YAML", "binary")
# --- rules.yaml (what report reads)
B = "barton"
f("rules-invalid-yaml.yaml", "name: [unclosed\n", "rules.yaml: line 2: not valid YAML", "rules", base=B, target="rules.yaml")
f("rules-empty.yaml", "", "rules.yaml: the file is empty", "rules", base=B, target="rules.yaml")
e("rules-bad-regex", "'\\bRCT\\b'", "'(RCT'", "rules.yaml: designs[0]: pattern '(RCT' is not a valid regular expression", "rules", base=B, target="rules.yaml")
e("rules-unknown-feature", "when: {n_studies: 0}", "when: {n_studeis: 0}", "rules.yaml: rules[0].when.n_studeis: unknown feature 'n_studeis'", "rules", base=B, target="rules.yaml")
e("rules-unknown-template-field", "explanation: >-\n", "explanation: >-\n      {no_such_field}\n", "rules.yaml: rules[0].explanation: unknown field '{no_such_field}'", "rules", base=B, target="rules.yaml")
e("rules-alias", "when: {n_studies: 0}", "when: &w {n_studies: 0}", "rules.yaml: line", "rules", base=B, target="rules.yaml")
(D / "cases.yaml").write_text(
    "# The malformed-input corpus: one case per entry, run by tests/test_malformed.py through\n"
    "# `evidence validate` on a copy of a bundled review (base: bcg or barton). A case either\n"
    "# writes the case file `file` (in this folder) to `write`, or edits the file `edit` of the\n"
    "# copy, replacing the text replace[0] (first occurrence) by replace[1]. `expect` is a\n"
    "# fragment of one `error:` line; the exit code must be 1. Written by make_cases.py (run from the\n"
    "# repository root; edit it, not this file);\n"
    "# symlinks, FIFOs and huge files are made by the test itself (not committed).\n"
    + yaml.safe_dump(cases, sort_keys=False, allow_unicode=True, width=200))
print(len(cases))
