"""`/admin/`: the business over a chosen period, at a glance."""

from __future__ import annotations

from functools import partial

from flask import render_template, request
from sqlalchemy.orm import selectinload

from shop import admin_lists, analytics, charts
from shop.checkout import stock
from shop.extensions import db
from shop.models import Order, OrderStatus
from shop.money import format_money
from shop.views import catalogue
from shop.views.admin import admin_required, bp

#: How many of the latest orders and of each kind of failed payment the dashboard shows.
DASHBOARD_ROWS = 20


@bp.get("/")
@admin_required
def dashboard() -> str:
    """The period's figures and charts (`?period=7d|30d|90d|12m`, else 30 days), stock,
    failed payments and the latest orders."""
    figures = analytics.overview(analytics.period(request.args.get("period")))
    revenue_charts = {
        currency: charts.bars(
            f"Revenue per {'week' if figures.period.step_days > 1 else 'day'} in "
            f"{currency.upper()}, net of refunds, last {figures.period.label}",
            series,
            partial(format_money, currency=currency),
        )
        for currency, series in figures.revenue.items()
    }
    mrr_charts = {
        currency: charts.line(
            f"Monthly recurring revenue in {currency.upper()}, last {figures.period.label}",
            series,
            partial(format_money, currency=currency),
        )
        for currency, series in figures.mrr.items()
    }
    # The newest orders as the orders list shows them (abandoned ones left out), and the
    # newest failures: DASHBOARD_ROWS rows each, read with a LIMIT along an index (never
    # every row, then cut), whatever the shop's size; the lists hold the rest.
    orders = db.session.execute(
        db.select(Order)
        .where(*admin_lists.OrderFilters().conditions())
        .options(selectinload(Order.user))
        .order_by(Order.created_at.desc(), Order.id.desc())
        .limit(DASHBOARD_ROWS)
    ).scalars()
    failed_orders = db.session.execute(
        db.select(Order)
        .filter_by(status=OrderStatus.PAYMENT_FAILED)
        .options(selectinload(Order.user))
        .order_by(Order.created_at.desc(), Order.id.desc())  # along (status, created_at, id)
        .limit(DASHBOARD_ROWS)
    ).scalars()
    return render_template(
        "admin/dashboard.html",
        figures=figures,
        periods=analytics.PERIODS,
        revenue_charts=revenue_charts,
        mrr_charts=mrr_charts,
        orders=list(orders),
        failed_orders=list(failed_orders),
        failed_invoices=admin_lists.failed_invoices(limit=DASHBOARD_ROWS),
        stock=stock.stock_rows(catalogue()),
    )
