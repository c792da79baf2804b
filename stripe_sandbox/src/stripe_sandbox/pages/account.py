"""A customer's account as the billing portal shows it: plans, invoices and card."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core.sandbox import Sandbox
from .queries import Obj, resolve

#: Which interval a plan switches to, and the button that offers it.
SWITCHES = {"month": ("year", "Switch to yearly"), "year": ("month", "Switch to monthly")}


@dataclass(frozen=True)
class Plan:
    """One subscription as the portal shows it."""

    id: str
    name: str
    price: Obj
    quantity: int
    status: str
    current_period_end: int | None
    cancels_on: int | None
    switch_price_id: str | None
    switch_label: str | None

    @property
    def can_cancel(self) -> bool:
        """Whether the shopper may schedule a cancellation."""
        return self.status in ("active", "trialing", "past_due") and self.cancels_on is None

    @property
    def can_resume(self) -> bool:
        """Whether a scheduled cancellation can be withdrawn."""
        return self.cancels_on is not None and self.status != "canceled"


def _first_item(subscription: Obj) -> Obj:
    items = (subscription.get("items") or {}).get("data") or []
    return dict(items[0]) if items else {}


def sibling_price(sandbox: Sandbox, price: Obj) -> tuple[str, str] | None:
    """The active price of the same product and currency billed at the other interval.

    Returns ``(price id, button label)``, newest price first, or None when there is none.
    """
    recurring = price.get("recurring") or {}
    switch = SWITCHES.get(str(recurring.get("interval")))
    product = price.get("product")
    product_id = product.get("id") if isinstance(product, dict) else product
    if switch is None or not product_id:
        return None
    target, label = switch
    for candidate in sandbox.store.list("price", product=product_id):
        other = candidate.get("recurring") or {}
        if (
            candidate.get("active")
            and candidate.get("currency") == price.get("currency")
            and other.get("interval") == target
            and int(other.get("interval_count") or 1) == int(recurring.get("interval_count") or 1)
        ):
            return str(candidate["id"]), label
    return None


def plan(sandbox: Sandbox, subscription: Obj) -> Plan:
    """A subscription with its product name, price, period end and switch option."""
    item = _first_item(subscription)
    price = resolve(sandbox, item.get("price")) or {}
    product = resolve(sandbox, price.get("product")) or {}
    period_end = item.get("current_period_end") or subscription.get("current_period_end")
    cancels_on = None
    if subscription.get("cancel_at_period_end"):
        cancels_on = subscription.get("cancel_at") or period_end
    elif subscription.get("cancel_at"):
        cancels_on = subscription["cancel_at"]
    status = str(subscription.get("status") or "")
    switch = sibling_price(sandbox, price) if status in ("active", "trialing") else None
    return Plan(
        id=str(subscription["id"]),
        name=str(product.get("name") or price.get("nickname") or price.get("id") or "Plan"),
        price=price,
        quantity=int(item.get("quantity") or 1),
        status=status,
        current_period_end=int(period_end) if period_end else None,
        cancels_on=int(cancels_on) if cancels_on else None,
        switch_price_id=switch[0] if switch else None,
        switch_label=switch[1] if switch else None,
    )


def plans(sandbox: Sandbox, customer_id: str) -> list[Plan]:
    """The customer's subscriptions, newest first."""
    return [plan(sandbox, sub) for sub in sandbox.store.list("subscription", customer=customer_id)]


def invoices(sandbox: Sandbox, customer_id: str) -> list[Obj]:
    """The customer's finalized invoices, newest first (drafts are not shown to customers)."""
    return [
        invoice
        for invoice in sandbox.store.list("invoice", customer=customer_id)
        if invoice.get("status") != "draft"
    ]


def default_card(sandbox: Sandbox, customer: Obj) -> dict[str, Any] | None:
    """The card invoices are charged to: the customer's default, else their newest card."""
    settings = customer.get("invoice_settings") or {}
    method = resolve(sandbox, settings.get("default_payment_method"))
    if method is None:
        cards = sandbox.store.list("payment_method", customer=customer["id"], type="card")
        method = cards[0] if cards else None
    card = (method or {}).get("card")
    return dict(card) if isinstance(card, dict) else None
