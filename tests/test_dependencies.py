"""The locks agree with what was chosen: `requirements.in` (the runtime, as chosen) is
compiled with hashes into `requirements.txt`, which Heroku and `make` install; the
development lock carries the runtime at the same versions; and the tests run on exactly
what is locked. A hand edit of one file without the others fails here (and so in CI)."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.helpers import ROOT

PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s\\]+)")


def chosen(path: Path) -> list[Requirement]:
    """The requirements a `.in` file asks for (its options and comments left out)."""
    found = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            found.append(Requirement(line))
    return found


def locked(path: Path) -> dict[str, tuple[str, int, list[str]]]:
    """Each locked package: its version, how many hashes, and what it is there for."""
    pins: dict[str, tuple[str, int, list[str]]] = {}
    name = ""
    for line in path.read_text().splitlines():
        match = PIN.match(line)
        if match:
            name = canonicalize_name(match.group(1))
            pins[name] = (match.group(2), 0, [])
        elif name and "--hash=sha256:" in line:
            version, hashes, via = pins[name]
            pins[name] = (version, hashes + 1, via)
        elif name and line.strip().startswith("#"):
            words = line.strip().lstrip("#").strip()
            words = words.removeprefix("via").strip()
            if words:
                pins[name][2].append(words)
    return pins


RUNTIME = locked(ROOT / "requirements.txt")
DEVELOPMENT = locked(ROOT / "requirements-dev.txt")


def test_every_chosen_dependency_is_locked_at_a_version_it_allows() -> None:
    for requirement in chosen(ROOT / "requirements.in"):
        name = canonicalize_name(requirement.name)
        assert name in RUNTIME, f"{name} is in requirements.in but not locked: run make lock"
        version = RUNTIME[name][0]
        assert requirement.specifier.contains(version), (
            f"{name} {requirement.specifier} is locked at {version}: run make lock"
        )
        for extra in requirement.extras:  # psycopg[binary] brings psycopg-binary
            assert canonicalize_name(f"{name}-{extra}") in RUNTIME


def test_every_locked_package_is_there_for_a_reason_and_has_its_hashes() -> None:
    for lock, inputs in ((RUNTIME, ("requirements.in",)), (DEVELOPMENT, ("requirements",))):
        for name, (version, hashes, via) in lock.items():
            assert hashes >= 1, f"{name}=={version} has no hash: run make lock"
            parents = " ".join(via).replace("-r ", "").replace("-c ", "").split()
            assert parents, f"{name} is locked but nothing needs it: run make lock"
            for parent in parents:
                assert parent.startswith(inputs) or canonicalize_name(parent) in lock, (
                    f"{name} is locked for {parent}, which is not locked: run make lock"
                )


def test_development_runs_the_runtime_at_the_same_versions() -> None:
    for name, (version, _hashes, _via) in RUNTIME.items():
        assert DEVELOPMENT.get(name, ("missing",))[0] == version, (
            f"{name}: {version} in requirements.txt, {DEVELOPMENT.get(name)} in "
            "requirements-dev.txt: run make lock"
        )
    for requirement in chosen(ROOT / "requirements-dev.in"):
        assert canonicalize_name(requirement.name) in DEVELOPMENT


@pytest.mark.parametrize("name", sorted(DEVELOPMENT))
def test_the_tests_run_on_exactly_what_is_locked(name: str) -> None:
    assert metadata.version(name) == DEVELOPMENT[name][0]
