"""``python -m stripe_sandbox run|reset``: serve the sandbox, or wipe its state."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from werkzeug.serving import BaseWSGIServer

from .app import build_sandbox, create_app, listening_on
from .core.sandbox import Sandbox
from .serving import make_threaded_server
from .settings import SandboxSettings

log = logging.getLogger("stripe_sandbox")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command line: a command and overrides of the environment's settings."""
    parser = argparse.ArgumentParser(prog="python -m stripe_sandbox", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="serve the API, hosted pages and webhooks")
    run.add_argument("--host")
    run.add_argument("--port", type=int)
    run.add_argument("--db", dest="db_path")
    run.add_argument("--api-key", dest="api_keys", action="append")
    run.add_argument("--public-url", dest="public_url")
    run.add_argument("--shuffle-deliveries", action="store_true", default=None)
    run.add_argument("--duplicate-deliveries", action="store_true", default=None)
    run.add_argument(
        "--webhook-retries",
        choices=("test", "live"),
        help="Stripe's retry schedule to follow (test: 3 retries in a few hours; live: 3 days)",
    )
    run.add_argument(
        "--retry-time-scale", type=float, help="multiply every retry wait (below 1: faster)"
    )
    run.add_argument(
        "--latency-ms", type=int, help="delay every API answer this long, as a distant Stripe"
    )
    reset = sub.add_parser("reset", help="delete every object, event and delivery")
    reset.add_argument("--db", dest="db_path")
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> SandboxSettings:
    """Environment settings with the command line's overrides."""
    overrides = {
        key: getattr(args, key, None)
        for key in (
            "host",
            "port",
            "db_path",
            "public_url",
            "shuffle_deliveries",
            "duplicate_deliveries",
            "webhook_retries",
            "retry_time_scale",
            "latency_ms",
        )
    }
    api_keys = getattr(args, "api_keys", None)
    return SandboxSettings.from_env().with_overrides(
        api_keys=tuple(api_keys) if api_keys else None, **overrides
    )


def make_sandbox_server(settings: SandboxSettings) -> BaseWSGIServer:
    """A threaded server for a new sandbox, bound (``port`` 0 picks a free port, which
    is then put back into the sandbox's settings); not yet serving or started."""
    app = create_app(settings)
    server = make_threaded_server(app, settings.host, settings.port)
    listening_on(app, server.port)
    return server


def serve(settings: SandboxSettings) -> None:
    """Serve threaded until interrupted, with the delivery worker running."""
    server = make_sandbox_server(settings)
    sandbox: Sandbox = server.app.extensions["sandbox"]  # type: ignore[attr-defined]
    settings = sandbox.settings
    sandbox.start()
    log.info("Stripe sandbox on http://%s:%s (db %s)", settings.host, server.port, settings.db_path)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        sandbox.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args = parse_args(argv)
    settings = settings_from(args)
    if args.command == "run":
        serve(settings)
    else:
        sandbox = build_sandbox(settings)
        sandbox.reset()
        sandbox.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
