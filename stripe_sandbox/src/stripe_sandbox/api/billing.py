"""``/v1/subscriptions``, ``/v1/invoices``, ``/v1/billing_portal/sessions`` and test clocks."""

from __future__ import annotations

from typing import Any

from ..core.errors import card_declined, invalid, no_such
from ..core.ids import new_id
from ..core.params import get_bool, get_str
from ..core.shapes import blank
from ..flows import billing, clocks, portal, subscriptions
from ..resources.events import emit
from ..resources.objects import load
from .base import Call, route


@route("/subscriptions/<sub_id>", ["GET"], strict="subscription.retrieve")
def retrieve_subscription(call: Call, sub_id: str) -> dict[str, Any]:
    """Retrieve a subscription."""
    return call.render(load(call.sandbox, "subscription", sub_id))


@route("/subscriptions", ["GET"], strict="subscription.list")
def list_subscriptions(call: Call) -> dict[str, Any]:
    """List subscriptions (canceled ones only with ``status=all``/``canceled``)."""
    return call.page(
        "/v1/subscriptions", subscriptions.filter_subscriptions(call.sandbox, call.params)
    )


@route("/subscriptions/<sub_id>", ["POST"], strict="subscription.update")
def update_subscription(call: Call, sub_id: str) -> dict[str, Any]:
    """Update a subscription (cancel at period end, price switch, metadata …)."""
    return call.render(subscriptions.update_subscription(call.sandbox, sub_id, call.params))


@route("/subscriptions/<sub_id>", ["DELETE"], strict="subscription.cancel")
def cancel_subscription(call: Call, sub_id: str) -> dict[str, Any]:
    """Cancel a subscription now."""
    return call.render(billing.cancel_subscription(call.sandbox, sub_id))


@route("/subscription_items", ["GET"], strict="subscription_item.list")
def list_subscription_items(call: Call) -> dict[str, Any]:
    """A subscription's items."""
    sub_id = get_str(call.params, "subscription", required=True) or ""
    subscription = load(call.sandbox, "subscription", sub_id, param="subscription", status=400)
    return call.page(
        f"/v1/subscription_items?subscription={sub_id}", list(subscription["items"]["data"])
    )


@route("/subscription_items/<item_id>", ["GET"], strict="subscription_item.retrieve")
def retrieve_subscription_item(call: Call, item_id: str) -> dict[str, Any]:
    """Retrieve a subscription item (found through its subscription)."""
    for subscription in call.store.list("subscription"):
        for item in subscription["items"]["data"]:
            if item["id"] == item_id:
                return call.render(item)
    raise no_such("subscription_item", item_id)


@route("/invoices/<invoice_id>", ["GET"], strict="invoice.retrieve")
def retrieve_invoice(call: Call, invoice_id: str) -> dict[str, Any]:
    """Retrieve an invoice."""
    return call.render(load(call.sandbox, "invoice", invoice_id))


@route("/invoices/<invoice_id>/lines", ["GET"], strict="invoice.list_lines")
def list_invoice_lines(call: Call, invoice_id: str) -> dict[str, Any]:
    """An invoice's line items."""
    invoice = load(call.sandbox, "invoice", invoice_id)
    return call.page(f"/v1/invoices/{invoice_id}/lines", list(invoice["lines"]["data"]))


@route("/invoice_payments", ["GET"], strict="invoice_payment.list")
def list_invoice_payments(call: Call) -> dict[str, Any]:
    """An invoice's payments (the ``url`` of ``invoice.payments``)."""
    invoice_id = get_str(call.params, "invoice", required=True) or ""
    invoice = load(call.sandbox, "invoice", invoice_id, param="invoice", status=400)
    return call.page(
        f"/v1/invoice_payments?invoice={invoice_id}", list(invoice["payments"]["data"])
    )


@route("/invoices/<invoice_id>/pay", ["POST"], strict="invoice.pay")
def pay_invoice(call: Call, invoice_id: str) -> dict[str, Any]:
    """Attempt an open subscription invoice now with the default payment method."""
    invoice = load(call.sandbox, "invoice", invoice_id)
    if invoice["status"] != "open":
        raise invalid(
            "Invoice is already paid"
            if invoice["status"] == "paid"
            else "This invoice cannot be paid."
        )
    sub_id = invoice["parent"]["subscription_details"]["subscription"]
    subscription = load(call.sandbox, "subscription", sub_id)
    at = call.sandbox.clock.for_customer(invoice["customer"])
    decline = billing.pay_now(call.sandbox, subscription, invoice, at)
    if decline is not None:  # Stripe answers 402; the failed attempt stays recorded
        raise card_declined(decline.code, decline.decline_code, decline.message)
    return call.render(load(call.sandbox, "invoice", invoice_id))


