"""The one place that builds Quire's `StripeClient`.

One client per app, built from config in `create_app` and kept in `app.extensions`;
domain code receives it as an argument and hands it to `shop.stripe_api`, the only
module that calls Stripe with it. No global `stripe.api_key`, and no call to
Stripe happens here: building the client is free.

Each process keeps its connections to Stripe open between calls: one `requests`
session per thread (the SDK's own rule), made in the process that uses it (a session
made before gunicorn forks its workers is never shared with them), which reads no
proxy settings, `.netrc` or certificate variables from the environment per call: the
proxy for Stripe's address is read once, when the client is built.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
import stripe
from flask import Flask, current_app
from stripe._base_address import BaseAddresses

log = logging.getLogger(__name__)

EXTENSION_KEY = "quire.stripe"


class LoggedHTTPClient(stripe.RequestsClient):
    """The SDK's own HTTP client, logging one line per request it sends (retries too):

    `stripe method=GET path=/v1/… status=200 request_id=req_… ms=…`

    Only the method, the path (never the query string or the body), Stripe's answer
    and how long it took: no parameters, no headers, so no key or personal data.

    Its `requests` session (one per thread, kept between calls so the connection to
    Stripe stays open) belongs to the process that made it: after a fork the child
    makes its own. Sessions do not consult the environment (`trust_env` off); the
    proxy, if any, is given when the client is built (`proxy_for`).
    """

    def _should_retry(
        self,
        response: tuple[Any, int, Mapping[str, str] | None] | None,
        api_connection_error: stripe.APIConnectionError | None,
        num_retries: int,
        max_network_retries: int | None,
    ) -> bool:
        """The SDK's retry rule (connection errors, 409, 5xx, `Stripe-Should-Retry`),
        and also 429: Stripe's rate and concurrency limiters ask to be retried with
        backoff, and the SDK alone retries a 429 only when told to by that header. The
        retry sends the same idempotency key, so a create is never made twice."""
        if response is not None and response[1] == 429:
            return num_retries < (max_network_retries or 0)
        return bool(
            super()._should_retry(response, api_connection_error, num_retries, max_network_retries)
        )

    def _session_of_this_process(self) -> None:
        """Give this thread a session of this process's own, made once."""
        local = self._thread_local
        pid = os.getpid()
        if getattr(local, "session", None) is None or getattr(local, "pid", None) != pid:
            # A session inherited through fork shares its sockets with the parent:
            # leave it alone (closing it could close the parent's connection).
            session = requests.Session()
            session.trust_env = False
            local.session = session
            local.pid = pid

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[Any, int, Mapping[str, str]]:
        self._session_of_this_process()
        started = time.perf_counter()
        path = urlsplit(url).path
        try:
            content, status, answer_headers = super().request(method, url, headers, post_data)
        except Exception as error:
            log.warning(
                "stripe method=%s path=%s status=error error=%s ms=%d",
                method.upper(),
                path,
                type(error).__name__,
                _ms_since(started),
            )
            raise
        log.info(
            "stripe method=%s path=%s status=%s request_id=%s ms=%d",
            method.upper(),
            path,
            status,
            answer_headers.get("Request-Id") or "-",
            _ms_since(started),
        )
        return content, status, answer_headers


def _ms_since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


def proxy_for(api_base: str) -> str | None:
    """The proxy the environment names for `api_base` (`HTTPS_PROXY` or `HTTP_PROXY`
    by its scheme, else `ALL_PROXY`; none when `NO_PROXY` covers it), read now, once,
    rather than on every call."""
    scheme = urlsplit(api_base).scheme or "https"
    proxies = requests.utils.get_environ_proxies(api_base)
    return proxies.get(scheme) or proxies.get("all") or None


#: Seconds to wait for Stripe to accept a connection, and (by default) for its answer
#: once the request is sent. The SDK's default is 80 s: a Stripe that hangs would hold a
#: web worker until gunicorn kills it at 30 s and the shopper sees a bare error.
CONNECT_TIMEOUT_SECONDS = 2.0
READ_TIMEOUT_SECONDS = 4.0
MAX_NETWORK_RETRIES = 2
#: What a shopper may wait, at most, before the friendly page: well under gunicorn's 30 s.
SHOPPER_WAIT_LIMIT_SECONDS = 15.0


def longest_wait_seconds(read_timeout: float, max_network_retries: int) -> float:
    """How long one call to a Stripe that accepts connections and never answers takes to
    fail: every attempt waits `read_timeout`, and the SDK sleeps between attempts (at
    most its own cap, doubling from its initial delay)."""
    sleeps = sum(
        min(LoggedHTTPClient.INITIAL_DELAY * 2 ** (n - 1), LoggedHTTPClient.MAX_DELAY)
        for n in range(1, max_network_retries + 1)
    )
    return float((max_network_retries + 1) * read_timeout + sleeps)


def build_client(
    api_key: str,
    api_base: str | None = None,
    *,
    max_network_retries: int = MAX_NETWORK_RETRIES,
    read_timeout: float = READ_TIMEOUT_SECONDS,
) -> stripe.StripeClient:
    """A client pinned to the SDK's API version, optionally aimed at another server, that
    logs each request, keeps its connections open (`LoggedHTTPClient`) and gives up on a
    Stripe that does not answer within the timeouts (then `StripeFailure`, and the
    shopper's friendly page)."""
    base_addresses: BaseAddresses = {"api": api_base} if api_base else {}
    proxy = proxy_for(api_base or stripe.DEFAULT_API_BASE)
    return stripe.StripeClient(
        api_key,
        base_addresses=base_addresses,
        max_network_retries=max_network_retries,
        http_client=LoggedHTTPClient(proxy=proxy, timeout=(CONNECT_TIMEOUT_SECONDS, read_timeout)),
    )


def init_app(app: Flask) -> None:
    """Build the app's client from `STRIPE_SECRET_KEY`, `STRIPE_API_BASE` and
    `STRIPE_TIMEOUT_SECONDS`."""
    app.extensions[EXTENSION_KEY] = build_client(
        app.config["STRIPE_SECRET_KEY"],
        app.config.get("STRIPE_API_BASE"),
        max_network_retries=app.config.get("STRIPE_MAX_NETWORK_RETRIES", MAX_NETWORK_RETRIES),
        read_timeout=app.config.get("STRIPE_TIMEOUT_SECONDS", READ_TIMEOUT_SECONDS),
    )


def stripe_client() -> stripe.StripeClient:
    """The current app's Stripe client."""
    client: stripe.StripeClient = current_app.extensions[EXTENSION_KEY]
    return client


def field_of(obj: stripe.StripeObject | None, name: str) -> Any:
    """A field this API version may or may not send (so old and new shapes both read)."""
    return obj[name] if obj is not None and name in obj else None


def metadata_of(obj: stripe.StripeObject) -> dict[str, str]:
    """An object's metadata as a plain dict (empty when it has none)."""
    metadata = field_of(obj, "metadata")
    return {str(k): str(v) for k, v in metadata.to_dict().items()} if metadata else {}
