"""The shop owner's membership and invoice commands, with Stripe faked over HTTP:
`subscriptions cancel [--now]`, `subscriptions change-plan`, `subscriptions list` and
`invoices retry`. Each says what it did in one line, does nothing more when run again
(and says so), refuses bad input with exit status 1 and a line naming what to do, and
records Stripe's answer so the member's account page follows at once.

On SQLite, and on PostgreSQL when TEST_DATABASE_URL names one (as CI does).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from shop.extensions import db
from shop.models import Invoice, Mail, Subscription
from tests import builders, helpers
from tests.stripe_fakes import API, example, listing

PRICES = {
    "plan:reader:month": 900,
    "plan:reader:year": 9000,
    "plan:patron:month": 2500,
    "plan:patron:year": 25000,
}
PERIOD_END = builders.NOW + 12 * 86_400


def price(lookup_key: str) -> dict[str, Any]:
    return example(
        "price",
        id=f"price_{lookup_key.replace(':', '_')}",
        lookup_key=lookup_key,
        unit_amount=PRICES[lookup_key],
        currency="gbp",
        active=True,
        recurring={"interval": lookup_key.rsplit(":", 1)[-1], "interval_count": 1},
    )


class FakeMembership:
    """One Stripe subscription (`sub_1`, Reader monthly) and its renewal invoice
    (`in_renewal`), answering retrieve, update, cancel and pay as Stripe does; every
    write is kept in `writes` as (method, path, params)."""

    def __init__(self, mock: responses.RequestsMock) -> None:
        self.sub = builders.subscription(period_end=PERIOD_END)
        self.sub["items"]["data"][0]["price"] = price("plan:reader:month")
        self.invoice = builders.invoice(
            "in_renewal",
            status="open",
            amount_paid=0,
            attempt_count=1,
            billing_reason="subscription_cycle",
        )
        self.card_works = True
        self.settles_at_once = True  # False: a bank debit, still clearing after the attempt
        self.writes: list[tuple[str, str, dict[str, str]]] = []
        self.keys: list[str | None] = []
        sub_path = re.compile(API + r"/v1/subscriptions/sub_1(\?.*)?$")
        mock.add_callback("GET", sub_path, callback=self.get_sub)
        mock.add_callback("POST", sub_path, callback=self.update_sub)
        mock.add_callback("DELETE", sub_path, callback=self.cancel_sub)
        mock.add_callback("GET", re.compile(API + r"/v1/prices\?.*"), callback=self.prices)
        mock.add_callback(
            "GET", re.compile(API + r"/v1/invoices/in_renewal(\?.*)?$"), callback=self.get_invoice
        )
        mock.add_callback(
            "GET",
            re.compile(API + r"/v1/invoices/in_missing(\?.*)?$"),
            callback=lambda request: self.error(404, "No such invoice", "resource_missing"),
        )
        mock.add_callback("POST", API + "/v1/invoices/in_renewal/pay", callback=self.pay)

    @staticmethod
    def answer(body: dict[str, Any]) -> tuple[int, dict[str, str], str]:
        return 200, {}, json.dumps(body)

    @staticmethod
    def error(
        status: int, message: str, code: str, kind: str = "invalid_request_error"
    ) -> tuple[int, dict[str, str], str]:
        body = {"error": {"type": kind, "code": code, "message": message}}
        if kind == "card_error":
            body["error"]["decline_code"] = "generic_decline"
        return status, {}, json.dumps(body)

    def record(self, request: Any) -> dict[str, str]:
        raw = request.body if request.method == "POST" else urlsplit(request.url).query
        raw = raw.decode() if isinstance(raw, bytes) else raw or ""
        params = {k: v[0] for k, v in parse_qs(raw).items()}
        self.writes.append((request.method, urlsplit(request.url).path, params))
        self.keys.append(request.headers.get("Idempotency-Key"))
        return params

    def get_sub(self, request: Any) -> tuple[int, dict[str, str], str]:
        return self.answer(self.sub)

    def update_sub(self, request: Any) -> tuple[int, dict[str, str], str]:
        params = self.record(request)
        if self.sub["status"] == "canceled":
            return self.error(400, "A canceled subscription can only update metadata.", "")
        if "cancel_at_period_end" in params:
            self.sub["cancel_at_period_end"] = params["cancel_at_period_end"] == "true"
        if "items[0][price]" in params:
            lookup_key = params["items[0][price]"].removeprefix("price_").replace("_", ":")
            self.sub["items"]["data"][0]["price"] = price(lookup_key)
            self.sub["metadata"]["plan"] = params["metadata[plan]"]
        return self.answer(self.sub)

    def cancel_sub(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.record(request)
        if self.sub["status"] == "canceled":
            return self.error(400, "This subscription is already canceled.", "")
        self.sub.update(status="canceled", canceled_at=builders.NOW, ended_at=builders.NOW)
        return self.answer(self.sub)

    def prices(self, request: Any) -> tuple[int, dict[str, str], str]:
        query = parse_qs(request.url.split("?", 1)[1])
        wanted = [v for k, vs in query.items() if k.startswith("lookup_keys") for v in vs]
        return self.answer(listing("/v1/prices", [price(key) for key in wanted]))

    def get_invoice(self, request: Any) -> tuple[int, dict[str, str], str]:
        return self.answer(self.invoice)

    def pay(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.record(request)
        if self.invoice["status"] == "paid":
            return self.error(400, "Invoice is already paid", "invoice_unexpected_state")
        self.invoice["attempt_count"] += 1
        if not self.card_works:
            return self.error(402, "Your card was declined.", "card_declined", "card_error")
        if not self.settles_at_once:
            return self.answer(self.invoice)
        self.invoice.update(status="paid", amount_paid=self.invoice["amount_due"])
        self.sub["status"] = "active"
        return self.answer(self.invoice)


@pytest.fixture
def stripe_membership(fake_stripe: responses.RequestsMock) -> FakeMembership:
    return FakeMembership(fake_stripe)


def member(app: Flask, **fields: Any) -> None:
    """reader@example.com holds a live Reader membership, billed monthly (`sub_1`)."""
    helpers.add_user(app)
    with app.app_context():
        values: dict[str, Any] = {
            "stripe_subscription_id": "sub_1",
            "user_id": 1,
            "stripe_customer_id": "cus_reader",
            "plan_key": "reader",
            "interval": "month",
            "status": "active",
            "current_period_end": datetime.fromtimestamp(PERIOD_END, UTC),
        }
        values.update(fields)
        db.session.add(Subscription(**values))
        db.session.commit()


def membership_row(app: Flask) -> Subscription:
    with app.app_context():
        row = db.session.execute(db.select(Subscription)).scalar_one()
        db.session.expunge(row)
        return row


def account_page(app: Flask) -> str:
    client: FlaskClient = app.test_client()
    helpers.sign_in(client)
    return client.get("/account").text


def period_end_day() -> str:
    return datetime.fromtimestamp(PERIOD_END, UTC).strftime("%-d %b %Y")


# --- subscriptions cancel --------------------------------------------------------------


def test_cancel_sets_the_membership_to_end_at_the_period_end_and_says_when(
    app: Flask, runner: FlaskCliRunner, stripe_membership: FakeMembership
) -> None:
    member(app)

    done = runner.invoke(args=["subscriptions", "cancel", "Reader@Example.com"])

    assert done.exit_code == 0, done.output
    assert done.output == (
        f"reader@example.com's Reader membership will end on {period_end_day()}; "
        "they keep it until then and are not charged again.\n"
    )
    ((method, path, params),) = stripe_membership.writes
    assert (method, path, params["cancel_at_period_end"]) == (
        "POST",
        "/v1/subscriptions/sub_1",
        "true",
    )
    row = membership_row(app)
    assert (row.status, row.cancel_at_period_end) == ("active", True)
    page = account_page(app)
    assert "Ending" in page and f"Ends {period_end_day()}" in page


def test_cancel_run_again_says_already_cancelling_and_asks_stripe_nothing_more(
    app: Flask, runner: FlaskCliRunner, stripe_membership: FakeMembership
) -> None:
    member(app)
    assert runner.invoke(args=["subscriptions", "cancel", "reader@example.com"]).exit_code == 0

    again = runner.invoke(args=["subscriptions", "cancel", "reader@example.com"])

    assert again.exit_code == 0
    assert again.output == (
        f"reader@example.com's Reader membership is already cancelling: it ends on "
        f"{period_end_day()}.\n"
    )
    assert len(stripe_membership.writes) == 1


def test_cancel_now_ends_the_membership_at_once_without_credit_or_final_invoice(
    app: Flask, runner: FlaskCliRunner, stripe_membership: FakeMembership
) -> None:
    member(app)

    done = runner.invoke(args=["subscriptions", "cancel", "reader@example.com", "--now"])

    assert done.exit_code == 0, done.output
    assert "Reader membership is cancelled: it ended now" in done.output
    ((method, path, params),) = stripe_membership.writes
    assert (method, path) == ("DELETE", "/v1/subscriptions/sub_1")
    assert (params["prorate"], params["invoice_now"]) == ("false", "false")
    assert membership_row(app).status == "canceled"
    assert "Ended" in account_page(app)
    with app.app_context():  # the member is told, once
        (ended,) = db.session.execute(db.select(Mail).filter_by(kind="membership_ended")).scalars()
        assert ended.to_address == "reader@example.com"

    again = runner.invoke(args=["subscriptions", "cancel", "reader@example.com", "--now"])

    assert again.exit_code == 0
    assert "Reader membership is already cancelled (ended " in again.output
    assert len(stripe_membership.writes) == 1


def test_cancel_now_also_ends_a_membership_already_cancelling(
    app: Flask, runner: FlaskCliRunner, stripe_membership: FakeMembership
) -> None:
    member(app, cancel_at_period_end=True)
    stripe_membership.sub["cancel_at_period_end"] = True

    done = runner.invoke(args=["subscriptions", "cancel", "reader@example.com", "--now"])

    assert done.exit_code == 0 and "it ended now" in done.output
    assert membership_row(app).status == "canceled"


def test_cancel_follows_stripe_when_quire_had_not_heard_of_a_cancellation(
    app: Flask, runner: FlaskCliRunner, stripe_membership: FakeMembership
) -> None:
    """The member cancelled in Stripe's billing portal and the webhook is late: the
    command reads Stripe first, says so, and records it."""
    member(app)
    stripe_membership.sub["cancel_at_period_end"] = True

    done = runner.invoke(args=["subscriptions", "cancel", "reader@example.com"])

    assert done.exit_code == 0 and "already cancelling" in done.output
    assert not stripe_membership.writes
    assert membership_row(app).cancel_at_period_end is True


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["nobody@example.com"], "No account has the email 'nobody@example.com'"),
        (["reader@example.com"], "reader@example.com has no membership"),
    ],
)
def test_cancel_refuses_an_unknown_email_or_a_shopper_without_membership(
    app: Flask,
    runner: FlaskCliRunner,
    fake_stripe: responses.RequestsMock,
    args: list[str],
    said: str,
) -> None:
    helpers.add_user(app)

    refused = runner.invoke(args=["subscriptions", "cancel", *args])

    assert refused.exit_code == 1
    assert said in refused.output
    assert not fake_stripe.calls


def test_cancel_says_what_stripe_refused_and_changes_nothing(
    app: Flask, runner: FlaskCliRunner, fake_stripe: responses.RequestsMock
) -> None:
    member(app)
    builders.stripe_serves(fake_stripe, "/v1/subscriptions/sub_1", builders.subscription())
    fake_stripe.add(
        "POST",
        API + "/v1/subscriptions/sub_1",
        status=400,
        json={"error": {"type": "invalid_request_error", "message": "Something is off."}},
    )

    refused = runner.invoke(args=["subscriptions", "cancel", "reader@example.com"])

    assert refused.exit_code == 1
    assert "Stripe refused to cancel the membership: Something is off." in refused.output
    assert "Nothing changed; try again later." in refused.output
    assert membership_row(app).cancel_at_period_end is False


# --- subscriptions change-plan ---------------------------------------------------------


def test_change_plan_moves_the_item_to_the_catalogue_price_with_prorations(
    app: Flask, runner: FlaskCliRunner, stripe_membership: FakeMembership
) -> None:
    member(app)

    done = runner.invoke(args=["subscriptions", "change-plan", "reader@example.com", "patron"])

    assert done.exit_code == 0, done.output
    assert done.output == (
        "reader@example.com is now on Patron, billed every month: £25.00 a month, "
        "the difference prorated on the next invoice.\n"
    )
    ((method, path, params),) = stripe_membership.writes
    assert (method, path) == ("POST", "/v1/subscriptions/sub_1")
    assert params["items[0][id]"] == "si_1"
    assert params["items[0][price]"] == "price_plan_patron_month"
    assert params["proration_behavior"] == "create_prorations"
    row = membership_row(app)
    assert (row.plan_key, row.interval) == ("patron", "month")
    assert "Patron" in account_page(app)

    again = runner.invoke(args=["subscriptions", "change-plan", "reader@example.com", "patron"])

    assert again.exit_code == 0
    assert again.output == "reader@example.com is already on Patron, billed every month.\n"
    assert len(stripe_membership.writes) == 1


def test_change_plan_takes_another_interval_and_resumes_a_cancelling_membership(
    app: Flask, runner: FlaskCliRunner, stripe_membership: FakeMembership
) -> None:
    member(app, cancel_at_period_end=True)
    stripe_membership.sub["cancel_at_period_end"] = True

    done = runner.invoke(
        args=["subscriptions", "change-plan", "reader@example.com", "reader", "--interval", "year"]
    )

    assert done.exit_code == 0, done.output
    assert "now on Reader, billed every year (no longer ending at the period end)" in done.output
    assert "£90.00 a year" in done.output
    (_, _, params) = stripe_membership.writes[0]
    assert params["items[0][price]"] == "price_plan_reader_year"
    assert params["cancel_at_period_end"] == "false"
    row = membership_row(app)
    assert (row.interval, row.cancel_at_period_end) == ("year", False)


def test_switching_back_and_forth_is_never_answered_with_an_old_switch_s_replay(
    app: Flask, runner: FlaskCliRunner, stripe_membership: FakeMembership
) -> None:
    """Stripe replays a request whose idempotency key it saw in the last 24 hours: the
    third switch (to Patron again) must not reuse the first one's key."""
    member(app)
    for plan in ("patron", "reader", "patron"):
        done = runner.invoke(args=["subscriptions", "change-plan", "reader@example.com", plan])
        assert done.exit_code == 0, done.output

    assert len(stripe_membership.keys) == len(set(stripe_membership.keys)) == 3
    assert membership_row(app).plan_key == "patron"


