"""Mail that tells shoppers what happened: a receipt, shipped, trial ending, payment
failed, membership ended, refund issued — each as the shopper reads it, each sent once
per happening however often (or however concurrently) Stripe tells Quire, and only
after what it reports has committed.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient

from shop import fulfilment, mail, notices
from shop.extensions import db
from shop.models import Customer, Mail, MailStatus, Order, OrderItem, OrderStatus, User
from tests import builders
from tests.helpers import add_user, mails_to, sign_in
from tests.stripe_fakes import API, event, example, listing

READER = "reader@example.com"
DAY = 86400


def _date(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%-d %b %Y")


def printed_and_ebook_order(app: Flask) -> int:
    """2 × The Salt Road in print and its ebook, a member's 10% off the print, to post."""
    order_id = builders.add_order(app)
    with app.app_context():
        order = db.session.get(Order, order_id)
        order.items[0].quantity = 2
        order.items.append(
            OrderItem(
                item_key="salt-road-ebook",
                lookup_key="book:salt-road-ebook",
                description="The Salt Road (ebook) — Maren Holt",
                unit_amount=699,
                quantity=1,
            )
        )
        order.amount_total, order.amount_discount = 2598 + 699, 260
        order.ships, order.ship_to_country = True, "GB"
        db.session.commit()
    return order_id


def posted_session(order_id: int) -> dict[str, Any]:
    """The paid session of `printed_and_ebook_order`: its address and postage as Stripe has them."""
    return builders.session(
        order_id=order_id,
        amount_total=2598 + 699 - 260 + 285,
        collected_information={
            "shipping_details": {
                "name": "Ada Reader",
                "address": {
                    "line1": "1 Quay Street",
                    "line2": None,
                    "city": "Bristol",
                    "state": None,
                    "postal_code": "BS1 4DJ",
                    "country": "GB",
                },
            }
        },
        shipping_cost={
            "amount_total": 285,
            "shipping_rate": {"id": "shr_1", "display_name": "Royal Mail 2nd class"},
        },
    )


def customer_of_reader(app: Flask) -> None:
    """The Stripe customer Quire made for the reader when they first paid."""
    with app.app_context():
        user = db.session.execute(db.select(User).filter_by(email=READER)).scalar_one()
        db.session.add(Customer(user=user, stripe_customer_id="cus_reader"))
        db.session.commit()


def only_mail(app: Flask, kind: str, address: str = READER) -> Mail:
    (found,) = mails_to(app, address, kind)
    return found


# --- the receipt ---------------------------------------------------------------------


def test_the_receipt_lists_items_postage_discount_total_address_and_links(
    app: Flask, fake_stripe: responses.RequestsMock, post_event: Callable[..., Any]
) -> None:
    order_id = printed_and_ebook_order(app)
    session = posted_session(order_id)
    builders.stripe_serves(fake_stripe, "/v1/checkout/sessions/cs_test_1", session)
    assert post_event(event("checkout.session.completed", session)).status_code == 200

    receipt = only_mail(app, "receipt")
    assert receipt.key == f"receipt:order:{order_id}"
    assert receipt.subject == f"Your Quire receipt for order #{order_id}"
    text = receipt.text_body
    assert "The Salt Road — Maren Holt\n    2 × £12.99 = £25.98" in text
    assert "The Salt Road (ebook) — Maren Holt\n    1 × £6.99 = £6.99" in text
    assert "Member discount on printed books: −£2.60" in text
    assert "Postage (Royal Mail 2nd class): £2.85" in text
    assert "Total paid: £33.22" in text
    assert (
        "Delivery to:\n    Ada Reader\n    1 Quay Street\n    Bristol\n    BS1 4DJ\n"
        "    United Kingdom\nBy Royal Mail 2nd class." in text
    )
    assert "download from your library: http://shop.test/library" in text
    assert f"Your order: http://shop.test/orders/{order_id}" in text
    html = receipt.html_body
    assert "<strong>£33.22</strong>" in html and "Ada Reader<br>1 Quay Street<br>" in html
    assert f'href="http://shop.test/orders/{order_id}"' in html
    assert 'href="http://shop.test/library"' in html


