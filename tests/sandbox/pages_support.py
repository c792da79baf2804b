"""Helpers shared by the hosted-page tests (no tests here).

``Visitor`` is a shopper without a browser: plain HTTP to the running sandbox, no
redirects followed, the form token read from the page like a browser would submit it.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

import requests
from stripe import StripeClient
from stripe_sandbox.testing import RunningSandbox

TOKEN = re.compile(r'name="form_token" value="([0-9a-f]+)"')
BANNER = "Stripe sandbox — test mode"


def text_of(page: str) -> str:
    """The visible text of a page, tags dropped and whitespace collapsed."""
    without_tags = re.sub(r"<[^>]+>", " ", page)
    return " ".join(html.unescape(without_tags).split())


def labels_of(page: str) -> dict[str, str]:
    """``{label text: id of the control it labels}`` for every ``<label for=…>``."""
    found = re.findall(r'<label for="([^"]+)">([^<]+)</label>', page)
    return {text.strip(): target for target, text in found}


@dataclass
class Visitor:
    """Someone using the sandbox's hosted pages over plain HTTP."""

    sandbox: RunningSandbox
    http: requests.Session = field(default_factory=requests.Session)

    def url(self, path: str) -> str:
        """An absolute URL on the sandbox for ``path`` (absolute URLs pass through)."""
        return path if path.startswith("http") else self.sandbox.base_url + path

    def get(self, path: str) -> requests.Response:
        """GET a page without following redirects."""
        return self.http.get(self.url(path), allow_redirects=False, timeout=10)

    def submit(
        self, path: str, data: dict[str, Any], token_from: str | None = None
    ) -> requests.Response:
        """POST a form the way the browser would, token taken from the page at ``token_from``."""
        page = self.get(token_from or path).text
        match = TOKEN.search(page)
        assert match, f"no form on {token_from or path}"
        return self.http.post(
            self.url(path),
            data={"form_token": match.group(1), **data},
            headers={"Origin": self.sandbox.base_url},
            allow_redirects=False,
            timeout=10,
        )


def recurring(
    stripe_client: StripeClient, product: str, amount: int, interval: str, **extra: Any
) -> str:
    """A GBP price of ``product`` billed every ``interval``."""
    return stripe_client.v1.prices.create(
        params={
            "product": product,
            "unit_amount": amount,
            "currency": extra.pop("currency", "gbp"),
            "recurring": {"interval": interval},
            **extra,
        }
    ).id


def subscribe(sandbox: RunningSandbox, stripe_client: StripeClient, price: str) -> tuple[str, str]:
    """A member subscribes on hosted Checkout with 4242; returns (customer id, subscription id)."""
    customer = stripe_client.v1.customers.create(
        params={"email": "member@example.com", "name": "Ada"}
    )
    cs = stripe_client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "customer": customer.id,
            "line_items": [{"price": price, "quantity": 1}],
            "success_url": "https://shop.test/welcome",
        }
    )
    paid = Visitor(sandbox).submit(
        f"/checkout/{cs.id}",
        {
            "email": "member@example.com",
            "card_number": "4242424242424242",
            "card_expiry": "12/34",
            "card_cvc": "123",
            "cardholder_name": "Ada Lovelace",
        },
    )
    assert paid.status_code == 303
    subscription = stripe_client.v1.checkout.sessions.retrieve(cs.id).subscription
    assert isinstance(subscription, str)
    return customer.id, subscription
