"""Links from admin pages to an object in Stripe's dashboard (or the sandbox's).

Ids carry their kind in their prefix (`cus_`, `sub_`, `in_`…), so one function serves
every page: `{{ stripe_link("sub_123") }}` in a template gives the object's address.
"""

from __future__ import annotations

from flask import Flask, current_app

#: Where each kind of object lives in Stripe's dashboard, by id prefix.
DASHBOARD_PATHS = {
    "cus_": "customers",
    "sub_": "subscriptions",
    "in_": "invoices",
    "pi_": "payments",
    "ch_": "payments",
    "re_": "refunds",
    "dp_": "disputes",
    "du_": "disputes",
    "cs_": "checkout/sessions",
    "evt_": "events",
    "prod_": "products",
    "price_": "prices",
    "we_": "webhooks",
}

STRIPE_DASHBOARD = "https://dashboard.stripe.com"


def stripe_dashboard_url(object_id: str | None, app: Flask | None = None) -> str | None:
    """The dashboard address of a Stripe object, or None for a blank or unknown id.

    With the embedded sandbox, its own dashboard's object page; with a test key, the
    test-mode dashboard; with a live key, the live one.
    """
    if not object_id:
        return None
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    if app.config.get("STRIPE_USES_SANDBOX"):
        base = str(app.config.get("STRIPE_API_BASE") or "").rstrip("/")
        return f"{base}/dashboard/objects/{object_id}" if base else None
    path = next(
        (where for prefix, where in DASHBOARD_PATHS.items() if object_id.startswith(prefix)),
        None,
    )
    if path is None:
        return None
    key = str(app.config.get("STRIPE_SECRET_KEY") or "")
    mode = "" if key.startswith(("sk_live_", "rk_live_")) else "/test"
    return f"{STRIPE_DASHBOARD}{mode}/{path}/{object_id}"


def init_app(app: Flask) -> None:
    """Make `stripe_link(id)` available to every template."""
    app.jinja_env.globals["stripe_link"] = lambda object_id: stripe_dashboard_url(object_id, app)
