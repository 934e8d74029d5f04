"""Commands of the serving area: serve (`stockpilot run` in :mod:`stockpilot.bootstrap`
prepares everything first, then serves through :func:`serve_forever`)."""

from __future__ import annotations

from typing import Annotated

import typer

from stockpilot.progress import console

app = typer.Typer()

Host = Annotated[str | None, typer.Option("--host", help="Bind address (default settings).")]
Port = Annotated[int | None, typer.Option("--port", help="Port (default settings).")]


def serve_forever(host: str | None, port: int | None) -> None:
    import uvicorn

    from governance.store.engine import Database
    from governance.store.migrate import require_current
    from serving.app import create_app
    from stockpilot.settings import get_settings

    settings = get_settings()
    # Checked here as well as at start-up: inside uvicorn's lifespan an unmigrated store
    # is a traceback and "Application startup failed", here one message.
    db = Database.from_settings(settings)
    try:
        require_current(db)
    finally:
        db.dispose()
    host, port = host or settings.host, port or settings.port
    console.print(f"• serving on http://{host}:{port} (docs at /docs)", highlight=False)
    # One worker: the live state (stock positions, history) lives in this process.
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning", access_log=False)


@app.command("serve")
def serve(host: Host = None, port: Port = None) -> None:
    """Serve the API (models from the registry's champion alias, policy from the store)."""
    serve_forever(host, port)
