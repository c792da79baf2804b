"""What the shop records from Stripe objects, pinned where a small change to fulfilment
or to what `stripe_api` asks Stripe to expand would otherwise go unnoticed.

The fake Stripe answers as Stripe does (`stripe_fakes.as_answered`): a field not named
in the request's `expand[]` comes back as an id, so each expand list entry is proved
here by what the shop records with it, and by what it records without it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import responses
from flask import Flask
from flask.testing import FlaskCliRunner

from shop import stripe_api
from shop.extensions import db
from shop.models import (
    Customer,
    Invoice,
    MoneyMovement,
    ObjectVersion,
    Order,
    Subscription,
    from_timestamp,
)
from shop.stripe_client import stripe_client
from tests import builders, helpers
from tests.stripe_fakes import event, example, listing

PAID_AT = builders.NOW - 3600
FAILED = {"code": "card_declined", "decline_code": "insufficient_funds"}

Scenario = Callable[[Flask, responses.RequestsMock, FlaskCliRunner], Any]


def _deliver(app: Flask, body: dict[str, Any]) -> None:
    answer = helpers.post_event(app.test_client(), body)
    assert answer.status_code == 200, answer.text


def _stripe_sends(
    app: Flask, fake_stripe: responses.RequestsMock, path: str, event_type: str, body: Any
) -> None:
    """Stripe has `body` at `path` and sends an event of `event_type` about it."""
    builders.stripe_serves(fake_stripe, path, body)
    _deliver(app, event(event_type, body))


def _order(app: Flask, order_id: int = 1) -> Order:
    with app.app_context():
        found = db.session.get(Order, order_id)
        assert found is not None
        return found


def _update_order(app: Flask, order_id: int = 1, **fields: Any) -> None:
    with app.app_context():
        order = db.session.get(Order, order_id)
        assert order is not None
        for name, value in fields.items():
            setattr(order, name, value)
        db.session.commit()


def _memberships(app: Flask) -> list[tuple[str, str, int | None]]:
    with app.app_context():
        rows = db.session.execute(db.select(Subscription)).scalars()
        return [(row.stripe_subscription_id, row.status, row.amount) for row in rows]


def _refunds(app: Flask) -> list[tuple[str, int, int | None]]:
    with app.app_context():
        rows = db.session.execute(
            db.select(MoneyMovement).filter_by(kind="refund").order_by(MoneyMovement.stripe_id)
        ).scalars()
        return [(row.stripe_id, row.amount, row.order_id) for row in rows]


def _reconcile(
    fake_stripe: responses.RequestsMock, runner: FlaskCliRunner, **lists: list[dict[str, Any]]
) -> None:
    """`orders reconcile` with Stripe listing `lists` (path name → objects), else nothing."""
    for name in ("checkout/sessions", "subscriptions", "invoices", "charges"):
        path = f"/v1/{name}"
        builders.stripe_serves(fake_stripe, path, listing(path, lists.get(name.split("/")[-1], [])))
    result = runner.invoke(args=["orders", "reconcile"])
    assert result.exit_code == 0, result.output


def discounted_subscription(percent_off: float = 20.0) -> dict[str, Any]:
    """The Reader membership (£9.00 a month) with a coupon taking `percent_off` off."""
    coupon = example("coupon", id="members-20", percent_off=percent_off, amount_off=None)
    discount = example("discount", id="di_1", end=None, source={"type": "coupon", "coupon": coupon})
    return builders.subscription(discounts=[discount])


def failed_session() -> dict[str, Any]:
    """A session whose card was declined: complete, unpaid, its intent wanting a card."""
    intent = example(
        "payment_intent",
        id="pi_1",
        status="requires_payment_method",
        last_payment_error=FAILED,
    )
    return builders.session(payment_status="unpaid", payment_intent=intent)


def shipped_session() -> dict[str, Any]:
    rate = example("shipping_rate", id="shr_1", display_name="Royal Mail Tracked 48")
    cost = {"amount_subtotal": 350, "amount_tax": 0, "amount_total": 350, "shipping_rate": rate}
    return builders.session(shipping_cost=cost)


def membership_session(sub: dict[str, Any]) -> dict[str, Any]:
    return builders.session(
        "cs_sub", mode="subscription", payment_intent=None, amount_total=900, subscription=sub
    )


def intent_naming_order(order_id: int = 1) -> dict[str, Any]:
    return example("payment_intent", id="pi_1", metadata={"order_id": str(order_id)})


# --- scenarios: each returns what the shop recorded ---------------------------------------


def declined_card(app: Flask, fake_stripe: responses.RequestsMock, _: FlaskCliRunner) -> Any:
    builders.add_order(app)
    session = failed_session()
    _stripe_sends(
        app,
        fake_stripe,
        "/v1/checkout/sessions/cs_test_1",
        "checkout.session.async_payment_failed",
        session,
    )
    order = _order(app)
    return order.status, order.last_error


def discounted_membership_bought(
    app: Flask, fake_stripe: responses.RequestsMock, _: FlaskCliRunner
) -> Any:
    builders.add_order(app, kind="membership", session_id="cs_sub")
    session = membership_session(discounted_subscription())
    _stripe_sends(
        app, fake_stripe, "/v1/checkout/sessions/cs_sub", "checkout.session.completed", session
    )
    return _memberships(app)


def shipping_chosen(app: Flask, fake_stripe: responses.RequestsMock, _: FlaskCliRunner) -> Any:
    builders.add_order(app)
    _update_order(app, ships=True)
    session = shipped_session()
    _stripe_sends(
        app, fake_stripe, "/v1/checkout/sessions/cs_test_1", "checkout.session.completed", session
    )
    order = _order(app)
    return order.shipping_amount, order.shipping_method


def declined_card_reconciled(
    app: Flask, fake_stripe: responses.RequestsMock, runner: FlaskCliRunner
) -> Any:
    builders.add_order(app)
    _reconcile(fake_stripe, runner, sessions=[failed_session()])
    order = _order(app)
    return order.status, order.last_error


def membership_reconciled(
    app: Flask, fake_stripe: responses.RequestsMock, runner: FlaskCliRunner
) -> Any:
    builders.add_order(app, kind="membership", session_id="cs_sub")
    _reconcile(fake_stripe, runner, sessions=[membership_session(builders.subscription())])
    return _memberships(app)


def shipping_reconciled(
    app: Flask, fake_stripe: responses.RequestsMock, runner: FlaskCliRunner
) -> Any:
    builders.add_order(app)
    _update_order(app, ships=True)
    _reconcile(fake_stripe, runner, sessions=[shipped_session()])
    order = _order(app)
    return order.shipping_amount, order.shipping_method


def discounted_membership_updated(
    app: Flask, fake_stripe: responses.RequestsMock, _: FlaskCliRunner
) -> Any:
    builders.add_order(app, kind="membership", session_id="cs_sub")
    sub = discounted_subscription()
    _stripe_sends(app, fake_stripe, "/v1/subscriptions/sub_1", "customer.subscription.updated", sub)
    return _memberships(app)


def discounted_membership_reconciled(
    app: Flask, fake_stripe: responses.RequestsMock, runner: FlaskCliRunner
) -> Any:
    builders.add_order(app, kind="membership", session_id="cs_sub")
    with app.app_context():
        db.session.add(Customer(user_id=1, stripe_customer_id="cus_reader"))
        db.session.commit()
    _reconcile(fake_stripe, runner, subscriptions=[discounted_subscription()])
    return _memberships(app)


def early_dispute(app: Flask, fake_stripe: responses.RequestsMock, _: FlaskCliRunner) -> Any:
    """A dispute that comes before the order's completion is recorded."""
    builders.add_order(app)
    dispute = example("dispute", id="dp_1", charge="ch_1", payment_intent=intent_naming_order())
    _stripe_sends(app, fake_stripe, "/v1/disputes/dp_1", "charge.dispute.created", dispute)
    order = _order(app)
    return order.status, order.payment_intent_id


