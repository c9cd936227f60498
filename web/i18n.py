"""Language and display preferences: Chinese by default, English on request, kept in cookies.

Every string of the site is written in Chinese inside ``_()`` / ``_l()``; the English
catalog is ``web/translations/en/LC_MESSAGES/messages.po``, shipped compiled (``.mo``) so
a fresh clone needs no build step. After adding or changing a string::

    pybabel extract -F web/babel.cfg -k _l -k lazy_gettext --no-location --sort-output -w 120 \
        -o web/translations/messages.pot web
    pybabel update -w 120 -i web/translations/messages.pot -d web/translations --no-fuzzy-matching
    # (-w 120 keeps the committed line wrapping, so the diff shows only what changed)
    # translate the new entries in messages.po, then:
    pybabel compile -d web/translations

``tests/test_web_i18n.py`` fails while any string lacks its translation or the ``.mo`` is stale.
"""

from __future__ import annotations

from flask import Flask, request
from flask_babel import get_locale

from web.extensions import babel

LANGUAGES = ("zh", "en")
PREF_COOKIES = {"lang": LANGUAGES, "size": ("normal", "large"), "contrast": ("normal", "high")}


def select_locale() -> str:
    """The ``lang`` cookie when it names a language we ship, else Chinese."""
    if request:
        lang = request.cookies.get("lang", "")
        if lang in LANGUAGES:
            return lang
    return "zh"


def lang() -> str:
    """``zh`` or ``en``: the language services render their messages in."""
    loc = get_locale()
    return "en" if loc is not None and loc.language == "en" else "zh"


def pref(name: str) -> str:
    """A display preference from its cookie (``size``, ``contrast``), defaulting to ``normal``."""
    value = request.cookies.get(name, "")
    return value if value in PREF_COOKIES[name] else PREF_COOKIES[name][0]


def init_app(app: Flask) -> None:
    """Bind Flask-Babel with the cookie-based selector."""
    babel.init_app(app, locale_selector=select_locale, default_translation_directories="translations")
