"""Commands of the serving area: serve (`stockpilot run` in :mod:`stockpilot.bootstrap`
prepares everything first, then serves through :func:`serve_forever`)."""

from __future__ import annotations

from typing import Annotated

import typer

from stockpilot.progress import console

app = typer.Typer()

Host = Annotated[str | None, typer.Option("--host", help="Bind address (default settings).")]
Port = Annotated[int | None, typer.Option("--port", help="Port (default settings).")]


def serve_forever(
    host: str | None, port: int | None, *, demo_tokens: dict[str, str] | None = None
) -> None:
    """Serve; with ``demo_tokens``, send the demo work through the API once ready."""
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
    console.print(
        f"• review workbench: http://{host}:{port}/ui/ (sign in with a demo key above)",
        highlight=False,
    )
    if demo_tokens:
        _seed_in_background(f"http://{host}:{port}", demo_tokens, settings.data_dir)
    # One worker: the live state (stock positions, history) lives in this process.
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning", access_log=False)


def _seed_in_background(base_url: str, tokens: dict[str, str], data_dir) -> None:
    """Once the server is ready, send the demo work through its API (a first run only)."""
    import threading

    from serving import demo
    from stockpilot.settings import get_settings

    def work() -> None:
        if not demo.wait_ready(base_url):
            console.print("  [yellow]demo work not sent: the server did not get ready[/yellow]")
            return
        try:
            feed = demo.feed_tokens(get_settings(), tokens["order_system"])
            made = demo.seed(demo.http_post(base_url), feed, data_dir)
        except Exception as err:  # the demo is a convenience: say so, keep serving
            console.print(f"  [yellow]demo work not sent: {err}[/yellow]", highlight=False)
            return
        console.print(
            f"• demo work sent through the API: {made['orders']} orders, "
            f"{made['substitute_searches']} substitute searches, a replenishment run",
            highlight=False,
        )

    threading.Thread(target=work, name="demo-seed", daemon=True).start()


@app.command("serve")
def serve(host: Host = None, port: Port = None) -> None:
    """Serve the API (models from the registry's champion alias, policy from the store)."""
    serve_forever(host, port)