def early_refund(app: Flask, fake_stripe: responses.RequestsMock, _: FlaskCliRunner) -> Any:
    """A refund that comes before the order's completion is recorded."""
    builders.add_order(app)
    charge = builders.charge(
        amount_refunded=1299, refunded=True, payment_intent=intent_naming_order()
    )
    _stripe_sends(app, fake_stripe, "/v1/charges/ch_1", "charge.refunded", charge)
    order = _order(app)
    return order.status, order.amount_refunded, order.payment_intent_id


def refund(refund_id: str, amount: int, status: str = "succeeded") -> dict[str, Any]:
    return example(
        "refund",
        id=refund_id,
        amount=amount,
        currency="gbp",
        status=status,
        created=PAID_AT,
        charge="ch_1",
        payment_intent="pi_1",
    )


def refunded_charge(*refunds: dict[str, Any], **fields: Any) -> dict[str, Any]:
    total = sum(r["amount"] for r in refunds if r["status"] not in ("failed", "canceled"))
    fields = {"amount_refunded": total, "refunded": total >= 1299, **fields}
    return builders.charge(refunds=listing("/v1/refunds?charge=ch_1", list(refunds)), **fields)


def paid_order(app: Flask) -> None:
    builders.add_order(app)
    _update_order(app, status="paid", payment_intent_id="pi_1", amount_paid=1299)


def refund_ledger(app: Flask, fake_stripe: responses.RequestsMock, _: FlaskCliRunner) -> Any:
    paid_order(app)
    charge = refunded_charge(refund("re_1", 500))
    _stripe_sends(app, fake_stripe, "/v1/charges/ch_1", "charge.refunded", charge)
    return _refunds(app)


def refund_ledger_reconciled(
    app: Flask, fake_stripe: responses.RequestsMock, runner: FlaskCliRunner
) -> Any:
    paid_order(app)
    _reconcile(fake_stripe, runner, charges=[refunded_charge(refund("re_1", 500))])
    return _refunds(app)


def early_refund_reconciled(
    app: Flask, fake_stripe: responses.RequestsMock, runner: FlaskCliRunner
) -> Any:
    builders.add_order(app)
    charge = builders.charge(
        amount_refunded=1299, refunded=True, payment_intent=intent_naming_order()
    )
    _reconcile(fake_stripe, runner, charges=[charge])
    order = _order(app)
    return order.status, order.amount_refunded


DECLINED = ("payment_failed", "payment_failed code=card_declined decline_code=insufficient_funds")
SHIPPED = (350, "Royal Mail Tracked 48")

#: (expand list, entry, scenario, recorded with the entry, recorded without it).
EXPANSIONS: list[tuple[str, str, Scenario, Any, Any]] = [
    ("SESSION_EXPAND", "payment_intent", declined_card, DECLINED, ("awaiting_payment", None)),
    (
        "SESSION_EXPAND",
        "subscription.discounts.source.coupon",
        discounted_membership_bought,
        [("sub_1", "active", 720)],
        [],
    ),
    ("SESSION_EXPAND", "shipping_cost.shipping_rate", shipping_chosen, SHIPPED, (350, None)),
    (
        "SESSION_LIST_EXPAND",
        "payment_intent",
        declined_card_reconciled,
        DECLINED,
        ("awaiting_payment", None),
    ),
    ("SESSION_LIST_EXPAND", "subscription", membership_reconciled, [("sub_1", "active", 900)], []),
    (
        "SESSION_LIST_EXPAND",
        "shipping_cost.shipping_rate",
        shipping_reconciled,
        SHIPPED,
        (350, None),
    ),
    (
        "SUBSCRIPTION_EXPAND",
        "discounts.source.coupon",
        discounted_membership_updated,
        [("sub_1", "active", 720)],
        [("sub_1", "active", None)],
    ),
    (
        "SUBSCRIPTION_EXPAND",
        "discounts.source.coupon",
        discounted_membership_reconciled,
        [("sub_1", "active", 720)],
        [("sub_1", "active", None)],
    ),
    ("PAYMENT_EXPAND", "payment_intent", early_dispute, ("disputed", "pi_1"), ("pending", None)),
    (
        "CHARGE_EXPAND",
        "payment_intent",
        early_refund,
        ("refunded", 1299, "pi_1"),
        ("pending", 0, None),
    ),
    (
        "CHARGE_EXPAND",
        "payment_intent",
        early_refund_reconciled,
        ("refunded", 1299),
        ("pending", 0),
    ),
    ("CHARGE_EXPAND", "refunds", refund_ledger, [("re_1", 500, 1)], []),
    ("CHARGE_EXPAND", "refunds", refund_ledger_reconciled, [("re_1", 500, 1)], []),
]
#: The expand lists of `stripe_api` that fulfilment reads through.
FULFILMENT_LISTS = (
    "SESSION_EXPAND",
    "SESSION_LIST_EXPAND",
    "SUBSCRIPTION_EXPAND",
    "PAYMENT_EXPAND",
    "CHARGE_EXPAND",
)
CASES = [pytest.param(*case, id=f"{case[0]}-{case[2].__name__}") for case in EXPANSIONS]


