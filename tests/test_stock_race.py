"""Ten shoppers race for the last copy: exactly one holds it, never an oversold book.

Each shopper is a thread with its own app context, so its own database session and
connection (run with TEST_DATABASE_URL for PostgreSQL). The race is run 20 times
(`pytest tests/test_stock_race.py -k last_copy -s` prints a line per run).
"""

from __future__ import annotations

import threading

import pytest
from flask import Flask

from shop.catalogue import Catalogue
from shop.catalogue_source import loaded_catalogue
from shop.checkout import orders, stock
from shop.extensions import db
from shop.fulfilment import settle_order
from shop.models import Order, OrderStatus, StockLevel, User

BOOK = "letters-from-the-lighthouse"  # 5 copies allotted in the test catalogue
SHOPPERS = 10
RUNS = 20


def _race(
    app: Flask, user_ids: list[int], lines: dict[str, int] | None = None
) -> list[Order | str]:
    """Each user id checks out `lines` (one copy of BOOK) at the same moment, each on a
    thread and connection of its own: the orders made, or the refusals' words."""
    catalogue: Catalogue = loaded_catalogue(app)
    start = threading.Barrier(len(user_ids))
    outcomes: list[Order | str] = []
    lock = threading.Lock()

    def shop(user_id: int) -> None:
        with app.app_context():
            user = db.session.get(User, user_id)
            start.wait()
            try:
                result: Order | str = orders.book_order(
                    catalogue, user, lines or {BOOK: 1}, max_held=5, ship_to="GB"
                )
            except orders.CheckoutRefused as refusal:
                result = str(refusal)
            finally:
                db.session.remove()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=shop, args=(uid,)) for uid in user_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


@pytest.mark.parametrize("run", range(1, RUNS + 1))
def test_last_copy_goes_to_exactly_one_of_ten_racing_shoppers(app: Flask, run: int) -> None:
    with app.app_context():
        racers = [User(email=f"racer{n}@example.com", password_hash="-") for n in range(SHOPPERS)]
        db.session.add_all(racers)
        db.session.add(StockLevel(book_key=BOOK, held=0, sold=4))  # one copy left of 5
        db.session.commit()
        user_ids = [racer.id for racer in racers]

    outcomes = _race(app, user_ids)

    winners = [o for o in outcomes if isinstance(o, Order)]
    refusals = [o for o in outcomes if isinstance(o, str)]
    assert len(outcomes) == SHOPPERS
    assert len(winners) == 1
    assert refusals == ["Sorry, Letters from the Lighthouse is sold out."] * (SHOPPERS - 1)
    with app.app_context():
        level = db.session.get(StockLevel, BOOK)
        assert (level.held, level.sold) == (1, 4)
        assert db.session.execute(db.select(db.func.count(Order.id))).scalar_one() == 1
        # The winner pays (twice over: a replayed event changes nothing more).
        order = db.session.get(Order, winners[0].id)
        for _ in range(2):
            order.advance(OrderStatus.PAID)
            settle_order(order)
            db.session.commit()
        level = db.session.execute(
            db.select(StockLevel).filter_by(book_key=BOOK).execution_options(populate_existing=True)
        ).scalar_one()
        paid = db.session.execute(
            db.select(db.func.count(Order.id)).filter_by(status=OrderStatus.PAID)
        ).scalar_one()
        available = stock.available(loaded_catalogue(app).book(BOOK))
    print(
        f"run {run:2}: {len(winners)} holder, {len(refusals)} told sold out; "
        f"allotted 5, sold {level.sold}, held {level.held}, available {available}"
    )
    assert level.held == 0 and level.sold == 5 and available == 0
    assert 5 - level.sold - level.held >= 0  # never below zero
    assert 4 + paid <= 5  # copies paid for never exceed the allotment


def test_one_account_checking_out_in_six_tabs_at_once_never_holds_more_than_its_limit(
    app: Flask,
) -> None:
    """Six checkouts of 2 copies each, from one account at the same moment, limit 5:
    exactly two hold (4 copies); the others are told the limit, none slips past it."""
    book = "the-salt-road"  # 40 copies: only the per-account limit can refuse
    with app.app_context():
        user = User(email="tabs@example.com", password_hash="-")
        db.session.add(user)
        db.session.commit()
        user_id = user.id
    outcomes = _race(app, [user_id] * 6, {book: 2})  # one account, six tabs

    holders = [o for o in outcomes if isinstance(o, Order)]
    refusals = [o for o in outcomes if isinstance(o, str)]
    assert len(outcomes) == 6
    assert len(holders) == 2
    assert all(r.startswith("You can hold at most 5 copies") for r in refusals)
    with app.app_context():
        level = db.session.get(StockLevel, book)
        assert level.held == 4
        assert stock.held_by(user_id, [book], None) == 4
