"""Billing periods: adding day/week/month/year intervals to a Unix time, in UTC."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta

DAY = 86_400


def add_interval(timestamp: int, interval: str, count: int = 1) -> int:
    """``timestamp`` plus ``count`` intervals; month ends clamp (31 Jan + 1 month = 28/29 Feb)."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    if interval == "day":
        return int((moment + timedelta(days=count)).timestamp())
    if interval == "week":
        return int((moment + timedelta(weeks=count)).timestamp())
    months = count * (12 if interval == "year" else 1)
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return int(moment.replace(year=year, month=month, day=day).timestamp())


def period_end(anchor: int, interval: str, count: int, cycles: int) -> int:
    """The end of the ``cycles``-th period counted from ``anchor`` (no drift at month ends)."""
    return add_interval(anchor, interval, count * cycles)


def year_month(timestamp: int) -> tuple[int, int]:
    """``(year, month)`` of a Unix time, in UTC."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.year, moment.month
