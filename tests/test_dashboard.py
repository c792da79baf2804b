"""The admin dashboard: every figure of a scripted history, the periods, the charts, and
the ledger and membership amounts the figures are computed from."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event as event_module

from shop import analytics
from shop.extensions import db
from shop.models import MoneyMovement, Order, Subscription, from_timestamp, utcnow
from shop.stripe_api import sync_subscription
from shop.stripe_client import stripe_client
from tests import builders
from tests.stripe_fakes import event, example

#: A fixed "now" for the figures (mid-afternoon, so every happening is well inside a day).
NOW = datetime(2026, 6, 15, 15, 30, tzinfo=UTC)


def day(days_ago: int, now: datetime = NOW) -> date:
    return now.date() - timedelta(days=days_ago)


def end_of(days_ago: int) -> datetime:
    return datetime.combine(day(days_ago - 1), time(), UTC)


@pytest.fixture
def history(app: Flask) -> Flask:
    builders.scripted_history(app, NOW)
    return app


def figures(app: Flask, key: str) -> analytics.Overview:
    with app.app_context():
        return analytics.overview(analytics.period(key, now=NOW))


def test_every_figure_of_thirty_days(history: Flask) -> None:
    """The scripted history's last 30 days, figure by figure."""
    seen = figures(history, "30d")
    assert (seen.period.start, seen.period.end) == (
        datetime.combine(day(29), time(), UTC),
        NOW,
    )
    # Revenue per day, net of refunds, per currency: renewals 25 and 12 days ago, two
    # books 10 days ago, a converted trial 6 days ago, a £5.00 refund 5 days ago.
    gbp = {on: amount for on, amount in seen.revenue["gbp"] if amount}
    assert gbp == {day(25): 900, day(12): 900, day(10): 2598, day(6): 720, day(5): -500}
    assert len(seen.revenue["gbp"]) == 30  # a point for every day, zero or not
    assert {on: amount for on, amount in seen.revenue["usd"] if amount} == {day(3): 2000}
    assert seen.revenue_total == {"gbp": 4618, "usd": 2000}
    # MRR now: £9 + £7.20 (20% off) + £90/12 + £9 recovered + £9 past due; trials and
    # ended memberships left out.
    assert seen.mrr_now == {"gbp": 900 + 720 + 750 + 900 + 900}
    trend = dict(seen.mrr["gbp"])
    assert trend[day(29)] == 900 + 750 + 900 + 900 + 900  # the one that ended 7 days ago
    assert trend[day(6)] == 900 + 720 + 750 + 900 + 900  # the trial converted that day
    assert trend[day(7)] == 900 + 750 + 900 + 900  # ended that noon; still in trial
    assert (seen.members.active, seen.members.trialing) == (3, 1)
    assert (seen.members.past_due, seen.members.cancelling) == (1, 1)
    # Ended in the period: the lapsed trial and the one ended 7 days ago; live at its
    # start: the renewed, yearly, recovered, past-due and ended memberships.
    assert (seen.churn.part, seen.churn.whole) == (2, 5)
    assert (seen.trials.part, seen.trials.whole) == (1, 2)
    assert [(c.kind, c.key, c.opened, c.paid) for c in seen.checkouts] == [
        ("book", "quiet-machines", 1, 1),
        ("book", "the-salt-road", 4, 2),
        ("membership", "reader", 4, 3),
    ]
    assert (seen.failed.orders, seen.failed.invoices, seen.failed.recovered) == (1, 2, 1)
    assert seen.failed.recovered_revenue == {"gbp": 900}


def test_every_figure_of_seven_days_and_of_ninety(history: Flask) -> None:
    week = figures(history, "7d")
    assert {on: amount for on, amount in week.revenue["gbp"] if amount} == {
        day(6): 720,
        day(5): -500,
    }
    assert week.revenue_total == {"gbp": 220, "usd": 2000}
    assert len(week.mrr["gbp"]) == 7
    assert (week.churn.part, week.churn.whole) == (1, 6)
    assert (week.trials.part, week.trials.whole) == (1, 2)
    assert [(c.key, c.opened, c.paid) for c in week.checkouts] == [
        ("quiet-machines", 1, 1),
        ("the-salt-road", 1, 0),
        ("reader", 2, 1),
    ]
    assert (week.failed.orders, week.failed.invoices, week.failed.recovered) == (1, 0, 0)
    assert week.failed.recovered_revenue == {}

    quarter = figures(history, "90d")
    # Add the book 40 days ago and the sign-ups 40 to 70 days ago (£90 for the year).
    assert quarter.revenue_total["gbp"] == 4618 + 1299 + 900 + 900 + 9000 + 900 + 900
    assert dict(quarter.revenue["gbp"])[day(40)] == 1299 + 900
    # None was live 90 days ago (the oldest began 70 days ago): no rate, not a division.
    assert (quarter.churn.part, quarter.churn.whole, quarter.churn.rate) == (2, 0, None)


