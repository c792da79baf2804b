"""Postage for printed books: which zone a destination is in, what posting there costs,
and the Checkout Session parameters that offer it.

Stripe cannot make its shipping options depend on the address typed on its page, so the
shopper chooses the destination country first (`Order.ship_to_country`); Checkout then
accepts addresses in that country only and offers that zone's rates, every amount from
the catalogue. Everything here except `checkout_shipping` is pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from flask import current_app
from stripe.params.checkout import (
    SessionCreateParams,
    SessionCreateParamsShippingAddressCollection,
    SessionCreateParamsShippingOption,
    SessionCreateParamsShippingOptionShippingRateData,
)

from shop.catalogue import Catalogue, Shipping, ShippingZone
from shop.catalogue_source import catalogue_of
from shop.models import Order


@dataclass(frozen=True)
class PostageOption:
    """One way to post an order, at the price the shopper will pay for it."""

    key: str
    name: str
    amount: int
    currency: str
    days: tuple[int, int] | None = None

    @property
    def free(self) -> bool:
        return self.amount == 0


def zone_for(shipping: Shipping | None, country: str | None) -> ShippingZone | None:
    """The zone `country` (an ISO code) is posted to; None when we do not post there."""
    if shipping is None or not country:
        return None
    return shipping.zone_for(country)


def free_over(shipping: Shipping, zone: ShippingZone) -> int | None:
    """The subtotal of printed books from which posting to `zone` is free (None: never)."""
    return zone.free_over if zone.free_over is not None else shipping.free_over


def postage_options(
    shipping: Shipping | None, country: str | None, subtotal: int
) -> tuple[PostageOption, ...]:
    """The ways to post printed books worth `subtotal` to `country`, cheapest first.

    At or above the zone's `free_over` there is one option, free: the zone's cheapest
    rate at no charge. Empty when the country is not one we post to.
    """
    zone = zone_for(shipping, country)
    if shipping is None or zone is None or not zone.rates:
        return ()
    options = sorted(
        (PostageOption(r.key, r.name, r.amount, shipping.currency, r.days) for r in zone.rates),
        key=lambda option: option.amount,
    )
    limit = free_over(shipping, zone)
    if limit is not None and subtotal >= limit:
        cheapest = options[0]
        name = cheapest.name if cheapest.free else f"Free postage ({cheapest.name})"
        return (PostageOption(cheapest.key, name, 0, shipping.currency, cheapest.days),)
    return tuple(options)


def cheapest_postage(shipping: Shipping | None) -> int | None:
    """The lowest postage to anywhere (the book page's "postage from"); None: no shipping."""
    if shipping is None:
        return None
    amounts = [rate.amount for zone in shipping.zones for rate in zone.rates]
    return min(amounts) if amounts else None


def printed_subtotal(order: Order, catalogue: Catalogue) -> int:
    """What the order's printed books come to, at the prices the order was made at."""
    total = 0
    for item in order.items:
        book = catalogue.book(item.item_key)
        if book is not None and book.format == "print":
            total += item.line_total
    return total


def _rate_data(option: PostageOption) -> SessionCreateParamsShippingOptionShippingRateData:
    data: SessionCreateParamsShippingOptionShippingRateData = {
        "type": "fixed_amount",
        "display_name": option.name,
        "fixed_amount": {"amount": option.amount, "currency": option.currency},
        "metadata": {"quire_rate": option.key},
    }
    if option.days is not None:
        low, high = option.days
        data["delivery_estimate"] = {
            "minimum": {"unit": "business_day", "value": low},
            "maximum": {"unit": "business_day", "value": high},
        }
    return data


def shipping_params(order: Order, catalogue: Catalogue) -> SessionCreateParams:
    """The Checkout Session parameters that post an order: empty for one that does not.

    Addresses are accepted in the chosen country only, and the options are that zone's
    rates (one free option at or above `free_over`). An order made before destinations
    were chosen (no `ship_to_country`) accepts any country we post to, without options.
    """
    if not order.ships:
        return {}
    shipping = catalogue.shipping
    country = order.ship_to_country
    options = postage_options(shipping, country, printed_subtotal(order, catalogue))
    if country and options:
        countries = [country]
    else:
        countries = list(shipping.countries) if shipping is not None else []
        options = ()
    if not countries:
        return {}
    collection = cast(
        SessionCreateParamsShippingAddressCollection, {"allowed_countries": countries}
    )
    params: SessionCreateParams = {"shipping_address_collection": collection}
    if options:
        offered: list[SessionCreateParamsShippingOption] = [
            {"shipping_rate_data": _rate_data(option)} for option in options
        ]
        params["shipping_options"] = offered
    return params


def checkout_shipping(order: Order) -> SessionCreateParams:
    """`shipping_params` for an order, from the running app's catalogue."""
    catalogue = catalogue_of(current_app._get_current_object())  # type: ignore[attr-defined]
    return shipping_params(order, catalogue) if catalogue is not None else {}
