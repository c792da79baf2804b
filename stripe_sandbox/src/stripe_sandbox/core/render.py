"""Turning stored objects into API responses: internal keys, ``expand[]`` and lists.

Stored objects may carry sandbox-internal keys starting with ``_`` (never sent).
Expansion replaces an id with the object it names, along dotted paths; the
``data.`` prefix reaches into list items. Checkout Session ``line_items`` exist
only when expanded.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from .errors import invalid
from .store import Store

MAX_EXPAND_DEPTH = 4


def public(obj: Any) -> Any:
    """A deep copy of ``obj`` without keys starting with ``_``."""
    if isinstance(obj, dict):
        return {k: public(v) for k, v in obj.items() if not k.startswith("_")}
    if isinstance(obj, list):
        return [public(v) for v in obj]
    return copy.copy(obj)


def list_object(url: str, data: list[dict[str, Any]], has_more: bool = False) -> dict[str, Any]:
    """Stripe's list envelope."""
    return {"object": "list", "url": url, "has_more": has_more, "data": data}


def checkout_line_items(session: dict[str, Any]) -> dict[str, Any]:
    """The ``line_items`` list of a stored Checkout Session."""
    items = [copy.deepcopy(item) for item in session.get("_line_items", [])]
    return list_object(f"/v1/checkout/sessions/{session['id']}/line_items", items)


def _expand_path(store: Store, node: Any, parts: Sequence[str]) -> Any:
    if not parts:
        return node
    if isinstance(node, list):
        return [_expand_path(store, item, parts) for item in node]
    if not isinstance(node, dict):
        return node
    head, rest = parts[0], parts[1:]
    if head == "line_items" and node.get("object") == "checkout.session":
        stored = store.get(str(node["id"])) or {}
        if not isinstance(node.get("line_items"), dict):
            node["line_items"] = checkout_line_items(stored)
        node["line_items"] = _expand_path(store, node["line_items"], rest)
        return node
    if head not in node:
        raise invalid(f"This property cannot be expanded ({head}).", param="expand")
    value = node[head]
    if isinstance(value, str):
        target = store.get(value)
        if target is not None:
            value = public(target)
    node[head] = _expand_path(store, value, rest)
    return node


def expand(store: Store, obj: dict[str, Any], paths: Sequence[str]) -> dict[str, Any]:
    """A public copy of ``obj`` with each dotted path in ``paths`` expanded."""
    out: dict[str, Any] = public(obj)
    for path in paths:
        parts = path.split(".")
        if len(parts) > MAX_EXPAND_DEPTH:
            raise invalid(
                f"You cannot expand more than {MAX_EXPAND_DEPTH} levels of a property.",
                param="expand",
            )
        out = _expand_path(store, out, parts)
    return out
