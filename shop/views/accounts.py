"""Sign up, sign in, password reset, and the shopper's own orders, memberships and billing."""

from __future__ import annotations

import logging

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from shop import accounts, saved_cards, throttling
from shop.checkout import cart, stock
from shop.extensions import db, login_manager
from shop.forms import (
    ActionForm,
    ChangeEmailForm,
    ChangePasswordForm,
    ForgotPasswordForm,
    LoginForm,
    RegisterForm,
    ResetPasswordForm,
)
from shop.models import Subscription, User
from shop.stripe_api import StripeFailure, billing_portal_url
from shop.stripe_client import stripe_client
from shop.views import catalogue, public_url
from shop.views.checkout import own_order

bp = Blueprint("accounts", __name__)
log = logging.getLogger(__name__)


@login_manager.user_loader
def load_user(token: str) -> User | None:
    """The session holds a sign-in's token: only a sign-in that hasn't ended signs in."""
    return accounts.live_user(token)


def _signed_in(user: User) -> None:
    """Sign `user` in (a new sign-in, committed) and move the basket they filled while
    signed out into theirs."""
    if current_user.is_authenticated and current_user.sign_in_token:
        accounts.end_sign_in(current_user.sign_in_token)  # the browser's previous sign-in
    accounts.start_sign_in(user, request.headers.get("User-Agent"))
    db.session.commit()
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
    """Where to go after signing in: a path on this site only, never another site."""
    return accounts.local_path(request.args.get("next")) or url_for("shop.index")


def _minutes(count: int) -> str:
    return f"{count} minute" if count == 1 else f"{count} minutes"


@bp.route("/register", methods=["GET", "POST"])
def register() -> Response | str:
    """Sign up: the answer is the same whether or not the email has an account; the
    mail says which (a link that creates the account, or a note that one exists)."""
    form = RegisterForm()
    if form.validate_on_submit():
        email = accounts.normal_email(form.email.data)
        accounts.request_sign_up(email, form.password.data or "", request.args.get("next"))
        db.session.commit()
        return render_template("accounts/check_inbox.html", email=email)
    return render_template("accounts/register.html", form=form)


@bp.route("/register/confirm/<token>", methods=["GET", "POST"])
def confirm_sign_up(token: str) -> Response | str | tuple[str, int]:
    """The link from the sign-up mail: opening it shows a button; only the button's POST
    creates the account (once) and signs it in, so a link mailed by someone else cannot
    sign a browser into their account unasked."""
    form = ActionForm()
    try:
        pending = accounts.pending_sign_up(token)
        if not form.validate_on_submit():
            return render_template("accounts/confirm_sign_up.html", form=form, email=pending.email)
        user, next_path = accounts.confirm_sign_up(token)
        db.session.commit()
    except accounts.LinkRefused as refused:
        db.session.rollback()
        return render_template("accounts/link_refused.html", reason=refused.reason), 400
    _signed_in(user)
    flash("Welcome to Quire.", "success")
    return redirect(next_path or url_for("shop.index"), code=303)


def _password_guess(email: str) -> None:
    """Count a guess at `email`'s password before it is checked. :raise 429: over budget."""
    if not throttling.reserve_sign_in(email):
        abort(429)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str | tuple[str, int]:
    form = LoginForm()
    if form.validate_on_submit():
        email = accounts.normal_email(form.email.data)
        if not throttling.reserve_sign_in(email):
            wait = throttling.sign_in_wait(email) or 1
            form.password.errors.append(
                f"Too many attempts; try again in {_minutes(wait)} or reset your password."
            )
            return render_template("accounts/login.html", form=form), 429
        user = accounts.authenticate(email, form.password.data or "")
        if user is not None:
            throttling.give_back_sign_in(email)
            _signed_in(user)
            return redirect(_next_url())
        form.password.errors.append("Email or password is wrong.")
    return render_template("accounts/login.html", form=form)


