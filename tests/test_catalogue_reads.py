"""A command reads and parses products.yaml once: `catalog check`, `catalog sync` and
`release` each cost one read of the file and one YAML parse, however many steps use it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import responses
from flask.testing import FlaskCliRunner

from shop import safe_yaml
from tests.stripe_fakes import FakeCoupons, FakePortalConfigurations, FakeProductsAndPrices


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How often the catalogue file is read and parsed."""
    counted = {"read": 0, "parse": 0}

    def counting(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            counted[name] += 1
            return function(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(safe_yaml, "read_text", counting("read", safe_yaml.read_text))
    monkeypatch.setattr(safe_yaml, "load", counting("parse", safe_yaml.load))
    return counted


@pytest.mark.parametrize("command", [["catalog", "check"], ["catalog", "sync"]])
def test_a_catalogue_command_reads_and_parses_the_file_once(
    runner: FlaskCliRunner,
    fake_stripe: responses.RequestsMock,
    reads: dict[str, int],
    command: list[str],
) -> None:
    FakePortalConfigurations(fake_stripe)
    FakeProductsAndPrices(fake_stripe)
    FakeCoupons(fake_stripe)
    result = runner.invoke(args=command)
    assert result.exit_code == 0, result.output
    assert reads == {"read": 1, "parse": 1}


def test_the_file_is_parsed_with_libyaml_when_pyyaml_has_it() -> None:
    """PyYAML's C parser (libyaml) does the parsing where installed; the refusals and
    their lines are the same either way (tests/test_catalogue_files.py runs on it)."""
    import yaml

    expected = yaml.CSafeLoader if getattr(yaml, "__with_libyaml__", False) else yaml.SafeLoader
    assert safe_yaml.Loader is expected
