"""`make bench` keeps running, and keeps the call counts the README promises."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import ROOT


def test_benchmark_runs_and_counts_one_stripe_call_per_new_event() -> None:
    """The benchmark imports the test helpers and the shop, so a refactor can break it
    silently; run it and check the figures the README quotes that do not depend on speed:
    one Stripe retrieve per new webhook event, none per duplicate, and 2 then 1 and 1
    calls per purchase (the customer made once, then reused; the price read from the
    database `catalog sync` fills), and 1 in another worker."""
    result = subprocess.run(
        [sys.executable, "scripts/benchmark.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Stripe API calls per new event: 1.00; per duplicate: 0.00" in result.stdout
    assert (
        "Stripe API calls per purchase: first 2, then 1 and 1; in another worker: 1"
        in result.stdout
    )
    assert "ratios to /healthz" in result.stdout
