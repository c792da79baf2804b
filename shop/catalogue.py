"""The catalogue: what Quire sells and at what price, read from `products.yaml`.

Read by `safe_yaml` (which refuses duplicate keys, aliases, oversized or deeply nested
files) and validated into frozen objects, each problem named once by entry and field;
the running app reads it on first use (`shop.catalogue_source`). It knows nothing of
Flask or Stripe; `sync.py` makes Stripe match it and checkout resolves every price through it, so
a shopper can never choose an amount.
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, cast

from shop import safe_yaml
from shop.countries import COUNTRIES
from shop.money import CURRENCIES

Interval = Literal["month", "year"]
INTERVALS: tuple[Interval, ...] = ("month", "year")
FORMATS = ("ebook", "print")
#: A catalogue key, matched whole (`fullmatch`: `$` alone let a trailing newline through).
KEY_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
MAX_AMOUNT = 99_999_999  # Stripe's ceiling for a unit amount
#: The formats an ebook's files may come in, with the media type each is served as.
EBOOK_MEDIA_TYPES = {"epub": "application/epub+zip", "pdf": "application/pdf"}
#: Where the ebook files named in the catalogue live unless `EBOOK_DIR` says otherwise:
#: a folder of the `shop` package, so the files ship with the app.
DEFAULT_EBOOK_DIR = Path(__file__).resolve().parent / "ebooks"
#: Where cover images (`image: covers/x.svg`) live: the shop's static folder.
DEFAULT_STATIC_DIR = Path(__file__).resolve().parent / "static"
MAX_SHIPPING_RATES = 5  # Stripe's ceiling for a Checkout Session's shipping options

#: How every Stripe Product id of Quire's begins (`quire_book_<key>`, `quire_plan_<key>`).
PRODUCT_ID_PREFIX = "quire_"
#: Metadata naming what a Stripe Product or Price sells: `book:<key>` or `plan:<key>` on
#: a product, its lookup key on a price.
QUIRE_KEY_METADATA = "quire_key"
#: Metadata on a Stripe Product: its kind's prefix (`book` or `plan`).
QUIRE_KIND_METADATA = "quire_kind"
#: Metadata on a membership's subscription: the key of the plan it was bought as.
PLAN_METADATA = "plan"


@dataclass(frozen=True)
class CatalogueProblem:
    """One thing wrong with the catalogue, named by entry and field."""

    entry: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.entry}: {self.field}: {self.message}"


class CatalogueError(ValueError):
    """The catalogue cannot be used; `problems` lists every reason."""

    def __init__(self, path: Path, problems: list[CatalogueProblem]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(
            f"{path.name} has {len(problems)} problem(s):\n" + "\n".join(map(str, problems))
        )


class ProductKind(enum.StrEnum):
    """What an order or a catalogue item sells; stored as these strings (`Order.kind`)."""

    BOOK = "book"
    MEMBERSHIP = "membership"

    @property
    def prefix(self) -> str:
        """The word naming this kind in Stripe: lookup keys, product ids and metadata."""
        return "book" if self is ProductKind.BOOK else "plan"


class LookupKey(str):
    """The permanent name of a Stripe Price: `book:<key>` or `plan:<key>:<interval>`.

    It is the very string Stripe stores (so it goes into params and compares as text),
    checked when made: build one with `for_book` / `for_plan`, read one with `parse`,
    and ask it for `kind`, `item_key` and `interval` instead of splitting it by hand.
    """

    __slots__ = ()

    def __new__(cls, text: str) -> LookupKey:
        parts = text.split(":")
        book = len(parts) == 2 and parts[0] == ProductKind.BOOK.prefix
        plan = len(parts) == 3 and parts[0] == ProductKind.MEMBERSHIP.prefix
        if not (book or (plan and parts[2] in INTERVALS)) or not parts[1]:
            raise ValueError(f"{text!r} is not a Quire lookup key")
        return super().__new__(cls, text)

    @classmethod
    def for_book(cls, key: str) -> LookupKey:
        return cls(f"{ProductKind.BOOK.prefix}:{key}")

    @classmethod
    def for_plan(cls, key: str, interval: Interval) -> LookupKey:
        return cls(f"{ProductKind.MEMBERSHIP.prefix}:{key}:{interval}")

    @classmethod
    def parse(cls, text: str | None) -> LookupKey | None:
        """The lookup key `text`, or None for a blank or foreign one."""
        try:
            return cls(text or "")
        except ValueError:
            return None

    @property
    def kind(self) -> ProductKind:
        return ProductKind.BOOK if self.count(":") == 1 else ProductKind.MEMBERSHIP

    @property
    def item_key(self) -> str:
        return self.split(":")[1]

    @property
    def interval(self) -> Interval | None:
        parts = self.split(":")
        return cast(Interval, parts[2]) if len(parts) == 3 else None


def product_id_for(kind: ProductKind, key: str) -> str:
    """The id Quire gives the Stripe Product selling the catalogue item `key`."""
    return f"{PRODUCT_ID_PREFIX}{kind.prefix}_{key}"


@dataclass(frozen=True)
class SellingPrice:
    """One Stripe Price the catalogue asks for, identified by its `lookup_key`."""

    lookup_key: LookupKey
    amount: int
    currency: str
    interval: Interval | None = None


@dataclass(frozen=True)
class EbookFile:
    """One downloadable file of an ebook: its format and its path in the ebook folder."""

    format: str  # a key of EBOOK_MEDIA_TYPES
    path: str

    @property
    def media_type(self) -> str:
        return EBOOK_MEDIA_TYPES[self.format]


@dataclass(frozen=True)
class PlanBenefits:
    """What a membership gives while it is live: a percentage off printed books, and
    ebooks readable from the library."""

    print_discount: int | None = None
    ebooks: tuple[str, ...] = ()


@dataclass(frozen=True)
class Book:
    """A book sold once: an ebook to download or a printed copy to post."""

    key: str
    title: str
    author: str
    description: str
    price: int
    currency: str
    format: Literal["ebook", "print"]
    image: str | None = None
    stock: int | None = None
    files: tuple[EbookFile, ...] = ()
    kind: ClassVar[ProductKind] = ProductKind.BOOK

    def file(self, fmt: str) -> EbookFile | None:
        """The ebook's file in format `fmt`, if it has one."""
        return next((f for f in self.files if f.format == fmt), None)

    @property
    def lookup_key(self) -> LookupKey:
        return LookupKey.for_book(self.key)

    @property
    def product_id(self) -> str:
        return product_id_for(self.kind, self.key)

    @property
    def name(self) -> str:
        return self.title

    @property
    def selling_prices(self) -> tuple[SellingPrice, ...]:
        return (SellingPrice(self.lookup_key, self.price, self.currency),)


