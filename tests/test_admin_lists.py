"""The admin's lists of orders, members and customers: search, filters, pages, CSV, detail
pages that link to each other and to Stripe, and the dashboard's failed payments."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from shop.admin_lists import PAGE_SIZE, safe_cell
from shop.extensions import db
from shop.models import Customer, Invoice, Order, OrderItem, Subscription, User
from tests import helpers
from tests.helpers import refund_form
from tests.stripe_fakes import API, example

NOW = datetime.now(UTC)
DASHBOARD = "https://dashboard.stripe.com/test"


def add_order(
    app: Flask,
    email: str = "reader@example.com",
    *,
    status: str = "paid",
    placed: datetime | None = None,
    item: str = "the-salt-road",
    amount: int = 1299,
    currency: str = "gbp",
    **fields: Any,
) -> int:
    """An order of one `item` by `email` (the account made if new), placed at `placed`."""
    with app.app_context():
        user = db.session.execute(db.select(User).filter_by(email=email)).scalar_one_or_none()
        if user is None:
            user = User(email=email, password_hash="x")
            db.session.add(user)
        order = Order(
            user=user,
            kind="membership" if item in ("reader", "patron") else "book",
            currency=currency,
            amount_total=amount,
            status=status,
            amount_paid=amount if status in ("paid", "partially_refunded", "refunded") else None,
            created_at=placed or NOW,
            **fields,
        )
        order.items.append(
            OrderItem(
                item_key=item,
                lookup_key=f"book:{item}",
                description=item.replace("-", " ").title(),
                unit_amount=amount,
                quantity=1,
            )
        )
        db.session.add(order)
        db.session.commit()
        return order.id


def add_member(
    app: Flask,
    email: str,
    sub_id: str,
    customer_id: str,
    *,
    status: str = "active",
    plan: str = "reader",
    cancelling: bool = False,
) -> int:
    """A membership of `email` (with its Stripe customer) and its first, paid order."""
    add_order(
        app,
        email,
        item=plan,
        amount=900,
        stripe_subscription_id=sub_id,
        stripe_customer_id=customer_id,
        checkout_session_id=f"cs_{sub_id}",
    )
    with app.app_context():
        user = db.session.execute(db.select(User).filter_by(email=email)).scalar_one()
        db.session.add(Customer(user_id=user.id, stripe_customer_id=customer_id))
        membership = Subscription(
            stripe_subscription_id=sub_id,
            user_id=user.id,
            stripe_customer_id=customer_id,
            plan_key=plan,
            interval="month",
            status=status,
            cancel_at_period_end=cancelling,
            current_period_end=NOW + timedelta(days=20),
        )
        db.session.add(membership)
        db.session.commit()
        return membership.id


def add_invoice(app: Flask, invoice_id: str, sub_id: str, customer_id: str, **fields: Any) -> None:
    values: dict[str, Any] = {
        "status": "paid",
        "billing_reason": "subscription_cycle",
        "currency": "gbp",
        "amount_due": 900,
        "amount_paid": 900,
        "attempt_count": 1,
        "created_at": NOW,
    }
    values.update(fields)
    with app.app_context():
        db.session.add(
            Invoice(
                stripe_invoice_id=invoice_id,
                stripe_subscription_id=sub_id,
                stripe_customer_id=customer_id,
                **values,
            )
        )
        db.session.commit()


@pytest.fixture
def owner(add_user: Callable[..., int], sign_in: Callable[..., None]) -> None:
    add_user("owner@example.com", admin=True)
    sign_in("owner@example.com")


def rows(page: str, kind: str) -> list[int]:
    """The ids of the rows a list page shows (`data-order="12"`…), in order."""
    return [int(found) for found in re.findall(rf'data-{kind}="(\d+)"', page)]


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


# --- Who may look --------------------------------------------------------------------

LIST_PAGES = [
    "/admin/orders",
    "/admin/orders?format=csv",
    "/admin/members",
    "/admin/members?format=csv",
    "/admin/customers",
    "/admin/customers?format=csv",
]


def test_only_admins_see_the_lists_and_detail_pages(
    app: Flask, client: FlaskClient, shopper: int
) -> None:
    """A signed-in shopper gets 403 on every list, CSV and detail page, even their own."""
    member = add_member(app, "reader@example.com", "sub_A", "cus_A")
    for path in [*LIST_PAGES, f"/admin/members/{member}", f"/admin/customers/{shopper}"]:
        assert client.get(path).status_code == 403, path


def test_signed_out_visitors_are_sent_to_sign_in(client: FlaskClient) -> None:
    for path in LIST_PAGES:
        assert client.get(path).status_code == 302, path


# --- Orders: search ----------------------------------------------------------------


@pytest.fixture
def searchable(app: Flask) -> dict[str, int]:
    """Orders each found by one kind of search, plus one nobody looks for."""
    found = {
        "email": add_order(app, "finder@example.com"),
        "session": add_order(app, "a@example.com", checkout_session_id="cs_test_find"),
        "payment": add_order(app, "b@example.com", payment_intent_id="pi_find"),
        "other": add_order(app, "c@example.com", checkout_session_id="cs_other"),
    }
    found["customer"] = add_order(app, "d@example.com")
    with app.app_context():
        user = db.session.execute(db.select(User).filter_by(email="d@example.com")).scalar_one()
        db.session.add(Customer(user_id=user.id, stripe_customer_id="cus_find"))
        db.session.commit()
    found["subscription"] = add_order(app, "e@example.com", stripe_subscription_id="sub_find")
    found["invoice"] = add_order(app, "f@example.com", stripe_subscription_id="sub_inv")
    add_invoice(app, "in_find", "sub_inv", "cus_f")
    return found


@pytest.mark.parametrize(
    ("typed", "kind"),
    [
        ("finder@example.com", "email"),
        ("  Finder@Example.com ", "email"),
        ("cs_test_find", "session"),
        ("pi_find", "payment"),
        ("cus_find", "customer"),
        ("sub_find", "subscription"),
        ("in_find", "invoice"),
    ],
)
def test_orders_are_found_by_email_and_by_each_kind_of_stripe_id(
    client: FlaskClient, owner: None, searchable: dict[str, int], typed: str, kind: str
) -> None:
    page = client.get("/admin/orders", query_string={"q": typed})
    assert rows(page.text, "order") == [searchable[kind]]


@pytest.mark.parametrize("template", ["order-{}", "#{}", "{}"])
def test_orders_are_found_by_their_reference_or_number(
    client: FlaskClient, owner: None, searchable: dict[str, int], template: str
) -> None:
    wanted = searchable["payment"]
    page = client.get("/admin/orders", query_string={"q": template.format(wanted)})
    assert rows(page.text, "order") == [wanted]


def test_a_search_that_matches_nothing_says_so(
    client: FlaskClient, owner: None, searchable: dict[str, int]
) -> None:
    for typed in ("nobody@example.com", "cs_unknown", "order-99999", "99999999999"):
        page = client.get("/admin/orders", query_string={"q": typed})
        assert page.status_code == 200
        assert rows(page.text, "order") == []
        assert "No orders match." in page.text


# --- Orders: filters, abandoned, pages ---------------------------------------------


def test_orders_are_filtered_by_status_product_and_days_placed(
    app: Flask, client: FlaskClient, owner: None
) -> None:
    old = add_order(app, placed=datetime(2026, 1, 10, 23, 59, tzinfo=UTC))
    mid = add_order(app, placed=datetime(2026, 2, 1, tzinfo=UTC), item="winter-orchard")
    failed = add_order(app, placed=datetime(2026, 2, 2, tzinfo=UTC), status="payment_failed")
    new = add_order(app, placed=datetime(2026, 3, 5, tzinfo=UTC))

    def shown(**args: str) -> list[int]:
        return rows(client.get("/admin/orders", query_string=args).text, "order")

    assert shown() == [new, failed, mid, old]
    assert shown(status="payment_failed") == [failed]
    assert shown(product="winter-orchard") == [mid]
    assert shown(**{"from": "2026-01-10", "to": "2026-02-01"}) == [mid, old]  # both days in
    assert shown(**{"from": "2026-01-11"}) == [new, failed, mid]
    assert shown(**{"to": "2026-01-09"}) == []
    assert shown(status="paid", **{"from": "2026-02-01"}) == [new, mid]


def test_abandoned_orders_are_hidden_unless_asked_for(
    app: Flask, client: FlaskClient, owner: None
) -> None:
    """Never paid and given up (expired, cancelled, pending for over a day) is hidden; a
    checkout still open today and a failed payment are not abandoned."""
    expired = add_order(app, status="expired", placed=NOW - timedelta(hours=2))
    cancelled = add_order(app, status="cancelled", placed=NOW - timedelta(hours=1))
    stale = add_order(app, status="pending", placed=NOW - timedelta(days=2))
    failed = add_order(app, status="payment_failed", placed=NOW - timedelta(days=3))
    fresh = add_order(app, status="pending", placed=NOW - timedelta(minutes=5))
    paid = add_order(app, placed=NOW - timedelta(days=4))

    hidden = client.get("/admin/orders").text
    assert rows(hidden, "order") == [fresh, failed, paid]
    assert "are\nhidden" in hidden or "hidden; tick" in hidden
    shown = client.get("/admin/orders?abandoned=1").text
    assert rows(shown, "order") == [fresh, cancelled, expired, stale, failed, paid]
    assert rows(client.get("/admin/orders?status=expired").text, "order") == [expired]


def test_pages_of_orders_keep_their_filters(app: Flask, client: FlaskClient, owner: None) -> None:
    matching = [
        add_order(app, item="winter-orchard", placed=NOW - timedelta(minutes=i))
        for i in range(PAGE_SIZE + 7)
    ]
    add_order(app, item="the-salt-road")  # not this product
    first = client.get("/admin/orders?product=winter-orchard")
    assert rows(first.text, "order") == matching[:PAGE_SIZE]
    assert "Page 1" in first.text and 'rel="prev"' not in first.text
    next_link = re.search(r'rel="next" href="([^"]+)"', first.text)
    assert next_link is not None
    link = next_link.group(1).replace("&amp;", "&")
    assert "product=winter-orchard" in link and "page=2" in link
    second = client.get(link)
    assert rows(second.text, "order") == matching[PAGE_SIZE:]
    assert "Page 2" in second.text and 'rel="next"' not in second.text
    prev_link = re.search(r'rel="prev" href="([^"]+)"', second.text)
    assert prev_link is not None and "product=winter-orchard" in prev_link.group(1)


# --- CSV -----------------------------------------------------------------------------


def test_the_orders_csv_has_every_matching_order_with_money_as_decimals(
    app: Flask, client: FlaskClient, owner: None
) -> None:
    ids = [add_order(app, placed=NOW - timedelta(minutes=i)) for i in range(PAGE_SIZE + 5)]
    add_order(app, status="expired")  # abandoned: hidden from the list, so from its CSV
    jpy = add_order(app, "yen@example.com", amount=1500, currency="jpy")
    answer = client.get("/admin/orders?format=csv")
    assert answer.status_code == 200
    assert answer.mimetype == "text/csv"
    assert "attachment" in answer.headers["Content-Disposition"]
    found = csv_rows(answer.text)
    assert [row["order"] for row in found] == [f"order-{i}" for i in [jpy, *ids]]
    first = found[1]
    assert (first["currency"], first["total"], first["paid"], first["refunded"]) == (
        "GBP",
        "12.99",
        "12.99",
        "0.00",
    )
    assert (found[0]["currency"], found[0]["total"]) == ("JPY", "1500")
    assert first["email"] == "reader@example.com" and first["items"] == "1 × the-salt-road"


def test_a_csv_read_in_batches_has_every_row_once_even_when_times_tie(
    app: Flask, client: FlaskClient, owner: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exports read EXPORT_BATCH rows at a time, each batch after the last row's key:
    orders placed at the same instant are neither skipped nor repeated."""
    monkeypatch.setattr("shop.admin_lists.EXPORT_BATCH", 4)
    same = NOW - timedelta(hours=1)
    ids = [add_order(app, f"u{i % 3}@example.com", placed=same) for i in range(11)]
    found = csv_rows(client.get("/admin/orders?format=csv").text)
    assert [row["order"] for row in found] == [f"order-{i}" for i in reversed(ids)]
    customers = csv_rows(client.get("/admin/customers?format=csv").text)
    assert sorted(row["email"] for row in customers) == [
        "owner@example.com",
        "u0@example.com",
        "u1@example.com",
        "u2@example.com",
    ]
    assert {row["email"]: row["paid_orders"] for row in customers}["u0@example.com"] == "4"


