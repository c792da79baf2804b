"""Customers: creation (optionally on a test clock) and updates; deleting one, which
cancels its subscriptions, is ``flows.billing.delete_customer``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..core.errors import no_such
from ..core.ids import new_id, random_token
from ..core.params import get_dict, get_str, merge_metadata
from ..core.shapes import blank
from .events import emit
from .objects import load, save_updated

if TYPE_CHECKING:
    from ..core.sandbox import Sandbox

ADDRESS_KEYS = ("city", "country", "line1", "line2", "postal_code", "state")


def address(value: Any) -> dict[str, Any] | None:
    """A Stripe address hash with every key present, or None."""
    if not isinstance(value, dict):
        return None
    return {key: value.get(key) or None for key in ADDRESS_KEYS}


def create_customer(sandbox: Sandbox, params: dict[str, Any]) -> dict[str, Any]:
    """Create a customer; with ``test_clock`` it lives at that clock's time."""
    clock_id = get_str(params, "test_clock")
    if clock_id and sandbox.store.get_typed("test_helpers.test_clock", clock_id) is None:
        raise no_such("test_clock", clock_id, param="test_clock", status=400)
    shipping = params.get("shipping")
    invoice_settings = get_dict(params, "invoice_settings")
    default_pm = get_str(invoice_settings, "default_payment_method") or get_str(
        params, "payment_method"
    )
    customer = blank(
        "customer",
        id=new_id("cus_", 14),
        address=address(params.get("address")),
        balance=0,
        created=sandbox.clock.now(clock_id),
        currency=None,
        default_source=None,
        delinquent=False,
        description=get_str(params, "description"),
        discount=None,
        email=get_str(params, "email"),
        invoice_prefix=random_token(8).upper(),
        invoice_settings={
            "custom_fields": None,
            "default_payment_method": default_pm,
            "footer": None,
            "rendering_options": None,
        },
        metadata=get_dict(params, "metadata"),
        name=get_str(params, "name"),
        next_invoice_sequence=1,
        phone=get_str(params, "phone"),
        preferred_locales=[str(x) for x in params.get("preferred_locales") or []],
        shipping=(
            {
                "address": address(shipping.get("address")),
                "name": shipping.get("name"),
                "phone": shipping.get("phone"),
            }
            if isinstance(shipping, dict)
            else None
        ),
        tax_exempt="none",
        test_clock=clock_id,
    )
    sandbox.store.put(customer)
    emit(sandbox, "customer.created", customer, created=customer["created"])
    return customer


def update_customer(sandbox: Sandbox, customer_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """Update a customer's details; emits ``customer.updated`` with ``previous_attributes``."""
    before = load(sandbox, "customer", customer_id)
    after = dict(before)
    for key in ("email", "name", "phone", "description"):
        if key in params:
            after[key] = get_str(params, key)
    if "address" in params:
        after["address"] = address(params.get("address"))
    if "metadata" in params:
        after["metadata"] = merge_metadata(before.get("metadata") or {}, params["metadata"])
    if "invoice_settings" in params:
        settings = dict(before.get("invoice_settings") or {})
        new = get_dict(params, "invoice_settings")
        if "default_payment_method" in new:
            pm_id = get_str(new, "default_payment_method")
            if pm_id:
                load(
                    sandbox,
                    "payment_method",
                    pm_id,
                    param="invoice_settings[default_payment_method]",
                    status=400,
                )
            settings["default_payment_method"] = pm_id
        after["invoice_settings"] = settings
    return save_updated(
        sandbox, before, after, "customer.updated", created=sandbox.clock.for_customer(customer_id)
    )
