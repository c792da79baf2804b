"""No dead links: from every page in `shop_pages.PAGES`, signed out, as a shopper and as
the admin, every in-site link (anchors, stylesheets, scripts, images) is followed and
must answer; a link with a fragment needs an element with that id on its target page.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlsplit

import pytest
from flask.testing import FlaskClient
from stripe_sandbox.testing import RunningSandbox

from tests import helpers
from tests.integration.live_shop import LiveShop
from tests.integration.shop_pages import ADMIN, PAGES, SHOPPER, Who, long_catalogue, seed_shop

pytestmark = pytest.mark.sandbox

#: A guard against crawling forever (the seeded shop has about a hundred pages).
MOST_PAGES = 400
#: A mail in the development outbox: its links lead to its recipient's own pages (an
#: order page is 404 to anyone else), so they are followed by the recipient's tests
#: (`tests/test_notices.py`, `tests/integration/test_mail_in_browser.py`), not here.
MAIL_PAGE = re.compile(r"^/outbox/\d+")


class Links(HTMLParser):
    """The links and element ids of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids.add(found["id"] or "")
        for attribute in ("href", "src"):
            if found.get(attribute) and tag in ("a", "link", "script", "img"):
                self.links.append(found[attribute] or "")


def parse(html: str) -> Links:
    parser = Links()
    parser.feed(html)
    return parser


def fetch(client: FlaskClient, path: str) -> tuple[int, str, str]:
    """GET `path`, following in-site redirects: the final status, mimetype and text."""
    for _ in range(5):
        with client.get(path) as response:
            status, mimetype, location = response.status_code, response.mimetype, response.location
            text = response.get_data(as_text=True) if mimetype == "text/html" else ""
        if status not in (301, 302, 303):
            break
        path = urlsplit(location)._replace(scheme="", netloc="").geturl()
    return status, mimetype or "", text


def crawl(client: FlaskClient, site: str, starts: dict[str, int]) -> list[str]:
    """Visit `starts` (path → expected status) and every in-site link from them; the
    problems found, as "page → link: what went wrong".
    """
    problems: list[str] = []
    seen: dict[str, Links | None] = {}
    queue: list[tuple[str, str, int]] = [
        ("(start)", path, status) for path, status in starts.items()
    ]
    fragments: list[tuple[str, str, str]] = []
    while queue and len(seen) < MOST_PAGES:
        source, path, expected = queue.pop(0)
        if path in seen:
            continue
        status, mimetype, text = fetch(client, path)
        if status != expected:
            problems.append(f"{source} → {path}: {status}")
        is_html = mimetype == "text/html"
        seen[path] = parse(text) if is_html else None
        if not is_html:
            continue
        for link in seen[path].links:  # type: ignore[union-attr]
            target = urljoin(site + path, link)
            if not target.startswith(site + "/"):
                continue  # another site (Stripe's pages, say)
            without, fragment = urldefrag(target)
            local = without.removeprefix(site) or "/"
            if MAIL_PAGE.match(path) and not local.startswith("/outbox"):
                continue  # a mail's links are its recipient's, whoever reads the outbox
            if fragment:
                fragments.append((path, local, fragment))
            queue.append((path, local, 200))
    for source, target, fragment in fragments:
        page = seen.get(target)
        if page is not None and fragment not in page.ids:
            problems.append(f"{source} → {target}#{fragment}: no element with id {fragment!r}")
    assert len(seen) < MOST_PAGES, "the crawl did not end"
    return problems


def test_every_link_on_every_page_leads_somewhere(
    sandbox: RunningSandbox, serve_shop: Callable[..., LiveShop], tmp_path: Path
) -> None:
    shop = serve_shop(sandbox, CATALOGUE_PATH=str(long_catalogue(tmp_path)))
    seeded = seed_shop(shop)
    visitors = {Who.GUEST: shop.app.test_client()}
    for who, email in ((Who.SHOPPER, SHOPPER), (Who.ADMIN, ADMIN)):
        visitors[who] = shop.app.test_client()
        helpers.sign_in(visitors[who], email)

    problems = []
    visited = 0
    for who, client in visitors.items():
        starts = {seeded.path(page): page.status for page in PAGES if page.who is who}
        starts.setdefault("/", 200)
        problems += [f"[{who}] {problem}" for problem in crawl(client, shop.url, starts)]
        visited += len(starts)

    assert problems == []
    assert visited >= len(PAGES)