def test_change_plan_refuses_an_unknown_plan_naming_the_catalogue_s_plans(
    app: Flask, runner: FlaskCliRunner, fake_stripe: responses.RequestsMock
) -> None:
    member(app)

    refused = runner.invoke(args=["subscriptions", "change-plan", "reader@example.com", "gold"])

    assert refused.exit_code == 1
    assert "The catalogue has no plan 'gold'. Its plans: reader (Reader), patron (Patron)." in (
        refused.output
    )
    assert not fake_stripe.calls


def test_change_plan_refuses_a_member_whose_membership_has_ended(
    app: Flask, runner: FlaskCliRunner, stripe_membership: FakeMembership
) -> None:
    member(app)
    stripe_membership.sub["status"] = "canceled"  # ended at Stripe; Quire not told yet

    refused = runner.invoke(args=["subscriptions", "change-plan", "reader@example.com", "patron"])

    assert refused.exit_code == 1
    assert "reader@example.com has no live membership to change" in refused.output
    assert not stripe_membership.writes
    assert membership_row(app).status == "canceled"


# --- subscriptions list ----------------------------------------------------------------


def test_list_shows_each_membership_with_its_email_plan_status_and_period_end(
    app: Flask, runner: FlaskCliRunner
) -> None:
    member(app, cancel_at_period_end=True)
    helpers.add_user(app, "patron@example.com")
    with app.app_context():
        db.session.add(
            Subscription(
                stripe_subscription_id="sub_2",
                user_id=2,
                stripe_customer_id="cus_patron",
                plan_key="patron",
                interval="year",
                status="past_due",
                current_period_end=datetime.now(UTC) + timedelta(days=300),
            )
        )
        db.session.commit()

    listed = runner.invoke(args=["subscriptions", "list"])
    overdue = runner.invoke(args=["subscriptions", "list", "--status", "past_due"])
    none = runner.invoke(args=["subscriptions", "list", "--status", "canceled"])

    lines = listed.output.splitlines()
    assert lines[0].split() == ["EMAIL", "PLAN", "STATUS", "PERIOD", "END"]
    assert lines[1].split()[:3] == ["patron@example.com", "patron/year", "past_due"]
    assert lines[2].split()[:4] == ["reader@example.com", "reader/month", "active", "(ending)"]
    assert period_end_day() in lines[2]
    assert [line.split()[0] for line in overdue.output.splitlines()[1:]] == ["patron@example.com"]
    assert none.output == "No memberships with status canceled.\n"


