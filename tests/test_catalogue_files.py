"""Catalogue files that once crashed, hung or fooled Quire: each is refused quickly, with
one message naming the line, never a traceback and never a silently wrong catalogue."""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask

from shop.catalogue import CatalogueError, load_catalogue
from shop.extensions import db
from shop.models import User
from tests.helpers import PASSWORD, TEST_CATALOGUE

#: The classic "billion laughs": nine levels of nine aliases, a billion strings expanded.
ALIAS_BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]\n"
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True)
)


def refusal(path: Path, *, within: float = 5.0) -> str:
    """The one problem `load_catalogue` names for the file at `path`; `within` only
    guards against a hang (the alias bomb once took 35 s), it is no speed measure."""
    started = time.perf_counter()
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(path)
    assert time.perf_counter() - started < within
    (problem,) = caught.value.problems
    return str(problem)


def catalogue_lines() -> list[str]:
    return TEST_CATALOGUE.read_text(encoding="utf-8").splitlines(keepends=True)


def line_of(lines: list[str], text: str) -> int:
    """The 1-based number of the first line containing `text`."""
    return next(n for n, line in enumerate(lines, start=1) if text in line)


def test_a_price_given_twice_is_refused_naming_both_lines(tmp_path: Path) -> None:
    """`price: 1299` then `price: 1` once synced a £0.01 price: YAML keeps the last."""
    lines = catalogue_lines()
    first = line_of(lines, "price: 1299")
    lines.insert(first, "    price: 1\n")
    path = tmp_path / "products.yaml"
    path.write_text("".join(lines), encoding="utf-8")
    assert refusal(path) == (
        f"products.yaml: line {first + 1}: `price` is given twice (first on line {first})"
    )


def test_the_billion_laughs_alias_bomb_is_refused_in_well_under_a_second(
    tmp_path: Path,
) -> None:
    """It took 35 s and 2.5 GB before failing; now the first anchor is refused."""
    path = tmp_path / "products.yaml"
    path.write_text(ALIAS_BOMB + TEST_CATALOGUE.read_text(encoding="utf-8"), encoding="utf-8")
    problem = refusal(path, within=0.5)
    assert problem.startswith("products.yaml: line 1: anchor &a refused")
    assert "anchors and aliases" in problem


def test_a_single_alias_is_refused_with_its_line(tmp_path: Path) -> None:
    lines = catalogue_lines()
    at = line_of(lines, "price: 699")
    lines[at - 1] = "    price: *cheap\n"
    path = tmp_path / "products.yaml"
    path.write_text("".join(lines), encoding="utf-8")
    assert refusal(path).startswith(f"products.yaml: line {at}: alias *cheap refused")


def test_a_50_mb_catalogue_is_refused_without_being_read(tmp_path: Path) -> None:
    path = tmp_path / "products.yaml"
    with path.open("wb") as file:
        file.write(TEST_CATALOGUE.read_bytes())
        file.write(b"# padding\n" * (5 * 1024 * 1024))  # 50 MiB
    assert refusal(path) == (
        "products.yaml: file: is larger than 1 MiB: a catalogue is a few kilobytes"
    )


def test_a_catalogue_nested_10000_deep_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "products.yaml"
    path.write_text("currency: gbp\nbooks: " + "[" * 10_000 + "]" * 10_000 + "\n")
    assert refusal(path) == (
        "products.yaml: line 2: nested more than 20 levels deep (a catalogue needs 7)"
    )


def test_a_latin_1_byte_is_named_with_its_line_and_offset(tmp_path: Path) -> None:
    lines = catalogue_lines()
    at = line_of(lines, "title: Quiet Machines")
    encoded = [line.encode("utf-8") for line in lines]
    encoded[at - 1] = "    title: Quiet Machines Café\n".encode("latin-1")  # one pasted line
    data = b"".join(encoded)
    path = tmp_path / "products.yaml"
    path.write_bytes(data)
    offset = data.index(b"\xe9")
    assert refusal(path) == (
        f"products.yaml: line {at}: byte 0xe9 at offset {offset} is not UTF-8 "
        "(save the file as UTF-8)"
    )


