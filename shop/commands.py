"""Admin commands: `flask --app wsgi catalog|orders|users|stripe|mail|sandbox …`."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import click
from email_validator import EmailNotValidError, validate_email
from flask import Flask, current_app
from flask.cli import AppGroup

from shop import mail, sync
from shop.accounts import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from shop.catalogue import Catalogue, CatalogueError, load_catalogue
from shop.checkout.prices import PriceDirectory
from shop.endpoints import ensure_webhook_endpoint
from shop.extensions import db
from shop.models import Mail, MailStatus, User, utcnow
from shop.reconcile import reconcile
from shop.stripe_api import StripeFailure
from shop.stripe_client import stripe_client

catalog = AppGroup("catalog", help="Check the catalogue and make Stripe match it.")
users = AppGroup("users", help="Manage shop accounts.")
orders = AppGroup("orders", help="Keep orders and memberships in step with Stripe.")
stripe_group = AppGroup("stripe", help="Set up Quire's side of the Stripe account.")
mail_group = AppGroup("mail", help="Send the mail the shop has written.")
sandbox = AppGroup("sandbox", help="Run the embedded Stripe sandbox (no account needed).")


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
        stripe_side = sync.read_stripe(client, progress=click.echo)
        plan = sync.plan_sync(catalogue, stripe_side)
        click.echo(plan.summary())
        for step in plan.steps:
            click.echo(str(step))
        applied = 0
        if plan.steps and not dry_run:
            applied = sync.apply_sync(client, plan, progress=click.echo)
        click.echo(sync.ensure_portal_configuration(client, catalogue, dry_run=dry_run))
        for line in sync.ensure_plan_coupons(client, catalogue, dry_run=dry_run):
            click.echo(line)
    except StripeFailure as failure:
        click.echo(f"Stripe refused the sync: {failure}", err=True)
        sys.exit(2)
    if dry_run:
        click.echo("Dry run: nothing was changed.")
    elif applied:
        PriceDirectory.of(current_app._get_current_object()).forget()  # type: ignore[attr-defined]
        click.echo(f"Applied {applied} change(s). Stripe now matches the catalogue.")


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


@users.command("create-admin")
@click.argument("email")
@click.password_option()
def create_admin(email: str, password: str) -> None:
    """Create an admin account, or make an existing account an admin.

    The email must be an email address, and a new account's password must follow the
    sign-up form's rule (at least `MIN_PASSWORD_LENGTH` characters).
    """
    try:
        email = validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as error:
        raise click.BadParameter(f"{email!r} is not an email address: {error}") from error
    user = db.session.execute(db.select(User).filter_by(email=email)).scalar_one_or_none()
    if user is None:
        if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
            raise click.BadParameter(
                f"a password needs {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters "
                f"(this one has {len(password)})",
                param_hint="'--password'",
            )
        user = User(email=email)
        user.set_password(password)
        db.session.add(user)
    user.is_admin = True
    db.session.commit()
    click.echo(f"{email} is an admin.")


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


@sandbox.command("run", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def sandbox_run(context: click.Context) -> None:
    """Serve the sandbox (options as for `python -m stripe_sandbox run`)."""
    sys.exit(_run_sandbox(["run", *context.args]))


@sandbox.command(
    "reset", context_settings={"ignore_unknown_options": True, "allow_extra_args": True}
)
@click.pass_context
def sandbox_reset(context: click.Context) -> None:
    """Wipe the sandbox's objects, events and deliveries."""
    sys.exit(_run_sandbox(["reset", *context.args]))


def _run_sandbox(argv: list[str]) -> int:
    """The sandbox's own command line; it is a development tool, absent in production."""
    try:
        from stripe_sandbox.__main__ import main
    except ImportError:
        click.echo(
            "The Stripe sandbox is not installed (it is for development and tests): "
            "`pip install -e stripe_sandbox`, or use `make run`.",
            err=True,
        )
        return 2
    return main(argv)


@mail_group.command("send")
def mail_send() -> None:
    """Send mails still waiting (each is sent after its transaction commits; this catches
    up after a mail server outage)."""
    sent = mail.deliver_pending(limit=10_000)
    waiting = db.session.execute(
        db.select(db.func.count()).select_from(Mail).where(Mail.status != MailStatus.SENT)
    ).scalar_one()
    click.echo(f"Sent {sent} mail(s); {waiting} not sent (see their last_error).")


@mail_group.command("test")
@click.argument("address")
def mail_test(address: str) -> None:
    """Send a test mail to ADDRESS, to check the mail settings."""
    mail.queue("mail_check", address, key=f"mail-check:{address}:{utcnow().isoformat()}")
    db.session.commit()
    mail.deliver_pending()
    sent = (
        db.session.execute(
            db.select(Mail)
            .filter_by(kind="mail_check", to_address=address)
            .order_by(Mail.id.desc())
        )
        .scalars()
        .first()
    )
    if sent is None or sent.status != MailStatus.SENT:
        error = sent.last_error if sent is not None else "not written"
        click.echo(f"The test mail to {address} was not sent: {error}", err=True)
        sys.exit(1)
    where = "kept in the outbox (/outbox)" if mail.uses_outbox_for(current_app) else "sent"
    click.echo(f"Test mail to {address} {where}.")


def register(app: Flask) -> None:
    """Attach the command groups to the app's `flask` CLI."""
    for group in (catalog, orders, users, stripe_group, mail_group, sandbox):
        app.cli.add_command(group)