# --- invoices retry --------------------------------------------------------------------


def failed_renewal(app: Flask) -> int:
    """Quire knows the renewal invoice failed: the membership is past due."""
    member(app, status="past_due", past_due_since=datetime.now(UTC))
    with app.app_context():
        row = Invoice(
            stripe_invoice_id="in_renewal",
            stripe_subscription_id="sub_1",
            stripe_customer_id="cus_reader",
            status="open",
            billing_reason="subscription_cycle",
            currency="gbp",
            amount_due=900,
            amount_paid=0,
            attempt_count=1,
        )
        db.session.add(row)
        db.session.commit()
        return row.id


def invoice_row(app: Flask) -> Invoice:
    with app.app_context():
        row = db.session.execute(db.select(Invoice)).scalar_one()
        db.session.expunge(row)
        return row


def test_retry_pays_an_open_invoice_and_the_membership_is_active_again(
    app: Flask, runner: FlaskCliRunner, stripe_membership: FakeMembership
) -> None:
    failed_renewal(app)
    stripe_membership.sub["status"] = "past_due"

    done = runner.invoke(args=["invoices", "retry", "in_renewal"])

    assert done.exit_code == 0, done.output
    assert done.output == "Invoice in_renewal is paid: £9.00.\n"
    ((method, path, _),) = stripe_membership.writes
    assert (method, path) == ("POST", "/v1/invoices/in_renewal/pay")
    row = invoice_row(app)
    assert (row.status, row.amount_paid) == ("paid", 900)
    assert membership_row(app).status == "active"
    page = account_page(app)
    assert "Payment overdue" not in page and f"Renews {period_end_day()}" in page

    again = runner.invoke(args=["invoices", "retry", "in_renewal"])

    assert again.exit_code == 0
    assert again.output == "Invoice in_renewal is already paid (£9.00).\n"
    assert len(stripe_membership.writes) == 1


