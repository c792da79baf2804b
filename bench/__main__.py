"""`make bench` (`python -m bench [--quick]`): Quire measured as production runs it.

gunicorn by the Procfile's command on a throwaway PostgreSQL (fsync on), the Stripe
sandbox with a latency setting, `wrk` at concurrency 1, 4 and 16 with the endpoints
interleaved in the same run (medians of 3), bursts of real webhook events end to end,
Stripe calls counted at the sandbox. Prints a summary and writes
`bench/results/latest.json`. Figures, not pass/fail.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import load, scenarios, servers  # noqa: E402
from bench.report import KEYS, Report  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "latest.json"
CONCURRENCIES = (1, 4, 16)
ROUNDS = 3
LATENCIES_MS = (0, 150)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="Short runs, small bursts, no 100k/1,000-item parts."
    )
    parser.add_argument(
        "--web-workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY") or 2)
    )
    parser.add_argument(
        "--queue-workers", type=int, default=1, help="Worker processes (with a queue)."
    )
    parser.add_argument(
        "--queue-concurrency",
        type=int,
        default=None,
        help="Events applied at once per worker process (default: the worker's own).",
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args()


def machine(postgres_version: str) -> dict[str, Any]:
    model = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    revision = subprocess.run(
        ["git", "describe", "--always", "--dirty"],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "cores": os.cpu_count(),
        "cpu_model": model,
        "postgresql": postgres_version,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_revision": revision or None,
        "python": platform.python_version(),
    }


def optional_measure(
    module_name: str, offered: dict[str, Any]
) -> tuple[dict[str, Any] | None, str | None]:
    """`bench.<module_name>.measure(...)` with the arguments it names among `offered`;
    (None, why) when the module or its `measure` is not there or it failed."""
    try:
        module = __import__(f"bench.{module_name}", fromlist=["measure"])
    except ImportError as error:
        return None, f"bench/{module_name}.py not available ({error})"
    measure = getattr(module, "measure", None)
    if measure is None:
        return None, f"bench/{module_name}.py has no measure() yet"
    names = inspect.signature(measure).parameters
    try:
        return measure(**{k: v for k, v in offered.items() if k in names}), None
    except Exception as error:  # a part that fails is reported, the rest still runs
        return None, f"bench/{module_name}.measure failed: {type(error).__name__}: {error}"


def main() -> int:
    options = arguments()
    quick = options.quick
    seconds = 1 if quick else 3
    seed_count = 40 if quick else 200
    report = Report()
    queue = servers.procfile_line("worker") is not None
    servers.ensure_tools(need_postgres="TEST_DATABASE_URL" not in os.environ)
    stack = servers.build_stack("procrastinate" if queue else "inline")
    try:
        report.machine = machine(stack.database.version)
        report.settings = {
            "web_workers": options.web_workers,
            "queue": "procrastinate" if queue else "none: webhooks applied in the web process",
            "queue_workers": options.queue_workers if queue else 0,
            "queue_concurrency": (options.queue_concurrency or "the worker's default")
            if queue
            else 0,
            "seconds_per_run": seconds,
            "rounds": ROUNDS,
            "quick": quick,
        }
        print(f"Quire benchmark ({'quick' if quick else 'full'}): {report.machine}", flush=True)
        stack.start_sandbox(0)
        stack.flask("db", "upgrade")
        started = time.perf_counter()
        stack.flask("catalog", "sync")
        report.figures["catalog_sync_s_at_0ms"] = round(time.perf_counter() - started, 2)
        stack.start_web(options.web_workers)
        app = production_app(stack.env)
        seeder = scenarios.Seeder(app)
        started = time.perf_counter()
        templates = seeder.make(10)
        bursts = {latency: seeder.make(seed_count) for latency in LATENCIES_MS}
        # A last burst at 150 ms with no load on `/`: the workers' rate with the CPU
        # to themselves (and PostgreSQL, the sandbox and the web's acknowledgements).
        alone = seeder.make(seed_count) if queue else []
        print(
            f"Made {seeder.made} paid orders and memberships in the sandbox "
            f"({time.perf_counter() - started:.0f} s); burst events: "
            + ", ".join(f"{len(e)} for {ms} ms" for ms, e in bursts.items())
            + (f", {len(alone)} for 150 ms with `/` not loaded" if alone else ""),
            flush=True,
        )

        throughput(stack, app, templates, seconds, report)

        purchases = 4 if quick else 10
        calls = scenarios.checkout_calls(stack, app, purchases)
        report.figures["checkout_stripe_calls"] = calls
        report.set("checkout_stripe_calls_returning", calls["returning"])
        print(
            f"Stripe calls per checkout: first {calls['first']}, returning shopper "
            f"{calls['returning']:.2f} ({purchases} purchases over {options.web_workers} workers)"
        )

        if queue:
            # The throughput runs' copies wait in the queue (no worker ran then): they are
            # not the bursts' work.
            dropped = stack.discard_queued_jobs()
            report.notes.append(f"{dropped} queued copies from the throughput runs discarded")
        for latency, events in bursts.items():
            if latency:
                # A new sandbox, and new shop processes, whose kept-alive connections
                # to Stripe are to this one.
                stack.stop_web()
                stack.start_sandbox(latency)
                stack.start_web(options.web_workers)
            if queue:
                stack.start_workers(options.queue_workers, options.queue_concurrency)
            end_to_end(stack, app, events, latency, seconds, report, queue)
            stack.stop_workers()
        if alone:
            stack.start_workers(options.queue_workers, options.queue_concurrency)
            applied_alone(stack, app, alone, report)
            stack.stop_workers()

        offered = {
            "database_url": stack.database.url,
            "sandbox_url": stack.sandbox_url,
            "api_key": servers.API_KEY,
            "latency_ms": 150,
        }
        if quick:
            report.missing_key("first_sync_s_1000_at_150ms", "skipped by --quick")
            report.missing_key("account_page_ms_100k", "skipped by --quick")
            report.missing_key("admin_page_ms_100k", "skipped by --quick")
        else:
            from bench import event_log

            report.figures["events_list"] = event_log.measure(app)
            print(f"Events list: {report.figures['events_list']}", flush=True)
            synced, why = optional_measure("sync", {**offered, "items": 1000})
            report.figures["sync"] = synced
            report.set_from(synced, ["first_sync_s_1000_at_150ms"], why)
            # Last: it drops and refills the database's tables with 100,000 orders.
            lists, why = optional_measure("admin_lists", offered)
            report.figures["admin_lists"] = lists
            report.set_from(lists, ["account_page_ms_100k", "admin_page_ms_100k"], why)
    finally:
        stack.stop()
        shutil.rmtree(stack.folder, ignore_errors=True)
    report.print_summary()
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(json.dumps(report.as_json(), indent=2) + "\n")
    print(
        f"Wrote {options.output.relative_to(ROOT) if options.output.is_relative_to(ROOT) else options.output}"
    )
    return 0


def production_app(env: dict[str, str]) -> Any:
    """The shop built with the web server's settings (for making orders and reading
    results); the process's own environment is left as it was, for the other parts."""
    from shop import create_app

    kept = dict(os.environ)
    os.environ.update(env)
    try:
        return create_app({"LOG_LEVEL": "WARNING"})
    finally:
        os.environ.clear()
        os.environ.update(kept)


