"""The whole shop against a running Stripe sandbox: real SDK, real HTTP, real webhooks.

Fixtures: `sandbox` (a running sandbox, from `tests/conftest.py`), `serve_shop(sandbox, **config)` (the shop served
against it), `live_shop` (both, CSRF off, for the Flask test client) and `browser_shop`
(both, CSRF on, as shoppers meet it in Chromium). `LiveShop` is in `live_shop.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from flask import Flask
from stripe_sandbox.testing import RunningSandbox

from tests.integration.live_shop import LiveShop, serve


@pytest.fixture
def serve_shop(make_app: Callable[..., Flask]) -> Iterator[Callable[..., LiveShop]]:
    """`serve_shop(sandbox, **config)`: the shop served against `sandbox` until the test ends."""
    with ExitStack() as stack:

        def start(sandbox: RunningSandbox, **overrides: Any) -> LiveShop:
            return stack.enter_context(serve(make_app, sandbox, **overrides))

        yield start


@pytest.fixture
def live_shop(sandbox: RunningSandbox, serve_shop: Callable[..., LiveShop]) -> LiveShop:
    """The shop served against a fresh sandbox, CSRF off so the Flask test client can post."""
    return serve_shop(sandbox)


@pytest.fixture
def browser_shop(sandbox: RunningSandbox, serve_shop: Callable[..., LiveShop]) -> LiveShop:
    """The shop served against a fresh sandbox with CSRF protection on, as shoppers meet it."""
    return serve_shop(sandbox, WTF_CSRF_ENABLED=True)
