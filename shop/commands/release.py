"""`flask --app wsgi release`: the Procfile's release phase (see `shop.release`)."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import with_appcontext

from shop import DATABASE_DOWN
from shop.catalogue import CatalogueError
from shop.commands.failures import describe
from shop.release import StepResult, run_release
from shop.stripe_api import StripeFailure
from shop.stripe_client import stripe_client


@click.command("release")
@click.option(
    "--print-secret",
    is_flag=True,
    help="Also print the command that puts the endpoint's signing secret in Heroku's config.",
)
@with_appcontext
def release(print_secret: bool) -> None:
    """Check the catalogue, migrate, sync Stripe, register the webhook, ensure the portal."""
    changed: list[StepResult] = []

    def report(result: StepResult) -> None:
        click.echo(str(result))
        if result.status == "changed":
            changed.append(result)

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        webhook = run_release(app, stripe_client(), report)
    except CatalogueError as error:
        click.echo(f"FAIL     catalogue: {len(error.problems)} problem(s); nothing was changed")
        for problem in error.problems:
            click.echo(f"  {problem}")
        sys.exit(1)
    except StripeFailure as failure:
        click.echo(f"FAIL     {describe(failure)}")
        sys.exit(2)
    except DATABASE_DOWN as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        click.echo(f"FAIL     database: cannot be reached ({reason}); check DATABASE_URL")
        sys.exit(3)
    if print_secret:
        if webhook.secret:
            click.echo(
                f"heroku config:set STRIPE_WEBHOOK_SECRET={webhook.secret} --app $HEROKU_APP_NAME"
            )
        else:
            click.echo("No signing secret is known for the endpoint: nothing to print.")
    if webhook.result.status == "WARN":
        click.echo("Release done, with a warning: Stripe was not reached (see above).")
    elif changed:
        click.echo(f"Release done: {len(changed)} step(s) changed something.")
    else:
        click.echo("Release done: nothing changed.")
