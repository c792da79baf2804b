"""The billing portal: a customer's subscriptions, invoices and card, and changes to them."""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, abort, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from ..api.base import current_sandbox
from ..core.errors import StripeError
from ..core.sandbox import Sandbox
from ..flows.engine import CardDetails
from ..flows.portal import (
    configuration_of,
    portal_cancel_at_period_end,
    portal_resume,
    portal_switch_price,
    portal_update_card,
)
from . import account, queries
from .forms import check_post, form_token, read_card

Page = BaseResponse | tuple[str, int] | str

#: Confirmations shown after a change (the redirect names one; no text travels in URLs).
NOTICES = {
    "canceled": "Your subscription will be canceled at the end of the billing period.",
    "resumed": "Your subscription has been resumed.",
    "switched": "Your plan has been changed.",
    "card": "Your card has been updated.",
}


def register(bp: Blueprint) -> None:
    """Add the portal routes to the pages blueprint."""
    bp.add_url_rule("/portal/<portal_id>", "portal_page", portal_page, methods=["GET"])
    bp.add_url_rule(
        "/portal/<portal_id>/subscriptions/<subscription_id>/<action>",
        "portal_change",
        portal_change,
        methods=["POST"],
    )
    bp.add_url_rule("/portal/<portal_id>/card", "portal_card", portal_card, methods=["GET", "POST"])


def _portal(sandbox: Sandbox, portal_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The portal session and its customer; 404 when either is unknown."""
    portal = sandbox.store.get_typed("billing_portal.session", portal_id)
    if portal is None:
        abort(404)
    customer = sandbox.store.get_typed("customer", str(portal.get("customer")))
    if customer is None:
        abort(404)
    return portal, customer


def _allowed_switch(features: dict[str, Any], plan: account.Plan) -> account.Plan:
    """``plan`` offering its switch only when the portal configuration allows that price."""
    update = features.get("subscription_update") or {}
    allowed = {p for product in update.get("products") or [] for p in product.get("prices") or []}
    if update.get("enabled") and plan.switch_price_id in allowed:
        return plan
    return dataclasses.replace(plan, switch_price_id=None, switch_label=None)


def _plans(sandbox: Sandbox, features: dict[str, Any], customer_id: str) -> list[account.Plan]:
    return [_allowed_switch(features, plan) for plan in account.plans(sandbox, customer_id)]


def _subject(portal_id: str) -> str:
    return f"portal:{portal_id}"


def _overview(
    sandbox: Sandbox,
    portal: dict[str, Any],
    customer: dict[str, Any],
    *,
    notice: str | None = None,
    problem: str | None = None,
) -> str:
    """The portal's page, with a confirmation or a problem to report."""
    features = configuration_of(sandbox, portal)
    return render_template(
        "sandbox/portal.html",
        portal=portal,
        customer=customer,
        shop_name=queries.shop_name(sandbox),
        return_label=queries.shop_name(sandbox) or urlsplit(str(portal.get("return_url"))).netloc,
        plans=_plans(sandbox, features, str(customer["id"])),
        features=features,
        invoices=account.invoices(sandbox, str(customer["id"])),
        card=account.default_card(sandbox, customer),
        notice=notice,
        problem=problem,
        token=form_token(_subject(str(portal["id"]))),
    )


def portal_page(portal_id: str) -> Page:
    """The customer's plans, invoices and card."""
    sandbox = current_sandbox()
    portal, customer = _portal(sandbox, portal_id)
    return _overview(sandbox, portal, customer, notice=NOTICES.get(request.args.get("done", "")))


def portal_change(portal_id: str, subscription_id: str, action: str) -> Page:
    """Cancel at period end, resume, or switch the interval of one of the customer's plans."""
    sandbox = current_sandbox()
    check_post(_subject(portal_id))
    portal, customer = _portal(sandbox, portal_id)
    subscription = sandbox.store.get_typed("subscription", subscription_id)
    if subscription is None or subscription.get("customer") != customer["id"]:
        abort(404)
    features = configuration_of(sandbox, portal)
    if action in ("cancel", "resume") and not features["subscription_cancel"]["enabled"]:
        abort(403, "This portal does not offer cancellation.")
    try:
        if action == "cancel":
            portal_cancel_at_period_end(sandbox, subscription_id)
            done = "canceled"
        elif action == "resume":
            portal_resume(sandbox, subscription_id)
            done = "resumed"
        elif action == "switch":
            price_id = _allowed_switch(
                features, account.plan(sandbox, subscription)
            ).switch_price_id
            if price_id is None:
                abort(409, "This plan has no other billing interval to switch to.")
            portal_switch_price(sandbox, subscription_id, price_id)
            done = "switched"
        else:
            abort(404)
    except StripeError as exc:
        return _overview(sandbox, portal, customer, problem=exc.message), 400
    return redirect(url_for("pages.portal_page", portal_id=portal_id, done=done), 303)


def portal_card(portal_id: str) -> Page:
    """Show the card form, or save a new default card for the customer."""
    sandbox = current_sandbox()
    portal, customer = _portal(sandbox, portal_id)
    if not configuration_of(sandbox, portal)["payment_method_update"]["enabled"]:
        abort(403, "This portal does not offer updating the card.")
    errors: dict[str, str] = {}
    message = None
    name = str(customer.get("name") or "")
    if request.method == "POST":
        check_post(_subject(portal_id))
        card = read_card(request.form)
        name, errors = card.name, card.errors
        if not errors:
            details = CardDetails(
                number=card.number,
                exp_month=card.exp_month,
                exp_year=card.exp_year,
                cvc=card.cvc,
                name=card.name,
            )
            outcome = portal_update_card(sandbox, str(customer["id"]), details)
            if outcome.status != "declined":
                return redirect(url_for("pages.portal_page", portal_id=portal_id, done="card"), 303)
            message = outcome.message
    page = render_template(
        "sandbox/portal_card.html",
        portal=portal,
        shop_name=queries.shop_name(sandbox),
        name=name,
        errors=errors,
        message=message,
        token=form_token(_subject(portal_id)),
    )
    return page, (402 if message else 400 if errors else 200)
