"""The committed tables are what the generator makes from the installed SDK and fixtures."""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

SCRIPT = Path(__file__).resolve().parents[2] / "stripe_sandbox" / "scripts" / "generate_tables.py"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_tables", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("generate_tables", module)
    spec.loader.exec_module(module)
    return module


def test_committed_tables_match_the_generator() -> None:
    outputs, _notes = _generator().generate()
    assert outputs, "the generator produced nothing"
    for path, text in outputs.items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.name} is stale or edited by hand: run `make sandbox-tables`"
        )


def test_generator_reads_nested_params_and_expandable_fields() -> None:
    gen = _generator()
    allowed = gen.allowed_tables()
    line_item = allowed["checkout.session.create"]["line_items"][0]
    assert line_item["price_data"]["recurring"]["interval"] is None
    assert line_item["metadata"] == {"*": None}
    assert "api_key" not in allowed["refund.create"]
    fixtures = gen.json.loads(gen.DEFAULT_FIXTURES.read_text(encoding="utf-8"))["resources"]
    keys, expandable, _notes = gen.shape_tables(fixtures)
    assert "subscription" not in keys["invoice"] and "parent" in keys["invoice"]
    assert "refunds" not in keys["charge"] and "refunds" in expandable["charge"]
    assert "parent.subscription_details.subscription" in expandable["invoice"]


def test_error_codes_emitted_are_ones_stripe_documents() -> None:
    """Every ``code="…"`` in the sandbox's source is among the error codes the SDK lists."""
    import re
    import typing

    from stripe._setup_intent import SetupIntent

    known: set[str] = set()

    def walk(tp: object) -> None:
        if typing.get_origin(tp) is typing.Literal:
            known.update(str(arg) for arg in typing.get_args(tp))
        for arg in typing.get_args(tp):
            walk(arg)

    walk(SetupIntent.LastSetupError.__annotations__["code"])
    assert {"parameter_unknown", "resource_missing"} <= known
    package = SCRIPT.parents[1] / "src" / "stripe_sandbox"
    used = {
        (path.name, code)
        for path in package.rglob("*.py")
        for code in re.findall(r'\bcode="([a-z_]+)"', path.read_text(encoding="utf-8"))
    }
    assert used, "no codes found: has the source moved?"
    assert [pair for pair in sorted(used) if pair[1] not in known] == []
