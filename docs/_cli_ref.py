"""The CLI reference as Markdown, read from the typer app (used by gen_pages.py and the tests)."""

from __future__ import annotations

import click
import typer

EXIT_CODES = """\
## Exit codes

| code | `validate`, `report`, `diff`, `add-study` | `pool` |
|---|---|---|
| **0** | success | pooled |
| **1** | invalid input: records, `review.yaml`, `rules.yaml`, a missing directory (the `error:` lines say what to fix) | the data: no such or unreadable file, empty file, no data rows, malformed CSV, an unknown column, a value that is not a number, infinite, or a variance ≤ 0 in a pooled row |
| **2** | a bad command line (unknown option, empty or unknown `--format`, a `--templates` directory that does not exist, an invalid `--id`, unknown `--template`) or a template that fails to render | the command line: unknown `--method`, `--test`, `--level`, file extension, `--vi` with `--sei`, pyarrow missing for Parquet |
| **3** | nothing could be written (`add-study`: the file exists already or leads out of the review directory; `report`: `--out` is a file, the disk is full, a permission is missing, another run holds the lock) | the output cannot be written |
| **130** | interrupted (Ctrl-C or SIGTERM) | interrupted |

Every failure is one `error:` line naming the path and what to do.
"""


def _command():
    from evidence.cli import app
    return typer.main.get_command(app)


def commands() -> dict[str, click.Command]:
    """Every command of the ``evidence`` app, by name."""
    return dict(_command().commands)


def _param_row(p: click.Parameter) -> str:
    if p.param_type_name == "argument":
        name = f"`{p.name.upper()}`"
        kind = "argument"
    else:
        name = ", ".join(f"`{o}`" for o in (*p.opts, *p.secondary_opts))
        kind = "flag" if getattr(p, "is_flag", False) else "option"
    helptext = (getattr(p, "help", None) or "").replace("|", "\\|").replace("\n", " ")
    default = p.default
    if callable(default) or default is None or default == () or kind == "flag" and not default:
        shown = ""
    else:
        shown = f"`{default}`"
    return f"| {name} | {kind} | {helptext} | {shown} |"


def cli_markdown() -> str:
    """The whole CLI reference page."""
    top = _command()
    out = ["# CLI reference\n",
           f"`evidence` — {top.help}\n",
           "Generated from the typer app (`evidence/cli.py`); `evidence COMMAND --help` prints "
           "the same.\n"]
    for name, cmd in sorted(commands().items()):
        out.append(f"## `evidence {name}`\n")
        out.append((cmd.help or "").strip() + "\n")
        usage = " ".join(cmd.collect_usage_pieces(click.Context(cmd)))
        out.append(f"```text\nevidence {name} {usage}\n```\n")
        params = [p for p in cmd.params if p.name != "help"]
        if params:
            out.append("| name | kind | help | default |\n|---|---|---|---|")
            out.extend(_param_row(p) for p in params)
            out.append("")
    out.append(EXIT_CODES)
    return "\n".join(out)
