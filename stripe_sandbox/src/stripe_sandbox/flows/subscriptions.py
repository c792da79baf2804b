"""Subscription changes requested through the API (and the portal): cancellation at
period end, price switches with proration, metadata and payment method."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from ..core.errors import invalid
from ..core.ids import new_id
from ..core.params import get_bool, get_int, get_list, get_str, merge_metadata
from ..core.shapes import blank
from ..resources.catalog import get_price
from ..resources.events import emit
from ..resources.objects import load, save_updated
from ..resources.periods import period_end
from . import billing

if TYPE_CHECKING:
    from ..core.sandbox import Sandbox

PRORATION_BEHAVIOURS = ("create_prorations", "none", "always_invoice")


def _proration_item(
    sandbox: Sandbox,
    subscription: dict[str, Any],
    amount: int,
    description: str,
    period: tuple[int, int],
    at: int,
) -> dict[str, Any]:
    item = blank(
        "invoiceitem",
        id=new_id("ii_"),
        amount=amount,
        currency=subscription["currency"],
        customer=subscription["customer"],
        date=at,
        description=description,
        discountable=False,
        discounts=[],
        invoice=None,
        net_amount=amount,
        parent={
            "type": "subscription_details",
            "subscription_details": {"subscription": subscription["id"], "subscription_item": None},
        },
        period={"start": period[0], "end": period[1]},
        pricing=None,
        proration=True,
        quantity=1,
        quantity_decimal="1",
        tax_rates=[],
        test_clock=subscription.get("test_clock"),
    )
    sandbox.store.put(item)
    emit(sandbox, "invoiceitem.created", item, created=at)
    return item


def _change_items(
    sandbox: Sandbox, subscription: dict[str, Any], params: dict[str, Any], at: int, behaviour: str
) -> tuple[list[dict[str, Any]], bool]:
    """Apply ``items[i][id|price|quantity]``.

    Returns the proration invoice items made, and whether the billing interval changed
    (which, as on Stripe, restarts the billing cycle now).
    """
    prorations = []
    interval_changed = False
    for index, change in enumerate(get_list(params, "items")):
        prefix = f"items[{index}]"
        if not isinstance(change, dict):
            raise invalid("Invalid object", param=prefix)
        item_id = get_str(change, "id")
        matches = [i for i in subscription["items"]["data"] if i["id"] == item_id]
        if not matches:
            raise invalid(
                f"Adding new items to a subscription is not supported by the sandbox; pass {prefix}[id].",
                param=f"{prefix}[id]",
            )
        item = matches[0]
        old_price, old_quantity = item["price"], item["quantity"]
        price_id = get_str(change, "price")
        new_price = get_price(sandbox, price_id, f"{prefix}[price]") if price_id else old_price
        if not new_price.get("recurring"):
            raise invalid("The price specified is not recurring.", param=f"{prefix}[price]")
        if new_price["currency"] != subscription["currency"]:
            raise invalid(
                "The price's currency must match the subscription's.", param=f"{prefix}[price]"
            )
        quantity = get_int(change, "quantity", param=f"{prefix}[quantity]") or old_quantity
        if new_price["id"] == old_price["id"] and quantity == old_quantity:
            continue
        start, end = int(item["current_period_start"]), int(item["current_period_end"])
        recurring = new_price["recurring"]
        new_interval = [recurring["interval"], recurring["interval_count"]]
        if new_interval != list(subscription["_interval"]):
            interval_changed = True
            subscription["_interval"] = new_interval
        if behaviour != "none" and subscription["status"] != "trialing" and end > at:
            fraction = (end - at) / max(end - start, 1)
            old_name = billing.describe(sandbox, old_price, old_quantity)
            new_name = billing.describe(sandbox, new_price, quantity)
            prorations.append(
                _proration_item(
                    sandbox,
                    subscription,
                    -round(old_price["unit_amount"] * old_quantity * fraction),
                    f"Unused time on {old_name}",
                    (at, end),
                    at,
                )
            )
            if not interval_changed:
                prorations.append(
                    _proration_item(
                        sandbox,
                        subscription,
                        round(new_price["unit_amount"] * quantity * fraction),
                        f"Remaining time on {new_name}",
                        (at, end),
                        at,
                    )
                )
        item.update(
            price=copy.deepcopy(new_price), plan=billing.plan_of(new_price), quantity=quantity
        )
    return prorations, interval_changed


def _restart_cycle(sandbox: Sandbox, subscription: dict[str, Any], at: int) -> None:
    """A new billing interval: the period restarts now and is invoiced at once."""
    interval, count = subscription["_interval"]
    end = period_end(at, interval, count, 1)
    subscription.update(billing_cycle_anchor=at, _cycles=1)
    for item in subscription["items"]["data"]:
        item["current_period_start"], item["current_period_end"] = at, end


def update_subscription(
    sandbox: Sandbox, subscription_id: str, params: dict[str, Any]
) -> dict[str, Any]:
    """Update a subscription; emits ``customer.subscription.updated`` with ``previous_attributes``."""
    before = load(sandbox, "subscription", subscription_id)
    ended = before["status"] in ("canceled", "incomplete_expired")
    if ended and set(params) - {"metadata", "cancellation_details", "expand"}:
        raise invalid(
            f"A canceled subscription can only update its cancellation_details and metadata. ({subscription_id})"
        )
    at = sandbox.clock.for_customer(before["customer"])
    behaviour = get_str(params, "proration_behavior") or "create_prorations"
    if behaviour not in PRORATION_BEHAVIOURS:
        raise invalid("Invalid proration_behavior", param="proration_behavior")
    after = copy.deepcopy(before)
    if "metadata" in params:
        after["metadata"] = merge_metadata(before.get("metadata") or {}, params["metadata"])
    if "description" in params:
        after["description"] = get_str(params, "description")
    if "cancel_at_period_end" in params:
        flag = bool(get_bool(params, "cancel_at_period_end"))
        after["cancel_at_period_end"] = flag
        after["cancel_at"] = billing.current_period(after)[1] if flag else None
        after["cancellation_details"] = dict(
            after["cancellation_details"], reason="cancellation_requested" if flag else None
        )
    if "cancel_at" in params:
        cancel_at = get_int(params, "cancel_at")
        after["cancel_at"] = cancel_at
        after["cancel_at_period_end"] = False
    if "default_payment_method" in params:
        pm_id = get_str(params, "default_payment_method")
        if pm_id:
            pm = load(sandbox, "payment_method", pm_id, param="default_payment_method", status=400)
            if pm.get("customer") != before["customer"]:
                raise invalid(
                    "The PaymentMethod must be attached to the subscription's customer.",
                    param="default_payment_method",
                )
        after["default_payment_method"] = pm_id
    prorations: list[dict[str, Any]] = []
    restart = False
    if "items" in params:
        prorations, interval_changed = _change_items(sandbox, after, params, at, behaviour)
        restart = interval_changed and after["status"] != "trialing"
        if restart:
            _restart_cycle(sandbox, after, at)
    save_updated(sandbox, before, after, "customer.subscription.updated", created=at)
    if restart:
        _invoice_now(sandbox, after, at, with_items=True)
    elif prorations and behaviour == "always_invoice":
        _invoice_now(sandbox, after, at)
    return sandbox.store.get(subscription_id) or after


def _invoice_now(
    sandbox: Sandbox, subscription: dict[str, Any], at: int, *, with_items: bool = False
) -> None:
    """Invoice pending prorations now (and, on a new cycle, the new period) and collect."""
    lines = billing.invoice_pending_items(sandbox, subscription, at)
    if with_items:
        lines.extend(billing.period_lines(sandbox, subscription))
    invoice = billing.create_invoice(
        sandbox,
        subscription,
        billing_reason="subscription_update",
        at=at,
        lines=lines,
        period=(at, at),
    )
    billing.attach_items_to(sandbox, invoice)
    subscription["latest_invoice"] = invoice["id"]
    sandbox.store.put(subscription)
    billing.finalize_invoice(sandbox, invoice, at)
    billing.collect(sandbox, subscription, invoice, at)


def filter_subscriptions(sandbox: Sandbox, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Subscriptions matching ``customer``, ``status`` (``all``; default hides canceled),
    ``price`` and ``test_clock``."""
    found = sandbox.store.list("subscription")
    status = get_str(params, "status")
    if status is None:
        found = [s for s in found if s["status"] not in ("canceled", "incomplete_expired")]
    elif status == "ended":
        found = [s for s in found if s["status"] in ("canceled", "incomplete_expired")]
    elif status != "all":
        found = [s for s in found if s["status"] == status]
    for key in ("customer", "test_clock"):
        value = get_str(params, key)
        if value is not None:
            found = [s for s in found if s.get(key) == value]
    price = get_str(params, "price")
    if price is not None:
        found = [s for s in found if any(i["price"]["id"] == price for i in s["items"]["data"])]
    return found
