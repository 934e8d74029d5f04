"""The one command line, `stockpilot`. Each area contributes its own commands.

A user's mistake (a dataset that breaks the contract or cannot train a model, a model
that was never registered, …) is a :class:`~stockpilot.errors.StockPilotError`; this is
the one place that turns it into a message on stderr and exit status
:data:`EXIT_USER_ERROR`, whichever command raised it. Anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

from typing import Any

import click
import typer
from rich.text import Text
from typer.core import TyperGroup

from governance.cli import app as governance_app
from governance.kpi_cli import app as kpi_app
from serving.cli import app as serving_app
from stockpilot.bootstrap import app as bootstrap_app
from stockpilot.errors import StockPilotError
from stockpilot.progress import console
from training.cli import app as training_app
from training.models_cli import app as lifecycle_app

# The status of every refused input, as `data validate` and the governance commands use.
EXIT_USER_ERROR = 1


class UserErrors(TyperGroup):
    """The root command group: StockPilot errors of any subcommand become a message."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except StockPilotError as err:
            # Text, not markup: messages quote user data ("[...]", "x_*").
            console.print(Text.assemble(("✗ ", "red"), err.message), soft_wrap=True)
            raise typer.Exit(EXIT_USER_ERROR) from None


app = typer.Typer(
    name="stockpilot",
    help="StockPilot: order-risk, substitution and demand models behind governed review queues.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=UserErrors,
)
app.add_typer(training_app)
app.add_typer(lifecycle_app)
app.add_typer(governance_app)
app.add_typer(serving_app)
app.add_typer(bootstrap_app)
app.add_typer(
    kpi_app,
    name="kpis",
    help="Operational KPIs: values, targets, trend; `replay` for what the recommendations changed.",
)


def _quiet_libraries() -> None:
    """Our own progress and results are the output; libraries only speak up on warnings."""
    import logging
    import os
    import warnings

    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # Our pyfunc wrappers declare their schema by signature, not by predict() type hints.
    # MLflow re-enables its notice about that inside its own warnings context, which
    # outranks a filter, so the notice is dropped where warnings are shown.
    show = warnings.showwarning

    def showwarning(message, category, filename, lineno, file=None, line=None):  # type: ignore[no-untyped-def]
        if "type hints to the `predict` method" not in str(message):
            show(message, category, filename, lineno, file, line)

    warnings.showwarning = showwarning
    # Our models are logged as Python objects on purpose (the wrappers ship with the
    # package); MLflow warns about that on every `train`.
    logging.getLogger("mlflow.pyfunc").addFilter(
        lambda record: "python_model` causes it to be serialized" not in record.getMessage()
    )


def main() -> None:
    _quiet_libraries()
    app()


if __name__ == "__main__":
    main()