@bp.post("/logout")
def logout() -> Response:
    if ActionForm().validate_on_submit():
        if current_user.is_authenticated and current_user.sign_in_token:
            accounts.end_sign_in(current_user.sign_in_token)
            db.session.commit()
        logout_user()
    return redirect(url_for("shop.index"))


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password() -> str:
    """Ask for a reset link; the answer never says whether the email has an account."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        email = accounts.normal_email(form.email.data)
        accounts.request_password_reset(email)
        db.session.commit()
        return render_template("accounts/reset_sent.html", email=email)
    return render_template("accounts/forgot_password.html", form=form)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str) -> Response | str | tuple[str, int]:
    """Set a new password through the mailed link: every sign-in ends, then this browser
    is signed in afresh."""
    try:
        accounts.user_for_reset(token)
    except accounts.LinkRefused as refused:
        return render_template("accounts/link_refused.html", reason=refused.reason), 400
    form = ResetPasswordForm()
    if form.validate_on_submit():
        user = accounts.reset_password(token, form.password.data or "")
        db.session.commit()
        logout_user()
        _signed_in(user)
        flash("Your password is changed, and you're signed in.", "success")
        return redirect(url_for("accounts.account"), code=303)
    return render_template(
        "accounts/reset_password.html", form=form, min_password_length=accounts.MIN_PASSWORD_LENGTH
    )


def _back_to_security(form: FlaskForm | None = None) -> Response:
    """Back to the account page's sign-in section, with what was wrong in `form` said."""
    for errors in (form.errors if form is not None else {}).values():
        for error in errors:
            flash(str(error), "error")
    return redirect(url_for("accounts.account") + "#security", code=303)


@bp.post("/account/password")
@login_required
def change_password() -> Response:
    """Change the password (the current one required, counted as a guess at it, like a
    sign-in); other sign-ins end."""
    form = ChangePasswordForm()
    if not form.validate_on_submit():
        return _back_to_security(form)
    _password_guess(current_user.email)
    if not accounts.change_password(
        current_user, form.current_password.data or "", form.password.data or ""
    ):
        flash("Your current password is wrong. Nothing changed.", "error")
    else:
        throttling.give_back_sign_in(current_user.email)
        db.session.commit()
        flash("Your password is changed. You're signed out everywhere else.", "success")
    return _back_to_security()


@bp.post("/account/email")
@login_required
def change_email() -> Response:
    """Ask to move the account to another email (the current password required, counted
    as a guess at it): the answer is the same whether or not the address has an account;
    the mail to it says which (a link that moves the account, or a note)."""
    form = ChangeEmailForm()
    if not form.validate_on_submit():
        return _back_to_security(form)
    _password_guess(current_user.email)
    new_email = accounts.normal_email(form.email.data)
    if not accounts.request_email_change(current_user, form.email_password.data or "", new_email):
        flash("Your current password is wrong. Nothing changed.", "error")
    else:
        throttling.give_back_sign_in(current_user.email)
        db.session.commit()
        flash(f"We've sent a link to {new_email} to confirm the change.", "success")
    return _back_to_security()


@bp.route("/account/email/confirm/<token>", methods=["GET", "POST"])
@login_required
def confirm_email_change(token: str) -> Response | str | tuple[str, int]:
    """The link mailed to the new address: a button whose POST, from the account's own
    sign-in, moves the account there and tells the old address. :raise 404: another
    account's link."""
    form = ActionForm()
    try:
        new_email = accounts.email_change_for(current_user, token)
        if not form.validate_on_submit():
            return render_template(
                "accounts/confirm_email_change.html", form=form, new_email=new_email
            )
        accounts.confirm_email_change(current_user, token)
        db.session.commit()
    except accounts.NotYours:
        abort(404)
    except accounts.LinkRefused as refused:
        db.session.rollback()
        return render_template("accounts/link_refused.html", reason=refused.reason), 400
    flash(f"Your email is now {new_email}.", "success")
    return _back_to_security()


@bp.get("/account")
@login_required
def account() -> str:
    """The shopper's memberships, saved cards and orders — theirs only, the orders 20 a
    page, newest first (`?page=`), in the same few statements however many there are.

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
    history = accounts.order_history(current_user.id, request.args.get("page", 1, type=int))
    memberships = db.session.execute(
        db.select(Subscription).filter_by(user_id=current_user.id).order_by(Subscription.id.desc())
    ).scalars()
    return render_template(
        "accounts/account.html",
        history=history,
        memberships=list(memberships),
        cards=cards,
        form=ActionForm(),
        password_form=ChangePasswordForm(),
        email_form=ChangeEmailForm(),
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
