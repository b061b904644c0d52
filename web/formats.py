"""Amounts and days as a reader of a locale writes them (Babel)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time
from babel.numbers import format_currency

from workflows.rules import minor_unit_exponent


def money(amount: int, currency: str, locale: str = "en_US") -> str:
    """An amount in minor units (cents), written in its currency: `$44.01`."""
    return format_currency(amount / 10 ** minor_unit_exponent(currency), currency, locale=locale)


def day(moment: datetime, locale: str = "en_US") -> str:
    return format_date(moment, format="long", locale=locale)


def window(start: datetime, end: datetime, zone: ZoneInfo, locale: str = "en_US") -> str:
    """A pickup window in the shop's time zone: `December 3, 2026, 9:00 AM – 12:00 PM`."""
    start, end = start.astimezone(zone), end.astimezone(zone)
    hours = f"{format_time(start, format='short', locale=locale)} – {format_time(end, format='short', locale=locale)}"
    return f"{format_date(start, format='long', locale=locale)}, {hours}"
