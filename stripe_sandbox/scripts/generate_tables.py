"""Regenerate the sandbox's tables from the installed stripe SDK and Stripe's fixtures.

- ``allowed.py``: the request parameters Stripe accepts on each strictly checked request,
  nested keys included, from the SDK's typed params (``stripe/params/**``).
- ``shapes.py``: the keys of every object the sandbox returns, from Stripe's example
  objects (``fixtures3.json``), less the fields the SDK no longer declares and those
  Stripe returns only when expanded; and the fields each object can expand, from the
  SDK's ``ExpandableField`` annotations.

Usage: ``python stripe_sandbox/scripts/generate_tables.py [FIXTURES] [--check]``
(``make sandbox-tables``). ``--check`` writes nothing and exits 1 when a committed
table differs. Standard library and the installed ``stripe`` package only.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ForwardRef

import stripe
from stripe._object_classes import OBJECT_CLASSES
from stripe._request_options import RequestOptions
from stripe._stripe_object import StripeObject

ROOT = Path(__file__).resolve().parents[2]
# The one place the generated modules go: repoint this if allowed.py and shapes.py move.
OUTPUT_DIR = ROOT / "stripe_sandbox" / "src" / "stripe_sandbox" / "core"
ALLOWED_PATH = OUTPUT_DIR / "allowed.py"
SHAPES_PATH = OUTPUT_DIR / "shapes.py"
DEFAULT_FIXTURES = ROOT / "tests" / "fixtures" / "stripe" / "fixtures3.json"
SCRIPT = "stripe_sandbox/scripts/generate_tables.py"

# Each strictly checked request (``route(..., strict=NAME)``) and its SDK params class.
ENDPOINTS: dict[str, str] = {
    "checkout.session.create": "stripe.params.checkout:SessionCreateParams",
    "price.create": "stripe.params:PriceCreateParams",
    "price.update": "stripe.params:PriceUpdateParams",
    "product.create": "stripe.params:ProductCreateParams",
    "product.update": "stripe.params:ProductUpdateParams",
    "customer.create": "stripe.params:CustomerCreateParams",
    "customer.update": "stripe.params:CustomerUpdateParams",
    "subscription.update": "stripe.params:SubscriptionUpdateParams",
    "refund.create": "stripe.params:RefundCreateParams",
    "webhook_endpoint.create": "stripe.params:WebhookEndpointCreateParams",
    "webhook_endpoint.update": "stripe.params:WebhookEndpointUpdateParams",
    "billing_portal.session.create": "stripe.params.billing_portal:SessionCreateParams",
    "test_clock.create": "stripe.params.test_helpers:TestClockCreateParams",
    "test_clock.advance": "stripe.params.test_helpers:TestClockAdvanceParams",
    "checkout.session.update": "stripe.params.checkout:SessionUpdateParams",
    "checkout.session.expire": "stripe.params.checkout:SessionExpireParams",
    "billing_portal.configuration.create": (
        "stripe.params.billing_portal:ConfigurationCreateParams"
    ),
    "billing_portal.configuration.update": (
        "stripe.params.billing_portal:ConfigurationUpdateParams"
    ),
    "dispute.update": "stripe.params:DisputeUpdateParams",
    "dispute.close": "stripe.params:DisputeCloseParams",
    "invoice.pay": "stripe.params:InvoicePayParams",
    "payment_method.attach": "stripe.params:PaymentMethodAttachParams",
    "payment_method.detach": "stripe.params:PaymentMethodDetachParams",
    # Reads and deletes: Stripe refuses unknown query parameters on them too.
    "subscription.retrieve": "stripe.params:SubscriptionRetrieveParams",
    "subscription.list": "stripe.params:SubscriptionListParams",
    "subscription.cancel": "stripe.params:SubscriptionCancelParams",
    "subscription.search": "stripe.params:SubscriptionSearchParams",
    "subscription_item.list": "stripe.params:SubscriptionItemListParams",
    "subscription_item.retrieve": "stripe.params:SubscriptionItemRetrieveParams",
    "invoice.retrieve": "stripe.params:InvoiceRetrieveParams",
    "invoice.list": "stripe.params:InvoiceListParams",
    "invoice.list_lines": "stripe.params:InvoiceListLinesParams",
    "invoice.search": "stripe.params:InvoiceSearchParams",
    "invoice_payment.list": "stripe.params:InvoicePaymentListParams",
    "invoiceitem.list": "stripe.params:InvoiceItemListParams",
    "billing_portal.configuration.retrieve": (
        "stripe.params.billing_portal:ConfigurationRetrieveParams"
    ),
    "billing_portal.configuration.list": "stripe.params.billing_portal:ConfigurationListParams",
    "test_clock.retrieve": "stripe.params.test_helpers:TestClockRetrieveParams",
    "test_clock.list": "stripe.params.test_helpers:TestClockListParams",
    "test_clock.delete": "stripe.params.test_helpers:TestClockDeleteParams",
    "product.retrieve": "stripe.params:ProductRetrieveParams",
    "product.list": "stripe.params:ProductListParams",
    "product.delete": "stripe.params:ProductDeleteParams",
    "product.search": "stripe.params:ProductSearchParams",
    "price.retrieve": "stripe.params:PriceRetrieveParams",
    "price.list": "stripe.params:PriceListParams",
    "price.search": "stripe.params:PriceSearchParams",
    "checkout.session.retrieve": "stripe.params.checkout:SessionRetrieveParams",
    "checkout.session.list": "stripe.params.checkout:SessionListParams",
    "checkout.session.list_line_items": "stripe.params.checkout:SessionListLineItemsParams",
    "customer.retrieve": "stripe.params:CustomerRetrieveParams",
    "customer.list": "stripe.params:CustomerListParams",
    "customer.delete": "stripe.params:CustomerDeleteParams",
    "customer.search": "stripe.params:CustomerSearchParams",
    "customer.list_payment_methods": "stripe.params:CustomerListPaymentMethodsParams",
    "payment_intent.retrieve": "stripe.params:PaymentIntentRetrieveParams",
    "payment_intent.list": "stripe.params:PaymentIntentListParams",
    "payment_intent.search": "stripe.params:PaymentIntentSearchParams",
    "charge.retrieve": "stripe.params:ChargeRetrieveParams",
    "charge.list": "stripe.params:ChargeListParams",
    "charge.list_refunds": "stripe.params:ChargeListRefundsParams",
    "charge.search": "stripe.params:ChargeSearchParams",
    "refund.retrieve": "stripe.params:RefundRetrieveParams",
    "refund.list": "stripe.params:RefundListParams",
    "dispute.retrieve": "stripe.params:DisputeRetrieveParams",
    "dispute.list": "stripe.params:DisputeListParams",
    "payment_method.retrieve": "stripe.params:PaymentMethodRetrieveParams",
    "payment_method.list": "stripe.params:PaymentMethodListParams",
    "webhook_endpoint.retrieve": "stripe.params:WebhookEndpointRetrieveParams",
    "webhook_endpoint.list": "stripe.params:WebhookEndpointListParams",
    "webhook_endpoint.delete": "stripe.params:WebhookEndpointDeleteParams",
    "event.retrieve": "stripe.params:EventRetrieveParams",
    "event.list": "stripe.params:EventListParams",
    "coupon.create": "stripe.params:CouponCreateParams",
    "coupon.retrieve": "stripe.params:CouponRetrieveParams",
    "coupon.update": "stripe.params:CouponUpdateParams",
    "coupon.list": "stripe.params:CouponListParams",
    "coupon.delete": "stripe.params:CouponDeleteParams",
    "shipping_rate.create": "stripe.params:ShippingRateCreateParams",
    "shipping_rate.retrieve": "stripe.params:ShippingRateRetrieveParams",
    "shipping_rate.list": "stripe.params:ShippingRateListParams",
}

# The objects the sandbox returns (keys of fixtures3.json and of the SDK's object classes).
OBJECT_TYPES: tuple[str, ...] = (
    "product",
    "price",
    "customer",
    "checkout.session",
    "item",
    "payment_intent",
    "charge",
    "refund",
    "payment_method",
    "subscription",
    "subscription_item",
    "invoice",
    "line_item",
    "invoiceitem",
    "invoice_payment",
    "billing_portal.configuration",
    "event",
    "webhook_endpoint",
    "billing_portal.session",
    "test_helpers.test_clock",
    "coupon",
    "discount",
    "shipping_rate",
)

# Fields Stripe returns only when asked for with ``expand[]`` ("includable" fields):
# Checkout ``line_items``; a coupon's ``applies_to``; ``charge.refunds`` since 2022-11-15; ``invoice.payments``; the
# products a billing portal lets customers switch between (a dotted path: nested).
ONLY_WHEN_EXPANDED: dict[str, tuple[str, ...]] = {
    "checkout.session": ("line_items",),
    "coupon": ("applies_to",),
    "charge": ("refunds",),
    "invoice": ("payments",),
    "billing_portal.configuration": ("features.subscription_update.products",),
}

MAX_DEPTH = 4
# The SDK's per-request options (api_key, idempotency_key, …) are not API params.
_REQUEST_OPTION_KEYS = frozenset(RequestOptions.__annotations__)


# --- request params -------------------------------------------------------------------


Spec = dict[str, Any]  # name -> nested Spec, [Spec] for a list of hashes, None for a value


def _load(target: str) -> Any:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def _hints(cls: Any) -> dict[str, Any]:
    """The evaluated annotations of a params TypedDict, less the SDK's request options."""
    own = {k: v for k, v in cls.__annotations__.items() if k not in _REQUEST_OPTION_KEYS}
    holder = type(cls.__name__, (), {"__annotations__": own, "__module__": cls.__module__})
    return typing.get_type_hints(holder)


