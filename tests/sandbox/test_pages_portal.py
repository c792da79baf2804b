"""The hosted billing portal over plain HTTP; every change checked through the SDK."""

from __future__ import annotations

import pytest
from stripe import StripeClient
from stripe_sandbox.testing import RunningSandbox

from .helpers import portal_configuration
from .pages_support import BANNER, TOKEN, Visitor, labels_of, recurring, subscribe, text_of

pytestmark = pytest.mark.sandbox


@pytest.fixture
def member(sandbox: RunningSandbox, stripe_client: StripeClient) -> dict[str, str]:
    """A monthly member of "Patron" (£5/month, £50/year offered), with a portal session."""
    product = stripe_client.v1.products.create(params={"name": "Patron"}).id
    monthly = recurring(stripe_client, product, 500, "month")
    yearly = recurring(stripe_client, product, 5000, "year")
    customer, subscription = subscribe(sandbox, stripe_client, monthly)
    portal_configuration(stripe_client, {product: [monthly, yearly]})
    portal = stripe_client.v1.billing_portal.sessions.create(
        params={"customer": customer, "return_url": "https://shop.test/account"}
    )
    return {
        "product": product,
        "monthly": monthly,
        "yearly": yearly,
        "customer": customer,
        "subscription": subscription,
        "portal": f"/portal/{portal.id}",
    }


def test_portal_shows_plan_card_invoices_and_the_way_back(
    sandbox: RunningSandbox, member: dict[str, str]
) -> None:
    """Plan name, price per interval, status, period end, card, invoices, Return to the shop."""
    page = Visitor(sandbox).get(member["portal"])

    assert page.status_code == 200
    text = text_of(page.text)
    assert BANNER in text
    assert "Patron" in text and "£5.00/month" in text and "active" in text
    assert "Current period ends" in text
    assert "Visa ending in 4242 · expires 12/2034" in text
    assert "Invoice history" in text and "£5.00 paid" in text
    assert "Cancel subscription" in text and "Switch to yearly" in text
    assert "Resume subscription" not in text
    assert 'href="https://shop.test/account">Return to Quire (sandbox)</a>' in page.text


def test_cancel_then_resume(
    sandbox: RunningSandbox, stripe_client: StripeClient, member: dict[str, str]
) -> None:
    """Cancel schedules the end of the period (shown as Cancels on …); Resume undoes it."""
    visitor = Visitor(sandbox)
    base = f"{member['portal']}/subscriptions/{member['subscription']}"

    cancelled = visitor.submit(f"{base}/cancel", {}, token_from=member["portal"])

    assert cancelled.status_code == 303
    sub = stripe_client.v1.subscriptions.retrieve(member["subscription"])
    assert sub.cancel_at_period_end is True and sub.status == "active"
    text = text_of(visitor.get(cancelled.headers["Location"]).text)
    assert "will be canceled at the end of the billing period" in text
    assert "Cancels on" in text and "Resume subscription" in text
    assert "Cancel subscription" not in text

    resumed = visitor.submit(f"{base}/resume", {}, token_from=member["portal"])

    assert resumed.status_code == 303
    assert (
        stripe_client.v1.subscriptions.retrieve(member["subscription"]).cancel_at_period_end
        is False
    )
    text = text_of(visitor.get(resumed.headers["Location"]).text)
    assert "Your subscription has been resumed." in text and "Cancels on" not in text


def test_switch_to_yearly_moves_the_subscription_to_the_sibling_price(
    sandbox: RunningSandbox, stripe_client: StripeClient, member: dict[str, str]
) -> None:
    """Switch to yearly picks the same product's active yearly GBP price; then monthly is offered."""
    # Prices that must not be picked: another currency, and an archived yearly price.
    recurring(stripe_client, member["product"], 6000, "year", currency="eur")
    archived = recurring(stripe_client, member["product"], 4000, "year")
    stripe_client.v1.prices.update(archived, params={"active": False})
    visitor = Visitor(sandbox)

    switched = visitor.submit(
        f"{member['portal']}/subscriptions/{member['subscription']}/switch",
        {},
        token_from=member["portal"],
    )

    assert switched.status_code == 303
    sub = stripe_client.v1.subscriptions.retrieve(member["subscription"])
    assert sub["items"].data[0].price.id == member["yearly"]
    text = text_of(visitor.get(switched.headers["Location"]).text)
    assert "£50.00/year" in text and "Switch to monthly" in text


