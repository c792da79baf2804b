"""The basket: add, change, remove, and Checkout (signed in or not until Checkout)."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    session,
    url_for,
)
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from shop.catalogue import ProductKind
from shop.checkout import cart, orders, sessions
from shop.checkout.prices import CatalogueNotSynced
from shop.entitlements import owned_book_keys
from shop.forms import ActionForm, BuyForm, CheckoutForm, QuantityForm
from shop.shipping import cheapest_postage
from shop.stripe_client import stripe_client
from shop.views import catalogue, price_directory, price_updating
from shop.views.checkout import own_order, price_changed, return_urls

bp = Blueprint("cart", __name__)


def basket() -> cart.Basket:
    """The shopper's basket: their own when signed in, else the one in their session."""
    if current_user.is_authenticated:
        return cart.UserBasket(current_user)
    return cart.SessionBasket(session)


def owned() -> set[str]:
    return owned_book_keys(current_user) if current_user.is_authenticated else set()


def add_book(key: str, quantity: int, *, go_to_cart: bool) -> Response:
    """Put a book in the basket; then the basket (Buy now) or back to the book."""
    try:
        message = cart.add(catalogue(), basket(), key, quantity, owned())
    except orders.CheckoutRefused as refusal:
        flash(str(refusal), "error")
        known = catalogue().book(key) is not None
        return redirect(url_for("shop.book", key=key) if known else url_for("shop.index"))
    flash(message, "success")
    return redirect(url_for("cart.show") if go_to_cart else url_for("shop.book", key=key))


@bp.get("/cart")
def show() -> str:
    """The basket's lines, subtotal and Checkout button."""
    for message in cart.drop_unsold(catalogue(), basket()):
        flash(message, "info")
    shipping = catalogue().shipping
    return render_template(
        "cart/cart.html",
        basket=cart.view(catalogue(), basket()),
        form=QuantityForm(),
        action=ActionForm(),
        checkout=CheckoutForm(),
        shipping=shipping,
        postage_from=cheapest_postage(shipping),
    )


@bp.post("/cart/books/<key>")
def add(key: str) -> Response:
    """Add to basket, or Buy now (`action=buy`: add and go to the basket)."""
    form = BuyForm()
    if not form.validate_on_submit():
        flash(f"Choose a quantity between 1 and {orders.MAX_QUANTITY}.", "error")
        return redirect(url_for("shop.book", key=key))
    return add_book(key, form.quantity.data or 0, go_to_cart=form.action.data == "buy")


@bp.post("/cart/books/<key>/quantity")
def change(key: str) -> Response:
    form = QuantityForm()
    if not form.validate_on_submit():
        flash(f"Choose a quantity between 0 and {orders.MAX_QUANTITY}.", "error")
        return redirect(url_for("cart.show"))
    try:
        cart.change(catalogue(), basket(), key, form.quantity.data or 0, owned())
    except orders.CheckoutRefused as refusal:
        flash(str(refusal), "error")
    return redirect(url_for("cart.show"))


@bp.post("/cart/books/<key>/remove")
def remove(key: str) -> Response:
    if ActionForm().validate_on_submit():
        basket().put(key, 0)
    return redirect(url_for("cart.show"))


@bp.post("/orders/<int:order_id>/basket")
@login_required
def refill(order_id: int) -> Response:
    """Try again for a book order: its books go back in the basket, then the basket."""
    order = own_order(order_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    if order.product_kind is not ProductKind.BOOK:
        abort(404)
    for problem in cart.refill(catalogue(), basket(), order, owned()):
        flash(problem, "error")
    return redirect(url_for("cart.show"), code=303)


@bp.post("/cart/checkout")
def checkout() -> Response | tuple[str, int] | tuple[str, int, dict[str, str]]:
    """One order for the whole basket, and a 303 to its Stripe page.

    Signed out, the shopper signs in (or signs up) and comes back to the basket, which
    is merged into theirs: never to this POST-only address.
    """
    form = CheckoutForm()
    if not form.validate_on_submit():
        if form.ship_to.errors:
            flash("Choose a country we post to.", "error")
        return redirect(url_for("cart.show"))
    if not current_user.is_authenticated:
        flash("Sign in or create an account to check out: your basket is kept.", "info")
        return redirect(url_for("accounts.login", next=url_for("cart.show")))
    try:
        started = sessions.checkout_basket(
            stripe_client(),
            price_directory(),
            catalogue(),
            current_user,
            return_urls,
            max_held=current_app.config["MAX_HELD_COPIES"],
            ship_to=form.ship_to.data,
        )
    except orders.CheckoutRefused as refusal:
        flash(str(refusal), "error")
        return redirect(url_for("cart.show"))
    except CatalogueNotSynced:
        return price_updating(url_for("cart.show"), "your basket")
    except sessions.PaymentsUnavailable as failure:
        return render_template("checkout/unavailable.html", order=failure.order), 503
    except sessions.PriceChanged as changed:
        return price_changed(changed.order)
    return redirect(started.url, code=303)