def _is_typeddict(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__total__")


def _shape_of(tp: Any, seen: tuple[Any, ...]) -> Any:
    """The spec of one annotation: a nested Spec, ``[Spec]`` or None (a plain value)."""
    origin = typing.get_origin(tp)
    if origin in (typing.NotRequired, typing.Required):
        return _shape_of(typing.get_args(tp)[0], seen)
    if origin is typing.Union:
        shapes = [_shape_of(arg, seen) for arg in typing.get_args(tp)]
        found = [shape for shape in shapes if shape is not None]
        return found[0] if found else None
    if origin is list:
        inner = _shape_of(typing.get_args(tp)[0], seen)
        return [inner] if isinstance(inner, dict) else None
    if origin is dict or (
        origin is not None and getattr(origin, "__name__", "") == "UntypedStripeObject"
    ):
        args = typing.get_args(tp)
        value = _shape_of(args[1], seen) if len(args) == 2 else None
        return {"*": value}
    if _is_typeddict(tp):
        if tp in seen:
            return {"*": None}
        return _params_of(tp, (*seen, tp))
    return None


def _params_of(cls: Any, seen: tuple[Any, ...] = ()) -> Spec:
    spec: Spec = {}
    for name, tp in sorted(_hints(cls).items()):
        spec[name] = _shape_of(tp, seen or (cls,))
    return spec


def allowed_tables() -> dict[str, Spec]:
    """Every strict endpoint's nested params, from the SDK's TypedDicts."""
    return {name: _params_of(_load(target)) for name, target in ENDPOINTS.items()}


# --- object shapes --------------------------------------------------------------------


def _object_class(object_type: str) -> Any:
    module, name = OBJECT_CLASSES[object_type]
    return getattr(importlib.import_module(module), name)


def _declared(cls: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        fields.update(getattr(klass, "__annotations__", {}) if klass is not object else {})
    return fields


def _is_expandable(tp: Any) -> bool:
    """``ExpandableField[X]`` is ``Union[str, X]`` with X a forward reference to a resource."""
    if typing.get_origin(tp) is list:
        return _is_expandable(typing.get_args(tp)[0])
    if typing.get_origin(tp) is not typing.Union:
        return False
    args = typing.get_args(tp)
    if str not in args:
        return False
    return any(isinstance(arg, ForwardRef) for arg in args) or any(
        _is_expandable(arg) for arg in args if typing.get_origin(arg) is list
    )


def _nested_class(tp: Any) -> Any:
    """The inline StripeObject class an annotation holds (optionally, or as a list)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, list):
        for arg in typing.get_args(tp):
            found = _nested_class(arg)
            if found is not None:
                return found
        return None
    if isinstance(tp, type) and issubclass(tp, StripeObject) and "." in tp.__qualname__:
        return tp
    return None


def _expandable_paths(cls: Any, prefix: str = "", depth: int = 1) -> Iterator[str]:
    for name, tp in sorted(_declared(cls).items()):
        if name.startswith("_") or typing.get_origin(tp) is typing.ClassVar:
            continue
        if _is_expandable(tp):
            yield prefix + name
            continue
        nested = _nested_class(tp)
        if nested is not None and depth < MAX_DEPTH:
            yield from _expandable_paths(nested, f"{prefix}{name}.", depth + 1)


def shape_tables(
    fixtures: dict[str, Any],
) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]], list[str]]:
    """Object keys and expandable paths per type, and notes on the keys dropped."""
    keys: dict[str, tuple[str, ...]] = {}
    expandable: dict[str, tuple[str, ...]] = {}
    notes: list[str] = []
    for object_type in OBJECT_TYPES:
        cls = _object_class(object_type)
        declared = _declared(cls)
        example = fixtures[object_type]
        gone = sorted(k for k in example if k not in declared and k not in ("id", "object"))
        hidden = ONLY_WHEN_EXPANDED.get(object_type, ())
        keys[object_type] = tuple(sorted(k for k in example if k not in gone and k not in hidden))
        expandable[object_type] = tuple(sorted(set(_expandable_paths(cls)) | set(hidden)))
        if gone:
            notes.append(f"{object_type}: not declared by the SDK, left out: {', '.join(gone)}")
    return keys, expandable, notes


# --- rendering ------------------------------------------------------------------------


def _render_spec(spec: Any, indent: int) -> str:
    pad = " " * indent
    if spec is None:
        return "None"
    if isinstance(spec, list):
        return "[\n" + pad + "    " + _render_spec(spec[0], indent + 4) + ",\n" + pad + "]"
    if not spec:
        return "{}"
    lines = ["{"]
    for key, value in spec.items():
        lines.append(f"{pad}    {json.dumps(key)}: {_render_spec(value, indent + 4)},")
    lines.append(pad + "}")
    return "\n".join(lines)


def _header() -> str:
    return (
        f"# Generated by {SCRIPT} from stripe {stripe.VERSION} (API version "
        f"{stripe.api_version}).\n# Do not edit by hand: run `make sandbox-tables`.\n"
    )


def render_allowed(tables: dict[str, Spec]) -> str:
    out = [
        '"""Request parameters Stripe accepts on the requests the sandbox checks strictly.',
        "",
        "Each entry maps a parameter to the keys nested under it (a dict), to ``[dict]`` for",
        'an array of hashes, or to None for a plain value; ``"*"`` stands for any key (as in',
        '``metadata``). Anything else is refused with Stripe\'s "Received unknown parameter"',
        "error, so typos surface here as they would against Stripe.",
        '"""',
        "",
        _header(),
        "from typing import Any",
        "",
        "ALLOWED: dict[str, dict[str, Any]] = {",
    ]
    for name, spec in tables.items():
        out.append(f"    {json.dumps(name)}: {_render_spec(spec, 4)},")
    out.append("}")
    return "\n".join(out) + "\n"


def _render_tuples(name: str, table: dict[str, tuple[str, ...]]) -> list[str]:
    out = [f"{name}: dict[str, tuple[str, ...]] = {{"]
    for object_type, fields in table.items():
        if len(fields) < 2:
            inline = "".join(f"{json.dumps(field)}," for field in fields)
            out.append(f"    {json.dumps(object_type)}: ({inline}),")
            continue
        out.append(f"    {json.dumps(object_type)}: (")
        out.extend(f"        {json.dumps(field)}," for field in fields)
        out.append("    ),")
    out.append("}")
    return out


_BLANK = '''

def blank(object_type: str, **fields: Any) -> dict[str, Any]:
    """Return a new object of ``object_type`` with every known key null, then ``fields``."""
    obj: dict[str, Any] = dict.fromkeys(KEYS.get(object_type, ()))
    obj["object"] = object_type
    if "livemode" in obj:
        obj["livemode"] = False
    if "metadata" in obj:
        obj["metadata"] = {}
    obj.update(fields)
    return obj
'''


def render_shapes(
    keys: dict[str, tuple[str, ...]],
    hidden: dict[str, tuple[str, ...]],
    expandable: dict[str, tuple[str, ...]],
) -> str:
    out = [
        '"""The keys of every object the sandbox returns, and what ``expand[]`` may name.',
        "",
        "``KEYS``: the top-level keys of Stripe's example objects that the SDK still declares,",
        "less ``ONLY_WHEN_EXPANDED`` (fields Stripe includes only when asked for with",
        "``expand[]``). Each builder starts from ``blank(object_type)`` so a returned object",
        "always carries those keys (values default to null). ``EXPANDABLE``: the dotted paths,",
        "within each object, of the fields ``expand[]`` accepts.",
        '"""',
        "",
        _header(),
        "from typing import Any",
        "",
        *_render_tuples("KEYS", keys),
        "",
        *_render_tuples("ONLY_WHEN_EXPANDED", hidden),
        "",
        *_render_tuples("EXPANDABLE", expandable),
    ]
    return "\n".join(out) + "\n" + _BLANK


def generate(fixtures_path: Path = DEFAULT_FIXTURES) -> tuple[dict[Path, str], list[str]]:
    """The text of each generated module, and notes on what was left out."""
    fixtures = json.loads(fixtures_path.read_text(encoding="utf-8"))["resources"]
    keys, expandable, notes = shape_tables(fixtures)
    return {
        ALLOWED_PATH: render_allowed(allowed_tables()),
        SHAPES_PATH: render_shapes(keys, ONLY_WHEN_EXPANDED, expandable),
    }, notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fixtures", nargs="?", type=Path, default=DEFAULT_FIXTURES)
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = parser.parse_args(argv)
    outputs, notes = generate(args.fixtures)
    print(f"stripe {stripe.VERSION}, API version {stripe.api_version}")
    for note in notes:
        print(note)
    stale = 0
    for path, text in outputs.items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        shown = path.relative_to(ROOT)
        if current == text:
            print(f"{shown}: up to date")
        elif args.check:
            stale += 1
            print(f"{shown}: differs from what the SDK and fixtures give")
        else:
            path.write_text(text, encoding="utf-8")
            print(f"{shown}: written ({text.count(chr(10))} lines)")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
