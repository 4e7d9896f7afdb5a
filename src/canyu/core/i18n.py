"""Translations. Simplified Chinese is the source language of every UI string (msgid);
``locale/<lang>/*.po`` hold the other languages, one catalog file per feature."""

from __future__ import annotations

import contextvars
import io
from functools import cache
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from canyu import PROJECT_ROOT

LOCALE_DIR = PROJECT_ROOT / "locale"
DEFAULT_LOCALE = "zh_CN"
LOCALES = {"zh_CN": "中文", "en": "English"}
#: The ``lang`` attribute of <html> for each locale.
HTML_LANG = {"zh_CN": "zh-CN", "en": "en"}

_locale: contextvars.ContextVar[str] = contextvars.ContextVar(
    "canyu_locale", default=DEFAULT_LOCALE
)


def N_(message: str) -> str:
    """Marks a string for extraction; it is translated where it is shown."""
    return message


@cache
def translations(locale: str) -> NullTranslations:
    """All ``locale/<locale>/*.po`` catalogs merged into one."""
    merged: NullTranslations = NullTranslations()
    folder = LOCALE_DIR / locale
    if locale == DEFAULT_LOCALE or not folder.is_dir():
        return merged
    first: Translations | None = None
    for po_path in sorted(folder.glob("*.po")):
        with po_path.open("rb") as f:
            catalog = read_po(f, locale=locale)
        buf = io.BytesIO()
        write_mo(buf, catalog)
        buf.seek(0)
        part = Translations(buf, domain=po_path.stem)
        if first is None:
            first = part
        else:
            first.merge(part)
    return first or merged


def set_locale(locale: str) -> contextvars.Token[str]:
    return _locale.set(locale if locale in LOCALES else DEFAULT_LOCALE)


def get_locale() -> str:
    return _locale.get()


def gettext(message: str, **params: Any) -> str:
    if not message:
        return message  # gettext("") is the catalog's header, never a UI string
    text = translations(get_locale()).gettext(message)
    return text % params if params else text


def ngettext(singular: str, plural: str, n: int, **params: Any) -> str:
    text = translations(get_locale()).ngettext(singular, plural, n)
    params.setdefault("num", n)
    return text % params


_ = gettext
