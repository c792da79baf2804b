"""``GET /v1/{customers,products,subscriptions,invoices,payment_intents,charges}/search``.

Queries use Stripe's search language (``email:'a@example.com'``,
``metadata['user_id']:'42'``); unlike Stripe, results are immediately consistent.
"""

from __future__ import annotations

from typing import Any

from ..core.params import get_str
from ..core.search import matches, parse_query
from .base import Call, bp, route

SEARCHABLE = {
    "customers": "customer",
    "products": "product",
    "subscriptions": "subscription",
    "invoices": "invoice",
    "payment_intents": "payment_intent",
    "charges": "charge",
}


def _search(call: Call, collection: str) -> dict[str, Any]:
    query = parse_query(get_str(call.params, "query", required=True) or "")
    found = [
        obj
        for obj in call.store.list(SEARCHABLE[collection])
        if not obj.get("deleted") and matches(obj, query)
    ]
    return call.search(f"/v1/{collection}/search", found)


for _collection, _object in SEARCHABLE.items():

    def _handler(call: Call, _name: str = _collection) -> dict[str, Any]:
        return _search(call, _name)

    _handler.__name__ = f"search_{_collection}"
    route(f"/{_collection}/search", ["GET"], strict=f"{_object}.search")(_handler)

__all__ = ["SEARCHABLE", "bp"]
