"""``/v1/shipping_rates``."""

from __future__ import annotations

from typing import Any

from ..core.params import get_bool, get_str
from ..resources import shipping_rates
from ..resources.objects import load
from .base import Call, route


@route("/shipping_rates", ["POST"], strict="shipping_rate.create")
def create_shipping_rate(call: Call) -> dict[str, Any]:
    """Create a fixed-amount shipping rate."""
    return call.render(shipping_rates.create_shipping_rate(call.sandbox, call.params))


@route("/shipping_rates/<rate_id>", ["GET"], strict="shipping_rate.retrieve")
def retrieve_shipping_rate(call: Call, rate_id: str) -> dict[str, Any]:
    """Retrieve a shipping rate."""
    return call.render(load(call.sandbox, "shipping_rate", rate_id))


@route("/shipping_rates", ["GET"], strict="shipping_rate.list")
def list_shipping_rates(call: Call) -> dict[str, Any]:
    """List shipping rates, filtered by ``active`` and ``currency``."""
    rates = call.store.list("shipping_rate")
    active = get_bool(call.params, "active")
    if active is not None:
        rates = [r for r in rates if r["active"] is active]
    currency = get_str(call.params, "currency")
    if currency:
        rates = [r for r in rates if r["fixed_amount"]["currency"] == currency.lower()]
    return call.page("/v1/shipping_rates", rates)
