"""`flask --app wsgi stripe …`: Quire's side of the Stripe account."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy.exc import SQLAlchemyError

from shop import webhook_secrets
from shop.commands.failures import describe
from shop.endpoints import ensure_webhook_endpoint, find_endpoint, sandbox_refusal, webhook_url
from shop.extensions import db
from shop.stripe_api import StripeFailure
from shop.stripe_check import check_account
from shop.stripe_client import stripe_client
from shop.webhook_probe import send_test_event

stripe_group = AppGroup("stripe", help="Set up Quire's side of the Stripe account.")


@stripe_group.command("webhook-endpoint")
@click.argument("url")
@click.option(
    "--replace", is_flag=True, help="Recreate it (Stripe shows a secret only on creation)."
)
@click.option(
    "--secret-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a new endpoint's signing secret here instead of storing it in the database.",
)
def webhook_endpoint(url: str, replace: bool, secret_file: Path | None) -> None:
    """Register URL (…/webhooks/stripe) for exactly the events Quire handles; a new
    endpoint's signing secret is stored in the database, as `release` does."""
    refusal = sandbox_refusal(url, uses_sandbox=bool(current_app.config.get("STRIPE_USES_SANDBOX")))
    if refusal is not None:
        click.echo(refusal, err=True)
        sys.exit(2)
    try:
        setup = ensure_webhook_endpoint(stripe_client(), url, replace=replace)
    except StripeFailure as failure:
        click.echo(describe(failure), err=True)
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
        return
    try:
        webhook_secrets.store_secret(setup.endpoint_id, url, setup.secret or "")
    except SQLAlchemyError as error:
        db.session.rollback()
        click.echo(
            f"Its signing secret could not be stored in the database ({type(error).__name__}): "
            "run `flask --app wsgi db upgrade`, then this again with --replace.",
            err=True,
        )
        sys.exit(1)
    click.echo("Its signing secret is stored in the database; the webhook reads it from there.")


@stripe_group.command("check")
def check() -> None:
    """Say, one line per check, whether the Stripe account is ready; exit 1 if not."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        checks = check_account(app, stripe_client())
    except StripeFailure as failure:
        click.echo(f"FIX  {describe(failure)}")
        sys.exit(1)
    for found in checks:
        click.echo(str(found))
    if any(found.verdict == "FIX" for found in checks):
        sys.exit(1)


def _test_secret(app: Flask, target: str) -> tuple[str | None, str]:
    """The secret to sign a test event for `target` with, and which one it is: the one
    release stored for the endpoint Stripe has there now, else STRIPE_WEBHOOK_SECRET
    (which Stripe cannot confirm). With neither, None and why."""
    stored = webhook_secrets.stored_secret(target)
    unconfirmed = ""
    if stored is not None:
        try:
            endpoint = find_endpoint(stripe_client(), target)
        except StripeFailure as failure:
            endpoint = None
            unconfirmed = f" (Stripe could not be asked: {describe(failure)})"
        if endpoint is not None and endpoint.id == stored.stripe_endpoint_id:
            return stored.secret, f"the secret release stored for {endpoint.id}"
        if not unconfirmed:
            unconfirmed = (
                f" (the stored secret is for {stored.stripe_endpoint_id}, gone from Stripe)"
            )
    configured = tuple(app.config.get("STRIPE_WEBHOOK_SECRETS") or ())
    if configured:
        return configured[0], f"STRIPE_WEBHOOK_SECRET, which Stripe cannot confirm{unconfirmed}"
    return None, unconfirmed


@stripe_group.command("test-webhook")
@click.option("--url", help="Where to send it (default: SITE_URL/webhooks/stripe).")
def test_webhook(url: str | None) -> None:
    """POST a signed event of a type Quire ignores to the shop; report what it answered."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    target = url or webhook_url(app.config["SITE_URL"])
    secret, which = _test_secret(app, target)
    if secret is None:
        click.echo(
            f"No signing secret is known here for Stripe's endpoint at {target}{which}: run "
            "`flask --app wsgi release` (it stores the endpoint's secret)."
        )
        sys.exit(1)
    click.echo(f"Signing with {which}.")
    delivery = send_test_event(target, secret)
    if delivery.status is None:
        click.echo(f"The shop is not reachable at {target}: {delivery.error}")
        sys.exit(1)
    said = f"POST {target} -> {delivery.status} in {delivery.milliseconds} ms"
    if delivery.status == 400:
        click.echo(
            f"{said}: the shop refused the signature; the secret used here does not "
            "match the shop's (unset STRIPE_WEBHOOK_SECRET and run release there)"
        )
        sys.exit(1)
    if delivery.status != 200:
        click.echo(f"{said}: the shop did not accept event {delivery.event_id}")
        sys.exit(1)
    click.echo(f"{said}: event {delivery.event_id} {delivery.outcome} (signature accepted)")
