"""`flask --app wsgi stripe check`: is the Stripe account ready for this shop?

One line per check, `OK …` or `FIX …` saying what to do. A `WARN` (a live key in
development; a signing secret only configured, which Stripe cannot confirm is the
endpoint's) does not fail the command. Stripe is read with list calls only; nothing is
changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import stripe
from flask import Flask

from shop import sync, webhook_secrets
from shop.catalogue import CatalogueError
from shop.endpoints import find_endpoint, is_local, wanted_events, webhook_url
from shop.release import load_app_catalogue
from shop.stripe_api import StripeFailure

Verdict = Literal["OK", "FIX", "WARN"]
RELEASE = "run `flask --app wsgi release`"


@dataclass(frozen=True)
class Check:
    """One finding: whether it is right and, when not, what to do."""

    verdict: Verdict
    text: str

    def __str__(self) -> str:
        return f"{self.verdict:<4} {self.text}"


def _key_checks(app: Flask) -> list[Check]:
    key: str = app.config.get("STRIPE_SECRET_KEY") or ""
    if app.config.get("STRIPE_USES_SANDBOX"):
        where = app.config.get("STRIPE_API_BASE")
        return [Check("OK", f"key: none set, so the embedded sandbox at {where} stands in")]
    if not key:
        return [Check("FIX", "key: set STRIPE_SECRET_KEY=sk_test_… or sk_live_…")]
    if key.startswith(("sk_live_", "rk_live_")):
        checks = [Check("OK", "key: a live key (real payments)")]
        if app.config.get("QUIRE_ENV") != "production":
            checks.append(
                Check("WARN", "key: a live key in development; use sk_test_… on this machine")
            )
        return checks
    if key.startswith(("sk_test_", "rk_test_")):
        return [Check("OK", "key: a test key (test mode)")]
    return [Check("FIX", "key: STRIPE_SECRET_KEY is not a Stripe secret key (sk_test_…/sk_live_…)")]


def _endpoint_checks(app: Flask, endpoint: stripe.WebhookEndpoint | None, url: str) -> list[Check]:
    if endpoint is None:
        return [Check("FIX", f"webhook endpoint: none for {url}; {RELEASE}")]
    checks = []
    if endpoint.status == "enabled":
        checks.append(Check("OK", f"webhook endpoint: {endpoint.id} for {url}, enabled"))
    else:
        checks.append(Check("FIX", f"webhook endpoint: {endpoint.id} is disabled; {RELEASE}"))
    if endpoint.api_version == stripe.api_version:
        checks.append(Check("OK", f"endpoint API version: {endpoint.api_version}"))
    else:
        checks.append(
            Check(
                "FIX",
                f"endpoint API version: {endpoint.api_version}, not {stripe.api_version}; "
                f"{RELEASE} (it makes a new endpoint)",
            )
        )
    enabled = set(endpoint.enabled_events)
    missing = sorted(set(wanted_events()) - enabled)
    extra = sorted(enabled - set(wanted_events()))
    if not missing and not extra:
        checks.append(Check("OK", f"endpoint events: the {len(enabled)} events Quire handles"))
    else:
        wrong = [f"missing {', '.join(missing)}"] if missing else []
        wrong += [f"not handled {', '.join(extra)}"] if extra else []
        checks.append(Check("FIX", f"endpoint events: {'; '.join(wrong)}; {RELEASE}"))
    configured = app.config.get("STRIPE_WEBHOOK_SECRETS") or ()
    stored = webhook_secrets.stored_secret(url)
    if stored is not None and stored.stripe_endpoint_id == endpoint.id:
        checks.append(Check("OK", f"signing secret: stored by release for {endpoint.id}"))
    elif configured:
        checks.append(
            Check(
                "WARN",
                "signing secret: from STRIPE_WEBHOOK_SECRET, which Stripe cannot confirm; "
                "if deliveries fail with 400 (see /admin/events or the Stripe dashboard), "
                "unset it and run release",
            )
        )
    else:
        checks.append(
            Check(
                "FIX",
                f"signing secret: none known for {endpoint.id}; {RELEASE} "
                "(it replaces the endpoint and stores the new secret)",
            )
        )
    return checks


def _catalogue_checks(app: Flask, client: stripe.StripeClient) -> list[Check]:
    try:
        catalogue = load_app_catalogue(app)
    except CatalogueError as error:
        return [
            Check(
                "FIX",
                f"catalogue: {len(error.problems)} problem(s); see `flask --app wsgi catalog check`",
            )
        ]
    checks = []
    portal = sync.ensure_portal_configuration(client, catalogue, dry_run=True)
    if portal == sync.PORTAL_UNCHANGED:
        checks.append(Check("OK", "billing portal: configured as Quire needs it"))
    else:
        verb = "missing" if portal.startswith("create") else "differs from the catalogue's plans"
        checks.append(Check("FIX", f"billing portal: configuration {verb}; {RELEASE}"))
    plan = sync.plan_sync(catalogue, sync.read_stripe(client, catalogue=catalogue))
    coupons = [
        line
        for line in sync.ensure_plan_coupons(client, catalogue, dry_run=True)
        if not line.endswith("no changes.")
    ]
    if not plan.steps and not coupons:
        checks.append(Check("OK", "catalogue: Stripe's products, prices and coupons match"))
    else:
        todo = plan.summary() if plan.steps else f"{len(coupons)} coupon(s) to create"
        checks.append(Check("FIX", f"catalogue: {todo}; {RELEASE} (or `catalog sync`)"))
    return checks


def check_account(app: Flask, client: stripe.StripeClient) -> list[Check]:
    """Every check, in order; stops after the key when Stripe cannot be used with it."""
    checks = _key_checks(app)
    if any(check.verdict == "FIX" for check in checks):
        return checks
    url = webhook_url(app.config["SITE_URL"])
    try:
        endpoint = find_endpoint(client, url)  # also proves the key works: one list call
    except StripeFailure as failure:
        if failure.kind == "APIConnectionError":
            raise
        return [*checks, Check("FIX", f"key: Stripe refused it ({failure.code or failure.kind})")]
    checks.append(Check("OK", "key: Stripe accepts it"))
    checks.append(Check("OK", f"API version: {stripe.api_version} (the SDK's pinned version)"))
    if app.config.get("STRIPE_USES_SANDBOX") and not is_local(url):
        checks.append(
            Check("OK", f"webhook endpoint: {url} is public; the sandbox does not deliver there")
        )
    else:
        checks.extend(_endpoint_checks(app, endpoint, url))
    checks.extend(_catalogue_checks(app, client))
    return checks
