"""A rich progress bar for long pooling runs, injected into the numeric core.

The core (:mod:`evidence.meta`) does no I/O: :func:`evidence.meta_batch` takes a
``progress(done, total)`` callable and calls it after each chunk of groups. This module,
outside the core, makes such a callable that drives a ``rich`` progress bar::

    with ev.rich_progress("pooling") as bar:
        table = ev.meta_batch(df, by="g", progress=bar)

The bar is drawn only when the console is a terminal (off in pipes, logs, CI and
notebooks' captured output): then the callable does nothing but count.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["rich_progress"]


@contextmanager
def rich_progress(description: str = "pooling", *, console=None,
                  transient: bool = False) -> Iterator[Callable[[int, int], None]]:
    """A ``progress(done, total)`` callable for :func:`evidence.meta_batch`, drawing a
    rich progress bar (groups done of total, rate, time left) while the block runs.

    Parameters
    ----------
    description : label shown before the bar.
    console : rich.console.Console, optional
        Where to draw (default: a console on standard error). No bar is drawn when it is
        not a terminal.
    transient : remove the bar when the block ends.

    Examples
    --------
    >>> import pandas as pd, evidence as ev
    >>> d = pd.DataFrame({"g": [1, 1, 2, 2], "yi": [0.1, 0.3, 0.2, 0.6],
    ...                   "vi": [0.01, 0.02, 0.01, 0.03]})
    >>> with rich_progress("pooling") as bar:
    ...     out = ev.meta_batch(d, by="g", method="DL", progress=bar)
    >>> len(out)
    2
    """
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    console = console if console is not None else Console(stderr=True)
    columns = (TextColumn("[progress.description]{task.description}"), BarColumn(),
               MofNCompleteColumn(), TextColumn("groups"), TimeElapsedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=console, transient=transient,
                  disable=not console.is_terminal) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update
