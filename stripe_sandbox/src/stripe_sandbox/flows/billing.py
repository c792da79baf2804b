"""Subscriptions and invoices: creation from Checkout, renewals, retries, changes.

Every action takes the time it happens at (``at``): the wall clock, or a test
clock's time while it is advanced. ``scheduler`` decides what falls due when and
calls the actions here (renewals, retries, cancellations, expiry).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from ..core.errors import invalid
from ..core.ids import new_id, random_token
from ..core.render import list_object
from ..core.shapes import blank
from ..resources.cards import Decline
from ..resources.coupons import applies_to_product, split_discount
from ..resources.events import emit
from ..resources.objects import changed, load
from ..resources.periods import DAY, period_end
from . import payments

if TYPE_CHECKING:
    from ..core.sandbox import Sandbox

TRIAL_NOTICE = 3 * DAY
INCOMPLETE_EXPIRY = 23 * 3600
LIVE_STATUSES = ("trialing", "active", "past_due", "incomplete")


# Shapes --------------------------------------------------------------------------


def plan_of(price: dict[str, Any]) -> dict[str, Any]:
    """The legacy ``plan`` view of a recurring price."""
    recurring = price.get("recurring") or {}
    return {
        "id": price["id"],
        "object": "plan",
        "active": price["active"],
        "amount": price["unit_amount"],
        "amount_decimal": price["unit_amount_decimal"],
        "billing_scheme": "per_unit",
        "created": price["created"],
        "currency": price["currency"],
        "interval": recurring.get("interval"),
        "interval_count": recurring.get("interval_count"),
        "livemode": False,
        "metadata": price.get("metadata") or {},
        "meter": None,
        "nickname": price.get("nickname"),
        "product": price["product"],
        "tiers_mode": None,
        "transform_usage": None,
        "trial_period_days": None,
        "usage_type": "licensed",
    }


def _item(
    sub_id: str, price: dict[str, Any], quantity: int, start: int, end: int, created: int
) -> dict[str, Any]:
    return blank(
        "subscription_item",
        id=new_id("si_", 14),
        billing_thresholds=None,
        created=created,
        current_period_end=end,
        current_period_start=start,
        discounts=[],
        plan=plan_of(price),
        price=copy.deepcopy(price),
        quantity=quantity,
        subscription=sub_id,
        tax_rates=[],
    )


def _line(
    invoice_id: str,
    *,
    amount: int,
    currency: str,
    description: str,
    period: tuple[int, int],
    price: dict[str, Any] | None,
    quantity: int,
    subscription: str | None,
    subscription_item: str | None = None,
    invoice_item: str | None = None,
    proration: bool = False,
) -> dict[str, Any]:
    if invoice_item:
        parent = {
            "type": "invoice_item_details",
            "invoice_item_details": {
                "invoice_item": invoice_item,
                "proration": proration,
                "proration_details": {"credited_items": None},
                "subscription": subscription,
            },
            "subscription_item_details": None,
        }
    else:
        parent = {
            "type": "subscription_item_details",
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": subscription,
                "subscription_item": subscription_item,
            },
        }
    return blank(
        "line_item",
        id=new_id("il_"),
        amount=amount,
        currency=currency,
        description=description,
        discount_amounts=[],
        discountable=True,
        discounts=[],
        invoice=invoice_id,
        parent=parent,
        period={"start": period[0], "end": period[1]},
        pretax_credit_amounts=[],
        pricing={
            "type": "price_details",
            "price_details": {"price": price["id"], "product": price["product"]} if price else None,
            "unit_amount_decimal": price["unit_amount_decimal"] if price else str(amount),
        },
        quantity=quantity,
        quantity_decimal=str(quantity),
        subscription=subscription,
        subtotal=amount,
        taxes=[],
    )


def describe(sandbox: Sandbox, price: dict[str, Any], quantity: int) -> str:
    """A line description: ``1 × Membership``."""
    product = sandbox.store.get(price["product"]) or {}
    return f"{quantity} × {product.get('name') or price['id']}"


# Invoices ------------------------------------------------------------------------


_INVOICE_DEFAULTS: dict[str, Any] = {
    "account_country": "GB",
    "account_tax_ids": None,
    "amount_overpaid": 0,
    "amount_paid": 0,
    "amount_shipping": 0,
    "application": None,
    "attempt_count": 0,
    "attempted": False,
    "auto_advance": True,
    "automatic_tax": {
        "disabled_reason": None,
        "enabled": False,
        "liability": None,
        "provider": None,
        "status": None,
    },
    "automatically_finalizes_at": None,
    "collection_method": "charge_automatically",
    "custom_fields": None,
    "customer_tax_exempt": "none",
    "customer_tax_ids": [],
    "default_payment_method": None,
    "default_source": None,
    "default_tax_rates": [],
    "description": None,
    "discounts": [],
    "due_date": None,
    "effective_at": None,
    "ending_balance": None,
    "footer": None,
    "from_invoice": None,
    "hosted_invoice_url": None,
    "invoice_pdf": None,
    "issuer": {"type": "self"},
    "last_finalization_error": None,
    "latest_revision": None,
    "next_payment_attempt": None,
    "number": None,
    "on_behalf_of": None,
    "payment_settings": {
        "default_mandate": None,
        "payment_method_options": None,
        "payment_method_types": None,
    },
    "post_payment_credit_notes_amount": 0,
    "pre_payment_credit_notes_amount": 0,
    "receipt_number": None,
    "rendering": None,
    "shipping_cost": None,
    "shipping_details": None,
    "starting_balance": 0,
    "statement_descriptor": None,
    "status": "draft",
    "status_transitions": {
        "finalized_at": None,
        "marked_uncollectible_at": None,
        "paid_at": None,
        "voided_at": None,
    },
    "total_discount_amounts": [],
    "total_pretax_credit_amounts": [],
    "total_taxes": [],
}


def _next_invoice_sequence(sandbox: Sandbox, customer: dict[str, Any]) -> int:
    """The customer's next invoice number (counted on the customer, as Stripe does)."""
    sequence = int(customer.get("next_invoice_sequence") or 1)
    if customer:
        customer["next_invoice_sequence"] = sequence + 1
        sandbox.store.put(customer)
    return sequence


