"""``dcgan serve``: the FastAPI service under uvicorn."""

from __future__ import annotations

import argparse

from dcgan_cli.options import positive_int
from service.settings import ServiceSettings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve", help="run the HTTP API (uvicorn)")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (127.0.0.1)")
    parser.add_argument("--port", type=positive_int, default=8000, help="port (8000)")
    parser.add_argument(
        "--graceful-timeout", type=positive_int, default=30,
        help="seconds in-flight requests get to finish on SIGTERM (30)",
    )
    parser.set_defaults(run=run, settings_type=ServiceSettings)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    # deferred: torch, Celery and the database layer load only when the command runs
    from service.app import create_app
    from service.http_protocol import bounded_protocol
    from service.http_server import Server

    config = uvicorn.Config(
        create_app(args.settings),
        host=args.host,
        port=args.port,
        # httptools, as uvicorn's default, with a size bound and a deadline on request heads
        http=bounded_protocol(args.settings),
        timeout_graceful_shutdown=args.graceful_timeout,
        log_config=None,  # keep the process's own (JSON) logging
    )
    Server(config).run()
    return 0
