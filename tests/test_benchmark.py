"""`make bench`'s own arithmetic and bookkeeping (`bench/`), without starting a server:
the figures it prints and writes are only as good as these."""

from __future__ import annotations

import json

import pytest

from bench import load, scenarios, servers
from bench.report import KEYS, Report
from shop.events import BadSignature, verify_event


def run(per_second: float, p99: float = 10.0, errors: int = 0) -> load.Run:
    return load.Run(
        requests=int(per_second * 2),
        seconds=2.0,
        errors=errors,
        non_2xx=0,
        p50_ms=p99 / 4,
        p95_ms=p99 / 2,
        p99_ms=p99,
    )


def test_percentiles_interpolate_between_ranks() -> None:
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert load.percentile(values, 0) == 1.0
    assert load.percentile(values, 50) == 3.0
    assert load.percentile(values, 100) == 5.0
    assert load.percentile(values, 90) == pytest.approx(4.6)
    assert load.percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError, match="no values"):
        load.percentile([], 50)


def test_medians_of_three_runs_resist_one_disturbed_run() -> None:
    """A run slowed by a busy minute moves no figure: each is the median of the three."""
    figures = load.median_of([run(1000, 20), run(200, 900, errors=1), run(1100, 25)])
    assert figures.per_second == 1000
    assert figures.p99_ms == 25
    assert figures.errors == 1
    assert figures.runs == 3


def test_ratio_to_healthz_and_no_ratio_without_a_reference() -> None:
    assert load.ratio(400, 1600) == 0.25
    assert load.ratio(400, 0) is None


def test_endpoints_are_interleaved_round_by_round() -> None:
    """Every round visits each concurrency with every endpoint in turn, so no endpoint
    gets a quiet minute of its own."""
    order = load.interleaved(["/healthz", "/", "webhook"], [1, 16], 3)
    assert order[:6] == [
        (0, 1, "/healthz"),
        (0, 1, "/"),
        (0, 1, "webhook"),
        (0, 16, "/healthz"),
        (0, 16, "/"),
        (0, 16, "webhook"),
    ]
    assert len(order) == 18
    assert [r for r, _, _ in order] == sorted(r for r, _, _ in order)
    for endpoint in ("/healthz", "/", "webhook"):
        assert sum(e == endpoint for _, _, e in order) == 6


def test_wrk_report_is_read_in_milliseconds_and_per_second() -> None:
    output = (
        "Running 3s test @ http://127.0.0.1:5000/healthz\n"
        + load.MARKER
        + json.dumps(
            {
                "requests": 3000,
                "duration_us": 3_000_000,
                "errors": 2,
                "non_2xx": 5,
                "p50_us": 1500,
                "p95_us": 4000,
                "p99_us": 12500,
            }
        )
        + "\n"
    )
    parsed = load.parse_report(output)
    assert parsed.per_second == 1000
    assert (parsed.p50_ms, parsed.p95_ms, parsed.p99_ms) == (1.5, 4.0, 12.5)
    assert (parsed.errors, parsed.non_2xx) == (2, 5)
    with pytest.raises(ValueError, match="no wrk report"):
        load.parse_report("wrk: connection refused")


def test_wrk_threads_never_exceed_connections() -> None:
    assert [load.threads_for(c) for c in (1, 4, 16)] == [1, 2, 2]


def test_webhook_bodies_are_distinct_events_signed_as_stripe_signs() -> None:
    """Every body wrk sends is a new event (its own id) that the shop's verification
    accepts with the secret the shop runs with, and refuses with another."""
    templates = [
        {"id": "evt_1", "object": "event", "type": "invoice.paid", "data": {"object": {}}},
        {"id": "evt_2", "object": "event", "type": "customer.subscription.created", "data": {}},
    ]
    copies = scenarios.new_copies(templates, 5, "r0")
    assert len({c["id"] for c in copies}) == 5
    assert [c["type"] for c in copies][:3] == [
        "invoice.paid",
        "customer.subscription.created",
        "invoice.paid",
    ]
    for line in scenarios.signed_lines(copies, "whsec_bench_x"):
        signature, payload = line.split("\t")
        assert "\n" not in payload
        assert verify_event(payload.encode(), signature, ("whsec_bench_x",))["type"]
        with pytest.raises(BadSignature):
            verify_event(payload.encode(), signature, ("whsec_other",))


def test_results_json_has_every_key_and_a_reason_for_each_null() -> None:
    report = Report()
    report.set("webhook_ack_ratio_c16", 0.61234)
    report.set("applied_per_s_at_150ms", None, "the sandbox does not delay its answers")
    report.set_from(
        {"admin_page_ms_100k": 12.5}, ["account_page_ms_100k", "admin_page_ms_100k"], None
    )
    written = json.loads(json.dumps(report.as_json()))
    assert set(KEYS) <= set(written)
    assert written["webhook_ack_ratio_c16"] == 0.612
    assert written["admin_page_ms_100k"] == 12.5
    assert written["applied_per_s_at_150ms"] is None
    assert written["missing"]["applied_per_s_at_150ms"] == "the sandbox does not delay its answers"
    assert "account_page_ms_100k" in written["missing"]
    for key in KEYS:
        assert (written[key] is None) == (key in written["missing"]), key
    with pytest.raises(KeyError):
        report.set("not_a_key", 1.0)


def test_a_missing_helper_benchmark_is_reported_not_fatal() -> None:
    from bench.__main__ import optional_measure

    measured, why = optional_measure("no_such_part", {"database_url": "x"})
    assert measured is None
    assert why is not None and "not available" in why


def test_the_web_server_is_started_by_the_procfile_s_own_line() -> None:
    """The benchmark measures what Heroku runs: gunicorn as the Procfile starts it."""
    web = servers.procfile_line("web")
    assert web is not None and web.startswith("gunicorn wsgi:app")
    assert servers.procfile_line("no-such-process") is None
