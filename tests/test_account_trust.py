"""Accounts people can trust: sign-in goes only to this site, is throttled per address and
per account, reveals nothing about which emails have accounts, and ends when it should.
"""

from __future__ import annotations

import re
import statistics
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer

from shop import accounts, throttling
from shop.extensions import db
from shop.models import PendingSignUp, SignIn, User
from tests import helpers
from tests.helpers import PASSWORD, mails_to


def sign_in_as(
    client: FlaskClient, email: str, password: str = PASSWORD, *, address: str = "127.0.0.1"
) -> int:
    """POST the sign-in form from client `address`; its status code."""
    response = client.post(
        "/login",
        data={"email": email, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )
    return response.status_code


# --- finding 2: the open redirect after sign-in -------------------------------------------

#: How the probe (and the usual lists) send a shopper elsewhere: browsers drop tabs and line
#: breaks and read `\` as `/`, so each of these once answered a Location off the site.
ESCAPES = [
    "next=/%09/evil.example/",
    "next=//evil.example",
    "next=/\\evil.example",
    "next=\\/evil.example",
    "next=https://evil.example",
    "next=/%0d%0a/evil.example",
    "next=javascript:alert(1)",
    "next=/\t/evil.example",
    "next=%2F%2Fevil.example",
    "next=/%5Cevil.example",
    "next=http:/evil.example",
]


def is_local(location: str) -> bool:
    parts = urlsplit(location)
    return (
        not parts.scheme
        and not parts.netloc
        and location.startswith("/")
        and not location.startswith("//")
        and "\\" not in location
        and not any(ord(c) < 32 for c in location)
    )


@pytest.mark.parametrize("query", ESCAPES)
def test_signing_in_never_sends_the_shopper_to_another_site(
    client: FlaskClient, add_user: Callable[..., int], query: str
) -> None:
    add_user()
    response = client.post(
        "/login", query_string=query, data={"email": "reader@example.com", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert is_local(response.location) and response.location == "/", response.location


@pytest.mark.parametrize("query", ESCAPES[:4] + ESCAPES[7:8])
def test_signing_up_never_sends_the_shopper_to_another_site(
    app: Flask, client: FlaskClient, query: str
) -> None:
    client.post(
        "/register",
        query_string=query,
        data={"email": "new@example.com", "password": PASSWORD, "confirm": PASSWORD},
    )
    link = helpers.link_in(mails_to(app, "new@example.com", "confirm_signup")[0], "/register/")
    response = client.post(link)
    assert response.status_code == 303 and response.location == "/", response.location


def test_a_local_next_still_works(client: FlaskClient, add_user: Callable[..., int]) -> None:
    add_user()
    response = client.post(
        "/login?next=/cart", data={"email": "reader@example.com", "password": PASSWORD}
    )
    assert response.location == "/cart"


# --- finding 6: throttling -----------------------------------------------------------------


class Clock:
    """The rate limiter's clock, moved by hand instead of sleeping."""

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture
def limits_clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr("limits.storage.memory.time", clock)
    monkeypatch.setattr("shop.throttling.time", clock)
    return clock


def test_300_wrong_passwords_from_rotating_addresses_then_the_right_one_is_refused(
    client: FlaskClient, add_user: Callable[..., int]
) -> None:
    add_user()
    answers = [
        sign_in_as(client, "reader@example.com", f"guess {n}", address=f"10.1.{n // 200}.{n % 200}")
        for n in range(300)
    ]
    assert answers[:5] == [200] * 5  # wrong, said plainly
    assert set(answers[5:]) == {429}
    right = client.post(
        "/login",
        data={"email": "reader@example.com", "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "192.0.2.99"},
    )
    assert right.status_code == 429
    assert "Too many attempts; try again in 15 minutes or reset your password." in right.text
    assert "Sign out" not in right.text
    assert client.get("/account").status_code == 302  # not signed in


def test_an_unknown_email_is_throttled_the_same_as_a_known_one(
    client: FlaskClient, add_user: Callable[..., int]
) -> None:
    add_user()
    for email in ("reader@example.com", "nobody@example.com"):
        answers = [sign_in_as(client, email, "wrong", address=f"10.2.0.{n}") for n in range(7)]
        assert answers == [200] * 5 + [429] * 2, email


def test_one_address_is_limited_across_many_emails(
    client: FlaskClient, add_user: Callable[..., int]
) -> None:
    add_user()
    answers = [
        sign_in_as(client, f"someone{n}@example.com", "wrong", address="203.0.113.7")
        for n in range(20)
    ]
    assert answers == [200] * 20
    refused = client.post(
        "/login",
        data={"email": "reader@example.com", "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "203.0.113.7"},
    )
    assert refused.status_code == 429 and "Too many attempts" in refused.text
    assert "<h1>Too many attempts</h1>" in refused.text  # Quire's page, not a bare error
    # The budget is shared by the account forms, and is the address's alone.
    assert (
        client.post(
            "/password/forgot",
            data={"email": "reader@example.com"},
            environ_base={"REMOTE_ADDR": "203.0.113.7"},
        ).status_code
        == 429
    )
    assert sign_in_as(client, "reader@example.com", address="198.51.100.1") == 302


def test_the_limits_lift_after_their_window(
    client: FlaskClient, add_user: Callable[..., int], limits_clock: Clock
) -> None:
    add_user()
    for n in range(5):
        sign_in_as(client, "reader@example.com", "wrong", address=f"10.3.0.{n}")
    assert sign_in_as(client, "reader@example.com", address="10.3.1.1") == 429
    limits_clock.advance(10 * 60)
    refused = client.post(
        "/login",
        data={"email": "reader@example.com", "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "10.3.1.2"},
    )
    assert "try again in 5 minutes" in refused.text
    limits_clock.advance(5 * 60 + 1)
    assert sign_in_as(client, "reader@example.com", address="10.3.1.3") == 302

    for n in range(20):
        sign_in_as(client, f"x{n}@example.com", "wrong", address="203.0.113.8")
    assert sign_in_as(client, "reader@example.com", address="203.0.113.8") == 429
    limits_clock.advance(61)
    assert sign_in_as(client, "reader@example.com", address="203.0.113.8") == 302


def test_behind_heroku_the_router_s_forwarded_address_is_the_client(
    app: Flask, client: FlaskClient, add_user: Callable[..., int]
) -> None:
    add_user()
    app.config["FORWARDED_HOPS"] = 1  # FORWARDED_HOPS=1, the default on Heroku
    router = {"REMOTE_ADDR": "10.0.0.1"}
    for n in range(20):
        # Same router, twenty clients; the left-hand entry is the client's own say.
        client.post(
            "/login",
            data={"email": f"y{n}@example.com", "password": "wrong"},
            headers={"X-Forwarded-For": f"6.6.6.6, 198.51.100.{n}"},
            environ_base=router,
        )
    other_client = client.post(
        "/login",
        data={"email": "reader@example.com", "password": PASSWORD},
        headers={"X-Forwarded-For": "6.6.6.6, 198.51.100.200"},
        environ_base=router,
    )
    assert other_client.status_code == 302
    for n in range(20):
        client.post(
            "/login",
            data={"email": f"z{n}@example.com", "password": "wrong"},
            headers={"X-Forwarded-For": f"{n}.1.1.1, 198.51.100.7"},
            environ_base=router,
        )
    spoofing = client.post(
        "/login",
        data={"email": "reader@example.com", "password": PASSWORD},
        headers={"X-Forwarded-For": "9.9.9.9, 198.51.100.7"},
        environ_base=router,
    )
    assert spoofing.status_code == 429


# --- finding 6: no account enumeration -------------------------------------------------------


def _without_csrf(body: bytes) -> bytes:
    return re.sub(rb'name="csrf_token"[^>]*value="[^"]*"', b"", body)


def test_sign_up_answers_the_same_whether_or_not_the_email_has_an_account(
    app: Flask, add_user: Callable[..., int]
) -> None:
    add_user("taken@example.com")
    client = app.test_client()
    data = {
        "email": "taken@example.com",
        "password": "another password",
        "confirm": "another password",
    }
    known = client.post("/register", data=data, environ_base={"REMOTE_ADDR": "10.4.0.1"})
    unknown = client.post(
        "/register",
        data={**data, "email": "fresh@example.com"},
        environ_base={"REMOTE_ADDR": "10.4.0.2"},
    )
    assert known.status_code == unknown.status_code == 200
    assert _without_csrf(known.data).replace(b"taken@", b"x@") == _without_csrf(
        unknown.data
    ).replace(b"fresh@", b"x@")
    assert "Check your inbox" in known.text and "taken@example.com" in known.text
    # What differs goes by mail, to the address's owner only; the password is untouched.
    assert [m.kind for m in mails_to(app, "taken@example.com")] == ["account_exists"]
    assert [m.kind for m in mails_to(app, "fresh@example.com")] == ["confirm_signup"]
    assert sign_in_as(client, "taken@example.com", "another password") == 200
    assert sign_in_as(client, "taken@example.com") == 302


def _median_ms(run: Callable[[int], object], runs: int = 10) -> float:
    times = []
    for n in range(runs):
        started = time.perf_counter()
        run(n)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _alike(known: float, unknown: float) -> bool:
    return abs(known - unknown) < 50 or max(known, unknown) < 3 * min(known, unknown)


def test_signing_in_takes_as_long_for_an_unknown_email_as_for_a_known_one(
    client: FlaskClient, add_user: Callable[..., int]
) -> None:
    for n in range(10):
        add_user(f"known{n}@example.com")
    known = _median_ms(
        lambda n: sign_in_as(client, f"known{n}@example.com", "wrong", address=f"10.5.0.{n}")
    )
    unknown = _median_ms(
        lambda n: sign_in_as(client, f"unknown{n}@example.com", "wrong", address=f"10.5.1.{n}")
    )
    assert _alike(known, unknown), (known, unknown)
    # The dummy hash really costs what a real one does (the probe saw 127 ms against 6 ms).
    assert min(known, unknown) > 0.3 * max(known, unknown) or max(known, unknown) < 20


def test_signing_up_takes_as_long_for_a_known_email_as_for_an_unknown_one(
    client: FlaskClient, add_user: Callable[..., int]
) -> None:
    add_user("taken@example.com")

    def register(email: str, address: str) -> None:
        client.post(
            "/register",
            data={"email": email, "password": PASSWORD, "confirm": PASSWORD},
            environ_base={"REMOTE_ADDR": address},
        )

    known = _median_ms(lambda n: register("taken@example.com", f"10.6.0.{n}"))
    unknown = _median_ms(lambda n: register(f"new{n}@example.com", f"10.6.1.{n}"))
    assert _alike(known, unknown), (known, unknown)


def test_asking_for_a_reset_answers_the_same_for_an_unknown_email(
    app: Flask, client: FlaskClient, add_user: Callable[..., int]
) -> None:
    add_user()
    known = client.post("/password/forgot", data={"email": "reader@example.com"})
    unknown = client.post("/password/forgot", data={"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 200
    assert known.data.replace(b"reader@", b"x@") == unknown.data.replace(b"nobody@", b"x@")
    assert "If an account exists for" in known.text
    assert len(mails_to(app, "reader@example.com", "password_reset")) == 1
    assert mails_to(app, "nobody@example.com") == []


# --- sign-up by link ---------------------------------------------------------------------------


def test_the_sign_up_link_creates_the_account_once(app: Flask, client: FlaskClient) -> None:
    client.post(
        "/register", data={"email": "New@Example.com", "password": PASSWORD, "confirm": PASSWORD}
    )
    assert client.get("/account").status_code == 302  # nothing yet: not signed in
    assert sign_in_as(client, "new@example.com") == 200  # and no account
    link = helpers.link_in(mails_to(app, "new@example.com", "confirm_signup")[0], "/register/")
    welcomed = client.post(link, follow_redirects=True)
    assert "Welcome to Quire." in welcomed.text and "Sign out" in welcomed.text
    other = app.test_client()
    assert other.get(link).status_code == 400
    again = other.post(link)
    assert again.status_code == 400 and "This link was already used" in again.text
    assert other.get("/account").status_code == 302  # the second click signs nothing in
    with app.app_context():
        rows = db.session.execute(db.select(User).filter_by(email="new@example.com"))
        assert len(rows.scalars().all()) == 1


class UtcClock:
    """`shop.accounts.utcnow`, moved by hand."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@pytest.fixture
def accounts_clock(monkeypatch: pytest.MonkeyPatch) -> UtcClock:
    clock = UtcClock()
    monkeypatch.setattr("shop.accounts.utcnow", clock)
    return clock


def test_a_tampered_or_expired_sign_up_link_is_refused(
    app: Flask, client: FlaskClient, accounts_clock: UtcClock
) -> None:
    client.post(
        "/register",
        data={"email": "late@example.com", "password": PASSWORD, "confirm": PASSWORD},
    )
    late = helpers.link_in(mails_to(app, "late@example.com")[0], "/register/")
    accounts_clock.offset = timedelta(hours=24, seconds=1)
    expired = client.post(late)
    assert expired.status_code == 400 and "This link has expired" in expired.text
    assert client.get(late).status_code == 400
    accounts_clock.offset = timedelta()

    client.post(
        "/register", data={"email": "ok@example.com", "password": PASSWORD, "confirm": PASSWORD}
    )
    link = helpers.link_in(mails_to(app, "ok@example.com")[0], "/register/")
    tampered = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
    refused = client.post(tampered)
    assert refused.status_code == 400 and "This link isn't valid" in refused.text
    assert client.get("/account").status_code == 302
    assert client.post(link, follow_redirects=True).request.path == "/"  # the real one works
    assert sign_in_as(app.test_client(), "late@example.com") == 200  # never created


# --- finding 6: sessions that end ------------------------------------------------------------


def test_a_session_cookie_copied_before_sign_out_no_longer_opens_the_account(
    app: Flask, client: FlaskClient, add_user: Callable[..., int]
) -> None:
    add_user()
    helpers.sign_in(client)
    cookie = client.get_cookie("session")
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie("session", cookie.value)
    assert thief.get("/account").status_code == 200  # the copy works while signed in…
    client.post("/logout")
    stolen = thief.get("/account")
    assert stolen.status_code == 302 and stolen.location.startswith("/login")  # …not after


def test_signing_in_again_ends_the_browser_s_previous_sign_in(
    app: Flask, client: FlaskClient, add_user: Callable[..., int]
) -> None:
    add_user()
    add_user("other@example.com")
    helpers.sign_in(client)
    cookie = client.get_cookie("session")
    assert cookie is not None
    helpers.sign_in(client, "other@example.com")
    copy = app.test_client()
    copy.set_cookie("session", cookie.value)
    assert copy.get("/account").status_code == 302


def test_changing_the_password_signs_out_every_other_browser(
    app: Flask, client: FlaskClient, add_user: Callable[..., int]
) -> None:
    add_user()
    helpers.sign_in(client)
    laptop = app.test_client()
    helpers.sign_in(laptop)
    changed = client.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "password": "a new long one",
            "confirm": "a new long one",
        },
        follow_redirects=True,
    )
    assert "Your password is changed" in changed.text
    assert client.get("/account").status_code == 200  # this browser stays signed in
    assert laptop.get("/account").status_code == 302  # the other is signed out
    assert sign_in_as(app.test_client(), "reader@example.com") == 200  # old password: no
    assert sign_in_as(app.test_client(), "reader@example.com", "a new long one") == 302
    assert len(mails_to(app, "reader@example.com", "password_changed")) == 1


def test_changing_the_password_needs_the_current_one(
    app: Flask, client: FlaskClient, add_user: Callable[..., int]
) -> None:
    add_user()
    helpers.sign_in(client)
    refused = client.post(
        "/account/password",
        data={
            "current_password": "not it",
            "password": "a new long one",
            "confirm": "a new long one",
        },
        follow_redirects=True,
    )
    assert "Your current password is wrong" in refused.text
    assert sign_in_as(app.test_client(), "reader@example.com") == 302
    assert mails_to(app, "reader@example.com", "password_changed") == []


# --- password reset --------------------------------------------------------------------------


def _reset_link(app: Flask, client: FlaskClient, email: str = "reader@example.com") -> str:
    client.post("/password/forgot", data={"email": email})
    return helpers.link_in(mails_to(app, email, "password_reset")[-1], "/password/reset/")


def test_a_reset_link_sets_a_new_password_signs_out_everywhere_and_works_once(
    app: Flask, add_user: Callable[..., int]
) -> None:
    add_user()
    phone, laptop, forgetful = app.test_client(), app.test_client(), app.test_client()
    helpers.sign_in(phone)
    helpers.sign_in(laptop)
    link = _reset_link(app, forgetful)
    assert "Set a new password" in forgetful.get(link).text
    short = forgetful.post(link, data={"password": "short", "confirm": "short"})
    assert "Field must be between 10 and 128 characters long." in short.text
    done = forgetful.post(
        link,
        data={"password": "brand new secret", "confirm": "brand new secret"},
        follow_redirects=True,
    )
    assert done.request.path == "/account" and "Your password is changed" in done.text
    assert phone.get("/account").status_code == 302
    assert laptop.get("/account").status_code == 302
    assert sign_in_as(app.test_client(), "reader@example.com") == 200
    assert sign_in_as(app.test_client(), "reader@example.com", "brand new secret") == 302
    assert len(mails_to(app, "reader@example.com", "password_changed")) == 1

    again = app.test_client().post(link, data={"password": "third one!!", "confirm": "third one!!"})
    assert again.status_code == 400 and "This link was already used" in again.text
    assert sign_in_as(app.test_client(), "reader@example.com", "third one!!") == 200


def test_a_reset_link_expires_after_an_hour_and_a_tampered_one_is_refused(
    app: Flask, client: FlaskClient, add_user: Callable[..., int], monkeypatch: pytest.MonkeyPatch
) -> None:
    add_user()
    stamped = Clock()
    stamped.advance(-61 * 60)
    with monkeypatch.context() as patch:
        patch.setattr("itsdangerous.timed.time", stamped)
        old = _reset_link(app, client)
    expired = client.post(old, data={"password": "brand new secret", "confirm": "brand new secret"})
    assert expired.status_code == 400 and "This link has expired" in expired.text
    fresh = _reset_link(app, client)
    tampered = fresh.replace("/password/reset/", "/password/reset/x", 1)
    assert "This link isn't valid" in client.get(tampered).text
    assert sign_in_as(app.test_client(), "reader@example.com") == 302  # unchanged


def test_the_sign_in_page_offers_a_reset(client: FlaskClient) -> None:
    assert 'href="/password/forgot">Forgot your password?' in client.get("/login").text


# --- changing the email ------------------------------------------------------------------------


def _ask_to_move(client: FlaskClient, email: str, password: str = PASSWORD) -> str:
    """POST the change-email form; the page it leads to."""
    return client.post(
        "/account/email",
        data={"email": email, "email_password": password},
        follow_redirects=True,
    ).text


def _flash(page: str) -> str:
    match = re.search(r'class="flash[^"]*"[^>]*>(.*?)<', page, re.S)
    assert match is not None, page
    return match.group(1).strip()


def test_changing_the_email_waits_for_the_new_address_and_says_nothing_of_taken_ones(
    app: Flask, client: FlaskClient, add_user: Callable[..., int]
) -> None:
    add_user()
    add_user("someone.else@example.com")
    helpers.sign_in(client)
    assert "Your current password is wrong" in _ask_to_move(client, "new@example.com", "not it")
    assert mails_to(app, "new@example.com") == []

    taken = _flash(_ask_to_move(client, "someone.else@example.com"))
    free = _flash(_ask_to_move(client, "New@Example.com"))
    assert free == "We&#39;ve sent a link to new@example.com to confirm the change."
    assert taken.replace("someone.else@", "new@") == free  # the same answer either way
    # Nothing moved yet: the account still signs in with its old email.
    assert sign_in_as(app.test_client(), "reader@example.com") == 302
    assert sign_in_as(app.test_client(), "new@example.com") == 200
    assert [m.kind for m in mails_to(app, "someone.else@example.com")] == ["email_taken"]
    assert sign_in_as(app.test_client(), "someone.else@example.com") == 302  # untouched
    link = helpers.link_in(
        mails_to(app, "new@example.com", "confirm_email_change")[0], "/account/email/confirm/"
    )

    stranger = app.test_client()
    assert stranger.get(link).status_code == 302  # signed out: sign in first
    helpers.sign_in(stranger, "someone.else@example.com")
    assert stranger.get(link).status_code == 404  # another account's link
    assert stranger.post(link).status_code == 404

    shown = client.get(link)
    assert shown.status_code == 200 and "new@example.com" in shown.text
    assert mails_to(app, "reader@example.com") == []  # opening the link changes nothing
    moved = client.post(link, follow_redirects=True)
    assert "Your email is now new@example.com." in moved.text
    notice = mails_to(app, "reader@example.com", "email_changed")
    assert len(notice) == 1 and "new@example.com" in notice[0].text_body
    assert client.get("/account").status_code == 200  # still signed in
    assert sign_in_as(app.test_client(), "new@example.com") == 302
    assert sign_in_as(app.test_client(), "reader@example.com") == 200
    again = client.post(link)
    assert again.status_code == 400 and "This link was already used" in again.text


def test_an_email_change_link_dies_once_the_email_changes(
    app: Flask, client: FlaskClient, add_user: Callable[..., int]
) -> None:
    add_user()
    helpers.sign_in(client)
    _ask_to_move(client, "first@example.com")
    _ask_to_move(client, "second@example.com")
    first, second = (
        helpers.link_in(mails_to(app, email, "confirm_email_change")[0], "/account/email/")
        for email in ("first@example.com", "second@example.com")
    )
    assert "Your email is now first@example.com." in client.post(first, follow_redirects=True).text
    late = client.post(second)
    assert late.status_code == 400 and "This link was already used" in late.text
    assert sign_in_as(app.test_client(), "first@example.com") == 302


def test_a_reset_link_mailed_before_an_email_change_no_longer_works(
    app: Flask, client: FlaskClient, add_user: Callable[..., int]
) -> None:
    add_user()
    reset = _reset_link(app, app.test_client())  # to the old address, perhaps not the owner's
    helpers.sign_in(client)
    _ask_to_move(client, "new@example.com")
    client.post(helpers.link_in(mails_to(app, "new@example.com")[0], "/account/email/"))
    used = app.test_client().post(
        reset, data={"password": "taken over now", "confirm": "taken over now"}
    )
    assert used.status_code == 400 and "This link was already used" in used.text
    assert sign_in_as(app.test_client(), "new@example.com", "taken over now") == 200
    assert sign_in_as(app.test_client(), "new@example.com") == 302


def test_the_account_forms_need_a_csrf_token(
    app: Flask, client: FlaskClient, add_user: Callable[..., int]
) -> None:
    add_user()
    app.config["WTF_CSRF_ENABLED"] = True
    for path, data in (
        ("/password/forgot", {"email": "reader@example.com"}),
        ("/register", {"email": "a@example.com", "password": PASSWORD, "confirm": PASSWORD}),
        ("/login", {"email": "reader@example.com", "password": PASSWORD}),
    ):
        assert client.post(path, data=data).status_code == 400, path
    assert mails_to(app, "reader@example.com") == [] and mails_to(app, "a@example.com") == []


def test_throttling_is_on_by_default(app: Flask) -> None:
    with app.app_context():
        assert throttling.limiter().enabled


# --- the review: sign-up links carry no secrets and sign nobody in by GET ---------------------


def test_the_sign_up_link_carries_a_random_token_not_the_password_hash(
    app: Flask, client: FlaskClient, add_user: Callable[..., int], accounts_clock: UtcClock
) -> None:
    client.post(
        "/register", data={"email": "new@example.com", "password": PASSWORD, "confirm": PASSWORD}
    )
    link = helpers.link_in(mails_to(app, "new@example.com", "confirm_signup")[0], "/register/")
    token = link.rsplit("/", 1)[1]
    # What an access log, a mail server or browser history keeps: decoding it (itsdangerous
    # signs, it does not encrypt) gives nothing, and it is one random urlsafe token.
    _, payload = URLSafeTimedSerializer("any key").loads_unsafe(token)
    assert payload is None or "password_hash" not in str(payload)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43,}", token), token
    with app.app_context():
        (pending,) = db.session.execute(db.select(PendingSignUp)).scalars()
        assert pending.email == "new@example.com" and token not in pending.token_digest
        assert pending.password_hash.startswith(("scrypt:", "pbkdf2:"))
    # A known email gets its note but no pending sign-up; a day later the old rows go.
    add_user("taken@example.com")
    client.post(
        "/register",
        data={"email": "taken@example.com", "password": PASSWORD, "confirm": PASSWORD},
    )
    accounts_clock.offset = timedelta(hours=24, seconds=1)
    client.post(
        "/register", data={"email": "late@example.com", "password": PASSWORD, "confirm": PASSWORD}
    )
    with app.app_context():
        emails = db.session.execute(db.select(PendingSignUp.email)).scalars().all()
    assert emails == ["late@example.com"]


def test_opening_someone_else_s_sign_up_link_signs_nothing_in(
    app: Flask, add_user: Callable[..., int]
) -> None:
    attacker = app.test_client()
    attacker.post(
        "/register",
        data={"email": "attacker@example.com", "password": PASSWORD, "confirm": PASSWORD},
    )
    link = helpers.link_in(mails_to(app, "attacker@example.com")[0], "/register/")
    app.config["WTF_CSRF_ENABLED"] = True
    victim = app.test_client()
    shown = victim.get(link)
    assert shown.status_code == 200
    assert "Finish creating your account for <strong>attacker@example.com</strong>" in shown.text
    assert victim.get("/account").status_code == 302  # the GET signed nothing in
    assert victim.post(link).status_code == 400  # a forged POST (no CSRF token) neither
    assert victim.get("/account").status_code == 302
    assert sign_in_as(app.test_client(), "attacker@example.com") == 400  # CSRF on: no form
    with app.app_context():
        assert db.session.execute(db.select(User)).scalars().all() == []
    pressed = victim.post(link, data=helpers.form_token(shown.text), follow_redirects=True)
    assert "Welcome to Quire." in pressed.text  # only the button creates it


# --- the review: the account page's password checks are throttled too ------------------------


def test_a_stolen_session_cannot_guess_the_current_password_without_limit(
    app: Flask, client: FlaskClient, add_user: Callable[..., int]
) -> None:
    add_user()
    helpers.sign_in(client)
    new = {"password": "a new long one", "confirm": "a new long one"}
    for n in range(5):
        wrong = client.post(
            "/account/password",
            data={"current_password": f"guess {n}", **new},
            environ_base={"REMOTE_ADDR": f"10.7.0.{n}"},
            follow_redirects=True,
        )
        assert "Your current password is wrong" in wrong.text
    right = client.post(
        "/account/password",
        data={"current_password": PASSWORD, **new},
        environ_base={"REMOTE_ADDR": "10.7.1.1"},
    )
    assert right.status_code == 429 and "<h1>Too many attempts</h1>" in right.text
    by_email = client.post(
        "/account/email",
        data={"email": "new@example.com", "email_password": PASSWORD},
        environ_base={"REMOTE_ADDR": "10.7.1.2"},
    )
    assert by_email.status_code == 429
    assert mails_to(app, "new@example.com") == [] and mails_to(app, "reader@example.com") == []
    # The guesses spent the account's sign-in budget too; the password is unchanged.
    assert sign_in_as(app.test_client(), "reader@example.com", address="10.7.1.3") == 429
    with app.app_context():
        user = db.session.execute(db.select(User)).scalar_one()
        assert user.check_password(PASSWORD)


def test_the_account_page_forms_share_the_address_budget(
    client: FlaskClient, add_user: Callable[..., int]
) -> None:
    add_user()
    helpers.sign_in(client)
    mismatched = {"current_password": PASSWORD, "password": "a new long one", "confirm": "no"}
    answers = [
        client.post(path, data=mismatched, environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code
        for path in ["/account/password", "/account/email"] * 10
    ]
    assert answers == [303] * 20
    assert (
        client.post(
            "/account/password", data=mismatched, environ_base={"REMOTE_ADDR": "203.0.113.9"}
        ).status_code
        == 429
    )


def test_twenty_wrong_passwords_sent_at_once_get_at_most_five_guesses(
    app: Flask, add_user: Callable[..., int], monkeypatch: pytest.MonkeyPatch
) -> None:
    add_user()
    checked: list[str] = []
    lock = threading.Lock()
    real_check = accounts.check_password_hash

    def counting(password_hash: str, password: str) -> bool:
        with lock:
            checked.append(password)
        return real_check(password_hash, password)

    monkeypatch.setattr("shop.accounts.check_password_hash", counting)
    start = threading.Barrier(20)
    answers: list[int] = []

    def guess(n: int) -> None:
        client = app.test_client()
        start.wait()
        status = sign_in_as(client, "reader@example.com", f"guess {n}", address=f"10.8.0.{n}")
        with lock:
            answers.append(status)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(checked) <= 5, checked
    assert sorted(answers) == [200] * len(checked) + [429] * (20 - len(checked))
    assert sign_in_as(app.test_client(), "reader@example.com", address="10.8.1.1") == 429


def test_signing_in_often_never_locks_a_shopper_out(
    client: FlaskClient, add_user: Callable[..., int]
) -> None:
    add_user()
    for n in range(8):
        assert sign_in_as(client, "reader@example.com", address=f"10.9.0.{n}") == 302
    for n in range(4):
        assert sign_in_as(client, "reader@example.com", "typo", address=f"10.9.1.{n}") == 200
    assert sign_in_as(client, "reader@example.com", address="10.9.2.1") == 302


# --- the review: one inbox cannot be flooded -----------------------------------------------


def test_one_inbox_gets_at_most_three_account_mails_an_hour_from_rotating_addresses(
    app: Flask,
    client: FlaskClient,
    add_user: Callable[..., int],
    limits_clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    signed_at = Clock()  # each reset link signed a second apart, so each is a new mail
    monkeypatch.setattr("itsdangerous.timed.time", signed_at)
    for n in range(10):
        answer = client.post(
            "/register",
            data={"email": "victim@example.com", "password": PASSWORD, "confirm": PASSWORD},
            environ_base={"REMOTE_ADDR": f"10.10.0.{n}"},
        )
        assert answer.status_code == 200 and "Check your inbox" in answer.text
    assert len(mails_to(app, "victim@example.com")) == 3
    add_user("reader@example.com")
    for n in range(10):
        answer = client.post(
            "/password/forgot",
            data={"email": "Reader@Example.com"},
            environ_base={"REMOTE_ADDR": f"10.10.1.{n}"},
        )
        signed_at.advance(1)
        assert answer.status_code == 200 and "If an account exists for" in answer.text
    assert len(mails_to(app, "reader@example.com")) == 3
    helpers.sign_in(client)
    for _ in range(5):
        _ask_to_move(client, "victim@example.com")
    assert len(mails_to(app, "victim@example.com")) == 3
    limits_clock.advance(3601)
    client.post("/password/forgot", data={"email": "reader@example.com"})
    assert len(mails_to(app, "reader@example.com")) == 4


# --- the review: sign-ins end by themselves ------------------------------------------------


def test_a_sign_in_ends_thirty_days_after_it_began(
    app: Flask, client: FlaskClient, add_user: Callable[..., int], accounts_clock: UtcClock
) -> None:
    add_user()
    helpers.sign_in(client)
    accounts_clock.offset = accounts.SIGN_IN_LIFETIME - timedelta(minutes=1)
    assert client.get("/account").status_code == 200  # however often it is used
    accounts_clock.offset = accounts.SIGN_IN_LIFETIME + timedelta(seconds=1)
    ended = client.get("/account")
    assert ended.status_code == 302 and ended.location.startswith("/login")
    other = app.test_client()
    helpers.sign_in(other)
    helpers.sign_in(other)  # ends its first sign-in
    with app.app_context():
        left = db.session.execute(db.select(SignIn)).scalars().all()
    assert len(left) == 1 and left[0].ended_at is None  # the expired and ended are gone
    assert other.get("/account").status_code == 200
