"""`flask --app wsgi subscriptions …`: members' memberships, changed by the shop owner."""

from __future__ import annotations

from collections.abc import Callable

import click
from flask import current_app
from flask.cli import AppGroup

from shop import mail
from shop.catalogue import Catalogue
from shop.catalogue_source import catalogue_of
from shop.checkout.prices import PriceDirectory
from shop.memberships_admin import Done, Refused, cancel_membership, change_plan, day, members
from shop.stripe_client import stripe_client

subscriptions = AppGroup("subscriptions", help="Cancel, change and list memberships.")

#: Statuses a Stripe subscription can have (`subscriptions list --status`).
STATUSES = (
    "trialing",
    "active",
    "past_due",
    "unpaid",
    "canceled",
    "incomplete",
    "incomplete_expired",
    "paused",
)


def answer(work: Callable[[], Done]) -> None:
    """Run `work`, print its one-line answer, and send the mail it recorded (a refusal
    too: it is printed on stderr, with exit status 1)."""
    try:
        done = work()
    except Refused as refusal:
        mail.deliver_queued()  # what was recorded before the refusal (a failed payment)
        raise click.ClickException(str(refusal)) from refusal
    click.echo(done.message)
    mail.deliver_queued()


def _catalogue() -> Catalogue:
    catalogue = catalogue_of(current_app._get_current_object())  # type: ignore[attr-defined]
    if catalogue is None:
        raise click.ClickException(
            "The catalogue cannot be read: run `flask --app wsgi catalog check` and fix it."
        )
    return catalogue


@subscriptions.command("cancel")
@click.argument("email")
@click.option("--now", is_flag=True, help="End it at once instead of at the period end.")
def cancel(email: str, now: bool) -> None:
    """Cancel EMAIL's membership at the end of the paid period (or --now)."""
    catalogue = catalogue_of(current_app._get_current_object())  # type: ignore[attr-defined]
    answer(lambda: cancel_membership(stripe_client(), email, now=now, catalogue=catalogue))


@subscriptions.command("change-plan")
@click.argument("email")
@click.argument("plan")
@click.option(
    "--interval",
    type=click.Choice(["month", "year"]),
    help="Billing interval (default: the membership's current one).",
)
def change(email: str, plan: str, interval: str | None) -> None:
    """Move EMAIL's membership to the catalogue's PLAN, prorated."""
    catalogue = _catalogue()
    prices = PriceDirectory.of(current_app._get_current_object())  # type: ignore[attr-defined]
    answer(lambda: change_plan(stripe_client(), catalogue, prices, email, plan, interval))


@subscriptions.command("list")
@click.option("--status", type=click.Choice(STATUSES), help="Only memberships in this status.")
def list_memberships(status: str | None) -> None:
    """List memberships, newest first: email, plan, status, period end."""
    rows = members(status)
    if not rows:
        click.echo("No memberships" + (f" with status {status}." if status else "."))
        return
    table = [("EMAIL", "PLAN", "STATUS", "PERIOD END")] + [
        (
            email,
            f"{row.plan_key or '?'}/{row.interval or '?'}",
            row.status + (" (ending)" if row.cancel_at_period_end else ""),
            day(row.current_period_end) if row.current_period_end else "—",
        )
        for row, email in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(4)]
    for line in table:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        )
