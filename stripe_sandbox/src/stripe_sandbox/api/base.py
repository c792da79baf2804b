"""The HTTP conventions every API route shares.

``route`` registers a handler on the ``/v1`` blueprint and wraps it with Stripe's
conventions: Bearer auth, nested form params (body for POST, query otherwise),
``Idempotency-Key`` replay, one store transaction per request, Stripe error JSON,
``Request-Id`` and ``expand[]``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from time import sleep
from typing import Any
from urllib.parse import parse_qsl

from flask import Blueprint, Response, current_app, g, request

from ..core.allowed import ALLOWED
from ..core.errors import StripeError, exclusive, invalid
from ..core.ids import new_request_id
from ..core.params import get_int, get_list, get_str, parse_pairs
from ..core.render import MAX_EXPAND_DEPTH, expand, list_object
from ..core.sandbox import Sandbox
from ..core.store import Store
from ..resources.events import current_request

log = logging.getLogger(__name__)

bp = Blueprint("sandbox_api", __name__, url_prefix="/v1")

IDEMPOTENCY_KEY_MAX = 255


@dataclass
class Call:
    """One API request as a handler sees it."""

    sandbox: Sandbox
    params: dict[str, Any]
    path: str
    args: dict[str, str] = field(default_factory=dict)

    @property
    def store(self) -> Store:
        """The sandbox's store."""
        return self.sandbox.store

    @property
    def expand_paths(self) -> list[str]:
        """The ``expand[]`` paths asked for."""
        return [str(p) for p in get_list(self.params, "expand")]

    @property
    def item_paths(self) -> list[str]:
        """The ``expand[]`` paths of a list request, for its items (``data.`` removed)."""
        paths = []
        for path in self.expand_paths:
            head, _, rest = path.partition(".")
            if head != "data" or not rest:
                raise invalid(
                    f"This property cannot be expanded ({path}). "
                    f"You may want to try expanding 'data.{path}' instead.",
                    param="expand",
                )
            if path.count(".") + 1 > MAX_EXPAND_DEPTH:
                raise invalid(
                    f"You cannot expand more than {MAX_EXPAND_DEPTH} levels of a property.",
                    param="expand",
                )
            paths.append(rest)
        return paths

    def render(self, obj: dict[str, Any]) -> dict[str, Any]:
        """``obj`` as a response, with the request's expansions."""
        return expand(self.store, obj, self.expand_paths)

    def page(self, url: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        """A page of ``items`` (newest first) per ``limit``/``starting_after``/``ending_before``."""
        limit = get_int(self.params, "limit")
        if limit is None:
            limit = 10
        if not 1 <= limit <= 100:
            raise invalid(
                "Invalid integer: limit must be between 1 and 100.",
                param="limit",
                code="parameter_invalid_integer",
            )
        after = get_str(self.params, "starting_after")
        before = get_str(self.params, "ending_before")
        if after and before:
            raise exclusive("ending_before", "starting_after")
        items = _created_within(items, self.params.get("created"))
        if after:
            rest = items[self._cursor(items, after, "starting_after") :]
            chosen, has_more = rest[:limit], len(rest) > limit
        elif before:
            rest = items[: self._cursor(items, before, "ending_before") - 1]
            chosen, has_more = rest[-limit:], len(rest) > limit
        else:
            chosen, has_more = items[:limit], len(items) > limit
        data = [expand(self.store, item, self.item_paths) for item in chosen]
        return list_object(url, data, has_more)

    def _cursor(self, items: list[dict[str, Any]], cursor: str, param: str) -> int:
        """Index just past ``cursor`` in ``items``; a cursor that no longer matches the
        filters still marks its place in creation order."""
        ids = [item["id"] for item in items]
        if cursor in ids:
            return ids.index(cursor) + 1
        seq = self.store.seq_of(cursor)
        if seq is None or not all("_seq" in item for item in items):
            raise invalid(f"No such object: '{cursor}'", param=param)
        # items are newest first: the cursor sits after every newer item.
        return sum(1 for item in items if item["_seq"] > seq) + (
            1 if param == "ending_before" else 0
        )

    def search(self, url: str, found: list[dict[str, Any]]) -> dict[str, Any]:
        """A ``search_result`` page; ``page`` is an opaque offset token."""
        limit = get_int(self.params, "limit") or 10
        if not 1 <= limit <= 100:
            raise invalid(
                "Invalid integer: limit must be between 1 and 100.",
                param="limit",
                code="parameter_invalid_integer",
            )
        page = get_str(self.params, "page")
        offset = int(page) if page and page.isdigit() else 0
        chosen = found[offset : offset + limit]
        has_more = offset + limit < len(found)
        paths = self.item_paths
        return {
            "object": "search_result",
            "url": url,
            "has_more": has_more,
            "next_page": str(offset + limit) if has_more else None,
            "total_count": len(found),
            "data": [expand(self.store, item, paths) for item in chosen],
        }


Handler = Callable[..., Any]


def _created_within(items: list[dict[str, Any]], created: Any) -> list[dict[str, Any]]:
    """Apply a list's ``created`` filter: an exact time or ``created[gt|gte|lt|lte]``."""
    if created is None or created == "":
        return items
    if not isinstance(created, dict):
        created = {"eq": created}
    bounds: dict[str, int] = {}
    for key, value in created.items():
        if key not in ("eq", "gt", "gte", "lt", "lte"):
            raise invalid(
                f"Received unknown parameter: created[{key}]",
                param=f"created[{key}]",
                code="parameter_unknown",
            )
        try:
            bounds[key] = int(value)
        except (TypeError, ValueError):
            raise invalid(
                f"Invalid integer: {value}",
                param=f"created[{key}]",
                code="parameter_invalid_integer",
            ) from None
    tests = {
        "eq": lambda v, b: v == b,
        "gt": lambda v, b: v > b,
        "gte": lambda v, b: v >= b,
        "lt": lambda v, b: v < b,
        "lte": lambda v, b: v <= b,
    }
    return [
        item
        for item in items
        if all(tests[key](int(item.get("created") or 0), bound) for key, bound in bounds.items())
    ]


def current_sandbox() -> Sandbox:
    """The sandbox serving the current request."""
    sandbox = current_app.extensions["sandbox"]
    assert isinstance(sandbox, Sandbox)
    return sandbox


def json_response(body: Any, status: int = 200) -> Response:
    """A JSON response like Stripe's (pretty-printed)."""
    return Response(json.dumps(body, indent=2), status=status, mimetype="application/json")


def error_response(error: StripeError) -> Response:
    """A Stripe error response."""
    response = json_response(error.body(), error.status)
    if error.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="Stripe"'
    return response


def authenticate(sandbox: Sandbox) -> str:
    """The API key of the request, or a 401 ``StripeError``."""
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key:
        raise StripeError(
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
            status=401,
        )
    if key not in sandbox.settings.api_keys:
        shown = key[:8] + "*" * max(len(key) - 12, 0) + key[-4:] if len(key) > 12 else key[:3]
        raise StripeError(f"Invalid API Key provided: {shown}", status=401)
    return key


def _raw_pairs() -> list[tuple[str, str]]:
    if request.method == "POST":
        return parse_qsl(request.get_data(as_text=True), keep_blank_values=True)
    return parse_qsl(request.query_string.decode(), keep_blank_values=True)


def _fingerprint(pairs: list[tuple[str, str]]) -> str:
    text = request.method + " " + request.path + "\n" + json.dumps(sorted(pairs))
    return hashlib.sha256(text.encode()).hexdigest()


def _should_store(status: int, body: dict[str, Any]) -> bool:
    """Stripe keeps results of requests that started executing: not validation errors."""
    if status < 400 or status >= 500:
        return True
    return bool(body.get("error", {}).get("type") == "card_error")


def _unknown_key(value: Any, spec: Any, path: str) -> str | None:
    """The full name of the first key in ``value`` that ``spec`` does not know, if any.

    ``spec`` comes from ``allowed.ALLOWED``: a dict of known keys (``"*"``: any key), a
    one-item list for an array of such hashes, or None for a plain value.
    """
    if spec is None:
        return None
    if isinstance(spec, list):
        if isinstance(value, list):
            items = [(str(index), item) for index, item in enumerate(value)]
        elif isinstance(value, dict):
            items = [(key, item) for key, item in value.items() if key.isdigit()]
        else:
            return None
        for index, item in items:
            found = _unknown_key(item, spec[0], f"{path}[{index}]")
            if found is not None:
                return found
        return None
    if not isinstance(value, dict):
        return None
    for key, inner in value.items():
        name = f"{path}[{key}]" if path else key
        if key in spec:
            inner_spec = spec[key]
        elif "*" in spec:
            inner_spec = spec["*"]
        else:
            return name
        found = _unknown_key(inner, inner_spec, name)
        if found is not None:
            return found
    return None


def check_known(params: dict[str, Any], allowed: dict[str, Any] | None) -> None:
    """Refuse parameters, top-level or nested, that Stripe does not accept on this request."""
    if allowed is None:
        return
    unknown = _unknown_key(params, allowed, "")
    if unknown is not None:
        raise StripeError(
            f"Received unknown parameter: {unknown}", param=unknown, code="parameter_unknown"
        )


def dispatch(
    handler: Handler, kwargs: dict[str, Any], allowed: dict[str, Any] | None = None
) -> Response:
    """Run ``handler`` under Stripe's conventions."""
    sandbox = current_sandbox()
    request_id: str = g.request_id
    try:
        api_key = authenticate(sandbox)
        pairs = _raw_pairs()
        params = parse_pairs(pairs)
        check_known(params, allowed)
    except StripeError as exc:
        return error_response(exc)
    idem_key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
    if idem_key is not None and len(idem_key) > IDEMPOTENCY_KEY_MAX:
        return error_response(
            invalid(
                f"Idempotency-Key must be at most {IDEMPOTENCY_KEY_MAX} characters long.",
                param="Idempotency-Key",
            )
        )
    store = sandbox.store
    with store.transaction():
        if idem_key:
            fingerprint = _fingerprint(pairs)
            record = store.idempotency_record(api_key, idem_key)
            if record is not None:
                stored_fp, status, body = record
                if stored_fp != fingerprint:
                    return error_response(
                        StripeError(
                            "Keys for idempotent requests can only be used with the same "
                            "parameters they were first used with. Try using a key other than "
                            f"'{idem_key}' if you meant to execute a different request.",
                            type="idempotency_error",
                        )
                    )
                response = Response(body, status=status, mimetype="application/json")
                response.headers["Idempotent-Replayed"] = "true"
                return response
        token = current_request.set((request_id, idem_key))
        try:
            call = Call(sandbox=sandbox, params=params, path=request.path, args=kwargs)
            kept: StripeError | None = None
            with store.transaction():
                try:
                    result = handler(call, **kwargs)
                except StripeError as exc:
                    if not exc.keep_writes:
                        raise
                    kept = exc  # what was done before the error stays done
            if kept is not None:
                raise kept
            status, body_obj = 200, result
        except StripeError as exc:
            status, body_obj = exc.status, exc.body()
        except Exception:
            log.exception("sandbox API error on %s %s", request.method, request.path)
            status = 500
            body_obj = StripeError(
                "An unknown error occurred in the sandbox.", status=500, type="api_error"
            ).body()
        finally:
            current_request.reset(token)
        text = json.dumps(body_obj, indent=2)
        if idem_key and _should_store(status, body_obj):
            store.save_idempotency(api_key, idem_key, _fingerprint(pairs), status, text)
    response = Response(text, status=status, mimetype="application/json")
    if idem_key:
        response.headers["Idempotency-Key"] = idem_key
    return response


def route(
    rule: str, methods: list[str], *, strict: str | None = None
) -> Callable[[Handler], Handler]:
    """Register ``handler(call, **url_args)`` for ``rule`` under ``/v1``.

    ``strict`` names an entry of ``allowed.ALLOWED``: other params, top-level or nested,
    get 400.
    """
    allowed = ALLOWED[strict] if strict else None

    def register(handler: Handler) -> Handler:
        def view(**kwargs: Any) -> Response:
            return dispatch(handler, kwargs, allowed)

        endpoint = f"{handler.__module__.rsplit('.', 1)[-1]}_{handler.__name__}"
        bp.add_url_rule(rule, endpoint, view, methods=methods)
        return handler

    return register


@bp.before_app_request
def _assign_request_id() -> None:
    g.request_id = new_request_id()


@bp.before_app_request
def _count_and_delay_api_requests() -> None:
    """Every ``/v1`` request is counted under its route (unknown URLs under their
    path) and, with ``latency_ms`` set, answered that much later, as from afar."""
    if request.path != "/v1" and not request.path.startswith("/v1/"):
        return
    sandbox = current_sandbox()
    rule = request.url_rule.rule if request.url_rule is not None else request.path
    sandbox.api_calls.count(request.method, rule)
    latency_ms = sandbox.settings.latency_ms
    if latency_ms > 0:
        sleep(latency_ms / 1000)


@bp.after_app_request
def _add_request_id(response: Response) -> Response:
    response.headers["Request-Id"] = g.get("request_id") or new_request_id()
    version = request.headers.get("Stripe-Version")
    if version:
        response.headers["Stripe-Version"] = version
    return response
