"""`amber serve`: the HTTP API, plus embedded workers unless this is an API-only fleet node."""

from __future__ import annotations

import signal

import typer

from cli.common import cli_errors, configure_logging, settings


def serve(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port", min=1, max=65535),
    workers: bool | None = typer.Option(
        None,
        "--workers/--no-workers",
        help="Run capture workers in this process (default: yes without AMBER_BROKER_URL).",
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Serve the API (all dialects) and, in embedded mode, capture in-process."""
    import uvicorn

    from api.app import create_app
    from api.state import AppState
    from workers.embedded import build_node

    configure_logging(verbose)
    cfg = settings()
    run_workers = workers if workers is not None else not cfg.broker_url
    with cli_errors():
        node = build_node(cfg, workers=run_workers, reconcile=True)
    app = create_app(
        AppState(
            settings=cfg, engine=node.engine, blobs=node.blobs, dispatch=node.dispatch, node=node
        )
    )
    node.start()
    # uvicorn re-raises SIGTERM once it has shut down; this no-op handler lets the
    # `finally` below run, so workers finish or release their captures first.
    signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        uvicorn.run(app, host=host, port=port, log_level="info" if verbose else "warning")
    finally:
        node.stop()


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
