"""The shop owner's pages under /admin (admins only).

`dashboard` shows the business at a glance; `orders` refunds and posts orders;
`order_list`, `members` and `customers` list, search and export (`shop/admin_lists.py`);
`events` lists the Stripe events received and replays them.
Each module adds its routes to the one `admin` blueprint.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, abort
from flask_login import current_user, login_required

bp = Blueprint("admin", __name__, url_prefix="/admin")
View = TypeVar("View", bound=Callable[..., Any])


def admin_required(view: View) -> View:
    """Signed-in admins only; anyone else gets 403."""

    @wraps(view)
    @login_required
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


from shop.views.admin import (  # noqa: E402  (they add routes to `bp`)
    customers,
    dashboard,
    events,
    members,
    order_list,
    orders,
)

__all__ = [
    "admin_required",
    "bp",
    "customers",
    "dashboard",
    "events",
    "members",
    "order_list",
    "orders",
]
