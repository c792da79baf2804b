"""The shop's layout rules, read from its source with `ast`: views never touch the Stripe
SDK, and only `shop/stripe_api.py` calls Stripe (`client.v1…`).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VIEWS = "shop/views/"
STRIPE_OWNER = "shop/stripe_api.py"


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


def _view_violations(node: ast.AST, path: str) -> list[Violation]:
    """A view may not import the SDK, name `stripe.…` or catch `StripeError`."""
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
        return [
            Violation(path, line, "a view imports StripeError")
            for alias in node.names
            if alias.name == "StripeError"
        ]
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "stripe"
    ):
        return [Violation(path, line, f"a view refers to stripe.{node.attr}")]
    if isinstance(node, ast.Attribute) and node.attr == "StripeError":
        return [Violation(path, line, "a view refers to StripeError")]
    if isinstance(node, ast.Name) and node.id == "StripeError":
        return [Violation(path, line, "a view refers to StripeError")]
    return []


def layout_violations(source: str, path: str) -> list[Violation]:
    """Every layout rule `source` breaks, as the file at `path` (relative to the repo)."""
    found: list[Violation] = []
    for node in ast.walk(ast.parse(source, filename=path)):
        if path.startswith(VIEWS):
            found += _view_violations(node, path)
        if path != STRIPE_OWNER and isinstance(node, ast.Attribute) and node.attr == "v1":
            found.append(
                Violation(path, node.lineno, f"calls Stripe (….v1); only {STRIPE_OWNER} may")
            )
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
        "shop/views/example.py:6: calls Stripe (….v1); only shop/stripe_api.py may",
        "shop/views/example.py:7: a view refers to stripe.StripeError",
        "shop/views/example.py:9: a view refers to StripeError",
    ]


def test_only_the_stripe_module_may_call_the_client() -> None:
    source = "def prices(client):\n    return client.v1.prices.list()\n"
    assert [str(v) for v in layout_violations(source, "shop/orders.py")] == [
        "shop/orders.py:2: calls Stripe (….v1); only shop/stripe_api.py may"
    ]
    assert layout_violations(source, STRIPE_OWNER) == []
    # Outside the views, importing the SDK for its types is allowed.
    assert layout_violations("import stripe\n", "shop/fulfilment.py") == []