def _invoice_customer_fields(customer: dict[str, Any]) -> dict[str, Any]:
    return {
        "customer_address": customer.get("address"),
        "customer_email": customer.get("email"),
        "customer_name": customer.get("name"),
        "customer_phone": customer.get("phone"),
        "customer_shipping": customer.get("shipping"),
    }


def create_invoice(
    sandbox: Sandbox,
    subscription: dict[str, Any],
    *,
    billing_reason: str,
    at: int,
    lines: list[dict[str, Any]],
    period: tuple[int, int],
    discount: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A draft invoice for a subscription (``invoice.created``), less ``discount``'s
    coupon on the lines it covers."""
    customer = sandbox.store.get(subscription["customer"]) or {}
    invoice_id = "in_" + random_token(24)
    for line in lines:
        line["invoice"] = invoice_id
    subtotal = sum(line["amount"] for line in lines)
    discounted = _discount_lines(discount, lines) if discount else 0
    total = subtotal - discounted
    invoice = blank(
        "invoice",
        id=invoice_id,
        **copy.deepcopy(_INVOICE_DEFAULTS),
        **_invoice_customer_fields(customer),
        account_name=sandbox.settings.account_name,
        amount_due=max(total, 0),
        amount_remaining=max(total, 0),
        billing_reason=billing_reason,
        created=at,
        currency=subscription["currency"],
        customer=subscription["customer"],
        lines=list_object(f"/v1/invoices/{invoice_id}/lines", lines),
        parent={
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {
                "metadata": subscription.get("metadata") or {},
                "subscription": subscription["id"],
            },
        },
        payments=list_object(f"/v1/invoice_payments?invoice={invoice_id}", []),
        period_end=period[1],
        period_start=period[0],
        subtotal=subtotal,
        subtotal_excluding_tax=subtotal,
        test_clock=subscription.get("test_clock"),
        total=total,
        total_excluding_tax=total,
        webhooks_delivered_at=at,
        _number_sequence=_next_invoice_sequence(sandbox, customer),
    )
    if discount:
        invoice.update(
            discounts=[discount["id"]],
            total_discount_amounts=[{"amount": discounted, "discount": discount["id"]}],
        )
    sandbox.store.put(invoice)
    emit(sandbox, "invoice.created", invoice, created=at)
    return invoice


def _discount_lines(discount: dict[str, Any], lines: list[dict[str, Any]]) -> int:
    """Take the discount's coupon (kept under ``_coupon``) off the lines it covers
    (``discount_amounts``); returns the amount taken off in all."""
    coupon = discount["_coupon"]
    covered = [
        line
        for line in lines
        if line["amount"] > 0
        and applies_to_product(
            coupon, str(((line.get("pricing") or {}).get("price_details") or {}).get("product"))
        )
    ]
    shares = split_discount(coupon, [int(line["amount"]) for line in covered])
    for line, off in zip(covered, shares, strict=True):
        line["discount_amounts"] = [{"amount": off, "discount": discount["id"]}]
        line["discounts"] = [discount["id"]]
    return sum(shares)


def _live_discount(
    sandbox: Sandbox, subscription: dict[str, Any], at: int
) -> dict[str, Any] | None:
    """The subscription's discount if it still applies at ``at`` (forever, or a
    repeating one before its ``end``)."""
    for discount_id in subscription.get("discounts") or []:
        discount = sandbox.store.get(str(discount_id))
        if discount and (discount.get("end") is None or at < int(discount["end"])):
            return discount
    return None


def new_discount(
    sandbox: Sandbox,
    coupon: dict[str, Any],
    *,
    customer: str,
    subscription: str | None,
    checkout_session: str | None,
    at: int,
) -> dict[str, Any]:
    """A ``discount`` (``di_…``): a coupon applied to a customer's subscription."""
    months = coupon.get("duration_in_months")
    discount = blank(
        "discount",
        id=new_id("di_"),
        checkout_session=checkout_session,
        customer=customer,
        end=at + int(months) * 30 * DAY
        if coupon.get("duration") == "repeating" and months
        else None,
        invoice=None,
        invoice_item=None,
        promotion_code=None,
        source={"coupon": coupon["id"], "type": "coupon"},
        start=at,
        subscription=subscription,
        subscription_item=None,
        _coupon=copy.deepcopy(coupon),
    )
    sandbox.store.put(discount)
    return discount


