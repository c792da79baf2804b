"""`flask --app wsgi release`: everything a deploy needs, in order, with no hand steps.

1. the catalogue is checked (a broken one stops the release before anything changes);
2. the database is migrated (Flask-Migrate's `upgrade`, in this process);
3. Stripe's products, prices and coupons are made to match the catalogue;
4. the webhook endpoint for `SITE_URL/webhooks/stripe` is registered or brought up to
   date (exactly the events Quire handles, at the SDK's pinned API version); a new
   endpoint's signing secret is kept in the database (`shop.webhook_secrets`), since
   Stripe shows it only once and a release cannot write the platform's settings. An
   existing endpoint whose secret release did not store is replaced, even when
   STRIPE_WEBHOOK_SECRET is set: nothing can confirm that secret is the endpoint's;
5. the billing portal configuration is ensured.

Each step reports one line: `OK`, `changed` or `skipped`, and what it found. A second
run changes nothing and says so. Nothing here talks to people: the command prints.

When Stripe cannot be reached (no connection, a 5xx, rate limited) and the catalogue is
the very file the last successful release synced (`catalogue_syncs`), the Stripe steps
are reported `WARN` and the release goes out anyway: a config change or a code fix must
not wait for Stripe when nothing at Stripe needs to change. A changed catalogue still
fails the release: its prices would not exist at Stripe.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import flask_migrate
import stripe
from alembic.runtime.migration import MigrationContext
from flask import Flask

from shop import sync, webhook_secrets
from shop.catalogue import Catalogue, load_catalogue
from shop.checkout import prices
from shop.endpoints import (
    ensure_webhook_endpoint,
    find_endpoint,
    is_local,
    wanted_events,
    webhook_url,
)
from shop.extensions import db
from shop.models import CatalogueSync
from shop.stripe_api import StripeFailure

Status = Literal["OK", "changed", "skipped", "WARN"]


@dataclass(frozen=True)
class StepResult:
    """What one step of the release found or did, as one line."""

    status: Status
    step: str
    message: str

    def __str__(self) -> str:
        return f"{self.status:<8} {self.step}: {self.message}"


def load_app_catalogue(app: Flask) -> Catalogue:
    """The catalogue at `CATALOGUE_PATH` (raises `CatalogueError` naming every problem)."""
    return load_catalogue(Path(app.config["CATALOGUE_PATH"]), Path(app.config["EBOOK_DIR"]))


def check_catalogue(app: Flask) -> tuple[Catalogue, StepResult]:
    catalogue = load_app_catalogue(app)
    prices = sum(len(plan.prices) for plan in catalogue.plans)
    return catalogue, StepResult(
        "OK",
        "catalogue",
        f"{len(catalogue.books)} book(s), {len(catalogue.plans)} plan(s) with {prices} price(s)",
    )


def _revision() -> str | None:
    with db.engine.connect() as connection:
        heads = MigrationContext.configure(connection).get_current_heads()
    return ",".join(sorted(heads)) or None


@contextmanager
def _logging_left_alone() -> Iterator[None]:
    """Alembic's env.py re-reads its logging file, which replaces the root logger's
    handlers and switches existing loggers off; afterwards logging is put back as it was
    (Alembic's own lines, such as each migration it runs, still show meanwhile)."""
    root = logging.getLogger()
    root_state = (root.level, root.handlers[:])
    loggers = {
        name: (logger.disabled, logger.level, logger.handlers[:], logger.propagate)
        for name, logger in logging.root.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    try:
        yield
    finally:
        root.setLevel(root_state[0])
        root.handlers[:] = root_state[1]
        for name, logger in logging.root.manager.loggerDict.items():
            if not isinstance(logger, logging.Logger):
                continue
            if name in loggers:
                logger.disabled, logger.level, handlers, logger.propagate = loggers[name]
                logger.handlers[:] = handlers
            else:
                logger.handlers.clear()
                logger.propagate = True


def upgrade_database() -> StepResult:
    before = _revision()
    with _logging_left_alone():
        flask_migrate.upgrade()
    after = _revision()
    if after == before:
        return StepResult("OK", "database", f"at revision {after}: no migrations to run")
    return StepResult("changed", "database", f"migrated from {before or 'empty'} to {after}")


def sync_catalogue(
    client: stripe.StripeClient, catalogue: Catalogue, pace: sync.Pace = sync.NO_PACE
) -> StepResult:
    stripe_side = sync.read_stripe(client, catalogue=catalogue)
    plan = sync.plan_sync(catalogue, stripe_side)
    written: list[stripe.Price] = []
    try:
        applied = sync.apply_sync(client, plan, written=written, pace=pace) if plan.steps else 0
    finally:  # what was made is recorded even when other writes failed
        prices.record_catalogue(catalogue, sync.prices_after(catalogue, stripe_side, written))
    coupons = [
        line
        for line in sync.ensure_plan_coupons(client, catalogue)
        if not line.endswith("no changes.")
    ]
    if not applied and not coupons:
        return StepResult("OK", "Stripe catalogue", "products and prices already match")
    done = [plan.summary()] if applied else []
    done += [f"{len(coupons)} coupon(s) created"] if coupons else []
    return StepResult("changed", "Stripe catalogue", "; ".join(done))


@dataclass(frozen=True)
class WebhookStep:
    """The endpoint step's line, and the secret of the endpoint when Quire knows it."""

    result: StepResult
    secret: str | None = None


def register_webhook(app: Flask, client: stripe.StripeClient) -> WebhookStep:
    """Register or update the endpoint for `SITE_URL/webhooks/stripe` (with a real key, or
    a local address in the sandbox); store a new endpoint's secret."""
    url = webhook_url(app.config["SITE_URL"])
    if app.config.get("STRIPE_USES_SANDBOX") and not is_local(url):
        return WebhookStep(
            StepResult(
                "skipped",
                "webhook endpoint",
                f"no STRIPE_SECRET_KEY: {url} is registered only in your Stripe account, "
                "not in the local sandbox",
            )
        )
    configured = tuple(app.config.get("STRIPE_WEBHOOK_SECRETS") or ())
    stored = webhook_secrets.stored_secret(url)
    existing = find_endpoint(client, url)
    # Only a secret release stored for the endpoint Stripe has now is trusted: Stripe
    # cannot confirm a configured STRIPE_WEBHOOK_SECRET, which may belong to another
    # endpoint or account (then every real delivery would be refused with 400).
    known = stored is not None and existing is not None and stored.stripe_endpoint_id == existing.id
    setup = ensure_webhook_endpoint(client, url, replace=existing is not None and not known)
    events = len(wanted_events())
    if setup.created:
        assert setup.secret is not None
        webhook_secrets.store_secret(setup.endpoint_id, url, setup.secret)
        why = ""
        if existing is not None:
            why = "replacing one whose secret was unknown"
            if configured:
                why += " (STRIPE_WEBHOOK_SECRET is set, but Stripe cannot confirm it is that one's)"
            why += ", "
        return WebhookStep(
            StepResult(
                "changed",
                "webhook endpoint",
                f"created {setup.endpoint_id} for {url} ({why}{events} events); "
                "its signing secret is stored in the database",
            ),
            setup.secret,
        )
    secret = stored.secret if known and stored is not None else None
    if setup.updated:
        message = f"{setup.endpoint_id} enabled for exactly the {events} events Quire handles"
        return WebhookStep(StepResult("changed", "webhook endpoint", message), secret)
    message = f"{setup.endpoint_id} delivers {events} events to {url}"
    return WebhookStep(StepResult("OK", "webhook endpoint", message), secret)


def ensure_portal(client: stripe.StripeClient, catalogue: Catalogue) -> StepResult:
    said = sync.ensure_portal_configuration(client, catalogue)
    if said == sync.PORTAL_UNCHANGED:
        return StepResult("OK", "billing portal", "configuration already as Quire needs it")
    done = "created" if said.startswith("create") else "updated"
    return StepResult("changed", "billing portal", f"configuration {done}")


def catalogue_fingerprint(app: Flask) -> str:
    """The SHA-256 of the catalogue file as it is now (any change counts, comments too)."""
    return hashlib.sha256(Path(app.config["CATALOGUE_PATH"]).read_bytes()).hexdigest()


def last_sync() -> CatalogueSync | None:
    found: CatalogueSync | None = db.session.execute(
        db.select(CatalogueSync).order_by(CatalogueSync.synced_at.desc()).limit(1)
    ).scalar_one_or_none()
    return found


def stripe_unreachable(failure: StripeFailure) -> bool:
    """Stripe is down or away (not: it refused the request, e.g. a wrong key)."""
    status = failure.http_status or 0
    return failure.kind in ("APIConnectionError", "RateLimitError") or status >= 500


def run_release(
    app: Flask, client: stripe.StripeClient, report: Callable[[StepResult], None]
) -> WebhookStep:
    """Run every step in order, reporting each as it ends. Raises `CatalogueError` before
    anything changes, or `StripeFailure` at the step Stripe failed (unless Stripe is
    unreachable and the catalogue is the one last synced: then `WARN`, and it goes on)."""
    catalogue, checked = check_catalogue(app)
    fingerprint = catalogue_fingerprint(app)
    report(checked)
    report(upgrade_database())
    pace = sync.Pace.for_stripe(app.config["STRIPE_SECRET_KEY"], app.config.get("STRIPE_API_BASE"))
    try:
        report(sync_catalogue(client, catalogue, pace))
        webhook = register_webhook(app, client)
        report(webhook.result)
        report(ensure_portal(client, catalogue))
    except StripeFailure as failure:
        db.session.rollback()
        synced = last_sync()
        if not stripe_unreachable(failure) or synced is None:
            raise
        if synced.catalogue_sha256 != fingerprint:
            raise StripeFailure(
                failure.kind,
                f"{failure} — and the catalogue changed since the last sync "
                f"({synced.synced_at:%Y-%m-%d %H:%M} UTC), so Stripe must be reached: "
                "release again once it answers",
                http_status=failure.http_status,
                request_id=failure.request_id,
            ) from failure
        report(
            StepResult(
                "WARN",
                "Stripe",
                f"unreachable ({failure.kind}, status {failure.http_status or '-'}); the "
                f"catalogue is unchanged since the sync of {synced.synced_at:%Y-%m-%d %H:%M} "
                "UTC, so the Stripe steps are skipped: release again once Stripe answers",
            )
        )
        return WebhookStep(StepResult("WARN", "webhook endpoint", "not checked"))
    synced_before = last_sync()
    if synced_before is not None and synced_before.catalogue_sha256 == fingerprint:
        return webhook
    db.session.add(CatalogueSync(catalogue_sha256=fingerprint))
    db.session.commit()
    return webhook
