"""`flask --app wsgi stripe …`: Quire's side of the Stripe account."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import AppGroup

from shop.endpoints import ensure_webhook_endpoint
from shop.stripe_api import StripeFailure
from shop.stripe_client import stripe_client

stripe_group = AppGroup("stripe", help="Set up Quire's side of the Stripe account.")


@stripe_group.command("webhook-endpoint")
@click.argument("url")
@click.option("--replace", is_flag=True, help="Recreate it (its secret is shown only once).")
@click.option(
    "--secret-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a new endpoint's signing secret here instead of printing it.",
)
def webhook_endpoint(url: str, replace: bool, secret_file: Path | None) -> None:
    """Register URL (…/webhooks/stripe) for exactly the events Quire handles."""
    try:
        setup = ensure_webhook_endpoint(stripe_client(), url, replace=replace)
    except StripeFailure as failure:
        click.echo(f"Stripe refused: {failure}", err=True)
        sys.exit(2)
    if not setup.created:
        click.echo(f"Webhook endpoint {setup.endpoint_id} already delivers to {url}.")
        return
    click.echo(f"Created webhook endpoint {setup.endpoint_id} for {url}.")
    if secret_file is not None:
        secret_file.parent.mkdir(parents=True, exist_ok=True)
        secret_file.write_text(setup.secret or "")
        secret_file.chmod(0o600)
        click.echo(f"Its signing secret is in {secret_file}.")
    else:
        click.echo(f"Set STRIPE_WEBHOOK_SECRET={setup.secret} in the shop's environment.")