def throughput(
    stack: servers.Stack, app: Any, templates: list[dict[str, Any]], seconds: int, report: Report
) -> None:
    """The endpoints interleaved: every round, every concurrency, each endpoint in turn."""
    book = next(b.key for b in scenarios._catalogue(app).books if b.format == "print")
    endpoints = {
        "/healthz": "/healthz",
        "/": "/",
        "book page": f"/books/{book}",
        "webhook (new event)": None,
    }
    runs: dict[tuple[str, int], list[load.Run]] = {}
    best = 1000.0
    print(
        f"Throughput: {len(endpoints)} endpoints interleaved, {ROUNDS} rounds of {seconds} s…",
        flush=True,
    )
    for n, (round_, connections, name) in enumerate(
        load.interleaved(list(endpoints), CONCURRENCIES, ROUNDS)
    ):
        path = endpoints[name]
        if path is None:
            count = min(60_000, max(500, math.ceil(best * seconds * 1.5)))
            bodies = scenarios.write_bodies(
                stack.folder / "bodies.txt",
                templates,
                count,
                f"{round_}{connections}{n}",
                servers.WEBHOOK_SECRET,
            )
            run = load.wrk(stack.web_url + "/webhooks/stripe", connections, seconds, bodies)
            if run.requests > count:
                report.notes.append(
                    f"webhook run at c{connections} sent {run.requests - count} events twice"
                )
        else:
            run = load.wrk(stack.web_url + path, connections, seconds)
            best = max(best, run.per_second)
        runs.setdefault((name, connections), []).append(run)
    table = {}
    for connections in CONCURRENCIES:
        reference = load.median_of(runs[("/healthz", connections)]).per_second
        for name in endpoints:
            figures = load.median_of(runs[(name, connections)])
            if figures.errors or figures.non_2xx:
                report.notes.append(
                    f"{name} c{connections}: {figures.non_2xx} answers other than 200, "
                    f"{figures.errors} connection errors or timeouts"
                )
            table[f"{name} c{connections}"] = {
                **figures.as_dict(),
                "ratio_to_healthz": round(load.ratio(figures.per_second, reference) or 0, 3),
            }
    report.figures["throughput"] = table
    c16 = table["webhook (new event) c16"]
    report.set("webhook_ack_ratio_c16", c16["ratio_to_healthz"])
    report.set("webhook_ack_p99_ms_c16", c16["p99_ms"])
    report.print_throughput(table)


