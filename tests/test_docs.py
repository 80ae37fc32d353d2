"""The documentation covers the public API and the CLI (issue 15).

The API reference is generated from ``docs/_api_groups.py`` and the CLI reference from the
typer app; these tests fail when a public name or a command has no entry, and say where to
add it. The site build itself (``mkdocs build --strict``, which also runs every tutorial
block) is a step of ``.ci/run``.
"""

import sys
from pathlib import Path

import pytest

import evidence

DOCS = Path(__file__).resolve().parents[1] / "docs"
sys.path.insert(0, str(DOCS))
from _api_groups import GROUPS  # noqa: E402

GROUPED = [name for _, _, names in GROUPS.values() for name in names]


def _public() -> list[str]:
    names = [n for n in evidence.__all__]
    names += [f"plots.{n}" for n in evidence.plots.__all__]
    return names


def test_every_public_name_has_an_api_group():
    missing = [n for n in _public() if n not in GROUPED]
    assert not missing, (
        f"public names without an API page: {missing}. Add each to the list of names of its "
        f"group in docs/_api_groups.py (GROUPS; plots functions as 'plots.<name>'), or add a "
        f"new group there and a nav entry 'api/<slug>.md' in mkdocs.yml.")


def test_no_name_is_grouped_twice_or_stale():
    twice = sorted({n for n in GROUPED if GROUPED.count(n) > 1})
    stale = [n for n in GROUPED if n not in _public()]
    assert not twice, f"docs/_api_groups.py lists these names in more than one group: {twice}"
    assert not stale, f"docs/_api_groups.py lists names that are not public (remove them): {stale}"


def test_every_group_is_in_the_nav():
    nav = (DOCS.parent / "mkdocs.yml").read_text(encoding="utf-8")
    missing = [slug for slug in GROUPS if f"api/{slug}.md" not in nav]
    assert not missing, f"add 'api/<slug>.md' to the nav of mkdocs.yml for groups {missing}"


def test_every_cli_command_and_option_is_in_the_reference():
    pytest.importorskip("click")
    from _cli_ref import cli_markdown, commands

    page = cli_markdown()
    for name, cmd in commands().items():
        assert f"## `evidence {name}`" in page, (
            f"CLI command {name!r} has no entry in the reference (docs/_cli_ref.py)")
        for p in cmd.params:
            for opt in getattr(p, "opts", []):
                if opt.startswith("-"):
                    assert f"`{opt}`" in page, f"option {opt} of {name!r} missing"
    for code in ("**0**", "**1**", "**2**", "**3**", "**130**"):
        assert code in page, f"exit code {code} missing from the CLI reference"


def test_every_tutorial_is_in_the_nav():
    nav = (DOCS.parent / "mkdocs.yml").read_text(encoding="utf-8")
    pages = sorted(p.relative_to(DOCS).as_posix() for p in (DOCS / "tutorials").glob("*.md"))
    missing = [p for p in pages if f": {p}" not in nav]
    assert pages, "no tutorials found in docs/tutorials/"
    assert not missing, f"add these tutorials to the Tutorials section of the nav in mkdocs.yml: {missing}"


def test_every_page_is_linked_from_the_home_page():
    home = (DOCS / "index.md").read_text(encoding="utf-8")
    pages = sorted(p.relative_to(DOCS).as_posix() for p in (DOCS / "tutorials").glob("*.md"))
    if (DOCS / "coming-from-r.md").exists():
        pages.append("coming-from-r.md")
    missing = [p for p in pages if f"]({p})" not in home]
    assert not missing, f"link these pages from docs/index.md: {missing}"


def test_every_estimator_page_has_formula_reference_and_example():
    import inspect

    from _formulas import ESTIMATORS, FORMULAS

    for name in ESTIMATORS:
        assert name in GROUPED, f"{name} is not on an API page"
        formula, ref = FORMULAS.get(name, ("", ""))
        assert "$" in formula and ref.strip(), (
            f"ev.{name} has no formula or reference in docs/_formulas.py (FORMULAS)")
        doc = inspect.getdoc(getattr(evidence, name)) or ""
        assert "Examples" in doc and ">>>" in doc, f"ev.{name}'s docstring has no example"