def test_the_csv_keeps_the_list_s_filters(app: Flask, client: FlaskClient, owner: None) -> None:
    add_order(app, "a@example.com", item="winter-orchard")
    add_order(app, "b@example.com")
    found = csv_rows(client.get("/admin/orders?format=csv&product=winter-orchard").text)
    assert [row["email"] for row in found] == ["a@example.com"]


def test_csv_cells_that_a_spreadsheet_would_run_as_formulas_are_made_text(
    app: Flask, client: FlaskClient, owner: None
) -> None:
    add_order(app, "=HYPERLINK(evil)@example.com")
    (row,) = csv_rows(client.get("/admin/orders?format=csv").text)
    assert row["email"] == "'=HYPERLINK(evil)@example.com"


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+2", "'=1+2"),
        ("+44 20", "'+44 20"),
        ("-5", "'-5"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=x", "'\t=x"),
        ("plain", "plain"),
        ("12.99", "12.99"),
        (None, ""),
    ],
)
def test_safe_cells(value: str | None, written: str) -> None:
    assert safe_cell(value) == written


# --- Members -------------------------------------------------------------------------


@pytest.fixture
def members(app: Flask) -> dict[str, int]:
    return {
        "active": add_member(app, "active@example.com", "sub_act", "cus_act"),
        "ending": add_member(app, "ending@example.com", "sub_end", "cus_end", cancelling=True),
        "patron": add_member(app, "patron@example.com", "sub_pat", "cus_pat", plan="patron"),
        "ended": add_member(
            app, "ended@example.com", "sub_old", "cus_old", status="canceled", cancelling=True
        ),
    }


