"""The ebook library: who may read what, signed download links, and what revokes them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient

from shop import downloads, entitlements
from shop.extensions import db
from shop.models import Order, OrderItem, OrderStatus, Subscription, User, utcnow
from tests import builders
from tests.stripe_fakes import event


def add_ebook_order(
    app: Flask, user_id: int, key: str = "salt-road-ebook", status: str = "paid"
) -> int:
    """An order of one ebook in `status`, paid through payment intent `pi_1`."""
    with app.app_context():
        order = Order(
            user_id=user_id,
            kind="book",
            currency="gbp",
            amount_total=699,
            status=status,
            checkout_session_id=f"cs_{key}_{user_id}",
            payment_intent_id="pi_1",
        )
        order.items.append(
            OrderItem(
                item_key=key,
                lookup_key=f"book:{key}",
                description=key,
                unit_amount=699,
                quantity=1,
            )
        )
        db.session.add(order)
        db.session.commit()
        return order.id


def add_membership(
    app: Flask,
    user_id: int,
    status: str,
    plan: str = "reader",
    past_due_for: timedelta | None = None,
) -> int:
    with app.app_context():
        membership = Subscription(
            stripe_subscription_id=f"sub_{user_id}_{plan}",
            user_id=user_id,
            stripe_customer_id="cus_reader",
            plan_key=plan,
            interval="month",
            status=status,
            past_due_since=utcnow() - past_due_for if past_due_for is not None else None,
        )
        db.session.add(membership)
        db.session.commit()
        return membership.id


def fetch(client: FlaskClient, link: str) -> Any:
    """GET a download link, reading the whole body and closing the file behind it."""
    response = client.get(link)
    response.get_data()
    response.close()
    return response


def readable(app: Flask, user_id: int, key: str) -> bool:
    with app.app_context():
        return entitlements.may_read(db.session.get(User, user_id), key)


def library_links(client: FlaskClient) -> dict[str, str]:
    """The library page's download links, by `<book key>.<format>`."""
    import re

    page = client.get("/library")
    assert page.status_code == 200
    links = {}
    for section in re.findall(
        r'<li class="library-book" id="book-([^"]+)">(.*?)</li>', page.text, re.S
    ):
        key, body = section
        for href, fmt in re.findall(r'<a href="([^"]+)" download>(\w+)</a>', body):
            links[f"{key}.{fmt.lower()}"] = href
    return links


# --- Entitlements ----------------------------------------------------------------------


def test_a_buyer_owns_a_paid_ebook_and_nobody_else_does(app: Flask, add_user: Any) -> None:
    buyer, other = add_user("buyer@example.com"), add_user("other@example.com")
    add_ebook_order(app, buyer)
    assert readable(app, buyer, "salt-road-ebook")
    assert not readable(app, buyer, "cartographers-daughter")
    assert not readable(app, other, "salt-road-ebook")
    with app.app_context():
        assert entitlements.owned_book_keys(db.session.get(User, buyer)) == {"salt-road-ebook"}


@pytest.mark.parametrize(
    ("status", "owns"),
    [
        ("pending", False),
        ("expired", False),
        ("payment_failed", False),
        ("awaiting_payment", False),
        ("paid", True),
        ("partially_refunded", True),
        ("refunded", False),
        ("disputed", False),
    ],
)
def test_only_a_paid_order_not_fully_refunded_nor_disputed_owns(
    app: Flask, add_user: Any, status: str, owns: bool
) -> None:
    buyer = add_user()
    add_ebook_order(app, buyer, status=status)
    assert readable(app, buyer, "salt-road-ebook") is owns


@pytest.mark.parametrize(
    ("status", "past_due_for", "live"),
    [
        ("trialing", None, True),
        ("active", None, True),
        ("past_due", timedelta(days=6), True),
        ("past_due", timedelta(days=8), False),
        ("canceled", None, False),
        ("unpaid", None, False),
        ("incomplete", None, False),
        ("incomplete_expired", None, False),
    ],
)
def test_a_membership_gives_its_ebooks_while_live(
    app: Flask, add_user: Any, status: str, past_due_for: timedelta | None, live: bool
) -> None:
    """Reader includes The Small Press Handbook; past_due counts for 7 days (the default)."""
    member = add_user()
    add_membership(app, member, status, past_due_for=past_due_for)
    assert readable(app, member, "small-press-handbook") is live
    assert not readable(app, member, "salt-road-ebook")  # only Patron includes it


