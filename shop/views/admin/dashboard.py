"""`/admin/`: the business at a glance."""

from __future__ import annotations

from flask import render_template

from shop import admin_lists
from shop.checkout import stock
from shop.extensions import db
from shop.models import Invoice, Order, OrderStatus, Subscription
from shop.views import catalogue
from shop.views.admin import admin_required, bp


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
    members = db.session.execute(
        db.select(Subscription.status, db.func.count()).group_by(Subscription.status)
    ).all()
    return render_template(
        "admin/dashboard.html",
        revenue=revenue,
        orders=list(orders),
        failed_orders=list(failed_orders),
        failed_invoices=admin_lists.failed_invoices(),
        members=members,
        stock=stock.stock_rows(catalogue()),
    )
