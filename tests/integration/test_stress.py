"""`make stress`, small: the webhook queue attacked on the processes production runs.

One stack for the module (`bench.stress.servers.running_stack`): a PostgreSQL cluster of
its own (so it can be stopped; never the CI's shared one), the sandbox behind a proxy
that delays every Stripe call 0–300 ms, the shop under gunicorn (2 workers, production
settings) and 2 queue workers. Each test is one case of `make stress` at CI's size
(`bench.stress.__main__.SMALL`) and fails with every failure the case found.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator

import pytest
from flask import Flask

from bench.stress import cases
from bench.stress.__main__ import SMALL
from bench.stress.servers import Stack, running_stack
from bench.stress.shoppers import driver_app
from shop.extensions import db

pytestmark = pytest.mark.sandbox


def _can_run_postgres() -> str | None:
    """Why a cluster of our own cannot be started here, or None."""
    if os.geteuid() == 0 or glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        return None  # root installs it if need be (as .ci/run does)
    return "no PostgreSQL to start a cluster of its own (apt-get install postgresql)"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    missing = _can_run_postgres()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(missing)
        pytest.skip(missing)
    with running_stack() as running:
        yield running


@pytest.fixture(scope="module")
def driver(stack: Stack) -> Iterator[Flask]:
    app = driver_app(stack)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def assert_no_failures(result: cases.Result) -> None:
    print(result.report())
    assert result.tried > 0
    assert result.failures == []


def test_events_delivered_three_times_at_once_take_effect_once(stack: Stack, driver: Flask) -> None:
    assert_no_failures(cases.double_delivery(stack, driver, SMALL.events))


def test_shuffled_duplicated_lifecycles_with_slow_retrieves_end_equal_to_stripe(
    stack: Stack, driver: Flask
) -> None:
    assert_no_failures(cases.lifecycles(stack, driver, SMALL.lifecycles))


def test_killing_queue_and_web_workers_loses_no_event(stack: Stack, driver: Flask) -> None:
    assert_no_failures(cases.kill_workers(stack, driver, SMALL.kill_events, SMALL.kills))


def test_stopping_the_database_loses_no_event(stack: Stack, driver: Flask) -> None:
    assert_no_failures(
        cases.database_outage(stack, driver, SMALL.outage_events, SMALL.outage_seconds)
    )