def test_an_ebook_only_receipt_has_no_delivery_and_a_printed_one_no_library_link(
    app: Flask, paid_session: dict[str, Any], post_event: Callable[..., Any]
) -> None:
    post_event(event("checkout.session.completed", paid_session))
    text = only_mail(app, "receipt").text_body
    assert "Total paid: £12.99" in text
    assert "library" not in text  # a printed book only: nothing to download
    with app.app_context():
        order = db.session.get(Order, 1)
        order.ships = False
        order.items[0].item_key = "salt-road-ebook"
        order.items[0].description = "The Salt Road (ebook) — Maren Holt"
        assert "Delivery to" not in mail.render("receipt", order=order, ebooks=["x"])[1]


def test_a_free_trial_sign_up_receipt_says_nothing_charged_today_and_when_the_first_payment_falls(
    app: Flask, fake_stripe: responses.RequestsMock, post_event: Callable[..., Any]
) -> None:
    order_id = builders.add_order(app, kind="membership", session_id="cs_test_1")
    with app.app_context():
        order = db.session.get(Order, order_id)
        order.trial_days, order.plan_key = 14, "reader"
        db.session.commit()
    trial_end = builders.NOW + 14 * DAY
    session = builders.session(
        order_id=order_id,
        mode="subscription",
        amount_total=0,
        payment_status="no_payment_required",
        payment_intent=None,
        subscription=builders.subscription(status="trialing", trial_end=trial_end),
    )
    builders.stripe_serves(fake_stripe, "/v1/checkout/sessions/cs_test_1", session)
    post_event(event("checkout.session.completed", session))

    receipt = only_mail(app, "receipt")
    assert receipt.subject == f"Welcome to Quire Reader — your receipt for order #{order_id}"
    text = receipt.text_body
    assert "Plan: Reader, paid every month" in text
    assert "Charged today: £0.00 — a free trial of 14 days." in text
    assert f"First payment: £9.00 on {_date(trial_end)}, unless you cancel" in text
    assert "http://shop.test/account" in text


def test_a_paid_sign_up_receipt_says_what_was_charged_and_the_next_payment(
    app: Flask, fake_stripe: responses.RequestsMock, post_event: Callable[..., Any]
) -> None:
    order_id = builders.add_order(app, kind="membership", session_id="cs_test_1")
    period_end = builders.NOW + 30 * DAY
    session = builders.session(
        order_id=order_id,
        mode="subscription",
        amount_total=900,
        payment_intent=None,
        subscription=builders.subscription(period_end=period_end),
    )
    builders.stripe_serves(fake_stripe, "/v1/checkout/sessions/cs_test_1", session)
    post_event(event("checkout.session.completed", session))
    text = only_mail(app, "receipt").text_body
    assert "Charged today: £9.00" in text
    assert f"Next payment: £9.00 on {_date(period_end)}" in text


# --- sent once, and only after commit --------------------------------------------------


def test_the_same_event_three_times_in_a_row_sends_one_receipt(
    app: Flask, paid_session: dict[str, Any], post_event: Callable[..., Any]
) -> None:
    body = event("checkout.session.completed", paid_session, id="evt_thrice")
    for _ in range(3):
        assert post_event(body).status_code == 200
    # ...and the same happening told by Stripe's other events about the session:
    post_event(event("checkout.session.async_payment_succeeded", paid_session))
    assert len(mails_to(app, READER, "receipt")) == 1


