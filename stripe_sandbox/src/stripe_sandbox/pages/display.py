"""Display helpers for the hosted pages: money, times and billing intervals.

Amounts stay integer minor units everywhere; they become text only here, through
the Jinja filters registered by ``register_filters``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint

from ..core.money import money as core_money


def money(amount: int | None, currency: str | None) -> str:
    """Minor units as people read them (``core.money``), or ``—`` when unknown."""
    if amount is None or not currency:
        return "—"
    return core_money(amount, currency)


def interval(recurring: dict[str, Any] | None) -> str:
    """A price's billing interval: ``month``, ``year`` or ``3 months``."""
    if not recurring:
        return ""
    unit = str(recurring.get("interval", ""))
    count = int(recurring.get("interval_count") or 1)
    return unit if count == 1 else f"{count} {unit}s"


def per_interval(amount: int | None, currency: str | None, recurring: dict[str, Any] | None) -> str:
    """An amount and how often it is charged: ``£9.00/month``, ``£25.00 every 3 months``, ``£12.99``."""
    shown = money(amount, currency)
    every = interval(recurring)
    if not every:
        return shown
    return f"{shown}/{every}" if " " not in every else f"{shown} every {every}"


def price_label(price: dict[str, Any] | None) -> str:
    """A price as a shopper reads it (see ``per_interval``)."""
    if not price:
        return "—"
    return per_interval(price.get("unit_amount"), price.get("currency"), price.get("recurring"))


def _as_datetime(timestamp: float | int | None) -> datetime | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(float(timestamp), tz=UTC)


def utc_time(timestamp: float | int | None) -> str:
    """A Unix time as ``23 Nov 2026, 10:01:05 UTC``."""
    moment = _as_datetime(timestamp)
    return "—" if moment is None else moment.strftime("%d %b %Y, %H:%M:%S UTC")


def utc_date(timestamp: float | int | None) -> str:
    """A Unix time as a UTC date, ``23 Nov 2026``."""
    moment = _as_datetime(timestamp)
    return "—" if moment is None else moment.strftime("%d %b %Y")


def short_id(object_id: str, keep: int = 24) -> str:
    """A long Stripe id shortened in the middle for tables: ``cs_test_a1b2c3d4e5…x9y8z7``."""
    if len(object_id) <= keep + 2:
        return object_id
    return f"{object_id[: keep - 6]}…{object_id[-6:]}"


def pretty_json(value: Any) -> str:
    """An object as indented JSON, keys in the order Stripe writes them."""
    return json.dumps(value, indent=2, ensure_ascii=False)


def register_filters(bp: Blueprint) -> None:
    """Make the helpers available to every template as filters."""
    filters: dict[str, Callable[..., str]] = {
        "money": money,
        "interval": interval,
        "price_label": price_label,
        "utc_time": utc_time,
        "utc_date": utc_date,
        "pretty_json": pretty_json,
        "short_id": short_id,
    }
    for name, function in filters.items():
        bp.add_app_template_filter(function, name)


#: Names for the countries a shop is likely to ship to; others show their ISO code.
COUNTRY_NAMES = {
    "AT": "Austria",
    "AU": "Australia",
    "BE": "Belgium",
    "CA": "Canada",
    "CH": "Switzerland",
    "DE": "Germany",
    "DK": "Denmark",
    "ES": "Spain",
    "FI": "Finland",
    "FR": "France",
    "GB": "United Kingdom",
    "IE": "Ireland",
    "IT": "Italy",
    "JP": "Japan",
    "NL": "Netherlands",
    "NO": "Norway",
    "NZ": "New Zealand",
    "PL": "Poland",
    "PT": "Portugal",
    "SE": "Sweden",
    "US": "United States",
}
