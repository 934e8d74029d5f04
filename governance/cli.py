"""Commands of the governance area: db, policy, keys, audit, queues."""

from __future__ import annotations

import typer

app = typer.Typer()