def finalize_invoice(sandbox: Sandbox, invoice: dict[str, Any], at: int) -> dict[str, Any]:
    """Draft → open, numbered (``invoice.finalized``)."""
    customer = sandbox.store.get(invoice["customer"]) or {}
    invoice.update(
        status="open",
        number=f"{customer.get('invoice_prefix') or 'SANDBOX'}-{invoice['_number_sequence']:04d}",
        effective_at=at,
        hosted_invoice_url=f"{sandbox.settings.base_url}/invoices/{invoice['id']}",
        status_transitions=dict(invoice["status_transitions"], finalized_at=at),
    )
    sandbox.store.put(invoice)
    emit(sandbox, "invoice.finalized", invoice, created=at)
    return invoice


def _mark_paid(sandbox: Sandbox, invoice: dict[str, Any], at: int, pi_id: str | None) -> None:
    payment = blank(
        "invoice_payment",
        id=new_id("inpay_"),
        amount_paid=invoice["amount_due"],
        amount_requested=invoice["amount_due"],
        created=at,
        currency=invoice["currency"],
        invoice=invoice["id"],
        is_default=True,
        payment={"type": "payment_intent", "payment_intent": pi_id}
        if pi_id
        else {"type": "out_of_band_payment"},
        status="paid",
        status_transitions={"canceled_at": None, "paid_at": at},
    )
    existing = [p for p in invoice["payments"]["data"] if p["status"] != "open"]
    invoice.update(
        status="paid",
        amount_paid=invoice["amount_due"],
        amount_remaining=0,
        attempted=True,
        next_payment_attempt=None,
        payments=dict(invoice["payments"], data=[payment, *existing]),
        status_transitions=dict(invoice["status_transitions"], paid_at=at),
    )
    sandbox.store.put(invoice)
    emit(sandbox, "invoice.paid", invoice, created=at)
    emit(sandbox, "invoice.payment_succeeded", invoice, created=at)


def open_payment(invoice: dict[str, Any], pi_id: str, at: int) -> None:
    """Record the invoice's in-progress payment (its PaymentIntent)."""
    invoice["payments"]["data"] = [
        blank(
            "invoice_payment",
            id=new_id("inpay_"),
            amount_paid=None,
            amount_requested=invoice["amount_due"],
            created=at,
            currency=invoice["currency"],
            invoice=invoice["id"],
            is_default=True,
            payment={"type": "payment_intent", "payment_intent": pi_id},
            status="open",
            status_transitions={"canceled_at": None, "paid_at": None},
        )
    ]


