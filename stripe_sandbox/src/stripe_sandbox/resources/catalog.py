"""Products and prices: creation, lookup-key uniqueness and updates."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..core.errors import StripeError, invalid, missing_param, no_such
from ..core.ids import new_id
from ..core.params import get_bool, get_dict, get_int, get_list, get_str, merge_metadata
from ..core.search import matches, parse_query
from ..core.shapes import blank
from .events import emit
from .objects import load, save_updated

if TYPE_CHECKING:
    from ..core.sandbox import Sandbox

INTERVALS = ("day", "week", "month", "year")
LOOKUP_KEY_MAX = 200


def create_product(sandbox: Sandbox, params: dict[str, Any]) -> dict[str, Any]:
    """Create a product (caller may choose its ``id``) and its ``default_price_data``."""
    name = get_str(params, "name", required=True)
    product_id = get_str(params, "id") or new_id("prod_", 14)
    if sandbox.store.get(product_id) is not None:
        raise StripeError(
            "Product already exists.",
            param="id",
            code="resource_already_exists",
        )
    now = sandbox.clock.wall()
    active = get_bool(params, "active")
    product = blank(
        "product",
        id=product_id,
        active=True if active is None else active,
        created=now,
        updated=now,
        default_price=None,
        description=get_str(params, "description"),
        images=[str(i) for i in get_list(params, "images")],
        marketing_features=[
            {"name": f.get("name")} for f in get_list(params, "marketing_features")
        ],
        metadata=get_dict(params, "metadata"),
        name=name,
        package_dimensions=None,
        shippable=get_bool(params, "shippable"),
        statement_descriptor=get_str(params, "statement_descriptor"),
        tax_code=get_str(params, "tax_code"),
        type="service",
        unit_label=get_str(params, "unit_label"),
        url=get_str(params, "url"),
    )
    sandbox.store.put(product)
    emit(sandbox, "product.created", product)
    price_data = params.get("default_price_data")
    if isinstance(price_data, dict):
        price = create_price(
            sandbox, {**price_data, "product": product_id}, param_prefix="default_price_data"
        )
        product["default_price"] = price["id"]
        sandbox.store.put(product)
    return product


def update_product(sandbox: Sandbox, product_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """Update a product's mutable fields; emits ``product.updated``."""
    before = load(sandbox, "product", product_id)
    after = dict(before)
    for key in ("name", "description", "statement_descriptor", "tax_code", "unit_label", "url"):
        if key in params:
            after[key] = get_str(params, key)
    for key in ("active", "shippable"):
        if key in params:
            after[key] = get_bool(params, key)
    if "images" in params:
        after["images"] = [str(i) for i in get_list(params, "images")]
    if "metadata" in params:
        after["metadata"] = merge_metadata(before.get("metadata") or {}, params["metadata"])
    if "default_price" in params:
        price_id = get_str(params, "default_price")
        if price_id:
            price = load(sandbox, "price", price_id, param="default_price", status=400)
            if price["product"] != product_id:
                raise invalid("The price must belong to this product.", param="default_price")
        after["default_price"] = price_id
    if after != before:
        after["updated"] = sandbox.clock.wall()
    return save_updated(sandbox, before, after, "product.updated")


def delete_product(sandbox: Sandbox, product_id: str) -> dict[str, Any]:
    """Delete a product without prices (Stripe refuses when it has any)."""
    product = load(sandbox, "product", product_id)
    if sandbox.store.list("price", product=product_id):
        raise invalid(
            "This product cannot be deleted because it has one or more user-created prices."
        )
    sandbox.store.delete(product_id)
    emit(sandbox, "product.deleted", product)
    return {"id": product_id, "object": "product", "deleted": True}


def _claim_lookup_key(sandbox: Sandbox, lookup_key: str, transfer: bool, owner: str | None) -> None:
    """Enforce lookup-key uniqueness across all prices, moving it when asked."""
    if len(lookup_key) > LOOKUP_KEY_MAX:
        raise invalid(
            f"Invalid lookup_key: must be at most {LOOKUP_KEY_MAX} characters", param="lookup_key"
        )
    for other in sandbox.store.list("price", lookup_key=lookup_key):
        if other["id"] == owner:
            continue
        if not transfer:
            raise invalid(
                f"A price (`{other['id']}`) already uses that lookup key.",
                param="lookup_key",
                code="resource_already_exists",
            )
        moved = dict(other, lookup_key=None)
        save_updated(sandbox, other, moved, "price.updated")


def _recurring(value: Any, param: str) -> dict[str, Any] | None:
    if value is None or value == "":
        return None
    if not isinstance(value, dict):
        raise invalid("Invalid object", param=param)
    interval = get_str(value, "interval")
    if interval is None:
        raise missing_param(f"{param}[interval]")
    if interval not in INTERVALS:
        raise invalid(
            f"Invalid {param}[interval]: must be one of day, week, month, or year",
            param=f"{param}[interval]",
        )
    count = get_int(value, "interval_count", param=f"{param}[interval_count]") or 1
    trial = get_int(value, "trial_period_days", param=f"{param}[trial_period_days]")
    return {
        "interval": interval,
        "interval_count": count,
        "meter": None,
        "trial_period_days": trial,
        "usage_type": value.get("usage_type") or "licensed",
    }


