"""A deploy with no hand steps: `flask --app wsgi release` twice against the sandbox, the
webhook verified with the secret release stored, `stripe check` and `stripe test-webhook`."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import stripe
from flask import Flask
from stripe import StripeClient
from stripe_sandbox.flows import engine
from stripe_sandbox.testing import RunningSandbox

from shop import webhook_secrets
from shop.events import HANDLERS
from shop.extensions import db
from shop.models import Order, ProcessedEvent, WebhookEndpoint
from tests import helpers
from tests.integration.live_shop import LiveShop, paying_card

pytestmark = pytest.mark.sandbox

SHOP_URL = "http://127.0.0.1:5999"


def empty_database(app: Flask) -> None:
    """No tables at all, as on a fresh Heroku Postgres: release builds them by migrating."""
    helpers.empty_database(app)


@pytest.fixture
def released_app(make_app: Callable[..., Flask], sandbox: RunningSandbox) -> Iterator[Flask]:
    """The shop for the sandbox with no webhook secret configured and an empty database."""
    app = make_app(
        STRIPE_API_BASE=sandbox.base_url,
        STRIPE_SECRET_KEY=sandbox.api_key,
        STRIPE_USES_SANDBOX=True,
        STRIPE_WEBHOOK_SECRETS=(),
        SITE_URL=SHOP_URL,
    )
    empty_database(app)
    yield app
    empty_database(app)


def release(app: Flask, *args: str) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["release", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def steps(output: str) -> list[str]:
    """The release's step lines (Alembic logs its own lines around them)."""
    return [line for line in output.splitlines() if line.split()[:1] in (["OK"], ["changed"])]


def stripe_check(app: Flask) -> tuple[int, list[str]]:
    result = app.test_cli_runner().invoke(args=["stripe", "check"])
    return result.exit_code, result.output.splitlines()


def account(client: StripeClient) -> tuple[list[stripe.WebhookEndpoint], list[str], list[str]]:
    """The sandbox's endpoints, every price id, and its portal configuration ids."""
    endpoints = list(client.v1.webhook_endpoints.list(params={"limit": 100}).auto_paging_iter())
    prices = [p.id for p in client.v1.prices.list(params={"limit": 100}).auto_paging_iter()]
    portals = [c.id for c in client.v1.billing_portal.configurations.list().auto_paging_iter()]
    return endpoints, prices, portals


def test_a_second_release_changes_nothing(released_app: Flask, stripe_client: StripeClient) -> None:
    code, first = release(released_app)
    assert code == 0, first
    for step in ("database", "Stripe catalogue", "webhook endpoint", "billing portal"):
        assert f"changed  {step}:" in first
    endpoints, prices, portals = account(stripe_client)
    assert len(endpoints) == 1 and len(portals) == 1
    assert endpoints[0].url == f"{SHOP_URL}/webhooks/stripe"
    assert sorted(endpoints[0].enabled_events) == sorted(HANDLERS)
    assert endpoints[0].api_version == stripe.api_version

    code, second = release(released_app)
    assert code == 0, second
    assert second.splitlines()[-1] == "Release done: nothing changed."
    assert [line.split()[0] for line in steps(second)] == ["OK"] * 5
    again, prices_again, portals_again = account(stripe_client)
    assert [e.id for e in again] == [endpoints[0].id]
    assert (prices_again, portals_again) == (prices, portals)
    with released_app.app_context():
        stored = db.session.execute(db.select(WebhookEndpoint)).scalar_one()
        assert stored.stripe_endpoint_id == endpoints[0].id
        # Never printed unless asked for.
        assert stored.secret not in first + second
        code, asked = release(released_app, "--print-secret")
        assert (
            f"heroku config:set STRIPE_WEBHOOK_SECRET={stored.secret} --app $HEROKU_APP_NAME"
            in asked
        )


def test_a_broken_catalogue_stops_the_release_before_anything_changes(
    released_app: Flask, stripe_client: StripeClient, tmp_path: Path
) -> None:
    broken = tmp_path / "products.yaml"
    broken.write_text(helpers.TEST_CATALOGUE.read_text().replace("price: 1299", "price: -1", 1))
    released_app.config["CATALOGUE_PATH"] = str(broken)
    code, output = release(released_app)
    assert code == 1
    assert "FAIL     catalogue" in output and "nothing was changed" in output
    assert account(stripe_client) == ([], [], [])
    with released_app.app_context(), db.engine.connect() as connection:
        assert not db.inspect(connection).has_table("orders")