def test_no_switch_without_a_sibling_price(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """A plan with only a monthly price offers no switch, and a forged switch is refused."""
    product = stripe_client.v1.products.create(params={"name": "Reader"}).id
    customer, subscription = subscribe(
        sandbox, stripe_client, recurring(stripe_client, product, 900, "month")
    )
    portal_configuration(stripe_client)
    portal = stripe_client.v1.billing_portal.sessions.create(params={"customer": customer})
    visitor = Visitor(sandbox)

    assert "Switch to" not in text_of(visitor.get(f"/portal/{portal.id}").text)
    forged = visitor.submit(
        f"/portal/{portal.id}/subscriptions/{subscription}/switch",
        {},
        token_from=f"/portal/{portal.id}",
    )
    assert forged.status_code == 409


def test_update_card_refuses_a_decline_and_saves_a_good_card(
    sandbox: RunningSandbox, stripe_client: StripeClient, member: dict[str, str]
) -> None:
    """0002 cannot be saved (Stripe's message shown); a Mastercard becomes the default card."""
    visitor = Visitor(sandbox)
    form_path = f"{member['portal']}/card"
    assert {"Card number", "Expiration", "CVC", "Cardholder name"} <= set(
        labels_of(visitor.get(form_path).text)
    )
    typed = {"card_expiry": "08 / 31", "card_cvc": "123", "cardholder_name": "Ada Lovelace"}

    declined = visitor.submit(form_path, {"card_number": "4000 0000 0000 0002", **typed})
    saved = visitor.submit(form_path, {"card_number": "5555 5555 5555 4444", **typed})

    assert declined.status_code == 402
    assert "Your card was declined." in text_of(declined.text)
    assert saved.status_code == 303
    customer = stripe_client.v1.customers.retrieve(member["customer"])
    assert customer.invoice_settings is not None
    default = customer.invoice_settings.default_payment_method
    assert isinstance(default, str)
    assert stripe_client.v1.payment_methods.retrieve(default).card.last4 == "4444"  # type: ignore[union-attr]
    text = text_of(visitor.get(saved.headers["Location"]).text)
    assert "Your card has been updated." in text
    assert "Mastercard ending in 4444 · expires 08/2031" in text


def test_another_customers_subscription_cannot_be_changed(
    sandbox: RunningSandbox, stripe_client: StripeClient, member: dict[str, str]
) -> None:
    """A portal session acts only on its own customer's subscriptions."""
    other = stripe_client.v1.customers.create(params={"email": "someone@example.com"})
    portal = stripe_client.v1.billing_portal.sessions.create(params={"customer": other.id})
    visitor = Visitor(sandbox)

    response = visitor.submit(
        f"/portal/{portal.id}/subscriptions/{member['subscription']}/cancel",
        {},
        token_from=f"/portal/{portal.id}/card",  # the one form this customer's portal has
    )

    assert response.status_code == 404
    assert (
        stripe_client.v1.subscriptions.retrieve(member["subscription"]).cancel_at_period_end
        is False
    )


def test_the_contract_names_live_in_their_own_modules() -> None:
    """Each name of the README contract is offered by the module that defines it:
    ``engine`` (Checkout), ``portal`` (portal actions), ``scheduler`` (due work);
    ``engine`` no longer re-exports the other two."""
    from stripe_sandbox.flows import engine, portal, scheduler

    for module, names in (
        (
            portal,
            (
                "portal_cancel_at_period_end",
                "portal_resume",
                "portal_switch_price",
                "portal_update_card",
            ),
        ),
        (scheduler, ("run_due", "run_due_work", "settle_due_async_payments")),
    ):
        for name in names:
            assert callable(getattr(module, name))
            assert getattr(module, name).__module__ == module.__name__
            assert not hasattr(engine, name)
    for name in engine.__all__:
        assert callable(getattr(engine, name))


def test_portal_offers_only_what_its_configuration_enables(
    sandbox: RunningSandbox, stripe_client: StripeClient
) -> None:
    """With cancellation, plan switching and card updates turned off, the portal shows
    neither button nor card form, and refuses a forged cancellation."""
    product = stripe_client.v1.products.create(params={"name": "Patron"}).id
    monthly = recurring(stripe_client, product, 500, "month")
    recurring(stripe_client, product, 5000, "year")
    customer, subscription = subscribe(sandbox, stripe_client, monthly)
    stripe_client.v1.billing_portal.configurations.create(
        params={"features": {"invoice_history": {"enabled": True}}}
    )
    portal = stripe_client.v1.billing_portal.sessions.create(params={"customer": customer})
    visitor = Visitor(sandbox)

    text = text_of(visitor.get(f"/portal/{portal.id}").text)

    assert "Invoice history" in text and "£5.00 paid" in text
    assert "Cancel subscription" not in text and "Switch to" not in text
    assert "Update card" not in text
    assert visitor.get(f"/portal/{portal.id}/card").status_code == 403
    stripe_client.v1.billing_portal.configurations.update(
        portal.configuration,
        params={"features": {"subscription_cancel": {"enabled": True}}},
    )
    cancelled = visitor.submit(
        f"/portal/{portal.id}/subscriptions/{subscription}/cancel",
        {},
        token_from=f"/portal/{portal.id}",
    )
    assert cancelled.status_code == 303
    token = TOKEN.search(visitor.get(f"/portal/{portal.id}").text)
    assert token is not None
    stripe_client.v1.billing_portal.configurations.update(
        portal.configuration,
        params={"features": {"subscription_cancel": {"enabled": False}}},
    )
    # The page now offers no form: post the one the portal showed before the change.
    refused = visitor.http.post(
        visitor.url(f"/portal/{portal.id}/subscriptions/{subscription}/resume"),
        data={"form_token": token.group(1)},
        headers={"Origin": sandbox.base_url},
        allow_redirects=False,
        timeout=10,
    )
    assert refused.status_code == 403
    assert stripe_client.v1.subscriptions.retrieve(subscription).cancel_at_period_end is True