def test_unpaid_and_incomplete_memberships_add_nothing_to_mrr_or_churn(history: Flask) -> None:
    """Only memberships that pay count in MRR; churn's base is live memberships."""
    before = figures(history, "30d")
    with history.app_context():
        for status in ("unpaid", "incomplete", "paused", "incomplete_expired"):
            db.session.add(
                Subscription(
                    stripe_subscription_id=f"sub_{status}",
                    stripe_customer_id=f"cus_{status}",
                    plan_key="reader",
                    interval="month",
                    status=status,
                    amount=900,
                    currency="gbp",
                    started_at=NOW - timedelta(days=40),
                    ended_at=NOW - timedelta(days=3) if status == "incomplete_expired" else None,
                )
            )
        db.session.commit()
    after = figures(history, "30d")
    assert after.mrr_now == before.mrr_now == {"gbp": 4170}
    assert after.mrr == before.mrr
    assert (after.churn.part, after.churn.whole) == (before.churn.part, before.churn.whole)
    assert (after.churn.part, after.churn.whole) == (2, 5)


def test_twelve_months_have_a_point_a_week(history: Flask) -> None:
    year = figures(history, "12m")
    assert year.period.start == datetime.combine(day(364), time(), UTC)
    assert len(year.revenue["gbp"]) == len(year.mrr["gbp"]) == 53
    assert sum(amount for _, amount in year.revenue["gbp"]) == year.revenue_total["gbp"]
    assert year.mrr_now == {"gbp": 4170}


def test_the_figures_take_the_same_few_queries_however_much_happened(app: Flask) -> None:
    """Grouped in SQL: a shop with twice the history asks the database no more often."""

    def queries() -> int:
        statements: list[str] = []
        with app.app_context():
            engine = db.engine
            listen = lambda *args: statements.append(args[2])  # noqa: E731
            event_module.listen(engine, "before_cursor_execute", listen)
            try:
                analytics.overview(analytics.period("12m", now=NOW))
            finally:
                event_module.remove(engine, "before_cursor_execute", listen)
        return len(statements)

    empty = queries()
    builders.scripted_history(app, NOW)
    once = queries()
    builders.scripted_history(app, NOW - timedelta(days=100))
    assert empty == once == queries() <= 12


@pytest.mark.parametrize("key", [None, "", "1y", "30", "<script>"])
def test_an_unknown_period_is_thirty_days(key: str | None) -> None:
    assert analytics.period(key, now=NOW).key == "30d"


@pytest.fixture
def admin(
    client: FlaskClient, add_user: Callable[..., int], sign_in: Callable[..., None]
) -> FlaskClient:
    add_user("owner@example.com", admin=True)
    sign_in("owner@example.com")
    return client


def test_the_dashboard_shows_the_period_s_figures_with_their_definitions(
    app: Flask, admin: FlaskClient
) -> None:
    builders.scripted_history(app, utcnow())
    page = admin.get("/admin/").text
    assert re.search(r'class="revenue" data-currency="gbp">£46.18<', page)
    assert re.search(r'class="revenue" data-currency="usd">\$20.00<', page)
    assert re.search(r'class="mrr" data-currency="gbp">£41.70 a month now<', page)
    assert re.search(r'data-status="cancelling">1<', page)
    assert re.search(r'class="churn">2 of 5 \(40.0%\)<', page)
    assert re.search(r'class="trials">1 of 2 \(50.0%\)<', page)
    assert re.search(r'data-product="book:the-salt-road">.*?>4<.*?>2<.*?>50%<', page)
    assert re.search(r'class="recovered">1 invoice, <span data-currency="gbp">£9.00<', page)
    assert "÷ memberships live at its start" in page  # each figure says what it counts
    assert 'aria-current="page">30 days<' in page

    week = admin.get("/admin/?period=7d").text
    assert re.search(r'class="revenue" data-currency="gbp">£2.20<', week)
    assert re.search(r'class="churn">1 of 6 ', week)
    assert 'aria-current="page">7 days<' in week


