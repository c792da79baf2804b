"""``/v1/coupons``."""

from __future__ import annotations

from typing import Any

from ..resources import coupons
from ..resources.objects import load
from .base import Call, route


@route("/coupons", ["POST"], strict="coupon.create")
def create_coupon(call: Call) -> dict[str, Any]:
    """Create a coupon (the caller may choose its ``id``)."""
    return call.render(coupons.create_coupon(call.sandbox, call.params))


@route("/coupons/<coupon_id>", ["GET"], strict="coupon.retrieve")
def retrieve_coupon(call: Call, coupon_id: str) -> dict[str, Any]:
    """Retrieve a coupon (``applies_to`` only when expanded, as on Stripe)."""
    return call.render(load(call.sandbox, "coupon", coupon_id))


@route("/coupons/<coupon_id>", ["POST"], strict="coupon.update")
def update_coupon(call: Call, coupon_id: str) -> dict[str, Any]:
    """Update a coupon's name or metadata."""
    return call.render(coupons.update_coupon(call.sandbox, coupon_id, call.params))


@route("/coupons/<coupon_id>", ["DELETE"], strict="coupon.delete")
def delete_coupon(call: Call, coupon_id: str) -> dict[str, Any]:
    """Delete a coupon."""
    return coupons.delete_coupon(call.sandbox, coupon_id)


@route("/coupons", ["GET"], strict="coupon.list")
def list_coupons(call: Call) -> dict[str, Any]:
    """List coupons, newest first."""
    return call.page("/v1/coupons", call.store.list("coupon"))
