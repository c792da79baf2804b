"""Every page of the shop, with realistic data behind it, for the layout and link tests.

`seed_shop(live_shop)` fills a served shop with what makes pages wide: a book with a long
title, a shopper with a long email address and many orders (paid through the sandbox,
pending, refunded), a cancelling membership and an admin. `PAGES` lists every page by who
sees it; add a page here and both the phone-width test and the link crawl visit it.
`ANSWER_PAGES` are the pages that only answer a POST (Stripe unreachable): the phone-width
test renders them from their templates.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from stripe_sandbox.flows import engine

from shop import accounts
from shop.extensions import db
from shop.models import (
    CartLine,
    Order,
    OrderItem,
    OrderStatus,
    ProcessedEvent,
    Subscription,
    User,
)
from tests import helpers
from tests.integration.live_shop import LiveShop

LONG_BOOK = "long-title"
LONG_TITLE = (
    "The Extraordinarily Long and Occasionally Unpunctuated Chronicle of the "
    "Harbour-Masters' Guild of Lesser Wrottesley-under-Lyme, 1783–1914"
)
SHOPPER = "antonia.wilhelmina.featherstonehaugh-cholmondeley@independent-booksellers.example.co.uk"
ADMIN = "owner.of.the.bookshop.with.a.long.address@quire-publishing.example.org"
NEWCOMER = "bartholomew.alexander.montgomery-fotheringham@small-press-readers.example.co.uk"
MOVED = "antonia.featherstonehaugh-cholmondeley.new-address@independent-readers.example.org"
#: Enough orders for the history to be long.
MANY = 24


class Who(enum.StrEnum):
    """Who looks at a page."""

    GUEST = "guest"
    SHOPPER = "shopper"
    ADMIN = "admin"


@dataclass(frozen=True)
class ShopPage:
    """A page: its name (for screenshots), its path (formatted with `Seeded.ids`), who
    looks at it and the status it answers with."""

    name: str
    path: str
    who: Who
    status: int = 200


PAGES: tuple[ShopPage, ...] = (
    ShopPage("catalogue", "/", Who.GUEST),
    ShopPage("book-long-title", f"/books/{LONG_BOOK}", Who.GUEST),
    ShopPage("book-print", "/books/the-salt-road", Who.GUEST),
    ShopPage("plan", "/memberships/reader", Who.GUEST),
    ShopPage("sign-in", "/login", Who.GUEST),
    ShopPage("register", "/register", Who.GUEST),
    ShopPage("forgot-password", "/password/forgot", Who.GUEST),
    ShopPage("link-refused", "/password/reset/not-a-signed-link", Who.GUEST, status=400),
    ShopPage("confirm-sign-up", "{confirm_sign_up}", Who.GUEST),
    ShopPage("not-found", "/no-such-page", Who.GUEST, status=404),
    ShopPage("basket-empty", "/cart", Who.GUEST),
    ShopPage("catalogue-signed-in", "/", Who.SHOPPER),
    ShopPage("account", "/account", Who.SHOPPER),
    ShopPage("confirm-email-change", "{confirm_email_change}", Who.SHOPPER),
    ShopPage("basket", "/cart", Who.SHOPPER),
    ShopPage("library", "/library", Who.SHOPPER),
    ShopPage("order-paid", "/orders/{paid}", Who.SHOPPER),
    ShopPage("order-pending", "/orders/{pending}", Who.SHOPPER),
    ShopPage("order-cancelled", "/orders/{pending}/cancelled", Who.SHOPPER),
    ShopPage("confirmation", "/orders/{paid}/confirmation?session_id={paid_session}", Who.SHOPPER),
    ShopPage("plan-member", "/memberships/reader", Who.SHOPPER),
    ShopPage("plan-other", "/memberships/patron", Who.SHOPPER),
    ShopPage("switch", "/memberships/patron/switch?interval=year", Who.SHOPPER),
    ShopPage("admin-dashboard", "/admin/", Who.ADMIN),
    ShopPage("admin-order", "/admin/orders/{paid}", Who.ADMIN),
    ShopPage("admin-to-ship", "/admin/to-ship", Who.ADMIN),
    ShopPage("admin-order-refunded", "/admin/orders/{refunded}", Who.ADMIN),
    ShopPage("admin-events", "/admin/events", Who.ADMIN),
    ShopPage("admin-event-failed", "/admin/events/{failed_event}", Who.ADMIN),
    ShopPage("admin-orders", "/admin/orders?abandoned=1", Who.ADMIN),
    ShopPage("admin-members", "/admin/members", Who.ADMIN),
    ShopPage("admin-member", "/admin/members/{member}", Who.ADMIN),
    ShopPage("admin-customers", "/admin/customers", Who.ADMIN),
    ShopPage("admin-customer", "/admin/customers/{shopper}", Who.ADMIN),
)


@dataclass(frozen=True)
class AnswerPage:
    """A page that only answers a POST (Stripe down, say): rendered from its template
    for the shopper, with `order` (an id key of `Seeded.ids`) when it shows one."""

    name: str
    template: str
    order: str | None = None


ANSWER_PAGES: tuple[AnswerPage, ...] = (
    AnswerPage("payments-unavailable", "checkout/unavailable.html", order="pending"),
    AnswerPage("billing-unavailable", "errors/payments_down.html"),
)


@dataclass(frozen=True)
class Seeded:
    """What `seed_shop` made: ids to fill page paths with."""

    ids: dict[str, Any]

    def path(self, page: ShopPage) -> str:
        return page.path.format(**self.ids)


def long_catalogue(directory: Path) -> Path:
    """The test catalogue plus a printed book whose title and author are very long."""
    catalogue = yaml.safe_load(helpers.TEST_CATALOGUE.read_text())
    catalogue["books"].append(
        {
            "key": LONG_BOOK,
            "title": LONG_TITLE,
            "author": "Professor Dame Henrietta Augusta Montgomery-Fothergill-Smythe",
            "description": "A history of everything that ever happened in one small harbour "
            + "and-also-a-very-long-unbroken-word-that-a-phone-must-wrap-somewhere-" * 2,
            "price": 4999,
            "format": "print",
            "stock": 3,
        }
    )
    path = directory / "long-catalogue.yaml"
    path.write_text(yaml.safe_dump(catalogue, sort_keys=False, allow_unicode=True))
    return path


def _paid_session(live: LiveShop, order_id: int) -> str:
    """A Checkout Session for the order, paid in the sandbox; its id."""
    client = live.stripe_client
    price = client.v1.prices.list(params={"lookup_keys": [f"book:{LONG_BOOK}"]}).data[0]
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "line_items": [{"price": price.id, "quantity": 2}],
            "success_url": f"{live.url}/orders/{order_id}/confirmation",
            "cancel_url": f"{live.url}/orders/{order_id}/cancelled",
            "client_reference_id": Order.reference_for(order_id),
            "customer_email": SHOPPER,
            "shipping_address_collection": {"allowed_countries": ["GB"]},
        }
    )
    details = engine.PaymentDetails(
        email=SHOPPER,
        card_number="4242424242424242",
        exp_month=12,
        exp_year=datetime.now(UTC).year + 3,
        cvc="123",
        cardholder_name="Antonia Featherstonehaugh-Cholmondeley",
        shipping={
            "name": "Antonia Wilhelmina Featherstonehaugh-Cholmondeley",
            "line1": "Flat 14b, The Old Rope Works, 117–121 Long Causeway Lane",
            "city": "Wrottesley-under-Lyme",
            "postal_code": "WL12 9QZ",
            "country": "GB",
        },
    )
    assert engine.pay_checkout_session(live.sandbox.state, session.id, details).status == (
        "succeeded"
    )
    return session.id


def _order(user: User, status: OrderStatus, quantity: int, **fields: Any) -> Order:
    order = Order(
        user=user,
        kind="book",
        currency="gbp",
        amount_total=4999 * quantity,
        status=status,
        ships=True,
        **fields,
    )
    order.items.append(
        OrderItem(
            item_key=LONG_BOOK,
            lookup_key=f"book:{LONG_BOOK}",
            description=f"{LONG_TITLE} — Professor Dame Henrietta Montgomery-Fothergill-Smythe",
            unit_amount=4999,
            quantity=quantity,
        )
    )
    db.session.add(order)
    return order


def _failed_event(order: Order) -> str:
    """A failed `checkout.session.completed` about `order`, with a long error and body."""
    event_id = "evt_1QwErTyUiOpAsDfGhJkLzXcVbNm0123456789"
    body = {
        "id": event_id,
        "object": "event",
        "type": "checkout.session.completed",
        "data": {
            "object": {
                "id": order.checkout_session_id,
                "object": "checkout.session",
                "client_reference_id": f"order-{order.id}",
                "customer_details": {"email": SHOPPER, "name": LONG_TITLE},
            }
        },
    }
    now = datetime.now(UTC)
    db.session.add(
        ProcessedEvent(
            id=event_id,
            type="checkout.session.completed",
            outcome="failed",
            stripe_created=now,
            received_at=now,
            raw_json=json.dumps(body),
            object_id=order.checkout_session_id,
            attempts=3,
            last_error="StripeFailure: APIConnectionError status=None code=None "
            "request_id=req_0123456789abcdefghijklmnop message=Unexpected error communicating "
            "with Stripe; please check your internet connection and try again",
            last_attempt_at=now,
        )
    )
    return event_id


def seed_shop(live: LiveShop) -> Seeded:
    """Accounts, orders and a membership for every page in `PAGES` to show."""
    helpers.add_user(live.app, SHOPPER)
    helpers.add_user(live.app, ADMIN, admin=True)

    def make() -> dict[str, Any]:
        user = db.session.execute(db.select(User).filter_by(email=SHOPPER)).scalar_one()
        for number in range(MANY):
            _order(user, OrderStatus.EXPIRED if number % 3 else OrderStatus.PAID, 1 + number % 4)
        refunded = _order(
            user,
            OrderStatus.PARTIALLY_REFUNDED,
            2,
            amount_paid=9998,
            amount_refunded=2500,
            payment_intent_id="pi_3QwErTyUiOpAsDfGhJkLzXcV0123456789",
            checkout_session_id="cs_test_a1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuVwXyZ0123456789abcdefghij",
            stripe_customer_id="cus_QwErTyUiOpAsDf",
            last_error="InvalidRequestError status=400 code=resource_missing "
            "request_id=req_0123456789abcdef message=No such checkout.session",
        )
        pending = _order(user, OrderStatus.PENDING, 1)
        paid = _order(user, OrderStatus.PENDING, 2)
        membership = Subscription(
            stripe_subscription_id="sub_1QwErTyUiOpAsDfGhJkLzXcV",
            user_id=user.id,
            stripe_customer_id="cus_QwErTyUiOpAsDf",
            plan_key="reader",
            interval="month",
            status="active",
            cancel_at_period_end=True,
            current_period_end=datetime.now(UTC) + timedelta(days=20),
        )
        db.session.add(membership)
        for key, quantity in ((LONG_BOOK, 2), ("the-salt-road", 10), ("salt-road-ebook", 1)):
            db.session.add(CartLine(user_id=user.id, book_key=key, quantity=quantity))
        accounts.request_sign_up(NEWCOMER, helpers.PASSWORD)
        accounts.request_email_change(user, helpers.PASSWORD, MOVED)
        failed_event = _failed_event(refunded)
        db.session.commit()
        return {
            "pending": pending.id,
            "paid": paid.id,
            "refunded": refunded.id,
            "failed_event": failed_event,
            "member": membership.id,
            "shopper": user.id,
        }

    ids = live.read(make)
    for name, to, kind, prefix in (
        ("confirm_sign_up", NEWCOMER, "confirm_signup", "/register/confirm/"),
        ("confirm_email_change", MOVED, "confirm_email_change", "/account/email/confirm/"),
    ):
        ids[name] = helpers.link_in(helpers.mails_to(live.app, to, kind)[0], prefix)
    ids["paid_session"] = _paid_session(live, ids["paid"])
    return Seeded(ids)