def test_members_are_filtered_by_status_cancelling_and_plan(
    client: FlaskClient, owner: None, members: dict[str, int]
) -> None:
    def shown(**args: str) -> list[int]:
        return rows(client.get("/admin/members", query_string=args).text, "member")

    assert shown() == [members["ended"], members["patron"], members["ending"], members["active"]]
    assert shown(status="cancelling") == [members["ending"]]  # live and set to end only
    assert shown(status="canceled") == [members["ended"]]
    assert shown(plan="patron") == [members["patron"]]
    assert shown(status="active", plan="reader") == [members["ending"], members["active"]]


@pytest.mark.parametrize(
    ("typed", "who"),
    [
        ("patron@example.com", "patron"),
        ("sub_end", "ending"),
        ("cus_act", "active"),
        ("cs_sub_old", "ended"),
    ],
)
def test_members_are_found_by_email_and_stripe_ids(
    client: FlaskClient, owner: None, members: dict[str, int], typed: str, who: str
) -> None:
    page = client.get("/admin/members", query_string={"q": typed})
    assert rows(page.text, "member") == [members[who]]


def test_members_are_found_by_an_invoice_id(
    app: Flask, client: FlaskClient, owner: None, members: dict[str, int]
) -> None:
    add_invoice(app, "in_pat_2", "sub_pat", "cus_pat")
    page = client.get("/admin/members?q=in_pat_2")
    assert rows(page.text, "member") == [members["patron"]]


