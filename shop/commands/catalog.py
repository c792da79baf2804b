"""`flask --app wsgi catalog check|sync`: the catalogue, and Stripe made to match it."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import stripe
from flask import current_app
from flask.cli import AppGroup

from shop import sync
from shop.catalogue import Catalogue, CatalogueError, load_catalogue
from shop.checkout import prices
from shop.commands.failures import describe
from shop.stripe_api import StripeFailure
from shop.stripe_client import stripe_client

catalog = AppGroup("catalog", help="Check the catalogue and make Stripe match it.")


def _catalogue_or_exit() -> Catalogue:
    """The catalogue at CATALOGUE_PATH, or exit 1 with one line per problem."""
    path = Path(current_app.config["CATALOGUE_PATH"])
    try:
        return load_catalogue(path, Path(current_app.config["EBOOK_DIR"]))
    except CatalogueError as error:
        click.echo(f"{path.name}: {len(error.problems)} problem(s)", err=True)
        for problem in error.problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(1)


@catalog.command("check")
def catalog_check() -> None:
    """Validate products.yaml; exit 1 naming entry and field of every problem."""
    catalogue = _catalogue_or_exit()
    plans = sum(len(p.prices) for p in catalogue.plans)
    click.echo(
        f"Catalogue OK: {len(catalogue.books)} book(s), {len(catalogue.plans)} plan(s) "
        f"with {plans} price(s)."
    )
    for plan in catalogue.plans:
        coupon = catalogue.print_coupon(plan)
        if coupon is not None:
            click.echo(
                f"  {plan.name}: {coupon.percent_off}% off printed books (coupon {coupon.id})"
            )
        if plan.benefits.ebooks:
            click.echo(f"  {plan.name}: includes {', '.join(plan.benefits.ebooks)}")


@catalog.command("sync")
@click.option("--dry-run", is_flag=True, help="Print the plan and change nothing.")
def catalog_sync(dry_run: bool) -> None:
    """Make Stripe's products and prices match the catalogue (prints the plan first)."""
    catalogue = _catalogue_or_exit()
    client = stripe_client()
    try:
        stripe_side = sync.read_stripe(client, progress=click.echo, catalogue=catalogue)
        plan = sync.plan_sync(catalogue, stripe_side)
        click.echo(plan.summary())
        for step in plan.steps:
            click.echo(str(step))
        applied = 0
        written: list[stripe.Price] = []
        incomplete: sync.SyncIncomplete | None = None
        if plan.steps and not dry_run:
            pace = sync.Pace.for_stripe(
                current_app.config["STRIPE_SECRET_KEY"], current_app.config.get("STRIPE_API_BASE")
            )
            try:
                applied = sync.apply_sync(
                    client, plan, progress=click.echo, written=written, pace=pace
                )
            except sync.SyncIncomplete as failed:
                incomplete, applied = failed, failed.applied
        current = sync.prices_after(catalogue, stripe_side, written)
        if not dry_run:
            # What was made is recorded even when other writes failed.
            recorded, wanted = prices.record_catalogue(catalogue, current)
            click.echo(f"Recorded {recorded} of {wanted} price(s) for checkout.")
        if incomplete is not None:
            click.echo(
                f"Applied {applied} change(s); {len(incomplete.failures)} failed "
                "(run the sync again once fixed):",
                err=True,
            )
            for failure in incomplete.failures:
                click.echo(f"  {failure}", err=True)
            sys.exit(2)
        click.echo(
            sync.ensure_portal_configuration(client, catalogue, dry_run=dry_run, prices=current)
        )
        for line in sync.ensure_plan_coupons(client, catalogue, dry_run=dry_run):
            click.echo(line)
    except StripeFailure as failure:
        if failure.kind == "APIConnectionError":
            click.echo(f"Catalogue sync stopped: {describe(failure)}", err=True)
        else:
            click.echo(f"Stripe refused the sync: {failure}", err=True)
        sys.exit(2)
    if dry_run:
        click.echo("Dry run: nothing was changed.")
    elif applied:
        click.echo(f"Applied {applied} change(s). Stripe now matches the catalogue.")
