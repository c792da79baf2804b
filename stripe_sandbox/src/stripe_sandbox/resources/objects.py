"""Small helpers shared by the domain modules: loading, diffing and saving objects."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from ..core.errors import exclusive, no_such
from .events import emit

if TYPE_CHECKING:
    from ..core.sandbox import Sandbox

#: The noun Stripe uses in "No such …" messages, by object type.
NOUNS = {
    "product": "product",
    "price": "price",
    "customer": "customer",
    "checkout.session": "checkout.session",
    "payment_intent": "payment_intent",
    "charge": "charge",
    "refund": "refund",
    "dispute": "dispute",
    "payment_method": "PaymentMethod",
    "subscription": "subscription",
    "invoice": "invoice",
    "invoiceitem": "invoiceitem",
    "event": "event",
    "webhook_endpoint": "webhook_endpoint",
    "billing_portal.session": "billing_portal.session",
    "test_helpers.test_clock": "test_clock",
    "coupon": "coupon",
    "shipping_rate": "shipping_rate",
}


def load(
    sandbox: Sandbox, object_type: str, object_id: str, *, param: str = "id", status: int = 404
) -> dict[str, Any]:
    """The stored object, or Stripe's ``resource_missing`` error."""
    obj = sandbox.store.get_typed(object_type, object_id) if object_id else None
    if obj is None or obj.get("deleted"):
        raise no_such(NOUNS.get(object_type, object_type), object_id, param=param, status=status)
    return obj


def changed(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """``previous_attributes``: the old values of top-level keys that changed."""
    return {
        key: copy.deepcopy(before.get(key))
        for key in after
        if not key.startswith("_") and before.get(key) != after[key]
    }


def save_updated(
    sandbox: Sandbox,
    before: dict[str, Any],
    after: dict[str, Any],
    event_type: str,
    *,
    created: int | None = None,
) -> dict[str, Any]:
    """Store ``after`` and emit ``event_type`` with ``previous_attributes`` when it changed."""
    sandbox.store.put(after)
    previous = changed(before, after)
    if previous:
        emit(sandbox, event_type, after, previous_attributes=previous, created=created)
    return after


def require_not_both(params: dict[str, Any], first: str, second: str) -> None:
    """400 when two mutually exclusive params are both given."""
    if params.get(first) not in (None, "") and params.get(second) not in (None, ""):
        raise exclusive(first, second)