def test_a_member_s_page_shows_the_membership_its_invoices_orders_and_customer(
    app: Flask, client: FlaskClient, owner: None, members: dict[str, int]
) -> None:
    add_invoice(app, "in_end_1", "sub_end", "cus_end", billing_reason="subscription_create")
    add_invoice(app, "in_end_2", "sub_end", "cus_end", amount_due=1250, amount_paid=0)
    page = client.get(f"/admin/members/{members['ending']}").text
    assert "Yes: ends when the period ends" in page
    assert "Ending" in page and "reader" in page and "monthly" in page
    assert f'href="{DASHBOARD}/invoices/in_end_1"' in page
    assert f'href="{DASHBOARD}/invoices/in_end_2"' in page and "£12.50" in page
    assert f'href="{DASHBOARD}/subscriptions/sub_end"' in page
    assert f'href="{DASHBOARD}/customers/cus_end"' in page
    with app.app_context():
        user_id = db.session.execute(
            db.select(User.id).filter_by(email="ending@example.com")
        ).scalar_one()
        order_id = db.session.execute(
            db.select(Order.id).filter_by(stripe_subscription_id="sub_end")
        ).scalar_one()
    assert f'href="/admin/customers/{user_id}"' in page
    assert f'href="/admin/orders/{order_id}"' in page


