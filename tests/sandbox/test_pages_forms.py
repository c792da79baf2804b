"""What the hosted pages show and accept, checked without a server."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from stripe_sandbox.pages.display import money, price_label, short_id, utc_time
from stripe_sandbox.pages.forms import parse_expiry, read_card
from werkzeug.datastructures import MultiDict

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (900, "gbp", "£9.00"),
        (123456, "usd", "$1,234.56"),
        (500, "jpy", "¥500"),
        (1005, "kwd", "1.005 KWD"),
        (-250, "eur", "-€2.50"),
        (None, "gbp", "—"),
    ],
)
def test_money_reads_minor_units_per_currency(
    amount: int | None, currency: str, shown: str
) -> None:
    """Amounts are integer minor units; the currency decides the decimal places."""
    assert money(amount, currency) == shown


def test_price_label_names_the_interval() -> None:
    """Recurring prices read `£9.00/month`, multi-interval ones `every 3 months`."""
    monthly = {
        "unit_amount": 900,
        "currency": "gbp",
        "recurring": {"interval": "month", "interval_count": 1},
    }
    quarterly = {
        "unit_amount": 2500,
        "currency": "gbp",
        "recurring": {"interval": "month", "interval_count": 3},
    }
    assert price_label(monthly) == "£9.00/month"
    assert price_label(quarterly) == "£25.00 every 3 months"
    assert price_label({"unit_amount": 1299, "currency": "gbp", "recurring": None}) == "£12.99"


def test_long_ids_are_shortened_in_the_middle() -> None:
    """Checkout Session ids (66 characters) fit a table cell; short ids are left alone."""
    session_id = "cs_test_" + "a" * 52 + "Zz9Yy8"
    assert short_id(session_id) == "cs_test_aaaaaaaaaa…Zz9Yy8"
    assert short_id("prod_NEhGdBpRpnhiQS") == "prod_NEhGdBpRpnhiQS"


def test_times_are_shown_in_utc() -> None:
    """A Unix time shows as UTC whatever the machine's zone."""
    assert utc_time(0) == "01 Jan 1970, 00:00:00 UTC"


@pytest.mark.parametrize(
    ("typed", "parsed"),
    [
        ("12 / 34", (12, 2034)),
        ("01/29", (1, 2029)),
        ("0730", (7, 2030)),
        ("12/2031", (12, 2031)),
        ("13 / 30", None),
        ("1", None),
        ("", None),
    ],
)
def test_expiry_accepts_what_people_type(typed: str, parsed: tuple[int, int] | None) -> None:
    """`MM / YY` with or without spaces and slash; impossible months are refused."""
    assert parse_expiry(typed) == parsed


def card_form(**fields: str) -> MultiDict[str, str]:
    values = {
        "card_number": "4242 4242 4242 4242",
        "card_expiry": "12 / 34",
        "card_cvc": "123",
        "cardholder_name": "Ada Lovelace",
    }
    values.update(fields)
    return MultiDict(values)


def test_a_good_card_reads_cleanly() -> None:
    """Spaces are dropped from the number; a two-digit year becomes 20YY."""
    card = read_card(card_form(), now=NOW)
    assert card.errors == {}
    assert (card.number, card.exp_month, card.exp_year, card.cvc, card.name) == (
        "4242424242424242",
        12,
        2034,
        "123",
        "Ada Lovelace",
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("card_number", "4242 4242", "Your card number is incomplete."),
        ("card_number", "4242 4242 4242 4241", "Your card number is invalid."),
        ("card_expiry", "10 / 26", "Your card's expiration date is in the past."),
        ("card_expiry", "", "Your card's expiration date is incomplete."),
        ("card_cvc", "12", "Your card's security code is incomplete."),
        ("cardholder_name", " ", "Enter the name on the card."),
    ],
)
def test_card_problems_are_named_per_field(field: str, value: str, message: str) -> None:
    """Each malformed field gets Stripe's wording, and the others stay valid."""
    card = read_card(card_form(**{field: value}), now=NOW)
    assert card.errors == {field: message}
