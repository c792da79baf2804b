"""Shoppers and members made for a stress run: real orders, paid on the sandbox's page.

Orders are made by the shop's own domain functions (`shop.checkout`), in this process,
against the stack's database and the sandbox (not the delaying proxy: making them is not
what is measured); each is paid as a shopper pays, by posting the sandbox's hosted
Checkout form. Membership lifecycles then move on test clocks and through Stripe's API
(cancel at period end, resume, cancel now), as Stripe and a member would.
"""

from __future__ import annotations

import random
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests
import stripe
from flask import Flask
from sqlalchemy import insert, select

from config import Settings
from shop import create_app
from shop.catalogue_source import catalogue_of
from shop.checkout import memberships, orders, sessions
from shop.checkout.prices import PriceDirectory
from shop.extensions import db
from shop.models import Order, User
from shop.stripe_client import stripe_client

from .servers import API_KEY, Stack

CARD_OK = "4242424242424242"
#: Saved, then every later automatic charge fails: renewals go past due, then cancelled.
CARD_FAILS_LATER = "4000000000000341"
EBOOK = "salt-road-ebook"
PLANS = (("reader", "month"), ("reader", "year"), ("patron", "month"), ("patron", "year"))
_TOKEN = re.compile(r'name="form_token" value="([0-9a-f]+)"')


class ShopperError(RuntimeError):
    """Making or paying an order failed (the message says where)."""


def driver_app(stack: Stack) -> Flask:
    """The shop, in this process, on the stack's database, calling the sandbox directly."""
    env = {
        **stack.env,
        "QUIRE_ENV": "development",
        "STRIPE_API_BASE": stack.sandbox_url,
        "STRIPE_TEST_CLOCKS": "1",
    }
    config: dict[str, Any] = Settings.from_env(env).as_flask_config()
    config.update(LOG_LEVEL="WARNING", STRIPE_MAX_NETWORK_RETRIES=2)
    config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True, "pool_size": 10}
    return create_app(config)


def sdk(stack: Stack) -> stripe.StripeClient:
    return stripe.StripeClient(
        API_KEY, base_addresses={"api": stack.sandbox_url}, max_network_retries=2
    )


def add_users(app: Flask, prefix: str, count: int) -> list[int]:
    """`count` accounts (no password: nobody signs in as them)."""
    tag = secrets.token_hex(3)
    emails = [f"{prefix}-{tag}-{n}@stress.invalid" for n in range(count)]
    with app.app_context():
        db.session.execute(insert(User), [{"email": e, "password_hash": "!"} for e in emails])
        db.session.commit()
        ids = db.session.execute(select(User.id).where(User.email.in_(emails))).scalars().all()
        db.session.remove()
    return sorted(ids)


def _urls(app: Flask, order: Order) -> sessions.ReturnUrls:
    site = app.config["SITE_URL"]
    return sessions.ReturnUrls(
        success=f"{site}/orders/{order.id}/confirmation?session_id={sessions.SESSION_ID_PLACEHOLDER}",
        cancel=f"{site}/orders/{order.id}/cancelled",
    )


@dataclass(frozen=True)
class Opened:
    order_id: int
    session_id: str
    url: str
    email: str


def open_book_checkout(app: Flask, user_id: int) -> Opened:
    """A pending order of one ebook and its Checkout Session (the shop's own functions)."""
    with app.app_context():
        try:
            user = db.session.get(User, user_id)
            assert user is not None
            catalogue = catalogue_of(app)
            assert catalogue is not None
            order = orders.order_book(catalogue, user, EBOOK, 1)
            started = sessions.open_checkout(
                stripe_client(), PriceDirectory.of(app), order, _urls(app, order)
            )
            assert started.order.checkout_session_id is not None
            return Opened(order.id, started.order.checkout_session_id, started.url, user.email)
        finally:
            db.session.remove()


def open_membership_checkout(app: Flask, user_id: int, plan: str, interval: str) -> Opened:
    """A membership sign-up and its Checkout Session."""
    with app.app_context():
        try:
            user = db.session.get(User, user_id)
            assert user is not None
            catalogue = catalogue_of(app)
            assert catalogue is not None
            order = memberships.start_signup(stripe_client(), catalogue, user, plan, interval)
            started = sessions.open_checkout(
                stripe_client(), PriceDirectory.of(app), order, _urls(app, order)
            )
            assert started.order.checkout_session_id is not None
            return Opened(order.id, started.order.checkout_session_id, started.url, user.email)
        finally:
            db.session.remove()