def test_the_members_csv_lists_every_matching_membership(
    client: FlaskClient, owner: None, members: dict[str, int]
) -> None:
    found = csv_rows(client.get("/admin/members?format=csv&status=cancelling").text)
    assert [(row["email"], row["cancelling"], row["stripe_subscription"]) for row in found] == [
        ("ending@example.com", "yes", "sub_end")
    ]


def test_an_unknown_membership_or_customer_is_404(client: FlaskClient, owner: None) -> None:
    assert client.get("/admin/members/999").status_code == 404
    assert client.get("/admin/customers/999").status_code == 404


# --- Customers -----------------------------------------------------------------------


def test_customers_show_their_stripe_customer_orders_spending_and_membership(
    app: Flask, client: FlaskClient, owner: None, members: dict[str, int]
) -> None:
    add_order(app, "active@example.com", amount=2000, status="partially_refunded")
    with app.app_context():
        order = db.session.execute(db.select(Order).filter_by(amount_total=2000)).scalar_one()
        order.amount_refunded = 500
        db.session.commit()
    add_invoice(app, "in_act_2", "sub_act", "cus_act")  # a renewal: counted as spent
    add_order(app, "active@example.com", status="expired")  # never paid: not counted
    browser = add_order(app, "browser@example.com", status="pending")

    page = client.get("/admin/customers?q=active@example.com").text
    (user_id,) = rows(page, "customer")
    row = page.split(f'data-customer="{user_id}"')[1].split("</tr>")[0]
    assert f'href="{DASHBOARD}/customers/cus_act"' in row
    assert ">2<" in row  # the membership's order and the partly refunded one
    assert "£33.00" in row  # 9.00 + (20.00 − 5.00) + 9.00 renewal
    assert f'href="/admin/members/{members["active"]}"' in row

    def shown(**args: str) -> set[int]:
        return set(rows(client.get("/admin/customers", query_string=args).text, "customer"))

    with app.app_context():
        ids = {
            email: user_id for email, user_id in db.session.execute(db.select(User.email, User.id))
        }
        browser_user = db.session.get(Order, browser).user_id  # type: ignore[union-attr]
    live = {ids[f"{who}@example.com"] for who in ("active", "ending", "patron")}
    assert shown(member="1") == live
    assert browser_user not in shown(ordered="1")
    assert ids["ended@example.com"] in shown(ordered="1")  # paid once, membership over
    assert shown(q="cus_pat") == {ids["patron@example.com"]}


