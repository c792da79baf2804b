"""`/admin/orders`: every order, searched, filtered, a page at a time or as CSV."""

from __future__ import annotations

from flask import request
from werkzeug.wrappers import Response

from shop import admin_lists
from shop.models import OrderStatus
from shop.views import catalogue
from shop.views.admin import admin_required, bp
from shop.views.admin.listing import csv_download, render_list


@bp.get("/orders")
@admin_required
def orders() -> str | Response:
    """Orders newest first (abandoned ones hidden unless asked); `?format=csv` for all."""
    filters = admin_lists.OrderFilters.read(request.args)
    if request.args.get("format") == "csv":
        return csv_download("orders.csv", admin_lists.orders_csv(filters))
    shop = catalogue()
    products = [(book.key, book.title) for book in shop.books] + [
        (plan.key, f"{plan.name} membership") for plan in shop.plans
    ]
    return render_list(
        "admin/orders.html",
        filters,
        admin_lists.order_page(filters, admin_lists.page_number(request.args.get("page"))),
        statuses=[str(status) for status in OrderStatus],
        products=products,
        abandoned_after=admin_lists.ABANDONED_AFTER,
    )
