"""Shipping rates: the fixed-amount postage a Checkout Session offers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..core.errors import invalid, missing_param
from ..core.ids import new_id
from ..core.params import get_dict, get_int, get_str
from ..core.shapes import blank

if TYPE_CHECKING:
    from ..core.sandbox import Sandbox

UNITS = ("business_day", "day", "hour", "month", "week")


def _name(prefix: str, key: str) -> str:
    return f"{prefix}[{key}]" if prefix else key


def _estimate_bound(value: Any, param: str) -> dict[str, Any] | None:
    if not isinstance(value, dict) or not value:
        return None
    unit = get_str(value, "unit")
    if unit not in UNITS:
        raise invalid(
            f"Invalid {param}[unit]: must be one of {', '.join(UNITS)}", param=f"{param}[unit]"
        )
    amount = get_int(value, "value", required=True, param=f"{param}[value]")
    if amount is None or amount < 1:
        raise invalid(f"{param}[value] must be at least 1.", param=f"{param}[value]")
    return {"unit": unit, "value": amount}


def create_shipping_rate(
    sandbox: Sandbox, params: dict[str, Any], *, param_prefix: str = ""
) -> dict[str, Any]:
    """Create a ``fixed_amount`` shipping rate (inline ``shipping_rate_data`` too)."""
    display_name = get_str(params, "display_name")
    if not display_name:
        raise missing_param(_name(param_prefix, "display_name"))
    kind = get_str(params, "type") or "fixed_amount"
    if kind != "fixed_amount":
        raise invalid("Invalid type: must be fixed_amount", param=_name(param_prefix, "type"))
    fixed = get_dict(params, "fixed_amount")
    fixed_param = _name(param_prefix, "fixed_amount")
    if not fixed:
        raise missing_param(fixed_param)
    amount = get_int(fixed, "amount", param=f"{fixed_param}[amount]")
    if amount is None:
        raise missing_param(f"{fixed_param}[amount]")
    if amount < 0:
        raise invalid(
            "Invalid integer: amount must be at least 0.",
            param=f"{fixed_param}[amount]",
            code="parameter_invalid_integer",
        )
    currency = (get_str(fixed, "currency") or "").lower()
    if not currency:
        raise missing_param(f"{fixed_param}[currency]")
    estimate = get_dict(params, "delivery_estimate")
    estimate_param = _name(param_prefix, "delivery_estimate")
    bounds = {
        key: _estimate_bound(estimate.get(key), f"{estimate_param}[{key}]")
        for key in ("minimum", "maximum")
    }
    rate = blank(
        "shipping_rate",
        id=new_id("shr_"),
        active=True,
        created=sandbox.clock.wall(),
        delivery_estimate=bounds if any(bounds.values()) else None,
        display_name=display_name,
        fixed_amount={"amount": amount, "currency": currency},
        metadata=get_dict(params, "metadata"),
        tax_behavior=get_str(params, "tax_behavior") or "unspecified",
        tax_code=get_str(params, "tax_code"),
        type="fixed_amount",
    )
    sandbox.store.put(rate)
    return rate
