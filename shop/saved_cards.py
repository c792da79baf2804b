"""Cards a shopper saved with Stripe: offered again at Checkout, listed and removed from
the account page.

Quire stores nothing about cards. The list is read from Stripe each time it is shown,
and a removal is checked against the customer's own list read afresh, so an id sent by
a browser can never detach somebody else's card.
"""

from __future__ import annotations

from dataclasses import dataclass

import stripe
from stripe.params.checkout import SessionCreateParams

from shop import stripe_api
from shop.models import User

#: Card networks as people write them (Stripe's `card.brand` values).
BRANDS = {
    "amex": "American Express",
    "cartes_bancaires": "Cartes Bancaires",
    "diners": "Diners Club",
    "discover": "Discover",
    "eftpos_au": "eftpos",
    "interac": "Interac",
    "jcb": "JCB",
    "link": "Link",
    "mastercard": "Mastercard",
    "unionpay": "UnionPay",
    "visa": "Visa",
}


class CardNotFound(LookupError):
    """No card with that id is saved on the shopper's customer."""


@dataclass(frozen=True)
class SavedCard:
    """What the shopper is shown of one saved card (never the number, only its end)."""

    id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int

    @property
    def expiry(self) -> str:
        """`08/30`, as printed on the card."""
        return f"{self.exp_month:02d}/{self.exp_year % 100:02d}"

    @property
    def name(self) -> str:
        """`Visa ending 4242`."""
        return f"{self.brand} ending {self.last4}"


def checkout_options(customer_id: str | None) -> SessionCreateParams:
    """What a Checkout Session needs so a known customer may save the card and sees the
    cards saved before.

    Stripe accepts `saved_payment_method_options` in payment and subscription mode, and
    saving needs the session's `customer`; with no customer this asks for nothing. Cards
    saved by ticking Checkout's box get `allow_redisplay: always`, the ones shown again.
    """
    if not customer_id:
        return {}
    return {
        "saved_payment_method_options": {
            "payment_method_save": "enabled",
            "allow_redisplay_filters": ["always"],
        }
    }


def customer_id_of(user: User) -> str | None:
    """The user's Stripe customer, if they ever started a checkout."""
    return user.customer.stripe_customer_id if user.customer else None


def _card(method: stripe.PaymentMethod) -> SavedCard | None:
    card = method.card
    if card is None:
        return None
    return SavedCard(
        id=method.id,
        brand=BRANDS.get(card.brand, card.brand.replace("_", " ").title()),
        last4=card.last4,
        exp_month=card.exp_month,
        exp_year=card.exp_year,
    )


def saved_cards(client: stripe.StripeClient, customer_id: str | None) -> list[SavedCard]:
    """The customer's saved cards as Stripe has them now (none without a customer).

    :raise StripeFailure: when Stripe cannot be asked.
    """
    if customer_id is None:
        return []
    cards = (_card(method) for method in stripe_api.customer_cards(client, customer_id))
    return [card for card in cards if card is not None]


def remove_card(client: stripe.StripeClient, customer_id: str | None, card_id: str) -> SavedCard:
    """Detach one of the customer's own saved cards; the card that was removed.

    :raise CardNotFound: when `card_id` is not among the customer's cards right now.
    :raise StripeFailure: when Stripe cannot be asked.
    """
    card = next((c for c in saved_cards(client, customer_id) if c.id == card_id), None)
    if card is None:
        raise CardNotFound(card_id)
    stripe_api.detach_payment_method(client, card.id)
    return card
