"""Every page fits a 390 px phone screen without sideways scrolling, with long titles,
long email addresses and a long order history behind it; and a double-clicked Buy
opens one checkout.

Each page leaves a screenshot in test-artefacts/screenshots/ (`pages-on-a-phone-…`).
The pages are listed in `tests/integration/shop_pages.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import render_template
from flask_login import login_user
from playwright.sync_api import Browser, Page, Route, expect
from stripe_sandbox.testing import RunningSandbox

from shop import accounts
from shop.extensions import db
from shop.models import Order, User
from tests import helpers
from tests.browsing import Screenshots, sign_in, tab_opener
from tests.integration.live_shop import LiveShop
from tests.integration.shop_pages import (
    ADMIN,
    ANSWER_PAGES,
    PAGES,
    SHOPPER,
    Seeded,
    Who,
    long_catalogue,
    seed_shop,
)

pytestmark = [pytest.mark.browser, pytest.mark.sandbox]

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def seeded_shop(
    sandbox: RunningSandbox, serve_shop: Callable[..., LiveShop], tmp_path: Path
) -> tuple[LiveShop, Seeded]:
    shop = serve_shop(sandbox, WTF_CSRF_ENABLED=True, CATALOGUE_PATH=str(long_catalogue(tmp_path)))
    return shop, seed_shop(shop)


@pytest.fixture
def phone(browser: Browser) -> Iterator[Callable[[], Page]]:
    """`phone()`: a new tab in a 390×844 phone-sized browser context of its own."""
    yield from tab_opener(browser, viewport=PHONE, device_scale_factor=2, is_mobile=True)


def page_width(tab: Page) -> int:
    return int(tab.evaluate("document.documentElement.scrollWidth"))


def test_every_page_fits_a_390px_phone_screen(
    seeded_shop: tuple[LiveShop, Seeded],
    phone: Callable[[], Page],
    request: pytest.FixtureRequest,
) -> None:
    shop, seeded = seeded_shop
    tabs: dict[Who, Page] = {}
    for who, email in ((Who.GUEST, None), (Who.SHOPPER, SHOPPER), (Who.ADMIN, ADMIN)):
        tabs[who] = phone()
        if email is not None:
            sign_in(tabs[who], shop.url, email, helpers.PASSWORD)
    too_wide = []
    for shop_page in PAGES:
        tab = tabs[shop_page.who]
        tab.goto(shop.url + seeded.path(shop_page))
        Screenshots(tab, f"pages_on_a_phone-{shop_page.name}").take(shop_page.who)
        width = page_width(tab)
        if width > PHONE["width"]:
            too_wide.append(f"{shop_page.name} ({seeded.path(shop_page)}): {width}px")
    for answer in ANSWER_PAGES:
        tab = tabs[Who.SHOPPER]
        html = render_answer(shop, seeded, answer.template, answer.order)
        url = f"{shop.url}/answers/{answer.name}"
        tab.route(url, answering(html))
        tab.goto(url)
        Screenshots(tab, f"pages_on_a_phone-{answer.name}").take("shopper")
        width = page_width(tab)
        if width > PHONE["width"]:
            too_wide.append(f"{answer.name} ({answer.template}): {width}px")
    assert too_wide == [], "pages wider than the phone: " + "; ".join(too_wide)


def answering(html: str) -> Callable[[Route], None]:
    """A route handler that answers with `html`, as the shop would have."""
    return lambda route: route.fulfill(body=html, content_type="text/html")


def render_answer(shop: LiveShop, seeded: Seeded, template: str, order: str | None) -> str:
    """A page the shop answers a POST with, rendered for the seeded shopper."""
    with shop.app.test_request_context("/"):
        shopper = db.session.execute(db.select(User).filter_by(email=SHOPPER)).scalar_one()
        accounts.start_sign_in(shopper)
        login_user(shopper)
        found = db.session.get(Order, seeded.ids[order]) if order else None
        html = render_template(template, order=found)
        db.session.remove()
        return html


def test_a_double_clicked_buy_opens_one_checkout(
    browser_shop: LiveShop, page: Page, shots: Screenshots
) -> None:
    helpers.add_user(browser_shop.app)
    sign_in(page, browser_shop.url, "reader@example.com", helpers.PASSWORD)
    page.goto(browser_shop.url + "/books/the-salt-road")
    page.get_by_role("button", name="Buy now").click()
    expect(page).to_have_url(browser_shop.url + "/cart")
    # The shop is slow to answer, as it is when Stripe is: the second click comes first.
    held: list[Route] = []
    page.route("**/cart/checkout", lambda route: held.append(route))
    box = page.get_by_role("button", name="Checkout").bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.click(x, y)
    page.wait_for_timeout(150)
    page.mouse.click(x, y)  # a second press while the first is on its way
    page.wait_for_timeout(300)
    posts = [route.request.url for route in held]
    for route in held:
        route.continue_()
    expect(page.get_by_text("Stripe sandbox")).to_be_visible()
    shots.take("hosted-checkout")
    assert posts == [browser_shop.url + "/cart/checkout"], "sent twice"

    orders = browser_shop.read(lambda: db.session.execute(db.select(Order)).scalars().all())
    assert len(orders) == 1
    sessions = browser_shop.stripe_client.v1.checkout.sessions.list(params={"limit": 100})
    assert [s.client_reference_id for s in sessions.data if s.mode == "payment"] == [
        orders[0].reference
    ]
