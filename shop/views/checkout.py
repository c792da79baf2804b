"""Checkout: POST makes a pending order and 303s to Stripe; Stripe sends shoppers back here."""

from __future__ import annotations

import logging

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from shop.catalogue import ProductKind
from shop.checkout import cart, memberships, orders, sessions, stock
from shop.checkout.prices import CatalogueNotSynced
from shop.extensions import db
from shop.forms import ActionForm, BuyForm, SubscribeForm
from shop.models import WAS_PAID, Order, OrderStatus
from shop.stripe_api import StripeFailure
from shop.stripe_client import stripe_client
from shop.views import catalogue, price_check, price_directory, price_updating, public_url

bp = Blueprint("checkout", __name__)
log = logging.getLogger(__name__)


def return_urls(order: Order) -> sessions.ReturnUrls:
    """This blueprint's pages that Stripe sends the shopper of `order` back to."""
    confirmation = public_url("checkout.confirmation", order_id=order.id)
    return sessions.ReturnUrls(
        success=f"{confirmation}?session_id={sessions.SESSION_ID_PLACEHOLDER}",
        cancel=public_url("checkout.cancelled", order_id=order.id),
    )


def _go_to_stripe(order: Order) -> Response | tuple[str, int]:
    """303 to Stripe's page for the order, or the friendly page if Stripe failed."""
    try:
        started = sessions.continue_checkout(
            stripe_client(), price_directory(), order, return_urls(order)
        )
    except sessions.PaymentsUnavailable as failure:
        return render_template("checkout/unavailable.html", order=failure.order), 503
    except sessions.PriceChanged as changed:
        return price_changed(changed.order)
    return redirect(started.url, code=303)


def price_changed(order: Order) -> Response:
    """An order made at a price changed since was cancelled: say so, and send the
    shopper back to buy at the new price (the book, the plan, or the basket)."""
    keys = [item.item_key for item in order.items]
    if order.product_kind is ProductKind.MEMBERSHIP:
        back = url_for("shop.plan", key=keys[0]) if keys else url_for("shop.index")
    elif len(keys) == 1 and catalogue().book(keys[0]) is not None:
        back = url_for("shop.book", key=keys[0])
    else:
        back = url_for("cart.show")
    flash(
        f"The price changed since you placed order #{order.id}, so we cancelled it: "
        "nothing was charged. Please order again at the new price.",
        "info",
    )
    return redirect(back, code=303)


@bp.post("/checkout/books/<key>")
def buy_book(key: str) -> Response | tuple[str, int] | tuple[str, int, dict[str, str]]:
    """Buy one book straight away: only its key and a quantity come from the shopper,
    never an amount. Signed out, the book goes in the basket and the shopper to it
    (Checkout there asks them to sign in), never to a page that cannot be shown.
    """
    form = BuyForm()
    if not form.validate_on_submit():
        message = "Choose a country we post to." if form.ship_to.errors else None
        flash(message or "Choose a quantity between 1 and 10.", "error")
        return redirect(url_for("shop.book", key=key))
    if not current_user.is_authenticated:
        basket = cart.SessionBasket(session)
        try:
            flash(cart.add(catalogue(), basket, key, form.quantity.data or 0, set()), "success")
        except orders.CheckoutRefused as refusal:
            flash(str(refusal), "error")
        return redirect(url_for("cart.show"))
    try:
        order = orders.order_book(
            catalogue(),
            current_user,
            key,
            form.quantity.data or 0,
            max_held=current_app.config["MAX_HELD_COPIES"],
            ship_to=form.ship_to.data,
            prices=price_check(),
        )
    except orders.CheckoutRefused as refusal:
        flash(str(refusal), "error")
        return redirect(
            url_for("shop.book", key=key) if catalogue().book(key) else url_for("shop.index")
        )
    except CatalogueNotSynced:
        return price_updating(url_for("shop.book", key=key), "the book")
    return _go_to_stripe(order)