@dataclass(frozen=True)
class Plan:
    """A membership sold by subscription, with a price per billing interval."""

    key: str
    name: str
    description: str
    features: tuple[str, ...]
    currency: str
    prices: tuple[tuple[Interval, int], ...]
    trial_days: int | None = None
    benefits: PlanBenefits = PlanBenefits()
    kind: ClassVar[ProductKind] = ProductKind.MEMBERSHIP

    @property
    def product_id(self) -> str:
        return product_id_for(self.kind, self.key)

    def lookup_key(self, interval: Interval) -> LookupKey:
        return LookupKey.for_plan(self.key, interval)

    def price_for(self, interval: str) -> int | None:
        return next((amount for name, amount in self.prices if name == interval), None)

    @property
    def selling_prices(self) -> tuple[SellingPrice, ...]:
        return tuple(
            SellingPrice(self.lookup_key(interval), amount, self.currency, interval)
            for interval, amount in self.prices
        )


Item = Book | Plan


@dataclass(frozen=True)
class PrintCoupon:
    """The Stripe coupon giving a plan's members their percentage off printed books.

    Stripe coupons cannot change, so the id names everything that makes one: the plan,
    the percentage and (by a short hash) the printed books it applies to. A new
    percentage or a new printed book gives a new id; the old coupon is left as it was.
    """

    plan_key: str
    percent_off: int
    product_ids: tuple[str, ...]

    @property
    def id(self) -> str:
        digest = hashlib.sha256(",".join(self.product_ids).encode()).hexdigest()[:8]
        return (
            f"{PRODUCT_ID_PREFIX}{ProductKind.MEMBERSHIP.prefix}_{self.plan_key}"
            f"_print_{self.percent_off}_{digest}"
        )

    def discount_on(self, amount: int) -> int:
        """The discount on a printed line of `amount` minor units (halves rounded up)."""
        return (amount * self.percent_off + 50) // 100