def _deliver_at_once(app: Flask, bodies: list[dict[str, Any]], post: Callable[..., Any]) -> None:
    """Each body delivered from its own thread (its own connection), all released together."""
    start = threading.Barrier(len(bodies))
    answers: list[int] = []

    def deliver(body: dict[str, Any]) -> None:
        client = app.test_client()
        start.wait()
        answers.append(post(body, client=client).status_code)

    threads = [threading.Thread(target=deliver, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [200] * len(bodies)


def test_the_same_event_five_times_at_once_sends_one_receipt(
    app: Flask, paid_session: dict[str, Any], post_event: Callable[..., Any]
) -> None:
    body = event("checkout.session.completed", paid_session, id="evt_five")
    _deliver_at_once(app, [body] * 5, post_event)
    assert len(mails_to(app, READER, "receipt")) == 1


def test_five_different_events_for_one_payment_at_once_send_one_receipt(
    app: Flask, paid_session: dict[str, Any], post_event: Callable[..., Any]
) -> None:
    """Distinct event ids pass the processed-event check; the mail's key stops the rest."""
    bodies = [event("checkout.session.completed", paid_session) for _ in range(5)]
    _deliver_at_once(app, bodies, post_event)
    assert len(mails_to(app, READER, "receipt")) == 1


def test_the_webhook_and_the_confirmation_page_send_one_receipt(
    app: Flask, client: FlaskClient, paid_session: dict[str, Any], post_event: Callable[..., Any]
) -> None:
    sign_in(client)
    page = client.get("/orders/1/confirmation?session_id=cs_test_1")
    assert page.status_code == 200 and "your order is confirmed" in page.text
    post_event(event("checkout.session.completed", paid_session))
    client.get("/orders/1/confirmation?session_id=cs_test_1")  # the shopper reloads
    assert len(mails_to(app, READER, "receipt")) == 1


def test_an_order_paid_before_mail_existed_gets_no_receipt_when_seen_again(
    app: Flask, paid_session: dict[str, Any], post_event: Callable[..., Any]
) -> None:
    """An order recorded paid earlier (say, before this shop sent mail): a reopened
    confirmation page or `orders reconcile` re-lists its session, and no "This is your
    receipt" goes out months later."""
    with app.app_context():
        order = db.session.get(Order, 1)
        order.advance(OrderStatus.PAID)
        order.amount_paid = paid_session["amount_total"]
        db.session.commit()
    assert post_event(event("checkout.session.completed", paid_session)).status_code == 200
    assert mails_to(app, READER, "receipt") == []


def test_a_handler_failing_after_the_receipt_was_queued_sends_nothing_then_the_retry_sends_one(
    app: Flask,
    paid_session: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    post_event: Callable[..., Any],
) -> None:
    real = fulfilment.fulfil_checkout_session

    def fail_after_queueing(session: Any) -> Any:
        real(session)
        assert db.session.execute(db.select(Mail)).scalars().all() != []  # it was queued...
        raise RuntimeError("the database went away")  # ...then the handler fails

    app.config["MAIL_SEND_LATER"] = True  # this test sends, to count what is sent
    body = event("checkout.session.completed", paid_session, id="evt_retried")
    monkeypatch.setattr(fulfilment, "fulfil_checkout_session", fail_after_queueing)
    assert post_event(body).status_code == 500
    assert mails_to(app, READER) == []
    with app.app_context():
        assert mail.deliver_pending() == 0

    monkeypatch.setattr(fulfilment, "fulfil_checkout_session", real)
    assert post_event(body).status_code == 200  # Stripe's retry
    with app.app_context():
        assert mail.deliver_pending() == 1
    (receipt,) = mails_to(app, READER, "receipt")
    assert receipt.status == MailStatus.SENT


def test_a_receipt_is_not_visible_to_another_connection_before_the_event_commits(
    app: Flask,
    paid_session: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    post_event: Callable[..., Any],
) -> None:
    real = notices.order_paid
    seen_elsewhere: list[tuple[int, int]] = []

    def look_from_another_connection(order: Order) -> bool:
        queued = real(order)
        db.session.flush()  # written in this transaction, not committed

        def look() -> None:
            with app.app_context():
                count = len(db.session.execute(db.select(Mail)).scalars().all())
                seen_elsewhere.append((count, mail.deliver_pending()))

        other = threading.Thread(target=look)
        other.start()
        other.join()
        return queued

    app.config["MAIL_SEND_LATER"] = True  # this test sends, to count what is sent
    monkeypatch.setattr(notices, "order_paid", look_from_another_connection)
    assert post_event(event("checkout.session.completed", paid_session)).status_code == 200
    assert seen_elsewhere == [(0, 0)]  # neither readable nor sendable before the commit
    with app.app_context():
        assert mail.deliver_pending() == 1  # committed: now it goes
    assert only_mail(app, "receipt").status == MailStatus.SENT


# --- shipped ---------------------------------------------------------------------------


def test_marking_an_order_shipped_mails_the_tracking_reference_once(
    app: Flask, client: FlaskClient, fake_stripe: responses.RequestsMock
) -> None:
    order_id = printed_and_ebook_order(app)
    with app.app_context():
        order = db.session.get(Order, order_id)
        order.status, order.amount_paid = "paid", 3322
        order.shipping_name, order.shipping_address = "Ada Reader", "1 Quay Street\nBristol"
        order.shipping_method = "Royal Mail 2nd class"
        db.session.commit()
    add_user(app, "owner@example.com", admin=True)
    sign_in(client, "owner@example.com")
    for _ in range(2):  # a double click
        client.post(f"/admin/orders/{order_id}/shipped", data={"tracking_reference": "RM123GB"})
    shipped = only_mail(app, "shipped")
    today = datetime.now(UTC).strftime("%-d %b %Y")
    assert shipped.subject == f"Your Quire order #{order_id} is on its way"
    assert f"posted on {today} by Royal Mail 2nd class" in shipped.text_body
    assert "Tracking reference: RM123GB" in shipped.text_body
    assert "2 × The Salt Road — Maren Holt" in shipped.text_body
    assert "ebook" not in shipped.text_body  # only what is in the parcel
    assert "Going to:\n    Ada Reader\n    1 Quay Street\n    Bristol" in shipped.text_body
    assert "<strong>RM123GB</strong>" in shipped.html_body


# --- memberships -----------------------------------------------------------------------


def test_trial_will_end_mails_the_plan_date_price_and_billing_link_once(
    app: Flask, fake_stripe: responses.RequestsMock, post_event: Callable[..., Any]
) -> None:
    builders.add_order(app, kind="membership", session_id="cs_sub")
    trial_end = builders.NOW + 3 * DAY
    sub = builders.subscription(status="trialing", trial_end=trial_end)
    builders.stripe_serves(fake_stripe, "/v1/subscriptions/sub_1", sub)
    body = event("customer.subscription.trial_will_end", sub)
    for _ in range(3):
        assert post_event(body).status_code == 200
    post_event(event("customer.subscription.trial_will_end", sub))  # a second copy, new id

    notice = only_mail(app, "trial_ending")
    assert notice.key == f"trial-ending:sub_1:{trial_end}"
    assert notice.subject == f"Your Quire Reader trial ends on {_date(trial_end)}"
    assert f"Your free trial of the Quire Reader membership ends on {_date(trial_end)}." in (
        notice.text_body
    )
    assert "Then £9.00 will be charged to your card, and again every month" in notice.text_body
    assert "Manage billing on your account page:\nhttp://shop.test/account" in notice.text_body
    assert 'href="http://shop.test/account"' in notice.html_body


def test_trial_will_end_after_the_member_cancelled_or_the_trial_ended_says_so_or_nothing(
    app: Flask, fake_stripe: responses.RequestsMock, post_event: Callable[..., Any]
) -> None:
    builders.add_order(app, kind="membership", session_id="cs_sub")
    trial_end = builders.NOW + 3 * DAY
    late = builders.subscription(status="active", trial_end=builders.NOW - DAY)
    builders.stripe_serves(fake_stripe, "/v1/subscriptions/sub_1", late)
    post_event(event("customer.subscription.trial_will_end", late))
    assert mails_to(app, READER) == []  # delivered after the trial ended: nothing to warn of

    ending = builders.subscription(
        status="trialing", trial_end=trial_end, cancel_at_period_end=True
    )
    builders.stripe_serves(fake_stripe, "/v1/subscriptions/sub_1", ending)
    post_event(event("customer.subscription.trial_will_end", ending))
    text = only_mail(app, "trial_ending").text_body
    assert "set to end with the trial, so nothing will be charged" in text
    assert "£9.00" not in text


def _failed_invoice(attempt: int, **fields: Any) -> dict[str, Any]:
    return builders.invoice(
        status="open",
        amount_paid=0,
        amount_due=900,
        attempt_count=attempt,
        billing_reason="subscription_cycle",
        hosted_invoice_url="https://invoice.stripe.com/i/in_1",
        **fields,
    )


def test_each_failed_attempt_at_a_renewal_mails_once_with_how_to_fix_the_card(
    app: Flask, fake_stripe: responses.RequestsMock, post_event: Callable[..., Any]
) -> None:
    builders.add_order(app, kind="membership", session_id="cs_sub")
    customer_of_reader(app)
    live = builders.subscription(status="active")
    builders.stripe_serves(fake_stripe, "/v1/subscriptions/sub_1", live)
    post_event(event("customer.subscription.created", live))  # a member since sign-up
    builders.stripe_serves(
        fake_stripe, "/v1/subscriptions/sub_1", builders.subscription(status="past_due")
    )
    first = _failed_invoice(1)
    builders.stripe_serves(fake_stripe, "/v1/invoices/in_1", first)
    body = event("invoice.payment_failed", first)
    for _ in range(3):
        post_event(body)
    post_event(event("invoice.payment_failed", first))  # the same attempt, another event

    notice = only_mail(app, "payment_failed")
    assert notice.key == "payment-failed:in_1:1"
    assert notice.subject == "We couldn't take the payment for your Quire Reader membership"
    assert "We tried to take £9.00 for your Quire Reader membership" in notice.text_body
    assert "benefits stay open for 7 days" in notice.text_body
    assert "Manage billing on your account page:\nhttp://shop.test/account" in notice.text_body
    assert "https://invoice.stripe.com/i/in_1" in notice.text_body

    second = _failed_invoice(2)
    builders.stripe_serves(fake_stripe, "/v1/invoices/in_1", second)
    post_event(event("invoice.payment_failed", second))
    assert [m.key for m in mails_to(app, READER, "payment_failed")] == [
        "payment-failed:in_1:1",
        "payment-failed:in_1:2",
    ]
    assert "(attempt 2)" in mails_to(app, READER, "payment_failed")[1].text_body


def test_a_late_payment_failed_event_for_an_invoice_paid_since_sends_nothing(
    app: Flask, fake_stripe: responses.RequestsMock, post_event: Callable[..., Any]
) -> None:
    builders.add_order(app, kind="membership", session_id="cs_sub")
    customer_of_reader(app)
    builders.stripe_serves(fake_stripe, "/v1/subscriptions/sub_1", builders.subscription())
    builders.stripe_serves(fake_stripe, "/v1/invoices/in_1", builders.invoice(attempt_count=2))
    post_event(event("invoice.payment_failed", _failed_invoice(1)))
    assert mails_to(app, READER) == []


def test_a_membership_that_ends_mails_once_and_one_first_seen_ended_mails_nothing(
    app: Flask, fake_stripe: responses.RequestsMock, post_event: Callable[..., Any]
) -> None:
    builders.add_order(app, kind="membership", session_id="cs_sub")
    live = builders.subscription(status="active")
    builders.stripe_serves(fake_stripe, "/v1/subscriptions/sub_1", live)
    post_event(event("customer.subscription.updated", live))
    assert mails_to(app, READER) == []

    ended = builders.subscription(status="canceled", canceled_at=builders.NOW)
    builders.stripe_serves(fake_stripe, "/v1/subscriptions/sub_1", ended)
    body = event("customer.subscription.deleted", ended)
    for _ in range(3):
        post_event(body)
    post_event(event("customer.subscription.updated", ended))
    notice = only_mail(app, "membership_ended")
    assert notice.key == "membership-ended:sub_1"
    assert notice.subject == "Your Quire Reader membership has ended"
    assert f"has ended ({_date(builders.NOW)}). Nothing more will be charged" in notice.text_body
    assert "http://shop.test/memberships/reader" in notice.text_body

    old = builders.subscription("sub_old", status="canceled", canceled_at=builders.NOW)
    builders.stripe_serves(fake_stripe, "/v1/subscriptions/sub_old", old)
    post_event(event("customer.subscription.deleted", old))  # Quire never saw it open
    assert len(mails_to(app, READER, "membership_ended")) == 1


def test_a_sign_up_whose_first_payment_never_went_through_says_it_did_not_start(
    app: Flask, fake_stripe: responses.RequestsMock, post_event: Callable[..., Any]
) -> None:
    builders.add_order(app, kind="membership", session_id="cs_sub")
    for status in ("incomplete", "incomplete_expired"):
        sub = builders.subscription(status=status)
        builders.stripe_serves(fake_stripe, "/v1/subscriptions/sub_1", sub)
        post_event(event("customer.subscription.updated", sub))
    notice = only_mail(app, "membership_ended")
    assert notice.subject == "Your Quire Reader membership didn't start"
    assert "nothing was charged" in notice.text_body


def test_a_membership_without_a_known_shopper_is_skipped_and_logged(
    app: Flask,
    fake_stripe: responses.RequestsMock,
    post_event: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    for status in ("active", "canceled"):
        sub = builders.subscription("sub_x", status=status, customer="cus_other", metadata={})
        builders.stripe_serves(fake_stripe, "/v1/subscriptions/sub_x", sub)
        assert post_event(event("customer.subscription.updated", sub)).status_code == 200
    with app.app_context():
        assert db.session.execute(db.select(Mail)).scalars().all() == []
    assert "no shopper known for membership-ended:sub_x" in caplog.text


# --- refunds ---------------------------------------------------------------------------


def test_each_refund_mails_its_amount_and_what_is_left_and_a_replay_mails_nothing(
    app: Flask,
    client: FlaskClient,
    paid_session: dict[str, Any],
    fake_stripe: responses.RequestsMock,
    post_event: Callable[..., Any],
) -> None:
    post_event(event("checkout.session.completed", paid_session))
    add_user(app, "owner@example.com", admin=True)
    sign_in(client, "owner@example.com")
    fake_stripe.add(
        "POST", API + "/v1/refunds", json=example("refund", id="re_1", charge="ch_1", amount=500)
    )
    partial = builders.charge(amount_refunded=500)
    builders.stripe_serves(fake_stripe, "/v1/charges/ch_1", partial)
    client.post("/admin/orders/1/refund", data={"amount": "5.00"})
    for _ in range(3):  # Stripe's charge.refunded for it, replayed
        post_event(event("charge.refunded", partial))

    (first,) = mails_to(app, READER, "refund_issued")
    assert first.key == "refund:ch_1:500"
    assert first.subject == "Quire has refunded £5.00 of order #1"
    assert "Paid: £12.99\nRefunded in all: £5.00\nStill paid: £7.99" in first.text_body
    assert "fully refunded" not in first.text_body

    rest = builders.charge(amount_refunded=1299, refunded=True)
    builders.stripe_serves(fake_stripe, "/v1/charges/ch_1", rest)
    post_event(event("charge.refunded", rest))
    post_event(event("charge.refunded", rest))
    second = mails_to(app, READER, "refund_issued")[1]
    assert second.key == "refund:ch_1:1299"
    assert second.subject == "Quire has refunded £7.99 of order #1"
    assert "Refunded in all: £12.99\nThe order is now fully refunded." in second.text_body
    assert len(mails_to(app, READER, "refund_issued")) == 2


# --- reconcile -------------------------------------------------------------------------


def test_orders_reconcile_sends_the_mail_of_what_missed_webhooks_left_out(
    app: Flask, fake_stripe: responses.RequestsMock, runner: Any, post_event: Callable[..., Any]
) -> None:
    """A paid order and an ended membership found by reconcile: their mails go out at once,
    and reconcile still reports each change."""
    order_id = builders.add_order(app)
    customer_of_reader(app)
    live = builders.subscription(status="active")
    builders.stripe_serves(fake_stripe, "/v1/subscriptions/sub_1", live)
    post_event(event("customer.subscription.created", live))
    ended = builders.subscription(status="canceled", canceled_at=builders.NOW)
    fake_stripe.add(
        "GET",
        re.compile(API + r"/v1/checkout/sessions\?.*"),
        json=listing("/v1/checkout/sessions", [builders.session(order_id=order_id)]),
    )
    fake_stripe.add(
        "GET",
        re.compile(API + r"/v1/subscriptions\?.*"),
        json=listing("/v1/subscriptions", [ended]),
    )
    fake_stripe.add("GET", re.compile(API + r"/v1/charges\?.*"), json=listing("/v1/charges", []))
    fake_stripe.add("GET", re.compile(API + r"/v1/invoices\?.*"), json=listing("/v1/invoices", []))
    result = runner.invoke(args=["orders", "reconcile"])
    assert result.exit_code == 0, result.output
    assert f"order #{order_id}: pending → paid" in result.output
    assert "membership sub_1: canceled" in result.output
    assert only_mail(app, "receipt").status == MailStatus.SENT
    assert only_mail(app, "membership_ended").status == MailStatus.SENT
