"""Checkout: POST makes a pending order and 303s to Stripe; Stripe sends shoppers back here."""

from __future__ import annotations

import logging

import stripe
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from shop import checkout, fulfilment
from shop.extensions import db
from shop.forms import ActionForm, BuyForm, SubscribeForm
from shop.models import Order, OrderStatus
from shop.stripe_client import describe_error, stripe_client
from shop.views import catalogue, price_directory

bp = Blueprint("checkout", __name__)
log = logging.getLogger(__name__)


def _go_to_stripe(order: Order) -> Response | tuple[str, int]:
    """303 to Stripe's page for the order, or the friendly page if Stripe failed."""
    try:
        started = checkout.continue_checkout(
            stripe_client(), price_directory(), order, current_app.config["SITE_URL"]
        )
    except checkout.PaymentsUnavailable as failure:
        return render_template("checkout/unavailable.html", order=failure.order), 503
    return redirect(started.url, code=303)


@bp.post("/checkout/books/<key>")
@login_required
def buy_book(key: str) -> Response | tuple[str, int]:
    """Buy a book: only its key and a quantity come from the shopper, never an amount."""
    form = BuyForm()
    if not form.validate_on_submit():
        flash("Choose a quantity between 1 and 10.", "error")
        return redirect(url_for("shop.book", key=key))
    try:
        order = checkout.order_book(catalogue(), current_user, key, form.quantity.data or 0)
    except checkout.CheckoutRefused as refusal:
        flash(str(refusal), "error")
        return redirect(
            url_for("shop.book", key=key) if catalogue().book(key) else url_for("shop.index")
        )
    return _go_to_stripe(order)


@bp.post("/checkout/memberships/<key>")
@login_required
def subscribe(key: str) -> Response | tuple[str, int]:
    """Subscribe to a membership, billed monthly or yearly."""
    form = SubscribeForm()
    if not form.validate_on_submit():
        flash("Choose monthly or yearly billing.", "error")
        return redirect(url_for("shop.plan", key=key))
    try:
        order = checkout.order_membership(catalogue(), current_user, key, form.interval.data or "")
    except checkout.CheckoutRefused as refusal:
        flash(str(refusal), "error")
        return redirect(url_for("accounts.account"))
    return _go_to_stripe(order)


def own_order(order_id: int) -> Order:
    """The signed-in shopper's order. :raise 404: for anyone else's (no hint it exists)."""
    order = db.session.get(Order, order_id)
    if order is None or order.user_id != current_user.id:
        abort(404)
    return order


@bp.get("/orders/<int:order_id>/confirmation")
@login_required
def confirmation(order_id: int) -> str:
    """Where Stripe returns the shopper; shows the truth even before the webhook arrives.

    The session is retrieved and run through the same fulfilment as the webhook. A
    missing or foreign `session_id` shows nothing: 404.
    """
    order = own_order(order_id)
    session_id = request.args.get("session_id", "")
    if not session_id or session_id != order.checkout_session_id:
        abort(404)
    session = None
    db.session.commit()  # no transaction open across the Stripe call
    try:
        session = stripe_client().v1.checkout.sessions.retrieve(
            session_id, params={"expand": fulfilment.SESSION_EXPAND}
        )
    except stripe.StripeError as error:
        log.error("confirmation of %s: %s", order.reference, describe_error(error))
    if session is not None and session.client_reference_id == order.reference:
        fulfilment.fulfil_checkout_session(session)
        db.session.commit()
    return render_template("checkout/confirmation.html", order=order, session=session)


@bp.get("/orders/<int:order_id>/cancelled")
@login_required
def cancelled(order_id: int) -> str:
    """The shopper left Stripe's page: nothing was charged and they can carry on."""
    order = own_order(order_id)
    return render_template("checkout/cancelled.html", order=order)


@bp.post("/orders/<int:order_id>/resume")
@login_required
def resume(order_id: int) -> Response | tuple[str, int]:
    """Back to payment for a pending order: its open Stripe page, or a fresh one."""
    order = own_order(order_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    if order.status != OrderStatus.PENDING:
        flash("That order is no longer waiting for payment.", "info")
        return redirect(url_for("accounts.order", order_id=order.id))
    return _go_to_stripe(order)