def test_every_entry_of_every_expand_list_is_proved_by_what_the_shop_records() -> None:
    listed = {(name, entry) for name in FULFILMENT_LISTS for entry in getattr(stripe_api, name)}
    assert listed == {(name, entry) for name, entry, *_ in EXPANSIONS}


@pytest.mark.parametrize(("name", "entry", "scenario", "recorded", "unexpanded"), CASES)
def test_what_stripe_expands_is_what_the_shop_records(
    app: Flask,
    fake_stripe: responses.RequestsMock,
    runner: FlaskCliRunner,
    name: str,
    entry: str,
    scenario: Scenario,
    recorded: Any,
    unexpanded: Any,
) -> None:
    assert scenario(app, fake_stripe, runner) == recorded


@pytest.mark.parametrize(("name", "entry", "scenario", "recorded", "unexpanded"), CASES)
def test_without_the_expansion_the_shop_records_less(
    app: Flask,
    fake_stripe: responses.RequestsMock,
    runner: FlaskCliRunner,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    entry: str,
    scenario: Scenario,
    recorded: Any,
    unexpanded: Any,
) -> None:
    """As real Stripe would answer if the entry were dropped: the field is an id."""
    monkeypatch.setattr(stripe_api, name, [e for e in getattr(stripe_api, name) if e != entry])
    assert scenario(app, fake_stripe, runner) == unexpanded


# --- fulfilment's own decisions -------------------------------------------------------------


def _payments(app: Flask) -> list[tuple[str, int]]:
    with app.app_context():
        rows = db.session.execute(db.select(MoneyMovement).filter_by(kind="payment")).scalars()
        return [(row.stripe_id, row.amount) for row in rows]


def test_an_order_paid_in_full_by_a_discount_code_is_paid_with_nothing_in_the_ledger(
    app: Flask, fake_stripe: responses.RequestsMock
) -> None:
    """A 100 %-off code: Stripe completes the session with no payment to take."""
    builders.add_order(app)
    free = builders.session(payment_status="no_payment_required", amount_total=0)
    _stripe_sends(
        app, fake_stripe, "/v1/checkout/sessions/cs_test_1", "checkout.session.completed", free
    )
    order = _order(app)
    assert (order.status, order.amount_paid, order.paid_at is not None) == ("paid", 0, True)
    assert _payments(app) == []
    assert len(helpers.mails_to(app, "reader@example.com", "receipt")) == 1


@pytest.mark.parametrize("kind", ["refund", "dispute"])
def test_another_payment_naming_a_paid_order_is_not_put_on_it(
    app: Flask, fake_stripe: responses.RequestsMock, kind: str
) -> None:
    """Only an order not yet tied to a payment is found by the order id in a payment's
    metadata: a refund or dispute of some other payment leaves a paid order alone."""
    paid_order(app)
    other = example("payment_intent", id="pi_other", metadata={"order_id": "1"})
    if kind == "refund":
        charge = builders.charge("ch_2", amount_refunded=1299, refunded=True, payment_intent=other)
        _stripe_sends(app, fake_stripe, "/v1/charges/ch_2", "charge.refunded", charge)
    else:
        dispute = example("dispute", id="dp_2", charge="ch_2", payment_intent=other)
        _stripe_sends(app, fake_stripe, "/v1/disputes/dp_2", "charge.dispute.created", dispute)
    order = _order(app)
    assert (order.status, order.amount_refunded, order.payment_intent_id) == ("paid", 0, "pi_1")
    assert _versions(app) == {}  # nothing of Quire's was written


@pytest.mark.parametrize(
    ("customer_of", "metadata_user", "owner"),
    [
        pytest.param(2, "1", 2, id="customer-row-first"),
        pytest.param(None, "2", 2, id="metadata-when-no-row"),
        pytest.param(None, "99", None, id="metadata-naming-nobody"),
        pytest.param(None, "reader", None, id="metadata-not-an-id"),
    ],
)
def test_a_membership_belongs_to_its_stripe_customer_s_account(
    app: Flask,
    fake_stripe: responses.RequestsMock,
    customer_of: int | None,
    metadata_user: str,
    owner: int | None,
) -> None:
    """A membership seen without its order (made at Stripe, or its order lost) belongs
    to the account of Quire's customer row, else to the account its metadata names."""
    helpers.add_user(app, "first@example.com")
    helpers.add_user(app, "second@example.com")
    if customer_of is not None:
        with app.app_context():
            db.session.add(Customer(user_id=customer_of, stripe_customer_id="cus_reader"))
            db.session.commit()
    sub = builders.subscription(metadata={"user_id": metadata_user, "plan": "reader"})
    _stripe_sends(app, fake_stripe, "/v1/subscriptions/sub_1", "customer.subscription.created", sub)
    with app.app_context():
        row = db.session.execute(db.select(Subscription)).scalar_one()
        assert (row.user_id, row.stripe_customer_id) == (owner, "cus_reader")


@pytest.mark.parametrize(
    ("refunds", "charge_fields", "status", "refunded"),
    [
        pytest.param([refund("re_1", 500, "failed")], {}, "paid", 0, id="failed-refund"),
        pytest.param([refund("re_1", 500)], {}, "partially_refunded", 500, id="partial"),
        pytest.param([refund("re_1", 1)], {}, "partially_refunded", 1, id="a-penny"),
        pytest.param(
            [refund("re_1", 1299)], {"refunded": False}, "refunded", 1299, id="all-not-flagged"
        ),
    ],
)
def test_a_charge_s_refunded_amount_moves_the_order(
    app: Flask,
    fake_stripe: responses.RequestsMock,
    refunds: list[dict[str, Any]],
    charge_fields: dict[str, Any],
    status: str,
    refunded: int,
) -> None:
    """Nothing given back leaves the order paid; part of it, partly refunded; all of it,
    refunded, even when Stripe's `refunded` flag is not yet set."""
    paid_order(app)
    charge = refunded_charge(*refunds, **charge_fields)
    _stripe_sends(app, fake_stripe, "/v1/charges/ch_1", "charge.refunded", charge)
    order = _order(app)
    assert (order.status, order.amount_refunded) == (status, refunded)
    assert [amount for _, amount, _ in _refunds(app)] == ([refunded] if refunded else [])


