"""`flask --app wsgi orders …`: orders and memberships kept in step with Stripe, and exported."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta

import click
from flask.cli import AppGroup

from shop import admin_lists, mail
from shop.models import OrderStatus, utcnow
from shop.reconcile import reconcile
from shop.stripe_api import StripeFailure
from shop.stripe_client import stripe_client

orders = AppGroup("orders", help="Keep orders and memberships in step with Stripe.")


@orders.command("reconcile")
@click.option("--days", default=30, show_default=True, help="How far back to look.")
def orders_reconcile(days: int) -> None:
    """Re-list recent sessions, memberships and refunds and record what webhooks missed."""
    since = utcnow() - timedelta(days=days)
    try:
        report = reconcile(stripe_client(), since)
    except StripeFailure as failure:
        click.echo(f"Stripe refused: {failure}", err=True)
        sys.exit(2)
    click.echo(str(report))
    mail.deliver_pending(limit=10_000)  # what reconcile recorded may have mail to send


@orders.command("export")
@click.option("--since", required=True, type=click.DateTime(["%Y-%m-%d"]), help="First day (UTC).")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), help="Last day (UTC), included.")
@click.option(
    "--status", type=click.Choice([str(status) for status in OrderStatus]), help="Only this status."
)
@click.option(
    "--with-abandoned", is_flag=True, help="Include abandoned orders (hidden, as on the list)."
)
@click.option(
    "--output", type=click.Path(dir_okay=False, writable=True), help="A file (default: stdout)."
)
def orders_export(
    since: datetime,
    until: datetime | None,
    status: str | None,
    with_abandoned: bool,
    output: str | None,
) -> None:
    """Write the orders placed between two days as CSV: the admin orders list's columns."""
    filters = admin_lists.OrderFilters(
        status=status or "",
        placed_from=since.date(),
        placed_to=until.date() if until else None,
        show_abandoned=with_abandoned,
    )
    lines = admin_lists.orders_csv(filters)
    if output is None:
        for line in lines:
            click.echo(line, nl=False)
        return
    with click.open_file(output, "w", encoding="utf-8", atomic=True) as file:
        file.writelines(lines)
    click.echo(f"Wrote {output}.", err=True)
