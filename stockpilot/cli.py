"""The one command line, `stockpilot`. Each area contributes its own commands."""

from __future__ import annotations

import typer

from governance.cli import app as governance_app
from serving.cli import app as serving_app
from training.cli import app as training_app

app = typer.Typer(
    name="stockpilot",
    help="StockPilot: order-risk, substitution and demand models behind governed review queues.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(training_app)
app.add_typer(governance_app)
app.add_typer(serving_app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