# --- what each write marks as written, so an older retrieve never overwrites it ----------


def _versions(app: Flask) -> dict[str, int]:
    with app.app_context():
        rows = db.session.execute(db.select(ObjectVersion)).scalars()
        return {row.stripe_id: row.version for row in rows}


def _gets(fake_stripe: responses.RequestsMock, path: str) -> int:
    return sum(
        1
        for call in fake_stripe.calls
        if call.request.method == "GET" and call.request.url.split("?")[0].endswith(path)
    )


@pytest.mark.parametrize(
    ("order_session", "session", "written"),
    [
        pytest.param("cs_test_1", builders.session(), {"order-1": 1}, id="by-session-id"),
        pytest.param(None, builders.session(), {"order-1": 1}, id="by-reference-first-sight"),
        pytest.param("cs_other", builders.session(), {}, id="reference-of-another-session"),
        pytest.param(
            "cs_test_1",
            builders.session(
                mode="subscription", payment_intent=None, subscription=builders.subscription()
            ),
            {"order-1": 1, "sub_1": 1},
            id="with-its-membership",
        ),
        pytest.param(
            "cs_test_1",
            builders.session(client_reference_id="elsewhere-1"),
            {"order-1": 1},
            id="foreign-reference",
        ),
    ],
)
def test_a_session_marks_its_order_and_its_membership_written_after_one_retrieve(
    app: Flask,
    fake_stripe: responses.RequestsMock,
    order_session: str | None,
    session: dict[str, Any],
    written: dict[str, int],
) -> None:
    builders.add_order(app, session_id=order_session)
    _stripe_sends(
        app, fake_stripe, "/v1/checkout/sessions/cs_test_1", "checkout.session.completed", session
    )
    assert _versions(app) == written
    assert _gets(fake_stripe, "/v1/checkout/sessions/cs_test_1") == 1
    order = _order(app)
    if written:
        assert (order.status, order.checkout_session_id) == ("paid", "cs_test_1")
    else:
        assert (order.status, order.checkout_session_id) == ("pending", order_session)


@pytest.mark.parametrize("order_state", ["paid", "paid-expanded", "early", "none"])
@pytest.mark.parametrize("kind", ["refund", "dispute"])
def test_a_charge_or_dispute_marks_the_order_it_writes_after_one_retrieve(
    app: Flask, fake_stripe: responses.RequestsMock, order_state: str, kind: str
) -> None:
    """Paid: found by its payment (its intent an id, or expanded and naming the order);
    early: by the order id in the payment's metadata; none: a payment of no order (a
    renewal), which marks nothing."""
    if order_state.startswith("paid"):
        paid_order(app)
    else:
        builders.add_order(app)
    intent: Any = {
        "paid": "pi_1",
        "none": example("payment_intent", id="pi_1", metadata={"order_id": "7"}),
    }.get(order_state, intent_naming_order())
    if kind == "refund":
        path = "/v1/charges/ch_1"
        body = refunded_charge(refund("re_1", 500), payment_intent=intent)
        name = "charge.refunded"
    else:
        path = "/v1/disputes/dp_1"
        body = example("dispute", id="dp_1", charge="ch_1", payment_intent=intent)
        name = "charge.dispute.created"
    _stripe_sends(app, fake_stripe, path, name, body)
    assert _versions(app) == ({} if order_state == "none" else {"order-1": 1})
    assert _gets(fake_stripe, path) == 1


def test_an_invoice_marks_itself_and_its_membership_written_after_one_retrieve_each(
    app: Flask, fake_stripe: responses.RequestsMock
) -> None:
    builders.add_order(app, kind="membership", session_id="cs_sub")
    renewal = builders.invoice(billing_reason="subscription_cycle")
    builders.stripe_serves(fake_stripe, "/v1/invoices/in_1", renewal)
    builders.stripe_serves(fake_stripe, "/v1/subscriptions/sub_1", builders.subscription())
    _deliver(app, event("invoice.paid", renewal))
    assert _versions(app) == {"in_1": 1, "sub_1": 1}
    assert (
        _gets(fake_stripe, "/v1/invoices/in_1"),
        _gets(fake_stripe, "/v1/subscriptions/sub_1"),
    ) == (1, 1)


def _refund_rows(app: Flask) -> list[tuple[str, int | None, str | None]]:
    with app.app_context():
        rows = db.session.execute(db.select(MoneyMovement).filter_by(kind="refund")).scalars()
        return [(row.stripe_id, row.order_id, row.stripe_invoice_id) for row in rows]


RENEWAL_INTENT = example("payment_intent", id="pi_renewal", metadata={}, invoice="in_2")


@pytest.mark.parametrize(
    ("fields", "recorded"),
    [
        pytest.param({"invoice": "in_2", "payment_intent": "pi_renewal"}, "in_2", id="old-shape"),
        pytest.param({"payment_intent": RENEWAL_INTENT}, "in_2", id="intent-names-it"),
        pytest.param(
            {"payment_intent": {**RENEWAL_INTENT, "invoice": {"id": "in_2", "object": "invoice"}}},
            "in_2",
            id="intent-carries-it",
        ),
        pytest.param(
            {"invoice": "in_3", "payment_intent": RENEWAL_INTENT}, "in_3", id="charge-first"
        ),
        pytest.param({"payment_intent": "pi_renewal"}, None, id="unknown"),
    ],
)
def test_a_renewal_s_refund_is_booked_against_the_invoice_its_charge_paid(
    app: Flask, fake_stripe: responses.RequestsMock, fields: dict[str, Any], recorded: str | None
) -> None:
    """A charge of no order (a membership's renewal) names its invoice itself (API
    versions before 2025-03-31) or through its PaymentIntent, expanded with it."""
    builders.add_order(app, kind="membership", session_id="cs_sub")
    charge = refunded_charge(refund("re_1", 300), amount=900, **fields)
    _stripe_sends(app, fake_stripe, "/v1/charges/ch_1", "charge.refunded", charge)
    assert _refund_rows(app) == [("re_1", None, recorded)]


