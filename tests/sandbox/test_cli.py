"""`python -m stripe_sandbox` and its settings from the environment."""

from __future__ import annotations

from pathlib import Path

from stripe_sandbox.__main__ import main, make_sandbox_server, parse_args, settings_from
from stripe_sandbox.core.store import Store
from stripe_sandbox.testing import running_sandbox

from stripe_sandbox import SandboxSettings


def test_environment_settings() -> None:
    """SANDBOX_* variables set host, port, db, keys and the public URL."""
    settings = SandboxSettings.from_env(
        {
            "SANDBOX_HOST": "127.0.0.2",
            "SANDBOX_PORT": "9999",
            "SANDBOX_DB": "x.sqlite3",
            "SANDBOX_API_KEY": "sk_test_a,sk_test_b",
            "SANDBOX_PUBLIC_URL": "https://pay.example/",
        }
    )
    assert (settings.host, settings.port, settings.db_path) == ("127.0.0.2", 9999, "x.sqlite3")
    assert settings.api_keys == ("sk_test_a", "sk_test_b")
    assert settings.base_url == "https://pay.example"


def test_command_line_overrides() -> None:
    """Flags override the environment's defaults."""
    args = parse_args(
        [
            "run",
            "--port",
            "12222",
            "--db",
            "other.sqlite3",
            "--api-key",
            "sk_test_x",
            "--duplicate-deliveries",
        ]
    )
    settings = settings_from(args)
    assert (settings.port, settings.db_path, settings.api_keys, settings.duplicate_deliveries) == (
        12222,
        "other.sqlite3",
        ("sk_test_x",),
        True,
    )


def test_reset_wipes_state(tmp_path: Path) -> None:
    """`reset` deletes every object of the database it is given."""
    db = tmp_path / "stripe.sqlite3"
    with running_sandbox(db) as sandbox:
        sandbox.client().v1.customers.create(params={"email": "a@example.com"})
        assert sandbox.state.store.count("customer") == 1
    store = Store(str(db))
    assert store.count("customer") == 1
    assert main(["reset", "--db", str(db)]) == 0
    assert store.count("customer") == 0
    store.close()


def test_alternative_api_keys_and_public_url(tmp_path: Path) -> None:
    """A sandbox accepts the keys it is given and builds hosted URLs from public_url."""
    with running_sandbox(
        tmp_path / "s.sqlite3", api_keys=("sk_test_quire",), public_url="https://pay.quire.test"
    ) as sandbox:
        stripe_client = sandbox.client()
        price = stripe_client.v1.prices.create(
            params={"product_data": {"name": "Dune"}, "unit_amount": 900, "currency": "gbp"}
        )
        session = stripe_client.v1.checkout.sessions.create(
            params={
                "mode": "payment",
                "line_items": [{"price": price.id, "quantity": 1}],
                "success_url": "https://shop.test/",
            }
        )
        assert session.url == f"https://pay.quire.test/checkout/{session.id}"


def test_run_on_port_zero_puts_the_real_port_in_hosted_urls(tmp_path: Path) -> None:
    """`run --port 0` listens on a free port, and hosted-page URLs use that port."""
    settings = settings_from(
        parse_args(["run", "--port", "0", "--db", str(tmp_path / "s.sqlite3")])
    )
    server = make_sandbox_server(settings)
    try:
        assert server.port != 0
        http = server.app.test_client()  # type: ignore[attr-defined]
        auth = {"Authorization": f"Bearer {settings.api_keys[0]}"}
        price = http.post(
            "/v1/prices",
            headers=auth,
            data={"product_data[name]": "Dune", "unit_amount": "1200", "currency": "gbp"},
        ).get_json()
        session = http.post(
            "/v1/checkout/sessions",
            headers=auth,
            data={
                "mode": "payment",
                "line_items[0][price]": price["id"],
                "line_items[0][quantity]": "1",
                "success_url": "https://shop.test/",
            },
        ).get_json()
        assert session["url"] == f"http://{settings.host}:{server.port}/checkout/{session['id']}"
    finally:
        server.server_close()
        server.app.extensions["sandbox"].close()  # type: ignore[attr-defined]
