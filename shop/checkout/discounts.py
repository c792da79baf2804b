"""A live member's discount on printed books, applied to their Checkout Session.

Stripe refuses a session that sets both `discounts` and `allow_promotion_codes`, so
each session gets one: a member buying printed books gets their best plan's coupon
(`discounts`), and every other session lets the shopper type a promotion code.

The discount the order expects is worked out from the catalogue and recorded on the
order, so Quire's pages can show it; what was really paid still comes from Stripe.
"""

from __future__ import annotations

from stripe.params.checkout import SessionCreateParams

from shop.catalogue import Catalogue, PrintCoupon, ProductKind
from shop.entitlements import catalogue_or_app, member_benefits
from shop.models import Order, OrderItem


def printed_items(order: Order, catalogue: Catalogue) -> list[OrderItem]:
    """The order's lines that are printed books."""
    if order.product_kind is not ProductKind.BOOK:
        return []
    return [
        item
        for item in order.items
        if (book := catalogue.book(item.item_key)) is not None and book.format == "print"
    ]


def member_discount(order: Order, catalogue: Catalogue) -> PrintCoupon | None:
    """The coupon the order's shopper gets now, if it has printed books and they are a
    live member of a plan with a print discount (the best one, if several)."""
    if not printed_items(order, catalogue):
        return None
    return member_benefits(order.user, catalogue).print_coupon


def apply_member_discount(
    params: SessionCreateParams, order: Order, catalogue: Catalogue | None = None
) -> None:
    """Give the session the member's coupon, or else promotion codes (never both), and
    record on the order the discount it expects (its catalogue lines, not Stripe's)."""
    catalogue = catalogue_or_app(catalogue)
    coupon = member_discount(order, catalogue)
    if coupon is None:
        order.amount_discount = 0
        order.discount_coupon_id = None
        params.pop("discounts", None)
        params["allow_promotion_codes"] = True
        return
    order.amount_discount = sum(
        coupon.discount_on(item.line_total) for item in printed_items(order, catalogue)
    )
    order.discount_coupon_id = coupon.id
    params.pop("allow_promotion_codes", None)
    params["discounts"] = [{"coupon": coupon.id}]
