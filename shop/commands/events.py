"""`flask --app wsgi events …`: the Stripe events Quire received, and replaying them."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click
from flask.cli import AppGroup

from shop import event_log, events, mail
from shop.extensions import db
from shop.stripe_client import stripe_client

events_group = AppGroup("events", help="List and replay the Stripe events Quire received.")


def _moment(value: str | None) -> datetime | None:
    """`2026-11-29` or `2026-11-29T12:00` as aware UTC (a time without zone is UTC)."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD[THH:MM])") from error
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@events_group.command("replay")
@click.argument("event_ids", nargs=-1)
@click.option("--failed", is_flag=True, help="Replay every event whose last attempt failed.")
@click.option("--since", help="With --failed: only events received since (YYYY-MM-DD).")
def events_replay(event_ids: tuple[str, ...], failed: bool, since: str | None) -> None:
    """Fetch events from Stripe again and apply them, oldest first; one line each.

    Exit status 1 if any still fails. Safe to repeat.
    """
    if failed == bool(event_ids):
        raise click.UsageError("give EVENT_ID… or --failed (not both)")
    if since and not failed:
        raise click.UsageError("--since goes with --failed")
    wanted = list(event_ids) if event_ids else events.failed_event_ids(_moment(since))
    if not wanted:
        click.echo("No failed events.")
        return
    client = stripe_client()
    results = [events.replay(client, event_id) for event_id in wanted]
    for result in results:
        click.echo(str(result))
    mail.deliver_pending(limit=10_000)  # what the replays recorded may have mail to send
    still = sum(not result.ok for result in results)
    click.echo(f"{len(results) - still} applied, {still} still failing.")
    if still:
        sys.exit(1)


@events_group.command("list")
@click.option("--failed", is_flag=True, help="Only events whose last attempt failed.")
@click.option("--limit", default=50, show_default=True, help="How many, newest first.")
def events_list(failed: bool, limit: int) -> None:
    """The newest events: received, id, type, outcome, attempts (and the error)."""
    wanted = event_log.EventFilter(outcomes=("failed",) if failed else ())
    found = event_log.page(wanted, size=max(1, limit))
    for event in found.events:
        error = f"  {event.last_error}" if event.outcome == "failed" and event.last_error else ""
        click.echo(
            f"{event.received_at:%Y-%m-%d %H:%M:%S}  {event.id}  {event.type}  "
            f"{event.outcome}  attempts={event.attempts}{error}"
        )
    db.session.commit()
    if not found.events:
        click.echo("No events.")
