"""What a catalogue sync costs against a distant Stripe: `python bench/sync.py`.

Generates a catalogue of 1,000 items (998 ebooks and 2 plans with a monthly and a yearly
price: 1,002 prices), starts the Stripe sandbox in a process of its own with every API
answer delayed by `SANDBOX_LATENCY_MS` (150 ms, as production sees Stripe, and 0), and
runs `flask --app wsgi catalog sync` twice through the app: a first sync that creates
everything, then an unchanged re-sync. For each it prints the wall time and the API
calls the sandbox counted (`GET /dashboard/api-calls`), per route.

`measure(...)` returns the figures the main benchmark keeps:
`{"first_sync_s_1000_at_150ms": …, "resync_list_calls_per_100": …, …}`.

The shop's database is a temporary SQLite file, or PostgreSQL with `--database-url` (or
`TEST_DATABASE_URL`), whose tables are dropped and made again. Figures, not pass/fail:
the tests hold the sync to its call counts (`tests/test_sync.py`,
`tests/test_sync_writes.py`), never to its times.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shop.extensions import db  # noqa: E402
from tests.helpers import build_app  # noqa: E402

SANDBOX_KEY = "sk_test_sandbox"
PLANS = 2
LIST_ROUTES = ("GET /v1/products", "GET /v1/prices")


def catalogue_yaml(items: int) -> str:
    """A valid catalogue of `items` items: ebooks (the shipped sample files) and 2 plans."""
    books = "".join(
        f"  - key: book-{n:04d}\n"
        f"    title: Book {n}\n"
        f"    author: Author {n % 97}\n"
        f"    description: Book {n} of the generated catalogue.\n"
        f"    price: {500 + n}\n"
        f"    format: ebook\n"
        f"    files: [{{format: epub, path: salt-road-ebook.epub}}]\n"
        for n in range(items - PLANS)
    )
    plans = "".join(
        f"  - key: plan-{n}\n"
        f"    name: Plan {n}\n"
        f"    description: Generated plan {n}.\n"
        f"    features: [Everything]\n"
        f"    prices: {{month: {900 + n}, year: {9000 + n}}}\n"
        for n in range(PLANS)
    )
    return f"currency: gbp\n\nbooks:\n{books}\nplans:\n{plans}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _http(method: str, url: str) -> Any:
    request = urllib.request.Request(url, method=method)  # noqa: S310 - a local sandbox
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        return json.loads(answer.read())


@contextmanager
def sandbox_process(latency_ms: int, workdir: Path) -> Iterator[str]:
    """The sandbox served by `python -m stripe_sandbox run` in a process of its own, a
    fresh database, answers delayed by `latency_ms`; yields its base URL."""
    port = _free_port()
    database = workdir / f"sandbox-{latency_ms}.sqlite3"
    env = {**os.environ, "SANDBOX_LATENCY_MS": str(latency_ms)}
    command = [sys.executable, "-m", "stripe_sandbox"]
    subprocess.run(  # noqa: S603 - this interpreter, the sandbox's own command line
        [*command, "reset", "--db", str(database)], env=env, check=True, capture_output=True
    )
    log = (workdir / f"sandbox-{latency_ms}.log").open("w")
    server = subprocess.Popen(  # noqa: S603 - as above
        [*command, "run", "--port", str(port), "--db", str(database), "--api-key", SANDBOX_KEY],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                _http("GET", base + "/dashboard/api-calls")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the sandbox did not start (see {log.name})") from None
                time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(10)
        log.close()


def _sync(app: Any) -> tuple[float, str]:
    started = time.perf_counter()
    result = app.test_cli_runner().invoke(args=["catalog", "sync"])
    elapsed = time.perf_counter() - started
    if result.exit_code != 0:
        raise RuntimeError(f"catalog sync failed:\n{result.output}")
    return elapsed, str(result.output)


def run_at(latency_ms: int, items: int, workdir: Path, database_url: str | None) -> dict[str, Any]:
    """A first sync and an unchanged re-sync of `items` items with Stripe `latency_ms` away."""
    catalogue = workdir / "products.yaml"
    catalogue.write_text(catalogue_yaml(items))
    if database_url:
        os.environ["TEST_DATABASE_URL"] = database_url
    with sandbox_process(latency_ms, workdir) as base:
        app = build_app(
            workdir,
            STRIPE_SECRET_KEY=SANDBOX_KEY,
            STRIPE_API_BASE=base,
            STRIPE_MAX_NETWORK_RETRIES=2,
            CATALOGUE_PATH=str(catalogue),
            LOG_LEVEL="ERROR",
        )
        with app.app_context():
            db.drop_all()
            db.create_all()
        _http("DELETE", base + "/dashboard/api-calls")
        first_s, _ = _sync(app)
        first_calls = _http("DELETE", base + "/dashboard/api-calls")
        again_s, again_output = _sync(app)
        again_calls = _http("DELETE", base + "/dashboard/api-calls")
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    if "no changes" not in again_output:
        raise RuntimeError(f"the re-sync was not unchanged:\n{again_output}")
    lists = sum(again_calls["by_route"].get(route, 0) for route in LIST_ROUTES)
    return {
        "latency_ms": latency_ms,
        "items": items,
        "first_sync_s": round(first_s, 2),
        "first_sync_calls": first_calls,
        "resync_s": round(again_s, 2),
        "resync_calls": again_calls,
        "resync_list_calls": lists,
        "resync_list_calls_per_100": round(lists / items * 100, 2),
        "resync_list_calls_ceiling": math.ceil(items / 100) * 2 + math.ceil(PLANS * 2 / 100),
    }


def measure(
    items: int = 1000, latencies: Sequence[int] = (150, 0), database_url: str | None = None
) -> dict[str, Any]:
    """Run the sync at each latency; the figures by latency and the headline keys."""
    runs: dict[int, dict[str, Any]] = {}
    for latency in latencies:
        with tempfile.TemporaryDirectory(prefix="quire-bench-sync-") as workdir:
            runs[latency] = run_at(latency, items, Path(workdir), database_url)
    figures: dict[str, Any] = {"sync_runs": [runs[latency] for latency in latencies]}
    if 150 in runs and items == 1000:
        figures["first_sync_s_1000_at_150ms"] = runs[150]["first_sync_s"]
    some = runs[latencies[0]]
    figures["resync_list_calls_per_100"] = some["resync_list_calls_per_100"]
    return figures


def report(run: dict[str, Any]) -> None:
    first, again = run["first_sync_calls"], run["resync_calls"]
    print(f"Stripe {run['latency_ms']} ms away, {run['items']} items:")
    print(f"  first sync      {run['first_sync_s']:8.2f} s   {first['total']:5d} API calls")
    for route, count in first["by_route"].items():
        print(f"      {route:<40} {count:5d}")
    print(f"  unchanged sync  {run['resync_s']:8.2f} s   {again['total']:5d} API calls")
    for route, count in again["by_route"].items():
        print(f"      {route:<40} {count:5d}")
    print(
        f"  re-sync list calls: {run['resync_list_calls']} "
        f"= {run['resync_list_calls_per_100']} per 100 items"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--latency-ms", type=int, action="append", dest="latencies")
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL"))
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args(argv)
    figures = measure(args.items, tuple(args.latencies or (150, 0)), args.database_url)
    for run in figures["sync_runs"]:
        report(run)
    if "first_sync_s_1000_at_150ms" in figures:
        print(f"first_sync_s_1000_at_150ms = {figures['first_sync_s_1000_at_150ms']}")
    print(f"resync_list_calls_per_100 = {figures['resync_list_calls_per_100']}")
    if args.json:
        print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