def test_the_grace_period_is_a_setting(make_app: Callable[..., Flask]) -> None:
    app = make_app(MEMBER_GRACE_DAYS=2)
    with app.app_context():
        db.drop_all()
        db.create_all()
    from tests.helpers import add_user

    member = add_user(app)
    add_membership(app, member, "past_due", past_due_for=timedelta(days=3))
    assert not readable(app, member, "small-press-handbook")


def test_the_subscription_sync_stamps_when_it_fell_past_due(
    app: Flask, add_user: Any, fake_stripe: responses.RequestsMock, post_event: Any
) -> None:
    add_user()
    past_due = builders.subscription(status="past_due")
    builders.stripe_serves(fake_stripe, "/v1/subscriptions/sub_1", past_due)
    post_event(event("customer.subscription.updated", past_due))
    with app.app_context():
        row = db.session.execute(db.select(Subscription)).scalar_one()
        first = row.past_due_since
        assert first is not None and utcnow() - first < timedelta(minutes=1)
    post_event(event("customer.subscription.updated", past_due))  # a later retry: same start
    with app.app_context():
        assert db.session.execute(db.select(Subscription)).scalar_one().past_due_since == first
    active = builders.subscription(status="active")
    builders.stripe_serves(fake_stripe, "/v1/subscriptions/sub_1", active)
    post_event(event("customer.subscription.updated", active))
    with app.app_context():
        assert db.session.execute(db.select(Subscription)).scalar_one().past_due_since is None


# --- The library page and downloads -----------------------------------------------------


def test_the_library_lists_owned_and_included_ebooks_saying_which(
    app: Flask, client: FlaskClient, shopper: int
) -> None:
    add_ebook_order(app, shopper)
    add_membership(app, shopper, "active")
    page = client.get("/library").text
    assert "Your library" in page
    assert "The Salt Road (ebook)" in page and "Yours to keep" in page
    assert "The Small Press Handbook" in page and "Included in your Reader membership" in page
    assert "Quiet Machines" not in page  # printed, not a library book
    assert set(library_links(client)) == {
        "salt-road-ebook.epub",
        "salt-road-ebook.pdf",
        "small-press-handbook.epub",
        "small-press-handbook.pdf",
        "cartographers-daughter.epub",
        "cartographers-daughter.pdf",
    }


def test_the_library_is_linked_from_the_nav_and_the_account_page(
    client: FlaskClient, shopper: int
) -> None:
    assert client.get("/account").text.count('href="/library"') == 2


def test_an_empty_library_says_so(client: FlaskClient, shopper: int) -> None:
    assert "No ebooks yet" in client.get("/library").text
    assert library_links(client) == {}


def test_the_library_needs_signing_in(client: FlaskClient) -> None:
    assert client.get("/library").status_code == 302


def test_an_owner_downloads_each_format_as_an_attachment(
    app: Flask, client: FlaskClient, shopper: int
) -> None:
    add_ebook_order(app, shopper)
    links = library_links(client)
    epub = fetch(client, links["salt-road-ebook.epub"])
    assert epub.status_code == 200
    assert epub.mimetype == "application/epub+zip"
    assert epub.headers["Content-Disposition"] == "attachment; filename=salt-road-ebook.epub"
    assert epub.headers["Cache-Control"] == "private, no-store"
    assert epub.data[30:38] == b"mimetype"
    pdf = fetch(client, links["salt-road-ebook.pdf"])
    assert pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF-")


def test_another_shopper_gets_404_for_an_owner_s_link(
    app: Flask, client: FlaskClient, shopper: int, add_user: Any, sign_in: Any
) -> None:
    add_ebook_order(app, shopper)
    link = library_links(client)["salt-road-ebook.epub"]
    other = add_user("other@example.com")
    sign_in("other@example.com")
    assert fetch(client, link).status_code == 404
    add_ebook_order(app, other)  # even owning the book, another's link is not theirs
    assert fetch(client, link).status_code == 404


def test_a_link_for_a_book_the_shopper_may_not_read_is_404(
    app: Flask, client: FlaskClient, shopper: int
) -> None:
    """A genuine link, signed for this shopper, still needs the entitlement now."""
    with app.app_context():
        token = downloads.make_link_token(
            app.config["SECRET_KEY"],
            downloads.DownloadGrant(shopper, "cartographers-daughter", "epub"),
        )
    assert fetch(client, f"/library/download/{token}").status_code == 404


