"""``/v1/customers``."""

from __future__ import annotations

from typing import Any

from ..core.params import get_str
from ..flows import billing
from ..resources import customers
from ..resources.objects import load
from .base import Call, route


@route("/customers", ["POST"], strict="customer.create")
def create_customer(call: Call) -> dict[str, Any]:
    """Create a customer."""
    return call.render(customers.create_customer(call.sandbox, call.params))


@route("/customers/<customer_id>", ["GET"], strict="customer.retrieve")
def retrieve_customer(call: Call, customer_id: str) -> dict[str, Any]:
    """Retrieve a customer (a deleted one reads as ``{id, object, deleted: true}``)."""
    stored = call.store.get_typed("customer", customer_id)
    if stored is not None and stored.get("deleted"):
        return {"id": customer_id, "object": "customer", "deleted": True}
    return call.render(load(call.sandbox, "customer", customer_id))


@route("/customers/<customer_id>", ["POST"], strict="customer.update")
def update_customer(call: Call, customer_id: str) -> dict[str, Any]:
    """Update a customer."""
    return call.render(customers.update_customer(call.sandbox, customer_id, call.params))


@route("/customers/<customer_id>", ["DELETE"], strict="customer.delete")
def delete_customer(call: Call, customer_id: str) -> dict[str, Any]:
    """Delete a customer."""
    return billing.delete_customer(call.sandbox, customer_id)


@route("/customers", ["GET"], strict="customer.list")
def list_customers(call: Call) -> dict[str, Any]:
    """List customers, filtered by ``email`` and ``test_clock``."""
    found = [c for c in call.store.list("customer") if not c.get("deleted")]
    for key in ("email", "test_clock"):
        value = get_str(call.params, key)
        if value is not None:
            found = [c for c in found if c.get(key) == value]
    return call.page("/v1/customers", found)
