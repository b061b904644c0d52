"""The portal's languages: English (the templates' own) and German (portal/locale/de, Babel catalogs
read at import), each a gettext translation and a Jinja2 environment with dates and amounts written
in its locale. The pages and the shopper's emails (portal/mail.py) render through them."""

from __future__ import annotations

import gettext
import io
from functools import partial
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

import portal.words as words
from activities.models import PickupWindow
from web.formats import day, money, window
from web.session import CSRF_FIELD

_HERE = Path(__file__).parent
# Each language and the locale its dates and amounts are written in.
LOCALES = {"en": "en_US", "de": "de_DE"}


def _translations(language: str) -> gettext.NullTranslations:
    if language == "en":
        return gettext.NullTranslations()
    with (_HERE / "locale" / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        compiled = io.BytesIO()
        write_mo(compiled, read_po(po))
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def window_value(window: PickupWindow) -> str:
    """A pickup window as the portal's forms send it: an ISO 8601 interval."""
    return f"{window.start.isoformat()}/{window.end.isoformat()}"


def _templates(language: str) -> Jinja2Templates:
    environment = Environment(
        loader=FileSystemLoader(_HERE / "templates"),
        autoescape=select_autoescape(("html",)),  # the plain-text email's templates are not HTML
        extensions=["jinja2.ext.i18n"],
    )
    environment.install_gettext_translations(TRANSLATIONS[language], newstyle=True)  # type: ignore[attr-defined]
    environment.globals.update(words=words, csrf_field=CSRF_FIELD, lang=language, window_value=window_value)
    locale = LOCALES[language]
    environment.filters.update(
        money=partial(money, locale=locale),
        day=partial(day, locale=locale),
        pickup_window=lambda pickup, zone: window(pickup.start, pickup.end, zone, locale=locale),
    )
    return Jinja2Templates(env=environment)


TRANSLATIONS = {language: _translations(language) for language in LOCALES}
TEMPLATES = {language: _templates(language) for language in LOCALES}