@dataclass(frozen=True)
class ShippingRate:
    """One way of posting to a zone, e.g. Royal Mail 2nd class at 285."""

    key: str
    name: str
    amount: int
    #: The delivery estimate in business days, as (at least, at most); None: not said.
    days: tuple[int, int] | None = None


@dataclass(frozen=True)
class ShippingZone:
    """Destinations that share postage rates: its countries (ISO codes) and its rates."""

    key: str
    name: str
    countries: tuple[str, ...]
    rates: tuple[ShippingRate, ...]
    #: Postage is free when printed books come to at least this much (overrides the
    #: overall `Shipping.free_over`).
    free_over: int | None = None


@dataclass(frozen=True)
class Shipping:
    """Postage for printed books: destination zones, in one currency."""

    currency: str
    zones: tuple[ShippingZone, ...]
    #: Free postage to any zone at or above this subtotal of printed books, unless the
    #: zone sets its own.
    free_over: int | None = None

    def zone_for(self, country: str) -> ShippingZone | None:
        """The zone a country code belongs to (None: we do not post there)."""
        code = country.upper()
        return next((z for z in self.zones if code in z.countries), None)

    @property
    def countries(self) -> tuple[str, ...]:
        """Every country printed books can be posted to, in catalogue order."""
        return tuple(code for zone in self.zones for code in zone.countries)


@dataclass(frozen=True)
class Catalogue:
    """Everything on sale, looked up by key, and the postage for printed books."""

    books: tuple[Book, ...]
    plans: tuple[Plan, ...]
    #: None when the catalogue has no `shipping:` section (then nothing can be posted).
    shipping: Shipping | None = None

    def book(self, key: str) -> Book | None:
        return next((b for b in self.books if b.key == key), None)

    def plan(self, key: str) -> Plan | None:
        return next((p for p in self.plans if p.key == key), None)

    @property
    def printed_books(self) -> tuple[Book, ...]:
        return tuple(b for b in self.books if b.format == "print")

    def print_coupon(self, plan: Plan) -> PrintCoupon | None:
        """The coupon for `plan`'s discount on printed books (None: it gives none)."""
        percent = plan.benefits.print_discount
        if percent is None or not self.printed_books:
            return None
        products = tuple(sorted(book.product_id for book in self.printed_books))
        return PrintCoupon(plan.key, percent, products)

    def items(self) -> Iterator[Item]:
        yield from self.books
        yield from self.plans

    def selling_price(self, lookup_key: str) -> SellingPrice | None:
        """What the catalogue sells under `lookup_key` now (None: not, or no longer, sold)."""
        item = self.item_for_lookup_key(lookup_key)
        if item is None:
            return None
        return next(p for p in item.selling_prices if p.lookup_key == lookup_key)

    def item_for_lookup_key(self, lookup_key: str) -> Item | None:
        """The book or plan that sells a Stripe Price's lookup key, if the catalogue has it."""
        key = LookupKey.parse(lookup_key)
        if key is None:
            return None
        item = self.book(key.item_key) if key.kind is ProductKind.BOOK else self.plan(key.item_key)
        if item is None or all(p.lookup_key != key for p in item.selling_prices):
            return None
        return item


class _Reader:
    """Collects problems while reading entries, so one run reports all of them."""

    def __init__(self) -> None:
        self.problems: list[CatalogueProblem] = []
        #: The file-wide currency was wrong (and said so): entries that inherit it are
        #: not told again that theirs is missing.
        self.default_currency_refused = False

    def problem(self, entry: str, field: str, message: str) -> None:
        self.problems.append(CatalogueProblem(entry, field, message))

    def text(self, raw: Mapping[str, Any], entry: str, name: str, *, required: bool = True) -> str:
        value = raw.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.problem(entry, name, "is missing")
            return ""
        if not isinstance(value, str):
            self.problem(entry, name, f"must be text (got {value!r})")
            return ""
        return value.strip()

    def amount(self, raw: Any, entry: str, name: str) -> int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            if isinstance(raw, float):
                self.problem(
                    entry, name, f"must be a whole number of minor units, e.g. 1299 (got {raw})"
                )
            elif raw is None:
                self.problem(entry, name, "is missing")
            else:
                self.problem(entry, name, f"must be a whole number of minor units (got {raw!r})")
            return 0
        if raw <= 0:
            self.problem(entry, name, f"must be positive (got {raw})")
        elif raw > MAX_AMOUNT:
            self.problem(entry, name, f"must be at most {MAX_AMOUNT} (got {raw})")
        return raw

    def currency(self, raw: Mapping[str, Any], entry: str, default: str | None) -> str:
        value = raw.get("currency", default)
        if value is None and self.default_currency_refused:
            return ""
        if value is None:
            self.problem(entry, "currency", "is missing (set it here or at the top of the file)")
            return ""
        if not isinstance(value, str) or value.lower() not in CURRENCIES:
            self.problem(entry, "currency", f"unknown currency {value!r}")
            return ""
        return value.lower()

    def unknown_fields(self, raw: Mapping[str, Any], entry: str, allowed: set[str]) -> None:
        for name in sorted(set(raw) - allowed):
            self.problem(entry, name, "is not a known field")


