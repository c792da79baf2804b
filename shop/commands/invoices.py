"""`flask --app wsgi invoices …`: membership invoices, paid on the shop owner's word."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from shop.commands.subscriptions import answer
from shop.memberships_admin import retry_invoice
from shop.stripe_client import stripe_client

invoices = AppGroup("invoices", help="Pay open membership invoices.")


@invoices.command("retry")
@click.argument("invoice")
def retry(invoice: str) -> None:
    """Pay open INVOICE now (Stripe's in_… id, or Quire's invoice number)."""
    answer(lambda: retry_invoice(stripe_client(), invoice))
