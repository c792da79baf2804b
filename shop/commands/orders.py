"""`flask --app wsgi orders …`: orders and memberships kept in step with Stripe."""

from __future__ import annotations

import sys
from datetime import timedelta

import click
from flask.cli import AppGroup

from shop import mail
from shop.models import utcnow
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