BOOK_FIELDS = {
    "key",
    "title",
    "author",
    "description",
    "price",
    "currency",
    "format",
    "image",
    "stock",
    "files",
}
PLAN_FIELDS = {
    "key",
    "name",
    "description",
    "features",
    "currency",
    "prices",
    "trial_days",
    "benefits",
}
SHIPPING_FIELDS = {"currency", "free_over", "zones"}
ZONE_FIELDS = {"key", "name", "countries", "rates", "free_over"}
RATE_FIELDS = {"key", "name", "amount", "days"}


def _entries(raw: Any, section: str, reader: _Reader) -> list[tuple[str, Mapping[str, Any]]]:
    """The section's entries with a label each (`books[dune]`), noting bad keys."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        reader.problem(section, "-", "must be a list of entries")
        return []
    seen: set[str] = set()
    entries: list[tuple[str, Mapping[str, Any]]] = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            reader.problem(f"{section}[{index}]", "-", "must be a mapping of fields")
            continue
        key = item.get("key")
        label = f"{section}[{key}]" if isinstance(key, str) and key else f"{section}[{index}]"
        if not isinstance(key, str) or not key:
            reader.problem(label, "key", "is missing")
        elif not KEY_PATTERN.fullmatch(key):
            reader.problem(label, "key", "must be lower-case letters, digits and dashes")
        elif key in seen:
            label = f"{section}[{key}] (entry {index + 1})"
            reader.problem(label, "key", f"duplicate key {key!r}")
        else:
            seen.add(key)
        entries.append((label, item))
    return entries


def _read_book(label: str, raw: Mapping[str, Any], reader: _Reader, default: str | None) -> Book:
    reader.unknown_fields(raw, label, BOOK_FIELDS)
    fmt = raw.get("format")
    if fmt not in FORMATS:
        reader.problem(label, "format", f"must be 'ebook' or 'print' (got {fmt!r})")
    stock = raw.get("stock")
    if stock is not None:
        if isinstance(stock, bool) or not isinstance(stock, int) or stock < 0:
            reader.problem(label, "stock", f"must be a whole number, 0 or more (got {stock!r})")
            stock = None
        elif fmt == "ebook":
            reader.problem(label, "stock", "only printed books have stock")
    files = _read_files(label, raw.get("files"), fmt, reader)
    return Book(
        key=str(raw.get("key", "")),
        title=reader.text(raw, label, "title"),
        author=reader.text(raw, label, "author"),
        description=reader.text(raw, label, "description", required=False),
        price=reader.amount(raw.get("price"), label, "price"),
        currency=reader.currency(raw, label, default),
        format="print" if fmt == "print" else "ebook",
        image=_read_image(label, raw, reader),
        stock=stock,
        files=files,
    )


def _read_files(label: str, raw: Any, fmt: Any, reader: _Reader) -> tuple[EbookFile, ...]:
    """An ebook's files (`[{format: epub, path: x.epub}]`); a printed book has none.

    A book whose format is itself wrong gets no complaint about files: which rule
    applies depends on the format, already reported."""
    if fmt not in FORMATS:
        return ()
    if fmt != "ebook":
        if raw is not None:
            reader.problem(label, "files", "only ebooks have files")
        return ()
    if not isinstance(raw, list) or not raw:
        reader.problem(
            label, "files", "an ebook needs at least one file, e.g. [{format: epub, path: x.epub}]"
        )
        return ()
    files: list[EbookFile] = []
    for index, item in enumerate(raw):
        field = f"files[{index}]"
        if not isinstance(item, dict) or set(item) != {"format", "path"}:
            reader.problem(label, field, "must have exactly a format and a path")
            continue
        file_format, path = item["format"], item["path"]
        if file_format not in EBOOK_MEDIA_TYPES:
            known = ", ".join(EBOOK_MEDIA_TYPES)
            reader.problem(
                label, f"{field}.format", f"unknown format {file_format!r} (use {known})"
            )
            continue
        if any(f.format == file_format for f in files):
            reader.problem(label, f"{field}.format", f"a second {file_format} file")
            continue
        if not _inside(path):
            reader.problem(
                label, f"{field}.path", f"must be a path inside the ebook folder (got {path!r})"
            )
            continue
        files.append(EbookFile(file_format, path))
    return tuple(files)


def _inside(path: Any) -> bool:
    """`path` is a relative path that stays inside its folder (no `..`, not absolute)."""
    parts = Path(path).parts if isinstance(path, str) else ()
    return bool(parts) and not Path(path).is_absolute() and ".." not in parts


def _read_image(label: str, raw: Mapping[str, Any], reader: _Reader) -> str | None:
    """A book's cover, a path in the static folder (`covers/x.svg`), if it has one."""
    image = reader.text(raw, label, "image", required=False) or None
    if image is not None and not _inside(image):
        reader.problem(label, "image", f"must be a path inside shop/static/ (got {image!r})")
        return None
    return image