def test_an_unclosed_quote_names_the_line_it_opened_on(tmp_path: Path) -> None:
    """The parser gives up at the end of the file; the line to fix is where the quote
    opened."""
    lines = catalogue_lines()
    at = line_of(lines, "title: The Salt Road (ebook)")
    lines[at - 1] = '    title: "The Salt Road (ebook)\n'
    path = tmp_path / "products.yaml"
    path.write_text("".join(lines), encoding="utf-8")
    problem = refusal(path)
    assert problem.startswith(f"products.yaml: line {at}: YAML syntax error: the quoted value")
    assert "is not closed" in problem


def test_a_quote_closed_by_a_later_line_points_back_where_it_opened(tmp_path: Path) -> None:
    """An unclosed quote that the next quote, lines later, closes by mistake."""
    text = 'currency: gbp\nbooks:\n  - key: a\n    title: "A\n    author: B\n    note: "x"\n'
    path = tmp_path / "products.yaml"
    path.write_text(text, encoding="utf-8")
    problem = refusal(path)
    assert problem.startswith("products.yaml: line 6: YAML syntax error")
    assert "the quoted value that began on line 4 runs to here" in problem


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("currency: gbp\n---\nbooks: []\n", "line 2: a second document"),
        ("currency: gbp\nbooks: !!python/object:os.system x\n", "line 2: not allowed"),
        ("currency: gbp\n<<: {books: []}\n", "line 2: merge keys (<<) are not allowed"),
        ("currency: gbp\nbooks: \x07\n", "line 2: character #x0007 is not allowed in YAML"),
    ],
)
def test_other_yaml_a_catalogue_never_needs_is_refused_with_its_line(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "products.yaml"
    path.write_text(text, encoding="utf-8")
    assert refusal(path).startswith(f"products.yaml: {expected}")


@pytest.fixture
def bomb_file(tmp_path: Path) -> Path:
    path = tmp_path / "products.yaml"
    path.write_text(ALIAS_BOMB + TEST_CATALOGUE.read_text(encoding="utf-8"), encoding="utf-8")
    return path


def test_a_shop_with_an_alias_bomb_catalogue_starts_and_answers_503_at_once(
    make_app: Callable[..., Flask], bomb_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A broken catalogue once hung every worker at boot; now the app starts, its health
    check answers, and shop pages close with Quire's 503 page (the file refused at its
    first anchor, never expanded), the problem logged once however many pages are asked."""
    app = make_app(CATALOGUE_PATH=str(bomb_file))
    with app.app_context():
        db.create_all()
    client = app.test_client()
    health = client.get("/healthz")  # it answers at once, and says what is wrong
    assert health.status_code == 503
    assert (health.json["database"], health.json["catalogue"]) == ("ok", "broken")
    for url in ("/", "/books/the-salt-road", "/memberships/reader", "/cart"):
        page = client.get(url)
        assert page.status_code == 503
        assert "The shop is closed for a moment" in page.text
    logged = [r for r in caplog.records if r.levelno == logging.ERROR and "503" in r.message]
    assert len(logged) == 1
    assert "products.yaml has 1 problem(s)" in logged[0].message


def test_commands_that_sell_nothing_run_while_the_catalogue_is_broken(
    make_app: Callable[..., Flask], bomb_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`users create-admin` neither reads the catalogue nor complains about it;
    `catalog check` still names the problem."""
    app = make_app(CATALOGUE_PATH=str(bomb_file))
    with app.app_context():
        db.create_all()
    runner = app.test_cli_runner()
    made = runner.invoke(
        args=["users", "create-admin", "owner@example.com"], input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert made.exit_code == 0, made.output
    with app.app_context():
        owner = db.session.execute(
            db.select(User).filter_by(email="owner@example.com")
        ).scalar_one()
        assert owner.is_admin
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    check = runner.invoke(args=["catalog", "check"])
    assert check.exit_code == 1
    assert "products.yaml: line 1: anchor &a refused" in check.output


def test_flask_db_upgrade_runs_while_the_catalogue_is_broken(
    tmp_path: Path,
    bomb_file: Path,
    run_flask: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    """The real `flask --app wsgi db upgrade`, as the release phase runs it."""
    url = f"sqlite:///{tmp_path / 'upgraded.sqlite3'}"
    started = time.perf_counter()
    result = run_flask("db", "upgrade", DATABASE_URL=url, CATALOGUE_PATH=str(bomb_file))
    assert result.returncode == 0, result.stderr
    assert time.perf_counter() - started < 20  # the bomb alone once took 35 s
    assert "problem" not in result.stderr
