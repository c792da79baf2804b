"""Accounts in Chromium: a forgotten password is reset through the mail in the outbox.

Every step leaves a screenshot in test-artefacts/screenshots/.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browsing import Screenshots, open_newest_mail, register, sign_in
from tests.integration.live_shop import LiveShop

pytestmark = [pytest.mark.browser, pytest.mark.sandbox]

EMAIL = "forgetful@example.com"
NEW_PASSWORD = "a brand new passphrase"


def test_forgot_password_then_the_mail_in_the_outbox_then_reset_then_sign_in(
    page: Page, browser_shop: LiveShop, shots: Screenshots
) -> None:
    register(page, browser_shop, shots, EMAIL)
    page.get_by_role("button", name="Sign out").click()

    page.goto(browser_shop.url + "/login")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill(EMAIL)
    shots.take("forgot-password")
    page.get_by_role("button", name="Send me a link").click()
    expect(page.get_by_text("If an account exists for")).to_be_visible()

    page.goto(browser_shop.url + "/outbox/")
    expect(page.get_by_role("link", name="Set a new Quire password")).to_be_visible()
    shots.take("outbox")
    open_newest_mail(page, browser_shop.url, EMAIL)
    expect(page.get_by_role("heading", name="Set a new Quire password")).to_be_visible()
    shots.take("reset-mail")
    page.locator("a[href*='/password/reset/']").click()

    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_label("Repeat password").fill(NEW_PASSWORD)
    shots.take("new-password")
    page.get_by_role("button", name="Set new password").click()
    expect(page.get_by_text("Your password is changed")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()

    # The old password no longer works; the new one does.
    page.goto(browser_shop.url + "/login")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Email or password is wrong.")).to_be_visible()
    sign_in(page, browser_shop.url, EMAIL, NEW_PASSWORD)
    shots.take("signed-in-with-new-password")

    # The outbox also tells of the change.
    page.goto(browser_shop.url + "/outbox/")
    expect(page.get_by_role("link", name="Your Quire password was changed")).to_be_visible()
