"""The sandbox is a package of its own: any Stripe application can install and import it
without bringing the shop, and the shop's production install does not carry it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHOP_ONLY = {"shop", "config", "flask_sqlalchemy", "flask_login", "alembic", "yaml"}

IMPORT_EVERY_MODULE = """
import importlib, json, pkgutil, sys
import stripe_sandbox
names = [m.name for m in pkgutil.walk_packages(stripe_sandbox.__path__, "stripe_sandbox.")]
for name in names:
    importlib.import_module(name)
print(json.dumps({"modules": names, "loaded": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def test_importing_every_sandbox_module_loads_nothing_of_the_shop(tmp_path: Path) -> None:
    """A fresh interpreter, started away from the shop's folder, imports each module of
    the sandbox; none of the shop's modules or its own dependencies may come along."""
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERY_MODULE],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    report = json.loads(result.stdout)
    assert len(report["modules"]) > 20, report["modules"]
    assert set(report["loaded"]) & SHOP_ONLY == set()


def test_the_sandbox_installs_with_flask_alone() -> None:
    """Its project file asks for Flask and nothing else."""
    import tomllib

    project = tomllib.loads((ROOT / "stripe_sandbox" / "pyproject.toml").read_text())["project"]
    assert project["name"] == "stripe-sandbox"
    assert [d.split(">")[0].split("=")[0] for d in project["dependencies"]] == ["flask"]


def test_production_requirements_leave_the_sandbox_out() -> None:
    """Heroku builds from requirements.txt: the emulator must not ship in the slug; the
    development requirements are what install it."""
    production = (ROOT / "requirements.txt").read_text()
    development = (ROOT / "requirements-dev.txt").read_text()
    assert "sandbox" not in production
    assert "-e ./stripe_sandbox" in development.splitlines()


def test_the_heroku_slug_leaves_the_sandbox_out() -> None:
    """Heroku deletes what `.slugignore` lists after the build, so the emulator's code is
    not deployed even though it sits in the repository."""
    ignored = (ROOT / ".slugignore").read_text().split()
    assert "stripe_sandbox/" in ignored
