"""The shop owner's view: recent orders, revenue and failed payments (admins only)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from shop import dispatch, refunds
from shop.checkout import stock
from shop.extensions import db
from shop.forms import RefundForm, ShipForm
from shop.models import Invoice, Order, OrderStatus, Subscription
from shop.money import format_money
from shop.stripe_api import StripeFailure
from shop.stripe_client import stripe_client
from shop.views import catalogue

bp = Blueprint("admin", __name__, url_prefix="/admin")
View = TypeVar("View", bound=Callable[..., Any])
log = logging.getLogger(__name__)


def admin_required(view: View) -> View:
    """Signed-in admins only; anyone else gets 403."""

    @wraps(view)
    @login_required
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def shop_revenue() -> list[tuple[str, int]]:
    """Money taken per currency: orders (less refunds) plus membership renewals.

    A membership's first invoice is already counted by its order; later invoices
    (renewals, plan changes) are only known as invoices.
    """
    totals: dict[str, int] = {}
    orders = db.session.execute(
        db.select(Order.currency, db.func.sum(Order.amount_paid - Order.amount_refunded))
        .where(Order.amount_paid.is_not(None))
        .group_by(Order.currency)
    ).all()
    renewals = db.session.execute(
        db.select(Invoice.currency, db.func.sum(Invoice.amount_paid))
        .where(Invoice.billing_reason != "subscription_create")
        .group_by(Invoice.currency)
    ).all()
    for currency, amount in [*orders, *renewals]:
        totals[currency] = totals.get(currency, 0) + int(amount or 0)
    return sorted(totals.items())


@bp.get("/")
@admin_required
def dashboard() -> str:
    """Revenue by currency, the latest orders, failed payments and memberships."""
    revenue = shop_revenue()
    orders = db.session.execute(db.select(Order).order_by(Order.id.desc()).limit(50)).scalars()
    failed_orders = db.session.execute(
        db.select(Order).filter_by(status=OrderStatus.PAYMENT_FAILED).order_by(Order.id.desc())
    ).scalars()
    failed_invoices = db.session.execute(
        db.select(Invoice)
        .where(Invoice.status == "open", Invoice.attempt_count > 0)
        .order_by(Invoice.id.desc())
    ).scalars()
    members = db.session.execute(
        db.select(Subscription.status, db.func.count()).group_by(Subscription.status)
    ).all()
    return render_template(
        "admin/dashboard.html",
        revenue=revenue,
        orders=list(orders),
        failed_orders=list(failed_orders),
        failed_invoices=list(failed_invoices),
        members=members,
        stock=stock.stock_rows(catalogue()),
    )


@bp.get("/orders/<int:order_id>")
@admin_required
def order(order_id: int) -> str:
    """One order with its Stripe ids and a refund form."""
    found = db.session.get(Order, order_id) or abort(404)
    return render_template(
        "admin/order.html",
        order=found,
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
        amount = refunds.parse_amount(form.amount.data or "", found.currency)
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