@pytest.mark.parametrize("query", ["?period=bogus", "?period=", "?period=7d&period=12m", ""])
def test_a_nonsense_period_shows_thirty_days(admin: FlaskClient, query: str) -> None:
    page = admin.get(f"/admin/{query}")
    assert page.status_code == 200
    expected = "7 days" if "7d&" in query else "30 days"
    assert f'aria-current="page">{expected}<' in page.text


def test_the_revenue_chart_has_a_bar_per_day_with_revenue(app: Flask, admin: FlaskClient) -> None:
    now = utcnow()
    builders.scripted_history(app, now)
    page = admin.get("/admin/").text
    charts = re.findall(r"<svg .*?</svg>", page, re.S)
    gbp = next(chart for chart in charts if "Revenue per day in GBP" in chart)
    bars = dict(
        re.findall(r'<rect class="bar[^"]*" data-day="([\d-]+)" data-amount="(-?\d+)"', gbp)
    )
    assert bars == {
        day(25, now).isoformat(): "900",
        day(12, now).isoformat(): "900",
        day(10, now).isoformat(): "2598",
        day(6, now).isoformat(): "720",
        day(5, now).isoformat(): "-500",
    }
    assert '<rect class="bar negative"' in gbp  # the refund outweighed that day
    assert "<title>Revenue per day in GBP, net of refunds, last 30 days</title>" in gbp
    assert "£25.98" in gbp  # the axis is labelled in money
    assert "style=" not in gbp  # the CSP forbids inline styles
    mrr = next(chart for chart in charts if "Monthly recurring revenue in GBP" in chart)
    assert mrr.count("<circle") == 30
    # The figures, for those who cannot see the chart.
    assert (
        f'<tr data-day="{day(5, now).isoformat()}"><td>{day(5, now).isoformat()}</td><td>-£5.00'
        in page
    )


def test_a_shop_with_no_sales_says_so(admin: FlaskClient) -> None:
    page = admin.get("/admin/").text
    assert "No sales yet." in page and "No paying memberships." in page
    assert "<svg" not in page


def test_the_dashboard_is_for_admins_only(
    app: Flask, client: FlaskClient, add_user: Callable[..., int], sign_in: Callable[..., None]
) -> None:
    assert client.get("/admin/?period=7d").status_code == 302  # to the sign-in page
    add_user()
    sign_in()
    assert client.get("/admin/?period=7d").status_code == 403


# --- The ledger, written where Quire records payments and refunds -----------------------


def expanded(url: str | None) -> list[str]:
    """What a GET asked Stripe to expand."""
    query = parse_qs(urlparse(url or "").query)
    return [value for key, values in query.items() if key.startswith("expand") for value in values]


def movements(app: Flask) -> list[tuple[str, str, int, datetime]]:
    with app.app_context():
        rows = db.session.execute(db.select(MoneyMovement).order_by(MoneyMovement.id)).scalars()
        return [(row.kind, row.stripe_id, row.amount, row.occurred_at) for row in rows]


def test_a_paid_order_is_one_payment_however_often_it_is_recorded(
    app: Flask,
    client: FlaskClient,
    fake_stripe: responses.RequestsMock,
    post_event: Callable[..., Any],
) -> None:
    order_id = builders.add_order(app)
    paid = builders.session(
        order_id=order_id,
        payment_intent=example("payment_intent", id="pi_1", status="succeeded", created=1780000000),
    )
    builders.stripe_serves(fake_stripe, "/v1/checkout/sessions/cs_test_1", paid)
    post_event(event("checkout.session.completed", paid))
    post_event(event("checkout.session.completed", paid))  # a second event, same payment
    assert movements(app) == [("payment", "cs_test_1", 1299, from_timestamp(1780000000))]


