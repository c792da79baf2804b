"""Turning stored objects into API responses: internal keys, ``expand[]`` and lists.

Stored objects may carry sandbox-internal keys starting with ``_`` (never sent), and the
fields Stripe includes only when expanded (``shapes.ONLY_WHEN_EXPANDED``: Checkout
``line_items``, ``charge.refunds``, ``invoice.payments``), which are left out unless
asked for. Expansion replaces an id with the object it names, along dotted paths; the
``data.`` prefix reaches into list items. Only the fields the SDK declares expandable
(``shapes.EXPANDABLE``) can be expanded; anything else is Stripe's 400 "This property
cannot be expanded".
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from .errors import StripeError, invalid
from .shapes import EXPANDABLE, ONLY_WHEN_EXPANDED
from .store import Store

MAX_EXPAND_DEPTH = 4


def public(obj: Any) -> Any:
    """A deep copy of ``obj`` without keys starting with ``_`` and without the fields
    Stripe returns only when expanded (top-level ones, and nested ones named by a dotted
    path, such as a portal configuration's ``features.subscription_update.products``)."""
    if isinstance(obj, dict):
        hidden = ONLY_WHEN_EXPANDED.get(str(obj.get("object")), ())
        out = {k: public(v) for k, v in obj.items() if not k.startswith("_") and k not in hidden}
        for path in hidden:
            *parents, last = path.split(".")
            node: Any = out
            for part in parents:
                node = node.get(part) if isinstance(node, dict) else None
            if parents and isinstance(node, dict):
                node.pop(last, None)
        return out
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


def _refuse(name: str) -> StripeError:
    return invalid(f"This property cannot be expanded ({name}).", param="expand")


def _included(store: Store, object_id: Any, field: str) -> Any:
    """An only-when-expanded field (a dotted path for a nested one) of the stored object
    ``object_id``, its items current."""
    stored = store.get(str(object_id)) or {}
    if field == "line_items" and stored.get("object") == "checkout.session":
        return checkout_line_items(stored)
    value: Any = stored
    for part in field.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, dict) and isinstance(value.get("data"), list):
        items = [store.get(str(item.get("id"))) or item for item in value["data"]]
        value = dict(value, data=items)
    return public(value)


def _is_object(value: Any) -> bool:
    """An embedded Stripe object or list (it names its own ``object`` type)."""
    if isinstance(value, list):
        return any(_is_object(item) for item in value)
    return isinstance(value, dict) and isinstance(value.get("object"), str)


def _expand_path(
    store: Store,
    node: Any,
    parts: Sequence[str],
    owner: str | None = None,
    prefix: str = "",
    owner_id: Any = None,
) -> Any:
    """Expand ``parts`` below ``node``; ``owner`` is the type of the object ``node`` lies
    in (``owner_id`` its id) and ``prefix`` the dotted path from that object to ``node``."""
    if not parts:
        return node
    if isinstance(node, list):
        return [_expand_path(store, item, parts, owner, prefix, owner_id) for item in node]
    if not isinstance(node, dict):
        return node
    head, rest = parts[0], parts[1:]
    kind = node.get("object")
    if kind in ("list", "search_result"):
        if head != "data" or not rest:
            raise _refuse(head)
        node["data"] = _expand_path(store, node["data"], rest)
        return node
    if isinstance(kind, str):
        owner, prefix, owner_id = kind, "", node.get("id")
    if owner is None or owner not in EXPANDABLE:
        # An object the tables do not describe: expand what is there.
        if head not in node:
            raise _refuse(head)
        node[head] = _expand_path(store, _resolve(store, node[head]), rest)
        return node
    path = prefix + head
    expandable = EXPANDABLE[owner]
    if path in expandable:
        if path in ONLY_WHEN_EXPANDED.get(owner, ()):
            value = _included(store, owner_id, path)
        else:
            value = _resolve(store, node.get(head))
        node[head] = _expand_path(store, value, rest)
        return node
    value = node.get(head)
    leads_on = any(p.startswith(path + ".") for p in expandable)
    if rest and head in node and (leads_on or _is_object(value)):
        node[head] = _expand_path(store, value, rest, owner, path + ".", owner_id)
        return node
    raise _refuse(head)


def _resolve(store: Store, value: Any) -> Any:
    """The public object an id names (the id itself when there is no such object)."""
    if isinstance(value, list):
        return [_resolve(store, item) for item in value]
    if isinstance(value, str):
        target = store.get(value)
        if target is not None:
            return public(target)
    return value


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
