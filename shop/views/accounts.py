"""Sign up, sign in, and the shopper's own orders, memberships and billing."""

from __future__ import annotations

import logging

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response

from shop import saved_cards
from shop.checkout import cart, stock
from shop.extensions import db, login_manager
from shop.forms import ActionForm, LoginForm, RegisterForm
from shop.models import Order, Subscription, User
from shop.stripe_api import StripeFailure, billing_portal_url
from shop.stripe_client import stripe_client
from shop.views import catalogue, public_url
from shop.views.checkout import own_order

bp = Blueprint("accounts", __name__)
log = logging.getLogger(__name__)


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    return db.session.get(User, int(user_id)) if user_id.isdigit() else None


def _signed_in(user: User) -> None:
    """Sign `user` in and move the basket they filled while signed out into theirs."""
    login_user(user)
    signed_out = cart.SessionBasket(session)
    if signed_out.lines():
        cart.merge(catalogue(), user, signed_out.lines())
        signed_out.clear()


def _end_lapsed_orders() -> None:
    """Orders whose payment page has expired show Expired, even if Stripe's event is late."""
    if stock.expire_lapsed():
        db.session.commit()


def _next_url() -> str:
    """Where to go after signing in: a local path only, never another site."""
    target = request.args.get("next", "")
    return (
        target if target.startswith("/") and not target.startswith("//") else url_for("shop.index")
    )


@bp.route("/register", methods=["GET", "POST"])
def register() -> Response | str:
    form = RegisterForm()
    if form.validate_on_submit():
        user = User(email=(form.email.data or "").strip().lower())
        user.set_password(form.password.data or "")
        db.session.add(user)
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            form.email.errors.append("An account with that email already exists.")
        else:
            _signed_in(user)
            flash("Welcome to Quire.", "success")
            return redirect(_next_url())
    return render_template("accounts/register.html", form=form)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str:
    form = LoginForm()
    if form.validate_on_submit():
        email = (form.email.data or "").strip().lower()
        user = db.session.execute(db.select(User).filter_by(email=email)).scalar_one_or_none()
        if user is not None and user.check_password(form.password.data or ""):
            _signed_in(user)
            return redirect(_next_url())
        form.password.errors.append("Email or password is wrong.")
    return render_template("accounts/login.html", form=form)


@bp.post("/logout")
def logout() -> Response:
    if ActionForm().validate_on_submit():
        logout_user()
    return redirect(url_for("shop.index"))


@bp.get("/account")
@login_required
def account() -> str:
    """The shopper's memberships, saved cards and orders — theirs only.

    The cards are read from Stripe; when Stripe cannot be asked the rest of the page
    still shows, with a line saying the cards can't be shown right now.
    """
    _end_lapsed_orders()
    customer_id = saved_cards.customer_id_of(current_user)
    db.session.commit()  # no transaction open across the Stripe call
    cards: list[saved_cards.SavedCard] | None
    try:
        cards = saved_cards.saved_cards(stripe_client(), customer_id)
    except StripeFailure as failure:
        log.error("saved cards for user %s: %s", current_user.id, failure)
        cards = None
    orders = db.session.execute(
        db.select(Order).filter_by(user_id=current_user.id).order_by(Order.id.desc())
    ).scalars()
    memberships = db.session.execute(
        db.select(Subscription).filter_by(user_id=current_user.id).order_by(Subscription.id.desc())
    ).scalars()
    return render_template(
        "accounts/account.html",
        orders=list(orders),
        memberships=list(memberships),
        cards=cards,
        form=ActionForm(),
    )


@bp.post("/account/cards/<card_id>/remove")
@login_required
def remove_card(card_id: str) -> Response:
    """Remove one of the shopper's own saved cards. :raise 404: for any other card."""
    if not ActionForm().validate_on_submit():
        abort(400)
    customer_id = saved_cards.customer_id_of(current_user)
    if customer_id is None:
        abort(404)
    db.session.commit()  # no transaction open across the Stripe calls
    try:
        removed = saved_cards.remove_card(stripe_client(), customer_id, card_id)
    except saved_cards.CardNotFound:
        abort(404)
    except StripeFailure as failure:
        log.error("removing a card of user %s: %s", current_user.id, failure)
        flash("We couldn't remove the card just now. Nothing changed; please try again.", "error")
    else:
        flash(f"{removed.name} was removed.", "success")
    return redirect(url_for("accounts.account"), code=303)


@bp.get("/orders/<int:order_id>")
@login_required
def order(order_id: int) -> str:
    _end_lapsed_orders()
    return render_template("accounts/order.html", order=own_order(order_id))


@bp.post("/account/billing")
@login_required
def billing() -> Response | tuple[str, int]:
    """Open Stripe's billing portal for the shopper's own customer."""
    if not ActionForm().validate_on_submit():
        return redirect(url_for("accounts.account"))
    customer = current_user.customer
    if customer is None:
        flash("You have nothing to manage yet.", "info")
        return redirect(url_for("accounts.account"))
    customer_id = customer.stripe_customer_id
    db.session.commit()  # no transaction open across the Stripe call
    try:
        portal = billing_portal_url(stripe_client(), customer_id, public_url("accounts.account"))
    except StripeFailure as failure:
        log.error("billing portal for user %s: %s", current_user.id, failure)
        return render_template("errors/payments_down.html"), 503
    return redirect(portal, code=303)
