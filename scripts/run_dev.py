"""`make run`: the shop on http://127.0.0.1:$PORT (5000), with the Stripe sandbox when no
key is set.

Before starting anything it checks that the shop's port (`PORT`) and the sandbox's
(`SANDBOX_PORT`) are free, and refuses in one line naming the port, who needs it and
how to choose another. With no STRIPE_SECRET_KEY: starts the sandbox, migrates the
database, syncs the catalogue into the sandbox, registers the webhook endpoint for the
shop's port (its secret kept in the database), then starts the shop, each new Stripe
customer on its own test clock (`STRIPE_TEST_CLOCKS=1`, unless set otherwise). With a
PostgreSQL DATABASE_URL it starts a queue worker too (on SQLite the shop applies events
itself). Every process logs here; if one stops, it is named with its exit code and the
others are stopped; Ctrl-C stops them all. With a Stripe key: says exactly what is still missing, then
starts the shop.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config import (  # noqa: E402
    INSTANCE,
    ConfigError,
    Settings,
    sandbox_settings,
    shop_port,
)

SHOP_HOST = "127.0.0.1"
SHOP = "the shop"
SANDBOX = "the Stripe sandbox"
WORKER = "the queue worker"
BANNER = """
  Quire is running: http://{shop_host}:{shop_port}
  Stripe sandbox:   {sandbox_url}/dashboard   (test mode, no account, no network;
                    "Test clocks" there runs a membership's trial end and renewals)
  Mail outbox:      http://{shop_host}:{shop_port}/outbox/   (every mail the shop sent;
                    signing up and password resets need the link in it)

  Test cards (any future expiry, any CVC):
    4242 4242 4242 4242   succeeds
    4000 0000 0000 0002   declined
    4000 0000 0000 9995   insufficient funds
    4000 0000 0000 0341   can be saved, every later automatic charge fails
    4000 0025 0000 3155   asks for authentication
    4000 0000 0000 0259   succeeds, then is disputed
  Ctrl-C stops the shop and the sandbox.
"""


@dataclass(frozen=True)
class Port:
    """A port one of the two processes needs, and the setting that chooses it."""

    host: str
    number: int
    needed_by: str
    setting: str


def is_free(host: str, port: int) -> bool:
    """Whether a server could listen on `host:port` now (a bind test, nothing kept)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # The same option the servers set, so a port in TIME_WAIT counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                inodes.add(inode)
    return inodes


def holder_of(port: int) -> str | None:
    """`python3 (pid 1234)` for the process listening on `port`, when /proc tells
    (Linux, a process of this user); None otherwise."""
    inodes = _listening_inodes(port)
    if not inodes:
        return None
    wanted = {f"socket:[{inode}]" for inode in inodes}
    for pid_dir in Path("/proc").iterdir():
        if not pid_dir.name.isdigit():
            continue
        try:
            for fd in (pid_dir / "fd").iterdir():
                if os.readlink(fd) in wanted:
                    name = (pid_dir / "comm").read_text().strip()
                    return f"{name} (pid {pid_dir.name})"
        except OSError:
            continue
    return None


def port_taken(port: Port, holder: str | None) -> str:
    """The one line that refuses to start because `port` is in use."""
    held = f" by {holder}" if holder else ""
    return (
        f"Port {port.number} is already in use{held}; {port.needed_by} needs it. "
        f"Choose another port: {port.setting}={port.number + 1} make run"
    )


def first_taken(ports: list[Port]) -> str | None:
    """The refusal for the first of `ports` that is in use, or None when all are free."""
    for port in ports:
        if not is_free(port.host, port.number):
            return port_taken(port, holder_of(port.number))
    return None


def shop_environment(env: Mapping[str, str], port: int, uses_sandbox: bool) -> dict[str, str]:
    """The environment the shop and its commands run with: `SITE_URL` follows the port
    unless set, and with the sandbox each new customer gets its own test clock unless
    `STRIPE_TEST_CLOCKS` says otherwise."""
    child = {**env, "PYTHONUNBUFFERED": "1"}
    # An empty value (`SITE_URL=` as in .env.example) counts as unset.
    if not child.get("SITE_URL"):
        child["SITE_URL"] = f"http://{SHOP_HOST}:{port}"
    if uses_sandbox and not child.get("STRIPE_TEST_CLOCKS"):
        child["STRIPE_TEST_CLOCKS"] = "1"
    return child


def stopped(name: str, code: int) -> str:
    """What to say when one of the processes exits on its own."""
    how = f"killed by signal {-code}" if code < 0 else f"exit {code}"
    return f"{name[0].upper()}{name[1:]} stopped ({how}); see its log above."


def first_stopped(children: Mapping[str, subprocess.Popen[str]]) -> tuple[str, int] | None:
    """The name and exit code of a process that has exited, if any has."""
    for name, child in children.items():
        code = child.poll()
        if code is not None:
            return name, code
    return None