def create_price(
    sandbox: Sandbox, params: dict[str, Any], *, param_prefix: str = ""
) -> dict[str, Any]:
    """Create a price for ``product`` or for a new product from ``product_data``."""

    def name(key: str) -> str:
        return f"{param_prefix}[{key}]" if param_prefix else key

    currency = get_str(params, "currency")
    if currency is None:
        raise missing_param(name("currency"))
    product_id = get_str(params, "product")
    product_data = params.get("product_data")
    if product_id and product_data:
        raise invalid(
            "You may only specify one of these parameters: product, product_data.",
            param=name("product_data"),
        )
    if product_id:
        load(sandbox, "product", product_id, param=name("product"), status=400)
    elif isinstance(product_data, dict):
        product_id = create_product(sandbox, product_data)["id"]
    else:
        raise missing_param(name("product"))
    unit_amount = get_int(params, "unit_amount", param=name("unit_amount"))
    decimal = get_str(params, "unit_amount_decimal")
    if unit_amount is None and decimal is not None:
        unit_amount = int(float(decimal))
    if unit_amount is None:
        raise missing_param(name("unit_amount"))
    if unit_amount < 0:
        raise invalid("Invalid non-negative integer", param=name("unit_amount"))
    recurring = _recurring(params.get("recurring"), name("recurring"))
    lookup_key = get_str(params, "lookup_key")
    if lookup_key is not None:
        _claim_lookup_key(sandbox, lookup_key, bool(get_bool(params, "transfer_lookup_key")), None)
    active = get_bool(params, "active")
    price = blank(
        "price",
        id=new_id("price_"),
        active=True if active is None else active,
        billing_scheme="per_unit",
        created=sandbox.clock.wall(),
        currency=currency.lower(),
        custom_unit_amount=None,
        lookup_key=lookup_key,
        metadata=get_dict(params, "metadata"),
        nickname=get_str(params, "nickname"),
        product=product_id,
        recurring=recurring,
        tax_behavior=get_str(params, "tax_behavior") or "unspecified",
        tiers_mode=None,
        transform_quantity=None,
        type="recurring" if recurring else "one_time",
        unit_amount=unit_amount,
        unit_amount_decimal=str(unit_amount),
    )
    sandbox.store.put(price)
    emit(sandbox, "price.created", price)
    return price


IMMUTABLE_PRICE_FIELDS = ("unit_amount", "unit_amount_decimal", "currency", "recurring", "product")


def update_price(sandbox: Sandbox, price_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """Update a price's mutable fields; amount, currency, recurring and product never change."""
    before = load(sandbox, "price", price_id)
    for key in IMMUTABLE_PRICE_FIELDS:
        if key in params:
            raise invalid(f"Received unknown parameter: {key}", param=key)
    after = dict(before)
    if "active" in params:
        after["active"] = get_bool(params, "active")
    if "nickname" in params:
        after["nickname"] = get_str(params, "nickname")
    if "tax_behavior" in params:
        after["tax_behavior"] = get_str(params, "tax_behavior")
    if "metadata" in params:
        after["metadata"] = merge_metadata(before.get("metadata") or {}, params["metadata"])
    if "lookup_key" in params:
        lookup_key = get_str(params, "lookup_key")
        if lookup_key is not None:
            transfer = bool(get_bool(params, "transfer_lookup_key"))
            _claim_lookup_key(sandbox, lookup_key, transfer, price_id)
        after["lookup_key"] = lookup_key
    return save_updated(sandbox, before, after, "price.updated")


def filter_prices(sandbox: Sandbox, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Prices matching the list filters (``active``, ``product``, ``type``, ``currency``,
    ``lookup_keys[]``, ``recurring[interval]``), newest first."""
    prices = sandbox.store.list("price")
    active = get_bool(params, "active")
    if active is not None:
        prices = [p for p in prices if p["active"] is active]
    for key in ("product", "type", "currency"):
        value = get_str(params, key)
        if value is not None:
            prices = [p for p in prices if p[key] == value]
    lookup_keys = [str(k) for k in get_list(params, "lookup_keys")]
    if len(lookup_keys) > 10:
        raise invalid("You may only specify up to 10 lookup keys.", param="lookup_keys")
    if lookup_keys:
        prices = [p for p in prices if p["lookup_key"] in lookup_keys]
    recurring = params.get("recurring")
    if isinstance(recurring, dict) and recurring.get("interval"):
        prices = [
            p
            for p in prices
            if p["recurring"] and p["recurring"]["interval"] == recurring["interval"]
        ]
    return prices


def search_prices(sandbox: Sandbox, query: str) -> list[dict[str, Any]]:
    """Prices matching a search query such as ``lookup_key:'book:dune' AND active:'true'``."""
    clauses = parse_query(query)
    return [p for p in sandbox.store.list("price") if matches(p, clauses)]


def get_price(sandbox: Sandbox, price_id: str, param: str) -> dict[str, Any]:
    """A price referenced from another request's params (400 with ``param`` if missing)."""
    price = sandbox.store.get_typed("price", price_id)
    if price is None:
        raise no_such("price", price_id, param=param, status=400)
    return price