def _check_images(books: Iterable[tuple[str, Book]], static_dir: Path, reader: _Reader) -> None:
    """Every cover image the catalogue names exists in `static_dir`."""
    for label, book in books:
        if book.image is not None and not (static_dir / book.image).is_file():
            reader.problem(label, "image", f"{book.image} is not in {static_dir.name}/")


def _check_ebook_files(books: Iterable[tuple[str, Book]], ebook_dir: Path, reader: _Reader) -> None:
    """Every ebook file the catalogue names exists in `ebook_dir`."""
    for label, book in books:
        for index, file in enumerate(book.files):
            if not (ebook_dir / file.path).is_file():
                reader.problem(
                    label, f"files[{index}].path", f"{file.path} is not in {ebook_dir.name}/"
                )


def _read_benefits(label: str, raw: Any, reader: _Reader) -> PlanBenefits:
    """A plan's `benefits: {print_discount: 10, ebooks: [keys…]}`."""
    if raw is None:
        return PlanBenefits()
    if not isinstance(raw, dict):
        reader.problem(label, "benefits", "must map print_discount and/or ebooks")
        return PlanBenefits()
    for name in sorted(set(raw) - {"print_discount", "ebooks"}):
        reader.problem(label, f"benefits.{name}", "is not a known benefit")
    discount = raw.get("print_discount")
    if discount is not None and (
        isinstance(discount, bool) or not isinstance(discount, int) or not 1 <= discount <= 100
    ):
        reader.problem(
            label,
            "benefits.print_discount",
            f"must be a whole percentage, 1 to 100 (got {discount!r})",
        )
        discount = None
    ebooks = raw.get("ebooks") or []
    if not isinstance(ebooks, list) or not all(isinstance(k, str) for k in ebooks):
        reader.problem(label, "benefits.ebooks", "must be a list of ebook keys")
        ebooks = []
    return PlanBenefits(print_discount=discount, ebooks=tuple(dict.fromkeys(ebooks)))


def _check_benefits(
    plans: Iterable[tuple[str, Plan]], books: Mapping[str, Book], reader: _Reader
) -> None:
    """A plan's included ebooks are ebooks of this catalogue."""
    for label, plan in plans:
        for key in plan.benefits.ebooks:
            book = books.get(key)
            if book is None:
                reader.problem(label, "benefits.ebooks", f"{key!r} is not a book in the catalogue")
            elif book.format != "ebook":
                reader.problem(label, "benefits.ebooks", f"{key!r} is a printed book, not an ebook")


