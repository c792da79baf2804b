"""How commands word a Stripe failure: an unreachable sandbox says how to start it."""

from __future__ import annotations

from flask import current_app

from shop.stripe_api import StripeFailure


def describe(failure: StripeFailure) -> str:
    """One line for people: what went wrong and, when the sandbox is down, what to do."""
    if failure.kind == "APIConnectionError" and current_app.config.get("STRIPE_USES_SANDBOX"):
        address = current_app.config.get("STRIPE_API_BASE") or "its address"
        return (
            f"the Stripe sandbox is not running at {address} (no STRIPE_SECRET_KEY, so Quire "
            "uses it): start it with `make run` or `flask --app wsgi sandbox run`, "
            "or set STRIPE_SECRET_KEY=sk_… to use your Stripe account"
        )
    if failure.kind == "APIConnectionError":
        return f"Stripe could not be reached: {failure}"
    return f"Stripe refused: {failure}"
