"""Stripe's test cards: what each number does when charged now and later."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Decline:
    """Why an issuer refused: Stripe's ``code``, ``decline_code`` and message."""

    code: str
    decline_code: str | None
    message: str


GENERIC = Decline("card_declined", "generic_decline", "Your card was declined.")
INSUFFICIENT = Decline("card_declined", "insufficient_funds", "Your card has insufficient funds.")
EXPIRED = Decline("expired_card", "expired_card", "Your card has expired.")
INCORRECT_NUMBER = Decline("incorrect_number", None, "Your card number is incorrect.")
INCORRECT_CVC = Decline("incorrect_cvc", None, "Your card's security code is incorrect.")
AUTHENTICATION_FAILED = Decline(
    "payment_intent_authentication_failure",
    None,
    "We are unable to authenticate your payment method. Please choose a different "
    "payment method and try again.",
)


@dataclass(frozen=True)
class CardBehaviour:
    """What a card number does.

    ``now``: the decline for an on-session payment (None = approved);
    ``authenticate``: the payment first needs 3-D Secure;
    ``after_authentication``: the decline once authenticated (None = approved);
    ``off_session``: the decline for later automatic charges (renewals);
    ``dispute``: every successful charge is then disputed, for this reason.
    """

    now: Decline | None = None
    authenticate: bool = False
    after_authentication: Decline | None = None
    off_session: Decline | None = None
    dispute: str | None = None


BEHAVIOURS: dict[str, CardBehaviour] = {
    "4000000000000002": CardBehaviour(now=GENERIC),
    "4000000000009995": CardBehaviour(now=INSUFFICIENT),
    "4000000000000069": CardBehaviour(now=EXPIRED),
    "4000000000000127": CardBehaviour(now=INCORRECT_CVC),
    "4000000000000341": CardBehaviour(off_session=GENERIC),
    "4000000000000259": CardBehaviour(dispute="fraudulent"),
    "4000002500003155": CardBehaviour(authenticate=True),
    "4000008260003178": CardBehaviour(authenticate=True, after_authentication=INSUFFICIENT),
}

#: ``pm_card_*`` shortcuts Stripe accepts wherever a PaymentMethod id is expected.
SHORTCUTS = {
    "pm_card_visa": "4242424242424242",
    "pm_card_mastercard": "5555555555554444",
    "pm_card_chargeCustomerFail": "4000000000000341",
    "pm_card_threeDSecure2Required": "4000002500003155",
    "pm_card_visa_chargeDeclined": "4000000000000002",
}


def luhn_ok(number: str) -> bool:
    """Whether ``number`` passes the Luhn checksum."""
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char)
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def brand(number: str) -> str:
    """The card network of a number (visa, mastercard, amex, discover, unknown)."""
    if number.startswith("4"):
        return "visa"
    if number[:2] in ("34", "37"):
        return "amex"
    if number[:2] in ("51", "52", "53", "54", "55") or number[:1] == "2":
        return "mastercard"
    if number.startswith("6"):
        return "discover"
    return "unknown"


def behaviour(number: str, exp_month: int, exp_year: int, today: tuple[int, int]) -> CardBehaviour:
    """What charging this card does; ``today`` is ``(year, month)`` at the payment's clock."""
    digits = "".join(ch for ch in number if ch.isdigit())
    if not luhn_ok(digits):
        return CardBehaviour(now=INCORRECT_NUMBER, off_session=INCORRECT_NUMBER)
    if exp_year < 100:
        exp_year += 2000
    if not 1 <= exp_month <= 12 or (exp_year, exp_month) < today:
        return CardBehaviour(now=EXPIRED, off_session=EXPIRED)
    return BEHAVIOURS.get(digits, CardBehaviour())