def off_session_decline(pm: dict[str, Any] | None) -> Decline | None:
    """How a saved payment method fails an automatic charge (None = it succeeds)."""
    if pm is None:
        return Decline("resource_missing", None, "The customer has no default payment method.")
    stored = pm.get("_off_session_decline")
    if stored:
        return Decline(stored[0], stored[1], stored[2])
    return None


def default_payment_method(sandbox: Sandbox, subscription: dict[str, Any]) -> dict[str, Any] | None:
    """The subscription's payment method, else the customer's invoice default."""
    pm_id = subscription.get("default_payment_method")
    if not pm_id:
        customer = sandbox.store.get(subscription["customer"]) or {}
        pm_id = (customer.get("invoice_settings") or {}).get("default_payment_method")
    return sandbox.store.get(pm_id) if isinstance(pm_id, str) else None


def attempt_invoice(
    sandbox: Sandbox,
    invoice: dict[str, Any],
    subscription: dict[str, Any],
    at: int,
    *,
    pm: dict[str, Any] | None = None,
    decline: Decline | None = None,
    on_session: bool = False,
) -> bool:
    """Try to collect an open invoice; returns whether it is now paid.

    Off-session attempts use the saved payment method and its test-card behaviour;
    on-session (Checkout) attempts pass ``decline`` decided on the page.
    """
    if invoice["amount_due"] == 0:
        _mark_paid(sandbox, invoice, at, None)
        return True
    if pm is None:
        pm = default_payment_method(sandbox, subscription)
    if not on_session:
        decline = off_session_decline(pm)
    pi_id = invoice.get("_payment_intent")
    pi = sandbox.store.get(pi_id) if isinstance(pi_id, str) else None
    if pi is None or pi["status"] in ("succeeded", "canceled"):
        pi = payments.create_payment_intent(
            sandbox,
            amount=invoice["amount_due"],
            currency=invoice["currency"],
            customer=invoice["customer"],
            created=at,
            description="Subscription creation"
            if invoice["billing_reason"] == "subscription_create"
            else "Subscription update",
            setup_future_usage="off_session",
        )
        invoice["_payment_intent"] = pi["id"]
        open_payment(invoice, pi["id"], at)
    invoice["attempt_count"] += 1
    invoice["attempted"] = True
    if pm is not None and decline is None:
        payments.succeed(sandbox, pi, pm, at)
        _mark_paid(sandbox, invoice, at, pi["id"])
        return True
    assert decline is not None
    if pm is not None:
        payments.fail(sandbox, pi, pm, decline, at)
    retries = sandbox.settings.invoice_retry_days
    attempt = invoice["attempt_count"]
    # Checkout's own attempts are not retried automatically: the shopper tries again.
    invoice["next_payment_attempt"] = (
        at + retries[attempt - 1] * DAY if not on_session and attempt - 1 < len(retries) else None
    )
    sandbox.store.put(invoice)
    emit(sandbox, "invoice.payment_failed", invoice, created=at)
    return False


# Subscriptions -------------------------------------------------------------------


def _set_status(
    sandbox: Sandbox, subscription: dict[str, Any], status: str, at: int, **extra: Any
) -> None:
    before = copy.deepcopy(subscription)
    subscription["status"] = status
    subscription.update(extra)
    sandbox.store.put(subscription)
    previous = changed(before, subscription)
    if previous:
        emit(
            sandbox,
            "customer.subscription.updated",
            subscription,
            previous_attributes=previous,
            created=at,
        )


def _subscription_defaults() -> dict[str, Any]:
    """The fields of a new subscription that Checkout never sets."""
    return {
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor_config": None,
        "billing_mode": {"flexible": None, "type": "classic", "updated_at": None},
        "billing_schedules": [],
        "billing_thresholds": None,
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": "charge_automatically",
        "days_until_due": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "ended_at": None,
        "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
        "latest_invoice": None,
        "next_pending_invoice_item_invoice": None,
        "on_behalf_of": None,
        "pause_collection": None,
        "payment_settings": {
            "payment_method_options": None,
            "payment_method_types": None,
            "save_default_payment_method": "off",
        },
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "schedule": None,
        "transfer_data": None,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
    }


