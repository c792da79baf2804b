"""An order's reference (`order-12`), as written to Stripe and read back from it."""

from __future__ import annotations

import pytest

from shop.models import Order


@pytest.mark.parametrize("order_id", [1, 12, 907, 2_147_483_647])
def test_an_order_id_survives_the_round_trip_through_its_reference(order_id: int) -> None:
    """What `reference` writes, `id_from_reference` reads back as the same id."""
    reference = Order(id=order_id).reference
    assert reference == f"order-{order_id}" == Order.reference_for(order_id)
    assert Order.id_from_reference(reference) == order_id


@pytest.mark.parametrize(
    "reference",
    [
        None,
        "",
        "order-",
        "order-abc",
        "order--1",
        "order-+1",
        "order-1.5",
        "order-1 ",
        " order-1",
        "order-007",  # not a reference Quire writes, though its digits are a number
        "order-\uff11\uff12",  # full-width digits
        "order-\u00b2",  # a superscript: isdigit() says yes, int() says no
        "ORDER-12",
        "cart-12",
        "12",
        "cs_test_a1",
    ],
)
def test_a_foreign_or_garbled_reference_names_no_order(reference: str | None) -> None:
    """Someone else's `client_reference_id`, or a mangled one, is no order of Quire's."""
    assert Order.id_from_reference(reference) is None
