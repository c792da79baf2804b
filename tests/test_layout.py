"""The shop's layout rules, read from its source with `ast`: views never touch the Stripe
SDK, and only `shop/stripe_api.py` calls Stripe — through the client (`client.v1…`,
`raw_request`) or the SDK's resource classes (`stripe.Refund.create`) — or handles its
errors (`StripeError`).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VIEWS = "shop/views/"
STRIPE_OWNER = "shop/stripe_api.py"
#: The one use of an SDK class's method allowed outside STRIPE_OWNER: checking a webhook's
#: signature is local work on the payload, not a call to Stripe.
SIGNATURE_CHECKS = {
    "shop/events.py": {"stripe.WebhookSignature.verify_header", "stripe.Webhook.construct_event"}
}


@dataclass(frozen=True, order=True)
class Violation:
    """One broken rule, named by file and line."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


def _is_stripe_module(name: str | None) -> bool:
    return name is not None and (name == "stripe" or name.startswith("stripe."))


def _dotted(node: ast.expr) -> list[str]:
    """`stripe.checkout.Session.create` as its parts; [] unless it is names and dots."""
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return [*base, node.attr] if base else []
    return []


def _sdk_class_use(node: ast.Attribute) -> str | None:
    """`stripe.….Class.name` when `node` is an attribute of an SDK class, such as the class
    method `stripe.Refund.create`; None otherwise (annotations and `isinstance` may name
    the class itself).
    """
    parts = _dotted(node)
    if len(parts) < 3 or parts[0] != "stripe" or not parts[-2][:1].isupper():
        return None
    if any(part[:1].isupper() for part in parts[1:-2]):
        return None  # deeper still: reported once, where the class's attribute is taken
    return ".".join(parts)


def _stripe_call_violations(node: ast.AST, path: str) -> list[Violation]:
    """Outside STRIPE_OWNER: no `….v1`, `raw_request`, SDK class method or `StripeError`."""
    line = getattr(node, "lineno", 0)
    only = f"only {STRIPE_OWNER} may"
    if isinstance(node, ast.Attribute) and node.attr == "v1":
        return [Violation(path, line, f"calls Stripe (….v1); {only}")]
    if (isinstance(node, ast.Attribute) and node.attr == "raw_request") or (
        isinstance(node, ast.Name) and node.id == "raw_request"
    ):
        return [Violation(path, line, f"calls Stripe (raw_request); {only}")]
    used = _sdk_class_use(node) if isinstance(node, ast.Attribute) else None
    if used is not None and used not in SIGNATURE_CHECKS.get(path, set()):
        return [Violation(path, line, f"calls Stripe ({used}); {only}")]
    if (isinstance(node, ast.Attribute) and node.attr == "StripeError") or (
        isinstance(node, ast.Name) and node.id == "StripeError"
    ):
        return [Violation(path, line, f"refers to StripeError; {only}")]
    if isinstance(node, ast.ImportFrom) and any(a.name == "StripeError" for a in node.names):
        return [Violation(path, line, f"imports StripeError; {only}")]
    return []


def _view_violations(node: ast.AST, path: str) -> list[Violation]:
    """A view may not import the SDK or name `stripe.…` (not even for its types)."""
    line = getattr(node, "lineno", 0)
    if isinstance(node, ast.Import):
        return [
            Violation(path, line, f"a view imports {alias.name}")
            for alias in node.names
            if _is_stripe_module(alias.name)
        ]
    if isinstance(node, ast.ImportFrom):
        if node.level == 0 and _is_stripe_module(node.module):
            return [Violation(path, line, f"a view imports from {node.module}")]
        return []
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "stripe"
    ):
        return [Violation(path, line, f"a view refers to stripe.{node.attr}")]
    return []


def layout_violations(source: str, path: str) -> list[Violation]:
    """Every layout rule `source` breaks, as the file at `path` (relative to the repo)."""
    found: list[Violation] = []
    for node in ast.walk(ast.parse(source, filename=path)):
        if path.startswith(VIEWS):
            found += _view_violations(node, path)
        if path != STRIPE_OWNER:
            found += _stripe_call_violations(node, path)
    return sorted(found)


def shop_violations() -> list[Violation]:
    found: list[Violation] = []
    for file in sorted((ROOT / "shop").rglob("*.py")):
        path = file.relative_to(ROOT).as_posix()
        found += layout_violations(file.read_text(encoding="utf-8"), path)
    return found


def test_views_never_touch_stripe_and_only_stripe_api_calls_it() -> None:
    violations = shop_violations()
    assert violations == [], "\n".join(map(str, violations))


