"""Rich progress for anything that takes more than a few seconds."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

console = Console(stderr=True)


@contextmanager
def progress(transient: bool = False) -> Iterator[Progress]:
    """A progress display on stderr (stdout stays clean for JSON and piping)."""
    with Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=transient,
        # No stdout/stderr redirection: under Jupyter, Rich's redirect proxies and the
        # kernel's stream flushing call each other until RecursionError.
        redirect_stdout=False,
        redirect_stderr=False,
    ) as bar:
        yield bar


@contextmanager
def step(description: str) -> Iterator[None]:
    """One indeterminate step shown with a spinner and elapsed time."""
    with progress() as bar:
        task = bar.add_task(description, total=None)
        yield
        bar.update(task, total=1, completed=1)