def _new_subscription(
    sandbox: Sandbox,
    *,
    customer_id: str,
    recurring: list[dict[str, Any]],
    pm: dict[str, Any],
    trial_days: int | None,
    metadata: dict[str, Any],
    at: int,
) -> dict[str, Any]:
    """The subscription object for Checkout's recurring items (not stored yet)."""
    first = recurring[0]["price"]["recurring"]
    trial_end = at + trial_days * DAY if trial_days else None
    anchor = trial_end or at
    end = trial_end or period_end(anchor, first["interval"], first["interval_count"], 1)
    sub_id = new_id("sub_")
    items = [_item(sub_id, i["price"], i["quantity"], at, end, at) for i in recurring]
    return blank(
        "subscription",
        id=sub_id,
        **_subscription_defaults(),
        billing_cycle_anchor=anchor,
        created=at,
        currency=recurring[0]["currency"],
        customer=customer_id,
        default_payment_method=pm["id"],
        items=list_object(f"/v1/subscription_items?subscription={sub_id}", items),
        metadata=metadata,
        start_date=at,
        status="trialing" if trial_end else "incomplete",
        test_clock=sandbox.clock.clock_of_customer(customer_id),
        trial_end=trial_end,
        trial_start=at if trial_end else None,
        _cycles=0 if trial_end else 1,
        _interval=[first["interval"], first["interval_count"]],
    )


def _first_invoice_lines(
    sandbox: Sandbox, subscription: dict[str, Any], line_items: list[dict[str, Any]], at: int
) -> list[dict[str, Any]]:
    """Lines of a new subscription's first invoice: each item's first period (0 in a
    trial), then Checkout's one-time items."""
    trialing = subscription["trial_end"] is not None
    lines = []
    for item in subscription["items"]["data"]:
        price = item["price"]
        amount = 0 if trialing else price["unit_amount"] * item["quantity"]
        description = describe(sandbox, price, item["quantity"])
        if trialing:
            name = (sandbox.store.get(price["product"]) or {}).get("name") or price["id"]
            description = f"Trial period for {name}"
        lines.append(
            _line(
                "",
                amount=amount,
                currency=price["currency"],
                description=description,
                period=(at, int(item["current_period_end"])),
                price=price,
                quantity=item["quantity"],
                subscription=subscription["id"],
                subscription_item=item["id"],
            )
        )
    for one_time in (i for i in line_items if not i["price"]["recurring"]):
        lines.append(
            _line(
                "",
                amount=one_time["amount_subtotal"],
                currency=one_time["currency"],
                description=describe(sandbox, one_time["price"], one_time["quantity"]),
                period=(at, at),
                price=one_time["price"],
                quantity=one_time["quantity"],
                subscription=subscription["id"],
            )
        )
    return lines