def test_an_order_s_refund_is_booked_against_the_order_not_an_invoice(
    app: Flask, fake_stripe: responses.RequestsMock
) -> None:
    paid_order(app)
    charge = refunded_charge(refund("re_1", 300), invoice="in_2", payment_intent=RENEWAL_INTENT)
    charge["payment_intent"] = {**RENEWAL_INTENT, "id": "pi_1"}
    _stripe_sends(app, fake_stripe, "/v1/charges/ch_1", "charge.refunded", charge)
    assert _refund_rows(app) == [("re_1", 1, None)]


# --- where a printed book goes ---------------------------------------------------------------

FULL_ADDRESS = {
    "line1": "Flat 2",
    "line2": " 14 Harbour Row ",
    "city": "St Ives",
    "state": "Cornwall",
    "postal_code": "TR26 1LP",
    "country": "GB",
}
LABEL = "Flat 2\n14 Harbour Row\nSt Ives\nCornwall\nTR26 1LP\nUnited Kingdom"


@pytest.mark.parametrize(
    ("fields", "recorded"),
    [
        pytest.param(
            {
                "collected_information": {
                    "shipping_details": {"name": "Ada", "address": FULL_ADDRESS}
                }
            },
            ("Ada", LABEL, None),
            id="every-line",
        ),
        pytest.param(
            {
                "collected_information": None,
                "shipping_details": {"name": "Ada", "address": {**FULL_ADDRESS, "line2": " "}},
            },
            ("Ada", LABEL.replace("14 Harbour Row\n", ""), None),
            id="before-2025-03-31",
        ),
        pytest.param(
            {
                "collected_information": {"shipping_details": None},
                "shipping_details": {"name": None, "address": {"country": None}},
                "shipping_cost": {"amount_total": None, "shipping_rate": "shr_1"},
                "total_details": {"amount_shipping": 285},
            },
            ("Kept", "Kept address", 285),
            id="postage-from-the-totals",
        ),
        pytest.param(
            {"shipping_cost": None, "total_details": {"amount_shipping": 285}},
            ("Kept", "Kept address", None),
            id="no-postage-chosen",
        ),
    ],
)
def test_a_printed_book_s_label_and_postage_are_what_the_session_collected(
    app: Flask,
    fake_stripe: responses.RequestsMock,
    fields: dict[str, Any],
    recorded: tuple[str, str, int | None],
) -> None:
    """Blank lines are left out, the country is named; what the session does not carry
    leaves what was recorded before."""
    builders.add_order(app)
    _update_order(app, ships=True, shipping_name="Kept", shipping_address="Kept address")
    nothing = dict.fromkeys(("collected_information", "shipping_details", "shipping_cost"))
    session = builders.session(**{**nothing, **fields})
    _stripe_sends(
        app, fake_stripe, "/v1/checkout/sessions/cs_test_1", "checkout.session.completed", session
    )
    order = _order(app)
    assert (order.shipping_name, order.shipping_address, order.shipping_amount) == recorded


def test_a_listed_invoice_marks_only_itself_its_membership_is_the_subscription_list_s(
    app: Flask, fake_stripe: responses.RequestsMock, runner: FlaskCliRunner
) -> None:
    builders.add_order(app, kind="membership", session_id="cs_sub")
    with app.app_context():
        db.session.add(Customer(user_id=1, stripe_customer_id="cus_reader"))
        db.session.commit()
    renewal = builders.invoice("in_2", billing_reason="subscription_cycle")
    _reconcile(fake_stripe, runner, subscriptions=[builders.subscription()], invoices=[renewal])
    assert _versions(app) == {"sub_1": 1, "in_2": 1}
    assert _payments(app) == [("in_2", 900)]


# --- what a Checkout Session writes on its order ---------------------------------------------


@pytest.mark.parametrize(
    ("intent_status", "status"),
    [
        ("requires_payment_method", "payment_failed"),
        ("canceled", "payment_failed"),
        ("processing", "awaiting_payment"),
        ("requires_action", "awaiting_payment"),
    ],
)
def test_an_unpaid_session_s_order_fails_only_when_its_payment_did(
    app: Flask, fake_stripe: responses.RequestsMock, intent_status: str, status: str
) -> None:
    builders.add_order(app)
    session = failed_session()
    session["payment_intent"]["status"] = intent_status
    _stripe_sends(
        app,
        fake_stripe,
        "/v1/checkout/sessions/cs_test_1",
        "checkout.session.async_payment_failed",
        session,
    )
    order = _order(app)
    assert (order.status, order.payment_status, order.payment_intent_id) == (
        status,
        "unpaid",
        "pi_1",
    )
    assert order.last_error == (DECLINED[1] if status == "payment_failed" else None)


def test_a_failed_payment_without_stripe_s_reason_keeps_the_one_known(
    app: Flask, fake_stripe: responses.RequestsMock
) -> None:
    builders.add_order(app)
    _update_order(app, last_error="payment_failed code=expired_card decline_code=None")
    session = failed_session()
    session["payment_intent"]["last_payment_error"] = None
    _stripe_sends(
        app,
        fake_stripe,
        "/v1/checkout/sessions/cs_test_1",
        "checkout.session.async_payment_failed",
        session,
    )
    order = _order(app)
    assert (order.status, order.last_error) == (
        "payment_failed",
        "payment_failed code=expired_card decline_code=None",
    )


def test_a_session_s_ids_are_recorded_and_a_later_sighting_without_them_keeps_them(
    app: Flask, fake_stripe: responses.RequestsMock
) -> None:
    builders.add_order(app, kind="membership")
    # The order's account owns it, whatever the subscription's metadata says.
    sub = builders.subscription(metadata={"user_id": "99", "plan": "reader"})
    session = membership_session(sub)
    session.update(id="cs_test_1", customer="cus_reader")
    _stripe_sends(
        app, fake_stripe, "/v1/checkout/sessions/cs_test_1", "checkout.session.completed", session
    )
    first = _order(app)
    recorded = (first.stripe_customer_id, first.stripe_subscription_id, first.amount_paid)
    assert recorded == ("cus_reader", "sub_1", 900)
    assert (first.status, first.payment_status) == ("paid", "paid")
    later = {**session, "customer": None, "subscription": None}
    _stripe_sends(
        app, fake_stripe, "/v1/checkout/sessions/cs_test_1", "checkout.session.completed", later
    )
    again = _order(app)
    assert (again.stripe_customer_id, again.stripe_subscription_id, again.paid_at) == (
        "cus_reader",
        "sub_1",
        first.paid_at,
    )
    assert len(helpers.mails_to(app, "reader@example.com", "receipt")) == 1
    assert _memberships(app) == [("sub_1", "active", 900)]
    with app.app_context():
        assert db.session.execute(db.select(Subscription.user_id)).scalar_one() == 1