def test_stripe_check_is_all_ok_after_release_and_names_what_drifted(
    released_app: Flask, stripe_client: StripeClient, tmp_path: Path
) -> None:
    code, before = stripe_check(released_app)
    assert code == 1
    assert any(line.startswith("FIX  webhook endpoint: none for") for line in before)

    assert release(released_app)[0] == 0
    code, lines = stripe_check(released_app)
    assert code == 0, lines
    assert all(line.startswith("OK ") for line in lines), lines
    assert "OK   signing secret: stored by release for" in "\n".join(lines)

    endpoint = account(stripe_client)[0][0]
    dropped = "charge.refunded"
    stripe_client.v1.webhook_endpoints.update(
        endpoint.id,
        params={"enabled_events": [e for e in sorted(HANDLERS) if e != dropped]},  # type: ignore[typeddict-item]
    )
    changed = tmp_path / "products.yaml"
    changed.write_text(helpers.TEST_CATALOGUE.read_text().replace("price: 1299", "price: 1399", 1))
    released_app.config["CATALOGUE_PATH"] = str(changed)
    code, lines = stripe_check(released_app)
    assert code == 1
    fixes = [line for line in lines if line.startswith("FIX")]
    assert len(fixes) == 2, lines
    assert f"missing {dropped}" in fixes[0]
    assert fixes[1].startswith("FIX  catalogue: 2 change(s)")


def test_a_public_url_is_refused_in_the_sandbox(
    released_app: Flask, stripe_client: StripeClient
) -> None:
    url = "https://my-bookshop.herokuapp.com/webhooks/stripe"
    result = released_app.test_cli_runner().invoke(args=["stripe", "webhook-endpoint", url])
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"no STRIPE_SECRET_KEY: this would register {url} in the local sandbox, not your "
        "Stripe account; set STRIPE_SECRET_KEY=sk_… (or run `release` on the platform)"
    )
    released_app.config["SITE_URL"] = "https://my-bookshop.herokuapp.com"
    code, output = release(released_app)
    assert code == 0, output
    assert "skipped  webhook endpoint: no STRIPE_SECRET_KEY" in output
    assert account(stripe_client)[0] == []


def test_the_secret_release_stored_verifies_a_real_delivery(
    sandbox: RunningSandbox, serve_shop: Callable[..., LiveShop]
) -> None:
    live = serve_shop(sandbox)
    live.app.config["STRIPE_WEBHOOK_SECRETS"] = ()  # nothing configured: the stored one only
    empty_database(live.app)
    code, output = release(live.app)
    assert code == 0, output
    assert "replacing one whose secret was unknown" in output

    client = live.signed_in_shopper()
    start = client.post("/checkout/books/salt-road-ebook", data={"quantity": "1"})
    session_id = start.location.rstrip("/").rsplit("/", 1)[-1]
    paid = engine.pay_checkout_session(live.sandbox.state, session_id, paying_card())
    assert paid.status == "succeeded"
    # No confirmation page visited: only the webhook can mark the order paid.
    assert live.wait_for(lambda: db.session.get(Order, 1).status == "paid")
    assert live.read(
        lambda: db.session.execute(
            db.select(ProcessedEvent).where(ProcessedEvent.type == "checkout.session.completed")
        ).scalar_one_or_none()
    )


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_test_webhook_reports_what_the_shop_answered(
    live_shop: LiveShop, make_app: Callable[..., Flask]
) -> None:
    result = live_shop.app.test_cli_runner().invoke(args=["stripe", "test-webhook"])
    assert result.exit_code == 0, result.output
    assert f"POST {live_shop.url}/webhooks/stripe -> 200 in " in result.output
    assert "ignored (signature accepted)" in result.output
    event_id = result.output.split("event ", 1)[1].split()[0]
    assert event_id.startswith("evt_test_")
    assert live_shop.read(lambda: db.session.get(ProcessedEvent, event_id)) is not None

    elsewhere = make_app(STRIPE_WEBHOOK_SECRETS=("whsec_not_the_shops",))
    url = f"{live_shop.url}/webhooks/stripe"
    wrong = elsewhere.test_cli_runner().invoke(args=["stripe", "test-webhook", "--url", url])
    assert wrong.exit_code == 1
    assert "-> 400" in wrong.output and "does not match the shop's" in wrong.output

    nowhere = f"http://127.0.0.1:{closed_port()}/webhooks/stripe"
    gone = elsewhere.test_cli_runner().invoke(args=["stripe", "test-webhook", "--url", nowhere])
    assert gone.exit_code == 1
    assert f"\nThe shop is not reachable at {nowhere}" in gone.output


