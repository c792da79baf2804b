"""shop.stripe_api: Stripe's failures become the shop's own, with the request id kept."""

from __future__ import annotations

import pytest
import responses
from flask import Flask

from shop import stripe_api
from shop.stripe_client import stripe_client
from tests.stripe_fakes import API


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
