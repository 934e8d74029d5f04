"""Commands of the serving area: serve, run."""

from __future__ import annotations

import typer

app = typer.Typer()