def create_subscription(
    sandbox: Sandbox,
    *,
    customer_id: str,
    line_items: list[dict[str, Any]],
    pm: dict[str, Any],
    trial_days: int | None,
    metadata: dict[str, Any],
    at: int,
    coupon: dict[str, Any] | None = None,
    checkout_session: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A subscription for Checkout's line items, with its first invoice created and open.

    Recurring items become subscription items; one-time items go on the first
    invoice only; a ``coupon`` (the session's ``discounts``) comes off the first
    invoice. The caller collects the invoice (``attempt_invoice``) and then
    calls ``activate``.
    """
    subscription = _new_subscription(
        sandbox,
        customer_id=customer_id,
        recurring=[i for i in line_items if i["price"]["recurring"]],
        pm=pm,
        trial_days=trial_days,
        metadata=metadata,
        at=at,
    )
    lines = _first_invoice_lines(sandbox, subscription, line_items, at)
    discount = None
    if coupon is not None:
        discount = new_discount(
            sandbox,
            coupon,
            customer=customer_id,
            subscription=subscription["id"],
            checkout_session=checkout_session,
            at=at,
        )
        if coupon.get("duration") != "once":
            subscription["discounts"] = [discount["id"]]
    sandbox.store.put(subscription)
    invoice = create_invoice(
        sandbox,
        subscription,
        billing_reason="subscription_create",
        at=at,
        lines=lines,
        period=(at, at),
        discount=discount,
    )
    subscription["latest_invoice"] = invoice["id"]
    sandbox.store.put(subscription)
    emit(sandbox, "customer.subscription.created", subscription, created=at)
    finalize_invoice(sandbox, invoice, at)
    return subscription, invoice


def activate(sandbox: Sandbox, subscription: dict[str, Any], at: int) -> None:
    """After the first invoice is paid: incomplete → active (trials stay trialing)."""
    if subscription["status"] == "incomplete":
        _set_status(sandbox, subscription, "active", at)


def cancel_subscription(
    sandbox: Sandbox,
    subscription_id: str,
    *,
    at: int | None = None,
    reason: str = "cancellation_requested",
) -> dict[str, Any]:
    """End a subscription now (``customer.subscription.deleted``)."""
    subscription = load(sandbox, "subscription", subscription_id)
    if subscription["status"] in ("canceled", "incomplete_expired"):
        raise invalid(
            f"A canceled subscription can only update its cancellation_details and metadata. ({subscription_id})"
        )
    when = at if at is not None else sandbox.clock.for_customer(subscription["customer"])
    subscription.update(
        status="canceled",
        canceled_at=when,
        ended_at=when,
        cancellation_details=dict(subscription["cancellation_details"], reason=reason),
    )
    subscription.pop("_retry_invoice", None)
    sandbox.store.put(subscription)
    emit(sandbox, "customer.subscription.deleted", subscription, created=when)
    return subscription


def delete_customer(sandbox: Sandbox, customer_id: str) -> dict[str, Any]:
    """Delete a customer: cancels its subscriptions; later reads show ``deleted: true``."""
    customer = load(sandbox, "customer", customer_id)
    for sub in sandbox.store.list("subscription", customer=customer_id):
        if sub["status"] not in ("canceled", "incomplete_expired"):
            cancel_subscription(sandbox, sub["id"])
    tombstone = {"id": customer_id, "object": "customer", "deleted": True}
    sandbox.store.put(dict(tombstone, created=customer["created"]))
    emit(sandbox, "customer.deleted", customer)
    return tombstone


def current_period(subscription: dict[str, Any]) -> tuple[int, int]:
    """``(start, end)`` of the subscription's current period (from its first item)."""
    item = subscription["items"]["data"][0]
    return int(item["current_period_start"]), int(item["current_period_end"])


def _pending_items(sandbox: Sandbox, subscription_id: str) -> list[dict[str, Any]]:
    return [
        ii
        for ii in sandbox.store.list("invoiceitem", invoice=None)
        if (ii.get("parent") or {}).get("subscription_details", {}).get("subscription")
        == subscription_id
    ][::-1]


def invoice_pending_items(
    sandbox: Sandbox, subscription: dict[str, Any], at: int
) -> list[dict[str, Any]]:
    """Invoice lines for the subscription's pending invoice items (prorations)."""
    lines = []
    for ii in _pending_items(sandbox, subscription["id"]):
        lines.append(
            _line(
                "",
                amount=ii["amount"],
                currency=ii["currency"],
                description=ii["description"],
                period=(ii["period"]["start"], ii["period"]["end"]),
                price=None,
                quantity=1,
                subscription=subscription["id"],
                invoice_item=ii["id"],
                proration=bool(ii["proration"]),
            )
        )
    return lines


def attach_items_to(sandbox: Sandbox, invoice: dict[str, Any]) -> None:
    """Mark the invoice items billed on ``invoice`` as invoiced."""
    for line in invoice["lines"]["data"]:
        details = (line.get("parent") or {}).get("invoice_item_details")
        if details:
            ii = sandbox.store.get(details["invoice_item"])
            if ii is not None:
                ii["invoice"] = invoice["id"]
                sandbox.store.put(ii)


def period_lines(sandbox: Sandbox, subscription: dict[str, Any]) -> list[dict[str, Any]]:
    """Invoice lines charging each item for its current period."""
    lines = []
    for item in subscription["items"]["data"]:
        price = item["price"]
        lines.append(
            _line(
                "",
                amount=price["unit_amount"] * item["quantity"],
                currency=price["currency"],
                description=describe(sandbox, price, item["quantity"]),
                period=(int(item["current_period_start"]), int(item["current_period_end"])),
                price=price,
                quantity=item["quantity"],
                subscription=subscription["id"],
                subscription_item=item["id"],
            )
        )
    return lines


def renew(sandbox: Sandbox, subscription: dict[str, Any], at: int) -> None:
    """Start the next period (or end the trial) and bill it."""
    interval, count = subscription["_interval"]
    cycles = int(subscription["_cycles"]) + 1
    start = at
    end = period_end(int(subscription["billing_cycle_anchor"]), interval, count, cycles)
    before = copy.deepcopy(subscription)
    previous_period = current_period(subscription)
    for item in subscription["items"]["data"]:
        item["current_period_start"], item["current_period_end"] = start, end
    subscription["_cycles"] = cycles
    if subscription["status"] == "trialing":
        subscription["status"] = "active"
    sandbox.store.put(subscription)
    emit(
        sandbox,
        "customer.subscription.updated",
        subscription,
        previous_attributes=changed(before, subscription),
        created=at,
    )
    lines = invoice_pending_items(sandbox, subscription, at)
    lines.extend(period_lines(sandbox, subscription))
    invoice = create_invoice(
        sandbox,
        subscription,
        billing_reason="subscription_cycle",
        at=at,
        lines=lines,
        period=previous_period,
        discount=_live_discount(sandbox, subscription, at),
    )
    attach_items_to(sandbox, invoice)
    subscription["latest_invoice"] = invoice["id"]
    delay = sandbox.settings.invoice_finalize_delay
    if delay > 0:
        # Stripe leaves renewal invoices in draft for about an hour before charging.
        invoice["automatically_finalizes_at"] = at + delay
        sandbox.store.put(invoice)
        subscription["_draft_invoice"] = invoice["id"]
        sandbox.store.put(subscription)
        return
    sandbox.store.put(subscription)
    finalize_invoice(sandbox, invoice, at)
    collect(sandbox, subscription, invoice, at)


def finalize_draft(sandbox: Sandbox, subscription: dict[str, Any], at: int) -> None:
    """Finalize and charge the renewal invoice left in draft."""
    invoice = load(sandbox, "invoice", subscription.pop("_draft_invoice"))
    sandbox.store.put(subscription)
    if invoice["status"] != "draft":
        return
    invoice["automatically_finalizes_at"] = None
    finalize_invoice(sandbox, invoice, at)
    collect(sandbox, subscription, invoice, at)


def collect(
    sandbox: Sandbox, subscription: dict[str, Any], invoice: dict[str, Any], at: int
) -> None:
    """Collect an open invoice off-session; paid → active, failed → past_due or canceled."""
    if attempt_invoice(sandbox, invoice, subscription, at):
        subscription.pop("_retry_invoice", None)
        if subscription["status"] in ("past_due", "incomplete"):
            _set_status(sandbox, subscription, "active", at)
        else:
            sandbox.store.put(subscription)
        return
    if invoice["next_payment_attempt"] is None:
        sandbox.store.put(subscription)
        cancel_subscription(sandbox, subscription["id"], at=at, reason="payment_failed")
        return
    subscription["_retry_invoice"] = invoice["id"]
    if subscription["status"] != "past_due":
        _set_status(sandbox, subscription, "past_due", at)
    else:
        sandbox.store.put(subscription)


def pay_now(
    sandbox: Sandbox, subscription: dict[str, Any], invoice: dict[str, Any], at: int
) -> Decline | None:
    """``POST /v1/invoices/{id}/pay``: attempt an open invoice now, off-session, with the
    default payment method; returns the decline (None: paid).

    Paid: a past-due subscription becomes active again. Declined: the attempt is counted
    and ``invoice.payment_failed`` sent, but, unlike Stripe's own attempts, a manual one
    does not move the automatic retry schedule, nor end the subscription.
    """
    decline = off_session_decline(default_payment_method(sandbox, subscription))
    scheduled = invoice["next_payment_attempt"]
    if attempt_invoice(sandbox, invoice, subscription, at):
        subscription.pop("_retry_invoice", None)
        if subscription["status"] in ("past_due", "incomplete", "unpaid"):
            _set_status(sandbox, subscription, "active", at)
        else:
            sandbox.store.put(subscription)
        return None
    invoice = load(sandbox, "invoice", invoice["id"])
    invoice["next_payment_attempt"] = scheduled
    sandbox.store.put(invoice)
    return decline or Decline("card_declined", "generic_decline", "Your card was declined.")


def retry(sandbox: Sandbox, subscription: dict[str, Any], at: int) -> None:
    """Retry the subscription's failed invoice (Smart Retries, on a fixed schedule)."""
    invoice = load(sandbox, "invoice", subscription["_retry_invoice"])
    if invoice["status"] != "open":
        subscription.pop("_retry_invoice", None)
        sandbox.store.put(subscription)
        return
    collect(sandbox, subscription, invoice, at)