class ChildStopped(Exception):
    """One of the processes exited on its own; the message names it."""


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
    host: str, port: int, name: str, process: subprocess.Popen[str], seconds: float = 30
) -> None:
    """Wait until `process` (called `name`) answers on `host:port`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ChildStopped(stopped(name, process.returncode))
        with socket.socket() as probe:
            if probe.connect_ex((host, port)) == 0:
                return
        time.sleep(0.2)
    raise SystemExit(f"{name} did not answer on {host}:{port} after {seconds:.0f} s")


def watch(children: Mapping[str, subprocess.Popen[str]], every: float = 0.5) -> str:
    """Wait until one of the processes exits; what to say about it."""
    while True:
        found = first_stopped(children)
        if found is not None:
            return stopped(*found)
        time.sleep(every)


def run(command: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(command, cwd=ROOT, env=env, check=False)
    if result.returncode != 0:
        raise SystemExit(f"`{' '.join(command[2:])}` failed (exit {result.returncode})")


def stop_on_sigterm(_signum: int, _frame: object) -> None:
    """`kill` (SIGTERM) stops both processes just like Ctrl-C does."""
    raise KeyboardInterrupt


def stop_all(children: Mapping[str, subprocess.Popen[str]]) -> None:
    """Stop every process still running, then wait for each (killing a stubborn one)."""
    running = [name for name, child in children.items() if child.poll() is None]
    if running:
        print(f"Stopping {' and '.join(running)}…")
    for name in running:
        children[name].terminate()
    for child in children.values():
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()


def start_sandbox(
    env: dict[str, str], port: int, children: dict[str, subprocess.Popen[str]]
) -> None:
    """Start the sandbox, then run the release a deploy runs (check the catalogue,
    migrate, sync it into the sandbox, register the shop's endpoint with its secret kept
    in the database, set up the billing portal)."""
    print("No STRIPE_SECRET_KEY: using the embedded Stripe sandbox.")
    INSTANCE.mkdir(exist_ok=True)
    # The sandbox reads its own settings (SANDBOX_PORT, SANDBOX_DB…) from the
    # environment; its state lives under the shop's instance/ folder by default.
    sandbox_address = sandbox_settings(env)
    command = [sys.executable, "-m", "stripe_sandbox", "run"]
    children[SANDBOX] = start(
        [*command, "--db", str(ROOT / sandbox_address.db_path)], "[sandbox]", env
    )
    wait_for_port(sandbox_address.host, sandbox_address.port, SANDBOX, children[SANDBOX])
    run(flask("release"), env)


def prepare_stripe_account(settings: Settings, env: dict[str, str], port: int) -> None:
    """With a real key: say what is missing, migrate, and sync a test account."""
    print("Using the Stripe account of STRIPE_SECRET_KEY.")
    if not settings.stripe_webhook_secrets:
        print(
            "Missing STRIPE_WEBHOOK_SECRET: orders still confirm on the success page, "
            "but refunds, renewals and failures need webhooks. Run\n"
            f"  stripe listen --forward-to {SHOP_HOST}:{port}/webhooks/stripe\n"
            "and put the whsec_… secret it prints into .env as STRIPE_WEBHOOK_SECRET."
        )
    run(flask("db", "upgrade"), env)
    if settings.stripe_secret_key.startswith(("sk_test_", "rk_test_")):
        run(flask("catalog", "sync"), env)
    else:
        print("A live key: run `flask --app wsgi catalog sync --dry-run` yourself first.")


def main() -> int:
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    try:
        settings = Settings.from_env()
        port = shop_port(os.environ)
        ports = [Port(SHOP_HOST, port, SHOP, "PORT")]
        if settings.uses_sandbox:
            sandbox = sandbox_settings(os.environ)
            ports.append(Port(sandbox.host, sandbox.port, SANDBOX, "SANDBOX_PORT"))
        env = shop_environment(os.environ, port, settings.uses_sandbox)
        # Read again as the shop will: SITE_URL and test clocks follow the port and sandbox.
        settings = Settings.from_env(env)
    except (ConfigError, ValueError) as error:
        print(error, file=sys.stderr)
        return 2
    if settings.environment == "production":
        print("QUIRE_ENV is production: `make run` is for development.", file=sys.stderr)
        return 2
    taken = first_taken(ports)
    if taken:
        print(taken, file=sys.stderr)
        return 2
    children: dict[str, subprocess.Popen[str]] = {}
    try:
        if settings.uses_sandbox:
            start_sandbox(env, port, children)
        else:
            prepare_stripe_account(settings, env, port)
        children[SHOP] = start(
            flask("run", "--host", SHOP_HOST, "--port", str(port), "--no-reload"),
            "[shop]   ",
            env,
        )
        wait_for_port(SHOP_HOST, port, SHOP, children[SHOP])
        if settings.queue_mode == "procrastinate":  # DATABASE_URL is PostgreSQL
            children[WORKER] = start(flask("worker"), "[worker] ", env)
        print(
            BANNER.format(shop_host=SHOP_HOST, shop_port=port, sandbox_url=settings.stripe_api_base)
            if settings.uses_sandbox
            else f"\n  Quire is running: http://{SHOP_HOST}:{port}\n"
        )
        print(watch(children), file=sys.stderr)
        return 1
    except ChildStopped as stop:
        print(stop, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stop_all(children)


if __name__ == "__main__":
    sys.exit(main())
