"""The hosted pages' forms: reading card and shipping fields, and protecting the POSTs.

The sandbox has no cookie session, so each form carries a token: an HMAC of what it
acts on (``checkout:cs_…``, ``portal:bps_…``) under the app's ``SECRET_KEY`` or,
without one, a random secret this process keeps. A page from another origin cannot
compute it, and the browser's ``Origin``/``Sec-Fetch-Site`` headers are checked as
well; the Stripe ids in the URLs are the bearer secrets, as on Stripe's own pages.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

from flask import abort, current_app, request
from werkzeug.datastructures import MultiDict

#: Where the per-process form secret is kept when the app has no ``SECRET_KEY``.
_FORM_KEY_SLOT = "sandbox.pages.form_secret"


def _secret() -> bytes:
    """This server's form secret: the app's ``SECRET_KEY`` or a random one per process."""
    configured = current_app.secret_key
    if configured:
        return configured.encode() if isinstance(configured, str) else configured
    secret = current_app.extensions.setdefault(_FORM_KEY_SLOT, secrets.token_bytes(32))
    assert isinstance(secret, bytes)
    return secret


def form_token(subject: str) -> str:
    """The token a form acting on ``subject`` (e.g. ``checkout:cs_…``) must carry."""
    return hmac.new(_secret(), subject.encode(), hashlib.sha256).hexdigest()


def check_post(subject: str) -> None:
    """Abort with 403 unless this POST comes from our own page for ``subject``."""
    origin = request.headers.get("Origin")
    if origin and origin != "null":
        parts = urlsplit(origin)
        if f"{parts.scheme}://{parts.netloc}" != request.host_url.rstrip("/"):
            abort(403, "Cross-origin form submission refused.")
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        abort(403, "Cross-site form submission refused.")
    sent = request.form.get("form_token", "")
    if not hmac.compare_digest(sent, form_token(subject)):
        abort(403, "This form has expired: reload the page and try again.")


@dataclass
class CardInput:
    """Card fields as typed, and the problems found in them (field name → message)."""

    number: str = ""
    exp_month: int = 0
    exp_year: int = 0
    cvc: str = ""
    name: str = ""
    errors: dict[str, str] = field(default_factory=dict)


def luhn_ok(digits: str) -> bool:
    """Whether a card number passes the Luhn checksum."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def parse_expiry(raw: str) -> tuple[int, int] | None:
    """``MM / YY`` (or ``MM/YYYY``) as ``(month, four-digit year)``; None if malformed."""
    compact = raw.replace(" ", "")
    month_text, slash, year_text = compact.partition("/")
    if not slash:
        # "1234" typed without the slash.
        month_text, year_text = compact[:2], compact[2:]
    if not (month_text.isdigit() and year_text.isdigit() and len(year_text) in (2, 4)):
        return None
    month, year = int(month_text), int(year_text)
    if not 1 <= month <= 12:
        return None
    return month, (2000 + year if year < 100 else year)


def read_card(form: MultiDict[str, str], now: datetime | None = None) -> CardInput:
    """Read and check the card fields the way Stripe's card form does before submitting."""
    card = CardInput(name=form.get("cardholder_name", "").strip())
    digits = "".join(ch for ch in form.get("card_number", "") if ch.isdigit())
    if len(digits) < 12:
        card.errors["card_number"] = "Your card number is incomplete."
    elif len(digits) > 19 or not luhn_ok(digits):
        card.errors["card_number"] = "Your card number is invalid."
    card.number = digits

    expiry = parse_expiry(form.get("card_expiry", ""))
    if expiry is None:
        card.errors["card_expiry"] = "Your card's expiration date is incomplete."
    else:
        card.exp_month, card.exp_year = expiry
        today = now or datetime.now(UTC)
        if (card.exp_year, card.exp_month) < (today.year, today.month):
            card.errors["card_expiry"] = "Your card's expiration date is in the past."

    card.cvc = form.get("card_cvc", "").strip()
    if not (card.cvc.isdigit() and 3 <= len(card.cvc) <= 4):
        card.errors["card_cvc"] = "Your card's security code is incomplete."
    if not card.name:
        card.errors["cardholder_name"] = "Enter the name on the card."
    return card


def read_email(form: MultiDict[str, str]) -> tuple[str, str | None]:
    """The email typed, and a problem with it if any."""
    email = form.get("email", "").strip()
    local, at, domain = email.partition("@")
    if not (local and at and "." in domain.strip(".")):
        return email, "Enter a valid email address."
    return email, None


@dataclass
class ShippingInput:
    """A shipping address as typed, and the problems found in it."""

    name: str
    line1: str
    city: str
    postal_code: str
    country: str
    errors: dict[str, str] = field(default_factory=dict)
    line2: str = ""
    state: str = ""


def read_shipping(form: MultiDict[str, str], allowed_countries: list[str]) -> ShippingInput:
    """Read the shipping fields; the country must be one the session allows."""
    shipping = ShippingInput(
        name=form.get("shipping_name", "").strip(),
        line1=form.get("shipping_line1", "").strip(),
        city=form.get("shipping_city", "").strip(),
        postal_code=form.get("shipping_postal_code", "").strip(),
        country=form.get("shipping_country", "").strip().upper(),
        line2=form.get("shipping_line2", "").strip(),
        state=form.get("shipping_state", "").strip(),
    )
    for key, label in (
        ("name", "Enter the name to ship to."),
        ("line1", "Enter the first line of the address."),
        ("city", "Enter the city."),
        ("postal_code", "Enter the postal code."),
    ):
        if not getattr(shipping, key):
            shipping.errors[f"shipping_{key}"] = label
    if shipping.country not in allowed_countries:
        shipping.errors["shipping_country"] = "Choose a country we ship to."
    return shipping
