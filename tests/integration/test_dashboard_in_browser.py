"""The admin dashboard in Chromium: a scripted history's charts drawn with real figures,
within the shop's Content-Security-Policy, and a screenshot kept for people to look at
(`test-artefacts/dashboard.png`)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from shop.models import utcnow
from tests import builders, helpers
from tests.browsing import sign_in
from tests.integration.live_shop import LiveShop

pytestmark = [pytest.mark.browser, pytest.mark.sandbox]

SCREENSHOT = Path(__file__).resolve().parents[2] / "test-artefacts" / "dashboard.png"


def test_the_dashboard_draws_the_shop_s_history(page: Page, browser_shop: LiveShop) -> None:
    now = utcnow()
    builders.scripted_history(browser_shop.app, now)
    helpers.add_user(browser_shop.app, "owner@example.com", admin=True)
    complaints: list[str] = []
    page.on(
        "console",
        lambda message: (
            complaints.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    sign_in(page, browser_shop.url, "owner@example.com", helpers.PASSWORD)
    page.goto(browser_shop.url + "/admin/")

    revenue = page.get_by_role("img", name="Revenue per day in GBP, net of refunds, last 30 days")
    expect(revenue).to_be_visible()
    box = revenue.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 100
    bars = revenue.locator("rect.bar")
    expect(bars).to_have_count(5)  # the five days with revenue, one bent down by a refund
    ten_days_ago = (now.date() - timedelta(days=10)).isoformat()
    tallest = revenue.locator(f'rect[data-day="{ten_days_ago}"]')
    expect(tallest).to_have_attribute("data-amount", "2598")
    heights = [float(bar.get_attribute("height") or 0) for bar in bars.all()]
    assert max(heights) == float(tallest.get_attribute("height") or 0)  # drawn to scale
    expect(
        page.get_by_role("img", name="Monthly recurring revenue in GBP, last 30 days")
    ).to_be_visible()
    expect(page.locator("li.revenue[data-currency=gbp]")).to_have_text("£46.18")
    expect(page.locator("li.mrr[data-currency=gbp]")).to_have_text("£41.70 a month now")

    page.get_by_text("Revenue per day in GBP, as figures").click()  # the text fallback
    expect(page.locator(f'table.revenue-days tr[data-day="{ten_days_ago}"]')).to_contain_text(
        "£25.98"
    )
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOT, full_page=True)

    page.get_by_role("link", name="7 days").click()
    expect(
        page.get_by_role("img", name="Revenue per day in GBP, net of refunds, last 7 days")
    ).to_be_visible()
    expect(page.locator("li.revenue[data-currency=gbp]")).to_have_text("£2.20")
    assert complaints == []
