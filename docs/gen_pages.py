"""Write the API and CLI reference pages during ``mkdocs build`` (mkdocs-gen-files).

The grouping lives in ``docs/_api_groups.py`` only; the CLI reference is read from the typer
app, so a new command or option appears without editing any page.
"""

from __future__ import annotations

import sys
from pathlib import Path

import mkdocs_gen_files

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from _api_groups import GROUPS  # noqa: E402
from _cli_ref import cli_markdown  # noqa: E402
from _formulas import formula_block  # noqa: E402


def _ident(name: str) -> str:
    """The defining module's path of a public name: ``evidence/__init__`` imports lazily
    (PEP 562), which the static collector (griffe) cannot follow, so point it at the module."""
    import evidence

    where = getattr(evidence, "_WHERE", {}).get(name)
    if where is not None:
        return "evidence" + where + "." + name
    obj = getattr(evidence, name.split(".")[0])
    if "." not in name and getattr(obj, "__module__", None):
        return obj.__module__ + "." + name
    return "evidence." + name


index = ["# API reference\n",
         "Every public name of `evidence` (`import evidence as ev`), grouped as the package is. "
         "Each page is generated from the docstrings; the grouping is kept in "
         "`docs/_api_groups.py`.\n"]
for slug, (title, intro, names) in GROUPS.items():
    index.append(f"- [{title}]({slug}.md): {intro}")
    lines = [f"# {title}\n", intro + "\n"]
    for name in names:
        if name == "__version__":
            lines.append("## `evidence.__version__`\n\nThe package version string.\n")
            continue
        if name == "plots":
            lines.append("::: evidence.plots\n    options:\n      members: false\n"
                         "      show_root_heading: true\n")
            continue
        lines.append(f"## `ev.{name}`\n\n{formula_block(name)}\n::: {_ident(name)}\n    options:\n"
                     "      show_root_heading: false\n      heading_level: 3\n")
    with mkdocs_gen_files.open(f"api/{slug}.md", "w") as fh:
        fh.write("\n".join(lines))
with mkdocs_gen_files.open("api/index.md", "w") as fh:
    fh.write("\n".join(index) + "\n\nThe command line: see the [CLI reference](cli.md).\n")
with mkdocs_gen_files.open("api/cli.md", "w") as fh:
    fh.write(cli_markdown())