def test_a_customer_s_page_lists_orders_memberships_and_spending(
    app: Flask, client: FlaskClient, owner: None, members: dict[str, int]
) -> None:
    book = add_order(app, "patron@example.com", amount=1650)
    with app.app_context():
        user_id = db.session.execute(
            db.select(User.id).filter_by(email="patron@example.com")
        ).scalar_one()
    page = client.get(f"/admin/customers/{user_id}").text
    assert "patron@example.com" in page
    assert f'href="{DASHBOARD}/customers/cus_pat"' in page
    assert f'href="/admin/orders/{book}"' in page
    assert f'href="/admin/members/{members["patron"]}"' in page
    assert "£25.50" in page  # 9.00 membership + 16.50 book


def test_the_customers_csv_has_spending_per_currency(
    app: Flask, client: FlaskClient, owner: None
) -> None:
    add_order(app, "two@example.com", amount=1000)
    add_order(app, "two@example.com", amount=2000, currency="eur")
    add_order(app, "none@example.com", status="expired")
    found = csv_rows(client.get("/admin/customers?format=csv").text)
    spent = {(row["email"], row["currency"], row["spent"]) for row in found}
    assert spent >= {
        ("two@example.com", "EUR", "20.00"),
        ("two@example.com", "GBP", "10.00"),
        ("none@example.com", "", ""),
    }


# --- The order page ------------------------------------------------------------------


def test_an_order_page_links_to_its_customer_membership_and_stripe(
    app: Flask, client: FlaskClient, owner: None, members: dict[str, int]
) -> None:
    with app.app_context():
        order = db.session.execute(
            db.select(Order).filter_by(stripe_subscription_id="sub_act")
        ).scalar_one()
        order.payment_intent_id = "pi_act"
        order_id, user_id = order.id, order.user_id
        db.session.commit()
    page = client.get(f"/admin/orders/{order_id}").text
    assert f'href="/admin/customers/{user_id}"' in page
    assert f'href="/admin/members/{members["active"]}"' in page
    for path in (
        "checkout/sessions/cs_sub_act",
        "payments/pi_act",
        "customers/cus_act",
        "subscriptions/sub_act",
    ):
        assert f'href="{DASHBOARD}/{path}"' in page
    # Each Stripe id also leads to the events Quire received about it.
    for object_id in ("cs_sub_act", "pi_act", "cus_act", "sub_act"):
        assert f'href="/admin/events?q={object_id}"' in page


def test_list_rows_link_to_their_detail_pages(
    app: Flask, client: FlaskClient, owner: None, members: dict[str, int]
) -> None:
    orders = client.get("/admin/orders").text
    for order_id in rows(orders, "order"):
        assert f'href="/admin/orders/{order_id}"' in orders
    listed = client.get("/admin/members").text
    for member_id in rows(listed, "member"):
        assert client.get(f"/admin/members/{member_id}").status_code == 200
        assert f'href="/admin/members/{member_id}"' in listed
    customers = client.get("/admin/customers").text
    for user_id in rows(customers, "customer"):
        assert f'href="/admin/customers/{user_id}"' in customers
    nav = client.get("/admin/").text
    for path in ("/admin/orders", "/admin/members", "/admin/customers"):
        assert f'href="{path}"' in nav


# --- The dashboard's failed payments -------------------------------------------------


def test_failed_payments_link_to_the_order_and_name_the_member_by_email(
    app: Flask, client: FlaskClient, owner: None, members: dict[str, int]
) -> None:
    failed = add_order(app, "unlucky@example.com", status="payment_failed")
    add_invoice(app, "in_fail", "sub_pat", "cus_pat", status="open", amount_paid=0)
    page = client.get("/admin/").text
    table = page.split("<h2>Failed payments</h2>")[1].split("</table>")[0]
    assert f'href="/admin/orders/{failed}"' in table
    assert "patron@example.com" in table
    assert "cus_pat" not in table
    assert f'href="/admin/members/{members["patron"]}"' in table