def test_an_open_session_changes_nothing_on_its_order(
    app: Flask, fake_stripe: responses.RequestsMock
) -> None:
    builders.add_order(app)
    session = builders.session(status="open", payment_status="unpaid", customer="cus_reader")
    _stripe_sends(
        app, fake_stripe, "/v1/checkout/sessions/cs_test_1", "checkout.session.completed", session
    )
    order = _order(app)
    assert (order.status, order.payment_status, order.stripe_customer_id) == ("pending", None, None)


# --- what a membership records from its subscription -------------------------------------


def _recorded_membership(app: Flask, fake_stripe: responses.RequestsMock, sub: Any) -> Subscription:
    _stripe_sends(app, fake_stripe, "/v1/subscriptions/sub_1", "customer.subscription.updated", sub)
    with app.app_context():
        row: Subscription = db.session.execute(db.select(Subscription)).scalar_one()
        return row


def price(lookup_key: str | None, metadata: dict[str, str], recurring: Any) -> dict[str, Any]:
    return example(
        "price",
        id="price_x",
        lookup_key=lookup_key,
        metadata=metadata,
        unit_amount=9000,
        currency="GBP",
        recurring=recurring,
    )


YEARLY = {"interval": "year", "interval_count": 1}


@pytest.mark.parametrize(
    ("item_price", "plan_key", "interval"),
    [
        pytest.param(price("plan:patron:year", {}, YEARLY), "patron", "year", id="lookup-key"),
        pytest.param(
            price(None, {"quire_key": "plan:patron:year"}, YEARLY), "patron", "year", id="quire-key"
        ),
        pytest.param(
            price("book:the-salt-road", {}, None), "reader", None, id="not-a-membership-price"
        ),
        pytest.param(price(None, {}, YEARLY), "reader", "year", id="unknown-price"),
    ],
)
def test_a_membership_s_plan_is_its_price_s_else_its_metadata_s(
    app: Flask,
    fake_stripe: responses.RequestsMock,
    item_price: dict[str, Any],
    plan_key: str,
    interval: str | None,
) -> None:
    builders.add_order(app, kind="membership", session_id="cs_sub")
    sub = builders.subscription()
    sub["items"]["data"][0]["price"] = item_price
    row = _recorded_membership(app, fake_stripe, sub)
    assert (row.plan_key, row.interval, row.amount, row.currency) == (
        plan_key,
        interval,
        9000,
        "gbp",
    )


def test_a_membership_records_stripe_s_dates_and_choices(
    app: Flask, fake_stripe: responses.RequestsMock
) -> None:
    builders.add_order(app, kind="membership", session_id="cs_sub")
    sub = builders.subscription(
        status="trialing",
        cancel_at_period_end=True,
        trial_end=1_800_000_000,
        canceled_at=1_790_000_000,
        start_date=1_780_000_000,
        ended_at=None,
    )
    row = _recorded_membership(app, fake_stripe, sub)
    assert (row.status, row.cancel_at_period_end, row.stripe_customer_id) == (
        "trialing",
        True,
        "cus_reader",
    )
    assert (row.trial_end, row.canceled_at, row.started_at, row.ended_at) == (
        from_timestamp(1_800_000_000),
        from_timestamp(1_790_000_000),
        from_timestamp(1_780_000_000),
        None,
    )


def test_a_subscription_in_the_old_shape_has_its_period_on_itself(
    app: Flask, fake_stripe: responses.RequestsMock
) -> None:
    builders.add_order(app, kind="membership", session_id="cs_sub")
    sub = builders.subscription(current_period_end=1_850_000_000)
    del sub["items"]["data"][0]["current_period_end"]
    row = _recorded_membership(app, fake_stripe, sub)
    assert row.current_period_end == from_timestamp(1_850_000_000)
    without_items = builders.subscription(current_period_end=1_860_000_000, items=None)
    row = _recorded_membership(app, fake_stripe, without_items)
    assert (row.current_period_end, row.interval) == (from_timestamp(1_860_000_000), None)
    assert row.amount == 900  # without items Stripe did not say: what was known stands


# --- invoices and the ledger -------------------------------------------------------------------


def test_an_invoice_is_recorded_as_stripe_has_it(
    app: Flask, fake_stripe: responses.RequestsMock
) -> None:
    builders.add_order(app, kind="membership", session_id="cs_sub")
    failed = builders.invoice(
        "in_2",
        status="open",
        billing_reason="subscription_cycle",
        amount_due=900,
        amount_paid=0,
        attempt_count=None,
        hosted_invoice_url="https://invoice.stripe.com/i/in_2",
        created=1_780_000_000,
        customer={"id": "cus_reader", "object": "customer"},
    )
    builders.stripe_serves(fake_stripe, "/v1/invoices/in_2", failed)
    builders.stripe_serves(fake_stripe, "/v1/subscriptions/sub_1", builders.subscription())
    _deliver(app, event("invoice.payment_failed", failed))
    with app.app_context():
        row = db.session.execute(db.select(Invoice)).scalar_one()
        assert (row.stripe_invoice_id, row.stripe_subscription_id, row.stripe_customer_id) == (
            "in_2",
            "sub_1",
            "cus_reader",
        )
        assert (row.status, row.billing_reason, row.currency) == (
            "open",
            "subscription_cycle",
            "gbp",
        )
        assert (row.amount_due, row.amount_paid, row.attempt_count) == (900, 0, 0)
        assert row.hosted_invoice_url == "https://invoice.stripe.com/i/in_2"
        assert row.created_at == from_timestamp(1_780_000_000)
    assert _payments(app) == []


