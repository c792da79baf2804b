"""Stripe at the HTTP layer for unit tests: Stripe's own example objects, signed events.

Objects start from Stripe's published example for the resource (`fixtures/stripe/
fixtures3.json`, at the SDK's pinned API version) with the test's fields laid over it,
so handlers see the shapes Stripe really sends.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import importlib.util
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import requests
import responses
import stripe
from stripe_sandbox.core.shapes import ONLY_WHEN_EXPANDED

API = "https://api.stripe.com"
FIXTURES = Path(__file__).parent / "fixtures" / "stripe" / "fixtures3.json"


@cache
def _examples() -> dict[str, Any]:
    return json.loads(FIXTURES.read_text())["resources"]


def example(resource: str, **fields: Any) -> dict[str, Any]:
    """Stripe's example `resource` object with `fields` replaced."""
    obj = copy.deepcopy(_examples()[resource])
    obj.update(fields)
    return obj


@cache
def _generator() -> Any:
    """The sandbox's table generator, whose readers of the SDK's annotations say which
    fields each object can expand."""
    path = Path(__file__).parent.parent / "stripe_sandbox" / "scripts" / "generate_tables.py"
    spec = importlib.util.spec_from_file_location("stripe_sandbox_tables", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@cache
def expandable(object_type: str) -> frozenset[str]:
    """The dotted paths, within an object of `object_type`, that `expand[]` may name: the
    SDK's `ExpandableField` annotations, and the fields Stripe includes only when asked."""
    generator = _generator()
    included = frozenset(ONLY_WHEN_EXPANDED.get(object_type, ()))
    if object_type not in generator.OBJECT_CLASSES:
        return included
    return frozenset(generator._expandable_paths(generator._object_class(object_type))) | included


def _ids(value: Any) -> Any:
    """An expandable field as Stripe sends it unexpanded: the id of each object in it."""
    if isinstance(value, list):
        return [_ids(item) for item in value]
    if isinstance(value, dict) and "id" in value:
        return value["id"]
    return value


def _answered(node: Any, wanted: list[list[str]], owner: str | None, prefix: str) -> Any:
    """`node` with its expandable fields collapsed unless `wanted` (paths below `node`)
    names them; `owner` is the type of the object `node` lies in, `prefix` the path from
    that object to `node`."""
    if isinstance(node, list):
        return [_answered(item, wanted, owner, prefix) for item in node]
    if not isinstance(node, dict):
        return node
    if isinstance(node.get("object"), str):
        owner, prefix = node["object"], ""
    paths = expandable(owner) if owner else frozenset()
    hidden = ONLY_WHEN_EXPANDED.get(owner or "", ())
    out: dict[str, Any] = {}
    for name, value in node.items():
        path = prefix + name
        below = [rest[1:] for rest in wanted if rest[0] == name]
        deeper = [rest for rest in below if rest]
        if path in paths and not below:
            if path not in hidden:
                out[name] = _ids(value)
        elif path in paths:
            out[name] = _answered(value, deeper, None, "")
        elif any(p.startswith(path + ".") for p in paths):
            out[name] = _answered(value, deeper, owner, path + ".")
        else:
            out[name] = _answered(value, deeper, None, "")
    return out


def as_answered(body: Any, expand: list[str]) -> Any:
    """`body` (a test's object or list, expanded as far as the test likes) as Stripe
    answers a request with these `expand[]` paths: every expandable field not named is
    the id of its object, and the fields Stripe includes only when asked (`charge.refunds`,
    Checkout `line_items`, …) are left out unless named. A list's items are reached with
    `data.`, as in Stripe's own expand paths."""
    return _answered(copy.deepcopy(body), [path.split(".") for path in expand], None, "")


def expand_of(url: str) -> list[str]:
    """The `expand[]` paths of a GET request's URL, in order."""
    query = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    return [value for key, value in query if re.fullmatch(r"expand\[\d*\]", key)]


def answering(body: Any, status: int = 200) -> Callable[[Any], tuple[int, dict[str, str], str]]:
    """A `responses` callback answering `body` (kept as it is now) with what the request
    asks to expand, as Stripe would; an error body is answered as it is."""
    kept = copy.deepcopy(body)

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        shown = as_answered(kept, expand_of(request.url)) if status < 400 else kept
        return status, {}, json.dumps(shown)

    return answer


def listing(url: str, data: list[dict[str, Any]], has_more: bool = False) -> dict[str, Any]:
    return {"object": "list", "url": url, "has_more": has_more, "data": data}


def event(event_type: str, obj: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """An event at the pinned API version carrying `obj`."""
    body = example(
        "event",
        id=f"evt_{uuid.uuid4().hex[:24]}",
        type=event_type,
        api_version=stripe.api_version,
        created=int(time.time()),
        data={"object": obj, "previous_attributes": fields.pop("previous_attributes", {})},
    )
    body.update(fields)
    return body


def signature(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """A `Stripe-Signature` header exactly as Stripe computes it."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


class FakeProductsAndPrices:
    """A stateful stand-in for Stripe's products and prices endpoints, over `responses`.

    Lists page like Stripe (newest first, `limit`, `starting_after`), prices keep
    `lookup_key` unique unless `transfer_lookup_key` is sent, amounts are immutable.
    Every request is kept in `calls` so tests can count reads and writes.
    """

    def __init__(self, mock: Any) -> None:
        import re
        from urllib.parse import parse_qsl

        self._parse = parse_qsl
        self.products: dict[str, dict[str, Any]] = {}
        self.prices: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self._seq = 0
        self._lock = threading.Lock()
        #: (path, Idempotency-Key header) of every POST, in arrival order.
        self.idempotency_keys: list[tuple[str, str | None]] = []
        #: `before(method, path, params)`, when set, sees each request first; an answer
        #: it returns (status, headers, body) is sent instead of the fake's own.
        self.before: (
            Callable[[str, str, dict[str, str]], tuple[int, dict[str, str], str] | None] | None
        ) = None
        for method in ("GET", "POST"):
            mock.add_callback(
                method,
                re.compile(API + r"/v1/(products|prices)(/[^?]*)?(\?.*)?$"),
                callback=self._handle,
            )

    @property
    def writes(self) -> list[tuple[str, str]]:
        return [c for c in self.calls if c[0] == "POST"]

    def _params(self, request: Any) -> dict[str, str]:
        from urllib.parse import urlsplit

        raw = request.body if request.method == "POST" else urlsplit(request.url).query
        if isinstance(raw, bytes):
            raw = raw.decode()
        return dict(self._parse(raw or "", keep_blank_values=True))

    def _handle(self, request: Any) -> tuple[int, dict[str, str], str]:
        from urllib.parse import urlsplit

        if request.method == "POST":
            with self._lock:
                key = request.headers.get("Idempotency-Key")
                self.idempotency_keys.append((urlsplit(request.url).path, key))
        if self.before is not None:  # outside the lock: it may wait for other requests
            answer = self.before(request.method, urlsplit(request.url).path, self._params(request))
            if answer is not None:
                return answer
        with self._lock:  # a sync writes from several threads at once
            return self._answer(request)

    def _answer(self, request: Any) -> tuple[int, dict[str, str], str]:
        from urllib.parse import urlsplit

        path = urlsplit(request.url).path
        self.calls.append((request.method, path))
        params = self._params(request)
        parts = path.strip("/").split("/")  # v1, kind[, id]
        kind = parts[1]
        store = self.products if kind == "products" else self.prices
        if request.method == "GET":
            items = sorted(store.values(), key=lambda o: -o["_seq"])
            if "active" in params:
                items = [o for o in items if o["active"] == (params["active"] == "true")]
            lookup_keys = {v for k, v in params.items() if k.startswith("lookup_keys[")}
            if lookup_keys:
                items = [o for o in items if o.get("lookup_key") in lookup_keys]
            if params.get("starting_after"):
                after = store[params["starting_after"]]["_seq"]
                items = [o for o in items if o["_seq"] < after]
            limit = int(params.get("limit", 10))
            page = [self._public(o) for o in items[:limit]]
            if kind == "prices" and "data.product" in params.values():  # expand[0]=data.product
                for price in page:
                    price["product"] = self._public(self.products[price["product"]])
            return 200, {}, json.dumps(listing(f"/v1/{kind}", page, len(items) > limit))
        if len(parts) == 3:
            obj = store[parts[2]]
            if kind == "prices" and params.get("lookup_key"):
                self._take_lookup_key(params["lookup_key"], params.get("transfer_lookup_key"))
            for key, value in params.items():
                if key == "active":
                    obj["active"] = value == "true"
                elif key.startswith("metadata["):
                    obj["metadata"][key[9:-1]] = value
                elif key in ("name", "lookup_key"):
                    obj[key] = value
                elif key == "description":
                    obj[key] = value or None  # Stripe clears a field sent empty
                elif key == "shippable":
                    obj["shippable"] = value == "true"
            return 200, {}, json.dumps(self._public(obj))
        self._seq += 1
        if kind == "products":
            obj = example(
                "product",
                id=params["id"],
                name=params["name"],
                description=params.get("description"),
                active=True,
                metadata={},
                shippable=params.get("shippable") == "true",
            )
        else:
            if params.get("lookup_key"):
                clash = self._take_lookup_key(
                    params["lookup_key"], params.get("transfer_lookup_key")
                )
                if clash:
                    return (
                        400,
                        {},
                        json.dumps(
                            {
                                "error": {
                                    "type": "invalid_request_error",
                                    "param": "lookup_key",
                                    "message": clash,
                                }
                            }
                        ),
                    )
            obj = example(
                "price",
                id=f"price_{self._seq:06d}",
                product=params["product"],
                unit_amount=int(params["unit_amount"]),
                currency=params["currency"],
                lookup_key=params.get("lookup_key"),
                active=True,
                metadata={},
                recurring=(
                    {"interval": params["recurring[interval]"], "interval_count": 1}
                    if "recurring[interval]" in params
                    else None
                ),
            )
        obj["metadata"].update({k[9:-1]: v for k, v in params.items() if k.startswith("metadata[")})
        obj["_seq"] = self._seq
        store[obj["id"]] = obj
        return 200, {}, json.dumps(self._public(obj))

    def _take_lookup_key(self, key: str, transfer: str | None) -> str | None:
        holder = next((p for p in self.prices.values() if p["lookup_key"] == key), None)
        if holder is None:
            return None
        if transfer != "true":
            return f"A price ({holder['id']}) already uses that lookup key."
        holder["lookup_key"] = None
        return None

    @staticmethod
    def _public(obj: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in obj.items() if k != "_seq"}


def _nested(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding back into hashes and arrays (`a[b][0][c]=v`); `""` stays."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value

    def arrays(node: Any) -> Any:
        if isinstance(node, dict):
            if node and all(k.isdigit() for k in node):
                return [arrays(node[k]) for k in sorted(node, key=int)]
            return {k: arrays(v) for k, v in node.items()}
        return node

    return arrays(root)  # type: ignore[no-any-return]


class FakePortalConfigurations:
    """Stripe's billing portal configurations over `responses`: list (`is_default`,
    `active`; the plan-switch products only when expanded), create (the first one is the default) and update (features merged
    per feature, as Stripe does). Writes are kept in `writes`."""

    def __init__(self, mock: Any) -> None:
        import re

        self.configurations: dict[str, dict[str, Any]] = {}
        self.writes: list[dict[str, Any]] = []
        for method in ("GET", "POST"):
            mock.add_callback(
                method,
                re.compile(API + r"/v1/billing_portal/configurations(/[^?]*)?(\?.*)?$"),
                callback=self._handle,
            )

    def _handle(self, request: Any) -> tuple[int, dict[str, str], str]:
        from urllib.parse import parse_qsl, urlsplit

        url = urlsplit(request.url)
        raw = request.body if request.method == "POST" else url.query
        if isinstance(raw, bytes):
            raw = raw.decode()
        params = _nested(parse_qsl(raw or "", keep_blank_values=True))
        parts = url.path.strip("/").split("/")  # v1, billing_portal, configurations[, id]
        if request.method == "GET":
            items = list(self.configurations.values())
            for key in ("is_default", "active"):
                if key in params:
                    items = [c for c in items if c[key] == (params[key] == "true")]
            found = listing("/v1/billing_portal/configurations", items)
            return 200, {}, json.dumps(as_answered(found, expand_of(request.url)))
        self.writes.append(params)
        if len(parts) == 4:
            config = self.configurations[parts[3]]
        else:
            config = example(
                "billing_portal.configuration",
                id=f"bpc_{len(self.configurations) + 1:06d}",
                is_default=not self.configurations,
                livemode=False,
            )
            config["features"]["subscription_update"]["products"] = []
            self.configurations[config["id"]] = config
        for name, settings in params.get("features", {}).items():
            for key, value in settings.items():
                if value in ("true", "false"):
                    value = value == "true"
                elif key in ("products", "default_allowed_updates") and value == "":
                    value = []
                config["features"][name][key] = value
        return 200, {}, json.dumps(config)


class FakeCoupons:
    """Stripe's coupons over `responses`: retrieve by id (404 when missing) and create
    (an id in use is refused, as Stripe does). Created params are kept in `created`."""

    def __init__(self, mock: Any) -> None:
        import re

        self.coupons: dict[str, dict[str, Any]] = {}
        self.created: list[dict[str, Any]] = []
        self.calls: list[tuple[str, str]] = []
        for method in ("GET", "POST"):
            mock.add_callback(
                method, re.compile(API + r"/v1/coupons(/[^?]*)?(\?.*)?$"), callback=self._handle
            )

    def _handle(self, request: Any) -> tuple[int, dict[str, str], str]:
        from urllib.parse import parse_qsl, urlsplit

        url = urlsplit(request.url)
        self.calls.append((request.method, url.path))
        if request.method == "GET":
            coupon_id = url.path.rsplit("/", 1)[1]
            if coupon_id not in self.coupons:
                missing = self._error(f"No such coupon: '{coupon_id}'", "resource_missing")
                return 404, {}, json.dumps(missing)
            return 200, {}, json.dumps(self.coupons[coupon_id])
        raw = request.body.decode() if isinstance(request.body, bytes) else request.body
        params = _nested(parse_qsl(raw or "", keep_blank_values=True))
        if params["id"] in self.coupons:
            return (
                400,
                {},
                json.dumps(self._error("Coupon already exists.", "resource_already_exists")),
            )
        self.created.append(params)
        coupon = example(
            "coupon",
            id=params["id"],
            name=params.get("name"),
            percent_off=float(params["percent_off"]),
            duration=params["duration"],
            applies_to={"products": params.get("applies_to", {}).get("products", [])},
            metadata=params.get("metadata", {}),
        )
        self.coupons[coupon["id"]] = coupon
        return 200, {}, json.dumps(coupon)

    @staticmethod
    def _error(message: str, code: str) -> dict[str, Any]:
        return {"error": {"type": "invalid_request_error", "message": message, "code": code}}


class FakeCheckoutSessions:
    """Stripe's Checkout Sessions over `responses`: create (open, with the params sent),
    retrieve, expire (refused unless open), and `complete(id)` / `expire_now(id)` for a
    test to play the shopper or the clock. Created sessions' params are in `created`.
    """

    def __init__(self, mock: Any, delay: float = 0.0) -> None:
        import re

        self.sessions: dict[str, dict[str, Any]] = {}
        self.created: list[dict[str, Any]] = []
        self.expire_calls: list[str] = []
        #: Called with an expired session before the expire call answers (a webhook, say).
        self.on_expire: Callable[[dict[str, Any]], None] | None = None
        #: True: retrieving or expiring a session fails as if Stripe could not be reached.
        self.unreachable = False
        self.delay = delay
        mock.add_callback(
            "POST", re.compile(API + r"/v1/checkout/sessions$"), callback=self._create
        )
        mock.add_callback(
            "POST",
            re.compile(API + r"/v1/checkout/sessions/[^/?]+/expire$"),
            callback=self._expire,
        )
        mock.add_callback(
            "GET", re.compile(API + r"/v1/checkout/sessions/[^/?]+(\?.*)?$"), callback=self._get
        )

    def _create(self, request: Any) -> tuple[int, dict[str, str], str]:
        from urllib.parse import parse_qsl

        raw = request.body.decode() if isinstance(request.body, bytes) else request.body
        params = _nested(parse_qsl(raw or "", keep_blank_values=True))
        if self.delay:
            time.sleep(self.delay)
        session_id = f"cs_test_{len(self.sessions) + 1}"
        self.created.append(params)
        self.sessions[session_id] = example(
            "checkout.session",
            id=session_id,
            url=f"https://checkout.stripe.com/c/pay/{session_id}",
            status="open",
            payment_status="unpaid",
            client_reference_id=params.get("client_reference_id"),
            metadata=params.get("metadata", {}),
            mode=params.get("mode"),
            customer=params.get("customer"),
            currency="gbp",
            amount_total=None,
            expires_at=int(params["expires_at"]) if "expires_at" in params else None,
            payment_intent=None,
            subscription=None,
        )
        return 200, {}, json.dumps(self.sessions[session_id])

    def _id(self, request: Any) -> str:
        from urllib.parse import urlsplit

        return urlsplit(request.url).path.split("/")[4]

    def _get(self, request: Any) -> tuple[int, dict[str, str], str]:
        if self.unreachable:
            raise requests.ConnectionError("Stripe cannot be reached")
        found = self.sessions.get(self._id(request))
        if found is None:
            return 404, {}, json.dumps({"error": {"type": "invalid_request_error"}})
        return 200, {}, json.dumps(as_answered(found, expand_of(request.url)))

    def _expire(self, request: Any) -> tuple[int, dict[str, str], str]:
        session_id = self._id(request)
        self.expire_calls.append(session_id)
        if self.unreachable:
            raise requests.ConnectionError("Stripe cannot be reached")
        found = self.sessions[session_id]
        if found["status"] != "open":
            message = (
                "Only Checkout Sessions with a status of open can be expired; "
                f"this one is {found['status']}."
            )
            return (
                400,
                {},
                json.dumps({"error": {"type": "invalid_request_error", "message": message}}),
            )
        found.update(status="expired", url=None)
        if self.on_expire is not None:
            self.on_expire(found)
        return 200, {}, json.dumps(found)

    def complete(self, session_id: str, amount_total: int) -> dict[str, Any]:
        """The shopper paid: the session is complete and paid."""
        self.sessions[session_id].update(
            status="complete",
            payment_status="paid",
            amount_total=amount_total,
            url=None,
            payment_intent=example("payment_intent", id=f"pi_{session_id}", status="succeeded"),
        )
        return self.sessions[session_id]

    def expire_now(self, session_id: str) -> dict[str, Any]:
        """The session's time ran out."""
        self.sessions[session_id].update(status="expired", url=None)
        return self.sessions[session_id]


#: The test catalogue's Stripe prices that `FakeStripe` answers for, by lookup key.
PRICES = {
    "book:the-salt-road": 1299,
    "book:salt-road-ebook": 699,
    "book:winter-orchard": 1000,
    "book:letters-from-the-lighthouse": 2200,
    "plan:reader:month": 900,
}


class FakePrices:
    """Stripe's price list by lookup key over `responses`, answering from `prices`
    (lookup key → amount; a plan's key names its interval). `lists` counts the calls."""

    def __init__(self, mock: responses.RequestsMock, prices: dict[str, int]) -> None:
        self.prices = prices
        self.lists = 0
        mock.add_callback("GET", re.compile(API + r"/v1/prices\?.*"), callback=self._answer)

    def _answer(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.lists += 1
        query = parse_qs(request.url.split("?", 1)[1])
        wanted = {v for k, vs in query.items() if k.startswith("lookup_keys") for v in vs}
        found = [
            example(
                "price",
                id=f"price_{key.replace(':', '_')}",
                lookup_key=key,
                unit_amount=amount,
                currency="gbp",
                active=True,
                recurring=(
                    {"interval": key.rsplit(":", 1)[1], "interval_count": 1}
                    if key.startswith("plan:")
                    else None
                ),
            )
            for key, amount in self.prices.items()
            if key in wanted
        ]
        return 200, {}, json.dumps(listing("/v1/prices", found))


class FakeStripe:
    """Prices by lookup key (list calls counted), one customer, and Checkout Sessions."""

    def __init__(self, mock: responses.RequestsMock, delay: float = 0.0) -> None:
        self.prices = FakePrices(mock, PRICES)
        self.sessions = FakeCheckoutSessions(mock, delay)
        mock.add("POST", API + "/v1/customers", json=example("customer", id="cus_reader"))

    @property
    def price_lists(self) -> int:
        return self.prices.lists


class Gate:
    """One held retrieve: `arrived` is set once Stripe has read its answer, and the
    answer goes back only when `release` is set (a slow network, a slow Stripe)."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.release = threading.Event()


class SlowStripe:
    """Stripe's objects by path, changed by the test as Stripe would change them; each
    GET answers the object as it was when the request reached Stripe, and may be held
    (`hold`, `hold_every`) before the answer comes back, so retrieves overlap."""

    def __init__(self, mock: responses.RequestsMock) -> None:
        self.mock = mock
        self.objects: dict[str, dict[str, Any]] = {}
        self.gates: dict[str, list[Gate]] = {}
        self.holding: set[str] = set()
        self.held: list[Gate] = []
        self.lock = threading.Lock()

    def serve(self, path: str, body: dict[str, Any]) -> None:
        """From now on Stripe has `body` at `path`."""
        with self.lock:
            if path not in self.objects:
                self.mock.add_callback(
                    "GET", re.compile(re.escape(API + path) + r"(\?.*)?$"), self._answer
                )
            self.objects[path] = copy.deepcopy(body)

    def hold(self, path: str) -> Gate:
        """The next GET of `path` is held until the gate is released."""
        gate = Gate()
        with self.lock:
            self.gates.setdefault(path, []).append(gate)
        return gate

    def hold_every(self, *paths: str) -> None:
        """Hold every GET of these paths (collected in `held`) until `stop_holding`."""
        with self.lock:
            self.holding = set(paths)

    def stop_holding(self) -> None:
        """GETs answer at once again (those already held wait for their gates)."""
        with self.lock:
            self.holding = set()

    def wait_for_held(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until `count` GETs in all have been held (False: they never were)."""
        deadline = time.monotonic() + timeout
        while len(self.held) < count:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.001)
        return True

    def _answer(self, request: Any) -> tuple[int, dict[str, str], str]:
        path = request.path_url.split("?")[0]
        with self.lock:
            # Stripe's state when the request arrives, expanded as the request asks.
            body = json.dumps(as_answered(self.objects[path], expand_of(request.url)))
            gates = self.gates.get(path)
            gate = gates.pop(0) if gates else None
            if gate is None and path in self.holding:
                gate = Gate()
                self.held.append(gate)
        if gate is not None:
            gate.arrived.set()
            assert gate.release.wait(30), f"held GET {path} never released"
        return 200, {"Request-Id": f"req_{uuid.uuid4().hex[:12]}"}, body
