"""Admin order pages: one order, refunds, and printed books to post."""

from __future__ import annotations

import logging

from flask import abort, current_app, flash, redirect, render_template, url_for
from werkzeug.wrappers import Response

from shop import admin_lists, dispatch, refunds
from shop.extensions import db
from shop.forms import RefundForm, ShipForm
from shop.models import Order
from shop.money import format_money
from shop.stripe_api import StripeFailure
from shop.stripe_client import stripe_client
from shop.views.admin import admin_required, bp

log = logging.getLogger(__name__)


@bp.get("/orders/<int:order_id>")
@admin_required
def order(order_id: int) -> str:
    """One order: its customer, membership, Stripe ids (linked to Stripe's dashboard) and
    a refund form."""
    found = db.session.get(Order, order_id) or abort(404)
    return render_template(
        "admin/order.html",
        order=found,
        membership=admin_lists.membership_of(found),
        left=refunds.refundable(found),
        form=RefundForm(token=refunds.form_token(current_app.config["SECRET_KEY"], found)),
        ship_form=ShipForm(back="order"),
        to_post=found.status in dispatch.TO_POST,
    )


@bp.get("/to-ship")
@admin_required
def to_ship() -> str:
    """Paid printed-book orders waiting to be posted, oldest first, with Mark shipped."""
    return render_template("admin/to_ship.html", orders=dispatch.to_ship(), form=ShipForm())


@bp.post("/orders/<int:order_id>/shipped")
@admin_required
def mark_shipped(order_id: int) -> Response:
    """Mark an order shipped (once: a second press changes nothing)."""
    found = db.session.get(Order, order_id) or abort(404)
    form = ShipForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        recorded = dispatch.mark_shipped(found, form.tracking_reference.data)
    except dispatch.DispatchRefused as refusal:
        flash(str(refusal), "error")
    else:
        db.session.commit()
        if recorded:
            flash(f"Order #{order_id} marked shipped.", "success")
        else:
            flash(f"Order #{order_id} was already marked shipped.", "info")
    if form.back.data == "order":
        return redirect(url_for("admin.order", order_id=order_id))
    return redirect(url_for("admin.to_ship"))


@bp.post("/orders/<int:order_id>/refund")
@admin_required
def refund(order_id: int) -> Response:
    """Refund all or part of a paid order through Stripe."""
    found = db.session.get(Order, order_id) or abort(404)
    form = RefundForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        token = refunds.read_form_token(current_app.config["SECRET_KEY"], form.token.data, found)
        amount = refunds.amount_asked(
            form.amount.data or "", found.currency, everything=form.everything.data
        )
        done = refunds.refund_order(
            stripe_client(), found, amount, token, restock=form.restock.data
        )
    except refunds.RefundRefused as refusal:
        flash(str(refusal), "error")
    except StripeFailure as failure:
        log.error("refund of order #%s: %s", order_id, failure)
        flash(f"Stripe refused the refund: {failure.user_message or 'try again later'}.", "error")
    else:
        restocked = " The copies are back in stock." if found.stock_state == "restocked" else ""
        flash(f"Refunded {format_money(done, found.currency)}.{restocked}", "success")
    return redirect(url_for("admin.order", order_id=order_id))