def _read_plan(label: str, raw: Mapping[str, Any], reader: _Reader, default: str | None) -> Plan:
    reader.unknown_fields(raw, label, PLAN_FIELDS)
    features = raw.get("features") or []
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        reader.problem(label, "features", "must be a list of text lines")
        features = []
    prices: list[tuple[Interval, int]] = []
    raw_prices = raw.get("prices")
    if not isinstance(raw_prices, dict) or not raw_prices:
        reader.problem(label, "prices", "must map an interval (month, year) to an amount")
    else:
        for interval, amount in raw_prices.items():
            if interval not in INTERVALS:
                reader.problem(label, f"prices.{interval}", "bad interval: use 'month' or 'year'")
                continue
            prices.append((interval, reader.amount(amount, label, f"prices.{interval}")))
    trial = raw.get("trial_days")
    if trial is not None and (
        isinstance(trial, bool) or not isinstance(trial, int) or not 1 <= trial <= 730
    ):
        reader.problem(
            label, "trial_days", f"must be a whole number of days, 1 to 730 (got {trial!r})"
        )
        trial = None
    return Plan(
        key=str(raw.get("key", "")),
        name=reader.text(raw, label, "name"),
        description=reader.text(raw, label, "description", required=False),
        features=tuple(features),
        currency=reader.currency(raw, label, default),
        prices=tuple(prices),
        trial_days=trial,
        benefits=_read_benefits(label, raw.get("benefits"), reader),
    )


def _free_over(raw: Mapping[str, Any], entry: str, reader: _Reader) -> int | None:
    if raw.get("free_over") is None:
        return None
    return reader.amount(raw["free_over"], entry, "free_over")


def _days(raw: Any, entry: str, reader: _Reader) -> tuple[int, int] | None:
    """A delivery estimate in business days: `3`, or `[2, 3]` for two to three days."""
    if raw is None:
        return None
    values = raw if isinstance(raw, list) else [raw]
    if not (
        1 <= len(values) <= 2
        and all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 60 for v in values)
        and values[0] <= values[-1]
    ):
        reader.problem(
            entry, "days", f"must be business days, 1 to 60, e.g. 3 or [2, 5] (got {raw!r})"
        )
        return None
    return (values[0], values[-1])


def _read_rate(label: str, raw: Mapping[str, Any], reader: _Reader) -> ShippingRate:
    reader.unknown_fields(raw, label, RATE_FIELDS)
    amount = raw.get("amount")
    if not (amount == 0 and isinstance(amount, int) and not isinstance(amount, bool)):
        amount = reader.amount(amount, label, "amount")  # 0 is allowed: free postage
    return ShippingRate(
        key=str(raw.get("key", "")),
        name=reader.text(raw, label, "name"),
        amount=amount,
        days=_days(raw.get("days"), label, reader),
    )


def _read_zone(
    label: str, raw: Mapping[str, Any], reader: _Reader, claimed: dict[str, str]
) -> ShippingZone:
    """One zone; `claimed` maps each country already in a zone to that zone's label."""
    reader.unknown_fields(raw, label, ZONE_FIELDS)
    countries: list[str] = []
    raw_countries = raw.get("countries")
    if not isinstance(raw_countries, list) or not raw_countries:
        reader.problem(label, "countries", "must be a list of ISO country codes, e.g. [GB]")
        raw_countries = []
    for code in raw_countries:
        if not isinstance(code, str) or code.upper() not in COUNTRIES:
            hint = ' (YAML reads a bare NO as false: write "NO")' if code is False else ""
            reader.problem(label, "countries", f"unknown country code {code!r}{hint}")
            continue
        code = code.upper()
        if code in claimed:
            reader.problem(label, "countries", f"{code} is already in {claimed[code]}")
            continue
        claimed[code] = label
        countries.append(code)
    rates = tuple(
        _read_rate(rate_label, item, reader)
        for rate_label, item in _entries(raw.get("rates"), f"{label}.rates", reader)
    )
    if not rates and raw.get("rates") in (None, []):
        reader.problem(label, "rates", "is missing (at least one way to post)")
    elif len(rates) > MAX_SHIPPING_RATES:
        reader.problem(
            label, "rates", f"at most {MAX_SHIPPING_RATES} (Stripe's limit per checkout)"
        )
    return ShippingZone(
        key=str(raw.get("key", "")),
        name=reader.text(raw, label, "name"),
        countries=tuple(countries),
        rates=rates,
        free_over=_free_over(raw, label, reader),
    )


def _read_shipping(raw: Any, reader: _Reader, default: str | None) -> Shipping | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        reader.problem("shipping", "-", "must be a mapping with 'zones'")
        return None
    reader.unknown_fields(raw, "shipping", SHIPPING_FIELDS)
    claimed: dict[str, str] = {}
    zones = tuple(
        _read_zone(label, item, reader, claimed)
        for label, item in _entries(raw.get("zones"), "shipping.zones", reader)
    )
    if not zones and raw.get("zones") in (None, []):
        reader.problem("shipping", "zones", "is missing (at least one destination zone)")
    return Shipping(
        currency=reader.currency(raw, "shipping", default),
        zones=zones,
        free_over=_free_over(raw, "shipping", reader),
    )


