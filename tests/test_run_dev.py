"""`make run` (scripts/run_dev.py) as a developer meets it: the ports it needs are its
`PORT` and `SANDBOX_PORT`, a taken one is refused up front in one line naming it, and
when the shop or the sandbox stops, that one is named and the other stopped."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "run_dev.py"


def _load_run_dev() -> ModuleType:
    spec = importlib.util.spec_from_file_location("run_dev", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


run_dev = _load_run_dev()


@pytest.fixture
def held_port() -> Iterator[int]:
    """A port some other program is listening on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _child(code: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code], text=True)


def test_a_taken_shop_port_is_refused_before_anything_starts(held_port: int) -> None:
    """`PORT=<taken> make run` exits 2 at once with one line naming the port, that the
    shop needs it, who holds it, and how to choose another; no sandbox is started."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("STRIPE_", "SANDBOX_", "QUIRE_", "SITE_URL", "DATABASE_URL"))
    }
    sandbox_port = _free_port()
    result = subprocess.run(
        [sys.executable, str(SCRIPT)],
        env={**env, "PORT": str(held_port), "SANDBOX_PORT": str(sandbox_port)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"Port {held_port} is already in use" in lines[0]
    assert "the shop needs it" in lines[0]
    assert f"PORT={held_port + 1} make run" in lines[0]
    assert "sandbox" not in result.stdout.lower()
    # Nothing was started on the sandbox's port either.
    assert run_dev.is_free("127.0.0.1", sandbox_port)


def test_the_line_names_the_process_holding_the_port_when_it_can(held_port: int) -> None:
    """On Linux the holder is found through /proc: here, this very test process."""
    line = run_dev.first_taken([run_dev.Port("127.0.0.1", held_port, run_dev.SHOP, "PORT")])
    assert line is not None
    if Path("/proc/net/tcp").exists():
        assert f"(pid {os.getpid()})" in line


def test_a_taken_sandbox_port_names_the_sandbox_and_its_own_setting(held_port: int) -> None:
    ports = [
        run_dev.Port("127.0.0.1", _free_port(), run_dev.SHOP, "PORT"),
        run_dev.Port("127.0.0.1", held_port, run_dev.SANDBOX, "SANDBOX_PORT"),
    ]
    line = run_dev.first_taken(ports)
    assert line is not None
    assert f"Port {held_port} is already in use" in line
    assert "the Stripe sandbox needs it" in line
    assert f"SANDBOX_PORT={held_port + 1} make run" in line


def test_free_ports_let_it_start() -> None:
    ports = [run_dev.Port("127.0.0.1", _free_port(), run_dev.SHOP, "PORT")]
    assert run_dev.first_taken(ports) is None


def test_port_is_honoured_by_the_webhook_endpoint_and_site_url() -> None:
    """The shop's return links and the endpoint release registers (SITE_URL/webhooks/stripe)
    follow the chosen port."""
    env = run_dev.shop_environment({"PORT": "5001"}, 5001, uses_sandbox=True)
    assert env["SITE_URL"] == "http://127.0.0.1:5001"
    assert env["STRIPE_TEST_CLOCKS"] == "1"


def test_a_site_url_or_test_clock_choice_of_the_developer_is_kept() -> None:
    env = run_dev.shop_environment(
        {"SITE_URL": "https://tunnel.example", "STRIPE_TEST_CLOCKS": "0"}, 5001, uses_sandbox=True
    )
    assert env["SITE_URL"] == "https://tunnel.example"
    assert env["STRIPE_TEST_CLOCKS"] == "0"
    assert "STRIPE_TEST_CLOCKS" not in run_dev.shop_environment({}, 5000, uses_sandbox=False)
    # Empty values, as a copied .env.example leaves them, count as unset.
    copied = run_dev.shop_environment(
        {"SITE_URL": "", "STRIPE_TEST_CLOCKS": ""}, 5002, uses_sandbox=True
    )
    assert (copied["SITE_URL"], copied["STRIPE_TEST_CLOCKS"]) == ("http://127.0.0.1:5002", "1")


def test_when_the_shop_stops_it_is_named_not_the_sandbox() -> None:
    """The shop exiting on its own is reported as the shop, with its exit code, and the
    sandbox still running is then stopped."""
    sandbox = _child("import time; time.sleep(60)")
    shop = _child("raise SystemExit(3)")
    children = {run_dev.SANDBOX: sandbox, run_dev.SHOP: shop}
    try:
        message = run_dev.watch(children, every=0.05)
    finally:
        run_dev.stop_all(children)
    assert message == "The shop stopped (exit 3); see its log above."
    assert sandbox.poll() is not None


def test_when_the_sandbox_stops_it_is_named() -> None:
    shop = _child("import time; time.sleep(60)")
    sandbox = _child("raise SystemExit(1)")
    children = {run_dev.SANDBOX: sandbox, run_dev.SHOP: shop}
    try:
        message = run_dev.watch(children, every=0.05)
    finally:
        run_dev.stop_all(children)
    assert message == "The Stripe sandbox stopped (exit 1); see its log above."
    assert shop.poll() is not None


def test_a_shop_that_dies_while_starting_is_named() -> None:
    """Waiting for the shop's port, a shop that exits is the shop's failure."""
    shop = _child("raise SystemExit(4)")
    with pytest.raises(run_dev.ChildStopped, match=r"^The shop stopped \(exit 4\)"):
        run_dev.wait_for_port("127.0.0.1", _free_port(), run_dev.SHOP, shop, seconds=30)