def test_an_endpoint_with_only_a_configured_wrong_secret_is_replaced_by_release(
    sandbox: RunningSandbox,
    serve_shop: Callable[..., LiveShop],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A shop deployed with a STRIPE_WEBHOOK_SECRET that is not its endpoint's (a sandbox
    whsec_, say) would refuse every real delivery: nothing may call that OK, and release
    replaces the endpoint and stores the new one's secret."""
    monkeypatch.setattr(webhook_secrets, "REREAD_SECONDS", 0.0)  # no waiting between reads
    live = serve_shop(sandbox)
    live.app.config["STRIPE_WEBHOOK_SECRETS"] = ("whsec_from_another_sandbox",)
    old = account(live.stripe_client)[0][0]

    code, lines = stripe_check(live.app)
    assert code == 0, lines  # a WARN does not fail the check
    assert (
        "WARN signing secret: from STRIPE_WEBHOOK_SECRET, which Stripe cannot confirm; if "
        "deliveries fail with 400 (see /admin/events or the Stripe dashboard), unset it and "
        "run release"
    ) in lines
    probe = live.app.test_cli_runner().invoke(args=["stripe", "test-webhook"])
    assert "Signing with STRIPE_WEBHOOK_SECRET, which Stripe cannot confirm." in probe.output

    empty_database(live.app)
    code, output = release(live.app)
    assert code == 0, output
    assert (
        "replacing one whose secret was unknown (STRIPE_WEBHOOK_SECRET is set, but Stripe "
        "cannot confirm it is that one's)"
    ) in output
    endpoints = account(live.stripe_client)[0]
    assert len(endpoints) == 1 and endpoints[0].id != old.id
    with live.app.app_context():
        stored = db.session.execute(db.select(WebhookEndpoint)).scalar_one()
        assert stored.stripe_endpoint_id == endpoints[0].id
        assert stored.secret not in output

    code, lines = stripe_check(live.app)
    assert code == 0, lines
    assert f"OK   signing secret: stored by release for {endpoints[0].id}" in lines
    assert not [line for line in lines if line.startswith(("WARN", "FIX"))], lines
    probe = live.app.test_cli_runner().invoke(args=["stripe", "test-webhook"])
    assert probe.exit_code == 0, probe.output
    assert f"Signing with the secret release stored for {endpoints[0].id}." in probe.output
    assert "-> 200 in " in probe.output and "(signature accepted)" in probe.output

    code, again = release(live.app)  # the stored secret is trusted: nothing replaced
    assert code == 0, again
    assert [e.id for e in account(live.stripe_client)[0]] == [endpoints[0].id]


def test_webhook_endpoint_stores_the_secret_instead_of_printing_it(
    released_app: Flask, stripe_client: StripeClient, tmp_path: Path
) -> None:
    with released_app.app_context():
        db.create_all()
    url = f"{SHOP_URL}/webhooks/stripe"
    runner = released_app.test_cli_runner()
    result = runner.invoke(args=["stripe", "webhook-endpoint", url])
    assert result.exit_code == 0, result.output
    endpoint = account(stripe_client)[0][0]
    assert result.output.splitlines() == [
        f"Created webhook endpoint {endpoint.id} for {url}.",
        "Its signing secret is stored in the database; the webhook reads it from there.",
    ]
    with released_app.app_context():
        stored = db.session.execute(db.select(WebhookEndpoint)).scalar_one()
        assert (stored.stripe_endpoint_id, stored.url) == (endpoint.id, url)
        assert stored.secret.startswith("whsec_") and stored.secret not in result.output

    secret_file = tmp_path / "secret"
    result = runner.invoke(
        args=["stripe", "webhook-endpoint", url, "--replace", "--secret-file", str(secret_file)]
    )
    assert result.exit_code == 0, result.output
    assert f"Its signing secret is in {secret_file}." in result.output
    assert secret_file.read_text().startswith("whsec_")
    assert secret_file.read_text() not in result.output


def test_a_release_goes_out_during_a_stripe_outage_only_if_the_catalogue_is_unchanged(
    released_app: Flask, make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    code, first = release(released_app)
    assert code == 0, first
    down = f"http://127.0.0.1:{closed_port()}"  # Stripe, unreachable
    outage = make_app(
        STRIPE_API_BASE=down,
        STRIPE_SECRET_KEY="sk_test_sandbox",
        STRIPE_USES_SANDBOX=False,
        STRIPE_WEBHOOK_SECRETS=(),
        SITE_URL=SHOP_URL,
    )
    code, output = release(outage)
    assert code == 0, output
    assert "WARN     Stripe: unreachable (APIConnectionError" in output
    assert "the catalogue is unchanged since the sync of" in output
    assert output.splitlines()[-1] == (
        "Release done, with a warning: Stripe was not reached (see above)."
    )

    changed = tmp_path / "products.yaml"
    changed.write_text(helpers.TEST_CATALOGUE.read_text().replace("price: 1299", "price: 1399", 1))
    outage.config["CATALOGUE_PATH"] = str(changed)
    code, output = release(outage)
    assert code == 2
    assert "FAIL" in output and "the catalogue changed since the last sync" in output
    assert "Traceback" not in output


def test_a_release_that_cannot_reach_the_database_says_so_in_one_line(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(
        SQLALCHEMY_DATABASE_URI=f"postgresql+psycopg://nobody@127.0.0.1:{closed_port()}/x"
    )
    code, output = release(app)
    assert code == 3
    (line,) = [line for line in output.splitlines() if line.startswith("FAIL")]
    assert line.startswith("FAIL     database: cannot be reached (")
    assert line.endswith("check DATABASE_URL")
