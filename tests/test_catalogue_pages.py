"""The catalogue page and the book pages are conditional (ETag, 304 without rendering),
private to the visitor, and a catalogue of more than 200 books and plans is paged."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask, template_rendered
from flask.testing import FlaskClient

from shop.extensions import db
from shop.models import StockLevel
from tests.helpers import TEST_CATALOGUE


@pytest.fixture
def rendered(app: Flask) -> Iterator[list[str]]:
    """The names of the templates the app renders."""
    names: list[str] = []

    def record(_: Flask, template: Any, context: Any, **extra: Any) -> None:
        names.append(template.name)

    template_rendered.connect(record, app)
    yield names
    template_rendered.disconnect(record, app)


def test_the_catalogue_page_answers_304_to_its_own_etag_without_rendering(
    client: FlaskClient, rendered: list[str]
) -> None:
    first = client.get("/")
    assert first.status_code == 200
    tag = first.headers["ETag"]
    assert tag.startswith('"') and "The Salt Road" in first.text
    assert first.headers["Cache-Control"] == "private, no-cache"
    assert "Cookie" in first.headers["Vary"]
    rendered.clear()

    again = client.get("/", headers={"If-None-Match": tag})
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["ETag"] == tag
    assert rendered == []  # nothing was rendered

    other = client.get("/", headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200 and "The Salt Road" in other.text


def test_a_changed_catalogue_changes_the_etag_and_the_old_one_gets_the_new_page(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    catalogue = tmp_path / "catalogue.yaml"
    catalogue.write_text(TEST_CATALOGUE.read_text())
    app = make_app(CATALOGUE_PATH=str(catalogue))
    with app.app_context():
        db.create_all()
    client = app.test_client()
    before = client.get("/")
    assert "£12.99" in before.text
    tag = before.headers["ETag"]

    catalogue.write_text(TEST_CATALOGUE.read_text().replace("price: 1299", "price: 1399"))
    stat = catalogue.stat()
    os.utime(catalogue, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    after = client.get("/", headers={"If-None-Match": tag})
    assert after.status_code == 200
    assert "£13.99" in after.text and "£12.99" not in after.text
    assert after.headers["ETag"] != tag
    with app.app_context():
        db.drop_all()


def test_copies_sold_change_a_book_page_s_etag(app: Flask, client: FlaskClient) -> None:
    path = "/books/letters-from-the-lighthouse"
    before = client.get(path)
    assert "5 copies left" in before.text
    assert client.get(path, headers={"If-None-Match": before.headers["ETag"]}).status_code == 304
    with app.app_context():
        db.session.add(StockLevel(book_key="letters-from-the-lighthouse", sold=3, held=1))
        db.session.commit()
    after = client.get(path, headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert "1 copy left" in after.text
    assert after.headers["ETag"] != before.headers["ETag"]
    assert after.headers["Cache-Control"] == "private, no-cache"


def test_signing_in_changes_the_etag_and_each_shopper_has_their_own(
    client: FlaskClient,
    add_user: Callable[..., int],
    sign_in: Callable[..., None],
) -> None:
    guest = client.get("/")
    assert "Sign in" in guest.text
    add_user("reader@example.com")
    add_user("owner@example.com", admin=True)
    sign_in("reader@example.com")
    shopper = client.get("/", headers={"If-None-Match": guest.headers["ETag"]})
    assert shopper.status_code == 200  # the guest's copy would show the wrong header
    assert "Sign out" in shopper.text and "Admin" not in shopper.text
    assert shopper.headers["ETag"] != guest.headers["ETag"]

    client.post("/logout")
    sign_in("owner@example.com")
    owner = client.get("/", headers={"If-None-Match": shopper.headers["ETag"]})
    assert owner.status_code == 200
    assert ">Admin</a>" in owner.text
    assert owner.headers["ETag"] not in (shopper.headers["ETag"], guest.headers["ETag"])


def test_a_message_waiting_to_be_shown_is_shown_even_to_a_matching_etag(
    client: FlaskClient,
) -> None:
    tag = client.get("/").headers["ETag"]
    with client.session_transaction() as session:
        session["_flashes"] = [("success", "Your basket was saved.")]
    shown = client.get("/", headers={"If-None-Match": tag})
    assert shown.status_code == 200
    assert "Your basket was saved." in shown.text


# --- A big catalogue is paged ---------------------------------------------------------


@pytest.fixture
def big_shop(make_app: Callable[..., Flask], tmp_path: Path) -> Iterator[FlaskClient]:
    """The test catalogue with 243 more printed books: 250 books and 2 plans."""
    data = yaml.safe_load(TEST_CATALOGUE.read_text())
    for n in range(1, 244):
        data["books"].append(
            {
                "key": f"generated-{n:03d}",
                "title": f"Generated Book {n:03d}",
                "author": "A. Writer",
                "description": "One of many.",
                "price": 1000 + n,
                "format": "print",
            }
        )
    catalogue = tmp_path / "big.yaml"
    catalogue.write_text(yaml.safe_dump(data, sort_keys=False))
    app = make_app(CATALOGUE_PATH=str(catalogue))
    with app.app_context():
        db.create_all()
    yield app.test_client()
    with app.app_context():
        db.drop_all()


def titles(page: str) -> list[str]:
    return re.findall(r'<h2><a href="/books/[^"]+">([^<]+)</a></h2>', page)


def plan_names(page: str) -> list[str]:
    return re.findall(r'<h2><a href="/memberships/[^"]+">([^<]+)</a></h2>', page)


def test_a_catalogue_of_250_books_is_listed_100_a_page_then_the_memberships(
    big_shop: FlaskClient,
) -> None:
    first = big_shop.get("/").text
    assert len(titles(first)) == 100
    assert titles(first)[0] == "The Salt Road"
    assert plan_names(first) == []
    assert "Page 1 of 3" in first
    assert 'href="/?page=2"' in first
    assert 'href="/?page=3#memberships"' in first  # where the memberships are

    second = big_shop.get("/?page=2")
    assert titles(second.text) == [f"Generated Book {n:03d}" for n in range(94, 194)]
    assert "Page 2 of 3" in second.text

    last = big_shop.get("/?page=3").text
    assert titles(last) == [f"Generated Book {n:03d}" for n in range(194, 244)]
    assert plan_names(last) == ["Reader", "Patron"]
    assert 'rel="next"' not in last

    tags = {big_shop.get(f"/?page={n}").headers["ETag"] for n in (1, 2, 3)}
    assert len(tags) == 3
    assert big_shop.get("/?page=99").text == big_shop.get("/").text  # out of range: page 1


def test_the_small_catalogue_is_one_page_as_before(client: FlaskClient) -> None:
    page = client.get("/").text
    assert len(titles(page)) == 7
    assert plan_names(page) == ["Reader", "Patron"]
    assert "Page 1" not in page and 'rel="next"' not in page
    assert client.get("/?page=2").text == page


def test_with_form_tokens_on_a_repeat_visit_is_answered_304_and_its_token_still_works(
    make_app: Callable[..., Flask],
) -> None:
    """The book page embeds the visitor's form token: the tag follows it, so the copy
    the browser keeps holds a token that still works."""
    app = make_app(WTF_CSRF_ENABLED=True)
    with app.app_context():
        db.create_all()
    client = app.test_client()
    path = "/books/the-salt-road"
    first = client.get(path)
    assert client.get(path, headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', first.text)
    assert token is not None
    added = client.post(
        "/cart/books/the-salt-road",
        data={"csrf_token": token.group(1), "quantity": "1", "action": "add"},
    )
    assert added.status_code in (302, 303)
    assert "The Salt Road" in client.get("/cart").text
    with app.app_context():
        db.drop_all()
