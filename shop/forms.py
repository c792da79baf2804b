"""Forms (Flask-WTF): validation and a CSRF token on every one."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectChoice,
    StringField,
)
from wtforms.validators import DataRequired, Email, EqualTo, Length, NumberRange

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


class SubscribeForm(FlaskForm):
    interval = RadioField(
        "Billing",
        choices=[SelectChoice("month", "Monthly"), SelectChoice("year", "Yearly")],
        default="month",
    )


class RefundForm(FlaskForm):
    amount = StringField("Amount to refund (blank: everything left)")


class ActionForm(FlaskForm):
    """A button that posts: carries only the CSRF token."""
