"""The shop window: the catalogue, and a page per book and per membership."""

from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask_login import current_user

from shop.checkout import stock
from shop.checkout.memberships import standing
from shop.checkout.orders import current_membership
from shop.entitlements import member_price, owned_book_keys
from shop.forms import BuyForm, SubscribeForm
from shop.shipping import cheapest_postage
from shop.views import catalogue

bp = Blueprint("shop", __name__)


@bp.get("/")
def index() -> str:
    """Every book and membership on sale."""
    return render_template("shop/index.html", catalogue=catalogue())


@bp.get("/books/<key>")
def book(key: str) -> str:
    """One book with its Buy button. :raise 404: when the key is not in the catalogue."""
    item = catalogue().book(key)
    if item is None:
        abort(404)
    owned = (
        item.format == "ebook"
        and current_user.is_authenticated
        and item.key in owned_book_keys(current_user)
    )
    shipping = catalogue().shipping
    return render_template(
        "shop/book.html",
        book=item,
        stock=stock.available(item),
        owned=owned,
        member_price=member_price(
            item, current_user if current_user.is_authenticated else None, catalogue()
        ),
        form=BuyForm(),
        shipping=shipping,
        postage_from=cheapest_postage(shipping),
    )


@bp.get("/memberships/<key>")
def plan(key: str) -> str:
    """One membership plan with Subscribe monthly / yearly. :raise 404: unknown key."""
    item = catalogue().plan(key)
    if item is None:
        abort(404)
    user = current_user if current_user.is_authenticated else None
    standings = {interval: standing(user, item, interval) for interval, _ in item.prices}
    return render_template(
        "shop/plan.html",
        plan=item,
        form=SubscribeForm(),
        standings=standings,
        membership=current_membership(user) if user is not None else None,
    )