@pytest.mark.parametrize(
    ("fields", "payment"),
    [
        pytest.param(
            {"status_transitions": {"paid_at": 1_780_003_600}}, 1_780_003_600, id="paid-at"
        ),
        pytest.param({"status_transitions": {"paid_at": None}}, 1_780_000_000, id="created"),
        pytest.param({"amount_paid": 0}, None, id="nothing-paid"),
        pytest.param({"status": "open"}, None, id="not-paid"),
        pytest.param({"billing_reason": "subscription_create"}, None, id="the-order-s"),
    ],
)
def test_a_paid_renewal_is_a_payment_in_the_ledger_when_it_was_paid(
    app: Flask, fake_stripe: responses.RequestsMock, fields: dict[str, Any], payment: int | None
) -> None:
    builders.add_order(app, kind="membership", session_id="cs_sub")
    shape = {"billing_reason": "subscription_cycle", "amount_paid": 720, "currency": "GBP"}
    renewal = builders.invoice("in_2", created=1_780_000_000, **{**shape, **fields})
    builders.stripe_serves(fake_stripe, "/v1/invoices/in_2", renewal)
    builders.stripe_serves(fake_stripe, "/v1/subscriptions/sub_1", builders.subscription())
    _deliver(app, event("invoice.paid", renewal))
    with app.app_context():
        rows = db.session.execute(db.select(MoneyMovement)).scalars()
        found = [
            (r.kind, r.stripe_id, r.amount, r.currency, r.stripe_invoice_id, r.occurred_at)
            for r in rows
        ]
    expected = [("payment", "in_2", 720, "gbp", "in_2", from_timestamp(payment))]
    assert found == (expected if payment else [])


def test_a_refund_that_failed_after_it_was_recorded_leaves_the_ledger(
    app: Flask, fake_stripe: responses.RequestsMock
) -> None:
    """Stripe can fail a refund after it first reported it: the money stayed with the shop."""
    paid_order(app)
    for status, total in (("pending", 500), ("failed", 0)):
        charge = refunded_charge(refund("re_1", 500, status), amount_refunded=total)
        _stripe_sends(app, fake_stripe, "/v1/charges/ch_1", "charge.refunded", charge)
        assert _refunds(app) == ([("re_1", 500, 1)] if total else [])


@pytest.mark.parametrize(
    ("refund_currency", "for_order", "currency"),
    [("USD", True, "usd"), (None, True, "gbp"), (None, False, "eur")],
)
def test_a_refund_is_booked_in_its_own_currency_else_its_order_s_else_its_charge_s(
    app: Flask,
    fake_stripe: responses.RequestsMock,
    refund_currency: str | None,
    for_order: bool,
    currency: str,
) -> None:
    if for_order:
        paid_order(app)
    given = {**refund("re_1", 500), "currency": refund_currency}
    charge = refunded_charge(given, currency="eur", payment_intent="pi_1")
    _stripe_sends(app, fake_stripe, "/v1/charges/ch_1", "charge.refunded", charge)
    with app.app_context():
        row = db.session.execute(db.select(MoneyMovement)).scalar_one()
        assert (row.stripe_id, row.currency, row.occurred_at) == (
            "re_1",
            currency,
            from_timestamp(PAID_AT),
        )


def coupon(**fields: Any) -> dict[str, Any]:
    return example("coupon", id="c_1", **{"percent_off": None, "amount_off": None, **fields})


def discounted(coupon: dict[str, Any] | None, end: int | None = None) -> dict[str, Any]:
    return example("discount", id="di_1", end=end, source={"type": "coupon", "coupon": coupon})


@pytest.mark.parametrize(
    ("discounts", "amount"),
    [
        pytest.param(
            [discounted(coupon(amount_off=150, currency="usd"))], 900, id="other-currency"
        ),
        pytest.param([discounted(coupon(amount_off=150, currency=None))], 750, id="same-currency"),
        pytest.param([discounted(coupon(amount_off=1000, currency="gbp"))], 0, id="more-than-all"),
        pytest.param([discounted(coupon())], 900, id="nothing-off"),
        pytest.param(
            [discounted(coupon(percent_off=20.0), end=builders.NOW + 86400)], 720, id="not-ended"
        ),
        pytest.param(
            [{**discounted(None), "source": None, "coupon": coupon(percent_off=50.0)}],
            450,
            id="before-2025-the-coupon-on-the-discount",
        ),
        pytest.param([discounted(None)], None, id="coupon-unknown"),
        pytest.param(
            [
                discounted(coupon(percent_off=10.0)),
                discounted(coupon(amount_off=100, currency="gbp")),
            ],
            710,
            id="one-after-another",
        ),
    ],
)
def test_what_a_membership_charges_after_its_discounts(
    app: Flask, fake_stripe: responses.RequestsMock, discounts: list[Any], amount: int | None
) -> None:
    builders.add_order(app, kind="membership", session_id="cs_sub")
    row = _recorded_membership(app, fake_stripe, builders.subscription(discounts=discounts))
    assert row.amount == amount


def test_what_a_membership_of_several_items_charges(
    app: Flask, fake_stripe: responses.RequestsMock
) -> None:
    builders.add_order(app, kind="membership", session_id="cs_sub")
    sub = builders.subscription()
    item = sub["items"]["data"][0]
    extra = {**item, "id": "si_2", "quantity": 2, "price": {**item["price"], "unit_amount": 300}}
    sub["items"]["data"] = [{**item, "quantity": None}, extra]
    row = _recorded_membership(app, fake_stripe, sub)
    assert (row.amount, row.currency) == (1500, "gbp")


@pytest.mark.parametrize(
    ("fields", "ledger"),
    [
        pytest.param(
            {"payment_intent": example("payment_intent", id="pi_1", created=1_780_000_000)},
            [("cs_test_1", 1299, "gbp", 1_780_000_000)],
            id="paid-when-its-intent-was-made",
        ),
        pytest.param(
            {"payment_intent": None, "currency": None},
            [("cs_test_1", 1299, "gbp", 1_770_000_000)],
            id="else-when-the-session-was",
        ),
        pytest.param({"amount_total": None}, [], id="no-amount"),
    ],
)
def test_a_paid_session_is_one_payment_in_the_ledger_dated_by_stripe(
    app: Flask, fake_stripe: responses.RequestsMock, fields: dict[str, Any], ledger: list[Any]
) -> None:
    builders.add_order(app)
    session = builders.session(**{"created": 1_770_000_000, "currency": "GBP", **fields})
    _stripe_sends(
        app, fake_stripe, "/v1/checkout/sessions/cs_test_1", "checkout.session.completed", session
    )
    with app.app_context():
        rows = db.session.execute(db.select(MoneyMovement)).scalars()
        found = [(r.stripe_id, r.amount, r.currency, r.occurred_at) for r in rows]
    assert found == [(i, a, c, from_timestamp(t)) for i, a, c, t in ledger]
    assert _order(app).status == "paid"


