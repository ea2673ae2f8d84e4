"""`amber serve`: the HTTP API, plus embedded workers unless this is an API-only fleet node."""

from __future__ import annotations

import signal
import socket

import typer

from cli.common import cli_errors, configure_logging, settings
from crawler.errors import InvalidInput


def serve(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port", min=1, max=65535),
    replay_port: int = typer.Option(
        0,
        "--replay-port",
        min=0,
        max=65535,
        help="Port of the replay origin (default: AMBER_REPLAY_PORT, else --port + 1).",
    ),
    workers: bool | None = typer.Option(
        None,
        "--workers/--no-workers",
        help="Run capture workers in this process (default: yes without AMBER_BROKER_URL).",
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Serve the API (all dialects) and, in embedded mode, capture in-process."""
    import uvicorn

    from api import access_log
    from api.app import create_asgi
    from api.state import AppState
    from workers.embedded import build_node

    configure_logging(verbose)
    cfg = settings()
    run_workers = workers if workers is not None else not cfg.broker_url
    with cli_errors():
        node = build_node(cfg, workers=run_workers, reconcile=True)
    replay_port = replay_port or cfg.replay_port or port + 1
    if replay_port == port:
        raise typer.BadParameter(
            "the replay port must differ from --port", param_hint="--replay-port"
        )
    with cli_errors():
        sockets = [_listen(host, port), _listen(host, replay_port)]
    app = create_asgi(
        AppState(
            settings=cfg,
            engine=node.engine,
            blobs=node.blobs,
            dispatch=node.dispatch,
            node=node,
            replay_port=replay_port,
        )
    )
    node.start()
    # uvicorn re-raises SIGTERM once it has shut down; this no-op handler lets the
    # `finally` below run, so workers finish or release their captures first.
    signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        config = uvicorn.Config(app, log_level="info" if verbose else "warning")
        access_log.install()  # after Config, which (re)configures uvicorn's loggers
        uvicorn.Server(config).run(sockets=sockets)
    finally:
        node.stop()


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket, so one server answers on Amber's port and the replay port."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        return socket.create_server((host, port), family=family, backlog=2048)
    except OSError as exc:
        raise InvalidInput(f"cannot listen on {host}:{port}: {exc.strerror}") from exc


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
