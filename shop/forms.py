"""Forms (Flask-WTF): validation and a CSRF token on every one."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
)
from wtforms.validators import (
    DataRequired,
    Email,
    EqualTo,
    InputRequired,
    Length,
    NumberRange,
    Optional,
)

from shop.accounts import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from shop.catalogue_source import catalogue_of
from shop.checkout.orders import MAX_QUANTITY
from shop.countries import country_name

#: The destination offered first, when the catalogue posts there.
HOME_COUNTRY = "GB"


def posting_countries() -> list[tuple[str, str]]:
    """(code, name) of every country the running app's catalogue posts to, by name."""
    catalogue = catalogue_of(current_app._get_current_object())  # type: ignore[attr-defined]
    if catalogue is None or catalogue.shipping is None:
        return []
    return sorted(
        ((code, country_name(code)) for code in catalogue.shipping.countries),
        key=lambda choice: choice[1],
    )


class DeliverToField(SelectField):
    """ "Deliver to": a country printed books are posted to, chosen before paying.

    Its choices are the catalogue's shipping countries. Left out (an ebook), it is
    empty and valid; whether a destination is needed is the order's business
    (`order_book` refuses a printed book without one).
    """

    def __init__(self, label: str = "Deliver to", **kwargs: Any) -> None:
        kwargs.setdefault("choices", posting_countries)
        kwargs.setdefault("default", HOME_COUNTRY)
        super().__init__(label, **kwargs)

    def pre_validate(self, form: Any) -> None:
        if self.data:
            super().pre_validate(form)

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.data = str(valuelist[0]).strip().upper() if valuelist and valuelist[0] else None


def _new_password(label: str = "Password") -> PasswordField:
    """A new password: the same rule at sign-up, reset and change."""
    return PasswordField(
        label, validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=MAX_PASSWORD_LENGTH)]
    )


def _repeat(field: str = "password") -> PasswordField:
    return PasswordField(
        "Repeat password", validators=[DataRequired(), EqualTo(field, "Passwords differ.")]
    )


class RegisterForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=254)])
    password = _new_password()
    confirm = _repeat()


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Email()])
    password = PasswordField("Password", validators=[DataRequired()])


class ForgotPasswordForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=254)])


class ResetPasswordForm(FlaskForm):
    password = _new_password("New password")
    confirm = _repeat()


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[DataRequired()])
    password = _new_password("New password")
    confirm = _repeat()


class ChangeEmailForm(FlaskForm):
    email = EmailField("New email", validators=[DataRequired(), Email(), Length(max=254)])
    email_password = PasswordField("Your password", validators=[DataRequired()])


class BuyForm(FlaskForm):
    quantity = IntegerField(
        "Quantity", default=1, validators=[DataRequired(), NumberRange(1, MAX_QUANTITY)]
    )
    ship_to = DeliverToField()
    #: From the book page: "add" (Add to basket) or "buy" (Buy now: add, then the basket).
    action = HiddenField(default="add")


class CheckoutForm(FlaskForm):
    """The basket's Checkout button, with where its printed books are posted."""

    ship_to = DeliverToField()


class QuantityForm(FlaskForm):
    """A basket line's new quantity (0 takes it out)."""

    quantity = IntegerField("Quantity", validators=[InputRequired(), NumberRange(0, MAX_QUANTITY)])


class SubscribeForm(FlaskForm):
    interval = RadioField(
        "Billing",
        choices=[SelectChoice("month", "Monthly"), SelectChoice("year", "Yearly")],
        default="month",
    )


class RefundForm(FlaskForm):
    amount = StringField("Amount to refund")
    #: The "Refund everything left (£x.xx)" button: a blank amount alone refunds nothing.
    everything = BooleanField()
    restock = BooleanField("Put the copies back in stock")
    #: One-time token made with the page (`refunds.form_token`): one form, one refund.
    token = HiddenField(validators=[DataRequired()])


class ShipForm(FlaskForm):
    """Mark an order shipped, with its tracking reference if the carrier gave one."""

    tracking_reference = StringField(
        "Tracking reference (optional)", validators=[Optional(), Length(max=255)]
    )
    #: Which page to go back to: the "to ship" queue or the order's own page.
    back = HiddenField(default="queue")


class ActionForm(FlaskForm):
    """A button that posts: carries only the CSRF token."""
