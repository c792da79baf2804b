"""`/admin/customers`: accounts with what they bought and spent, and each one's own page."""

from __future__ import annotations

from flask import abort, render_template, request
from werkzeug.wrappers import Response

from shop import admin_lists
from shop.views.admin import admin_required, bp
from shop.views.admin.listing import csv_download, render_list


@bp.get("/customers")
@admin_required
def customers() -> str | Response:
    """Accounts newest first, with or without a live membership or paid orders;
    `?format=csv` for all."""
    filters = admin_lists.CustomerFilters.read(request.args)
    if request.args.get("format") == "csv":
        return csv_download("customers.csv", admin_lists.customers_csv(filters))
    return render_list(
        "admin/customers.html",
        filters,
        admin_lists.customer_page(filters, admin_lists.page_number(request.args.get("page"))),
    )


@bp.get("/customers/<int:user_id>")
@admin_required
def customer(user_id: int) -> str:
    """One account: its Stripe customer, orders, memberships and money spent."""
    detail = admin_lists.customer_detail(user_id) or abort(404)
    return render_template("admin/customer.html", detail=detail, user=detail.row.user)
