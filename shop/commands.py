"""Admin commands: `flask --app wsgi catalog|users …`."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import stripe
from flask import Flask, current_app
from flask.cli import AppGroup

from shop import sync
from shop.catalogue import Catalogue, CatalogueError, load_catalogue
from shop.extensions import db
from shop.models import User
from shop.stripe_client import describe_error, stripe_client

catalog = AppGroup("catalog", help="Check the catalogue and make Stripe match it.")
users = AppGroup("users", help="Manage shop accounts.")


def _catalogue_or_exit() -> Catalogue:
    """The catalogue at CATALOGUE_PATH, or exit 1 with one line per problem."""
    path = Path(current_app.config["CATALOGUE_PATH"])
    try:
        return load_catalogue(path)
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


@catalog.command("sync")
@click.option("--dry-run", is_flag=True, help="Print the plan and change nothing.")
def catalog_sync(dry_run: bool) -> None:
    """Make Stripe's products and prices match the catalogue (prints the plan first)."""
    catalogue = _catalogue_or_exit()
    client = stripe_client()
    try:
        stripe_side = sync.read_stripe(client, progress=click.echo)
        plan = sync.plan_sync(catalogue, stripe_side)
        click.echo(plan.summary())
        for step in plan.steps:
            click.echo(str(step))
        if dry_run or not plan.steps:
            if dry_run and plan.steps:
                click.echo("Dry run: nothing was changed.")
            return
        applied = sync.apply_sync(client, plan, progress=click.echo)
    except stripe.StripeError as error:
        click.echo(f"Stripe refused the sync: {describe_error(error)}", err=True)
        sys.exit(2)
    current_app.extensions["quire.prices"].forget()
    click.echo(f"Applied {applied} change(s). Stripe now matches the catalogue.")


@users.command("create-admin")
@click.argument("email")
@click.password_option()
def create_admin(email: str, password: str) -> None:
    """Create an admin account, or make an existing account an admin."""
    email = email.strip().lower()
    user = db.session.execute(db.select(User).filter_by(email=email)).scalar_one_or_none()
    if user is None:
        user = User(email=email)
        user.set_password(password)
        db.session.add(user)
    user.is_admin = True
    db.session.commit()
    click.echo(f"{email} is an admin.")


def register(app: Flask) -> None:
    """Attach the command groups to the app's `flask` CLI."""
    app.cli.add_command(catalog)
    app.cli.add_command(users)
