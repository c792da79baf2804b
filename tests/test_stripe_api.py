"""shop.stripe_api: Stripe's failures become the shop's own, with the request id kept."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs

import pytest
import responses
from flask import Flask

from shop import stripe_api
from shop.checkout.customers import ensure_customer
from shop.extensions import db
from shop.models import User
from shop.stripe_client import stripe_client
from tests.helpers import add_user
from tests.stripe_fakes import API, example


def test_a_stripe_refusal_becomes_a_stripe_failure_with_its_request_id(
    app: Flask, fake_stripe: responses.RequestsMock
) -> None:
    fake_stripe.add(
        "POST",
        API + "/v1/billing_portal/sessions",
        status=400,
        json={
            "error": {
                "type": "invalid_request_error",
                "message": "No configuration provided",
                "code": "resource_missing",
            }
        },
        headers={"Request-Id": "req_portal1"},
    )
    with app.app_context(), pytest.raises(stripe_api.StripeFailure) as caught:
        stripe_api.billing_portal_url(stripe_client(), "cus_reader", "http://shop.test/account")
    failure = caught.value
    assert (failure.kind, failure.http_status, failure.code, failure.request_id) == (
        "InvalidRequestError",
        400,
        "resource_missing",
        "req_portal1",
    )
    assert "request_id=req_portal1" in str(failure)
    assert "sk_test_unit" not in str(failure)


def test_the_billing_portal_link_comes_back_to_the_given_page(
    app: Flask, fake_stripe: responses.RequestsMock
) -> None:
    fake_stripe.add(
        "POST",
        API + "/v1/billing_portal/sessions",
        json={"id": "bps_1", "object": "billing_portal.session", "url": "https://portal.test/1"},
    )
    with app.app_context():
        url = stripe_api.billing_portal_url(stripe_client(), "cus_reader", "http://shop.test/a")
    assert url == "https://portal.test/1"
    body = fake_stripe.calls[0].request.body
    assert "customer=cus_reader" in body and "return_url=http%3A%2F%2Fshop.test%2Fa" in body


@pytest.mark.parametrize("on_clock", [False, True])
def test_with_test_clocks_each_new_customer_lives_on_a_clock_of_its_own(
    make_app: Callable[..., Flask], on_clock: bool
) -> None:
    """`STRIPE_TEST_CLOCKS` (development): a shopper's first checkout makes a test clock
    frozen at now and the customer on it, so the dashboard can run their membership
    ahead; without it no clock is made."""
    app = make_app(STRIPE_TEST_CLOCKS=on_clock)
    with app.app_context():
        db.create_all()
    user_id = add_user(app)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        clocks = mock.add(
            "POST",
            API + "/v1/test_helpers/test_clocks",
            json=example("test_helpers.test_clock", id="clock_reader"),
        )
        customers = mock.add("POST", API + "/v1/customers", json=example("customer", id="cus_r"))
        with app.app_context():
            user = db.session.get(User, user_id)
            assert user is not None
            assert ensure_customer(stripe_client(), user, None) == "cus_r"
        assert clocks.call_count == (1 if on_clock else 0)
        sent = parse_qs(str(customers.calls[0].request.body))
        assert sent.get("test_clock") == (["clock_reader"] if on_clock else None)
        if on_clock:
            assert "frozen_time" in parse_qs(str(clocks.calls[0].request.body))
    with app.app_context():
        db.drop_all()
