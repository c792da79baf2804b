"""Money: integer minor units, currencies Stripe accepts, and display formatting."""

from __future__ import annotations

#: ISO 4217 currencies Stripe charges in (lower case, as Stripe writes them).
CURRENCIES = frozenset(
    """
    aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bhd bif bmd bnd bob brl bsd bwp
    byn bzd cad cdf chf clp cny cop crc cve czk djf dkk dop dzd egp etb eur fjd fkp gbp gel
    gip gmd gnf gtq gyd hkd hnl htg huf idr ils inr isk jmd jod jpy kes kgs khr kmf krw kwd
    kyd kzt lak lbp lkr lrd lsl mad mdl mga mkd mmk mnt mop mur mvr mwk mxn myr mzn nad ngn
    nio nok npr nzd omr pab pen pgk php pkr pln pyg qar ron rsd rub rwf sar sbd scr sek sgd
    shp sle sos srd std szl thb tjs tnd top try ttd twd tzs uah ugx usd uyu uzs vnd vuv wst
    xaf xcd xof xpf yer zar zmw
    """.split()
)

#: Currencies whose amounts Stripe takes in whole units rather than hundredths.
ZERO_DECIMAL = frozenset("bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split())
#: Currencies with three decimal places.
THREE_DECIMAL = frozenset("bhd jod kwd omr tnd".split())

SYMBOLS = {"gbp": "£", "usd": "$", "eur": "€", "jpy": "¥", "aud": "A$", "cad": "C$"}


def exponent(currency: str) -> int:
    """How many decimal places a currency's minor unit has."""
    currency = currency.lower()
    if currency in ZERO_DECIMAL:
        return 0
    if currency in THREE_DECIMAL:
        return 3
    return 2


def format_money(amount: int | None, currency: str | None) -> str:
    """Render minor units for people, e.g. `format_money(1299, "gbp") == "£12.99"`."""
    if amount is None or not currency:
        return "—"
    places = exponent(currency)
    sign = "-" if amount < 0 else ""
    whole, fraction = divmod(abs(amount), 10**places)
    number = f"{whole:,}" + (f".{fraction:0{places}d}" if places else "")
    symbol = SYMBOLS.get(currency.lower())
    if symbol:
        return f"{sign}{symbol}{number}"
    return f"{sign}{number} {currency.upper()}"
