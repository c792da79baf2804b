"""Forms (Flask-WTF): validation and a CSRF token on every one."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectChoice,
    StringField,
)
from wtforms.validators import DataRequired, Email, EqualTo, InputRequired, Length, NumberRange

from shop.checkout.orders import MAX_QUANTITY


class RegisterForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(min=8, max=128)])
    confirm = PasswordField(
        "Repeat password", validators=[DataRequired(), EqualTo("password", "Passwords differ.")]
    )


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Email()])
    password = PasswordField("Password", validators=[DataRequired()])


class BuyForm(FlaskForm):
    quantity = IntegerField(
        "Quantity", default=1, validators=[DataRequired(), NumberRange(1, MAX_QUANTITY)]
    )
    #: From the book page: "add" (Add to basket) or "buy" (Buy now: add, then the basket).
    action = HiddenField(default="add")


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
    amount = StringField("Amount to refund (blank: everything left)")
    restock = BooleanField("Put the copies back in stock")


class ActionForm(FlaskForm):
    """A button that posts: carries only the CSRF token."""
