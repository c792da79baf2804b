"""The database down: Quire's own 503 page ("try again in a minute"), never Werkzeug's
bare 500, rendered without the database, for guests and signed-in shoppers alike."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from shop.extensions import db

TROUBLE = "We're having trouble, try again in a minute"

#: Databases that cannot be reached: PostgreSQL refusing connections, a SQLite file
#: whose folder does not exist.
UNREACHABLE = {
    "postgresql": "postgresql+psycopg://quire@127.0.0.1:1/quire?connect_timeout=2",
    "sqlite": "sqlite:///{tmp}/no/such/folder/quire.sqlite3",
}


@pytest.fixture(params=sorted(UNREACHABLE))
def app_without_database(
    request: pytest.FixtureRequest, make_app: Callable[..., Flask], tmp_path: Path
) -> Flask:
    """The shop started with its database unreachable (nothing connects at start-up)."""
    url = UNREACHABLE[request.param].format(tmp=tmp_path)
    return make_app(SQLALCHEMY_DATABASE_URI=url, PROPAGATE_EXCEPTIONS=False)


def signed_in(client: FlaskClient, user_id: int = 1) -> FlaskClient:
    """The session cookie a shopper signed in before the database went away carries."""
    with client.session_transaction() as session:
        session["_user_id"] = str(user_id)
        session["_fresh"] = True
    return client


@pytest.mark.parametrize("path", ["/", "/account", "/library", "/cart", "/books/the-salt-road"])
def test_signed_in_pages_answer_quire_s_503_when_the_database_is_down(
    app_without_database: Flask, path: str
) -> None:
    client = signed_in(app_without_database.test_client())
    response = client.get(path)
    assert response.status_code == 503
    assert TROUBLE in response.text
    assert "Back to the shop" in response.text
    assert response.headers["Retry-After"] == "60"
    assert "Internal Server Error" not in response.text
    assert "Sign out" not in response.text  # the header left out what needs the database


def test_a_guest_s_pages_that_need_the_database_answer_503_too(
    app_without_database: Flask,
) -> None:
    client = app_without_database.test_client()
    assert client.get("/").status_code == 200  # the catalogue is in memory: still open
    response = client.post(
        "/login", data={"email": "reader@example.com", "password": "correct horse battery"}
    )
    assert response.status_code == 503
    assert TROUBLE in response.text
    assert "Quire" in response.text


def test_the_database_going_away_after_start_answers_503(
    app: Flask, client: FlaskClient, add_user: Callable[..., int], sign_in: Callable[..., None]
) -> None:
    """Signed in while the database worked; then it is gone (its engine now points at a
    server that refuses connections)."""
    add_user()
    sign_in()
    assert client.get("/account").status_code == 200
    app.config["PROPAGATE_EXCEPTIONS"] = False
    with app.app_context():
        engines = db.engines
        working = engines[None]
        engines[None] = create_engine(UNREACHABLE["postgresql"])
        try:
            response = client.get("/account")
        finally:
            engines[None].dispose()
            engines[None] = working
    assert response.status_code == 503
    assert TROUBLE in response.text


def test_a_connection_the_server_dropped_answers_503_once_and_the_next_request_works(
    app: Flask, client: FlaskClient, add_user: Callable[..., int], sign_in: Callable[..., None]
) -> None:
    """No ping before each use of a pooled connection: one the server has closed (a
    restart, an idle timeout) fails the request that meets it with the 503 page, and
    the pool replaces its connections, so the shopper's next request is served."""
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite has no server to drop a connection")
    add_user()
    sign_in()
    assert client.get("/account").status_code == 200  # the pool now holds a connection
    app.config["PROPAGATE_EXCEPTIONS"] = False
    with app.app_context():
        pooled = db.engine.pool.checkedin()
        assert pooled >= 1
        # Another connection ends every other backend of this database, as a restart would.
        outside = create_engine(db.engine.url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        try:
            with outside.connect() as other:
                ended = other.execute(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).scalar_one()
        finally:
            outside.dispose()
        assert ended >= pooled
    dropped = client.get("/account")
    assert dropped.status_code == 503
    assert TROUBLE in dropped.text
    assert client.get("/account").status_code == 200
    assert client.get("/").status_code == 200