# --- Refunds: a blank amount is not "everything" -------------------------------------


@pytest.fixture
def paid_order(app: Flask) -> int:
    return add_order(app, payment_intent_id="pi_1")


def test_a_blank_refund_amount_refunds_nothing_and_says_what_to_do(
    client: FlaskClient, owner: None, paid_order: int, fake_stripe: responses.RequestsMock
) -> None:
    page = client.post(
        f"/admin/orders/{paid_order}/refund",
        data=refund_form(client, paid_order, ""),
        follow_redirects=True,
    )
    assert "Type an amount to refund, or press “Refund everything left”" in page.text
    assert "Nothing was refunded" in page.text
    assert len(fake_stripe.calls) == 0


def test_an_amount_and_everything_at_once_is_refused(
    client: FlaskClient, owner: None, paid_order: int, fake_stripe: responses.RequestsMock
) -> None:
    page = client.post(
        f"/admin/orders/{paid_order}/refund",
        data=refund_form(client, paid_order, "5", everything=True),
        follow_redirects=True,
    )
    assert "not both" in page.text
    assert len(fake_stripe.calls) == 0


def test_the_everything_button_states_the_amount_and_refunds_it(
    client: FlaskClient, owner: None, paid_order: int, fake_stripe: responses.RequestsMock
) -> None:
    assert "Refund everything left (£12.99)" in client.get(f"/admin/orders/{paid_order}").text
    fake_stripe.add(
        "POST", API + "/v1/refunds", json=example("refund", id="re_1", charge="ch_1", amount=1299)
    )
    page = client.post(
        f"/admin/orders/{paid_order}/refund",
        data=refund_form(client, paid_order, everything=True),
        follow_redirects=True,
    )
    assert "Refunded £12.99." in page.text
    (call,) = [c for c in fake_stripe.calls if c.request.url == API + "/v1/refunds"]
    assert "amount=1299" in str(call.request.body)


def test_an_amount_with_thousands_separators_is_refunded_from_the_page(
    app: Flask, client: FlaskClient, owner: None, fake_stripe: responses.RequestsMock
) -> None:
    order_id = add_order(app, amount=150000, payment_intent_id="pi_1")
    fake_stripe.add(
        "POST", API + "/v1/refunds", json=example("refund", id="re_1", charge="ch_1", amount=100000)
    )
    page = client.post(
        f"/admin/orders/{order_id}/refund",
        data=refund_form(client, order_id, "1,000.00"),
        follow_redirects=True,
    )
    assert "Refunded £1,000.00." in page.text


# --- Query counts: lists cost the same at any size -----------------------------------


QueryCounter = helpers.StatementCounter


@pytest.fixture
def count_queries(statements: QueryCounter) -> QueryCounter:
    return statements


queries_per_page = helpers.statements_of


LISTS = [
    "/admin/orders",
    "/admin/orders?abandoned=1&product=the-salt-road",
    "/admin/orders?q=shopper3@example.com",
    "/admin/members",
    "/admin/customers?ordered=1",
]


def test_each_list_page_runs_the_same_number_of_queries_for_10_or_200_orders(
    app: Flask, client: FlaskClient, owner: None, count_queries: QueryCounter
) -> None:
    """No query per row: a page of 10 orders and a page of 50 out of 200 cost the same."""

    def fill(count: int, start: int) -> None:
        for i in range(start, start + count):
            email = f"shopper{i % 7}@example.com"
            add_order(app, email, placed=NOW - timedelta(minutes=i))
            if i % 10 == 0:
                add_member(app, f"member{i}@example.com", f"sub_{i}", f"cus_{i}")

    fill(10, 0)
    few = {path: queries_per_page(client, count_queries, path) for path in LISTS}
    fill(190, 10)
    many = {path: queries_per_page(client, count_queries, path) for path in LISTS}
    assert many == few
    assert all(count <= 8 for count in few.values()), few


