"""What the hosted pages read from the sandbox's store, shaped for templates.

Only reads: every change a shopper makes goes through ``flows.engine`` or ``flows.portal``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core.sandbox import Sandbox
from .display import per_interval

Obj = dict[str, Any]


def shop_name(sandbox: Sandbox) -> str | None:
    """The account's business name, shown on the hosted pages when the sandbox has one."""
    return sandbox.settings.account_name or None


def resolve(sandbox: Sandbox, value: Any) -> Obj | None:
    """An expanded object as-is, an id looked up, anything else None."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        return sandbox.store.get(value)
    return None


@dataclass(frozen=True)
class Line:
    """One line of a Checkout Session as the shopper sees it."""

    name: str
    quantity: int
    unit_amount: int
    total: int
    currency: str
    recurring: dict[str, Any] | None
    discount: int = 0


def checkout_lines(sandbox: Sandbox, session: Obj) -> list[Line]:
    """The session's line items with their prices (stored under ``_line_items``)."""
    lines = []
    for item in session.get("_line_items") or []:
        price = resolve(sandbox, item.get("price")) or {}
        product = resolve(sandbox, price.get("product")) or {}
        quantity = int(item.get("quantity") or 1)
        unit_amount = int(price.get("unit_amount") or 0)
        lines.append(
            Line(
                name=str(item.get("description") or product.get("name") or price.get("id")),
                quantity=quantity,
                unit_amount=unit_amount,
                total=int(item.get("amount_subtotal") or unit_amount * quantity),
                currency=str(item.get("currency") or price.get("currency") or ""),
                recurring=price.get("recurring"),
                discount=int(item.get("amount_discount") or 0),
            )
        )
    return lines


def trial_days(session: Obj) -> int:
    """The free trial a subscription Checkout Session grants, in days (0 for none).

    Stripe does not return ``subscription_data`` on the session; the sandbox keeps it
    under ``_subscription_data``.
    """
    data = session.get("_subscription_data") or {}
    return int(data.get("trial_period_days") or 0) if session.get("mode") == "subscription" else 0


def trial_terms(session: Obj, lines: list[Line]) -> str | None:
    """``14 days free, then £9.00/month`` for a trial signup, else None."""
    days = trial_days(session)
    recurring = [line for line in lines if line.recurring]
    if not days or not recurring:
        return None
    per_period = sum(line.total for line in recurring)
    then = per_interval(per_period, recurring[0].currency, recurring[0].recurring)
    return f"{days} day{'s' if days != 1 else ''} free, then {then}"


def submit_label(session: Obj) -> str:
    """The Checkout button: ``Pay``, ``Subscribe`` or ``Start trial``."""
    mode = session.get("mode")
    if mode == "subscription":
        return "Start trial" if trial_days(session) else "Subscribe"
    if mode == "setup":
        return "Save card"
    return "Pay"


def allowed_countries(session: Obj) -> list[str]:
    """Countries the session ships to; empty when it collects no shipping address."""
    collection = session.get("shipping_address_collection") or {}
    return [str(code).upper() for code in collection.get("allowed_countries") or []]


def awaiting_authentication(session: Obj) -> bool:
    """Whether the session's payment waits for the shopper's 3-D Secure challenge.

    The engine keeps the payment it will finish under the session's ``_pending``.
    """
    return bool(session.get("_pending"))


@dataclass(frozen=True)
class ShippingChoice:
    """One shipping option as the shopper sees it."""

    rate_id: str
    name: str
    amount: int
    currency: str
    estimate: str | None
    total: int


def _estimate(rate: Obj) -> str | None:
    """``3–5 business days`` from a rate's ``delivery_estimate``."""
    bounds = rate.get("delivery_estimate") or {}
    low: Obj = bounds.get("minimum") or {}
    high: Obj = bounds.get("maximum") or {}
    either = high or low
    if not either:
        return None
    unit = str(either["unit"]).replace("_", " ")
    if low and high and low["value"] != high["value"]:
        return f"{low['value']}–{high['value']} {unit}s"
    value = int(either["value"])
    return f"{value} {unit}{'s' if value != 1 else ''}"


def shipping_choices(sandbox: Sandbox, session: Obj) -> list[ShippingChoice]:
    """The session's shipping options, in the order the shop gave them."""
    choices = []
    current = int((session.get("shipping_cost") or {}).get("amount_total") or 0)
    without_shipping = int(session.get("amount_total") or 0) - current
    for option in session.get("shipping_options") or []:
        rate = resolve(sandbox, option.get("shipping_rate")) or {}
        fixed = rate.get("fixed_amount") or {}
        choices.append(
            ShippingChoice(
                rate_id=str(rate.get("id")),
                name=str(rate.get("display_name") or "Shipping"),
                amount=int(option.get("shipping_amount") or 0),
                currency=str(fixed.get("currency") or session.get("currency") or ""),
                estimate=_estimate(rate),
                total=without_shipping + int(option.get("shipping_amount") or 0),
            )
        )
    return choices


def chosen_shipping(session: Obj, choices: list[ShippingChoice]) -> ShippingChoice | None:
    """The shipping option currently selected (the first until the shopper picks one)."""
    rate = chosen_shipping_rate(session)
    return next((choice for choice in choices if choice.rate_id == rate), None)


def chosen_shipping_rate(session: Obj) -> str | None:
    """The shipping option currently selected (the first until the shopper picks one)."""
    cost = session.get("shipping_cost") or {}
    rate = cost.get("shipping_rate")
    return str(rate) if rate else None


def discount_label(sandbox: Sandbox, session: Obj) -> str | None:
    """``Discount (Members 10 %)`` when the session applies a coupon, else None."""
    for discount in session.get("discounts") or []:
        coupon = resolve(sandbox, discount.get("coupon")) or {}
        name = coupon.get("name") or coupon.get("id")
        return f"Discount ({name})" if name else "Discount"
    return None


@dataclass(frozen=True)
class SavedCard:
    """A card the customer saved earlier, offered again."""

    payment_method: str
    label: str


def saved_card_choices(cards: list[Obj]) -> list[SavedCard]:
    """``Visa •••• 4242 · expires 12/34`` for each saved card."""
    choices = []
    for pm in cards:
        card = pm.get("card") or {}
        brand = str(card.get("display_brand") or card.get("brand") or "card")
        brand = {"amex": "American Express", "mastercard": "Mastercard"}.get(brand, brand.title())
        expiry = f"{int(card.get('exp_month') or 0):02d}/{int(card.get('exp_year') or 0) % 100:02d}"
        label = f"{brand} •••• {card.get('last4')} · expires {expiry}"
        choices.append(SavedCard(payment_method=str(pm["id"]), label=label))
    return choices


def offers_saving(session: Obj) -> bool:
    """Whether the page shows "Save my card for future purchases"."""
    options = session.get("saved_payment_method_options") or {}
    return options.get("payment_method_save") == "enabled" and session.get("mode") != "setup"
