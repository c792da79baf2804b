"""The sandbox is a package of its own: any Stripe application can install and import it
without bringing the shop, and the shop's production install does not carry it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOP_ONLY = {"shop", "config", "flask_sqlalchemy", "flask_login", "alembic", "yaml"}

#: Flask and the packages it depends on: the only third-party modules the sandbox may load.
FLASK = {"flask", "werkzeug", "jinja2", "markupsafe", "itsdangerous", "click", "blinker"}
TESTING = "stripe_sandbox.testing"

#: Imports every module of the sandbox, ``stripe_sandbox.testing`` last, and reports the
#: top-level modules loaded at start-up, after the others and after ``testing``.
IMPORT_EVERY_MODULE = f"""
import importlib, json, pkgutil, sys
def loaded():
    return sorted({{m.split(".")[0] for m in sys.modules}})
startup = loaded()
import stripe_sandbox
names = [m.name for m in pkgutil.walk_packages(stripe_sandbox.__path__, "stripe_sandbox.")]
for name in names:
    if name != "{TESTING}":
        importlib.import_module(name)
without_testing = loaded()
importlib.import_module("{TESTING}")
print(json.dumps({{"modules": names, "startup": startup, "without_testing": without_testing,
                  "loaded": loaded()}}))
"""
#: The top-level modules the stripe SDK loads on its own.
IMPORT_STRIPE = """
import json, sys
startup = {m.split(".")[0] for m in sys.modules}
import stripe
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} - startup)))
"""


def _fresh_interpreter(code: str, cwd: Path) -> Any:
    """What ``code`` prints as JSON, run by a new interpreter away from the shop's folder."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(result.stdout)


def _third_party(modules: set[str]) -> set[str]:
    return {m for m in modules if m not in sys.stdlib_module_names}


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """A fresh interpreter's report of importing each module of the sandbox."""
    report: dict[str, list[str]] = _fresh_interpreter(
        IMPORT_EVERY_MODULE, tmp_path_factory.mktemp("away")
    )
    assert len(report["modules"]) > 20, report["modules"]
    assert TESTING in report["modules"]
    return report


def test_importing_every_sandbox_module_loads_nothing_of_the_shop(
    imported: dict[str, list[str]],
) -> None:
    """None of the shop's modules or its own dependencies come along."""
    assert set(imported["loaded"]) & SHOP_ONLY == set()


def test_the_sandbox_loads_flask_and_the_standard_library_only(
    imported: dict[str, list[str]],
) -> None:
    """Every module but ``testing`` loads no third-party module other than Flask and its
    dependencies (what the interpreter loads at start-up aside)."""
    loaded = set(imported["without_testing"]) - set(imported["startup"])
    assert _third_party(loaded) - FLASK == {"stripe_sandbox"}


def test_only_the_testing_module_adds_the_stripe_sdk(
    imported: dict[str, list[str]], tmp_path: Path
) -> None:
    """``testing`` (``running_sandbox`` hands out ``StripeClient``s) adds the SDK and what
    the SDK itself loads, nothing else: that is the ``testing`` extra."""
    added = _third_party(set(imported["loaded"]) - set(imported["without_testing"]))
    brought_by_stripe = set(_fresh_interpreter(IMPORT_STRIPE, tmp_path))
    assert "stripe" in added
    assert added <= brought_by_stripe, added - brought_by_stripe


def test_the_sandbox_installs_with_flask_alone() -> None:
    """Its project file asks for Flask and nothing else (the SDK is an extra)."""
    import tomllib

    project = tomllib.loads((ROOT / "stripe_sandbox" / "pyproject.toml").read_text())["project"]
    assert project["name"] == "stripe-sandbox"
    assert [d.split(">")[0].split("=")[0] for d in project["dependencies"]] == ["flask"]


def test_the_testing_extra_brings_the_stripe_sdk() -> None:
    """``stripe_sandbox.testing`` imports ``stripe``: the ``testing`` extra declares it,
    and the development requirements install the sandbox with that extra."""
    import tomllib

    project = tomllib.loads((ROOT / "stripe_sandbox" / "pyproject.toml").read_text())["project"]
    assert project["optional-dependencies"] == {"testing": ["stripe>=16"]}


def test_production_requirements_leave_the_sandbox_out() -> None:
    """Heroku builds from requirements.txt: the emulator must not ship in the slug; the
    development requirements are what install it."""
    production = (ROOT / "requirements.txt").read_text()
    development = (ROOT / "requirements-dev.txt").read_text()
    assert "sandbox" not in production
    # make installs it editable, without dependencies: those (Flask, and the SDK for its
    # testing helpers) are pinned in the development lock.
    assert "pip install --quiet --no-deps -e ./stripe_sandbox" in (ROOT / "Makefile").read_text()
    assert {"flask", "stripe"} <= {line.split("==")[0] for line in development.splitlines()}


def test_the_heroku_slug_leaves_the_sandbox_out() -> None:
    """Heroku deletes what `.slugignore` lists from the pushed code before the build runs,
    so the emulator's code is not deployed even though it sits in the repository."""
    ignored = (ROOT / ".slugignore").read_text().split()
    assert "stripe_sandbox/" in ignored
