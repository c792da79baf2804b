"""`flask --app wsgi stripe …`: Quire's side of the Stripe account."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from shop import webhook_secrets
from shop.commands.failures import describe
from shop.endpoints import ensure_webhook_endpoint, sandbox_refusal, webhook_url
from shop.stripe_api import StripeFailure
from shop.stripe_check import check_account
from shop.stripe_client import stripe_client
from shop.webhook_probe import send_test_event

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
    else:
        click.echo(f"Set STRIPE_WEBHOOK_SECRET={setup.secret} in the shop's environment.")


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


@stripe_group.command("test-webhook")
@click.option("--url", help="Where to send it (default: SITE_URL/webhooks/stripe).")
def test_webhook(url: str | None) -> None:
    """POST a signed event of a type Quire ignores to the shop; report what it answered."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    target = url or webhook_url(app.config["SITE_URL"])
    known = webhook_secrets.signing_secrets(app)
    if not known:
        click.echo(
            "No signing secret is known here: set STRIPE_WEBHOOK_SECRET, or run "
            "`flask --app wsgi release` (it stores the endpoint's secret)."
        )
        sys.exit(1)
    delivery = send_test_event(target, known[0])
    if delivery.status is None:
        click.echo(f"The shop is not reachable at {target}: {delivery.error}")
        sys.exit(1)
    said = f"POST {target} -> {delivery.status} in {delivery.milliseconds} ms"
    if delivery.status == 400:
        click.echo(
            f"{said}: the shop refused the signature; the secret used here does not "
            "match the shop's (compare STRIPE_WEBHOOK_SECRET, or run release there)"
        )
        sys.exit(1)
    if delivery.status != 200:
        click.echo(f"{said}: the shop did not accept event {delivery.event_id}")
        sys.exit(1)
    click.echo(f"{said}: event {delivery.event_id} {delivery.outcome} (signature accepted)")
