"""``/v1/products`` and ``/v1/prices`` (including ``/v1/prices/search``)."""

from __future__ import annotations

from typing import Any

from ..core.params import get_bool, get_list, get_str
from ..resources import catalog
from ..resources.objects import load
from .base import Call, route


@route("/products", ["POST"], strict="product.create")
def create_product(call: Call) -> dict[str, Any]:
    """Create a product."""
    return call.render(catalog.create_product(call.sandbox, call.params))


@route("/products/<product_id>", ["GET"], strict="product.retrieve")
def retrieve_product(call: Call, product_id: str) -> dict[str, Any]:
    """Retrieve a product."""
    return call.render(load(call.sandbox, "product", product_id))


@route("/products/<product_id>", ["POST"], strict="product.update")
def update_product(call: Call, product_id: str) -> dict[str, Any]:
    """Update a product."""
    return call.render(catalog.update_product(call.sandbox, product_id, call.params))


@route("/products/<product_id>", ["DELETE"], strict="product.delete")
def delete_product(call: Call, product_id: str) -> dict[str, Any]:
    """Delete a product that has no prices."""
    return catalog.delete_product(call.sandbox, product_id)


@route("/products", ["GET"], strict="product.list")
def list_products(call: Call) -> dict[str, Any]:
    """List products, filtered by ``active`` and ``ids[]``."""
    products = call.store.list("product")
    active = get_bool(call.params, "active")
    if active is not None:
        products = [p for p in products if p["active"] is active]
    ids = [str(i) for i in get_list(call.params, "ids")]
    if ids:
        products = [p for p in products if p["id"] in ids]
    return call.page("/v1/products", products)


@route("/prices", ["POST"], strict="price.create")
def create_price(call: Call) -> dict[str, Any]:
    """Create a price."""
    return call.render(catalog.create_price(call.sandbox, call.params))


@route("/prices/search", ["GET"], strict="price.search")
def search_prices(call: Call) -> dict[str, Any]:
    """Search prices (``lookup_key:'book:dune' AND active:'true'``)."""
    query = get_str(call.params, "query", required=True) or ""
    return call.search("/v1/prices/search", catalog.search_prices(call.sandbox, query))


@route("/prices/<price_id>", ["GET"], strict="price.retrieve")
def retrieve_price(call: Call, price_id: str) -> dict[str, Any]:
    """Retrieve a price."""
    return call.render(load(call.sandbox, "price", price_id))


@route("/prices/<price_id>", ["POST"], strict="price.update")
def update_price(call: Call, price_id: str) -> dict[str, Any]:
    """Update a price's mutable fields."""
    return call.render(catalog.update_price(call.sandbox, price_id, call.params))


@route("/prices", ["GET"], strict="price.list")
def list_prices(call: Call) -> dict[str, Any]:
    """List prices with Stripe's filters."""
    return call.page("/v1/prices", catalog.filter_prices(call.sandbox, call.params))
