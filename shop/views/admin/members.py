"""`/admin/members`: memberships, searched and filtered, and each one's own page."""

from __future__ import annotations

from flask import abort, render_template, request
from werkzeug.wrappers import Response

from shop import admin_lists
from shop.views import catalogue
from shop.views.admin import admin_required, bp
from shop.views.admin.listing import csv_download, render_list


@bp.get("/members")
@admin_required
def members() -> str | Response:
    """Memberships newest first, by status (or cancelling) and plan; `?format=csv` for all."""
    filters = admin_lists.MemberFilters.read(request.args)
    if request.args.get("format") == "csv":
        return csv_download("members.csv", admin_lists.members_csv(filters))
    return render_list(
        "admin/members.html",
        filters,
        admin_lists.member_page(filters, admin_lists.page_number(request.args.get("page"))),
        statuses=admin_lists.MEMBER_STATUSES,
        plans=[(plan.key, plan.name) for plan in catalogue().plans],
    )


@bp.get("/members/<int:subscription_id>")
@admin_required
def member(subscription_id: int) -> str:
    """One membership: plan, status, period, invoices, orders and its customer."""
    detail = admin_lists.member_detail(subscription_id) or abort(404)
    return render_template("admin/member.html", detail=detail, membership=detail.membership)
