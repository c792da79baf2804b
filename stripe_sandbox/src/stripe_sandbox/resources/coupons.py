"""Coupons: creation, deletion, and what one takes off a set of line items."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..core.errors import StripeError, exclusive, invalid, missing_param
from ..core.ids import random_token
from ..core.params import get_dict, get_int, get_list, get_str, merge_metadata
from ..core.shapes import blank
from .events import emit
from .objects import load, save_updated

if TYPE_CHECKING:
    from ..core.sandbox import Sandbox

DURATIONS = ("once", "repeating", "forever")


def _percent_off(params: dict[str, Any]) -> float | None:
    raw = get_str(params, "percent_off")
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise invalid(f"Invalid decimal: {raw}", param="percent_off") from None
    if not 0 < value <= 100:
        raise invalid(
            "Invalid percent_off: must be greater than 0 and at most 100.", param="percent_off"
        )
    return int(value) if value.is_integer() else value


def _applies_to(sandbox: Sandbox, params: dict[str, Any]) -> dict[str, Any] | None:
    products = get_list(get_dict(params, "applies_to"), "products")
    if not products:
        return None
    for index, product_id in enumerate(products):
        load(
            sandbox, "product", str(product_id), param=f"applies_to[products][{index}]", status=400
        )
    return {"products": [str(p) for p in products]}


def create_coupon(sandbox: Sandbox, params: dict[str, Any]) -> dict[str, Any]:
    """Create a coupon (``coupon.created``): ``percent_off`` or ``amount_off`` + ``currency``."""
    percent_off = _percent_off(params)
    amount_off = get_int(params, "amount_off")
    if percent_off is not None and amount_off is not None:
        raise exclusive("amount_off", "percent_off")
    if percent_off is None and amount_off is None:
        raise missing_param("percent_off")
    currency = (get_str(params, "currency") or "").lower() or None
    if amount_off is not None:
        if amount_off < 1:
            raise invalid(
                "Invalid amount_off: must be at least 1.",
                param="amount_off",
                code="parameter_invalid_integer",
            )
        if currency is None:
            raise invalid("You must pass currency when passing amount_off.", param="currency")
    duration = get_str(params, "duration") or "once"
    if duration not in DURATIONS:
        raise invalid(f"Invalid duration: must be one of {', '.join(DURATIONS)}", param="duration")
    months = get_int(params, "duration_in_months")
    if duration == "repeating" and months is None:
        raise missing_param("duration_in_months")
    if duration != "repeating" and months is not None:
        raise invalid(
            "duration_in_months can only be used with duration `repeating`.",
            param="duration_in_months",
        )
    coupon_id = get_str(params, "id") or random_token(8)
    if sandbox.store.get(coupon_id) is not None:
        raise StripeError("Coupon already exists.", param="id", code="resource_already_exists")
    coupon = blank(
        "coupon",
        id=coupon_id,
        amount_off=amount_off,
        applies_to=_applies_to(sandbox, params),
        created=sandbox.clock.wall(),
        currency=currency if amount_off is not None else None,
        duration=duration,
        duration_in_months=months,
        max_redemptions=get_int(params, "max_redemptions"),
        metadata=get_dict(params, "metadata"),
        name=get_str(params, "name"),
        percent_off=percent_off,
        redeem_by=get_int(params, "redeem_by"),
        times_redeemed=0,
        valid=True,
    )
    sandbox.store.put(coupon)
    emit(sandbox, "coupon.created", coupon)
    return coupon


def update_coupon(sandbox: Sandbox, coupon_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """Change a coupon's ``name`` or ``metadata`` (what it takes off never changes);
    emits ``coupon.updated``."""
    before = load(sandbox, "coupon", coupon_id)
    after = dict(before)
    if "name" in params:
        after["name"] = get_str(params, "name")
    if "metadata" in params:
        after["metadata"] = merge_metadata(before.get("metadata") or {}, params["metadata"])
    return save_updated(sandbox, before, after, "coupon.updated")


def delete_coupon(sandbox: Sandbox, coupon_id: str) -> dict[str, Any]:
    """Delete a coupon (``coupon.deleted``); discounts already given keep their amounts."""
    coupon = load(sandbox, "coupon", coupon_id)
    sandbox.store.delete(coupon_id)
    emit(sandbox, "coupon.deleted", coupon)
    return {"id": coupon_id, "object": "coupon", "deleted": True}


def redeemable(
    sandbox: Sandbox, coupon_id: str, param: str, currency: str | None
) -> dict[str, Any]:
    """A coupon a Checkout Session may apply, or Stripe's 400 naming ``param``."""
    coupon = load(sandbox, "coupon", coupon_id, param=param, status=400)
    limit = coupon.get("max_redemptions")
    expired = coupon.get("redeem_by") and sandbox.clock.wall() > int(coupon["redeem_by"])
    if not coupon.get("valid") or expired or (limit and coupon["times_redeemed"] >= limit):
        raise invalid(f"This coupon is no longer valid: '{coupon_id}'", param=param)
    if coupon.get("amount_off") and currency and coupon.get("currency") != currency:
        raise invalid(
            f"The coupon's currency ({coupon['currency']}) must match the currency of the "
            f"Checkout Session ({currency}).",
            param=param,
        )
    return coupon


def applies_to_product(coupon: dict[str, Any], product_id: str) -> bool:
    """Whether the coupon covers a product (all products unless ``applies_to`` names some)."""
    products = (coupon.get("applies_to") or {}).get("products")
    return not products or product_id in products


def split_discount(coupon: dict[str, Any], amounts: list[int]) -> list[int]:
    """What the coupon takes off each of ``amounts`` (line subtotals it applies to).

    A percentage is taken off each line, rounded half up; a fixed amount is spread
    over the lines in proportion to their subtotals (the remainder on the last one),
    never more than their total.
    """
    if coupon.get("percent_off") is not None:
        percent = float(coupon["percent_off"])
        return [int(amount * percent / 100 + 0.5) for amount in amounts]
    total = sum(amounts)
    off = min(int(coupon.get("amount_off") or 0), total)
    if total == 0:
        return [0 for _ in amounts]
    shares = [off * amount // total for amount in amounts]
    if shares:
        shares[-1] += off - sum(shares)
    return shares


def redeem(sandbox: Sandbox, coupon_id: str) -> None:
    """Count one redemption of the coupon (when a session using it completes)."""
    coupon = sandbox.store.get_typed("coupon", coupon_id)
    if coupon is not None:
        coupon["times_redeemed"] = int(coupon.get("times_redeemed") or 0) + 1
        sandbox.store.put(coupon)
