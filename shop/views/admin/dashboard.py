"""`/admin/`: the business over a chosen period, at a glance."""

from __future__ import annotations

from functools import partial

from flask import render_template, request

from shop import admin_lists, analytics, charts
from shop.checkout import stock
from shop.extensions import db
from shop.models import Order, OrderStatus
from shop.money import format_money
from shop.views import catalogue
from shop.views.admin import admin_required, bp


def _money(amount: int, currency: str) -> str:
    return format_money(amount, currency)


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
            partial(_money, currency=currency),
        )
        for currency, series in figures.revenue.items()
    }
    mrr_charts = {
        currency: charts.line(
            f"Monthly recurring revenue in {currency.upper()}, last {figures.period.label}",
            series,
            partial(_money, currency=currency),
        )
        for currency, series in figures.mrr.items()
    }
    orders = db.session.execute(db.select(Order).order_by(Order.id.desc()).limit(50)).scalars()
    failed_orders = db.session.execute(
        db.select(Order).filter_by(status=OrderStatus.PAYMENT_FAILED).order_by(Order.id.desc())
    ).scalars()
    return render_template(
        "admin/dashboard.html",
        figures=figures,
        periods=analytics.PERIODS,
        revenue_charts=revenue_charts,
        mrr_charts=mrr_charts,
        orders=list(orders),
        failed_orders=list(failed_orders),
        failed_invoices=admin_lists.failed_invoices(),
        stock=stock.stock_rows(catalogue()),
    )