def pay(opened: Opened, card: str = CARD_OK) -> None:
    """Fill in and send the sandbox's hosted Checkout form, as the shopper would."""
    page = requests.get(opened.url, timeout=30)
    found = _TOKEN.search(page.text)
    if page.status_code != 200 or found is None:
        raise ShopperError(f"{opened.session_id}: the payment page answered {page.status_code}")
    year = datetime.now(UTC).year + 3
    sent = requests.post(
        opened.url,
        data={
            "form_token": found.group(1),
            "email": opened.email,
            "payment_method": "card",
            "card_number": card,
            "card_expiry": f"12 / {year % 100:02d}",
            "card_cvc": "123",
            "cardholder_name": "Ada Reader",
        },
        allow_redirects=False,
        timeout=30,
    )
    if sent.status_code != 303:
        raise ShopperError(f"{opened.session_id}: paying answered {sent.status_code}")


def paid_book_orders(app: Flask, count: int, *, buyers: int = 40, threads: int = 6) -> list[Opened]:
    """`count` ebook orders, each paid on the sandbox's page (their webhooks not sent)."""
    user_ids = add_users(app, "reader", min(buyers, count))
    made: list[Opened] = []
    lock = threading.Lock()
    failures: list[str] = []

    def one(n: int) -> None:
        try:
            opened = open_book_checkout(app, user_ids[n % len(user_ids)])
            pay(opened)
        except Exception as error:  # reported; the case counts only orders made
            with lock:
                failures.append(f"{type(error).__name__}: {error}")
            return
        with lock:
            made.append(opened)

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(one, range(count)))
    if failures:
        raise ShopperError(f"{len(failures)} of {count} orders could not be made: {failures[0]}")
    return sorted(made, key=lambda o: o.order_id)


# --- membership lifecycles -------------------------------------------------------------


@dataclass
class Lifecycle:
    """One membership's life: its sign-up, then what Stripe and the member did."""

    number: int
    plan: str
    interval: str
    card: str
    order_id: int = 0
    customer_id: str = ""
    subscription_id: str = ""
    clock_id: str = ""
    steps: list[str] = field(default_factory=list)
    error: str | None = None


STEPS = ("renew", "renew", "retry", "cancel_at_period_end", "resume", "cancel")


def _period_end(sub: stripe.Subscription) -> int:
    ends = [item.current_period_end for item in sub["items"].data]
    return int(max([*ends, sub.trial_end or 0]))


def live_lifecycle(
    app: Flask, client: stripe.StripeClient, life: Lifecycle, rng: random.Random
) -> None:
    """Sign up, pay, then two to four random steps; stops once the membership has ended."""
    user_id = add_users(app, f"member{life.number}", 1)[0]
    opened = open_membership_checkout(app, user_id, life.plan, life.interval)
    life.order_id = opened.order_id
    pay(opened, life.card)
    session = client.v1.checkout.sessions.retrieve(opened.session_id)
    life.customer_id = str(session.customer)
    life.subscription_id = str(session.subscription)
    customer = client.v1.customers.retrieve(life.customer_id)
    life.clock_id = str(customer.test_clock)
    for _ in range(rng.randint(2, 4)):
        # A pause, so the events of one step are being applied (their retrieves slowed
        # by the proxy) while the next step changes the subscription again.
        time.sleep(rng.uniform(0.2, 1.5))
        sub = client.v1.subscriptions.retrieve(life.subscription_id)
        if sub.status in ("canceled", "incomplete_expired"):
            break
        step = rng.choice(STEPS)
        life.steps.append(step)
        if step in ("renew", "retry"):
            clock = client.v1.test_helpers.test_clocks.retrieve(life.clock_id)
            target = _period_end(sub) + 3600 if step == "renew" else clock.frozen_time + 4 * 86_400
            client.v1.test_helpers.test_clocks.advance(
                life.clock_id, params={"frozen_time": max(target, clock.frozen_time + 60)}
            )
        elif step == "cancel_at_period_end":
            client.v1.subscriptions.update(
                life.subscription_id, params={"cancel_at_period_end": True}
            )
        elif step == "resume":
            client.v1.subscriptions.update(
                life.subscription_id, params={"cancel_at_period_end": False}
            )
        else:
            client.v1.subscriptions.cancel(life.subscription_id)
