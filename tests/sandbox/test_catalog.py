"""Products, prices and customers through the SDK."""

from __future__ import annotations

import pytest
import stripe
from stripe import StripeClient


def test_product_with_chosen_id_and_default_price(stripe_client: StripeClient) -> None:
    """A product keeps a caller-chosen id; default_price_data creates its price."""
    product = stripe_client.v1.products.create(
        params={
            "id": "book-dune",
            "name": "Dune",
            "default_price_data": {"currency": "gbp", "unit_amount": 999},
        }
    )
    assert product.id == "book-dune"
    assert product.default_price is not None
    price = stripe_client.v1.prices.retrieve(str(product.default_price))
    assert (price.unit_amount, price.currency, price.product, price.type) == (
        999,
        "gbp",
        "book-dune",
        "one_time",
    )


def test_product_filters_and_archive(stripe_client: StripeClient) -> None:
    """Archived products are filtered by `active`; `ids[]` picks products."""
    a = stripe_client.v1.products.create(params={"name": "A"})
    b = stripe_client.v1.products.create(params={"name": "B"})
    stripe_client.v1.products.update(b.id, params={"active": False})
    assert [p.id for p in stripe_client.v1.products.list(params={"active": True}).data] == [a.id]
    assert [p.id for p in stripe_client.v1.products.list(params={"ids": [b.id]}).data] == [b.id]


def test_recurring_price_from_product_data(stripe_client: StripeClient) -> None:
    """product_data creates the product; recurring makes a recurring price."""
    price = stripe_client.v1.prices.create(
        params={
            "product_data": {"name": "Membership"},
            "unit_amount": 500,
            "currency": "gbp",
            "recurring": {"interval": "month"},
        }
    )
    assert price.type == "recurring"
    assert price.recurring is not None and price.recurring.interval == "month"
    assert stripe_client.v1.products.retrieve(str(price.product)).name == "Membership"


def test_lookup_key_is_unique_even_across_inactive_prices(stripe_client: StripeClient) -> None:
    """A clash is 400 param=lookup_key; transfer_lookup_key moves the key."""
    product = stripe_client.v1.products.create(params={"name": "Dune"})
    old = stripe_client.v1.prices.create(
        params={
            "product": product.id,
            "unit_amount": 900,
            "currency": "gbp",
            "lookup_key": "book:dune",
        }
    )
    stripe_client.v1.prices.update(old.id, params={"active": False})
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.prices.create(
            params={
                "product": product.id,
                "unit_amount": 1000,
                "currency": "gbp",
                "lookup_key": "book:dune",
            }
        )
    assert caught.value.param == "lookup_key"
    new = stripe_client.v1.prices.create(
        params={
            "product": product.id,
            "unit_amount": 1000,
            "currency": "gbp",
            "lookup_key": "book:dune",
            "transfer_lookup_key": True,
        }
    )
    assert stripe_client.v1.prices.retrieve(old.id).lookup_key is None
    found = stripe_client.v1.prices.list(params={"lookup_keys": ["book:dune"]}).data
    assert [p.id for p in found] == [new.id]


def test_price_amount_is_immutable(stripe_client: StripeClient) -> None:
    """Updating amount/currency/recurring is refused; nickname and metadata change."""
    price = stripe_client.v1.prices.create(
        params={"product_data": {"name": "x"}, "unit_amount": 900, "currency": "gbp"}
    )
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.prices.update(price.id, params={"unit_amount": 100})  # type: ignore[typeddict-unknown-key]
    assert caught.value.param == "unit_amount"
    updated = stripe_client.v1.prices.update(
        price.id, params={"nickname": "Standard", "metadata": {"sku": "1"}}
    )
    assert (updated.nickname, updated.metadata.to_dict(), updated.unit_amount) == (
        "Standard",
        {"sku": "1"},
        900,
    )


