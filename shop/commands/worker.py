"""`flask --app wsgi worker`: apply queued webhook events (the Procfile's `worker:`)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from shop import queue


@click.command("worker")
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=None,
    help="Events applied at once (threads); default WORKER_CONCURRENCY, 16.",
)
@with_appcontext
def worker(concurrency: int | None) -> None:
    """Apply the webhook events the web processes queued, until stopped (SIGTERM).

    Run as many workers, on as many dynos, as needed: events of one Stripe object are
    applied one at a time and in order, others in parallel. With QUEUE_MODE=inline
    (SQLite) there is no queue and nothing for a worker to do.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if app.config["QUEUE_MODE"] != "procrastinate":
        raise click.ClickException(
            "QUEUE_MODE is inline: the web process applies events itself, no worker is "
            "needed (the queue needs a PostgreSQL DATABASE_URL)"
        )
    threads = concurrency or app.config["WORKER_CONCURRENCY"]
    click.echo(f"Worker: applying queued events, {threads} at once. Stop with Ctrl+C.")
    queue.run_worker(app, threads)