# --- The export command --------------------------------------------------------------


def test_orders_export_writes_the_list_s_csv_for_the_days_asked(
    app: Flask, client: FlaskClient, owner: None, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    before = add_order(app, "a@example.com", placed=datetime(2026, 3, 31, 23, 0, tzinfo=UTC))
    inside = add_order(app, "b@example.com", placed=datetime(2026, 4, 2, 9, 0, tzinfo=UTC))
    last_day = add_order(app, "c@example.com", placed=datetime(2026, 4, 30, 23, 0, tzinfo=UTC))
    may = add_order(app, "d@example.com", placed=datetime(2026, 5, 1, 0, 0, tzinfo=UTC))
    failed = add_order(
        app, "e@example.com", status="payment_failed", placed=datetime(2026, 4, 3, tzinfo=UTC)
    )

    result = runner.invoke(
        args=["orders", "export", "--since", "2026-04-01", "--until", "2026-04-30"]
    )
    assert result.exit_code == 0, result.output
    found = csv_rows(result.stdout)
    assert [row["order"] for row in found] == [f"order-{i}" for i in (last_day, failed, inside)]
    assert f"order-{before}" not in result.stdout
    web = client.get("/admin/orders?format=csv&from=2026-04-01&to=2026-04-30").text
    assert result.stdout.replace("\r\n", "\n") == web.replace("\r\n", "\n")

    only = runner.invoke(args=["orders", "export", "--since", "2026-04-01", "--status", "paid"])
    assert [row["order"] for row in csv_rows(only.stdout)] == [
        f"order-{i}" for i in (may, last_day, inside)
    ]

    target = tmp_path / "april.csv"
    for _ in range(2):  # safe to repeat: the same file, rewritten whole
        again = runner.invoke(
            args=[
                "orders",
                "export",
                "--since",
                "2026-04-01",
                "--until",
                "2026-04-30",
                "--output",
                str(target),
            ]
        )
        assert again.exit_code == 0, again.output
        assert target.read_text(encoding="utf-8").replace("\r\n", "\n") == web.replace("\r\n", "\n")


def test_orders_export_refuses_a_day_that_is_not_one(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["orders", "export", "--since", "April"])
    assert result.exit_code == 2
    assert "--since" in result.output


def test_members_and_customers_are_filtered_by_the_days_they_started_and_joined(
    app: Flask, client: FlaskClient, owner: None, members: dict[str, int]
) -> None:
    with app.app_context():
        for membership in db.session.execute(db.select(Subscription)).scalars():
            started = {
                "sub_act": datetime(2026, 3, 1, 9, tzinfo=UTC),
                "sub_end": datetime(2026, 3, 31, 23, 59, tzinfo=UTC),
                "sub_pat": datetime(2026, 4, 1, 0, 0, tzinfo=UTC),
            }.get(membership.stripe_subscription_id)
            membership.started_at = started
            if membership.user is not None and started is not None:
                membership.user.created_at = started
        db.session.commit()
    march = {"from": "2026-03-01", "to": "2026-03-31"}
    page = client.get("/admin/members", query_string=march).text
    assert rows(page, "member") == [members["ending"], members["active"]]
    csv_link = page.split('class="csv-download" href="')[1].split('"')[0]
    assert "from=2026-03-01" in csv_link and "to=2026-03-31" in csv_link  # the CSV keeps them
    joined = rows(client.get("/admin/customers", query_string=march).text, "customer")
    with app.app_context():
        emails = set(db.session.execute(db.select(User.email).where(User.id.in_(joined))).scalars())
    assert emails == {"active@example.com", "ending@example.com"}
    assert rows(
        client.get("/admin/members", query_string={"from": "2026-04-01"}).text, "member"
    ) == [members["patron"]]