def test_price_list_filters(stripe_client: StripeClient) -> None:
    """active, product, type and currency filter prices."""
    p1 = stripe_client.v1.products.create(params={"name": "1"})
    p2 = stripe_client.v1.products.create(params={"name": "2"})
    one = stripe_client.v1.prices.create(
        params={"product": p1.id, "unit_amount": 1, "currency": "gbp"}
    )
    rec = stripe_client.v1.prices.create(
        params={
            "product": p2.id,
            "unit_amount": 2,
            "currency": "usd",
            "recurring": {"interval": "year"},
        }
    )
    stripe_client.v1.prices.update(one.id, params={"active": False})
    assert [p.id for p in stripe_client.v1.prices.list(params={"active": True}).data] == [rec.id]
    assert [p.id for p in stripe_client.v1.prices.list(params={"product": p1.id}).data] == [one.id]
    assert [p.id for p in stripe_client.v1.prices.list(params={"type": "recurring"}).data] == [
        rec.id
    ]
    assert [p.id for p in stripe_client.v1.prices.list(params={"currency": "gbp"}).data] == [one.id]


def test_price_search_by_lookup_key(stripe_client: StripeClient) -> None:
    """Search returns a search_result with the matching price."""
    price = stripe_client.v1.prices.create(
        params={
            "product_data": {"name": "x"},
            "unit_amount": 9,
            "currency": "gbp",
            "lookup_key": "book:x",
        }
    )
    result = stripe_client.v1.prices.search(
        params={"query": "lookup_key:'book:x' AND active:'true'"}
    )
    assert result.object == "search_result"
    assert [p.id for p in result.data] == [price.id]


def test_customers_create_update_list_delete(stripe_client: StripeClient) -> None:
    """Customers can be filtered by email, updated and deleted."""
    a = stripe_client.v1.customers.create(
        params={"email": "a@example.com", "name": "Ann", "metadata": {"user_id": "1"}}
    )
    stripe_client.v1.customers.create(params={"email": "b@example.com"})
    assert [
        c.id for c in stripe_client.v1.customers.list(params={"email": "a@example.com"}).data
    ] == [a.id]
    updated = stripe_client.v1.customers.update(a.id, params={"name": "Anne"})
    assert updated.name == "Anne" and updated.metadata.to_dict() == {"user_id": "1"}
    event = stripe_client.v1.events.list(params={"type": "customer.updated"}).data[0]
    assert event.data.previous_attributes.to_dict() == {"name": "Ann"}
    deleted = stripe_client.v1.customers.delete(a.id)
    assert deleted.deleted is True
    assert stripe_client.v1.customers.retrieve(a.id).deleted is True
    assert a.id not in [c.id for c in stripe_client.v1.customers.list().data]


def test_catalog_events(stripe_client: StripeClient) -> None:
    """Creating and updating emits product/price events in order."""
    product = stripe_client.v1.products.create(params={"name": "Dune"})
    price = stripe_client.v1.prices.create(
        params={"product": product.id, "unit_amount": 9, "currency": "gbp"}
    )
    stripe_client.v1.prices.update(price.id, params={"active": False})
    types = [e.type for e in stripe_client.v1.events.list().data]
    assert types == ["price.updated", "price.created", "product.created"]
    assert [
        e.type for e in stripe_client.v1.events.list(params={"types": ["product.created"]}).data
    ] == ["product.created"]


def test_customer_search_by_email_and_metadata(stripe_client: StripeClient) -> None:
    """Customers can be searched by email or metadata, as the SDK's search() sends."""
    ann = stripe_client.v1.customers.create(
        params={"email": "ann@example.com", "metadata": {"user_id": "7"}}
    )
    stripe_client.v1.customers.create(params={"email": "bob@example.com"})
    assert [
        c.id
        for c in stripe_client.v1.customers.search(params={"query": "email:'ann@example.com'"}).data
    ] == [ann.id]
    assert [
        c.id
        for c in stripe_client.v1.customers.search(params={"query": "metadata['user_id']:'7'"}).data
    ] == [ann.id]
