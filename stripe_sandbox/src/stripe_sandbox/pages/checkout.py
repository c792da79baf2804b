"""Hosted Checkout: the payment page a Checkout Session's ``url`` points to."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from ..api.base import current_sandbox
from ..core.errors import StripeError
from ..core.sandbox import Sandbox
from ..flows import engine
from ..flows.checkout import load_session, saved_cards
from . import queries
from .display import COUNTRY_NAMES
from .forms import ShippingInput, check_post, form_token, read_card, read_email, read_shipping

Page = BaseResponse | tuple[str, int] | str

#: Test bank accounts for the delayed debit: any account settles, except the engine's failing ones.
BANK_ACCOUNTS = {"succeeds": "000123456789", "fails": engine.FAILING_BANK_ACCOUNTS[0]}


def register(bp: Blueprint) -> None:
    """Add the Checkout routes to the pages blueprint."""
    bp.add_url_rule("/checkout/<session_id>", "checkout_page", checkout_page, methods=["GET"])
    bp.add_url_rule("/checkout/<session_id>", "checkout_pay", checkout_pay, methods=["POST"])
    bp.add_url_rule(
        "/checkout/<session_id>/authenticate",
        "checkout_authenticate",
        checkout_authenticate,
        methods=["GET", "POST"],
    )


def _session(sandbox: Sandbox, session_id: str) -> dict[str, Any]:
    """The Checkout Session, expired first if its time is up; 404 when unknown."""
    try:
        with sandbox.store.transaction():
            return load_session(sandbox, session_id)
    except StripeError:
        abort(404)


def _subject(session_id: str) -> str:
    return f"checkout:{session_id}"


def _prefilled_email(sandbox: Sandbox, session: dict[str, Any]) -> str:
    """The email Checkout starts with: ``customer_email`` or the customer's own."""
    if session.get("customer_email"):
        return str(session["customer_email"])
    customer = queries.resolve(sandbox, session.get("customer")) or {}
    return str(customer.get("email") or "")


def _closed(sandbox: Sandbox, session: dict[str, Any]) -> Page:
    """The page for a session that can no longer be paid."""
    status = 410 if session.get("status") == "expired" else 200
    success_url = str(session.get("success_url") or "").replace(
        "{CHECKOUT_SESSION_ID}", str(session["id"])
    )
    return (
        render_template(
            "sandbox/checkout_closed.html",
            session=session,
            shop_name=queries.shop_name(sandbox),
            success_url=success_url,
        ),
        status,
    )


def _form_page(
    sandbox: Sandbox,
    session: dict[str, Any],
    *,
    status: int = 200,
    email: str | None = None,
    name: str = "",
    method: str | None = None,
    shipping: ShippingInput | None = None,
    errors: dict[str, str] | None = None,
    message: str | None = None,
    save_card: bool = False,
) -> Page:
    """The payment form; after a failure the shopper's email and name are kept, the card is not.

    A returning customer's saved cards come first, the newest selected."""
    lines = queries.checkout_lines(sandbox, session)
    countries = queries.allowed_countries(session)
    cards = queries.saved_card_choices(saved_cards(sandbox, session))
    shipping_choices = queries.shipping_choices(sandbox, session)
    if method is None:
        method = cards[0].payment_method if cards else "card"
    return (
        render_template(
            "sandbox/checkout.html",
            session=session,
            shop_name=queries.shop_name(sandbox),
            lines=lines,
            trial_terms=queries.trial_terms(session, lines),
            submit_label=queries.submit_label(session),
            countries=countries,
            country_names=COUNTRY_NAMES,
            shipping=shipping or ShippingInput("", "", "", "", countries[0] if countries else ""),
            email=_prefilled_email(sandbox, session) if email is None else email,
            name=name,
            method=method,
            bank_debit_allowed="bank_debit" in (session.get("payment_method_types") or []),
            shipping_choices=shipping_choices,
            chosen=queries.chosen_shipping(session, shipping_choices),
            discount_label=queries.discount_label(sandbox, session),
            saved_cards=cards,
            offers_saving=queries.offers_saving(session),
            save_card=save_card,
            bank_accounts=BANK_ACCOUNTS,
            errors=errors or {},
            message=message,
            token=form_token(_subject(str(session["id"]))),
        ),
        status,
    )


def checkout_page(session_id: str) -> Page:
    """Show the payment form, or why the session cannot be paid any more."""
    sandbox = current_sandbox()
    session = _session(sandbox, session_id)
    if session.get("status") != "open":
        return _closed(sandbox, session)
    if queries.awaiting_authentication(session):
        return redirect(url_for("pages.checkout_authenticate", session_id=session_id), 303)
    return _form_page(sandbox, session)