def test_renewals_are_payments_and_a_first_invoice_is_its_order_s(
    app: Flask,
    client: FlaskClient,
    fake_stripe: responses.RequestsMock,
    post_event: Callable[..., Any],
) -> None:
    builders.add_order(app, kind="membership", session_id="cs_sub")
    builders.stripe_serves(fake_stripe, "/v1/subscriptions/sub_1", builders.subscription())
    first = builders.invoice()  # subscription_create, paid with the order
    builders.stripe_serves(fake_stripe, "/v1/invoices/in_1", first)
    post_event(event("invoice.paid", first))
    assert movements(app) == []
    renewal = builders.invoice(
        "in_2",
        billing_reason="subscription_cycle",
        amount_paid=720,
        created=1780000000,
        status_transitions={"paid_at": 1780003600, "finalized_at": 1780000000},
    )
    builders.stripe_serves(fake_stripe, "/v1/invoices/in_2", renewal)
    post_event(event("invoice.paid", renewal))
    post_event(event("invoice.paid", renewal))
    assert movements(app) == [("payment", "in_2", 720, from_timestamp(1780003600))]


def refund(refund_id: str, amount: int, created: int, status: str = "succeeded") -> dict[str, Any]:
    return example(
        "refund", id=refund_id, amount=amount, created=created, currency="gbp", status=status
    )


def test_each_refund_is_a_movement_on_its_own_day(
    app: Flask,
    client: FlaskClient,
    paid_session: dict[str, Any],
    fake_stripe: responses.RequestsMock,
    post_event: Callable[..., Any],
) -> None:
    post_event(event("checkout.session.completed", paid_session))
    with app.app_context():  # what the migration wrote for refunds made before the ledger
        db.session.add(
            MoneyMovement(
                kind="refund",
                stripe_id="backfill-refunds-order-1",
                order_id=1,
                amount=300,
                currency="gbp",
                occurred_at=utcnow(),
            )
        )
        db.session.commit()
    refunds = [
        refund("re_1", 300, 1780000000),
        refund("re_2", 200, 1780086400),
        refund("re_3", 100, 1780090000, status="failed"),
    ]
    charge = builders.charge(
        amount_refunded=500,
        refunds={"object": "list", "url": "/v1/refunds", "has_more": False, "data": refunds},
    )
    builders.stripe_serves(fake_stripe, "/v1/charges/ch_1", charge)
    post_event(event("charge.refunded", charge))
    post_event(event("charge.refunded", charge))
    assert [m for m in movements(app) if m[0] == "refund"] == [
        ("refund", "re_1", 300, from_timestamp(1780000000)),
        ("refund", "re_2", 200, from_timestamp(1780086400)),
    ]
    retrieve = next(c.request.url for c in fake_stripe.calls if "/v1/charges/ch_1" in c.request.url)
    assert "refunds" in expanded(retrieve)


def test_a_refund_of_a_renewal_s_charge_lowers_that_day_s_net_revenue(
    app: Flask,
    client: FlaskClient,
    fake_stripe: responses.RequestsMock,
    post_event: Callable[..., Any],
) -> None:
    """A renewal's charge pays an invoice, not an order: its refund is still money back."""
    builders.add_order(app, kind="membership", session_id="cs_sub")
    builders.stripe_serves(fake_stripe, "/v1/subscriptions/sub_1", builders.subscription())
    renewal = builders.invoice(
        "in_2",
        billing_reason="subscription_cycle",
        amount_paid=900,
        created=1780000000,
        status_transitions={"paid_at": 1780003600, "finalized_at": 1780000000},
    )
    builders.stripe_serves(fake_stripe, "/v1/invoices/in_2", renewal)
    post_event(event("invoice.paid", renewal))
    charge = builders.charge(
        "ch_renewal",
        payment_intent="pi_renewal",
        invoice="in_2",
        amount=900,
        amount_refunded=300,
        refunds={
            "object": "list",
            "url": "/v1/refunds",
            "has_more": False,
            "data": [refund("re_renewal", 300, 1780007200)],
        },
    )
    builders.stripe_serves(fake_stripe, "/v1/charges/ch_renewal", charge)
    post_event(event("charge.refunded", charge))
    post_event(event("charge.refunded", charge))  # recorded once
    assert movements(app) == [
        ("payment", "in_2", 900, from_timestamp(1780003600)),
        ("refund", "re_renewal", 300, from_timestamp(1780007200)),
    ]
    paid_on = from_timestamp(1780003600)
    assert paid_on is not None
    start = datetime.combine(paid_on.date(), time(), UTC)
    with app.app_context():
        row = db.session.execute(
            db.select(MoneyMovement).filter_by(stripe_id="re_renewal")
        ).scalar_one()
        assert (row.order_id, row.stripe_invoice_id, row.currency) == (None, "in_2", "gbp")
        revenue = analytics.revenue_by_day(start, start + timedelta(days=1))
    assert revenue == {"gbp": {paid_on.date(): 600}}