@pytest.mark.parametrize("gone", ["failed", "canceled"])
def test_a_refund_that_gave_nothing_back_is_left_out_and_the_others_are_booked(
    app: Flask, fake_stripe: responses.RequestsMock, gone: str
) -> None:
    paid_order(app)
    charge = refunded_charge(refund("re_0", 200, gone), refund("re_1", 300), refund("re_2", 100))
    _stripe_sends(app, fake_stripe, "/v1/charges/ch_1", "charge.refunded", charge)
    assert _refunds(app) == [("re_1", 300, 1), ("re_2", 100, 1)]
    assert (_order(app).status, _order(app).amount_refunded) == ("partially_refunded", 400)


def test_a_membership_keeps_its_account_when_a_later_sighting_cannot_tell_whose_it_is(
    app: Flask, fake_stripe: responses.RequestsMock
) -> None:
    builders.add_order(app, kind="membership", session_id="cs_sub")
    sub = builders.subscription(metadata={"user_id": "99", "plan": "reader"})
    _stripe_sends(
        app,
        fake_stripe,
        "/v1/checkout/sessions/cs_sub",
        "checkout.session.completed",
        membership_session(sub),
    )
    _stripe_sends(app, fake_stripe, "/v1/subscriptions/sub_1", "customer.subscription.updated", sub)
    with app.app_context():
        assert db.session.execute(db.select(Subscription.user_id)).scalar_one() == 1


def test_an_older_sighting_of_a_charge_never_lowers_what_was_refunded(
    app: Flask, fake_stripe: responses.RequestsMock
) -> None:
    paid_order(app)
    for refunds in ([refund("re_1", 500), refund("re_2", 300)], [refund("re_1", 500)]):
        charge = refunded_charge(*refunds)
        _stripe_sends(app, fake_stripe, "/v1/charges/ch_1", "charge.refunded", charge)
    order = _order(app)
    assert (order.status, order.amount_refunded) == ("partially_refunded", 800)


def test_a_sync_works_from_the_order_as_it_is_now_not_as_the_session_first_read_it(
    app: Flask, fake_stripe: responses.RequestsMock
) -> None:
    """A page that read the order, then recorded its session, after a refund was recorded
    elsewhere in between: the order stays refunded, never slips back to paid."""
    builders.add_order(app)
    builders.stripe_serves(fake_stripe, "/v1/checkout/sessions/cs_test_1", builders.session())
    with app.app_context():
        shown = db.session.get(Order, 1)  # the page holds the order it read
        assert shown is not None and shown.status == "pending"
        db.session.commit()  # the session keeps what it read (no expiry on commit)
        with db.engine.begin() as elsewhere:
            elsewhere.execute(
                db.update(Order).filter_by(id=1).values(status="refunded", amount_refunded=1299)
            )
        stripe_api.sync_checkout_session(stripe_client(), "cs_test_1")
        db.session.commit()
    order = _order(app)
    assert (order.status, order.amount_refunded, order.amount_paid) == ("refunded", 1299, 1299)


def test_an_early_refund_finds_the_order_its_payment_names_among_others_unpaid(
    app: Flask, fake_stripe: responses.RequestsMock
) -> None:
    builders.add_order(app)
    builders.add_order(app, session_id="cs_test_2")
    charge = builders.charge(
        amount_refunded=1299, refunded=True, payment_intent=intent_naming_order(2)
    )
    _stripe_sends(app, fake_stripe, "/v1/charges/ch_1", "charge.refunded", charge)
    first, second = _order(app, 1), _order(app, 2)
    assert (first.status, first.payment_intent_id) == ("pending", None)
    assert (second.status, second.amount_refunded, second.payment_intent_id) == (
        "refunded",
        1299,
        "pi_1",
    )


def test_a_renewal_of_a_penny_is_a_payment_too(
    app: Flask, fake_stripe: responses.RequestsMock
) -> None:
    builders.add_order(app, kind="membership", session_id="cs_sub")
    renewal = builders.invoice("in_2", billing_reason="subscription_cycle", amount_paid=1)
    builders.stripe_serves(fake_stripe, "/v1/subscriptions/sub_1", builders.subscription())
    _stripe_sends(app, fake_stripe, "/v1/invoices/in_2", "invoice.paid", renewal)
    assert _payments(app) == [("in_2", 1)]


def test_an_order_of_a_penny_is_a_payment_too(
    app: Flask, fake_stripe: responses.RequestsMock
) -> None:
    builders.add_order(app)
    penny = builders.session(amount_total=1)
    _stripe_sends(
        app, fake_stripe, "/v1/checkout/sessions/cs_test_1", "checkout.session.completed", penny
    )
    assert _payments(app) == [("cs_test_1", 1)]


def test_a_membership_sync_works_from_the_row_as_it_is_now_not_as_first_read(
    app: Flask, fake_stripe: responses.RequestsMock
) -> None:
    """Past due since a webhook recorded it, while a page held the row read before: the
    grace period still counts from when Quire first saw it past due."""
    builders.add_order(app, kind="membership", session_id="cs_sub")
    builders.stripe_serves(fake_stripe, "/v1/subscriptions/sub_1", builders.subscription())
    since = from_timestamp(builders.NOW - 86400)
    with app.app_context():
        stripe_api.sync_subscription(stripe_client(), "sub_1")
        db.session.commit()
        shown = db.session.execute(db.select(Subscription)).scalar_one()  # the page's row
        assert shown.past_due_since is None
        with db.engine.begin() as elsewhere:
            elsewhere.execute(
                db.update(Subscription).values(status="past_due", past_due_since=since)
            )
        late = builders.subscription(status="past_due")
        builders.stripe_serves(fake_stripe, "/v1/subscriptions/sub_1", late)
        stripe_api.sync_subscription(stripe_client(), "sub_1")
        db.session.commit()
    with app.app_context():
        row = db.session.execute(db.select(Subscription)).scalar_one()
        assert (row.status, row.past_due_since) == ("past_due", since)
