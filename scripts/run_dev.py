"""`make run`: the shop on http://127.0.0.1:5000, with the Stripe sandbox when no key is set.

With no STRIPE_SECRET_KEY: starts the sandbox, migrates the database, syncs the
catalogue into the sandbox, registers the webhook endpoint and keeps its secret in
`instance/`, then starts the shop. Both processes log here; Ctrl-C stops both.
With a Stripe key: says exactly what is still missing, then starts the shop.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config import (  # noqa: E402
    INSTANCE,
    SANDBOX_WEBHOOK_SECRET_FILE,
    ConfigError,
    Settings,
    sandbox_settings,
)

SHOP_HOST, SHOP_PORT = "127.0.0.1", 5000
BANNER = """
  Quire is running: http://{shop_host}:{shop_port}
  Stripe sandbox:   {sandbox_url}/dashboard   (test mode, no account, no network)
  Mail outbox:      http://{shop_host}:{shop_port}/outbox/   (every mail the shop sent;
                    signing up and password resets need the link in it)

  Test cards (any future expiry, any CVC):
    4242 4242 4242 4242   succeeds
    4000 0000 0000 0002   declined
    4000 0000 0000 9995   insufficient funds
    4000 0000 0000 0341   succeeds now, later renewals fail
    4000 0025 0000 3155   asks for authentication
    4000 0000 0000 0259   succeeds, then is disputed
  Ctrl-C stops the shop and the sandbox.
"""


def flask(*args: str) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "wsgi", *args]


def stream(process: subprocess.Popen[str], prefix: str) -> None:
    """Copy a child's output here, each line tagged with which process said it."""
    assert process.stdout is not None
    for line in process.stdout:
        sys.stdout.write(f"{prefix} {line}")
        sys.stdout.flush()


def start(command: list[str], prefix: str, env: dict[str, str]) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    threading.Thread(target=stream, args=(process, prefix), daemon=True).start()
    return process


def wait_for_port(
    host: str, port: int, process: subprocess.Popen[str], seconds: float = 30
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the sandbox stopped (exit {process.returncode}); see its log above")
        with socket.socket() as probe:
            if probe.connect_ex((host, port)) == 0:
                return
        time.sleep(0.2)
    raise SystemExit(f"nothing answered on {host}:{port} after {seconds:.0f} s")


def run(command: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(command, cwd=ROOT, env=env, check=False)
    if result.returncode != 0:
        raise SystemExit(f"`{' '.join(command[2:])}` failed (exit {result.returncode})")


def stop_on_sigterm(_signum: int, _frame: object) -> None:
    """`kill` (SIGTERM) stops both processes just like Ctrl-C does."""
    raise KeyboardInterrupt


def main() -> int:
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    try:
        settings = Settings.from_env()
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    if settings.environment == "production":
        print("QUIRE_ENV is production: `make run` is for development.", file=sys.stderr)
        return 2
    children: list[subprocess.Popen[str]] = []
    try:
        if settings.uses_sandbox:
            print("No STRIPE_SECRET_KEY: using the embedded Stripe sandbox.")
            INSTANCE.mkdir(exist_ok=True)
            # The sandbox reads its own settings (SANDBOX_PORT, SANDBOX_DB…) from the
            # environment; its state lives under the shop's instance/ folder by default.
            sandbox_address = sandbox_settings(env)
            sandbox = start(
                [
                    sys.executable,
                    "-m",
                    "stripe_sandbox",
                    "run",
                    "--db",
                    str(ROOT / sandbox_address.db_path),
                ],
                "[sandbox]",
                env,
            )
            children.append(sandbox)
            wait_for_port(sandbox_address.host, sandbox_address.port, sandbox)
            run(flask("db", "upgrade"), env)
            run(flask("catalog", "sync"), env)
            endpoint = flask(
                "stripe",
                "webhook-endpoint",
                f"http://{SHOP_HOST}:{SHOP_PORT}/webhooks/stripe",
                "--secret-file",
                str(SANDBOX_WEBHOOK_SECRET_FILE),
            )
            if not SANDBOX_WEBHOOK_SECRET_FILE.exists():
                endpoint.append("--replace")
            run(endpoint, env)
            env["STRIPE_WEBHOOK_SECRET"] = SANDBOX_WEBHOOK_SECRET_FILE.read_text().strip()
        else:
            print("Using the Stripe account of STRIPE_SECRET_KEY.")
            if not settings.stripe_webhook_secrets:
                print(
                    "Missing STRIPE_WEBHOOK_SECRET: orders still confirm on the success page, "
                    "but refunds, renewals and failures need webhooks. Run\n"
                    f"  stripe listen --forward-to {SHOP_HOST}:{SHOP_PORT}/webhooks/stripe\n"
                    "and put the whsec_… secret it prints into .env as STRIPE_WEBHOOK_SECRET."
                )
            run(flask("db", "upgrade"), env)
            if settings.stripe_secret_key.startswith(("sk_test_", "rk_test_")):
                run(flask("catalog", "sync"), env)
            else:
                print("A live key: run `flask --app wsgi catalog sync --dry-run` yourself first.")
        shop = start(
            flask("run", "--host", SHOP_HOST, "--port", str(SHOP_PORT), "--no-reload"),
            "[shop]   ",
            env,
        )
        children.append(shop)
        wait_for_port(SHOP_HOST, SHOP_PORT, shop)
        print(
            BANNER.format(
                shop_host=SHOP_HOST, shop_port=SHOP_PORT, sandbox_url=settings.stripe_api_base
            )
            if settings.uses_sandbox
            else f"\n  Quire is running: http://{SHOP_HOST}:{SHOP_PORT}\n"
        )
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        print("Stopping the shop and the sandbox…")
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()


if __name__ == "__main__":
    sys.exit(main())