def _refused(path: Path, refusal: safe_yaml.YamlRefused) -> CatalogueError:
    where = f"line {refusal.line}" if refusal.line else "file"
    return CatalogueError(path, [CatalogueProblem(path.name, where, refusal.message)])


def _check_postage_currency(
    books: Iterable[tuple[str, Book]],
    own_currency: Iterable[bool],
    shipping: Shipping,
    default: str | None,
    reader: _Reader,
) -> None:
    """Printed books are sold in the postage currency.

    Books that inherit the file's currency share one cause, so it is said once, on
    `shipping`; a book that names its own other currency is named itself.
    """
    inheriting = False
    for (label, book), named in zip(books, own_currency, strict=True):
        if book.format != "print" or not book.currency or book.currency == shipping.currency:
            continue
        if named:
            reader.problem(
                label,
                "currency",
                f"printed books are sold in the postage currency, {shipping.currency}",
            )
        else:
            inheriting = True
    if inheriting:
        reader.problem(
            "shipping",
            "currency",
            f"must be the printed books' currency, {default} (postage is charged with them)",
        )


def parse_catalogue(
    text: str, path: Path, ebook_dir: Path | None = None, static_dir: Path | None = None
) -> Catalogue:
    """Validate catalogue YAML; raise `CatalogueError` listing every problem, each once.

    With `ebook_dir` / `static_dir`, every ebook file / cover image named must also
    exist there (`load_catalogue` always checks; a bare parse checks the text alone).
    """
    try:
        raw = safe_yaml.load(text)
    except safe_yaml.YamlRefused as refusal:
        raise _refused(path, refusal) from refusal
    reader = _Reader()
    if not isinstance(raw, dict):
        raise CatalogueError(
            path, [CatalogueProblem(path.name, "-", "must be a mapping with 'books' and 'plans'")]
        )
    reader.unknown_fields(raw, path.name, {"currency", "books", "plans", "shipping"})
    default = raw.get("currency")
    if default is not None and (not isinstance(default, str) or default.lower() not in CURRENCIES):
        reader.problem(path.name, "currency", f"unknown currency {default!r}")
        reader.default_currency_refused = True
        default = None
    elif default is not None:
        default = default.lower()
    raw_books = _entries(raw.get("books"), "books", reader)
    labelled_books = [
        (label, _read_book(label, item, reader, default)) for label, item in raw_books
    ]
    labelled_plans = [
        (label, _read_plan(label, item, reader, default))
        for label, item in _entries(raw.get("plans"), "plans", reader)
    ]
    books = tuple(book for _, book in labelled_books)
    plans = tuple(plan for _, plan in labelled_plans)
    if ebook_dir is not None:
        _check_ebook_files(labelled_books, ebook_dir, reader)
    if static_dir is not None:
        _check_images(labelled_books, static_dir, reader)
    _check_benefits(labelled_plans, {book.key: book for book in books}, reader)
    shipping = _read_shipping(raw.get("shipping"), reader, default)
    if shipping is not None and shipping.currency:
        own_currency = ["currency" in item for _, item in raw_books]
        _check_postage_currency(labelled_books, own_currency, shipping, default, reader)
    if not books and not plans and not reader.problems:
        reader.problem(path.name, "books", "the catalogue sells nothing")
    if reader.problems:
        raise CatalogueError(path, reader.problems)
    return Catalogue(books=books, plans=plans, shipping=shipping)


def load_catalogue(
    path: Path, ebook_dir: Path = DEFAULT_EBOOK_DIR, static_dir: Path = DEFAULT_STATIC_DIR
) -> Catalogue:
    """Read and validate the catalogue file at `path`: its ebook files in `ebook_dir`, its
    cover images in `static_dir`. A file over `safe_yaml.MAX_BYTES` is refused unread."""
    try:
        text = safe_yaml.read_text(path)
    except OSError as error:
        raise CatalogueError(
            path, [CatalogueProblem(path.name, "-", f"cannot be read: {error.strerror}")]
        ) from error
    except safe_yaml.YamlRefused as refusal:
        raise _refused(path, refusal) from refusal
    return parse_catalogue(text, path, ebook_dir, static_dir)
