"""The library end to end: an ebook bought on the sandbox's Checkout is downloaded from
the library, and a refund through Stripe takes it back."""

from __future__ import annotations

import re

import pytest
from stripe_sandbox.flows import engine

from shop.extensions import db
from shop.models import Order
from tests.integration.live_shop import LiveShop, paying_card

pytestmark = pytest.mark.sandbox


def test_a_bought_ebook_downloads_from_the_library_until_it_is_refunded(
    live_shop: LiveShop,
) -> None:
    client = live_shop.signed_in_shopper()
    assert "No ebooks yet" in client.get("/library").text
    start = client.post("/checkout/books/salt-road-ebook", data={"quantity": "1"})
    session_id = start.location.rstrip("/").rsplit("/", 1)[-1]
    paid = engine.pay_checkout_session(live_shop.sandbox.state, session_id, paying_card())
    assert paid.status == "succeeded"
    confirmation = client.get(paid.redirect_url.removeprefix(live_shop.url)).text
    assert "read it in your library" in confirmation

    library = client.get("/library").text
    assert "The Salt Road (ebook)" in library and "Yours to keep" in library
    epub_link = re.search(r'<a href="(/library/download/[^"]+)" download>EPUB</a>', library)
    assert epub_link is not None
    download = client.get(epub_link.group(1))
    assert download.status_code == 200
    assert download.mimetype == "application/epub+zip"
    assert download.get_data()[30:38] == b"mimetype"
    download.close()

    intent = live_shop.read(lambda: db.session.get(Order, 1).payment_intent_id)
    live_shop.stripe_client.v1.refunds.create(params={"payment_intent": intent})
    assert live_shop.wait_for(lambda: db.session.get(Order, 1).status == "refunded")
    refused = client.get(epub_link.group(1))
    assert refused.status_code == 404
    refused.close()
    assert "No ebooks yet" in client.get("/library").text