def end_to_end(
    stack: servers.Stack,
    app: Any,
    events: list[dict[str, Any]],
    latency: int,
    seconds: int,
    report: Report,
    queue: bool,
) -> None:
    """A burst of real events with Stripe `latency` ms away, and `/` meanwhile."""
    home = stack.web_url + "/"
    unloaded = load.median_of([load.wrk(home, 4, seconds) for _ in range(ROUNDS)])
    delivering: list[load.Run] = []
    applying: list[tuple[int, load.Run]] = []

    def home_while_delivering() -> None:
        delivering.append(load.wrk(home, 4, seconds))

    def home_while_applying(left: int) -> None:
        if left:  # with a queue: the events acknowledged, not all applied yet
            applying.append((left, load.wrk(home, 4, seconds)))

    print(f"Burst of {len(events)} real events, Stripe at {latency} ms…", flush=True)
    result = scenarios.burst(
        stack,
        app,
        events,
        servers.WEBHOOK_SECRET,
        while_delivering=home_while_delivering,
        while_applying=home_while_applying,
    )
    # `/` while the burst is applied: after the acknowledgements, while workers apply
    # what they queued; without a queue (or with nothing left), while it is delivered.
    if applying:
        left, under = applying[0]
        when = f"while workers applied the last {left} events"
    else:
        under = delivering[0]
        when = "while the events were delivered"
    home_ratio = load.ratio(under.per_second, unloaded.per_second)
    figures = {
        **asdict(result),
        "home_per_s_unloaded": round(unloaded.per_second, 1),
        "home_per_s_while_delivered": round(delivering[0].per_second, 1),
        "home_per_s_while_applied": round(applying[0][1].per_second, 1) if applying else None,
        "home_ratio_under_load": round(home_ratio, 3) if home_ratio is not None else None,
        "home_under_load_measured": when,
        "applied_by": "queue workers"
        if queue
        else "the web process, before acknowledging (no queue)",
    }
    figures["sandbox_round_trip_ms"] = round(stack.sandbox_round_trip_ms, 1)
    report.figures[f"burst_at_{latency}ms"] = figures
    report.print_burst(latency, figures)
    if latency == 150:
        why = "not measured"
        if stack.sandbox_round_trip_ms < latency * 0.8:
            why = (
                f"the sandbox answered in {stack.sandbox_round_trip_ms:.0f} ms: it does not "
                "delay its answers (SANDBOX_LATENCY_MS)"
            )
            report.notes.append(f"burst at {latency} ms: {why}")
            result.applied_per_s = result.lag_p99_s = home_ratio = None
        report.set("applied_per_s_at_150ms", result.applied_per_s, why)
        report.set("apply_lag_p99_s_at_150ms", result.lag_p99_s, why)
        report.set("home_ratio_under_load_at_150ms", home_ratio, why)
    if latency == 0:
        report.figures["stripe_calls_per_applied_event"] = result.stripe_calls_per_event


def applied_alone(
    stack: servers.Stack, app: Any, events: list[dict[str, Any]], report: Report
) -> None:
    """A burst with Stripe 150 ms away (the sandbox's latency now) and nothing loading `/`."""
    print(f"Burst of {len(events)} real events, Stripe at 150 ms, `/` not loaded…", flush=True)
    result = scenarios.burst(stack, app, events, servers.WEBHOOK_SECRET)
    figures = asdict(result)
    report.figures["burst_at_150ms_alone"] = figures
    cpu = ", ".join(f"{role} {ms:.1f} ms" for role, ms in result.cpu_ms_per_event.items())
    rate = "—" if result.applied_per_s is None else f"{result.applied_per_s:.1f}"
    lag = "—" if result.lag_p99_s is None else f"{result.lag_p99_s:.2f}"
    print(
        f"  at 150 ms, `/` not loaded: applied {result.applied} of {result.events} at "
        f"{rate}/s, lag p99 {lag} s; CPU per applied event: {cpu}",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())

__all__ = ["KEYS", "main"]
