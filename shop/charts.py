"""Small charts as inline SVG, drawn on the server: no script, no CDN.

Only presentation attributes are used (no `style`), so the shop's Content-Security-
Policy (`style-src 'self'`) lets them draw; colours come from the stylesheet's classes.
Each chart has a `<title>` and an `aria-label`; the page gives its figures as a table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date

from markupsafe import Markup

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 72, 12, 12, 28


def _frame(
    title: str, low: int, high: int, first: date, last: date, label: Callable[[int], str]
) -> list[Markup]:
    """The chart's opening, its title, the value axis (top, zero, bottom) and the dates."""
    bottom = HEIGHT - BOTTOM
    parts = [
        Markup(
            '<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" '
            'role="img" aria-label="{}"><title>{}</title>'
        ).format(WIDTH, HEIGHT, title, title),
        Markup('<line class="axis" x1="{}" y1="{}" x2="{}" y2="{}" stroke="currentColor"/>').format(
            LEFT, TOP, LEFT, bottom
        ),
    ]
    for value in sorted({low, 0, high}):
        y = _y(value, low, high)
        parts.append(
            Markup(
                '<line class="grid" x1="{}" y1="{:.1f}" x2="{}" y2="{:.1f}" '
                'stroke="currentColor" stroke-opacity="0.25"/>'
                '<text class="axis-label" x="{}" y="{:.1f}" text-anchor="end" '
                'font-size="11" fill="currentColor">{}</text>'
            ).format(LEFT, y, WIDTH - RIGHT, y, LEFT - 6, y + 4, label(value))
        )
    for x, day, anchor in ((LEFT, first, "start"), (WIDTH - RIGHT, last, "end")):
        parts.append(
            Markup(
                '<text class="axis-label" x="{}" y="{}" text-anchor="{}" '
                'font-size="11" fill="currentColor">{}</text>'
            ).format(x, HEIGHT - 8, anchor, day.isoformat())
        )
    return parts


def _y(value: int, low: int, high: int) -> float:
    span = (high - low) or 1
    return TOP + (high - value) / span * (HEIGHT - TOP - BOTTOM)


def bars(title: str, series: Sequence[tuple[date, int]], label: Callable[[int], str]) -> Markup:
    """A bar per point with a value (none for nothing), up from zero, or down for a
    point where refunds outweighed payments; each bar's `<title>` gives its figure."""
    if not series:
        return Markup("")
    low = min(0, *(value for _, value in series))
    high = max(0, *(value for _, value in series))
    parts = _frame(title, low, high, series[0][0], series[-1][0], label)
    slot = (WIDTH - LEFT - RIGHT) / len(series)
    zero = _y(0, low, high)
    for n, (day, value) in enumerate(series):
        if value == 0:
            continue
        y = _y(value, low, high)
        parts.append(
            Markup(
                '<rect class="{}" data-day="{}" data-amount="{}" x="{:.1f}" y="{:.1f}" '
                'width="{:.1f}" height="{:.1f}" fill="currentColor"><title>{}: {}</title></rect>'
            ).format(
                "bar negative" if value < 0 else "bar",
                day.isoformat(),
                value,
                LEFT + n * slot + slot * 0.15,
                min(y, zero),
                max(slot * 0.7, 1),
                max(abs(zero - y), 1),
                day.isoformat(),
                label(value),
            )
        )
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def line(title: str, series: Sequence[tuple[date, int]], label: Callable[[int], str]) -> Markup:
    """A line through the points, with a dot on each whose `<title>` gives its figure."""
    if not series:
        return Markup("")
    low = min(0, *(value for _, value in series))
    high = max(0, *(value for _, value in series))
    parts = _frame(title, low, high, series[0][0], series[-1][0], label)
    step = (WIDTH - LEFT - RIGHT) / max(len(series) - 1, 1)
    points = [(LEFT + n * step, _y(value, low, high)) for n, (_, value) in enumerate(series)]
    parts.append(
        Markup(
            '<polyline class="line" fill="none" stroke="currentColor" stroke-width="2" '
            'points="{}"/>'
        ).format(" ".join(f"{x:.1f},{y:.1f}" for x, y in points))
    )
    for (x, y), (day, value) in zip(points, series, strict=True):
        parts.append(
            Markup(
                '<circle class="point" cx="{:.1f}" cy="{:.1f}" r="2.5" fill="currentColor" '
                'data-day="{}" data-amount="{}"><title>{}: {}</title></circle>'
            ).format(x, y, day.isoformat(), value, day.isoformat(), label(value))
        )
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)