@bp.post("/checkout/memberships/<key>")
@login_required
def subscribe(key: str) -> Response | tuple[str, int] | tuple[str, int, dict[str, str]]:
    """Subscribe to a membership, billed monthly or yearly; a member is sent to confirm a
    switch instead, and an unpaid sign-up for another plan gives way to this one.
    """
    form = SubscribeForm()
    if not form.validate_on_submit():
        flash("Choose monthly or yearly billing.", "error")
        return redirect(url_for("shop.plan", key=key))
    interval = form.interval.data or ""
    if orders.current_membership(current_user) is not None:
        return redirect(url_for("checkout.switch", key=key, interval=interval), code=303)
    try:
        order = memberships.start_signup(
            stripe_client(), catalogue(), current_user, key, interval, price_check()
        )
    except orders.CheckoutRefused as refusal:
        flash(str(refusal), "error")
        return redirect(url_for("accounts.account"))
    except CatalogueNotSynced:
        return price_updating(url_for("shop.plan", key=key), "the membership")
    except StripeFailure as failure:
        log.error("replacing a sign-up for user %s: %s", current_user.id, failure)
        return render_template("errors/payments_down.html"), 503
    return _go_to_stripe(order)


@bp.route("/memberships/<key>/switch", methods=["GET", "POST"])
@login_required
def switch(key: str) -> Response | str | tuple[str, int] | tuple[str, int, dict[str, str]]:
    """Confirm, then make, a switch of the live membership to another plan or interval."""
    interval = request.args.get("interval", "")
    try:
        change = memberships.plan_switch(catalogue(), current_user, key, interval)
    except orders.CheckoutRefused as refusal:
        flash(str(refusal), "info")
        return redirect(url_for("accounts.account"))
    form = ActionForm()
    if not form.validate_on_submit():
        return render_template("checkout/switch.html", switch=change, form=form)
    try:
        memberships.switch_membership(stripe_client(), price_directory(), change)
    except CatalogueNotSynced:
        return price_updating(url_for("shop.plan", key=key), "the membership")
    except StripeFailure as failure:
        log.error("switching the membership of user %s: %s", current_user.id, failure)
        return render_template("errors/payments_down.html"), 503
    flash(f"Your membership is now {change.to_plan.name}, billed every {interval}.", "success")
    return redirect(url_for("accounts.account"), code=303)


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
    try:
        session = sessions.confirm_checkout(stripe_client(), order, session_id)
    except StripeFailure as failure:
        log.error("confirmation of %s: %s", order.reference, failure)
        session = None
    has_ebooks = any(
        (book := catalogue().book(item.item_key)) is not None and book.format == "ebook"
        for item in order.items
        if order.product_kind is ProductKind.BOOK
    )
    return render_template(
        "checkout/confirmation.html", order=order, session=session, has_ebooks=has_ebooks
    )


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
    if stock.expire_lapsed():
        db.session.commit()
    if order.status != OrderStatus.PENDING:
        flash("That order is no longer waiting for payment.", "info")
        return redirect(url_for("accounts.order", order_id=order.id))
    return _go_to_stripe(order)


@bp.post("/orders/<int:order_id>/cancel")
@login_required
def cancel(order_id: int) -> Response:
    """Cancel a pending order: its Stripe page stops taking payment, its copies go back."""
    order = own_order(order_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        status = sessions.cancel_order(stripe_client(), order)
    except StripeFailure as failure:
        log.error("cancelling %s: %s", order.reference, failure)
        flash("We couldn't cancel it right now — try again in a moment.", "error")
        return redirect(url_for("accounts.order", order_id=order.id))
    if status == OrderStatus.CANCELLED:
        flash(f"Order #{order.id} is cancelled: nothing was charged.", "success")
    elif status in WAS_PAID:
        flash(f"Order #{order.id} was already paid, so it cannot be cancelled.", "info")
    else:
        flash(f"Order #{order.id} is no longer waiting for payment.", "info")
    return redirect(url_for("accounts.order", order_id=order.id))