@route("/invoices", ["GET"], strict="invoice.list")
def list_invoices(call: Call) -> dict[str, Any]:
    """List invoices, filtered by ``customer``, ``subscription`` and ``status``."""
    found = call.store.list("invoice")
    for key in ("customer", "status"):
        value = get_str(call.params, key)
        if value is not None:
            found = [i for i in found if i.get(key) == value]
    sub_id = get_str(call.params, "subscription")
    if sub_id is not None:
        found = [i for i in found if i["parent"]["subscription_details"]["subscription"] == sub_id]
    return call.page("/v1/invoices", found)


@route("/invoiceitems", ["GET"], strict="invoiceitem.list")
def list_invoice_items(call: Call) -> dict[str, Any]:
    """List invoice items (prorations), filtered by ``customer``."""
    found = call.store.list("invoiceitem")
    customer = get_str(call.params, "customer")
    if customer is not None:
        found = [i for i in found if i["customer"] == customer]
    return call.page("/v1/invoiceitems", found)


@route("/billing_portal/configurations", ["POST"], strict="billing_portal.configuration.create")
def create_portal_configuration(call: Call) -> dict[str, Any]:
    """Create a portal configuration (the account's first becomes its default)."""
    return call.render(portal.create_configuration(call.sandbox, call.params))


@route(
    "/billing_portal/configurations/<config_id>",
    ["POST"],
    strict="billing_portal.configuration.update",
)
def update_portal_configuration(call: Call, config_id: str) -> dict[str, Any]:
    """Update a portal configuration's features, profile, return URL, name or metadata."""
    return call.render(portal.update_configuration(call.sandbox, config_id, call.params))


@route(
    "/billing_portal/configurations/<config_id>",
    ["GET"],
    strict="billing_portal.configuration.retrieve",
)
def retrieve_portal_configuration(call: Call, config_id: str) -> dict[str, Any]:
    """Retrieve a portal configuration."""
    return call.render(load(call.sandbox, "billing_portal.configuration", config_id))


@route("/billing_portal/configurations", ["GET"], strict="billing_portal.configuration.list")
def list_portal_configurations(call: Call) -> dict[str, Any]:
    """List portal configurations (``active`` and ``is_default`` filters)."""
    found = call.store.list("billing_portal.configuration")
    for key in ("active", "is_default"):
        wanted = get_bool(call.params, key)
        if wanted is not None:
            found = [c for c in found if c[key] is wanted]
    return call.page("/v1/billing_portal/configurations", found)


@route("/billing_portal/sessions", ["POST"], strict="billing_portal.session.create")
def create_portal_session(call: Call) -> dict[str, Any]:
    """A billing portal session for a customer; its ``url`` is the hosted portal."""
    customer_id = get_str(call.params, "customer", required=True) or ""
    load(call.sandbox, "customer", customer_id, param="customer", status=400)
    session_id = new_id("bps_")
    session = blank(
        "billing_portal.session",
        id=session_id,
        configuration=portal.session_configuration(
            call.sandbox, get_str(call.params, "configuration")
        ),
        created=call.sandbox.clock.wall(),
        customer=customer_id,
        customer_account=None,
        flow=None,
        locale=get_str(call.params, "locale"),
        on_behalf_of=None,
        return_url=get_str(call.params, "return_url"),
        url=f"{call.sandbox.settings.base_url}/portal/{session_id}",
    )
    call.store.put(session)
    emit(call.sandbox, "billing_portal.session.created", session)
    return call.render(session)


@route("/test_helpers/test_clocks", ["POST"], strict="test_clock.create")
def create_clock(call: Call) -> dict[str, Any]:
    """Create a test clock."""
    return call.render(clocks.create_clock(call.sandbox, call.params))


@route("/test_helpers/test_clocks/<clock_id>", ["GET"], strict="test_clock.retrieve")
def retrieve_clock(call: Call, clock_id: str) -> dict[str, Any]:
    """Retrieve a test clock."""
    return call.render(load(call.sandbox, "test_helpers.test_clock", clock_id))


@route("/test_helpers/test_clocks", ["GET"], strict="test_clock.list")
def list_clocks(call: Call) -> dict[str, Any]:
    """List test clocks."""
    return call.page("/v1/test_helpers/test_clocks", call.store.list("test_helpers.test_clock"))


@route("/test_helpers/test_clocks/<clock_id>", ["DELETE"], strict="test_clock.delete")
def delete_clock(call: Call, clock_id: str) -> dict[str, Any]:
    """Delete a test clock and its customers."""
    return clocks.delete_clock(call.sandbox, clock_id)


@route("/test_helpers/test_clocks/<clock_id>/advance", ["POST"], strict="test_clock.advance")
def advance_clock(call: Call, clock_id: str) -> dict[str, Any]:
    """Advance a test clock, running what falls due."""
    return call.render(clocks.advance_clock(call.sandbox, clock_id, call.params))
