"""One membership at a time, against the sandbox: racing Subscribe presses open one
Checkout Session, another plan switches the membership instead of stacking a second one,
and an unpaid sign-up gives way to a new choice.

Run on SQLite, and on PostgreSQL when TEST_DATABASE_URL names one (as CI does).
"""

from __future__ import annotations

import threading

import pytest
from flask.testing import FlaskClient
from stripe_sandbox.flows import engine

from shop.extensions import db
from shop.models import Order, Subscription
from tests import helpers
from tests.integration.live_shop import LiveShop, paying_card

pytestmark = pytest.mark.sandbox

PRESSES = 5


def session_id_of(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def shopper_tabs(live_shop: LiveShop, count: int) -> list[FlaskClient]:
    """`count` browser tabs (clients) signed in to one account."""
    helpers.add_user(live_shop.app)
    tabs = [live_shop.app.test_client() for _ in range(count)]
    for tab in tabs:
        helpers.sign_in(tab)
    return tabs


def press_at_once(
    tabs: list[FlaskClient], path: str, data: dict[str, str]
) -> list[tuple[int, str]]:
    """Every tab posts `data` to `path` at the same moment; their (status, Location)."""
    start = threading.Barrier(len(tabs))
    answers: list[tuple[int, str]] = []
    lock = threading.Lock()

    def press(tab: FlaskClient) -> None:
        start.wait()
        response = tab.post(path, data=data)
        with lock:
            answers.append((response.status_code, response.location or ""))

    threads = [threading.Thread(target=press, args=(tab,)) for tab in tabs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(answers) == len(tabs), "a press did not finish"
    return answers


def membership_sessions(live_shop: LiveShop) -> list[str]:
    listing = live_shop.stripe_client.v1.checkout.sessions.list(params={"limit": 100})
    return [s.id for s in listing.auto_paging_iter() if s.mode == "subscription"]


def stripe_subscriptions(live_shop: LiveShop) -> list[str]:
    listing = live_shop.stripe_client.v1.subscriptions.list(params={"status": "all"})
    return [s.id for s in listing.auto_paging_iter()]


def become_member(live_shop: LiveShop, tab: FlaskClient, plan: str, interval: str) -> Subscription:
    start = tab.post(f"/checkout/memberships/{plan}", data={"interval": interval})
    assert start.status_code == 303
    paid = engine.pay_checkout_session(
        live_shop.sandbox.state, session_id_of(start.location), paying_card()
    )
    assert paid.status == "succeeded"
    member = live_shop.wait_for(
        lambda: db.session.execute(
            db.select(Subscription).filter_by(plan_key=plan, interval=interval)
        ).scalar_one_or_none()
    )
    assert member is not None
    return member


def test_five_subscribe_presses_at_once_open_one_checkout_and_one_membership(
    live_shop: LiveShop,
) -> None:
    tabs = shopper_tabs(live_shop, PRESSES)

    answers = press_at_once(tabs, "/checkout/memberships/patron", {"interval": "month"})

    assert {status for status, _ in answers} == {303}
    assert len({location for _, location in answers}) == 1, "presses ended on different pages"
    assert len(membership_sessions(live_shop)) == 1
    pending = live_shop.read(
        lambda: db.session.execute(db.select(db.func.count(Order.id))).scalar_one()
    )
    assert pending == 1

    session_id = session_id_of(answers[0][1])
    paid = engine.pay_checkout_session(live_shop.sandbox.state, session_id, paying_card())
    assert paid.status == "succeeded"
    assert live_shop.wait_for(
        lambda: db.session.execute(db.select(Subscription).filter_by(status="active")).first()
    )
    # Pressing again, now a member, leads to the switch page, never to a second checkout.
    again = press_at_once(tabs, "/checkout/memberships/patron", {"interval": "year"})
    assert {location for _, location in again} == {"/memberships/patron/switch?interval=year"}
    assert len(stripe_subscriptions(live_shop)) == 1
    assert len(membership_sessions(live_shop)) == 1


def test_a_member_switches_plan_and_interval_with_prorations(live_shop: LiveShop) -> None:
    (tab,) = shopper_tabs(live_shop, 1)
    before = become_member(live_shop, tab, "patron", "month")

    assert "Your plan" in tab.get("/memberships/patron").text
    offer = tab.get("/memberships/reader").text
    assert "Switch to this plan" in offer and "Your plan" not in offer

    chosen = tab.post("/checkout/memberships/reader", data={"interval": "year"})
    assert chosen.status_code == 303
    confirm = tab.get(chosen.location).text
    assert "Your plan now" in confirm and "Patron, billed monthly" in confirm
    assert "Reader, £90.00 a year" in confirm
    assert "credited" in confirm

    done = tab.post(chosen.location)
    assert done.status_code == 303 and done.location == "/account"
    assert "Your membership is now Reader, billed every year." in tab.get("/account").text

    sub = live_shop.stripe_client.v1.subscriptions.retrieve(before.stripe_subscription_id)
    assert sub.items.data[0].price.lookup_key == "plan:reader:year"
    assert len(sub.items.data) == 1
    prorations = live_shop.stripe_client.v1.invoice_items.list(
        params={"customer": str(sub.customer)}
    )
    assert any(item.proration for item in prorations.data)
    after = live_shop.read(lambda: db.session.execute(db.select(Subscription)).scalars().all())
    assert [(s.plan_key, s.interval) for s in after] == [("reader", "year")]
    assert stripe_subscriptions(live_shop) == [before.stripe_subscription_id]
    assert "Your plan" in tab.get("/memberships/reader").text


def test_a_cancelling_membership_is_resumed_by_a_switch(live_shop: LiveShop) -> None:
    (tab,) = shopper_tabs(live_shop, 1)
    member = become_member(live_shop, tab, "patron", "month")
    live_shop.stripe_client.v1.subscriptions.update(
        member.stripe_subscription_id, params={"cancel_at_period_end": True}
    )
    assert live_shop.wait_for(
        lambda: db.session.execute(
            db.select(Subscription).filter_by(cancel_at_period_end=True)
        ).first()
    )
    # The same plan and interval is offered again: choosing it keeps the membership going.
    assert "Switch to this plan" in tab.get("/memberships/patron").text
    confirm = tab.get("/memberships/patron/switch?interval=year").text
    assert "Switching keeps it going" in confirm

    assert tab.post("/memberships/patron/switch?interval=year").status_code == 303

    sub = live_shop.stripe_client.v1.subscriptions.retrieve(member.stripe_subscription_id)
    assert sub.cancel_at_period_end is False
    assert sub.items.data[0].price.lookup_key == "plan:patron:year"
    row = live_shop.read(lambda: db.session.execute(db.select(Subscription)).scalar_one())
    assert (row.cancel_at_period_end, row.interval) == (False, "year")


def test_another_plan_replaces_an_unpaid_signup(live_shop: LiveShop) -> None:
    (tab,) = shopper_tabs(live_shop, 1)
    first = tab.post("/checkout/memberships/reader", data={"interval": "month"})
    second = tab.post("/checkout/memberships/patron", data={"interval": "year"})

    assert first.status_code == second.status_code == 303
    old, new = session_id_of(first.location), session_id_of(second.location)
    assert old != new
    assert live_shop.stripe_client.v1.checkout.sessions.retrieve(old).status == "expired"
    assert live_shop.stripe_client.v1.checkout.sessions.retrieve(new).status == "open"
    statuses = live_shop.read(
        lambda: [
            (o.plan_key, o.status)
            for o in db.session.execute(db.select(Order).order_by(Order.id)).scalars()
        ]
    )
    assert statuses == [("reader", "expired"), ("patron", "pending")]