def checkout_pay(session_id: str) -> Page:
    """Read the form, pay through the engine, and follow the outcome."""
    sandbox = current_sandbox()
    check_post(_subject(session_id))
    session = _session(sandbox, session_id)
    if session.get("status") != "open":
        return _closed(sandbox, session)

    form = request.form
    chosen = form.get("payment_method", "card")
    method = chosen if chosen in ("bank_debit", "card") or chosen.startswith("pm_") else "card"
    email, email_error = read_email(form)
    errors = {"email": email_error} if email_error else {}
    countries = queries.allowed_countries(session)
    shipping = read_shipping(form, countries) if countries else None
    if shipping:
        errors.update(shipping.errors)
    shipping_rate = form.get("shipping_rate") or None
    save_card = form.get("save_card") == "on"

    details: engine.PaymentDetails | None = None
    name = ""
    if method.startswith("pm_"):
        if not errors:
            details = engine.PaymentDetails(
                email=email,
                payment_method=method,
                shipping=_shipping_address(shipping),
                shipping_rate=shipping_rate,
                save_card=save_card,
            )
    elif method == "card":
        card = read_card(form)
        name = card.name
        errors.update(card.errors)
        if not errors:
            details = engine.PaymentDetails(
                email=email,
                name=name,
                card=engine.CardDetails(
                    number=card.number,
                    exp_month=card.exp_month,
                    exp_year=card.exp_year,
                    cvc=card.cvc,
                    name=name,
                ),
                shipping=_shipping_address(shipping),
                shipping_rate=shipping_rate,
                save_card=save_card,
            )
    else:
        name = form.get("account_holder", "").strip()
        account = "".join(ch for ch in form.get("account_number", "") if ch.isdigit())
        if not name:
            errors["account_holder"] = "Enter the account holder's name."
        if len(account) < 4:
            errors["account_number"] = "Enter the account number."
        if not errors:
            details = engine.PaymentDetails(
                email=email,
                name=name,
                method="bank_debit",
                bank_account_number=account,
                shipping=_shipping_address(shipping),
                shipping_rate=shipping_rate,
            )

    if details is None:
        return _form_page(
            sandbox,
            session,
            status=400,
            email=email,
            name=name,
            method=method,
            shipping=shipping,
            errors=errors,
            save_card=save_card,
        )
    try:
        outcome = engine.pay_checkout_session(sandbox, session_id, details)
    except StripeError as exc:
        outcome = engine.PaymentOutcome(status="declined", message=exc.message)
    return _follow(
        sandbox,
        session_id,
        outcome,
        email=email,
        name=name,
        method=method,
        shipping=shipping,
        save_card=save_card,
    )


def _shipping_address(shipping: ShippingInput | None) -> dict[str, Any] | None:
    if shipping is None:
        return None
    return {
        "name": shipping.name,
        "address": {
            "line1": shipping.line1,
            "line2": shipping.line2 or None,
            "city": shipping.city,
            "postal_code": shipping.postal_code,
            "state": shipping.state or None,
            "country": shipping.country,
        },
    }


def _follow(
    sandbox: Sandbox,
    session_id: str,
    outcome: engine.PaymentOutcome,
    *,
    email: str,
    name: str,
    method: str | None = None,
    shipping: ShippingInput | None = None,
    save_card: bool = False,
) -> Page:
    """Go where an outcome leads: the shop, the 3-D Secure page, or the form again."""
    if outcome.status in ("succeeded", "processing") and outcome.redirect_url:
        return redirect(outcome.redirect_url, 303)
    if outcome.status == "requires_action":
        return redirect(url_for("pages.checkout_authenticate", session_id=session_id), 303)
    session = _session(sandbox, session_id)
    if session.get("status") != "open":
        return _closed(sandbox, session)
    return _form_page(
        sandbox,
        session,
        status=402,
        email=email,
        name=name,
        method=method,
        shipping=shipping,
        message=outcome.message or "Your payment could not be completed.",
        save_card=save_card,
    )


def checkout_authenticate(session_id: str) -> Page:
    """The stand-in for a 3-D Secure challenge: complete or fail it."""
    sandbox = current_sandbox()
    if request.method == "POST":
        check_post(_subject(session_id))
    session = _session(sandbox, session_id)
    if session.get("status") != "open":
        return _closed(sandbox, session)
    if not queries.awaiting_authentication(session):
        return redirect(url_for("pages.checkout_page", session_id=session_id), 303)
    if request.method == "GET":
        return render_template(
            "sandbox/authenticate.html",
            session=session,
            shop_name=queries.shop_name(sandbox),
            token=form_token(_subject(session_id)),
        )
    # What the shopper typed, kept by the engine until the challenge ends, refills the form.
    typed = session.get("_pending") or {}
    approve = request.form.get("decision") == "approve"
    try:
        outcome = engine.complete_authentication(sandbox, session_id, approve)
    except StripeError as exc:
        outcome = engine.PaymentOutcome(status="declined", message=exc.message)
    return _follow(
        sandbox,
        session_id,
        outcome,
        email=str(typed.get("email") or _prefilled_email(sandbox, session)),
        name=str(typed.get("name") or ""),
    )