# --- What a membership charges, from the subscription ---------------------------------


def discount(coupon: dict[str, Any], end: int | None = None) -> dict[str, Any]:
    return example(
        "discount", id="di_1", end=end, source={"type": "coupon", "coupon": coupon}, start=0
    )


@pytest.mark.parametrize(
    ("quantity", "discounts", "amount"),
    [
        (1, [], 900),
        (2, [], 1800),
        (1, [discount(example("coupon", percent_off=20, amount_off=None))], 720),
        (1, [discount(example("coupon", percent_off=None, amount_off=150, currency="gbp"))], 750),
        (1, [discount(example("coupon", percent_off=50, amount_off=None), end=1000)], 900),
    ],
)
def test_a_membership_records_what_it_charges_after_discounts(
    app: Flask,
    fake_stripe: responses.RequestsMock,
    quantity: int,
    discounts: list[dict[str, Any]],
    amount: int,
) -> None:
    """An ended discount no longer counts; quantities multiply the price."""
    sub = builders.subscription(
        discounts=discounts, start_date=1780000000, ended_at=1790000000, status="canceled"
    )
    sub["items"]["data"][0]["quantity"] = quantity
    builders.stripe_serves(fake_stripe, "/v1/subscriptions/sub_1", sub)
    with app.app_context():
        sync_subscription(stripe_client(), "sub_1")
        db.session.commit()
        row = db.session.execute(db.select(Subscription)).scalar_one()
        assert (row.amount, row.currency, row.interval) == (amount, "gbp", "month")
        assert (row.started_at, row.ended_at) == (
            from_timestamp(1780000000),
            from_timestamp(1790000000),
        )
    # Asked for, or the discount's coupon would be only an id.
    assert expanded(fake_stripe.calls[-1].request.url) == ["discounts.source.coupon"]


def test_a_discount_known_only_by_its_id_leaves_the_recorded_amount(
    app: Flask, fake_stripe: responses.RequestsMock
) -> None:
    """Without its coupon Quire cannot know the discount, so it keeps what it knew."""
    coupon = example("coupon", percent_off=20, amount_off=None)
    for discounts, amount in (([discount(coupon)], 720), (["di_1"], 720)):
        sub = builders.subscription(discounts=discounts)
        builders.stripe_serves(fake_stripe, "/v1/subscriptions/sub_1", sub)
        with app.app_context():
            sync_subscription(stripe_client(), "sub_1")
            db.session.commit()
            assert db.session.execute(db.select(Subscription.amount)).scalar_one() == amount


def test_the_latest_orders_leave_out_abandoned_ones_and_stay_a_few(
    app: Flask, admin: FlaskClient
) -> None:
    """The dashboard once listed the latest 50 orders, mostly abandoned "Pending" ones."""
    paid = builders.add_order(app, session_id="cs_paid")
    abandoned = builders.add_order(app, session_id="cs_gone")
    fresh = builders.add_order(app, session_id="cs_fresh")  # pending, placed just now
    with app.app_context():
        for order in db.session.execute(db.select(Order)).scalars():
            if order.id == paid:
                order.status, order.amount_paid = "paid", 1299
            elif order.id == abandoned:
                order.created_at = utcnow() - timedelta(days=2)
        for _ in range(30):
            db.session.add(
                Order(user_id=1, kind="book", currency="gbp", amount_total=100, status="expired")
            )
        db.session.commit()
    page = admin.get("/admin/").text
    latest = page[page.index("<h2>Latest orders</h2>") :]
    shown = set(map(int, re.findall(r'href="/admin/orders/(\d+)"', latest)))
    assert {paid, fresh} <= shown
    assert abandoned not in shown
    assert len(shown) == 2  # the 30 expired ones are abandoned too
    assert 'href="/admin/orders"' in latest
