"""Amounts and days as a reader of a locale writes them (Babel)."""

from __future__ import annotations

from datetime import datetime

from babel.dates import format_date
from babel.numbers import format_currency

from workflows.rules import minor_unit_exponent


def money(amount: int, currency: str, locale: str = "en_US") -> str:
    """An amount in minor units (cents), written in its currency: `$44.01`."""
    return format_currency(amount / 10 ** minor_unit_exponent(currency), currency, locale=locale)


def day(moment: datetime, locale: str = "en_US") -> str:
    return format_date(moment, format="long", locale=locale)
