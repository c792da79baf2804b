"""The shop window: the catalogue, and a page per book and per membership.

The catalogue page and the book pages are conditional: each answer carries an `ETag`
made from everything that changes what the page shows — the catalogue's version (titles,
prices, stock allotted), the copies left of a book, who is signed in (the header's links,
an owned ebook, a member's price), the form token the page embeds, and the templates —
so a browser asking again with `If-None-Match` gets `304 Not Modified` without the page
being rendered. They are `Cache-Control: private, no-cache` (and `Vary: Cookie`): kept by
the browser alone and revalidated every time, never shared between visitors.

A catalogue of more than `ONE_PAGE_UP_TO` books and plans is listed
`CATALOGUE_PAGE_SIZE` a page (`?page=`), books then memberships; a smaller one is one page.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from flask import Blueprint, abort, current_app, render_template, request, session
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from werkzeug.wrappers import Response

from shop.catalogue import Book, Catalogue, Plan
from shop.checkout import stock
from shop.checkout.memberships import standing
from shop.checkout.orders import current_membership
from shop.entitlements import member_price, owned_book_keys
from shop.forms import BuyForm, SubscribeForm
from shop.shipping import cheapest_postage
from shop.views import catalogue

bp = Blueprint("shop", __name__)

#: Up to this many books and plans, the catalogue is one page, as it always was.
ONE_PAGE_UP_TO = 200
#: Books and plans per page of a bigger catalogue.
CATALOGUE_PAGE_SIZE = 100
#: The templates each conditional page is rendered from (a change to them is a new page).
INDEX_TEMPLATES = ("shop/index.html", "base.html")
BOOK_TEMPLATES = ("shop/book.html", "base.html", "checkout/_postage.html")


# --- Paging the catalogue --------------------------------------------------------------


@dataclass(frozen=True)
class CataloguePage:
    """The books and plans one page of the catalogue lists."""

    number: int
    count: int  # pages in all
    books: Sequence[Book]
    plans: Sequence[Plan]
    #: The pages holding books, and those holding memberships (first, last), for the
    #: contents line of a paged catalogue.
    book_pages: tuple[int, int] | None
    plan_pages: tuple[int, int] | None

    @property
    def has_prev(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.count


def _pages_of(first: int, items: int, size: int) -> tuple[int, int] | None:
    """The pages items `first` to `first + items - 1` (0-based) fall on."""
    if items == 0:
        return None
    return (first // size + 1, (first + items - 1) // size + 1)


def catalogue_page(shop: Catalogue, number: int) -> CataloguePage:
    """Page `number` of the catalogue (1 when it is out of range): everything when the
    catalogue holds `ONE_PAGE_UP_TO` items or fewer, else `CATALOGUE_PAGE_SIZE` items,
    books first, then plans."""
    books, plans = len(shop.books), len(shop.plans)
    if books + plans <= ONE_PAGE_UP_TO:
        return CataloguePage(1, 1, shop.books, shop.plans, None, None)
    size = CATALOGUE_PAGE_SIZE
    count = math.ceil((books + plans) / size)
    number = number if 1 <= number <= count else 1
    start, end = (number - 1) * size, number * size
    return CataloguePage(
        number,
        count,
        shop.books[start:end],
        shop.plans[max(start - books, 0) : max(end - books, 0)],
        _pages_of(0, books, size),
        _pages_of(books, plans, size),
    )


# --- Conditional answers ---------------------------------------------------------------

_catalogue_version: tuple[Catalogue, str] | None = None


def catalogue_version(shop: Catalogue) -> str:
    """A digest of everything in the catalogue (computed once per version of it)."""
    global _catalogue_version
    if _catalogue_version is None or _catalogue_version[0] is not shop:
        _catalogue_version = (shop, hashlib.sha256(repr(shop).encode()).hexdigest())
    return _catalogue_version[1]


def _templates_version(names: Iterable[str]) -> str:
    """A digest of the templates' source (once per app): a new release is a new page."""
    known: dict[tuple[str, ...], str] = current_app.extensions.setdefault("quire.pages", {})
    key = tuple(names)
    if key not in known:
        loader = current_app.jinja_env.loader
        assert loader is not None
        sources = [loader.get_source(current_app.jinja_env, name)[0] for name in key]
        known[key] = hashlib.sha256("\0".join(sources).encode()).hexdigest()
    return known[key]


def _viewer(has_form: bool) -> tuple[object, ...]:
    """Who the page is for: a guest, or the signed-in account (its header differs), and
    the form token the page embeds (a signed-in header's Sign out, a page's own form),
    renewed within the token's lifetime."""
    if (has_form or current_user.is_authenticated) and current_app.config.get(
        "WTF_CSRF_ENABLED", True
    ):
        generate_csrf()  # the session's token exists before the tag is made from it
    limit = current_app.config.get("WTF_CSRF_TIME_LIMIT", 3600)
    token_age = int(time.time() // (limit / 2)) if limit else 0
    account = (current_user.id, current_user.is_admin) if current_user.is_authenticated else "guest"
    return (account, session.get("csrf_token"), token_age)


def page_tag(templates: Iterable[str], *parts: object, has_form: bool = False) -> str:
    """The ETag of a page rendered from `templates` showing `parts`, for this viewer."""
    shown = repr((_templates_version(templates), _viewer(has_form), parts))
    return hashlib.sha256(shown.encode()).hexdigest()[:32]


def conditional(tag: str, render: Callable[[], str]) -> Response:
    """304 when the browser already holds this page (and has no message waiting to be
    shown on it), else the rendered page; both with the ETag and private caching."""
    if request.if_none_match.contains(tag) and not session.get("_flashes"):
        response = Response(status=304)
    else:
        response = Response(render(), mimetype="text/html")
    response.set_etag(tag)
    response.headers["Cache-Control"] = "private, no-cache"
    response.vary.add("Cookie")
    return response


# --- The pages -------------------------------------------------------------------------


@bp.get("/")
def index() -> Response:
    """Every book and membership on sale (a page of them in a big catalogue)."""
    shop = catalogue()
    page = catalogue_page(shop, request.args.get("page", 1, type=int))
    tag = page_tag(INDEX_TEMPLATES, catalogue_version(shop), page.number)
    return conditional(tag, lambda: render_template("shop/index.html", page=page))


@bp.get("/books/<key>")
def book(key: str) -> Response:
    """One book with its Buy button. :raise 404: when the key is not in the catalogue."""
    shop = catalogue()
    item = shop.book(key)
    if item is None:
        abort(404)
    user = current_user if current_user.is_authenticated else None
    owned = item.format == "ebook" and user is not None and item.key in owned_book_keys(user)
    left = stock.available(item)
    price = member_price(item, user, shop)
    tag = page_tag(BOOK_TEMPLATES, catalogue_version(shop), key, left, owned, price, has_form=True)
    return conditional(
        tag,
        lambda: render_template(
            "shop/book.html",
            book=item,
            stock=left,
            owned=owned,
            member_price=price,
            form=BuyForm(),
            shipping=shop.shipping,
            postage_from=cheapest_postage(shop.shipping),
        ),
    )


@bp.get("/memberships/<key>")
def plan(key: str) -> str:
    """One membership plan with Subscribe monthly / yearly. :raise 404: unknown key."""
    item = catalogue().plan(key)
    if item is None:
        abort(404)
    user = current_user if current_user.is_authenticated else None
    standings = {interval: standing(user, item, interval) for interval, _ in item.prices}
    return render_template(
        "shop/plan.html",
        plan=item,
        form=SubscribeForm(),
        standings=standings,
        membership=current_membership(user) if user is not None else None,
    )