def test_retry_takes_quire_s_invoice_number(
    app: Flask, runner: FlaskCliRunner, stripe_membership: FakeMembership
) -> None:
    number = failed_renewal(app)

    done = runner.invoke(args=["invoices", "retry", str(number)])

    assert done.exit_code == 0 and done.output == "Invoice in_renewal is paid: £9.00.\n"


def test_retry_with_a_declined_card_says_so_with_stripe_s_message_and_exits_1(
    app: Flask, runner: FlaskCliRunner, stripe_membership: FakeMembership
) -> None:
    failed_renewal(app)
    stripe_membership.sub["status"] = "past_due"
    stripe_membership.card_works = False

    refused = runner.invoke(args=["invoices", "retry", "in_renewal"])

    assert refused.exit_code == 1
    assert "The card was declined for invoice in_renewal (£9.00): Your card was declined." in (
        refused.output
    )
    assert "must update their card" in refused.output
    row = invoice_row(app)
    assert (row.status, row.attempt_count) == ("open", 2)  # the attempt is recorded
    assert membership_row(app).status == "past_due"
    told = helpers.mails_to(app, "reader@example.com", "payment_failed")
    assert "payment-failed:in_renewal:2" in [mail.key for mail in told]

    stripe_membership.card_works = True  # the member fixed their card
    paid = runner.invoke(args=["invoices", "retry", "in_renewal"])

    assert paid.exit_code == 0 and paid.output == "Invoice in_renewal is paid: £9.00.\n"
    keys = stripe_membership.keys
    assert len(keys) == len(set(keys)) == 2  # a new attempt is a new request, not a replay