def test_a_tampered_or_foreign_link_is_404(app: Flask, client: FlaskClient, shopper: int) -> None:
    add_ebook_order(app, shopper)
    link = library_links(client)["salt-road-ebook.epub"]
    token = link.rsplit("/", 1)[1]
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert fetch(client, f"/library/download/{tampered}").status_code == 404
    forged = downloads.make_link_token(
        "another-secret", downloads.DownloadGrant(shopper, "salt-road-ebook", "epub")
    )
    assert fetch(client, f"/library/download/{forged}").status_code == 404
    unknown_format = downloads.make_link_token(
        app.config["SECRET_KEY"], downloads.DownloadGrant(shopper, "salt-road-ebook", "mobi")
    )
    assert fetch(client, f"/library/download/{unknown_format}").status_code == 404
    assert fetch(client, link).status_code == 200


def test_an_expired_link_says_so_and_never_sends_the_file(
    app: Flask, client: FlaskClient, shopper: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_ebook_order(app, shopper)
    link = library_links(client)["salt-road-ebook.pdf"]
    later = utcnow() + downloads.LINK_LIFETIME + timedelta(seconds=5)
    monkeypatch.setattr(downloads, "utcnow", lambda: later)
    response = fetch(client, link)
    assert response.status_code == 404
    assert "expired" in response.text and 'href="/library"' in response.text
    assert b"%PDF" not in response.data


def test_links_last_ten_minutes() -> None:
    grant = downloads.DownloadGrant(1, "salt-road-ebook", "epub")
    token = downloads.make_link_token("s3cret", grant)
    assert downloads.read_link_token("s3cret", token, now=utcnow() + timedelta(minutes=9)) == grant
    with pytest.raises(downloads.LinkExpired):
        downloads.read_link_token("s3cret", token, now=utcnow() + timedelta(minutes=11))
    with pytest.raises(downloads.LinkInvalid):
        downloads.read_link_token("other", token)


@pytest.mark.parametrize("revocation", ["refund", "dispute"])
def test_a_full_refund_or_a_dispute_revokes_the_download(
    app: Flask,
    client: FlaskClient,
    shopper: int,
    fake_stripe: responses.RequestsMock,
    post_event: Callable[..., Any],
    revocation: str,
) -> None:
    order_id = add_ebook_order(app, shopper)
    link = library_links(client)["salt-road-ebook.epub"]
    assert fetch(client, link).status_code == 200
    if revocation == "refund":
        refunded = builders.charge(amount=699, amount_refunded=699, refunded=True)
        builders.stripe_serves(fake_stripe, "/v1/charges/ch_1", refunded)
        post_event(event("charge.refunded", refunded))
    else:
        dispute = builders.example("dispute", id="dp_1", payment_intent="pi_1", charge="ch_1")
        builders.stripe_serves(fake_stripe, "/v1/disputes/dp_1", dispute)
        post_event(event("charge.dispute.created", dispute))
    with app.app_context():
        status = db.session.get(Order, order_id).status
    assert status == (OrderStatus.REFUNDED if revocation == "refund" else OrderStatus.DISPUTED)
    assert fetch(client, link).status_code == 404
    assert "salt-road-ebook" not in library_links(client)


def test_an_ended_membership_revokes_its_included_ebooks(
    app: Flask, client: FlaskClient, shopper: int
) -> None:
    membership = add_membership(app, shopper, "active")
    link = library_links(client)["small-press-handbook.epub"]
    assert fetch(client, link).status_code == 200
    with app.app_context():
        db.session.get(Subscription, membership).status = "canceled"
        db.session.commit()
    assert fetch(client, link).status_code == 404
    assert library_links(client) == {}


def test_a_paid_ebook_order_s_confirmation_links_to_the_library(
    app: Flask, client: FlaskClient, shopper: int, fake_stripe: responses.RequestsMock
) -> None:
    order_id = add_ebook_order(app, shopper)
    session = builders.session(
        f"cs_salt-road-ebook_{shopper}", order_id, amount_total=699, amount_subtotal=699
    )
    builders.stripe_serves(
        fake_stripe, f"/v1/checkout/sessions/cs_salt-road-ebook_{shopper}", session
    )
    page = client.get(
        f"/orders/{order_id}/confirmation?session_id=cs_salt-road-ebook_{shopper}"
    ).text
    assert "read it in your library" in page and 'href="/library"' in page
