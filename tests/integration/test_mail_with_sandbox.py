"""The shop's mail against the sandbox: a free trial's life on a test clock, told by
the events Stripe sends (the receipt, "trial ends in 3 days", "payment failed")."""

from __future__ import annotations

import pytest
from stripe_sandbox.flows import engine

from shop.extensions import db
from shop.models import Mail
from tests.integration.live_shop import LiveShop, paying_card

pytestmark = pytest.mark.sandbox

FAILS_LATER = "4000000000000341"


def _kinds(live_shop: LiveShop) -> list[str]:
    return live_shop.read(
        lambda: list(db.session.execute(db.select(Mail.kind).order_by(Mail.id)).scalars())
    )


def _mail_of(live_shop: LiveShop, kind: str) -> bool:
    return live_shop.wait_for(
        lambda: db.session.execute(db.select(Mail).filter_by(kind=kind)).first() is not None
    )


def test_a_free_trial_on_a_clock_mails_its_receipt_its_end_and_the_failed_payment(
    live_shop: LiveShop,
) -> None:
    client = live_shop.signed_in_shopper()
    clock_id = live_shop.customer_on_a_clock()
    start = client.post("/checkout/memberships/reader", data={"interval": "month"})
    details = paying_card(FAILS_LATER)
    session_id = start.location.rstrip("/").rsplit("/", 1)[-1]
    assert engine.pay_checkout_session(live_shop.sandbox.state, session_id, details).status == (
        "succeeded"
    )
    assert _mail_of(live_shop, "receipt")
    assert _kinds(live_shop) == ["receipt"]  # the 14-day trial is not ending yet

    live_shop.advance_clock(clock_id, days=11)  # 3 days before the trial ends
    assert _mail_of(live_shop, "trial_ending")
    notice = live_shop.read(
        lambda: db.session.execute(db.select(Mail).filter_by(kind="trial_ending")).scalar_one()
    )
    assert "Then £9.00 will be charged to your card, and again every month" in notice.text_body

    live_shop.advance_clock(clock_id, days=4)  # the trial ends and the card is refused
    assert _mail_of(live_shop, "payment_failed")
    assert _kinds(live_shop) == ["receipt", "trial_ending", "payment_failed"]