def test_retry_of_a_payment_still_clearing_does_not_claim_it_is_paid(
    app: Flask, runner: FlaskCliRunner, stripe_membership: FakeMembership
) -> None:
    failed_renewal(app)
    stripe_membership.settles_at_once = False

    done = runner.invoke(args=["invoices", "retry", "in_renewal"])

    assert done.exit_code == 0
    assert "payment of £9.00 started, Stripe has the invoice open until it clears" in done.output
    assert invoice_row(app).status == "open"


@pytest.mark.parametrize(
    ("reference", "said"),
    [
        ("in_missing", "Stripe has no invoice in_missing."),
        ("42", "Quire has no invoice number 42."),
        ("last-one", "'last-one' is not an invoice: give Stripe's id (in_…)"),
    ],
)
def test_retry_refuses_an_invoice_that_does_not_exist(
    app: Flask,
    runner: FlaskCliRunner,
    stripe_membership: FakeMembership,
    reference: str,
    said: str,
) -> None:
    refused = runner.invoke(args=["invoices", "retry", reference])

    assert refused.exit_code == 1
    assert said in refused.output
    assert not stripe_membership.writes


def test_retry_refuses_an_invoice_that_is_not_open(
    app: Flask, runner: FlaskCliRunner, stripe_membership: FakeMembership
) -> None:
    failed_renewal(app)
    stripe_membership.invoice["status"] = "void"

    refused = runner.invoke(args=["invoices", "retry", "in_renewal"])

    assert refused.exit_code == 1
    assert "Invoice in_renewal is void: only an open invoice can be paid." in refused.output
    assert not stripe_membership.writes
    assert invoice_row(app).status == "void"