def test_the_checker_reports_a_view_that_uses_the_sdk_naming_file_and_line() -> None:
    """The checker can fail: a synthetic view breaking every rule is reported line by line."""
    source = (
        "import stripe\n"
        "from stripe import StripeError\n"
        "\n"
        "def refund(client):\n"
        "    try:\n"
        "        return client.v1.refunds.create()\n"
        "    except stripe.StripeError:\n"
        "        pass\n"
        "    except StripeError:\n"
        "        pass\n"
    )
    assert [str(v) for v in layout_violations(source, "shop/views/example.py")] == [
        "shop/views/example.py:1: a view imports stripe",
        "shop/views/example.py:2: a view imports from stripe",
        "shop/views/example.py:2: imports StripeError; only shop/stripe_api.py may",
        "shop/views/example.py:6: calls Stripe (….v1); only shop/stripe_api.py may",
        "shop/views/example.py:7: a view refers to stripe.StripeError",
        "shop/views/example.py:7: refers to StripeError; only shop/stripe_api.py may",
        "shop/views/example.py:9: refers to StripeError; only shop/stripe_api.py may",
    ]


def test_only_the_stripe_module_may_call_the_client() -> None:
    source = "def prices(client):\n    return client.v1.prices.list()\n"
    assert [str(v) for v in layout_violations(source, "shop/orders.py")] == [
        "shop/orders.py:2: calls Stripe (….v1); only shop/stripe_api.py may"
    ]
    assert layout_violations(source, STRIPE_OWNER) == []
    # Outside the views, importing the SDK for its types is allowed.
    assert layout_violations("import stripe\n", "shop/fulfilment.py") == []


#: A module (not a view) reaching Stripe every way but `client.v1`, one way a line.
OTHER_WAYS_TO_STRIPE = (
    "import stripe\n"
    "from stripe import StripeError\n"
    "def refund(client, charge: stripe.Charge):\n"
    "    stripe.Refund.create(charge=charge.id)\n"
    "    client.raw_request('post', '/v1/refunds')\n"
    "    session = stripe.checkout.Session.retrieve('cs_1')\n"
    "    retrieve = stripe.Customer.retrieve\n"
    "    try:\n"
    "        pass\n"
    "    except stripe.StripeError:\n"
    "        pass\n"
    "    except stripe.error.StripeError:\n"
    "        pass\n"
    "    return isinstance(session, stripe.checkout.Session)\n"
    "stripe.Webhook.construct_event('{}', 'sig', 'whsec')\n"
    "stripe.WebhookSignature.verify_header('{}', 'sig', 'whsec', 300)\n"
)


def test_the_checker_reports_raw_requests_sdk_class_methods_and_stripe_error() -> None:
    """Outside `shop/stripe_api.py` each way around `client.v1` is reported, while naming
    an SDK class for its type (annotation, `isinstance`) is not."""
    only = "only shop/stripe_api.py may"
    assert [str(v) for v in layout_violations(OTHER_WAYS_TO_STRIPE, "shop/refunds.py")] == [
        f"shop/refunds.py:2: imports StripeError; {only}",
        f"shop/refunds.py:4: calls Stripe (stripe.Refund.create); {only}",
        f"shop/refunds.py:5: calls Stripe (raw_request); {only}",
        f"shop/refunds.py:6: calls Stripe (stripe.checkout.Session.retrieve); {only}",
        f"shop/refunds.py:7: calls Stripe (stripe.Customer.retrieve); {only}",
        f"shop/refunds.py:10: refers to StripeError; {only}",
        f"shop/refunds.py:12: refers to StripeError; {only}",
        f"shop/refunds.py:15: calls Stripe (stripe.Webhook.construct_event); {only}",
        f"shop/refunds.py:16: calls Stripe (stripe.WebhookSignature.verify_header); {only}",
    ]
    assert layout_violations(OTHER_WAYS_TO_STRIPE, STRIPE_OWNER) == []


def test_only_the_webhook_module_may_check_a_signature_with_the_sdk() -> None:
    """Signature checks are the one SDK class use allowed outside `shop/stripe_api.py`,
    and only in `shop/events.py`: they verify a payload locally and call nothing."""
    source = (
        "import stripe\n"
        "stripe.WebhookSignature.verify_header('{}', 'sig', 'whsec', 300)\n"
        "stripe.Webhook.construct_event('{}', 'sig', 'whsec')\n"
        "stripe.Refund.create(charge='ch_1')\n"
    )
    assert [str(v) for v in layout_violations(source, "shop/events.py")] == [
        "shop/events.py:4: calls Stripe (stripe.Refund.create); only shop/stripe_api.py may"
    ]
