"""Issue 7 in Chromium: a basket of printed and ebooks through the sandbox's hosted
Checkout, the library's downloads, a basket that survives a decline, a saved card used
again, and a member's discounted printed book posted from the admin's To ship queue.

Every step leaves a screenshot in test-artefacts/screenshots/.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Download, Locator, Page, expect
from stripe_sandbox.testing import RunningSandbox

from shop.extensions import db
from shop.models import Order, Subscription
from tests import helpers
from tests.browsing import Screenshots, pay_by_card, register, sign_in, tab_opener
from tests.helpers import catalogue_with_discounts
from tests.integration.live_shop import LiveShop

pytestmark = [pytest.mark.browser, pytest.mark.sandbox]

CONFIRMED = "Thank you — your order is confirmed"
EXPIRY_YEAR = (datetime.now(UTC).year + 3) % 100


@pytest.fixture
def new_tab(browser: Browser) -> Iterator[Callable[[], Page]]:
    """`new_tab()`: a tab in a browser context of its own (another person's cookies)."""
    yield from tab_opener(browser, viewport={"width": 1100, "height": 900})


def fill_basket(page: Page, url: str, shots: Screenshots) -> None:
    """The Salt Road in print (£12.99) and as an ebook (£6.99), to post to the UK."""
    page.goto(url + "/books/the-salt-road")
    page.get_by_role("button", name="Add to basket").click()
    page.goto(url + "/books/salt-road-ebook")
    page.get_by_role("button", name="Buy now").click()
    expect(page).to_have_url(url + "/cart")
    expect_basket_of_both(page)
    expect(page.get_by_label("Deliver to")).to_have_value("GB")
    shots.take("basket")


def expect_basket_of_both(page: Page) -> None:
    expect(page.locator(".basket-line")).to_have_count(2)
    expect(page.locator('.basket-line[data-book="the-salt-road"]')).to_be_visible()
    expect(page.locator('.basket-line[data-book="salt-road-ebook"]')).to_be_visible()
    expect(page.locator(".subtotal")).to_have_text("£19.98")


def expect_hosted_page_of_both(page: Page) -> None:
    """Stripe's page: both books, UK second-class postage (the cheapest, chosen first)."""
    lines = page.locator("table.lines tbody tr")
    expect(lines).to_have_count(2)
    expect(lines.filter(has_text="The Salt Road (ebook)")).to_contain_text("Qty 1 × £6.99")
    expect(lines.filter(has_not_text="ebook")).to_contain_text("The Salt Road")
    expect(lines.filter(has_not_text="ebook")).to_contain_text("Qty 1 × £12.99")
    expect(page.get_by_test_id("subtotal")).to_have_text("£19.98")
    expect(page.get_by_test_id("shipping")).to_have_text("£2.85")
    expect(page.get_by_label(re.compile("Royal Mail 2nd class"))).to_be_checked()
    expect(page.get_by_test_id("total")).to_have_text("£22.83")


def download(page: Page, book: Locator, link_name: str) -> Download:
    """Click `book`'s download link `link_name` and wait for the file."""
    with page.expect_download() as started:
        book.get_by_role("link", name=link_name, exact=True).click()
    return started.value


def test_a_basket_of_a_printed_book_and_an_ebook_is_paid_and_the_ebook_downloads_only_for_its_owner(
    page: Page,
    browser_shop: LiveShop,
    shots: Screenshots,
    new_tab: Callable[[], Page],
    request: pytest.FixtureRequest,
) -> None:
    url = browser_shop.url
    register(page, browser_shop, shots)
    fill_basket(page, url, shots)
    page.get_by_role("button", name="Checkout").click()

    expect_hosted_page_of_both(page)
    shots.take("hosted-checkout")
    pay_by_card(page, "4242 4242 4242 4242", shots, "Pay", shipping=True)
    expect(page.get_by_role("heading", name=CONFIRMED)).to_be_visible()
    expect(page.locator(".amount-charged")).to_have_text("£22.83")
    expect(page.locator(".payment-status")).to_have_text("Paid")
    shots.take("confirmation")

    page.goto(url + "/library")
    book = page.locator("#book-salt-road-ebook")
    expect(book.get_by_role("heading", name="The Salt Road (ebook)")).to_be_visible()
    expect(book).to_contain_text("Yours to keep")
    expect(page.locator(".library-book")).to_have_count(1)  # the printed copy is posted
    shots.take("library")

    epub = download(page, book, "EPUB")
    assert epub.suggested_filename == "salt-road-ebook.epub"
    epub_bytes = Path(epub.path()).read_bytes()
    assert epub_bytes.startswith(b"PK") and epub_bytes[30:38] == b"mimetype"
    pdf = download(page, book, "PDF")
    assert pdf.suggested_filename == "salt-road-ebook.pdf"
    assert Path(pdf.path()).read_bytes().startswith(b"%PDF")
    epub_link = book.get_by_role("link", name="EPUB", exact=True).get_attribute("href")
    assert epub_link and epub_link.startswith("/library/download/")

    # Another shopper, signed in, given the first one's link: not found, and no file.
    helpers.add_user(browser_shop.app, "grace@example.com")
    other = new_tab()
    sign_in(other, url, "grace@example.com", helpers.PASSWORD)
    downloads: list[Download] = []
    other.on("download", lambda started: downloads.append(started))
    answer = other.goto(url + epub_link)
    assert answer is not None and answer.status == 404
    assert not answer.body().startswith(b"PK")
    expect(other.get_by_role("heading", name="We couldn't find that page")).to_be_visible()
    Screenshots(other, f"{request.node.name}-other-shopper").take("not-found")
    assert downloads == []
    other.goto(url + "/library")
    expect(other.get_by_text("No ebooks yet")).to_be_visible()


def test_a_basket_survives_a_declined_card_and_empties_once_paid(
    page: Page, browser_shop: LiveShop, shots: Screenshots
) -> None:
    url = browser_shop.url
    register(page, browser_shop, shots)
    fill_basket(page, url, shots)
    page.get_by_role("button", name="Checkout").click()
    expect_hosted_page_of_both(page)

    pay_by_card(page, "4000 0000 0000 0002", shots, "Pay", shipping=True)
    expect(page.get_by_role("alert")).to_contain_text("Your card was declined.")
    shots.take("declined")
    assert browser_shop.read(lambda: db.session.get(Order, 1).status) == "pending"

    page.get_by_role("link", name="← Back").click()
    expect(page.get_by_role("heading", name="No payment was taken")).to_be_visible()
    shots.take("back-in-the-shop")
    page.goto(url + "/cart")
    expect_basket_of_both(page)
    shots.take("basket-kept")

    page.get_by_role("button", name="Checkout").click()
    expect_hosted_page_of_both(page)
    pay_by_card(page, "4242 4242 4242 4242", shots, "Pay", shipping=True)
    expect(page.get_by_role("heading", name=CONFIRMED)).to_be_visible()
    expect(page.locator(".amount-charged")).to_have_text("£22.83")
    shots.take("paid")
    page.goto(url + "/cart")
    expect(page.get_by_text("Your basket is empty.")).to_be_visible()
    shots.take("basket-empty")


def test_a_returning_customer_pays_with_the_card_saved_last_time(
    page: Page, browser_shop: LiveShop, shots: Screenshots
) -> None:
    url = browser_shop.url
    card_label = f"Visa •••• 4242 · expires 12/{EXPIRY_YEAR:02d}"
    register(page, browser_shop, shots)
    page.goto(url + "/books/cartographers-daughter")
    page.get_by_role("button", name="Buy now").click()
    page.get_by_role("button", name="Checkout").click()
    expect(page.get_by_text("Stripe sandbox")).to_be_visible()
    expect(page.get_by_label("Save my card for future purchases")).not_to_be_checked()
    page.get_by_label("Save my card for future purchases").check()
    pay_by_card(page, "4242 4242 4242 4242", shots, "Pay")
    expect(page.get_by_role("heading", name=CONFIRMED)).to_be_visible()
    shots.take("first-purchase")

    page.goto(url + "/books/small-press-handbook")
    page.get_by_role("button", name="Buy now").click()
    page.get_by_role("button", name="Checkout").click()
    expect(page.get_by_test_id("total")).to_have_text("£14.99")
    saved = page.get_by_label(card_label)
    expect(saved).to_be_checked()
    expect(page.get_by_label("Card number")).to_be_hidden()
    shots.take("hosted-checkout-saved-card")
    page.get_by_role("button", name="Pay", exact=True).click()
    expect(page.get_by_role("heading", name=CONFIRMED)).to_be_visible()
    expect(page.locator(".amount-charged")).to_have_text("£14.99")
    shots.take("second-purchase")

    page.goto(url + "/account")
    cards = page.locator("ul.cards li")
    expect(cards).to_have_count(1)
    expect(cards.locator(".card-name")).to_have_text("Visa ending 4242")
    expect(cards.locator(".card-expiry")).to_have_text(f"Expires 12/{EXPIRY_YEAR:02d}")
    shots.take("account-saved-card")
    page.get_by_role("button", name="Remove Visa ending 4242").click()
    expect(page.get_by_text("Visa ending 4242 was removed.")).to_be_visible()
    expect(page.get_by_text("No saved cards")).to_be_visible()
    expect(page.locator("ul.cards li")).to_have_count(0)
    shots.take("account-card-removed")


@pytest.fixture
def discount_shop(
    sandbox: RunningSandbox, serve_shop: Callable[..., LiveShop], tmp_path: Path
) -> LiveShop:
    """The shop with Reader 10% and Patron 20% off printed books, synced to the sandbox
    (so the coupons exist there), CSRF on."""
    catalogue = tmp_path / "discounts.yaml"
    catalogue.write_text(catalogue_with_discounts())
    return serve_shop(sandbox, WTF_CSRF_ENABLED=True, CATALOGUE_PATH=str(catalogue))


def test_a_members_discounted_printed_book_is_posted_with_tracking(
    page: Page,
    discount_shop: LiveShop,
    shots: Screenshots,
    new_tab: Callable[[], Page],
    request: pytest.FixtureRequest,
) -> None:
    url = discount_shop.url
    register(page, discount_shop, shots)
    page.goto(url + "/memberships/patron")
    page.get_by_role("button", name="Subscribe").click()
    pay_by_card(page, "4242 4242 4242 4242", shots, "Subscribe")
    expect(page.get_by_role("heading", name=CONFIRMED)).to_be_visible()
    assert discount_shop.wait_for(
        lambda: db.session.execute(db.select(Subscription.status)).scalar_one_or_none() == "active"
    )
    shots.take("member")

    page.goto(url + "/books/the-salt-road")
    page.get_by_role("button", name="Buy now").click()
    expect(page.locator(".subtotal")).to_have_text("£12.99")
    page.get_by_role("button", name="Checkout").click()
    # 20% off £12.99 is £2.60; UK second-class postage £2.85.
    expect(page.get_by_test_id("subtotal")).to_have_text("£12.99")
    expect(page.get_by_test_id("discount")).to_have_text("−£2.60")
    expect(page.get_by_test_id("shipping")).to_have_text("£2.85")
    expect(page.get_by_test_id("total")).to_have_text("£13.24")
    shots.take("hosted-checkout-discount")
    pay_by_card(page, "4242 4242 4242 4242", shots, "Pay", shipping=True)
    expect(page.get_by_role("heading", name=CONFIRMED)).to_be_visible()
    expect(page.locator(".amount-charged")).to_have_text("£13.24")
    shots.take("confirmation")

    order_id = discount_shop.read(
        lambda: db.session.execute(
            db.select(Order.id).filter_by(kind="book", status="paid")
        ).scalar_one()
    )
    assert discount_shop.read(lambda: db.session.get(Order, order_id).amount_discount) == 260
    page.goto(f"{url}/orders/{order_id}")
    expect(page.locator(".member-discount")).to_contain_text("−£2.60")
    expect(page.locator(".shipped-state")).to_have_text("Not shipped yet")
    shots.take("order-not-shipped")

    helpers.add_user(discount_shop.app, "owner@example.com", admin=True)
    admin = new_tab()
    admin_shots = Screenshots(admin, f"{request.node.name}-admin")
    sign_in(admin, url, "owner@example.com", helpers.PASSWORD)
    admin.goto(url + "/admin/to-ship")
    parcel = admin.locator(f"#order-{order_id}")
    expect(parcel.locator(".shipping-address")).to_contain_text("Ada Reader")
    expect(parcel.locator(".shipping-address")).to_contain_text("1 Quay Street")
    expect(parcel.locator(".shipping-address")).to_contain_text("Bristol")
    expect(parcel.locator(".shipping-address")).to_contain_text("BS1 4DJ")
    expect(parcel.locator(".items")).to_contain_text("1 × The Salt Road")
    admin_shots.take("to-ship")
    parcel.get_by_label("Tracking reference").fill("RM123456785GB")
    parcel.get_by_role("button", name="Mark shipped").click()
    expect(admin.locator(f"#order-{order_id}")).to_have_count(0)
    expect(admin.get_by_text("Nothing to ship.")).to_be_visible()
    admin_shots.take("shipped")

    shipped_at, tracking = discount_shop.read(
        lambda: db.session.execute(
            db.select(Order.shipped_at, Order.tracking_reference).filter_by(id=order_id)
        ).one()
    )
    assert shipped_at is not None and tracking == "RM123456785GB"
    page.reload()
    expect(page.locator(".shipped-state")).to_contain_text(f"Shipped on {shipped_at:%-d %b %Y}")
    expect(page.locator(".shipped-state .tracking")).to_have_text("RM123456785GB")
    shots.take("order-shipped")
