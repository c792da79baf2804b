"""Money as people (and Stripe's messages) read it: ``money(900, "gbp") == "£9.00"``.

Amounts stay integer minor units everywhere; they become text only here, for the
hosted pages' filters and the API's error messages alike.
"""

from __future__ import annotations

#: Currencies whose amounts Stripe takes in whole units rather than hundredths.
ZERO_DECIMAL = frozenset("bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split())
#: Currencies with three decimal places.
THREE_DECIMAL = frozenset("bhd jod kwd omr tnd".split())
SYMBOLS = {"gbp": "£", "usd": "$", "eur": "€", "jpy": "¥", "aud": "A$", "cad": "C$"}


def decimal_places(currency: str) -> int:
    """How many minor-unit digits the currency has: 0 (JPY), 3 (KWD) or 2."""
    currency = currency.lower()
    return 0 if currency in ZERO_DECIMAL else 3 if currency in THREE_DECIMAL else 2


def money(amount: int, currency: str) -> str:
    """Minor units as text: ``£12.00``, ``$21.45``, ``¥500``, ``1.500 KWD``."""
    currency = currency.lower()
    places = decimal_places(currency)
    sign = "-" if amount < 0 else ""
    whole, fraction = divmod(abs(int(amount)), 10**places)
    number = f"{whole:,}" + (f".{fraction:0{places}d}" if places else "")
    symbol = SYMBOLS.get(currency)
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{number} {currency.upper()}"
